"""The metric seam: a metric is one function and one registration (name, needs, default weight).

A shot metric reads a `TakeInputs` (running totals over every frame of the take, a few evenly spaced
frames, and what the scorer had at hand for them) and returns one float on [0, 1], higher is better.
A take's frames are streamed once and never held together, so a metric reads the totals or the sampled
frames, whose count does not grow with the take's length. Its `needs` name what it cannot do without; a metric
whose needs are not met is reported as not computed, with the reason, and left out of the composite.
A cut metric reads every chosen shot's CLIP embeddings and is blended into the cut's composite.

    @METRICS.metric("sharpness", needs=("frames",), weight=0.1, threshold=0.5, label="sharp")  # reads t.sampled
    def sharpness(take: TakeInputs) -> float: ...

is all a new metric takes: the scorecard, the brief's `scoring.weights` / `thresholds`, the tables and
the report pick it up by name.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from evaluators import metrics
from evaluators.frame_totals import FrameTotals

Level = Literal["shot", "cut"]
STILL_MOTION = 0.25  # at or under this motion a take counts as near-static (flicker threshold applies)
CROSS_SHOT_FRAMES = 2  # sampled frames at each side of a cut compared by cross_shot_consistency


class UnknownMetric(ValueError):
    """A metric name nobody registered; the message suggests the closest and lists the known ones."""


@dataclass(frozen=True)
class TakeInputs:
    """What a shot metric may read: running totals over every frame (scaled down), the sampled frames
    and CLIP results."""

    totals: FrameTotals  # the pixel metrics' running totals over every frame, on a regular pixel grid
    sampled: np.ndarray  # uint8 [k,h,w,3]: the frames sampled for CLIP and palette metrics, same grid
    palette: list[str] = field(default_factory=list)
    embeds: np.ndarray | None = None  # CLIP embeddings of the sampled frames
    text_embed: np.ndarray | None = None  # CLIP embedding of the shot's prompt
    reference_embed: np.ndarray | None = None  # CLIP embedding of the product reference image
    # Whether the shot is meant to show the product (only those are judged on likeness to it).
    shows_product: bool = True

    @property
    def frame_count(self) -> int:
        """How many frames the take has."""
        return self.totals.count


@dataclass(frozen=True)
class CutInputs:
    """What a cut metric may read: the chosen takes' CLIP embeddings, shot by shot (None: not embedded)."""

    shot_embeds: list[np.ndarray | None]


# Each need: (is it met?, why not). "clip" has no fixed reason: the scorer says why CLIP is missing.
NEEDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "frames": (lambda t: t.frame_count >= 1, "the take has no frames"),
    "two_frames": (lambda t: t.frame_count >= 2, "the take has a single frame"),
    "clip": (lambda t: t.embeds is not None, "no CLIP model was loaded"),
    "two_embeds": (lambda t: t.embeds is not None and len(t.embeds) >= 2, "the take has a single frame"),
    "reference": (lambda t: t.reference_embed is not None, "the brief gives no product reference image"),
    "product_shot": (lambda t: t.shows_product, "the shot does not show the product"),
    "palette": (lambda t: bool(t.palette), "the brief gives no palette"),
    "two_shots": (lambda c: len(c.shot_embeds) >= 2, "the cut has a single shot"),
    "shot_embeds": (lambda c: all(e is not None and len(e) for e in c.shot_embeds),
                    "some shots have no CLIP embeddings"),
}  # fmt: skip


@dataclass(frozen=True)
class Metric:
    """One registered metric: its function and what the scorecard needs to know about it."""

    name: str
    fn: Callable[[Any], float]
    needs: tuple[str, ...]
    weight: float  # default weight in the composite (0: reported, not counted)
    threshold: float | None = None  # default threshold under which a shot is weak (None: none)
    level: Level = "shot"
    label: str = ""  # a short column name for tables
    # The weight multiplied by this function of the take's values (flicker: by stillness).
    weight_scale: Callable[[dict[str, float | None]], float] | None = None
    # Whether the threshold applies to this take (flicker: only near-static takes).
    threshold_applies: Callable[[dict[str, float | None]], bool] | None = None
    # A note for the scorecard about how the value was weighed, or None.
    note: Callable[[dict[str, float | None]], str | None] | None = None

    def missing(self, inputs: Any, clip_reason: str | None = None) -> str | None:
        """Why this metric cannot be computed on `inputs`, or None when it can."""
        for need in self.needs:
            met, why = NEEDS[need]
            if not met(inputs):
                return (clip_reason or why) if need == "clip" else why
        return None


class MetricRegistry:
    """Metrics by name, in registration order (the order of scorecard columns)."""

    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}

    def register(self, metric: Metric) -> Metric:
        """Add a metric; a name already taken, or an unknown need, is a ValueError."""
        if metric.name in self._metrics:
            raise ValueError(f"metric '{metric.name}' is registered already")
        unknown = [n for n in metric.needs if n not in NEEDS]
        if unknown:
            raise ValueError(f"metric '{metric.name}': unknown needs {unknown}; known: {', '.join(NEEDS)}")
        self._metrics[metric.name] = metric
        return metric

    def metric(self, name: str, **spec: Any) -> Callable[[Callable[[Any], float]], Callable[[Any], float]]:
        """Register the decorated function as metric `name` (keywords: the `Metric` fields)."""

        def decorate(fn: Callable[[Any], float]) -> Callable[[Any], float]:
            self.register(Metric(name=name, fn=fn, **{"label": name, **spec}))
            return fn

        return decorate

    def unregister(self, name: str) -> None:
        """Remove a metric (tests and plugins undo their registrations this way)."""
        self.get(name)
        del self._metrics[name]

    def get(self, name: str) -> Metric:
        """The metric called `name`; an unknown name suggests the closest and lists the known ones."""
        if name not in self._metrics:
            raise UnknownMetric(self.unknown_message(name))
        return self._metrics[name]

    def names(self, level: Level | None = None) -> list[str]:
        return [m.name for m in self._metrics.values() if level is None or m.level == level]

    def of_level(self, level: Level) -> list[Metric]:
        return [m for m in self._metrics.values() if m.level == level]

    def default_weights(self) -> dict[str, float]:
        return {m.name: m.weight for m in self._metrics.values()}

    def default_thresholds(self) -> dict[str, float]:
        return {m.name: m.threshold for m in self._metrics.values() if m.threshold is not None}

    def suggest(self, name: str) -> str | None:
        """The registered name closest to `name` (whole, or one of its words: "flickr" -> temporal_flicker)."""
        return closest(name, self.names())

    def unknown_message(self, name: str) -> str:
        hint = self.suggest(name)
        return (f"unknown metric '{name}'" + (f" (did you mean '{hint}'?)" if hint else "")
                + f"; known: {', '.join(self.names())}")  # fmt: skip

    def check(self, names: Iterable[str]) -> None:
        """Raise UnknownMetric for the first name that is not registered."""
        for name in names:
            if name not in self._metrics:
                raise UnknownMetric(self.unknown_message(name))


def closest(word: str, names: list[str], cutoff: float = 0.6) -> str | None:
    """The name most like `word`, comparing whole names and their underscore-separated words."""
    word = word.lower().strip()

    def likeness(name: str) -> float:
        parts = [name, *name.split("_")]
        return max(difflib.SequenceMatcher(None, word, p).ratio() for p in parts)

    best = max(names, key=likeness, default=None)
    return best if best is not None and likeness(best) >= cutoff else None


METRICS = MetricRegistry()


# The built-in metrics (formulas and sources in evaluators/metrics.py) --------------------------------
# Default weights and thresholds are starting points chosen from the ranges the source papers report
# (CLIPScore ~0.6-0.8 for matching captions; VBench consistency and flicker ~0.9-0.99 for good models);
# they are not calibrated on human ratings.


@METRICS.metric("clip_score", needs=("clip",), weight=0.35, threshold=0.60, label="clip")  # cos 0.24
def _clip_score(t: TakeInputs) -> float:
    return metrics.clip_score(t.embeds, t.text_embed)


@METRICS.metric("frame_consistency", needs=("clip", "two_embeds"), weight=0.10, threshold=0.80, label="clipF")
def _frame_consistency(t: TakeInputs) -> float:
    return metrics.frame_consistency(t.embeds)


@METRICS.metric("vbench_consistency", needs=("clip", "two_embeds"), weight=0.15, threshold=0.85, label="vbcons")
def _vbench_consistency(t: TakeInputs) -> float:
    return metrics.vbench_consistency(t.embeds)


# A product shot whose product drifts from the reference is weak: the refine loop renders it again (a new
# seed: a new keyframe, and a prompt revised to hold the product). Shots that do not show the product are
# not judged on it.
@METRICS.metric("product_consistency", needs=("clip", "reference", "product_shot"), weight=0.10, threshold=0.65,
                label="product")  # fmt: skip
def _product_consistency(t: TakeInputs) -> float:
    return metrics.product_consistency(t.embeds, t.reference_embed)


def _stillness(values: dict[str, float | None]) -> float:
    motion = values.get("motion")
    return 1.0 if motion is None else 1.0 - float(motion)


def _is_still(values: dict[str, float | None]) -> bool:
    return (values.get("motion") or 0.0) <= STILL_MOTION


def _flicker_note(values: dict[str, float | None]) -> str | None:
    m = values.get("motion")
    if m is None or values.get("temporal_flicker") is None:
        return None
    note = f"weighted by stillness (1 - motion {m:.2f})"
    if m > STILL_MOTION:
        note += f"; no threshold: motion {m:.2f} is over {STILL_MOTION:.2f}, so frame changes are mostly motion"
    return note


# How motion is used: a still product shot and a fast pan must be judged alike. `motion` has weight 0
# and no threshold by default (a brief may demand movement by setting both). VBench's temporal flicker
# counts every frame-to-frame change, motion included, so a moving shot would lose flicker points for
# moving: the flicker weight is scaled by stillness, (1 - motion), and its threshold applies only to
# near-static takes (motion <= STILL_MOTION).
@METRICS.metric("temporal_flicker", needs=("two_frames",), weight=0.10, threshold=0.90, label="flicker",
                weight_scale=_stillness, threshold_applies=_is_still, note=_flicker_note)  # fmt: skip
def _temporal_flicker(t: TakeInputs) -> float:
    return t.totals.temporal_flicker()


@METRICS.metric("motion", needs=("two_frames",), weight=0.0, label="motion")
def _motion(t: TakeInputs) -> float:
    return t.totals.motion()


@METRICS.metric("palette_adherence", needs=("palette",), weight=0.10, threshold=0.20, label="palette")
def _palette_adherence(t: TakeInputs) -> float:
    return metrics.palette_adherence(t.sampled, t.palette)


@METRICS.metric("not_black", needs=("frames",), weight=0.05, threshold=0.90, label="!black")
def _not_black(t: TakeInputs) -> float:
    return 1.0 - t.totals.black_fraction()


# Frozen-ness is judged on the rendered frames where the take was retimed: the frames a retime repeats
# or interpolates between them are not the model freezing.
@METRICS.metric("not_frozen", needs=("two_frames",), weight=0.05, threshold=0.50, label="!frozen")
def _not_frozen(t: TakeInputs) -> float:
    return 1.0 - t.totals.frozen_fraction()


# Cut level: blended with the mean shot composite by its weight.
@METRICS.metric("cross_shot_consistency", needs=("two_shots", "shot_embeds"), weight=0.15, threshold=0.60,
                level="cut", label="cross")  # fmt: skip
def _cross_shot_consistency(c: CutInputs) -> float:
    return metrics.cross_shot_consistency(list(c.shot_embeds), n=CROSS_SHOT_FRAMES)
