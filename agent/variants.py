"""What makes one variant of a segment's cut differ from the others, along the brief's declared axes.

`variants: {count: 3, vary: [hook, cta, music]}` asks for three cuts that differ in their hook angle,
their call-to-action wording and their music mood; a plain `variants: 3` varies the default axes
(hook, cta, camera, order). Variant 0 is the control: the first hook angle, the brief's call to action
as written, the brief's mood. Copy the brief gives per variant (`hooks`, `ctas`, `moods`) is used as
given; otherwise the built-in angles and framings of `agent.wording` are used, in the segment's language.
Both planners take their variant's `VariantSpec` and record `describe()` in the plan.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.brief import Brief, Segment
from agent.wording import word
from generators.text import join_lines

HOOK_ANGLES = ("callout", "question", "reveal")
CTA_FRAMINGS = ("plain", "ready", "named")
CAMERA_SETS = 3
# Neighbouring moods, each a word the offline synth (and a text-to-music model) knows: variant k of a
# brief whose mood reads as the key plays the k-th neighbour, so the beds sound different.
MOOD_NEIGHBOURS = {
    "uplifting": ("energetic", "warm"), "energetic": ("playful", "dramatic"), "playful": ("uplifting", "energetic"),
    "calm": ("warm", "luxury"), "warm": ("calm", "uplifting"), "corporate": ("uplifting", "calm"),
    "dark": ("dramatic", "luxury"), "dramatic": ("dark", "energetic"), "sad": ("calm", "warm"),
    "luxury": ("calm", "dramatic"),
}  # fmt: skip


def audience(segment: Segment) -> str:
    """How copy names the segment: its `audience`, else its description, else its id."""
    return (segment.audience or segment.description or segment.id.replace("-", " ").replace("_", " ")).strip()


def sentence_case(text: str) -> str:
    """The first letter upper-cased where the script has case ('early runners? ...' -> 'Early runners? ...')."""
    for i, ch in enumerate(text):
        if ch.isalpha():
            return text[:i] + ch.upper() + text[i + 1 :] if ch.islower() else text
    return text


@dataclass(frozen=True)
class VariantSpec:
    """One variant's choices on every axis (the ones not varied stay at the control's)."""

    variant: int
    axes: tuple[str, ...]
    hook_angle: str
    hook_line: str
    cta_framing: str
    cta: str  # the call to action on the end card
    cta_caption: str  # the last shot's caption
    headline: str  # the end card's headline
    mood: str
    camera_set: int
    order: int

    def describe(self) -> dict[str, str]:
        """What this variant varies, for the plan record and the report (axis -> value)."""
        values = {"hook": f"{self.hook_angle}: {self.hook_line}",
                  "cta": f"{self.cta_framing}: {self.cta_caption} / end card: {self.headline}",
                  "music": self.mood, "camera": f"set {self.camera_set + 1}", "order": f"rotation {self.order}"}
        return {axis: values[axis] for axis in self.axes}


def variant_spec(brief: Brief, segment: Segment, variant: int, lang: str) -> VariantSpec:
    """The choices of `variant` for `segment` along the brief's declared axes."""
    axes = tuple(brief.variants.vary)
    k = {axis: (variant if axis in axes else 0) for axis in ("hook", "cta", "music", "camera", "order")}
    who, product = audience(segment), brief.product.name
    own = brief.variants
    # 1. the hook: the brief's own lines, else a built-in angle that names the audience
    angle = HOOK_ANGLES[k["hook"] % len(HOOK_ANGLES)]
    hook = own.hooks[k["hook"] % len(own.hooks)] if own.hooks else sentence_case(
        word(f"hook_{angle}", lang, audience=who, product=product))
    # 2. the call to action: the brief's wordings as given, else a framing around its own
    base_cta = own.ctas[k["cta"] % len(own.ctas)] if own.ctas else (segment.overrides.call_to_action or brief.call_to_action)
    framing = "plain" if own.ctas else CTA_FRAMINGS[k["cta"] % len(CTA_FRAMINGS)]
    if framing == "named" and product.casefold() in base_cta.casefold():
        framing = "plain+"  # the call to action names the product already: vary the end card's headline only
    caption = base_cta if framing.startswith("plain") else word(f"cta_{framing}", lang, cta=base_cta, product=product)
    # The end card's headline names the audience too, so no two segments' cuts end on the same frame.
    headline_key = {"plain": "headline_for", "ready": "hook_callout"}.get(framing, "hook_reveal")
    headline = sentence_case(word(headline_key, lang, audience=who, product=product))
    # 3. the music
    mood = segment.overrides.music_mood or brief.audio.music_mood
    mood = own.moods[k["music"] % len(own.moods)] if own.moods else neighbour_mood(mood, k["music"])
    return VariantSpec(variant, axes, "own" if own.hooks else angle, hook, framing, base_cta, caption, headline,
                       mood, k["camera"] % CAMERA_SETS, k["order"])  # fmt: skip


def neighbour_mood(mood: str, k: int) -> str:
    """`mood` for the control (k = 0); else the k-th neighbour of the mood it reads as, put first."""
    if k == 0:
        return mood
    from generators.audio_synth import style_for

    key, _ = style_for(mood)
    near = MOOD_NEIGHBOURS.get(key, ("energetic", "calm"))
    pick = near[(k - 1) % len(near)]
    return mood if pick in mood.lower() else f"{pick}, {mood}"


def lead_caption(spec: VariantSpec, message: str) -> str:
    """The hook line and the message as one caption (a cut too short for a hook shot of its own)."""
    return join_lines([spec.hook_line, message])
