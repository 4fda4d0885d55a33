"""Motion vs storyboard: render time per second of cut for the offline default (`motion`) and the
draft mode (`animatic`), the same shots side by side in one run, and their ratio.

    python bench/motion.py                 # 720 px (the example brief's resolution), 9:16
    python bench/motion.py --resolution 360 --repeats 1

Each shot of a 15 s spot-like plan (hook, benefit, product, proof, call to action) is rendered by
both backends in turn (A B, B A, ...) so background load falls on both alike; the encode to H.264 is
included, as in a run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generators.base import VIDEO, ShotRequest  # noqa: E402

ASSETS = ROOT / "briefs" / "assets"
SHOTS = [("hook", False, "Early runners? This one's for you.", 2.5), ("benefit", False, "Cold for 24 hours.", 3.0),
         ("product", True, "Light enough for every run.", 3.0), ("proof", True, "Made to last a lifetime.", 3.0),
         ("cta", True, "Shop the spring drop", 3.5)]  # fmt: skip


def requests(width: int, height: int, fps: int) -> list[ShotRequest]:
    return [ShotRequest(prompt=f"{caption} Lumen Bottle, deep navy and saffron", seconds=seconds, fps=fps,
                        width=width, height=height, seed=7 + i, camera=("slow push in", "orbit right", "static")[i % 3],
                        caption=caption, palette=["#0B1F3A", "#F2C14E", "#F7F4EA"], shot_index=i, role=role,
                        shows_product=shows, product_name="Lumen Bottle", product_image=ASSETS / "lumen-bottle.png",
                        brand_name="Lumen", logo=ASSETS / "lumen-logo.png", title=caption)
            for i, (role, shows, caption, seconds) in enumerate(SHOTS)]  # fmt: skip


def time_render(backend, request: ShotRequest, out: Path) -> float:
    started = time.perf_counter()
    backend.render(request, out)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=720, help="short side in pixels")
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    width, height = args.resolution, round(args.resolution * 16 / 9 / 2) * 2
    backends = {name: VIDEO.create(name) for name in ("motion", "animatic")}
    for backend in backends.values():
        backend.ensure_loaded()
    shots = requests(width, height, args.fps)
    cut_s = sum(r.seconds for r in shots)
    totals: dict[str, list[float]] = {name: [] for name in backends}
    with tempfile.TemporaryDirectory() as tmp:
        for name, backend in backends.items():  # warm-up: fonts, the product's matte
            backend.render(shots[2].model_copy(update={"seconds": 0.25}), Path(tmp) / f"warm-{name}.mp4")
        for rep in range(args.repeats):
            order = list(backends) if rep % 2 == 0 else list(reversed(backends))
            run = {name: 0.0 for name in backends}
            for i, request in enumerate(shots):
                for name in order if i % 2 == 0 else list(reversed(order)):
                    run[name] += time_render(backends[name], request, Path(tmp) / f"{name}-{i}.mp4")
            for name in backends:
                totals[name].append(run[name])
    frames = sum(round(r.seconds * r.fps) for r in shots)
    print(f"{width}x{height} @ {args.fps} fps, {len(shots)} shots, {cut_s:.1f} s of cut, {args.repeats} repeats (median)")
    print(f"{'backend':<10}{'render s':>10}{'s per s of cut':>16}{'ms/frame':>10}{'x realtime':>12}")
    per_s = {}
    for name, runs in totals.items():
        wall = statistics.median(runs)
        per_s[name] = wall / cut_s
        print(f"{name:<10}{wall:>10.2f}{per_s[name]:>16.3f}{1000 * wall / frames:>10.1f}{cut_s / wall:>12.2f}")
    print(f"ratio motion / animatic (storyboard): {per_s['motion'] / per_s['animatic']:.2f}x")


if __name__ == "__main__":
    main()
