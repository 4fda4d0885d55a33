"""The plan for one cut (segment x variant): shots, music and end card, and frame-exact timing."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.errors import PlanError

ShotRole = Literal["hook", "product", "benefit", "proof", "cta", "scene"]
Transition = Literal["cut", "crossfade"]
# Beats whose picture is the product itself: planners mark them `shows_product` by default.
PRODUCT_ROLES = frozenset({"product", "proof", "cta"})


class Shot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0, description="0-based position in the cut")
    role: ShotRole = "scene"
    description: str = Field(description="a short human title for the shot")
    prompt: str = Field(description="the text-to-video prompt")
    negative_prompt: str = ""
    seconds: float = Field(gt=0)
    camera: str = "static"
    sound: str = Field(default="", description="a sound effect for this shot, or empty")
    caption: str = Field(default="", description="on-screen caption text, or empty")
    voice_line: str = Field(default="", description="voice-over line spoken during this shot, or empty")
    transition: Transition = Field(default="cut", description="how this shot enters from the previous one")
    shows_product: bool = Field(default=False, description="the client's product is on screen in this shot")
    # Bookkeeping set by the graph, not by planners: a stable id that survives reordering, the base
    # seed, a revision counter (refine bumps it for a new seed) and a lineage (user edits bump it,
    # retiring older takes of the shot).
    uid: str = ""
    seed: int = 0
    seed_offset: int = 0
    lineage: int = 0


class Music(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mood: str
    prompt: str = ""


class EndCard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(gt=0)
    headline: str
    call_to_action: str


class Plan(BaseModel):
    """What one cut will show: shots in order, the music bed and the end card."""

    model_config = ConfigDict(extra="forbid")

    segment: str
    variant: int = 0
    shots: list[Shot] = Field(min_length=1)
    music: Music
    end_card: EndCard
    planner: str = "template"
    notes: str = ""
    # What sets this variant apart from the segment's others, axis -> value ("hook" -> "question: ...").
    varies: dict[str, str] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        return plan_key(self.segment, self.variant)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.shots) + self.end_card.seconds

    def check_duration(self, duration_s: float, tolerance: float = 1e-3) -> None:
        """Raise PlanError unless shots plus end card fill the cut's duration exactly."""
        if abs(self.seconds - duration_s) > tolerance:
            raise PlanError(
                f"plan {self.key}: shots ({sum(s.seconds for s in self.shots):.3f} s) plus end card "
                f"({self.end_card.seconds:.3f} s) = {self.seconds:.3f} s, but the cut is {duration_s:g} s"
            )


def plan_key(segment: str, variant: int) -> str:
    return f"{segment}/v{variant}"


def frame_counts(seconds: list[float], fps: int) -> list[int]:
    """Frames per segment such that every boundary falls on the nearest frame of the running total.

    Rounding the cumulative time (not each length) keeps the sum exactly round(total * fps) and
    each boundary within half a frame of the plan.
    """
    bounds, total = [0], 0.0
    for s in seconds:
        total += s
        bounds.append(round(total * fps))
    return [b - a for a, b in zip(bounds, bounds[1:], strict=False)]


def fit_durations(weights: list[float], total: float, minimum: float, step: float = 0.05) -> list[float]:
    """Split `total` seconds in proportion to `weights`, each at least `minimum`, on a `step` grid."""
    n = len(weights)
    if n * minimum > total + 1e-9:
        raise PlanError(f"{n} shots of at least {minimum} s do not fit in {total:g} s")
    units, min_units = round(total / step), round(minimum / step)
    spare = units - n * min_units
    wsum = sum(weights)
    raw = [spare * w / wsum for w in weights]
    parts = [int(r) for r in raw]
    # Largest remainders get the leftover units so the total stays exact.
    for i in sorted(range(n), key=lambda i: raw[i] - parts[i], reverse=True)[: spare - sum(parts)]:
        parts[i] += 1
    return [round((min_units + p) * step, 6) for p in parts]
