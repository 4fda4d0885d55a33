"""The panel's numbers: per-variant means with bootstrap intervals, and a ranking that admits a tie.

Scores come as one matrix per variant, personas x samples (NaN where an answer is missing). The
bootstrap is a two-stage (cluster) bootstrap (Davison & Hinkley, "Bootstrap Methods and their
Application", 1997, section 3.8): personas are drawn with replacement, then each drawn persona's
samples; the same personas are drawn for every variant in a replicate, since the same people watched
every variant. The interval is the percentile interval of the replicate means. A segment has a clear
winner only when the top variant's interval lies wholly above the runner-up's; otherwise the panel
says "no clear winner" (overlapping intervals are a conservative test, on purpose).
"""

from __future__ import annotations

import warnings

import numpy as np
from pydantic import BaseModel

BOOTSTRAP = 2000
LEVEL = 0.95


class VariantScore(BaseModel):
    """One variant's mean score over the panel and its bootstrap interval."""

    variant: str
    mean: float | None
    low: float | None
    high: float | None
    answers: int


class Ranking(BaseModel):
    """Variants best first, and the winner (None: no clear winner, or fewer than two variants scored)."""

    variants: list[VariantScore]
    winner: str | None
    verdict: str


def bootstrap_means(scores: dict[str, np.ndarray], n_boot: int = BOOTSTRAP, seed: int = 0,
                    level: float = LEVEL) -> dict[str, VariantScore]:  # fmt: skip
    """Mean and percentile interval per variant; matrices personas x samples, NaN for missing answers."""
    mats = {k: np.atleast_2d(np.asarray(v, np.float64)) for k, v in scores.items()}
    shapes = {m.shape for m in mats.values()}
    if len(shapes) > 1:
        raise ValueError(f"every variant needs the same personas x samples matrix, got {sorted(shapes)}")
    if not mats:
        return {}
    n_personas, n_samples = next(iter(shapes))
    rng = np.random.default_rng(seed)
    who = rng.integers(0, n_personas, (n_boot, n_personas))  # shared by all variants (paired design)
    which = rng.integers(0, n_samples, (n_boot, n_personas, n_samples))
    alpha = (1 - level) / 2
    out = {}
    for key, m in mats.items():
        answers = int(np.isfinite(m).sum())
        if answers == 0:
            out[key] = VariantScore(variant=key, mean=None, low=None, high=None, answers=0)
            continue
        drawn = m[who[..., None], which]  # (n_boot, personas, samples)
        with warnings.catch_warnings():  # a replicate that drew only missing answers is dropped below
            warnings.simplefilter("ignore", RuntimeWarning)
            reps = np.nanmean(drawn.reshape(n_boot, -1), axis=1)
        reps = reps[np.isfinite(reps)]
        low, high = np.quantile(reps, [alpha, 1 - alpha]) if len(reps) else (np.nan, np.nan)
        out[key] = VariantScore(variant=key, mean=float(np.nanmean(m)), low=float(low), high=float(high), answers=answers)
    return out


def rank(stats: dict[str, VariantScore]) -> Ranking:
    """Variants by mean, best first; a winner only when its interval clears the runner-up's."""
    scored = sorted((s for s in stats.values() if s.mean is not None), key=lambda s: (-s.mean, s.variant))
    unscored = sorted((s for s in stats.values() if s.mean is None), key=lambda s: s.variant)
    ordered = scored + unscored
    if len(scored) < 2:
        verdict = "only one variant was scored" if scored else "no variant was scored"
        return Ranking(variants=ordered, winner=None, verdict=verdict)
    top, second = scored[0], scored[1]
    if top.low > second.high:
        return Ranking(variants=ordered, winner=top.variant,
                       verdict=f"{top.variant} leads: its interval [{top.low:.2f}, {top.high:.2f}] is above "
                               f"{second.variant}'s [{second.low:.2f}, {second.high:.2f}]")  # fmt: skip
    return Ranking(variants=ordered, winner=None,
                   verdict=f"no clear winner: {top.variant} [{top.low:.2f}, {top.high:.2f}] and {second.variant} "
                           f"[{second.low:.2f}, {second.high:.2f}] overlap")  # fmt: skip
