"""Bench: peak memory of scoring a take, streamed (today) against every frame held at once (before).

    python bench/memory.py                       # takes of 4, 15 and 60 s at 832x480, 24 fps
    python bench/memory.py --seconds 2 8 --repeat 1

Each measurement runs in a fresh process (peak RSS only grows within one), scoring one take without
CLIP: `held` is the path scoring took before it streamed, kept here as the reference (every frame
decoded at scoring size into one array, the whole-array metric formulas, the palette in one piece);
`streamed` is `Scorer` as a run calls it (one decoding pass, running totals, a bounded sample). Printed
per length: the median (and min-max) over --repeat alternated runs of the peak traced by tracemalloc
(numpy and Python allocations), the process's peak RSS (decoder buffers and imports included) and how
far scoring raised it over the peak after a warm-up on a 4-frame take, and the wall time; then the
held/streamed ratios. The target: flat in take length, the same metric values.

Then (skip with --no-threads) the wall time of scoring a cut's takes (--takes takes of 3 s) one at a
time against `render_workers()` threads, as `Scorer.score_cuts` does, alternated, with the ratio.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FPS, SIZE = 24, (480, 832)
BRIEF = ROOT / "briefs" / "bumper.yaml"


def moving(n: int, hw: tuple[int, int] = SIZE):
    """Frames with a sliding gradient and a block crossing it: cheap to make, never still."""
    y, x = np.mgrid[0 : hw[0], 0 : hw[1]]
    for t in range(n):
        frame = np.empty((*hw, 3), np.uint8)
        frame[..., 0], frame[..., 1], frame[..., 2] = (x + 4 * t) % 256, (y + 2 * t) % 256, 128
        frame[100:260, (7 * t) % (hw[1] - 200) :][:, :160] = (230, 40, 90)
        yield frame


def held(media: Path) -> dict[str, float]:
    """Scoring as it was: every frame at scoring size in one array, the whole-array formulas."""
    from agent.brief import load_brief
    from agent.scoring import SCORING_MAX_SIDE, scoring_config
    from evaluators import metrics
    from evaluators.scorecard import THUMB_SIDE, sample_indices
    from generators.media import read_frames

    brief = load_brief(BRIEF)
    frames = read_frames(media, max_side=SCORING_MAX_SIDE)
    stride = max(1, math.ceil(max(frames.shape[1:3]) / THUMB_SIDE))
    thumbs = frames[:, ::stride, ::stride]
    sampled = thumbs[sample_indices(len(frames), scoring_config(brief).frames_per_take)]
    lab = metrics.srgb_to_lab(sampled.reshape(-1, 3))
    palette = metrics.srgb_to_lab(np.array([metrics.hex_to_rgb(c) for c in brief.brand.palette], np.float64))
    nearest = np.sqrt(((lab[:, None] - palette[None]) ** 2).sum(-1)).min(axis=1)
    return {"temporal_flicker": metrics.temporal_flicker(thumbs), "motion": metrics.motion(thumbs),
            "not_black": 1 - metrics.black_fraction(thumbs), "not_frozen": 1 - metrics.frozen_fraction(thumbs),
            "palette_adherence": float(np.mean(np.maximum(0, 1 - nearest / metrics.PALETTE_DELTA_E)))}  # fmt: skip


def streamed(media: Path, folder: Path) -> dict[str, float]:
    """Scoring as a run does it now (the Scorer, no CLIP model)."""
    from agent.brief import load_brief
    from agent.profiles import ClipChoice
    from agent.scoring import Scorer
    from agent.store import Store
    from generators.base import BackendPool

    scorer = Scorer("bench", load_brief(BRIEF), ClipChoice(model="none", dtype="fp32"), Store(folder / "s.db"),
                    BackendPool())  # fmt: skip
    for old in media.parent.glob(f"{media.stem}.score-*"):
        old.unlink()
    score = scorer.take_score({"id": f"t{time.monotonic_ns()}", "path": str(media), "metadata": {}}, "a take")
    return {k: v for k, v in score.metrics.items() if v is not None}


def child(path: str, media: Path, folder: Path) -> None:
    """One measurement in this fresh process; prints a JSON line."""
    warm = folder / "warm.mp4"  # imports and first-call caches before the baseline: not the take's cost
    held(warm) if path == "held" else streamed(warm, folder)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    start = time.perf_counter()
    values = held(media) if path == "held" else streamed(media, folder)
    wall = time.perf_counter() - start
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"traced": traced / 2**20, "peak": peak / 1024, "rss": (peak - base) / 1024, "wall": wall,
                      "values": values}))  # fmt: skip


def measure(path: str, media: Path, folder: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", path, str(media), str(folder)], capture_output=True,
                         text=True, check=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def threads_child(folder: Path, takes: int) -> None:
    """Score `takes` takes of one cut with the Scorer (threads as BRIEFCUT_RENDER_WORKERS says); prints seconds."""
    from agent.brief import load_brief
    from agent.plan import EndCard, Music, Plan, Shot
    from agent.profiles import ClipChoice
    from agent.scoring import Scorer
    from agent.store import Store
    from generators.base import BackendPool

    shots = [Shot(index=i, uid=f"s{i}", description=f"s{i}", prompt=f"shot {i}", seconds=3) for i in range(takes)]
    plan = Plan(segment="b", shots=shots, music=Music(mood="calm"), end_card=EndCard(seconds=1, headline="h",
                call_to_action="c"))  # fmt: skip
    run = Path(tempfile.mkdtemp(dir=folder))
    store = Store(run / "s.db")
    for shot in shots:  # each run scores copies of its own: no score kept beside the media is reused
        copy = run / f"{shot.uid}.mp4"
        copy.write_bytes((folder / f"{shot.uid}.mp4").read_bytes())
        store.write("takes", {"id": shot.uid, "run_id": "bench", "kind": "video", "plan_key": plan.key,
                              "shot_uid": shot.uid, "format": "1:1", "lineage": 0, "status": "done",
                              "path": str(copy), "seed": 0, "backend": "bench", "created_at": shot.uid})  # fmt: skip
    scorer = Scorer("bench", load_brief(BRIEF), ClipChoice(model="none", dtype="fp32"), store, BackendPool())
    start = time.perf_counter()
    scorer.score_cuts({plan.key: plan}, ["1:1"], 1)
    print(json.dumps({"wall": time.perf_counter() - start, "scored": scorer.stats["takes_scored"]}))


def threads(folder: Path, takes: int, repeat: int) -> None:
    """Wall time of scoring a cut's takes one at a time against in threads, alternated."""
    import os

    from agent.runner import render_workers
    from generators.media import write_frames

    for i in range(takes):
        write_frames(folder / f"s{i}.mp4", moving(3 * FPS), FPS)
    walls: dict[str, list[float]] = {"1": [], str(render_workers()): []}
    for r in range(repeat):
        for workers in (list(walls) if r % 2 == 0 else list(walls)[::-1]):
            out = subprocess.run([sys.executable, __file__, "--threads-child", str(folder), str(takes)], check=True,
                                 capture_output=True, text=True, env={**os.environ, "BRIEFCUT_RENDER_WORKERS": workers})  # fmt: skip
            walls[workers].append(json.loads(out.stdout.strip().splitlines()[-1])["wall"])
    one, many = walls.values()
    print(f"\nscoring {takes} takes of 3 s ({SIZE[1]}x{SIZE[0]}), no CLIP; wall s, median (min-max) of {repeat} runs")
    print(f"  one at a time   {spread(one)}\n  {list(walls)[1]} threads       {spread(many)}")
    print(f"  speed-up {statistics.median(one) / statistics.median(many):.2f}x")


def spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):7.1f} ({min(xs):.1f}-{max(xs):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, nargs="+", default=[4, 15, 60])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--takes", type=int, default=6)
    parser.add_argument("--no-threads", action="store_true")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--threads-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], Path(args.child[1]), Path(args.child[2]))
    if args.threads_child:
        return threads_child(Path(args.threads_child[0]), int(args.threads_child[1]))
    from generators.media import write_frames

    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        folder = Path(tmp)
        write_frames(folder / "warm.mp4", moving(4), FPS)
        takes = {s: folder / f"take-{s:g}s.mp4" for s in args.seconds}
        for s, media in takes.items():
            write_frames(media, moving(round(s * FPS)), FPS)
        runs: dict[tuple[float, str], list[dict]] = {}
        for r in range(args.repeat):
            for s, media in takes.items():
                for path in (("held", "streamed") if r % 2 == 0 else ("streamed", "held")):  # alternated
                    runs.setdefault((s, path), []).append(measure(path, media, folder))
        report(runs, args.seconds)
        if not args.no_threads:
            threads(folder, args.takes, args.repeat)


def report(runs: dict[tuple[float, str], list[dict]], lengths: list[float]) -> None:
    h, w = SIZE
    med = {key: {k: statistics.median(r[k] for r in rows) for k in ("traced", "rss", "peak")} for key, rows in runs.items()}
    print(f"scoring one {w}x{h} take at {FPS} fps, no CLIP; median (min-max) of {len(next(iter(runs.values())))} runs")
    print(f"{'take':>6} {'path':>9} {'traced peak MiB':>22} {'peak RSS MiB':>22} {'RSS over base MiB':>22} "
          f"{'wall s':>18}")  # fmt: skip
    for s in lengths:
        for path in ("held", "streamed"):
            rows = runs[(s, path)]
            print(f"{s:5g}s {path:>9} {spread([r['traced'] for r in rows]):>22} {spread([r['peak'] for r in rows]):>22} "
                  f"{spread([r['rss'] for r in rows]):>22} {spread([r['wall'] for r in rows]):>18}")  # fmt: skip
    print(f"\n{'take':>6} {'held/streamed traced':>22} {'held/streamed peak RSS':>24}")
    for s in lengths:
        held_, new = med[(s, "held")], med[(s, "streamed")]
        print(f"{s:5g}s {held_['traced'] / new['traced']:21.1f}x {held_['peak'] / new['peak']:23.2f}x")
    first, last = lengths[0], lengths[-1]
    for path in ("streamed", "held"):
        print(f"{path:>9}, {last:g} s over {first:g} s: traced peak {med[(last, path)]['traced'] / med[(first, path)]['traced']:.2f}x,"
              f" peak RSS {med[(last, path)]['peak'] / med[(first, path)]['peak']:.2f}x")  # fmt: skip
    worst = max(abs(a - b) for s in lengths for a, b in _pairs(runs, s))
    print(f"largest metric difference, held vs streamed: {worst:.1e} (target: flat in take length, same values)")


def _pairs(runs: dict, s: float):
    a, b = runs[(s, "held")][0]["values"], runs[(s, "streamed")][0]["values"]
    return [(a[k], b[k]) for k in a]


if __name__ == "__main__":
    main()
