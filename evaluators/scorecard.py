"""Per-take scores, the cut's scorecard and the weakest shots to re-render.

Every metric (registered in `evaluators.registry`) is oriented so higher is better and lies on [0,1]
(values outside are clipped for the composite). A take's composite is the weighted mean of the metrics
that were computed, with the weights renormalised over those metrics; a metric that is not computed (no
CLIP model, no palette, no product image) is left out and named with its reason, never counted as 0.
A metric may scale its weight by the take's other values (flicker by stillness) and apply its threshold
only to some takes (flicker: near-static ones); see the registry.

A cut's scorecard is a typed, JSON-able result (`CutScorecard`): per-shot metrics with weak flags and
reasons, the cut's composite blended with the cut-level metrics, the weights and thresholds used, and a
`checks` list where other judges (the ad-effectiveness checks, compliance, an audience panel) add per-cut
checks, each with its value, threshold and source.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from evaluators.frame_totals import FrameTotals
from evaluators.registry import METRICS, CutInputs, Metric, TakeInputs

if TYPE_CHECKING:
    from evaluators.clip import ClipEmbedder

THUMB_SIDE = 160  # pixel metrics read a regular pixel grid at most this many pixels on the long side


class ScoringConfig(BaseModel):
    """Metric weights and thresholds, the refine threshold on the composite, and frames sampled per take."""

    model_config = ConfigDict(extra="forbid")
    weights: dict[str, float] = Field(default_factory=METRICS.default_weights)
    thresholds: dict[str, float] = Field(default_factory=METRICS.default_thresholds)
    composite_threshold: float = 0.6
    frames_per_take: int = Field(default=8, ge=2)

    @classmethod
    def from_brief_parts(
        cls, weights: dict, thresholds: dict, frames_per_take: int, composite_threshold: float
    ) -> ScoringConfig:
        """Merge the brief's weights and thresholds over the defaults; an unknown metric name or a
        negative weight is a ValueError (UnknownMetric names the closest known metric)."""
        METRICS.check([*weights, *thresholds])
        negative = sorted(k for k, w in weights.items() if w < 0)
        if negative:
            raise ValueError(f"metric weights must be >= 0: {negative}")
        return cls(
            weights={**METRICS.default_weights(), **{k: float(v) for k, v in weights.items()}},
            thresholds={**METRICS.default_thresholds(), **{k: float(v) for k, v in thresholds.items()}},
            frames_per_take=frames_per_take,
            composite_threshold=composite_threshold,
        )


class TakeScore(BaseModel):
    """One take's metric values (None = not computed), the reasons for those, and its composite."""

    metrics: dict[str, float | None]
    not_computed: dict[str, str] = Field(default_factory=dict)
    composite: float
    notes: dict[str, str] = Field(default_factory=dict)


class ShotCard(TakeScore):
    """A shot's line in the cut's scorecard: the chosen take's score, weak flag and reasons."""

    shot: int  # 0-based position in the cut
    weak: bool = False
    reasons: list[str] = Field(default_factory=list)
    take: str | None = None  # the chosen take (its id in the store), and how it was made
    seed: int | None = None
    backend: str | None = None


class CutSummary(BaseModel):
    """The cut's composite and the cut-level metrics (each by its name), with reasons and warnings."""

    model_config = ConfigDict(extra="allow")  # cut-level metric values, by metric name
    composite: float
    mean_shot_composite: float
    not_computed: dict[str, str] = Field(default_factory=dict)
    reasons: list[str] = Field(default_factory=list)
    warnings: list[dict[str, Any]] = Field(default_factory=list)  # what assembly had to do (delivery adds)
    loudness: dict[str, Any] | None = None  # the loudness as delivered, measured on the encoded file

    def value(self, metric: str) -> float | None:
        """A cut-level metric's value (None when not computed)."""
        return (self.model_extra or {}).get(metric)


class CutCheck(BaseModel):
    """One per-cut check: its name, whether it passed (`pass` in JSON; None: could not be checked), the
    value measured, the threshold it is held to (`op`: the value must be <= or >= it), and its source."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)
    name: str
    passed: bool | None = Field(default=None, alias="pass")
    value: float | None = None
    threshold: float | None = None
    op: Literal["<=", ">=", ""] = ""
    unit: str = ""
    detail: str = ""
    source: str = ""  # who checked, or the guidance the check comes from (with its address)
    kind: str = ""  # the judge: "ad" (ad-effectiveness), "compliance", "audience", ...


def _checks_list(value: Any) -> Any:
    """Checks as a list; a card stored before checks were a list held them by name with `ok`."""
    if isinstance(value, dict):
        return [{"name": k, "pass": v.get("ok"), **{f: v[f] for f in ("value", "detail", "source") if f in v}}
                for k, v in value.items()]  # fmt: skip
    return value


class CutScorecard(BaseModel):
    """One cut's scorecard, computed once per scoring pass and stored; delivery, reports and views read it."""

    shots: list[ShotCard]
    cut: CutSummary
    weights: dict[str, float]
    thresholds: dict[str, float]  # includes "composite", the refine threshold
    checks: Annotated[list[CutCheck], BeforeValidator(_checks_list)] = Field(default_factory=list)
    # The brief's copy rules checked on the delivered cut (agent.compliance): status, mode, reasons.
    compliance: dict[str, Any] | None = None

    def weak_shots(self) -> list[int]:
        return [s.shot for s in self.shots if s.weak]

    def check(self, name: str) -> CutCheck | None:
        """The check called `name`, or None."""
        return next((c for c in self.checks if c.name == name), None)

    def set_check(self, check: CutCheck) -> None:
        """Add a check, replacing one of the same name in place (the list keeps its order)."""
        names = [c.name for c in self.checks]
        if check.name in names:
            self.checks[names.index(check.name)] = check
        else:
            self.checks.append(check)


class WeakShot(BaseModel):
    """A shot to re-render: the metric furthest under its threshold, and by how much."""

    shot: int
    metric: str
    value: float
    threshold: float
    reason: str


def sample_indices(n_frames: int, k: int) -> list[int]:
    """k evenly spaced frame indices over [0, n_frames), first and last included (all if k >= n)."""
    if n_frames <= 0:
        return []
    if k >= n_frames:
        return list(range(n_frames))
    if k == 1:
        return [n_frames // 2]
    return [round(i * (n_frames - 1) / (k - 1)) for i in range(k)]


def thumbnail(frame: np.ndarray, side: int = THUMB_SIDE) -> np.ndarray:
    """A regular pixel grid of a frame [H,W,3] (every s-th pixel) so pixel metrics cost the same at any size."""
    stride = max(1, math.ceil(max(frame.shape[:2]) / side))
    return np.ascontiguousarray(frame[::stride, ::stride])


class FrameCountChanged(ValueError):
    """A take streamed more or fewer frames than it was said to hold (`counted`: how many it streamed)."""

    def __init__(self, expected: int, counted: int) -> None:
        super().__init__(f"expected {expected} frames, the take streamed {counted}")
        self.counted = counted


@dataclass
class TakePass:
    """What one pass over a take's frames keeps: running totals and the evenly spaced sample."""

    totals: FrameTotals
    sampled: list[np.ndarray] = field(default_factory=list)  # thumbnails of the sampled frames
    sampled_full: list[np.ndarray] = field(default_factory=list)  # the sampled frames as given (for CLIP)


def read_take(frames: Iterable[np.ndarray], frame_count: int, k: int, native_indices: list[int] | None = None,
              keep_full: bool = False) -> TakePass:  # fmt: skip
    """Stream a take's frames once, holding one frame at a time plus the k sampled ones."""
    wanted = set(sample_indices(frame_count, k))
    read = TakePass(FrameTotals(native_indices))
    for i, frame in enumerate(frames):
        if frame.ndim != 3 or frame.shape[-1] != 3:
            raise ValueError(f"expected frames [H,W,3], got shape {frame.shape} at frame {i}")
        thumb = thumbnail(frame)
        read.totals.add(thumb)
        if i in wanted:
            read.sampled.append(thumb)
            if keep_full:
                read.sampled_full.append(frame)
    if read.totals.count != frame_count:
        raise FrameCountChanged(frame_count, read.totals.count)
    return read


def effective_weights(values: dict[str, float | None], weights: dict[str, float]) -> dict[str, float]:
    """Weights of the computed shot metrics, each scaled as its metric says, renormalised to sum to 1."""
    raw = {}
    for m in METRICS.of_level("shot"):
        if values.get(m.name) is None:
            continue
        raw[m.name] = weights.get(m.name, 0.0) * (m.weight_scale(values) if m.weight_scale else 1.0)
    total = sum(raw.values())
    return {k: w / total for k, w in raw.items() if w > 0} if total > 0 else {}


def composite(values: dict[str, float | None], weights: dict[str, float]) -> float:
    """Weighted mean of the computed metrics (each clipped to [0,1]) under `effective_weights`."""
    eff = effective_weights(values, weights)
    return float(sum(w * _unit(values[k]) for k, w in eff.items()))


def _unit(value: Any) -> float:
    return min(1.0, max(0.0, float(value)))


def score_take(frames: np.ndarray, **options: Any) -> tuple[TakeScore, np.ndarray | None]:
    """Score one take's frames held in memory, uint8 [N,H,W,3] (keywords: those of `score_frames`)."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or len(frames) == 0:
        raise ValueError(f"expected frames [N,H,W,3] with N >= 1, got shape {frames.shape}")
    return score_frames(iter(frames), len(frames), **options)


def score_frames(
    frames: Iterable[np.ndarray],
    frame_count: int,
    *,
    prompt: str,
    palette: list[str],
    config: ScoringConfig,
    embedder: ClipEmbedder | None = None,
    embedder_reason: str | None = None,
    reference_embed: np.ndarray | None = None,
    native_indices: list[int] | None = None,
    shows_product: bool = True,
) -> tuple[TakeScore, np.ndarray | None]:
    """Score a take from its `frame_count` frames uint8 [H,W,3], streamed once (a decoder may yield them);
    returns the score and the sampled frames' embeddings. Memory holds a frame or two and the sample.

    `native_indices`: which frames the model rendered, when the take was retimed to the cut's fps;
    `shows_product`: whether the shot is meant to show the product (judged on likeness to it).
    A stream that yields another count than `frame_count` raises FrameCountChanged.
    """
    if frame_count < 1:
        raise ValueError(f"a take to score needs frames, got {frame_count}")
    # 1. one pass: running totals for the pixel metrics, frames sampled evenly for CLIP and palette
    read = read_take(frames, frame_count, config.frames_per_take, native_indices, keep_full=embedder is not None)
    # 2. CLIP embeddings where an embedder is at hand (the CLIP metrics say why not, otherwise)
    embeds = text = None
    if embedder is not None:
        embeds, text = embedder.embed_images(np.stack(read.sampled_full)), embedder.embed_text(prompt)[0]
    inputs = TakeInputs(totals=read.totals, sampled=np.stack(read.sampled), palette=palette, embeds=embeds,
                        text_embed=text, reference_embed=reference_embed, shows_product=shows_product)  # fmt: skip
    # 3. every registered shot metric whose needs are met; the others named with their reason
    values, missing = _evaluate(METRICS.of_level("shot"), inputs, embedder_reason)
    notes = {m.name: n for m in METRICS.of_level("shot") if m.note and (n := m.note(values))}
    score = TakeScore(metrics=values, not_computed=missing, composite=composite(values, config.weights), notes=notes)
    return score, embeds


def _evaluate(metrics: list[Metric], inputs: Any, clip_reason: str | None) -> tuple[dict, dict[str, str]]:
    values: dict[str, float | None] = {}
    missing: dict[str, str] = {}
    for m in metrics:
        why = m.missing(inputs, clip_reason)
        if why is None:
            values[m.name] = float(m.fn(inputs))
        else:
            values[m.name], missing[m.name] = None, why
    return values, missing


def _failures(score: TakeScore, config: ScoringConfig) -> list[tuple[float, str, float, float]]:
    """(relative shortfall, metric, value, threshold) for each metric under its threshold, worst first."""
    values = score.metrics
    out = []
    for name, threshold in config.thresholds.items():
        value = values.get(name)
        if value is None or value >= threshold or name not in METRICS.names("shot"):
            continue
        applies = METRICS.get(name).threshold_applies
        if applies is not None and not applies(values):
            continue
        out.append(((threshold - value) / max(threshold, 1e-9), name, float(value), float(threshold)))
    if score.composite < config.composite_threshold:
        gap = (config.composite_threshold - score.composite) / max(config.composite_threshold, 1e-9)
        out.append((gap, "composite", float(score.composite), config.composite_threshold))
    return sorted(out, reverse=True)


def _reason(metric: str, value: float, threshold: float) -> str:
    return f"{metric} {value:.2f} is {threshold - value:.2f} under {threshold:.2f}"


def _cut_summary(shots: list[ShotCard], shot_embeds: list[np.ndarray | None], config: ScoringConfig) -> CutSummary:
    """The mean shot composite blended with every computed cut-level metric by its weight."""
    mean = float(np.mean([s.composite for s in shots])) if shots else 0.0
    values, missing = _evaluate(METRICS.of_level("cut"), CutInputs(shot_embeds=list(shot_embeds)), None)
    weights = {k: config.weights.get(k, 0.0) for k, v in values.items() if v is not None}
    total = min(1.0, sum(weights.values()))
    blended = (1 - total) * mean + sum(w * _unit(values[k]) for k, w in weights.items())
    reasons = [_reason(k, v, config.thresholds[k]) for k, v in values.items()
               if v is not None and k in config.thresholds and v < config.thresholds[k]]  # fmt: skip
    return CutSummary(composite=blended, mean_shot_composite=mean, not_computed=missing, reasons=reasons, **values)


def cut_scorecard(
    shot_scores: list[TakeScore], shot_embeds: list[np.ndarray | None], config: ScoringConfig
) -> CutScorecard:
    """The cut's scorecard: per-shot metrics, weak flags and reasons, the cut composite."""
    shots = []
    for i, score in enumerate(shot_scores):
        fails = _failures(score, config)
        reasons = [_reason(name, value, thr) for _, name, value, thr in fails]
        shots.append(ShotCard(shot=i, weak=bool(fails), reasons=reasons, **score.model_dump()))
    return CutScorecard(
        shots=shots,
        cut=_cut_summary(shots, shot_embeds, config),
        weights=dict(config.weights),
        thresholds={**config.thresholds, "composite": config.composite_threshold},
    )


def weakest_shots(card: CutScorecard, config: ScoringConfig, limit: int) -> list[WeakShot]:
    """Shots under a threshold, lowest composite first, each with its worst metric; at most `limit`."""
    weak = []
    for row in sorted(card.shots, key=lambda r: r.composite):
        fails = _failures(row, config)
        if fails:
            _, name, value, thr = fails[0]
            weak.append(WeakShot(shot=row.shot, metric=name, value=value, threshold=thr,
                                 reason=_reason(name, value, thr)))
    return weak[: max(0, limit)]
