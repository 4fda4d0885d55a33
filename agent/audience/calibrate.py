"""Check the panel against real A/B results: how well its ranking predicted what people did.

RESULTS.csv has a header and one row per variant (rows for the same variant are added up, e.g. one
per day): `variant` (a plan key like runners/v0, or v0 / 0 with a `segment` column or a one-segment
run), `impressions`, and the outcome: `clicks` or `view_through` (views to the end; also `views`,
`completions`). Optional: `segment`, `run` (the run id).

Reported: Spearman's rho and Kendall's tau-b between the panel's mean intent and the observed rate,
pooled over the run's variants, each with a 95% percentile bootstrap interval; every replicate redraws
both sides' uncertainty: the observed rates as binomial draws at their own rate and size, and the panel's
means by drawing its personas (and their samples) with replacement. And per segment, whether the panel's
top variant is the observed top.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from agent.errors import CalibrationError
from agent.store import Store
from generators.lazy import scipy_module

OUTCOMES = {"clicks": "clicks", "view_through": "view_through", "views": "view_through",
            "completions": "view_through", "view_throughs": "view_through"}  # fmt: skip
BOOTSTRAP = 2000
MIN_VARIANTS = 3  # a rank correlation over fewer variants says nothing


def read_results(path: Path, keys: list[str], metric: str | None = None) -> tuple[dict[str, tuple[int, int]], str]:
    """{plan key: (impressions, outcome)} from the CSV and the outcome used; every problem names file and line."""
    if not path.is_file():
        raise CalibrationError(f"{path}: no such results file")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader, [])]
        cols = _columns(path, header, metric)
        totals: dict[str, list[int]] = {}
        for line, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            cells = dict(zip(header, (c.strip() for c in row), strict=False))
            key = _variant_key(path, line, cells, keys)
            shown, done = _count(path, line, cells, "impressions"), _count(path, line, cells, cols["outcome"])
            if shown <= 0:
                raise CalibrationError(f"{path}:{line}: impressions must be more than 0, got {shown}")
            if done > shown:
                raise CalibrationError(f"{path}:{line}: {cols['outcome']} ({done}) is more than impressions ({shown})")
            total = totals.setdefault(key, [0, 0])
            total[0], total[1] = total[0] + shown, total[1] + done
    if not totals:
        raise CalibrationError(f"{path}: no result rows under the header")
    return {k: (v[0], v[1]) for k, v in totals.items()}, OUTCOMES[cols["outcome"]]


def _columns(path: Path, header: list[str], metric: str | None) -> dict[str, str]:
    missing = [c for c in ("variant", "impressions") if c not in header]
    outcomes = [c for c in header if c in OUTCOMES and (metric is None or OUTCOMES[c] == metric)]
    if not outcomes:
        missing.append(metric or "clicks or view_through")
    if missing:
        raise CalibrationError(f"{path}:1: missing column(s) {', '.join(missing)}; the header has: {', '.join(header) or 'nothing'}")
    return {"outcome": outcomes[0]}


def _variant_key(path: Path, line: int, cells: dict[str, str], keys: list[str]) -> str:
    """The plan key a row means: "seg/v1" as is; "v1" or "1" with its segment (or the only segment)."""
    raw = cells.get("variant", "")
    segments = sorted({k.split("/v")[0] for k in keys})
    if "/" in raw:
        key = raw
    else:
        number = raw.lower().removeprefix("v")
        segment = cells.get("segment") or (segments[0] if len(segments) == 1 else "")
        if not segment:
            raise CalibrationError(f"{path}:{line}: variant '{raw}' needs a segment column (segments: {', '.join(segments)})")
        key = f"{segment}/v{number}"
    if key not in keys:
        raise CalibrationError(f"{path}:{line}: unknown variant '{raw}'; the run's variants: {', '.join(keys)}")
    return key


def _count(path: Path, line: int, cells: dict[str, str], column: str) -> int:
    text = cells.get(column, "")
    try:
        value = float(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise CalibrationError(f"{path}:{line}: {column} must be a number, got '{text}'") from None
    if value < 0 or value != int(value):
        raise CalibrationError(f"{path}:{line}: {column} must be a whole number >= 0, got '{text}'")
    return int(value)


def results_run(store: Store, path: Path, given: str | None, metric: str | None) -> str:
    """The run the results are for: --run, else the CSV's `run` column, else the newest run with a panel."""
    if metric is not None and metric not in set(OUTCOMES.values()):
        raise CalibrationError(f"unknown metric '{metric}'; known: {', '.join(sorted(set(OUTCOMES.values())))}")
    if given:
        store.run(given)  # an unknown run is RunNotFound, naming the store
        return given
    if path.is_file():
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
        runs = {(r.get("run") or r.get("run_id") or "").strip() for r in rows} - {""}
        if len(runs) > 1:
            raise CalibrationError(f"{path}: rows name {len(runs)} runs ({', '.join(sorted(runs))}); give one file per run")
        if runs:
            return runs.pop()
    for run in store.runs(limit=1000):
        if any(r.get("computed") for r in store.audience(run["id"]).values()):
            return run["id"]
    raise CalibrationError("no run in the workspace has a computed audience panel; give --run RUN")


def panel_matrices(store: Store, run_id: str) -> dict[str, np.ndarray]:
    """{plan key: personas x samples matrix of intent} from each segment's latest computed panel."""
    out = {}
    for result in store.audience(run_id).values():
        if result.get("computed"):
            for key, rows in (result.get("answers") or {}).items():
                out[key] = np.array([[np.nan if a is None else a["intent"] for a in row] for row in rows], np.float64)
    return out


def calibrate(store: Store, run_id: str, path: Path, metric: str | None = None, seed: int = 0) -> dict[str, Any]:
    """Rank correlation between the panel and the observed rates, with bootstrap intervals."""
    panel = panel_matrices(store, run_id)
    keys = sorted(p["key"] for p in store.latest_plans(run_id).values())
    results, outcome = read_results(path, keys, metric)
    unscored = sorted(k for k in results if k not in panel)
    if unscored:
        reasons = {s: r.get("reason") for s, r in store.audience(run_id).items() if not r.get("computed")}
        raise CalibrationError(f"{path}: the panel has no score for {', '.join(unscored)} in run {run_id}"
                               + (f" ({'; '.join(f'{s}: {r}' for s, r in reasons.items())})" if reasons else ""))
    order = sorted(results)
    means = np.array([np.nanmean(panel[k]) for k in order])
    shown = np.array([results[k][0] for k in order])
    rates = np.array([results[k][1] for k in order]) / shown
    rho, tau = _correlations(means, rates)
    boots = _bootstrap(panel, order, shown, rates, seed)
    return {
        "run_id": run_id, "results": str(path), "outcome": outcome, "variants": len(order),
        "spearman": _stat(rho, boots[:, 0], len(order)), "kendall": _stat(tau, boots[:, 1], len(order)),
        "segments": _segments(order, means, rates, shown, results),
        "note": "the panel is a heuristic; a correlation over few variants has a wide interval",
    }  # fmt: skip


def _correlations(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    rho, tau = rank_correlations(x[None], y[None])
    return float(rho[0]), float(tau[0])


def rank_correlations(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spearman's rho and Kendall's tau-b of each row pair of x, y [B, n] (NaN where a row is constant).

    rho: Pearson's r of the average ranks; tau-b = sum(sign dx * sign dy) / sqrt((n0 - tx) (n0 - ty)) over
    the n0 = n(n-1)/2 pairs, tx and ty the pairs tied in x and in y (Kendall 1945)."""
    scipy_module("scipy.stats")  # imported one thread at a time (generators.lazy)
    from scipy.stats import rankdata

    rx, ry = rankdata(x, axis=1), rankdata(y, axis=1)
    rx, ry = rx - rx.mean(axis=1, keepdims=True), ry - ry.mean(axis=1, keepdims=True)
    with np.errstate(all="ignore"):
        rho = (rx * ry).sum(axis=1) / np.sqrt((rx**2).sum(axis=1) * (ry**2).sum(axis=1))
        i, j = np.triu_indices(x.shape[1], k=1)
        sx, sy = np.sign(x[:, i] - x[:, j]), np.sign(y[:, i] - y[:, j])
        n0 = len(i)
        tau = (sx * sy).sum(axis=1) / np.sqrt((n0 - (sx == 0).sum(axis=1)) * (n0 - (sy == 0).sum(axis=1)))
    bad = ~np.isfinite(x).all(axis=1) | ~np.isfinite(y).all(axis=1)
    return np.where(bad, np.nan, rho), np.where(bad, np.nan, tau)


def _bootstrap(panel: dict[str, np.ndarray], order: list[str], shown: np.ndarray, rates: np.ndarray,
               seed: int) -> np.ndarray:  # fmt: skip
    """[BOOTSTRAP, 2] replicate (rho, tau): binomial rates and persona-resampled panel means."""
    import warnings

    rng = np.random.default_rng(seed)
    drawn_rates = rng.binomial(shown, rates, size=(BOOTSTRAP, len(order))) / shown
    means = np.empty((BOOTSTRAP, len(order)))
    for col, key in enumerate(order):
        m = panel[key]
        who = rng.integers(0, m.shape[0], (BOOTSTRAP, m.shape[0]))
        which = rng.integers(0, m.shape[1], (BOOTSTRAP, *m.shape))
        with warnings.catch_warnings():  # a replicate that drew only missing answers is NaN, dropped later
            warnings.simplefilter("ignore", RuntimeWarning)
            means[:, col] = np.nanmean(m[who[..., None], which].reshape(BOOTSTRAP, -1), axis=1)
    return np.stack(rank_correlations(means, drawn_rates), axis=1)


def _stat(value: float, reps: np.ndarray, n: int) -> dict[str, Any]:
    if n < MIN_VARIANTS or not np.isfinite(value):
        why = (f"needs at least {MIN_VARIANTS} variants with results (got {n})" if n < MIN_VARIANTS
               else "undefined: the panel's or the observed scores are all equal")  # fmt: skip
        return {"value": None, "low": None, "high": None, "reason": why}
    reps = reps[np.isfinite(reps)]
    low, high = np.quantile(reps, [0.025, 0.975]) if len(reps) else (np.nan, np.nan)
    return {"value": round(value, 4), "low": round(float(low), 4), "high": round(float(high), 4)}


def _segments(order: list[str], means: np.ndarray, rates: np.ndarray, shown: np.ndarray,
              results: dict[str, tuple[int, int]]) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {}
    for segment in sorted({k.split("/v")[0] for k in order}):
        idx = [i for i, k in enumerate(order) if k.split("/v")[0] == segment]
        panel_top = order[max(idx, key=lambda i: means[i])]
        observed_top = order[max(idx, key=lambda i: rates[i])]
        out[segment] = {"panel_top": panel_top, "observed_top": observed_top, "agree": panel_top == observed_top,
                        "rows": [{"variant": order[i], "panel_intent": round(float(means[i]), 3),
                                  "impressions": int(shown[i]), "outcome": results[order[i]][1],
                                  "rate": round(float(rates[i]), 5)} for i in idx]}  # fmt: skip
    return out


def calibration_text(result: dict[str, Any]) -> str:
    """The calibration as a few readable lines."""
    lines = [f"run {result['run_id']}: panel intent against observed {result['outcome']} rate, "
             f"{result['variants']} variants ({result['note']})"]  # fmt: skip
    for name in ("spearman", "kendall"):
        s = result[name]
        lines.append(f"  {name}: " + (f"{s['value']:+.2f} [{s['low']:+.2f}, {s['high']:+.2f}]" if s["value"] is not None
                                      else s["reason"]))  # fmt: skip
    for segment, seg in result["segments"].items():
        verdict = "agrees" if seg["agree"] else "disagrees"
        lines.append(f"  {segment}: panel top {seg['panel_top']}, observed top {seg['observed_top']} ({verdict})")
    return "\n".join(lines)
