"""Bench: peak memory of scoring a take, streamed (today) against every frame held at once (before).

    python bench/memory.py                       # takes of 4, 15 and 60 s at 832x480, 24 fps
    python bench/memory.py --seconds 2 8 --repeat 1
    python bench/memory.py --mix-only --repeat 1   # the sound mix alone, cuts of 15, 60 and 120 s

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

Then (skip with --no-mix; only this with --mix-only) the sound mix of a cut of --mix-seconds (15, 60 and
120 s: a 48 kHz music bed, an effect every other 3 s shot, a voice line on two of three), each in a fresh
process: `whole` is the mix as it was (every bus the cut's length, the music loaded whole, normalised on
the whole array; kept as tests/fixtures/mix_reference.py), `streamed` is agent.assembly.mixdown as a run
calls it (blocks, passes, the WAV written as it goes). Printed: traced peak, peak RSS over a warm-up and
wall time per length, the whole/streamed ratios, and whether both wrote the same samples.
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
sys.path.insert(1, str(ROOT / "tests"))  # fixtures.mix_reference: the whole-array mix

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


def mix_child(path: str, seconds: float, folder: Path) -> None:
    """Mix one synthetic cut in this fresh process, `whole` or `streamed`; prints a JSON line."""
    import soundfile as sf
    from fixtures import mix_reference

    from agent.assembly.mixdown import mix_to_wav

    def run(at: Path, made: tuple) -> None:
        total, shots, music = made
        if path == "whole":
            master, _ = mix_reference.mix(total, shots, music, FPS, -14.0, 1.5)
            sf.write(str(at / "mix.wav"), master, 48000, subtype="FLOAT")
        else:
            mix_to_wav(at / "mix.wav", total, shots, music, FPS, -14.0, 1.5)

    warm, cut = folder / f"warm-{path}", folder / f"{path}-{seconds:g}"
    warm.mkdir(), cut.mkdir()
    run(warm, mix_reference.layout(warm, 3.0, 48000, False))  # imports and filter coefficients, made once
    made = mix_reference.layout(cut, seconds, 48000, False)  # the files to mix: not the mix's cost
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    start = time.perf_counter()
    run(cut, made)
    wall = time.perf_counter() - start
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"traced": traced / 2**20, "peak": peak / 1024, "rss": (peak - base) / 1024, "wall": wall}))


def mix_bench(lengths: list[float], repeat: int) -> None:
    """The mix, whole against streamed, per cut length, alternated; then the ratios."""
    import soundfile as sf

    runs: dict[tuple[float, str], list[dict]] = {}
    same = {}
    with tempfile.TemporaryDirectory(prefix="bench-mix-") as tmp:
        for r in range(repeat):
            for s in lengths:
                for path in (("whole", "streamed") if r % 2 == 0 else ("streamed", "whole")):
                    folder = Path(tmp) / f"{r}-{s:g}-{path}"
                    folder.mkdir()
                    out = subprocess.run([sys.executable, __file__, "--mix-child", path, str(s), str(folder)],
                                         capture_output=True, text=True, check=True)  # fmt: skip
                    runs.setdefault((s, path), []).append(json.loads(out.stdout.strip().splitlines()[-1]))
                if r == 0:
                    a, b = (sf.read(str(Path(tmp) / f"0-{s:g}-{p}" / f"{p}-{s:g}" / "mix.wav"), dtype="float32")[0]
                            for p in ("whole", "streamed"))  # fmt: skip
                    same[s] = bool(np.array_equal(a, b))
    print(f"\nthe sound mix of a cut, whole arrays against streamed; median (min-max) of {repeat} runs")
    print(f"{'cut':>6} {'path':>9} {'traced peak MiB':>22} {'peak RSS MiB':>22} {'RSS over base MiB':>22} {'wall s':>18}")
    for s in lengths:
        for path in ("whole", "streamed"):
            rows = runs[(s, path)]
            print(f"{s:5g}s {path:>9} {spread([r['traced'] for r in rows]):>22} {spread([r['peak'] for r in rows]):>22} "
                  f"{spread([r['rss'] for r in rows]):>22} {spread([r['wall'] for r in rows]):>18}")  # fmt: skip
    med = {k: {m: statistics.median(r[m] for r in rows) for m in ("traced", "peak", "wall")} for k, rows in runs.items()}
    print(f"\n{'cut':>6} {'whole/streamed traced':>22} {'peak RSS':>10} {'streamed/whole wall':>20} {'same samples':>13}")
    for s in lengths:
        w, n = med[(s, "whole")], med[(s, "streamed")]
        print(f"{s:5g}s {w['traced'] / n['traced']:21.1f}x {w['peak'] / n['peak']:9.2f}x "
              f"{n['wall'] / w['wall']:19.2f}x {str(same[s]):>13}")  # fmt: skip
    first, last = lengths[0], lengths[-1]
    for path in ("streamed", "whole"):
        print(f"{path:>9}, {last:g} s over {first:g} s: traced peak {med[(last, path)]['traced'] / med[(first, path)]['traced']:.2f}x,"
              f" peak RSS {med[(last, path)]['peak'] / med[(first, path)]['peak']:.2f}x")  # fmt: skip


def spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):7.1f} ({min(xs):.1f}-{max(xs):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, nargs="+", default=[4, 15, 60])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--takes", type=int, default=6)
    parser.add_argument("--no-threads", action="store_true")
    parser.add_argument("--mix-seconds", type=float, nargs="+", default=[15, 60, 120])
    parser.add_argument("--no-mix", action="store_true")
    parser.add_argument("--mix-only", action="store_true")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--mix-child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--threads-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], Path(args.child[1]), Path(args.child[2]))
    if args.threads_child:
        return threads_child(Path(args.threads_child[0]), int(args.threads_child[1]))
    if args.mix_child:
        return mix_child(args.mix_child[0], float(args.mix_child[1]), Path(args.mix_child[2]))
    if args.mix_only:
        return mix_bench(args.mix_seconds, args.repeat)
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
    if not args.no_mix:
        mix_bench(args.mix_seconds, args.repeat)


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
