"""The template planner: a deterministic plan from the brief, needing no model and no network.

A hook / product / benefit / proof / call-to-action arc is scaled to the cut's duration. The hook
speaks to the segment's audience (an angle from `agent.variants`, in the segment's language), the
message is spread over the shots after it, and the last shot carries the call to action; a cut too
short for a hook shot opens with the hook line and the message together. Prompts name the product,
the audience, the tone and the brand's colours in words. Variants differ on the brief's declared axes
(hook angle, call-to-action wording, music mood, camera moves, beat order) and the plan records how.
"""

from __future__ import annotations

import re
from typing import ClassVar

from agent.brief import MIN_SHOT_SECONDS, Brief, Segment, end_card_seconds
from agent.colour_names import colour_words
from agent.compliance import prompt_items
from agent.plan import PRODUCT_ROLES, EndCard, Music, Plan, Shot, fit_durations
from agent.planners.base import Planner, PlanRequest
from agent.variants import VariantSpec, audience, lead_caption, variant_spec
from agent.voices import segment_language
from generators.text import join_lines, sentences

# Relative weights of each beat's length: the hook is quick, the product gets the most time.
ARC = [("hook", 0.8), ("product", 1.3), ("benefit", 1.0), ("proof", 1.0), ("cta", 0.9)]
CAMERAS = [
    ["slow push in", "orbit right", "pan left", "static", "pull out"],
    ["tilt up", "slow push in", "pan right", "orbit left", "static"],
    ["pan right", "static", "slow push in", "tilt down", "pull out"],
]
BEATS = {
    "hook": "an arresting opening image that speaks to {audience}",
    "product": "{product} as the hero, {description}, in the world of {audience}",
    "benefit": "a person from {audience} enjoying what {product} does for them",
    "proof": "a close detail that proves the quality of {product}, as {audience} use it",
    "cta": "{product} for {audience}, with space for the message: {cta}",
    "scene": "{product} in the everyday life of {audience}",
}
FAMILY_STYLE = {
    "animatic": "",
    "wan": "cinematic, natural light, shallow depth of field, high detail",
    "ltx": "The camera is steady. Realistic lighting, detailed textures, smooth motion.",
    "cogvideox": "cinematic shot, highly detailed, 4k",
    "mochi": "photorealistic, soft cinematic lighting",
    "hunyuan": "realistic, cinematic composition, high detail",
    "animatediff": "masterpiece, best quality, highly detailed",
}
MOTION_WORDS = re.compile(r"\b(freez\w*|frozen|static|still|movement|motion)\b", re.I)
STILL_CAMERAS = {"static", "locked off", "still"}
DEFAULT_NEGATIVE = ["blurry", "low quality", "distorted text", "watermark", "deformed hands"]
CLAUSE = re.compile(r"(?<=[,;:、，；：])\s*|\s+[-—–]\s+")


class TemplatePlanner(Planner):
    name: ClassVar[str] = "template"

    def plan(self, request: PlanRequest) -> Plan:
        """A deterministic plan filling the brief's duration exactly."""
        brief, segment, variant = request.brief, request.segment, request.variant
        duration = brief.formats.duration_s
        card = end_card_seconds(duration)
        lang = segment_language(brief, segment)
        spec = variant_spec(brief, segment, variant, lang)
        roles = shot_roles(brief.shots or default_shot_count(duration - card), spec.order)
        seconds = fit_durations([dict(ARC).get(r, 1.0) for r in roles], duration - card, MIN_SHOT_SECONDS)
        captions = copy_lines(message_for(brief, segment), len(roles), spec)
        cameras = CAMERAS[spec.camera_set % len(CAMERAS)]
        shots = [
            self._shot(request, i, role, seconds[i], cameras[i % len(cameras)], captions[i], spec,
                       first=i == 0 or captions[i] != captions[i - 1])
            for i, role in enumerate(roles)
        ]
        return Plan(
            segment=segment.id,
            variant=variant,
            shots=shots,
            music=Music(mood=spec.mood, prompt=f"{spec.mood} music bed for an ad about {brief.product.name}"),
            end_card=EndCard(seconds=card, headline=spec.headline, call_to_action=spec.cta),
            planner=self.name,
            varies=spec.describe(),
        )

    def revise(self, request: PlanRequest, plan: Plan, shot_index: int, feedback: str) -> Plan:
        """Rewrite one shot's prompt to answer the feedback; its timing and neighbours stay."""
        shots = list(plan.shots)
        shot = shots[shot_index]
        note = feedback.strip().rstrip(".")
        prompt = f"{shot.prompt}. Emphasis: {note}" if note else shot.prompt
        update: dict = {"prompt": prompt, "seed_offset": shot.seed_offset + 1}
        if MOTION_WORDS.search(feedback) and shot.camera in STILL_CAMERAS:
            # A frozen or static-looking shot: give it a camera move instead of only new words.
            update["camera"] = "slow push in"
            update["prompt"] = prompt.replace(f"camera: {shot.camera}", "camera: slow push in")
        shots[shot_index] = shot.model_copy(update=update)
        return plan.model_copy(update={"shots": shots})

    def _shot(self, request: PlanRequest, i: int, role: str, seconds: float, camera: str, caption: str,
              spec: VariantSpec, first: bool = True) -> Shot:
        brief, segment = request.brief, request.segment
        beat = BEATS[role].format(
            audience=audience(segment),
            product=brief.product.name,
            description=brief.product.description or "shown clearly",
            cta=spec.cta,
        )
        return Shot(
            index=i,
            role=role,  # type: ignore[arg-type]
            shows_product=role in PRODUCT_ROLES,
            description=f"{role.upper()}: {beat}",
            prompt=shot_prompt(brief, segment, beat, camera, request.family),
            negative_prompt=", ".join(DEFAULT_NEGATIVE + must(brief, segment, "must_avoid")),
            seconds=seconds,
            camera=camera,
            sound=sound_for(role, brief),
            caption=caption,
            # A caption that spans shots is spoken once, in its first shot.
            voice_line=caption if brief.audio.voice_over and first else "",
            transition="crossfade" if role == "cta" and i > 0 else "cut",
        )


def default_shot_count(body_seconds: float) -> int:
    """About one shot per 2.5 s of body, between 2 and 8, never more than fit."""
    fit = int(body_seconds // MIN_SHOT_SECONDS)
    return max(1, min(fit, max(2, min(8, round(body_seconds / 2.5)))))


def shot_roles(n: int, variant: int) -> list[str]:
    """The arc scaled to n shots: hook first, call to action last, middle beats rotated per variant."""
    if n == 1:
        return ["product"]
    if n == 2:
        return ["product", "cta"]
    middle = ["product", "benefit", "proof"]
    k = variant % len(middle)
    middle = middle[k:] + middle[:k] if variant else middle
    body = (middle * ((n - 2) // 3 + 1))[: n - 2]
    return ["hook", *body, "cta"]


def shot_prompt(brief: Brief, segment: Segment, beat: str, camera: str, family: str) -> str:
    """One prompt: beat, brand look (colours in words), tone, must-includes and the family's style words."""
    palette = colour_words(brief.brand.palette[:3])
    tone = ", ".join(filter(None, [*brief.brand.tone, segment.tone]))
    parts = [
        beat[0].upper() + beat[1:],
        f"{brief.brand.name} brand colours {palette}",
        f"{tone} mood" if tone else "",
        f"camera: {camera}",
        ", ".join(must(brief, segment, "must_include")),
        FAMILY_STYLE.get(family, ""),
    ]
    return ". ".join(p for p in parts if p)


def must(brief: Brief, segment: Segment, field: str) -> list[str]:
    """The segment's must-include (what pictures show: on-screen lines are not prompt words) or must-avoid list."""
    override = getattr(segment.overrides, field)
    return prompt_items(list(override if override is not None else getattr(brief, field)))


def message_for(brief: Brief, segment: Segment) -> str:
    return segment.overrides.message or brief.message


def cta_for(brief: Brief, segment: Segment) -> str:
    return segment.overrides.call_to_action or brief.call_to_action


def copy_lines(message: str, n: int, spec: VariantSpec) -> list[str]:
    """Captions for n shots: the hook line, the message spread over the middle, the call to action last.
    Two shots: the hook line and message together, then the call to action; one shot: hook and message."""
    if n == 1:
        return [lead_caption(spec, message)]
    if n == 2:
        return [lead_caption(spec, message), spec.cta_caption]
    return [spec.hook_line, *caption_lines(message, n - 1, spec.cta_caption)]


def caption_lines(message: str, n: int, cta: str) -> list[str]:
    """Spread the message over the first n-1 shots; the last shot carries the call to action.

    The message splits into sentences (UAX #29: `。！？` and `।` end them too), and into clauses when
    there are fewer sentences than shots. More pieces than shots are grouped by length; fewer pieces
    each span neighbouring shots (assembly shows a repeated caption as one subtitle), so no shot goes
    without text and no words repeat on screen.
    """
    if n == 1:
        return [message]
    slots = n - 1
    pieces = sentences(message)
    if len(pieces) < slots:
        pieces = [c.strip() for s in pieces for c in CLAUSE.split(s) if c.strip()]
    if not pieces:
        return [""] * slots + [cta]
    if len(pieces) >= slots:
        return [join_lines(g) for g in group_by_length(pieces, slots)] + [cta]
    out: list[str] = []
    for i, piece in enumerate(pieces):
        out += [piece] * (round((i + 1) * slots / len(pieces)) - round(i * slots / len(pieces)))
    return out + [cta]


def group_by_length(pieces: list[str], slots: int) -> list[list[str]]:
    """Consecutive pieces in `slots` groups of about equal length (each group at least one piece)."""
    total = sum(len(p) for p in pieces) or 1
    groups: list[list[str]] = [[]]
    done = 0
    for i, piece in enumerate(pieces):
        left, need = len(pieces) - i, slots - len(groups)
        past_share = done + len(piece) / 2 > total * len(groups) / slots
        if groups[-1] and need > 0 and (left == need or past_share):
            groups.append([])
        groups[-1].append(piece)
        done += len(piece)
    return groups


def sound_for(role: str, brief: Brief) -> str:
    notes = brief.audio.sound_notes
    base = {"hook": "whoosh", "product": "soft chime", "cta": "pop", "proof": "click"}.get(role, "")
    return ", ".join(filter(None, [base, notes if role == "hook" else ""]))
