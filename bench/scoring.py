"""Bench: CLIP ViT-B/32 frames/s on this CPU, each speed-up side by side, and the time to score a 30 s cut.

Random weights with ViT-B/32 dimensions (built from CLIPConfig; nothing is downloaded), so the numbers
are the real compute cost of `openai/clip-vit-base-patch32`, not its scores. Three tables:
  1. the vision tower alone on ready pixels (dtype, attention, batch, threads, oneDNN, torch.compile);
  2. preprocessing alone (the CLIP image processor vs `fast_pixels`) on 480x832 uint8 frames;
  3. end to end, `embed_images` (uint8 frames in, embeddings out): the issue's frames/s number;
then the accuracy of each shortcut against fp32 + the processor.

Cores are shared, so each variant is measured --repeat times, interleaved, and reported as the median and
spread (min-max) of wall-clock frames/s, the rate a person gets; ratios are of wall-clock medians. `f/CPU-s`
(frames per CPU-second) is shown beside it to tell the cost of the work from the parallelism it found.

    .venv/bin/python bench/scoring.py [--threads 2] [--seconds 2] [--repeat 3] [--compile] [--no-cut]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# Idle OpenMP workers sleep instead of spinning, so CPU time counts work, not waiting (set before torch).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

CUT_SECONDS, FPS, SHOTS = 30, 24, 8
FRAME_HW = (480, 832)  # Wan 2.1 480p
CORES = 2
TARGET_FPS = 20.0


def build_b32(dtype: str = "fp32", *, attn: str = "sdpa", fast_preprocess: bool = True):  # -> ClipEmbedder
    """A random-weight CLIP with ViT-B/32 dims, the real 224 px image processor and a byte-level tokenizer."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor, CLIPTokenizer

    from evaluators.clip import ClipEmbedder, quantize_image_tower, resolve_dtype
    from evaluators.tiny_clip import BOS, EOS, tiny_vocab

    vocab = tiny_vocab()
    config = CLIPConfig(  # CLIPConfig's defaults are ViT-B/32: 768 wide, 12 layers, 32 px patches, 224 px
        text_config={"bos_token_id": vocab[BOS], "eos_token_id": vocab[EOS], "pad_token_id": vocab[EOS]},
        vision_config={"patch_size": 32, "image_size": 224}, projection_dim=512,
    )
    config._attn_implementation = attn
    config.vision_config._attn_implementation = attn
    config.text_config._attn_implementation = attn
    torch.manual_seed(0)
    model = CLIPModel(config).eval().to(resolve_dtype(dtype, "cpu"))
    if dtype == "int8":
        quantize_image_tower(model)
    images = CLIPImageProcessorPil(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
    processor = CLIPProcessor(image_processor=images, tokenizer=CLIPTokenizer(vocab=vocab, merges=[]))
    return ClipEmbedder(model, processor, model_id="random ViT-B/32", batch_size=8,
                        fast_preprocess=fast_preprocess)


# frames ---------------------------------------------------------------------------------------------


def shot_frames(n: int, seed: int) -> np.ndarray:
    """A moving gradient with a sliding block: cheap to make, not constant, 480x832."""
    h, w = FRAME_HW
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    frames = np.empty((n, h, w, 3), np.uint8)
    for t in range(n):
        frames[t] = ((x + 3 * t + 40 * seed) % 256).astype(np.uint8)[..., None]
        frames[t, 100:300, (10 * t) % (w - 200) :][:, :200] = (200, 60 + seed * 20, 90)
    return frames


def photo_frames(n: int, seed: int) -> np.ndarray:
    """Photo-like 480x832 frames: smooth random colour fields, hard-edged shapes and sensor noise."""
    import torch

    rng = np.random.default_rng(seed)
    coarse = torch.from_numpy(rng.uniform(0, 255, (n, 3, 6, 10)).astype(np.float32))
    x = torch.nn.functional.interpolate(coarse, size=FRAME_HW, mode="bicubic", align_corners=False).numpy()
    x = x.transpose(0, 2, 3, 1).copy()
    for t in range(n):
        for _ in range(4):
            y0, x0 = rng.integers(0, FRAME_HW[0] - 80), rng.integers(0, FRAME_HW[1] - 80)
            x[t, y0 : y0 + rng.integers(40, 200), x0 : x0 + rng.integers(40, 300)] = rng.uniform(0, 255, 3)
    x += rng.normal(0, 6, x.shape)
    return np.clip(x, 0, 255).astype(np.uint8)


# timing ---------------------------------------------------------------------------------------------


def clock(step: Callable[[], int], seconds: float) -> tuple[float, float]:
    """(frames per wall second, frames per CPU-second) of `step`, which returns frames done."""
    step()  # warm-up
    done, wall, cpu = 0, time.perf_counter(), time.process_time()
    while done == 0 or time.perf_counter() - wall < seconds:
        done += step()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return done / wall, done / cpu


def with_threads(n: int, step: Callable[[], int]) -> Callable[[], int]:
    """`step` run under torch.set_num_threads(n), the previous count restored afterwards."""
    import torch

    def run() -> int:
        before = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            return step()
        finally:
            torch.set_num_threads(before)

    return run


def tower_step(model, pixels, *, grad_mode: str = "inference", mkldnn: bool = True) -> Callable[[], int]:
    """One forward of the image tower + projection on ready pixels."""
    import torch

    mode = torch.inference_mode if grad_mode == "inference" else torch.no_grad

    def run() -> int:
        with mode(), torch.backends.mkldnn.flags(enabled=mkldnn):
            model.get_image_features(pixel_values=pixels)
        return len(pixels)

    return run


def tower_variants(args, models: dict) -> dict[str, Callable[[], int]]:
    """Name -> step, the vision tower alone (the first is the baseline the ratios are taken against)."""
    import torch

    px = {b: torch.randn(b, 3, 224, 224) for b in (1, 8, 16, 32, 64)}
    fp32, int8 = models["fp32"].model, models["int8"].model
    v = {"fp32 sdpa b8 (baseline)": tower_step(fp32, px[8])}
    v["fp32 eager attention b8"] = tower_step(models["fp32-eager"].model, px[8])
    v["fp32 no_grad (not inference_mode) b8"] = tower_step(fp32, px[8], grad_mode="no_grad")
    v["fp32 channels-last pixels b8"] = tower_step(fp32, px[8].contiguous(memory_format=torch.channels_last))
    v["fp32 oneDNN off b8"] = tower_step(fp32, px[8], mkldnn=False)
    for b in (1, 16, 32, 64):
        v[f"fp32 b{b}"] = tower_step(fp32, px[b])
    v["fp32 1 thread b8 (x2 processes)"] = with_threads(1, tower_step(fp32, px[8]))
    v["bf16 b8"] = tower_step(models["bf16"].model, px[8].bfloat16())
    for b in (8, 16, 32, 64):
        v[f"int8 b{b}"] = tower_step(int8, px[b])
    v["int8 1 thread b8 (x2 processes)"] = with_threads(1, tower_step(int8, px[8]))
    if args.compile:
        v["fp32 torch.compile b8"] = tower_step(compiled(fp32, px[8]), px[8])
    return v


def compiled(model, pixels):
    """model with get_image_features compiled (inductor, CPU); prints the compile time."""
    import torch

    start = time.perf_counter()
    fn = torch.compile(model.get_image_features)
    with torch.inference_mode():
        fn(pixel_values=pixels)
    print(f"torch.compile: first call (compile) {time.perf_counter() - start:.1f} s")

    class Compiled:
        get_image_features = staticmethod(fn)

    return Compiled()


def preprocess_variants(models: dict, frames: np.ndarray) -> dict[str, Callable[[], int]]:
    """Name -> step, 480x832 uint8 frames -> 224 px pixel_values only."""
    fast = models["fp32"]

    def processor() -> int:
        fast.processor(images=list(frames), return_tensors="pt")
        return len(frames)

    def torch_ops() -> int:
        return len(fast.pixels(frames))

    return {f"CLIP image processor (PIL) b{len(frames)} (baseline)": processor,
            f"fast_pixels (torch, uint8) b{len(frames)}": torch_ops}


def end_to_end_variants(models: dict, frames: np.ndarray) -> dict[str, Callable[[], int]]:
    """Name -> step, `embed_images`: uint8 frames in, normalised embeddings out."""

    def embed(name: str, batch: int) -> Callable[[], int]:
        emb = models[name]

        def run() -> int:
            emb.batch_size = batch  # one forward of `batch` frames
            return len(emb.embed_images(frames[:batch]))

        return run

    return {
        "fp32 + processor b8 (before)": embed("fp32-pil", 8),
        "fp32 + fast_pixels b8": embed("fp32", 8),
        "fp32 + fast_pixels b32": embed("fp32", 32),
        "int8 + processor b8": embed("int8-pil", 8),
        "int8 + fast_pixels b8": embed("int8", 8),
        "int8 + fast_pixels b32": embed("int8", 32),
        "fp32 + processor b8, 1 thread (x2 procs)": with_threads(1, embed("fp32-pil", 8)),
        "fp32 + fast_pixels b8, 1 thread (x2 procs)": with_threads(1, embed("fp32", 8)),
        "int8 + fast_pixels b8, 1 thread (x2 procs)": with_threads(1, embed("int8", 8)),
    }


def measure(title: str, variants: dict[str, Callable[[], int]], args) -> dict[str, tuple[float, float]]:
    """Run every variant --repeat times, interleaved, and print medians with ratios to the first."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    loads = []
    for _ in range(args.repeat):
        for name, step in variants.items():
            runs[name].append(clock(step, args.seconds))
        loads.append(os.getloadavg()[0])
    med = {n: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs)) for n, rs in runs.items()}
    base = next(iter(med.values()))
    print(f"\n{title} (median of {args.repeat}; load avg during: {min(loads):.1f}-{max(loads):.1f})")
    print(f"  {'variant':42s} {'wall f/s':>9s} {'range':>13s} {'ratio':>6s} {'f/CPU-s':>8s}")
    for name, (wall, per_cpu) in med.items():
        lo, hi = min(r[0] for r in runs[name]), max(r[0] for r in runs[name])
        print(f"  {name:42s} {wall:9.1f} {lo:6.1f}-{hi:6.1f} {wall / base[0]:5.2f}x {per_cpu:8.1f}")
    return med


# accuracy -------------------------------------------------------------------------------------------


def accuracy(models: dict) -> None:
    """Drift of each shortcut against fp32 + the processor, on gradient shots and photo-like frames."""
    from evaluators import metrics

    frames = np.concatenate([shot_frames(8, 0), shot_frames(8, 3), photo_frames(16, 0)])
    ref_emb = models["fp32-pil"]
    ref, text = ref_emb.embed_images(frames), ref_emb.embed_text(["a red shoe on wet asphalt", "a cat", "x"])
    print(f"\naccuracy vs fp32 + processor ({len(frames)} frames: 16 gradient shots, 16 photo-like; random weights)")
    print(f"  {'variant':24s} {'min cos':>8s} {'max |d clip_score|':>19s} {'|d CLIP-F|':>11s} {'max |d cos(img,txt)|':>21s}")
    for name in ("fp32", "int8-pil", "int8", "bf16"):
        e = models[name].embed_images(frames)
        cos = (e * ref).sum(1)
        d_score = max(abs(metrics.clip_score(e[s], t) - metrics.clip_score(ref[s], t))
                      for t in text for s in (slice(0, 16), slice(16, 32)))
        d_f = abs(metrics.frame_consistency(e) - metrics.frame_consistency(ref))
        d_txt = np.abs(e @ text.T - ref @ text.T).max()
        label = {"fp32": "fp32 + fast_pixels", "int8-pil": "int8 + processor", "int8": "int8 + fast_pixels",
                 "bf16": "bf16 + fast_pixels"}[name]
        print(f"  {label:24s} {cos.min():8.5f} {d_score:19.2e} {d_f:11.2e} {d_txt:21.2e}")


# a whole cut ----------------------------------------------------------------------------------------


class TimedEmbedder:
    """Delegates to a ClipEmbedder and adds up the seconds spent embedding."""

    def __init__(self, embedder) -> None:
        self.embedder, self.seconds = embedder, 0.0

    def _timed(self, fn, arg):
        start = time.perf_counter()
        try:
            return fn(arg)
        finally:
            self.seconds += time.perf_counter() - start

    def embed_images(self, frames: np.ndarray) -> np.ndarray:
        return self._timed(self.embedder.embed_images, frames)

    def embed_text(self, texts) -> np.ndarray:
        return self._timed(self.embedder.embed_text, texts)


def score_cut(embedder) -> tuple[float, float, float]:
    """Seconds to score a 30 s, 24 fps cut in SHOTS shots at default sampling: (wall, CPU, CLIP wall)."""
    from evaluators.scorecard import ScoringConfig, cut_scorecard, score_take

    config, per_shot, timed = ScoringConfig(), CUT_SECONDS * FPS // SHOTS, TimedEmbedder(embedder)
    scores, embeds, total, cpu = [], [], 0.0, 0.0
    for i in range(SHOTS):
        frames = shot_frames(per_shot, i)  # made outside the clock: a decoded take is already in memory
        start, cpu_start = time.perf_counter(), time.process_time()
        score, e = score_take(frames, prompt=f"shot {i}: a red shoe on wet asphalt", palette=["#c83c5a", "#101010"],
                              config=config, embedder=timed)
        total += time.perf_counter() - start
        cpu += time.process_time() - cpu_start
        scores.append(score)
        embeds.append(e)
    start = time.perf_counter()
    cut_scorecard(scores, embeds, config)
    return total + time.perf_counter() - start, cpu, timed.seconds


def fp32_ceiling(fp32_per_cpu: float) -> None:
    """How close fp32 runs to the CPU's AVX2 FMA peak: why no fp32 variant can reach TARGET_FPS here."""
    from transformers import CLIPVisionConfig

    c = CLIPVisionConfig(patch_size=32, image_size=224)
    d, tokens = c.hidden_size, (c.image_size // c.patch_size) ** 2 + 1
    macs = (tokens - 1) * 3 * c.patch_size**2 * d  # patch embedding
    macs += c.num_hidden_layers * tokens * (4 * d * d + 2 * d * c.intermediate_size + 2 * tokens * d) + d * 512
    mhz = max(float(line.split(":")[1]) for line in open("/proc/cpuinfo") if line.startswith("cpu MHz"))
    peak = 32 * mhz / 1e3  # AVX2: 2 FMA pipes x 8 fp32 lanes x 2 FLOP per cycle, per core
    need = 2 * macs * TARGET_FPS / CORES / 1e9
    print(f"\nfp32 ceiling: ViT-B/32 image = {2 * macs / 1e9:.2f} GFLOP; {fp32_per_cpu:.1f} frames/s = "
          f"{2 * macs * fp32_per_cpu / CORES / 1e9:.0f} GFLOP/s per core; {TARGET_FPS:.0f} frames/s needs {need:.0f} "
          f"GFLOP/s per core in the matmuls alone vs an AVX2 FMA peak of {peak:.0f} at the {mhz:.0f} MHz "
          f"/proc/cpuinfo reports (more under boost)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per variant and repeat")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    parser.add_argument("--no-cut", action="store_true", help="skip scoring a whole cut")
    args = parser.parse_args()

    import torch

    from evaluators.clip import cpu_has_fast_bf16, resolve_dtype

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, load avg {os.getloadavg()[0]:.1f}, "
          f"native bf16 flags: {cpu_has_fast_bf16()}, quantized engine {torch.backends.quantized.engine}")
    models = {"fp32": build_b32("fp32"), "fp32-eager": build_b32("fp32", attn="eager"), "bf16": build_b32("bf16"),
              "int8": build_b32("int8"), "fp32-pil": build_b32("fp32", fast_preprocess=False),
              "int8-pil": build_b32("int8", fast_preprocess=False)}
    frames = photo_frames(32, 1)

    tower = measure("1. vision tower alone, random pixels", tower_variants(args, models), args)
    measure("2. preprocessing alone, 480x832 uint8 frames", preprocess_variants(models, frames[:8]), args)
    e2e = measure("3. end to end, embed_images (uint8 480x832 in, embeddings out)",
                  end_to_end_variants(models, frames), args)
    accuracy(models)
    fp32_ceiling(CORES * max(tower["fp32 sdpa b8 (baseline)"][1], tower["fp32 1 thread b8 (x2 processes)"][1]))

    auto = "bf16" if resolve_dtype("auto", "cpu") == torch.bfloat16 else "fp32"
    faster = "bf16" if tower["bf16 b8"][0] > tower["fp32 sdpa b8 (baseline)"][0] else "fp32"
    print(f"\nbf16 / fp32 = {tower['bf16 b8'][0] / tower['fp32 sdpa b8 (baseline)'][0]:.2f}x; dtype='auto' picks "
          f"{auto} ({'agrees' if auto == faster else 'DISAGREES'} with the faster float dtype, {faster}; int8 is "
          f"opt-in)")
    for name, (wall, _per_cpu) in e2e.items():
        verdict = "meets" if wall >= TARGET_FPS else "misses"
        print(f"  end to end {name:32s} {wall:5.1f} wall-clock frames/s: {verdict} {TARGET_FPS:.0f}")
    if not args.no_cut:
        for name in ("fp32", "int8"):
            runs = [score_cut(models[name]) for _ in range(args.repeat)]
            wall, cpu, clip_s = (sorted(r[i] for r in runs) for i in range(3))
            print(f"score a {CUT_SECONDS} s cut ({SHOTS} shots x {CUT_SECONDS * FPS // SHOTS} frames at "
                  f"{FRAME_HW[1]}x{FRAME_HW[0]}, 8 sampled per shot, {name}), median (min-max) of {args.repeat}: "
                  f"{statistics.median(wall):.2f} s wall ({wall[0]:.2f}-{wall[-1]:.2f}), "
                  f"{statistics.median(clip_s):.2f} s in CLIP incl. preprocessing, "
                  f"{statistics.median(cpu):.2f} CPU-seconds")
    print(f"load avg after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
