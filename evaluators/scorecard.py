"""Per-take scores, the cut's scorecard and the weakest shots to re-render.

Every metric is oriented so higher is better and lies on [0,1] (values outside are clipped for the
composite). A take's composite is the weighted mean of the metrics that were computed, with the
weights renormalised over those metrics; a metric that is not computed (no CLIP model, no palette, no
product image) is left out and named with its reason, never counted as 0.

How motion is used: a still product shot and a fast pan must be judged alike. `motion` has weight 0
and no threshold by default (a brief may demand movement by setting both). VBench's temporal flicker
counts every frame-to-frame change, motion included, so a moving shot would lose flicker points for
moving: the flicker weight is scaled by stillness, (1 - motion), and its threshold applies only to
near-static takes (motion <= STILL_MOTION).

Default weights and thresholds are starting points chosen from the ranges the source papers report
(CLIPScore ~0.6-0.8 for matching captions; VBench consistency and flicker ~0.9-0.99 for good models);
they are not calibrated on human ratings.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from evaluators import metrics

if TYPE_CHECKING:
    from evaluators.clip import ClipEmbedder

SHOT_METRICS = (
    "clip_score", "frame_consistency", "vbench_consistency", "product_consistency",
    "temporal_flicker", "motion", "palette_adherence", "not_black", "not_frozen",
)
CUT_METRICS = ("cross_shot_consistency",)
DEFAULT_WEIGHTS: dict[str, float] = {
    "clip_score": 0.35, "frame_consistency": 0.10, "vbench_consistency": 0.15,
    "product_consistency": 0.10, "temporal_flicker": 0.10, "motion": 0.0, "palette_adherence": 0.10,
    "not_black": 0.05, "not_frozen": 0.05,
    "cross_shot_consistency": 0.15,  # cut level: blended with the mean shot composite
}
DEFAULT_THRESHOLDS: dict[str, float] = {
    "clip_score": 0.60,  # cos 0.24 to the prompt
    "frame_consistency": 0.80, "vbench_consistency": 0.85, "product_consistency": 0.65,
    "temporal_flicker": 0.90, "palette_adherence": 0.20, "not_black": 0.90, "not_frozen": 0.50,
    "cross_shot_consistency": 0.60,
}
STILL_MOTION = 0.25  # at or under this motion a take counts as near-static (flicker threshold applies)
CROSS_SHOT_FRAMES = 2  # sampled frames at each side of a cut compared by cross_shot_consistency
THUMB_SIDE = 160  # pixel metrics read a regular pixel grid at most this many pixels on the long side
CLIP_METRICS = ("clip_score", "frame_consistency", "vbench_consistency", "product_consistency")


class ScoringConfig(BaseModel):
    """Metric weights and thresholds, the refine threshold on the composite, and frames sampled per take."""

    model_config = ConfigDict(extra="forbid")
    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    thresholds: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    composite_threshold: float = 0.6
    frames_per_take: int = Field(default=8, ge=2)

    @classmethod
    def from_brief_parts(
        cls, weights: dict, thresholds: dict, frames_per_take: int, composite_threshold: float
    ) -> ScoringConfig:
        """Merge the brief's weights and thresholds over the defaults; unknown metric names -> ValueError."""
        known = set(SHOT_METRICS) | set(CUT_METRICS)
        unknown = sorted((set(weights) | set(thresholds)) - known)
        if unknown:
            raise ValueError(f"unknown metric names {unknown}; known: {sorted(known)}")
        negative = sorted(k for k, w in weights.items() if w < 0)
        if negative:
            raise ValueError(f"metric weights must be >= 0: {negative}")
        return cls(
            weights={**DEFAULT_WEIGHTS, **{k: float(v) for k, v in weights.items()}},
            thresholds={**DEFAULT_THRESHOLDS, **{k: float(v) for k, v in thresholds.items()}},
            frames_per_take=frames_per_take,
            composite_threshold=composite_threshold,
        )


class TakeScore(BaseModel):
    """One take's metric values (None = not computed), the reasons for those, and its composite."""

    metrics: dict[str, float | None]
    not_computed: dict[str, str] = Field(default_factory=dict)
    composite: float
    notes: dict[str, str] = Field(default_factory=dict)


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


def _thumbnail(frames: np.ndarray, side: int = THUMB_SIDE) -> np.ndarray:
    """A regular pixel grid of the frames (every s-th pixel) so pixel metrics cost the same at any size."""
    stride = max(1, math.ceil(max(frames.shape[1:3]) / side))
    return frames[:, ::stride, ::stride]


def _pixel_metrics(frames: np.ndarray, sampled: np.ndarray, palette: list[str],
                   native: list[int] | None = None) -> tuple[dict, dict]:
    """Weight-free metrics; temporal ones on consecutive frames, palette on the sampled ones. Frozen-ness
    is judged on the rendered (`native`) frames where the take was retimed: the frames a retime
    repeats or interpolates between them are not the model freezing."""
    values: dict[str, float | None] = {}
    missing: dict[str, str] = {}
    rendered = frames[[i for i in native if i < len(frames)]] if native else frames
    if len(frames) >= 2:
        values["temporal_flicker"] = metrics.temporal_flicker(frames)
        values["motion"] = metrics.motion(frames)
        values["not_frozen"] = 1.0 - metrics.frozen_fraction(rendered if len(rendered) >= 2 else frames)
    else:
        for name in ("temporal_flicker", "motion", "not_frozen"):
            missing[name] = "the take has a single frame"
    values["not_black"] = 1.0 - metrics.black_fraction(frames)
    if palette:
        values["palette_adherence"] = metrics.palette_adherence(sampled, palette)
    else:
        missing["palette_adherence"] = "the brief gives no palette"
    return values, missing


def _clip_metrics(
    embeds: np.ndarray, text: np.ndarray, reference_embed: np.ndarray | None
) -> tuple[dict, dict]:
    values: dict[str, float | None] = {"clip_score": metrics.clip_score(embeds, text)}
    missing: dict[str, str] = {}
    if len(embeds) >= 2:
        values["frame_consistency"] = metrics.frame_consistency(embeds)
        values["vbench_consistency"] = metrics.vbench_consistency(embeds)
    else:
        missing["frame_consistency"] = missing["vbench_consistency"] = "the take has a single frame"
    if reference_embed is not None:
        values["product_consistency"] = metrics.product_consistency(embeds, reference_embed)
    else:
        missing["product_consistency"] = "the brief gives no product reference image"
    return values, missing


def effective_weights(values: dict[str, float | None], weights: dict[str, float]) -> dict[str, float]:
    """Weights of the computed shot metrics, flicker scaled by stillness, renormalised to sum to 1."""
    raw = {k: weights.get(k, 0.0) for k in SHOT_METRICS if values.get(k) is not None}
    if "temporal_flicker" in raw and values.get("motion") is not None:
        raw["temporal_flicker"] *= 1.0 - float(values["motion"])
    total = sum(raw.values())
    return {k: w / total for k, w in raw.items() if w > 0} if total > 0 else {}


def composite(values: dict[str, float | None], weights: dict[str, float]) -> float:
    """Weighted mean of the computed metrics (each clipped to [0,1]) under `effective_weights`."""
    eff = effective_weights(values, weights)
    return float(sum(w * min(1.0, max(0.0, float(values[k]))) for k, w in eff.items()))


def score_take(
    frames: np.ndarray,
    *,
    prompt: str,
    palette: list[str],
    config: ScoringConfig,
    embedder: ClipEmbedder | None = None,
    embedder_reason: str | None = None,
    reference_embed: np.ndarray | None = None,
    native_indices: list[int] | None = None,
) -> tuple[TakeScore, np.ndarray | None]:
    """Score one take's frames uint8 [N,H,W,3]; returns the score and the sampled frames' embeddings.

    `native_indices`: which frames the model rendered, when the take was retimed to the cut's fps.
    """
    # 1. sample frames evenly for the CLIP and palette metrics
    frames = np.asarray(frames)
    if frames.ndim != 4 or len(frames) == 0:
        raise ValueError(f"expected frames [N,H,W,3] with N >= 1, got shape {frames.shape}")
    thumbs = _thumbnail(frames)
    idx = sample_indices(len(frames), config.frames_per_take)
    # 2. weight-free metrics, always
    values, missing = _pixel_metrics(thumbs, thumbs[idx], palette, native_indices)
    # 3. CLIP metrics where an embedder is at hand, else named as not computed with the reason
    embeds = None
    if embedder is not None:
        embeds = embedder.embed_images(frames[idx])
        clip_values, clip_missing = _clip_metrics(embeds, embedder.embed_text(prompt)[0], reference_embed)
        values.update(clip_values)
        missing.update(clip_missing)
    else:
        reason = embedder_reason or "no CLIP model was loaded"
        missing.update({name: reason for name in CLIP_METRICS})
    values.update({name: None for name in missing})
    values = {name: values[name] for name in SHOT_METRICS if name in values}
    notes = _motion_notes(values)
    score = TakeScore(metrics=values, not_computed=missing, composite=composite(values, config.weights), notes=notes)
    return score, embeds


def _motion_notes(values: dict[str, float | None]) -> dict[str, str]:
    m = values.get("motion")
    if m is None or values.get("temporal_flicker") is None:
        return {}
    note = f"weighted by stillness (1 - motion {m:.2f})"
    if m > STILL_MOTION:
        note += f"; no threshold: motion {m:.2f} is over {STILL_MOTION:.2f}, so frame changes are mostly motion"
    return {"temporal_flicker": note}


def _failures(score: dict, config: ScoringConfig) -> list[tuple[float, str, float, float]]:
    """(relative shortfall, metric, value, threshold) for each metric under its threshold, worst first."""
    values = score["metrics"]
    out = []
    for name, threshold in config.thresholds.items():
        value = values.get(name)
        if name not in SHOT_METRICS or value is None or value >= threshold:
            continue
        if name == "temporal_flicker" and (values.get("motion") or 0.0) > STILL_MOTION:
            continue
        out.append(((threshold - value) / max(threshold, 1e-9), name, float(value), float(threshold)))
    if score["composite"] < config.composite_threshold:
        gap = (config.composite_threshold - score["composite"]) / max(config.composite_threshold, 1e-9)
        out.append((gap, "composite", float(score["composite"]), config.composite_threshold))
    return sorted(out, reverse=True)


def _reason(metric: str, value: float, threshold: float) -> str:
    return f"{metric} {value:.2f} is {threshold - value:.2f} under {threshold:.2f}"


def _cut_summary(shots: list[dict], shot_embeds: list[np.ndarray | None], config: ScoringConfig) -> dict:
    mean = float(np.mean([s["composite"] for s in shots])) if shots else 0.0
    cut: dict = {"composite": mean, "mean_shot_composite": mean, "cross_shot_consistency": None}
    if len(shot_embeds) < 2:
        cut["not_computed"] = {"cross_shot_consistency": "the cut has a single shot"}
    elif any(e is None or len(e) == 0 for e in shot_embeds):
        cut["not_computed"] = {"cross_shot_consistency": "some shots have no CLIP embeddings"}
    else:
        cross = metrics.cross_shot_consistency(list(shot_embeds), n=CROSS_SHOT_FRAMES)
        w = config.weights.get("cross_shot_consistency", 0.0)
        cut["cross_shot_consistency"] = cross
        cut["composite"] = (1 - w) * mean + w * min(1.0, max(0.0, cross))
        threshold = config.thresholds.get("cross_shot_consistency")
        if threshold is not None and cross < threshold:
            cut["reasons"] = [_reason("cross_shot_consistency", cross, threshold)]
    return cut


def cut_scorecard(
    shot_scores: list[TakeScore], shot_embeds: list[np.ndarray | None], config: ScoringConfig
) -> dict:
    """The cut's scorecard (JSON-able): per-shot metrics, weak flags and reasons, cut composite."""
    shots = []
    for i, score in enumerate(shot_scores):
        row = {"shot": i, **score.model_dump()}
        fails = _failures(row, config)
        row["weak"] = bool(fails)
        row["reasons"] = [_reason(name, value, thr) for _, name, value, thr in fails]
        shots.append(row)
    return {
        "shots": shots,
        "cut": _cut_summary(shots, shot_embeds, config),
        "weights": dict(config.weights),
        "thresholds": {**config.thresholds, "composite": config.composite_threshold},
    }


def weakest_shots(card: dict, config: ScoringConfig, limit: int) -> list[WeakShot]:
    """Shots under a threshold, lowest composite first, each with its worst metric; at most `limit`."""
    weak = []
    for row in sorted(card["shots"], key=lambda r: r["composite"]):
        fails = _failures(row, config)
        if fails:
            _, name, value, thr = fails[0]
            weak.append(WeakShot(shot=row["shot"], metric=name, value=value, threshold=thr,
                                 reason=_reason(name, value, thr)))
    return weak[: max(0, limit)]


_FEEDBACK = {
    "clip_score": "the frames drift from the prompt: make the subject and action more explicit and concrete",
    "frame_consistency": "the look changes within the shot: keep one subject, setting and lighting throughout",
    "vbench_consistency": "the subject or background morphs over time: hold the subject steady, simplify the scene",
    "product_consistency": "the product does not look like the reference: describe it exactly (shape, colour, "
    "label) and keep it in frame",
    "temporal_flicker": "the picture flickers: ask for steady lighting and a calm, locked-off camera",
    "motion": "the shot is too static: add a clear camera move or subject action",
    "palette_adherence": "the colours stray from the brand palette: name the brand colours in the scene",
    "not_black": "frames come out black: ask for a well-lit scene",
    "not_frozen": "the picture freezes: ask for continuous, visible movement",
    "composite": "the shot is weak overall: tighten the prompt around one subject, one action, one setting",
}


def revise_feedback(weak: WeakShot) -> str:
    """A plain-English instruction for the planner's revise, from the shot's worst metric."""
    advice = _FEEDBACK.get(weak.metric, "the shot scored low: make the prompt clearer and more concrete")
    return f"Shot {weak.shot + 1}: {advice} ({weak.reason})."


_SHORT = {
    "clip_score": "clip", "frame_consistency": "clipF", "vbench_consistency": "vbcons",
    "product_consistency": "product", "temporal_flicker": "flicker", "motion": "motion",
    "palette_adherence": "palette", "not_black": "!black", "not_frozen": "!frozen",
}


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_table(card: dict) -> str:
    """A plain-text table of the scorecard for `briefcut runs show` (shots numbered from 1, as people say)."""
    names = [n for n in SHOT_METRICS if any(n in s["metrics"] for s in card["shots"])]
    header = ["shot", "score"] + [_SHORT[n] for n in names] + ["weak"]
    rows = [
        [str(s["shot"] + 1), _cell(s["composite"])] + [_cell(s["metrics"].get(n)) for n in names]
        + ["; ".join(s["reasons"]) if s["weak"] else ""]
        for s in card["shots"]
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in [header, *rows]]
    lines.append(_cut_line(card["cut"]))
    by_reason: dict[str, list[str]] = {}
    for name, why in _not_computed(card).items():
        by_reason.setdefault(why, []).append(name)
    lines += [f"not computed: {', '.join(names)}: {why}" for why, names in by_reason.items()]
    return "\n".join(line.rstrip() for line in lines)


def _cut_line(cut: dict) -> str:
    cross = cut.get("cross_shot_consistency")
    line = f"cut: score {cut['composite']:.2f}, cross-shot consistency {_cell(cross)}"
    return line + "".join(f"; {r}" for r in cut.get("reasons", []))


def _not_computed(card: dict) -> dict[str, str]:
    """Each metric that was not computed in some shot, with its first reason."""
    out: dict[str, str] = {}
    for shot in card["shots"]:
        for name, why in shot["not_computed"].items():
            out.setdefault(name, why)
    out.update(card["cut"].get("not_computed", {}))
    return out
