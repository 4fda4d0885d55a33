"""Benchmark keyframe-first product shots against plain text-to-video, side by side, at smoke size.

    python bench/keyframes.py [--cache DIR] [--steps N] [--repeat N]

For every image-to-video family offered (tiny random weights, 12 frames at 24 fps, about 32 px), one
shot is rendered three ways after a warm-up of each: text-to-video alone; keyframe (the product
composed into an inpainted scene) then image-to-video; and the same with the keyframe taken from the
media cache (a re-render that only changes the motion). It prints seconds per take (best of
--repeat), the keyframe's share, and the ratio of each keyframe-first way to text-to-video.
At smoke size these ratios say what the extra stage costs in calls and VAE work, not what it costs
with real weights (there the keyframe is one image against dozens of frames).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
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


def best_of(repeat: int, render: Any) -> tuple[float, dict[str, Any]]:
    """The fastest of `repeat` calls of `render()` (seconds) and that call's metadata."""
    best, meta = float("inf"), {}
    for _ in range(repeat):
        started = time.perf_counter()
        _, m = render()
        took = time.perf_counter() - started
        if took < best:
            best, meta = took, m
    return best, meta


def plain_options(options: dict[str, Any]) -> dict[str, Any]:
    """The text-to-video side: the same backend without keyframes; a model that is its own image-to-video
    pipeline (Wan2.2-TI2V-5B) loaded as its text-to-video class."""
    from generators.video_keyframe import _class_name

    if _class_name(options["model"], None) == "WanImageToVideoPipeline" and "i2v_model" not in options:
        return {**options, "pipeline": "WanPipeline"}
    return options


def bench_family(options: dict[str, Any], product: Path, repeat: int) -> dict[str, Any]:
    """Seconds per take: text-to-video, keyframe + image-to-video, and the same with the keyframe cached."""
    plain = VIDEO.create("diffusers", plain_options(options))
    keyed = VIDEO.create("diffusers", options)
    with tempfile.TemporaryDirectory() as tmp:
        media = Path(tmp)
        plain.render_frames(shot(None, seed=0))  # warm-ups: loading, first-call costs
        keyed.keyframes.render(shot(product, seed=0))
        t2v_s, _ = best_of(repeat, lambda: plain.render_frames(shot(None)))
        key_s, meta = best_of(repeat, lambda: keyed.keyframes.render(shot(product)))
        keyed.keyframes.render(shot(product, media))  # fills the keyframe cache
        cached_s, cmeta = best_of(repeat, lambda: keyed.keyframes.render(shot(product, media)))
    assert cmeta["keyframe"]["reused"] and not meta["keyframe"]["reused"]
    return {"t2v_s": t2v_s, "keyframe_i2v_s": key_s, "cached_s": cached_s,
            "keyframe_share": meta["keyframe"]["timings"]["render_s"] / key_s, "family": meta["family"]}


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
    print(f"{'family':<15}{'t2v s':>8}{'key+i2v s':>11}{'cached s':>10}{'keyframe %':>12}{'ratio':>8}{'cached ratio':>14}")
    for name in I2V_NAMES:
        options = {**build_entry(entries[name], cache), "steps": args.steps}
        r = bench_family(options, product, args.repeat)
        print(f"{name:<15}{r['t2v_s']:>8.3f}{r['keyframe_i2v_s']:>11.3f}{r['cached_s']:>10.3f}"
              f"{100 * r['keyframe_share']:>11.0f}%{r['keyframe_i2v_s'] / r['t2v_s']:>8.2f}"
              f"{r['cached_s'] / r['t2v_s']:>14.2f}")


if __name__ == "__main__":
    main()
