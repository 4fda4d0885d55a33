"""Benchmark the model backends: load time, seconds per step and per frame, peak memory.

    python bench/generators.py [--cache DIR] [--steps N]

Part 1 runs every smoke family (tiny random weights, 9 frames at 32 px) and the model audio backends on
CPU. Part 2 runs only with CUDA: Wan-1.3B-shaped random weights at 832x480, 81 frames, once per offload
(the `memory_plan` option), and the ratio of briefcut's render to a bare diffusers call with the same settings.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.smoke import SMOKE_BACKENDS, build_entry  # noqa: E402
from generators.base import AUDIO, VIDEO, ShotRequest, SoundRequest  # noqa: E402
from generators.memory import OFFLOADS  # noqa: E402

MiB = 1024**2


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_smoke(cache: Path, steps: int) -> list[dict[str, Any]]:
    """Load and render each smoke backend once (after a warm-up render); one row per backend."""
    rows = []
    for entry in SMOKE_BACKENDS:
        if entry.name == "audiogen" or entry.kind == "image" or entry.keyframe:
            continue  # keyframes and image-to-video: bench/keyframes.py
        options = {**build_entry(entry, cache), "steps": steps}
        started = time.perf_counter()
        if entry.kind == "video":
            backend = VIDEO.create("diffusers", options)
            backend.ensure_loaded()
            load_s = time.perf_counter() - started
            request = ShotRequest(prompt="a red ball", seconds=0.5, fps=16, width=32, height=32)
            backend.render_frames(request)  # warm-up
            started = time.perf_counter()
            frames, meta = backend.render_frames(request.model_copy(update={"seed": 1}))
            render_s, n = time.perf_counter() - started, len(frames)
        else:
            backend = AUDIO.create(entry.backend, options)
            backend.ensure_loaded()
            load_s = time.perf_counter() - started
            with tempfile.TemporaryDirectory() as tmp:
                backend.render(SoundRequest(prompt="piano", seconds=1.0), Path(tmp) / "w.wav")
                started = time.perf_counter()
                backend.render(SoundRequest(prompt="piano", seconds=1.0, seed=1), Path(tmp) / "a.wav")
            render_s, n = time.perf_counter() - started, 0
        rows.append({"name": entry.name, "load_s": load_s, "render_s": render_s,
                     "s_per_step": render_s / steps if entry.backend != "musicgen" else None,
                     "s_per_frame": render_s / n if n else None, "peak_rss_mib": peak_rss_mib()})
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'backend':<14}{'load s':>9}{'render s':>10}{'s/step':>9}{'s/frame':>9}{'peak RSS MiB':>14}")
    for r in rows:
        step = f"{r['s_per_step']:.4f}" if r["s_per_step"] is not None else "-"
        frame = f"{r['s_per_frame']:.4f}" if r["s_per_frame"] is not None else "-"
        print(f"{r['name']:<14}{r['load_s']:>9.3f}{r['render_s']:>10.3f}{step:>9}{frame:>9}{r['peak_rss_mib']:>14.0f}")


# Part 2: CUDA ---------------------------------------------------------------------------------


def build_wan13b_shaped(folder: Path) -> Path:
    """Random weights in Wan2.1-T2V-1.3B's transformer and VAE shapes (a 2-layer 4096-wide T5 stands in
    for umT5-XXL, whose 5.7B random parameters would only measure initialisation)."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import T5Config, UMT5EncoderModel

    from generators.tiny import t5_tokenizer

    if (folder / "model_index.json").exists():
        return folder

    torch.manual_seed(0)
    transformer = WanTransformer3DModel(num_attention_heads=12, attention_head_dim=128, ffn_dim=8960,
                                        num_layers=30, text_dim=4096, freq_dim=256, in_channels=16,
                                        out_channels=16, cross_attn_norm=True, qk_norm="rms_norm_across_heads")
    text = UMT5EncoderModel(T5Config(vocab_size=256, d_model=4096, d_ff=1024, d_kv=64, num_heads=64, num_layers=2))
    pipe = WanPipeline(tokenizer=t5_tokenizer(512), text_encoder=text, vae=AutoencoderKLWan(),
                       transformer=transformer, scheduler=UniPCMultistepScheduler(
                           prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0))
    pipe.to(torch.bfloat16).save_pretrained(str(folder))
    return folder


def bench_cuda(cache: Path, steps: int) -> None:
    import torch

    if not torch.cuda.is_available():
        print("\nCUDA: no CUDA: skipped")
        return
    folder = build_wan13b_shaped(cache / "wan-1.3b-shaped")
    request = ShotRequest(prompt="a red car on a coast road", seconds=81 / 16, fps=16, width=832, height=480)
    print(f"\nCUDA {torch.cuda.get_device_name()}: Wan-1.3B-shaped, 832x480, 81 frames, {steps} steps")
    print(f"{'offload':<20}{'load s':>9}{'render s':>10}{'s/step':>9}{'peak VRAM GiB':>15}")
    times = {}
    for offload in OFFLOADS:
        backend = VIDEO.create("diffusers", {"model": str(folder), "steps": steps, "memory_plan": offload})
        started = time.perf_counter()
        backend.ensure_loaded()
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        _, meta = backend.render_frames(request)
        times[offload] = time.perf_counter() - started
        print(f"{offload:<20}{load_s:>9.2f}{times[offload]:>10.2f}{times[offload] / steps:>9.3f}"
              f"{meta.get('peak_vram_bytes', 0) / 2**30:>15.2f}")
        del backend
        torch.cuda.empty_cache()
    bare = bare_diffusers(folder, steps)
    print(f"briefcut (offload none) / bare diffusers: {times['none'] / bare:.3f} (bare {bare:.2f} s)")


def bare_diffusers(folder: Path, steps: int) -> float:
    """The same render as a plain diffusers call: seconds."""
    import torch
    from diffusers import WanPipeline

    from generators.hub import dtype_kwargs

    pipe = WanPipeline.from_pretrained(str(folder), **dtype_kwargs("diffusers", torch.bfloat16)).to("cuda")
    pipe.set_progress_bar_config(disable=True)
    kwargs = dict(prompt="a red car on a coast road", height=480, width=832, num_frames=81,
                  num_inference_steps=steps, guidance_scale=5.0, output_type="np")
    started = time.perf_counter()
    pipe(generator=torch.Generator("cpu").manual_seed(0), **kwargs)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "briefcut-bench")
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    print_table(bench_smoke(args.cache / "smoke", args.steps))
    bench_cuda(args.cache, max(args.steps, 4))


if __name__ == "__main__":
    main()
