"""Bench: CLIP ViT-B/32 frames/s on this CPU, fp32 vs bf16 side by side, and the time to score a 30 s cut.

Random weights with ViT-B/32 dimensions (built from CLIPConfig; nothing is downloaded), so the numbers
are the real compute cost of `openai/clip-vit-base-patch32`, not its scores.

    .venv/bin/python bench/scoring.py [--threads 2] [--seconds 3] [--batch 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# Idle OpenMP workers sleep instead of spinning, so CPU time counts work, not waiting (set before torch).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

CUT_SECONDS, FPS, SHOTS = 30, 24, 8
FRAME_HW = (480, 832)  # Wan 2.1 480p


def build_b32(dtype):  # -> ClipEmbedder
    """A random-weight CLIP with ViT-B/32 dims, the real 224 px image processor and a byte-level tokenizer."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor, CLIPTokenizer

    from evaluators.clip import ClipEmbedder
    from evaluators.tiny_clip import BOS, EOS, tiny_vocab

    vocab = tiny_vocab()
    config = CLIPConfig(  # CLIPConfig's defaults are ViT-B/32: 768 wide, 12 layers, 32 px patches, 224 px
        text_config={"bos_token_id": vocab[BOS], "eos_token_id": vocab[EOS], "pad_token_id": vocab[EOS]},
        vision_config={"patch_size": 32, "image_size": 224}, projection_dim=512,
    )
    torch.manual_seed(0)
    model = CLIPModel(config).eval().to(dtype)
    images = CLIPImageProcessorPil(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
    processor = CLIPProcessor(image_processor=images, tokenizer=CLIPTokenizer(vocab=vocab, merges=[]))
    return ClipEmbedder(model, processor, model_id="random ViT-B/32", batch_size=32)


def tower_fps(embedder, batch: int, seconds: float) -> tuple[float, float]:
    """Frames/s of the vision tower + projection alone: (per wall second, per CPU second x threads)."""
    import torch

    pixels = torch.randn(batch, 3, 224, 224, dtype=embedder.dtype)
    with torch.inference_mode():
        embedder.model.get_image_features(pixel_values=pixels[:1])  # warm-up
        done, wall, cpu = 0, time.perf_counter(), time.process_time()
        while done == 0 or time.perf_counter() - wall < seconds:
            embedder.model.get_image_features(pixel_values=pixels)
            done += batch
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return done / wall, done / cpu * torch.get_num_threads()


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


def shot_frames(n: int, seed: int) -> np.ndarray:
    """A moving gradient with a sliding block: cheap to make, not constant, 480x832."""
    h, w = FRAME_HW
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :]
    frames = np.empty((n, h, w, 3), np.uint8)
    for t in range(n):
        frames[t] = ((x + 3 * t + 40 * seed) % 256).astype(np.uint8)[..., None]
        frames[t, 100:300, (10 * t) % (w - 200) :][:, :200] = (200, 60 + seed * 20, 90)
    return frames


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per dtype")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()

    import torch

    from evaluators.clip import cpu_has_fast_bf16, resolve_dtype

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, load avg {os.getloadavg()[0]:.1f}, "
          f"native bf16 flags: {cpu_has_fast_bf16()}")
    fps = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        fps[name], per_cpu = tower_fps(build_b32(dtype), args.batch, args.seconds)
        print(f"ViT-B/32 vision tower {name}: {fps[name]:6.1f} frames/s wall, {per_cpu:6.1f} frames/s per "
              f"CPU-second x {args.threads} threads (the rate on {args.threads} idle cores; batch {args.batch})")
    faster = max(fps, key=fps.get)
    auto = "bf16" if resolve_dtype("auto", "cpu") == torch.bfloat16 else "fp32"
    print(f"bf16 / fp32 = {fps['bf16'] / fps['fp32']:.2f}x; faster here: {faster}; dtype='auto' picks {auto}"
          f" ({'agrees' if auto == faster else 'DISAGREES'})")
    dtype = torch.bfloat16 if faster == "bf16" else torch.float32
    wall, cpu, clip_s = score_cut(build_b32(dtype))
    print(f"score a {CUT_SECONDS} s cut ({SHOTS} shots x {CUT_SECONDS * FPS // SHOTS} frames at {FRAME_HW[1]}x"
          f"{FRAME_HW[0]}, 8 sampled per shot, {faster}): {wall:.2f} s wall ({clip_s:.2f} s in CLIP incl. "
          f"preprocessing), {cpu:.2f} CPU-seconds = ~{cpu / args.threads:.2f} s on {args.threads} idle cores")
    print(f"load avg after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
