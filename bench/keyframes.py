"""Benchmark keyframe-first product shots against plain text-to-video, side by side, at smoke size.

    python bench/keyframes.py [--cache DIR] [--steps N] [--repeat N]

For every image-to-video family offered (tiny random weights, 12 frames at 24 fps, about 32 px), one
shot is rendered three ways after a warm-up of each: text-to-video alone; keyframe (the product
composed into an inpainted scene) then image-to-video; and the same with the keyframe taken from the
media cache (a re-render that only changes the motion). The three ways run --repeat rounds, in a rotated
order each round (the cores are shared: no way always runs first); it prints, as median (min-max) over
the rounds, seconds per take, the keyframe's share, and the ratio of each keyframe-first way to
text-to-video in the same round.
At smoke size these ratios say what the extra stage costs in calls and VAE work, not what it costs
with real weights (there the keyframe is one image against dozens of frames).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.smoke import I2V_NAMES, SMOKE_BACKENDS, build_entry  # noqa: E402
from generators.base import VIDEO, ShotRequest  # noqa: E402
from generators.tiny_i2v import product_png  # noqa: E402


def shot(product: Path | None, media: Path | None = None, seed: int = 1) -> ShotRequest:
    return ShotRequest(prompt="a gold bottle on a beach at dawn", seconds=0.5, fps=24, width=64, height=36,
                       seed=seed, keyframe=product is not None, shows_product=product is not None,
                       product_image=product, product_name="Lumen Bottle", palette=["#0B1F3A", "#F2C14E"],
                       media_dir=media)


def rounds(ways: dict[str, Callable[[], tuple[Any, dict[str, Any]]]], repeat: int) -> dict[str, list[tuple[float, dict]]]:
    """Every way `repeat` times, the order rotated each round: per way, (seconds, metadata) of each call."""
    names, runs = list(ways), {name: [] for name in ways}
    for r in range(repeat):
        for name in names[r % len(names):] + names[: r % len(names)]:
            started = time.perf_counter()
            _, meta = ways[name]()
            runs[name].append((time.perf_counter() - started, meta))
    return runs


def spread(values: list[float], fmt: str) -> str:
    """'median (min-max)' of `values`."""
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def plain_options(options: dict[str, Any]) -> dict[str, Any]:
    """The text-to-video side: the same backend without keyframes; a model that is its own image-to-video
    pipeline (Wan2.2-TI2V-5B) loaded as its text-to-video class."""
    from generators.video_keyframe import _class_name

    if _class_name(options["model"], None) == "WanImageToVideoPipeline" and "i2v_model" not in options:
        return {**options, "pipeline": "WanPipeline"}
    return options


def bench_family(options: dict[str, Any], product: Path, repeat: int) -> dict[str, Any]:
    """Per round: seconds per take of text-to-video, keyframe + image-to-video and the same with the keyframe
    cached, and the keyframe's share of the keyframe-first take."""
    plain = VIDEO.create("diffusers", plain_options(options))
    keyed = VIDEO.create("diffusers", options)
    with tempfile.TemporaryDirectory() as tmp:
        media = Path(tmp)
        plain.render_frames(shot(None, seed=0))  # warm-ups: loading, first-call costs
        keyed.keyframes.render(shot(product, seed=0))
        keyed.keyframes.render(shot(product, media))  # fills the keyframe cache
        runs = rounds({"t2v": lambda: plain.render_frames(shot(None)),
                       "keyed": lambda: keyed.keyframes.render(shot(product)),
                       "cached": lambda: keyed.keyframes.render(shot(product, media))}, repeat)  # fmt: skip
    assert all(m["keyframe"]["reused"] for _, m in runs["cached"])
    assert not any(m["keyframe"]["reused"] for _, m in runs["keyed"])
    seconds = {name: [s for s, _ in values] for name, values in runs.items()}
    share = [m["keyframe"]["timings"]["render_s"] / s for s, m in runs["keyed"]]
    return {**seconds, "share": share, "family": runs["keyed"][0][1]["family"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "briefcut-bench")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    cache = args.cache / "smoke"
    product = product_png(cache / "product.png")
    entries = {e.name: e for e in SMOKE_BACKENDS}
    print(f"median (min-max) of {args.repeat} rotated rounds; ratios are per round, to text-to-video")
    print(f"{'family':<15}{'t2v s':>22}{'key+i2v s':>22}{'cached s':>22}{'keyframe %':>14}{'ratio':>20}"
          f"{'cached ratio':>20}")  # fmt: skip
    for name in I2V_NAMES:
        options = {**build_entry(entries[name], cache), "steps": args.steps}
        r = bench_family(options, product, args.repeat)
        ratio = [k / t for k, t in zip(r["keyed"], r["t2v"], strict=True)]
        cached = [c / t for c, t in zip(r["cached"], r["t2v"], strict=True)]
        print(f"{name:<15}{spread(r['t2v'], '.3f'):>22}{spread(r['keyed'], '.3f'):>22}{spread(r['cached'], '.3f'):>22}"
              f"{spread([100 * v for v in r['share']], '.0f'):>14}{spread(ratio, '.2f'):>20}{spread(cached, '.2f'):>20}",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
