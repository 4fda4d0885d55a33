"""Metric formulas: pure functions of embeddings or frames -> one float (numpy; torch tensors accepted).

Embeddings are [N,D] rows (normalised here, so raw features work too); frames are uint8 [N,H,W,3].
Every function is a formula from a paper or benchmark, named in its docstring; all return floats in
[0,1] except where the docstring says otherwise (`clip_score` is on Hessel's scale, roughly [0,1]).
The frame formulas take every frame at once; scoring streams a take through `evaluators.frame_totals`,
which computes the same values with running totals.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CLIP_SCORE_W = 2.5  # Hessel et al. 2021, "CLIPScore", section 3: w = 2.5
MOTION_FULL_SCALE = 0.08  # a mean per-pixel change of 8% of full range per frame counts as full motion
MOTION_GRID = 16  # motion is measured on a 16x16 grid of block means: grain and noise do not read as motion
BLACK_LUMA = 16.0  # a frame whose mean luma (0-255) is under this is black (video "black" level)
FROZEN_MAE = 0.5  # consecutive frames closer than half a grey level on average are the same picture
PALETTE_DELTA_E = 50.0  # CIELAB distance at which a pixel stops counting towards a palette colour
PALETTE_CHUNK = 1 << 14  # pixels converted to CIELAB at once


def as_array(x: Any, dtype: type = np.float64) -> np.ndarray:
    """numpy array from a numpy array, list or torch tensor (detached, on CPU)."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def _unit(embeds: Any) -> np.ndarray:
    e = as_array(embeds)
    return e / np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-12)


def _frames(frames: Any) -> np.ndarray:
    f = np.asarray(frames.detach().cpu().numpy() if hasattr(frames, "detach") else frames)
    if f.ndim != 4 or f.shape[-1] != 3:
        raise ValueError(f"expected frames [N,H,W,3], got shape {f.shape}")
    return f


def clip_score(image_embeds: Any, text_embed: Any) -> float:
    """Mean over frames of 2.5 * max(cos(E_I, E_C), 0): CLIPScore, Hessel et al. 2021 (w = 2.5).

    torchmetrics' CLIPScore reports max(100 * mean cos, 0); where no frame has a negative cosine,
    `clip_score = torchmetrics_value * 2.5 / 100` (= value / 40). Hessel clamps each frame, torchmetrics
    the mean, so the two differ only when some frame's cosine is negative.
    """
    cos = _unit(image_embeds) @ _unit(text_embed).reshape(-1)
    return float(np.mean(CLIP_SCORE_W * np.maximum(cos, 0.0)))


def frame_consistency(embeds: Any) -> float:
    """Mean cosine over all ordered pairs i != j of frame embeddings: CLIP-F (Esser et al. 2023, Gen-1).

    Range [-1, 1] (CLIP image pairs are positive in practice); needs N >= 2.
    """
    e = _unit(embeds)
    n = len(e)
    if n < 2:
        raise ValueError("frame_consistency needs at least 2 frames")
    sims = e @ e.T
    return float((sims.sum() - np.trace(sims)) / (n * (n - 1)))


def vbench_consistency(embeds: Any) -> float:
    """1/(N-1) * sum_{t>=2} 0.5 * (max(0, cos(e_1, e_t)) + max(0, cos(e_{t-1}, e_t))).

    VBench subject consistency (DINO features) / background consistency (CLIP features), Huang et al.
    2024, "VBench", section 3.1; here over the embeddings given (the scorecard's sampled frames).
    """
    e = _unit(embeds)
    if len(e) < 2:
        raise ValueError("vbench_consistency needs at least 2 frames")
    to_first = np.maximum((e[1:] * e[0]).sum(-1), 0.0)
    to_prev = np.maximum((e[1:] * e[:-1]).sum(-1), 0.0)
    return float(np.mean(0.5 * (to_first + to_prev)))


def cross_shot_consistency(shot_embeds: list[Any], n: int = 8) -> float:
    """Mean over consecutive shots i, i+1 of the mean cosine between shot i's last n and shot i+1's first n frames.

    A cut-level continuity measure in the spirit of CLIP-F across a cut (range [-1, 1]); needs 2+ shots.
    """
    if len(shot_embeds) < 2:
        raise ValueError("cross_shot_consistency needs at least 2 shots")
    means = [
        float(np.mean(_unit(a)[-n:] @ _unit(b)[:n].T)) for a, b in zip(shot_embeds, shot_embeds[1:], strict=False)
    ]
    return float(np.mean(means))


def product_consistency(embeds: Any, reference_embed: Any) -> float:
    """Mean over frames of max(0, cos(e_t, e_ref)): likeness to the product reference image.

    The CLIP-I image-to-reference similarity of DreamBooth (Ruiz et al. 2023), clamped at 0 per frame.
    """
    cos = _unit(embeds) @ _unit(reference_embed).reshape(-1)
    return float(np.mean(np.maximum(cos, 0.0)))


def _mae_steps(frames: np.ndarray) -> np.ndarray:
    """Mean absolute error (0-255) between each pair of consecutive frames, shape [N-1]."""
    f = frames.astype(np.float32)
    return np.abs(f[1:] - f[:-1]).mean(axis=(1, 2, 3))


def temporal_flicker(frames: Any) -> float:
    """(255 - mean_t MAE(x_t, x_{t+1})) / 255: VBench temporal flicker (Huang et al. 2024, section 3.1).

    1.0 for a static clip. Frame-to-frame change from motion lowers it too, which is why VBench scores
    it on static prompts and the scorecard weighs it by stillness (see scorecard.py).
    """
    f = _frames(frames)
    if len(f) < 2:
        raise ValueError("temporal_flicker needs at least 2 frames")
    return float((255.0 - _mae_steps(f).mean()) / 255.0)


def block_means(frames: np.ndarray, grid: int) -> np.ndarray:
    """Frames averaged over a grid x grid lattice of blocks (fewer where the frame is smaller)."""
    n, h, w, _ = frames.shape
    bh, bw = min(grid, h), min(grid, w)
    f = frames[:, : bh * (h // bh), : bw * (w // bw)].astype(np.float32)
    return f.reshape(n, bh, h // bh, bw, w // bw, 3).mean(axis=(2, 4))


def motion(frames: Any) -> float:
    """min(1, mean_t MAE(B(x_t), B(x_{t+1})) / 255 / 0.08), B(x) = x averaged on a 16x16 grid of blocks.

    A normalised motion magnitude (0 static, 1 fast motion or a cut), after the frame-difference
    measures of VBench's dynamic degree; block means keep grain and noise from reading as motion.
    """
    f = _frames(frames)
    if len(f) < 2:
        raise ValueError("motion needs at least 2 frames")
    steps = _mae_steps(block_means(f, MOTION_GRID))
    return float(min(1.0, steps.mean() / 255.0 / MOTION_FULL_SCALE))


def luma(frames: np.ndarray) -> np.ndarray:
    """BT.601 luma (0-255) per pixel."""
    f = frames.astype(np.float32)
    return 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]


def black_fraction(frames: Any) -> float:
    """Share of frames whose mean BT.601 luma is under 16 (video black level). Lower is better."""
    f = _frames(frames)
    return float(np.mean(luma(f).mean(axis=(1, 2)) < BLACK_LUMA))


def frozen_fraction(frames: Any) -> float:
    """Share of consecutive frame pairs with MAE < 0.5 grey levels (a stalled picture). Lower is better."""
    f = _frames(frames)
    if len(f) < 2:
        raise ValueError("frozen_fraction needs at least 2 frames")
    return float(np.mean(_mae_steps(f) < FROZEN_MAE))


def defects(frames: Any) -> dict[str, float]:
    """The weight-free defect checks at once: {"black_fraction", "frozen_fraction"}, each in [0,1]."""
    return {"black_fraction": black_fraction(frames), "frozen_fraction": frozen_fraction(frames)}


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    """'#1a2b3c' or '1a2b3c' or '#abc' -> (r, g, b)."""
    h = colour.strip().lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    if len(h) != 6:
        raise ValueError(f"not a hex colour: {colour!r}")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (0-255, [...,3]) -> CIELAB (D65), the IEC 61966-2-1 and CIE 15 formulas."""
    c = rgb.astype(np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                  [0.0193339, 0.1191920, 0.9503041]])
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def palette_adherence(frames: Any, palette_hex: list[str]) -> float:
    """Mean over pixels of max(0, 1 - dE_min / 50), dE_min = CIELAB Delta E*76 to the nearest palette colour.

    1.0 when every pixel is a palette colour, 0.0 when none is within Delta E 50 of one (Delta E ~2.3
    is a just-noticeable difference; Sharma 2003, "Digital Color Imaging Handbook", ch. 1).
    """
    if not palette_hex:
        raise ValueError("palette_adherence needs at least one palette colour")
    rgb = _frames(frames).reshape(-1, 3)
    palette = srgb_to_lab(np.array([hex_to_rgb(c) for c in palette_hex], dtype=np.float64))
    total = 0.0
    for start in range(0, len(rgb), PALETTE_CHUNK):  # in chunks: float64 Lab copies stay small
        pixels = srgb_to_lab(rgb[start : start + PALETTE_CHUNK])
        dist = np.sqrt(((pixels[:, None, :] - palette[None, :, :]) ** 2).sum(-1)).min(axis=1)
        total += float(np.maximum(0.0, 1.0 - dist / PALETTE_DELTA_E).sum())
    return total / len(rgb) if len(rgb) else 0.0
