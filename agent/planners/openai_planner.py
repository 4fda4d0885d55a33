"""The LLM planner: any OpenAI-compatible endpoint writes the shot list; code makes it fit the brief.

The model answers a small schema (`LLMPlan`); everything the brief fixes is then enforced here,
not trusted to the model: the shot count, durations that fill the cut exactly, the end card, the
music mood, must-avoid words (taken out of the text and put in the negative prompt) and
must-include items (added where missing).
"""

from __future__ import annotations

import math
import os
import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any, ClassVar

from pydantic import BaseModel, Field, create_model

from agent.brief import MIN_SHOT_SECONDS, Brief, end_card_seconds
from agent.colour_names import colour_name, colour_words
from agent.compliance import found_terms, plan_violations, prompt_items
from agent.errors import EndpointError, PlanError
from agent.llm import LLMClient, LLMSettings, render_prompt
from agent.plan import PRODUCT_ROLES, EndCard, Music, Plan, Shot, fit_durations
from agent.planners.base import Planner, PlanRequest
from agent.variants import VariantSpec, audience, variant_spec
from agent.voices import segment_language

ROLES = ("hook", "product", "benefit", "proof", "cta", "scene")
TRANSITIONS = ("cut", "crossfade")
# Names the animatic backend draws (generators.video_animatic.camera_path) and diffusion models know.
CAMERA_MOVES = ("static", "slow push in", "pull out", "pan left", "pan right", "tilt up", "tilt down",
                "orbit left", "orbit right", "tracking", "handheld")
FAMILY_NEGATIVES = {
    "wan": "blurry, low quality, distorted, static frame, watermark, text artifacts, extra fingers",
    "ltx": "worst quality, inconsistent motion, blurry, jittery, distorted",
    "cogvideox": "blurry, low quality, distorted",
    "mochi": "blurry, low quality, distorted",
    "hunyuan": "blurry, low quality, distorted, watermark",
    "animatediff": "bad quality, worst quality, lowres, watermark",
}
# Options that change what the planner writes (the rest only change how patiently it asks).
SHAPING_OPTIONS = {"mode", "temperature", "max_tokens", "seed", "text_limit", "max_shots"}
MAX_PROMPT_CHARS = 1200
MAX_TEXT_CHARS = 300
# Relative share of `text_limit` each text field may use in the schema (when a limit is set).
FIELD_SHARE = {"description": 0.3, "prompt": 1.0, "negative_prompt": 0.5, "sound": 0.3,
               "caption": 0.3, "voice_line": 0.5, "music_prompt": 0.4}


# 1. The schema the model answers -----------------------------------------------------------


def _text(name: str, limit: int | None, hint: str, choices: tuple[str, ...] | None = None) -> Any:
    """A str field whose bounds guide generation (JSON schema) but do not fail validation."""
    extra: dict[str, Any] = {}
    if choices:
        extra["enum"] = list(choices)
    elif limit is not None:
        extra["maxLength"] = max(8, int(limit * FIELD_SHARE.get(name, 1.0)))
    return (str, Field(description=hint, json_schema_extra=extra or None))


@lru_cache(maxsize=64)
def llm_plan_model(min_shots: int, max_shots: int, text_limit: int | None) -> type[BaseModel]:
    """The pydantic model an LLM fills for a plan (shot count and lengths bounded in the schema)."""
    shot = create_model(
        "LLMShot",
        role=_text("role", None, "hook, product, benefit, proof, cta or scene", ROLES),
        description=_text("description", text_limit, "a short human title"),
        prompt=_text("prompt", text_limit, "the text-to-video prompt"),
        negative_prompt=_text("negative_prompt", text_limit, "what the video model must not show"),
        seconds=(float, Field(description="relative length in seconds")),
        camera=_text("camera", None, "camera move", CAMERA_MOVES),
        sound=_text("sound", text_limit, "a sound effect, or empty"),
        caption=_text("caption", text_limit, "on-screen caption, or empty"),
        voice_line=_text("voice_line", text_limit, "voice-over line, or empty"),
        transition=_text("transition", None, "how the shot enters", TRANSITIONS),
        shows_product=(bool, Field(description="the client's product itself is on screen in this shot")),
    )
    items = {"minItems": min_shots, "maxItems": max_shots}
    return create_model(
        "LLMPlan",
        shots=(list[shot], Field(json_schema_extra=items)),  # type: ignore[valid-type]
        music_prompt=_text("music_prompt", text_limit, "the music bed, in a few words"),
    )


@lru_cache(maxsize=1)
def shorter_line_model() -> type[BaseModel]:
    """The pydantic model an LLM fills for a shortened voice line."""
    return create_model("LLMShorterLine", line=(str, Field(description="the shorter voice-over line")))


@lru_cache(maxsize=16)
def llm_revision_model(text_limit: int | None) -> type[BaseModel]:
    """The pydantic model an LLM fills for one revised shot."""
    return create_model(
        "LLMRevision",
        prompt=_text("prompt", text_limit, "the revised text-to-video prompt"),
        negative_prompt=_text("negative_prompt", text_limit, "what the video model must not show"),
    )


# 2. The planner ----------------------------------------------------------------------------


class OpenAIPlanner(Planner):
    """Plans and revises shots with an LLM behind any OpenAI-compatible endpoint."""

    name: ClassVar[str] = "openai"

    class Options(LLMSettings):
        # Longest prompt the schema allows (None: no length bounds, which OpenAI's strict mode wants).
        text_limit: int | None = Field(default=None, ge=16, le=4000)
        max_shots: int = Field(default=8, ge=1, le=40)

    options: Options

    def __init__(self, options: dict[str, Any] | BaseModel | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        super().__init__(options, env)
        self._env = dict(os.environ if env is None else env)
        self._client: LLMClient | None = None

    @property
    def client(self) -> LLMClient:
        if self._client is None:
            settings = LLMSettings.model_validate(self.options.model_dump(include=set(LLMSettings.model_fields)))
            self._client = LLMClient(settings, self._env)
        return self._client

    def identity(self) -> dict[str, Any]:
        """What shapes the plans: endpoint, model and sampling options (never the key, nor timeouts)."""
        endpoint = self.client.endpoint
        shaping = self.options.model_dump(mode="json", include=SHAPING_OPTIONS)
        return {"backend": self.name, "options": shaping, "base_url": endpoint.url, "model": endpoint.model}

    def describe(self) -> dict[str, Any]:
        """Identity plus every option, for the run record; the key's env var name only."""
        return self.identity() | {"options": self.options.model_dump(mode="json")}

    def plan(self, request: PlanRequest) -> Plan:
        """Ask the LLM for a shot list, then fit it to the brief (count, timing, words, end card)."""
        # 1. how many shots, and the schema that bounds them
        low, high = shot_bounds(request.brief, self.options.max_shots)
        schema = llm_plan_model(low, high, self.options.text_limit)
        # 2. ask
        messages = [
            {"role": "system", "content": render_prompt("plan_system", family_guide=family_guide(request.family))},
            {"role": "user", "content": render_prompt("plan_user", **plan_values(request, low, high))},
        ]
        answer = self.client.ask(messages, schema)
        # 3. enforce the brief; copy with a must-avoid term goes back to the model once
        plan = build_plan(request, answer, low, high, notes=self._notes())
        found = plan_violations(plan, words(request)[1])
        if not found:
            return plan
        messages += [{"role": "assistant", "content": answer.model_dump_json()},
                     {"role": "user", "content": render_prompt("fix_copy", found="; ".join(found),
                                                               terms=", ".join(words(request)[1]))}]
        plan = build_plan(request, self.client.ask(messages, schema), low, high, notes=self._notes())
        found = plan_violations(plan, words(request)[1])
        if found and request.brief.compliance != "warn":
            raise PlanError(f"plan {request.segment.id}/v{request.variant}: the LLM's copy still has a must-avoid "
                            f"term after one revision: {found[0]}" + (f" (and {len(found) - 1} more)" if len(found) > 1 else ""))
        return plan

    def shorten_line(self, request: PlanRequest, text: str, ratio: float) -> str:
        """Ask the LLM for a shorter voice line; the deterministic cut when its answer does not help."""
        limit = max(4, int(len(text) * ratio))
        messages = [{"role": "user", "content": render_prompt(
            "shorten_line", line=text, limit=limit, language=segment_language(request.brief, request.segment),
            must_avoid=", ".join(words(request)[1]) or "nothing")}]
        try:
            line = clean(self.client.ask(messages, shorter_line_model()).line, MAX_TEXT_CHARS)
        except EndpointError:
            line = ""
        if not line or len(line) > limit * 1.15 or found_terms(line, words(request)[1]):
            return super().shorten_line(request, text, ratio)
        return line

    def revise(self, request: PlanRequest, plan: Plan, shot_index: int, feedback: str) -> Plan:
        """Rewrite one shot's prompt and negative prompt from plain-English feedback; timing unchanged."""
        if not 0 <= shot_index < len(plan.shots):
            raise PlanError(f"plan {plan.key} has no shot {shot_index} (it has {len(plan.shots)})")
        messages = [
            {"role": "system", "content": render_prompt("revise_system", family_guide=family_guide(request.family))},
            {"role": "user", "content": render_prompt("revise_user", **revise_values(request, plan, shot_index, feedback))},
        ]
        answer = self.client.ask(messages, llm_revision_model(self.options.text_limit))
        return apply_revision(request, plan, shot_index, answer.prompt, answer.negative_prompt, feedback)

    def _notes(self) -> str:
        d = self.client.describe()
        return f"planned by {d['model']} at {d['base_url']} ({d['mode']})"


# 3. Prompt values ---------------------------------------------------------------------------


def family_guide(family: str) -> str:
    """The prompt-writing guide for a video model family (a template file per family)."""
    names = {p.name for p in resources.files("agent").joinpath("prompts").iterdir()}
    return render_prompt(f"family_{family}" if f"family_{family}.txt" in names else "family_default")


def shot_bounds(brief: Brief, max_shots: int) -> tuple[int, int]:
    """(fewest, most) shots: exactly `brief.shots` when set, else 1 to what fits (capped)."""
    available = brief.formats.duration_s - end_card_seconds(brief.formats.duration_s)
    fit = max(1, math.floor(available / MIN_SHOT_SECONDS + 1e-9))
    if brief.shots is not None:
        return brief.shots, brief.shots
    return 1, max(1, min(fit, max_shots))


def words(request: PlanRequest) -> tuple[list[str], list[str]]:
    """Must-include and must-avoid lists for the segment (brief's plus the segment's own)."""
    over = request.segment.overrides
    include = prompt_items([*request.brief.must_include, *(over.must_include or [])])
    avoid = [*request.brief.must_avoid, *(over.must_avoid or [])]
    return list(dict.fromkeys(include)), list(dict.fromkeys(avoid))


def spec_for(request: PlanRequest) -> VariantSpec:
    """The request's variant along the brief's declared axes (hook, call to action, music...)."""
    return variant_spec(request.brief, request.segment, request.variant, segment_language(request.brief, request.segment))


def plan_values(request: PlanRequest, low: int, high: int) -> dict[str, Any]:
    brief, seg = request.brief, request.segment
    spec = spec_for(request)
    include, avoid = words(request)
    duration = brief.formats.duration_s
    ideal = min(high, max(low, round((duration - end_card_seconds(duration)) / 2.5)))
    count = f"exactly {low} shots" if low == high else f"{low} to {high} shots, about {ideal}"
    return {
        "brand": brief.brand.name, "brand_tone": ", ".join(brief.brand.tone) or "unspecified",
        "palette": colour_words(brief.brand.palette), "product": brief.product.name,
        "product_description": brief.product.description or "(no description)",
        "message": seg.overrides.message or brief.message,
        "call_to_action": spec.cta, "audience": audience(seg), "variant_axes": ", ".join(spec.axes),
        "hook_angle": spec.hook_angle, "hook_line": spec.hook_line, "cta_caption": spec.cta_caption,
        "segment": seg.id, "segment_description": seg.description or "(general audience)",
        "segment_tone": seg.tone or "as the brand", "language": segment_language(brief, seg), "variant": request.variant,
        "must_include": ", ".join(include) or "nothing in particular",
        "must_avoid": ", ".join(avoid) or "nothing in particular",
        "music_mood": spec.mood,
        "sound_notes": brief.audio.sound_notes or "none",
        "voice_over": "yes, one short line per shot" if brief.audio.voice_over else "none (leave voice_line empty)",
        "duration": f"{duration:g}", "shot_seconds": f"{duration - end_card_seconds(duration):g}",
        "shot_count_rule": count, "camera_moves": ", ".join(CAMERA_MOVES),
    }


def revise_values(request: PlanRequest, plan: Plan, i: int, feedback: str) -> dict[str, Any]:
    include, avoid = words(request)
    shot = plan.shots[i]
    neighbour = lambda j: plan.shots[j].prompt if 0 <= j < len(plan.shots) else "(none)"  # noqa: E731
    return {
        "product": request.brief.product.name, "brand": request.brief.brand.name,
        "must_include": ", ".join(include) or "nothing", "must_avoid": ", ".join(avoid) or "nothing",
        "previous": neighbour(i - 1), "next": neighbour(i + 1), "number": i + 1, "count": len(plan.shots),
        "role": shot.role, "seconds": f"{shot.seconds:g}", "camera": shot.camera, "prompt": shot.prompt,
        "negative": shot.negative_prompt or "(none)", "feedback": clean(feedback, MAX_TEXT_CHARS),
    }


# 4. Enforcing the brief on what came back -------------------------------------------------


def clean(text: str, limit: int) -> str:
    """One line of printable text: control and format characters dropped, whitespace collapsed."""
    kept = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in str(text)
                   if unicodedata.category(c) not in ("Cf", "Cs", "Co", "Cn") or c in "\t\n")
    out = " ".join(kept.split()).strip(" ,;")
    return out if len(out) <= limit else out[:limit].rsplit(" ", 1)[0]


def build_plan(request: PlanRequest, answer: Any, low: int, high: int, notes: str = "") -> Plan:
    """Map an LLMPlan into a Plan that fills the cut exactly and honours the brief's word lists."""
    brief, seg = request.brief, request.segment
    raw = list(answer.shots)
    if not raw:
        raise PlanError(f"the LLM planned no shots for {seg.id}/v{request.variant}")
    if not low <= len(raw) <= high:
        raise PlanError(f"the LLM planned {len(raw)} shots for {seg.id}/v{request.variant}; "
                        f"the brief allows {low}" + ("" if low == high else f" to {high}"))
    duration = brief.formats.duration_s
    end = end_card_seconds(duration)
    seconds = fit_durations([_weight(s.seconds) for s in raw], duration - end, MIN_SHOT_SECONDS)
    shots = [_shot(request, i, s, secs) for i, (s, secs) in enumerate(zip(raw, seconds, strict=True))]
    spec = spec_for(request)
    shots = speak_to_audience(request, spec, enforce_words(request, shots))
    mood = spec.mood
    music_prompt = strip_words(clean(answer.music_prompt, MAX_TEXT_CHARS), words(request)[1])
    if "music" in spec.axes and mood.split(",")[0].casefold() not in music_prompt.casefold():
        music_prompt = f"{mood} {music_prompt}".strip()  # the variant's mood is what the music model hears
    plan = Plan(
        segment=seg.id, variant=request.variant, shots=shots,
        music=Music(mood=mood, prompt=music_prompt or f"{mood} music bed"),
        end_card=EndCard(seconds=end, headline=seg.overrides.message or brief.message, call_to_action=spec.cta),
        planner="openai", notes=notes, varies=spec.describe(),
    )
    plan.check_duration(duration)
    return plan


def _weight(seconds: float) -> float:
    """A usable relative length: non-finite or non-positive answers count as an average shot."""
    if not math.isfinite(seconds) or seconds <= 0:
        return 2.5
    return min(max(seconds, 0.5), 30.0)


def _shot(request: PlanRequest, i: int, s: Any, seconds: float) -> Shot:
    product = request.brief.product.name
    description = clean(s.description, 80) or f"Shot {i + 1}"
    prompt = colours_in_words(clean(s.prompt, MAX_PROMPT_CHARS)) or f"{product}, {description}"
    role = s.role if s.role in ROLES else "scene"
    said = getattr(s, "shows_product", None)
    return Shot(
        index=i, role=role, description=description, prompt=prompt,
        shows_product=said if isinstance(said, bool) else role in PRODUCT_ROLES,
        negative_prompt=_merge_negative(clean(s.negative_prompt, MAX_TEXT_CHARS), request.family),
        seconds=seconds, camera=clean(s.camera, 40) or "static", sound=clean(s.sound, MAX_TEXT_CHARS),
        caption=clean(s.caption, 120),
        voice_line=clean(s.voice_line, MAX_TEXT_CHARS) if request.brief.audio.voice_over else "",
        transition=s.transition if s.transition in TRANSITIONS else "cut",
    )


HEX_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}\b")


def colours_in_words(text: str) -> str:
    """Hex colour codes replaced by their names ('#0B1F3A' -> 'deep navy'): models read words."""
    return HEX_COLOUR.sub(lambda m: colour_name(m.group(0)), text)


def speak_to_audience(request: PlanRequest, spec: VariantSpec, shots: list[Shot]) -> list[Shot]:
    """The audience named where the model did not: the variant's hook line leads the first caption
    (when no caption names it), and the first prompt sets the scene for it (when no prompt does);
    at least one shot shows the product (the first product beat, else the middle one)."""
    who = audience(request.segment)
    shots = list(shots)
    if not _names(who, " ".join(s.caption + " " + s.voice_line for s in shots)):
        first = shots[0]
        shots[0] = first.model_copy(update={"caption": " ".join(filter(None, [spec.hook_line, first.caption]))})
    if not _names(who, " ".join(s.prompt for s in shots)):
        shots[0] = shots[0].model_copy(update={"prompt": f"{shots[0].prompt}, for {who}"})
    if not any(s.shows_product for s in shots):
        i = _anchor_shot(shots)
        shots[i] = shots[i].model_copy(update={"shows_product": True})
    return shots


def _names(who: str, text: str) -> bool:
    """Whether `text` names the audience: the whole label, or one of its longer words (any case)."""
    folded = text.casefold()
    if who.casefold() in folded:
        return True
    return any(len(w) >= 5 and w in folded for w in re.findall(r"\w+", who.casefold()))


def _merge_negative(negative: str, family: str) -> str:
    parts = [p.strip() for p in f"{negative}, {FAMILY_NEGATIVES.get(family, '')}".split(",")]
    return ", ".join(dict.fromkeys(p for p in parts if p))


def _pattern(word: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(word)}(?!\w)", re.IGNORECASE)


def strip_words(text: str, avoid: list[str]) -> str:
    """`text` with every must-avoid word or phrase taken out (whole words, any case)."""
    for word in avoid:
        text = _pattern(word).sub("", text)
    return " ".join(text.split()).strip(" ,;.") if avoid else text


def enforce_words(request: PlanRequest, shots: list[Shot]) -> list[Shot]:
    """Must-avoid out of every text field and into the negative prompt; must-include added where missing."""
    include, avoid = words(request)
    out = []
    for shot in shots:
        # Copy (caption, voice line) is not cut up here: a must-avoid term there is sent back for revision.
        update = {f: strip_words(getattr(shot, f), avoid) for f in ("description", "prompt", "sound")}
        update["prompt"] = update["prompt"] or request.brief.product.name
        negative = ", ".join(dict.fromkeys([*avoid, *filter(None, shot.negative_prompt.split(", "))]))
        out.append(shot.model_copy(update={**update, "negative_prompt": negative}))
    return _add_missing(request, out, include)


def _add_missing(request: PlanRequest, shots: list[Shot], include: list[str]) -> list[Shot]:
    """Each must-include item appears in some shot's text; the product appears in a prompt."""
    items = [*include, request.brief.product.name]
    for item in items:
        text = " ".join(f"{s.prompt} {s.caption} {s.voice_line}" for s in shots)
        if _pattern(item).search(text) and (item != request.brief.product.name or
                                            any(_pattern(item).search(s.prompt) for s in shots)):
            continue
        i = _anchor_shot(shots)
        shots[i] = shots[i].model_copy(update={"prompt": f"{shots[i].prompt}, {item}"})
    return shots


def _anchor_shot(shots: list[Shot]) -> int:
    """The shot that carries added items: the first product shot, else the middle one."""
    return next((s.index for s in shots if s.role == "product"), len(shots) // 2)


def apply_revision(request: PlanRequest, plan: Plan, i: int, prompt: str, negative: str, feedback: str) -> Plan:
    """The plan with shot `i`'s prompt and negative replaced (cleaned, word lists enforced)."""
    include, avoid = words(request)
    old = plan.shots[i]
    new_prompt = clean(prompt, MAX_PROMPT_CHARS) or f"{old.prompt}, {clean(feedback, MAX_TEXT_CHARS)}"
    new_prompt = strip_words(new_prompt, avoid) or old.prompt
    for item in [*include, request.brief.product.name]:
        if _pattern(item).search(old.prompt) and not _pattern(item).search(new_prompt):
            new_prompt = f"{new_prompt}, {item}"
    neg = _merge_negative(", ".join(filter(None, [*avoid, clean(negative, MAX_TEXT_CHARS)])), request.family)
    shots = list(plan.shots)
    shots[i] = old.model_copy(update={"prompt": new_prompt, "negative_prompt": neg})
    return plan.model_copy(update={"shots": shots})
