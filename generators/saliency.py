"""Where the eye goes in a picture, and the crop of another aspect ratio that keeps it.

Saliency is the spectral residual of Hou and Zhang ("Saliency Detection: A Spectral Residual
Approach", CVPR 2007): on a 64-pixel thumbnail, the log amplitude spectrum minus its local mean, sent
back with the original phase and squared, then blurred. It finds the object that stands out of a
regular background without any model. A reframe keeps the window of the target aspect ratio (as large
as the source allows) with the most saliency inside it.
"""

from __future__ import annotations

import numpy as np

from generators.lazy import scipy_module

SIDE = 64


def saliency_map(rgb: np.ndarray, side: int = SIDE) -> np.ndarray:
    """A saliency map in [0, 1] for an RGB frame, at `side` pixels on its long edge."""
    from PIL import Image
    ndimage = scipy_module("scipy.ndimage")

    img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    scale = side / max(img.size)
    small = img.convert("L").resize((max(4, round(img.width * scale)), max(4, round(img.height * scale))), Image.BOX)
    gray = np.asarray(small, np.float32) / 255.0
    spectrum = np.fft.fft2(gray - gray.mean())
    amplitude = np.abs(spectrum)
    # A floor under the amplitude: a flat background's spectrum has exact zeros whose log would dominate.
    log_amp = np.log(amplitude + 1e-3 * float(amplitude.max()) + 1e-8)
    residual = log_amp - ndimage.uniform_filter(log_amp, size=3, mode="wrap")
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    sal = ndimage.gaussian_filter(sal, sigma=max(1.0, side / 24))
    lo, hi = float(sal.min()), float(sal.max())
    return (sal - lo) / (hi - lo) if hi > lo else np.full_like(sal, 0.5)


def crop_window(saliency: np.ndarray, width: int, height: int, aspect: float) -> tuple[float, float, float, float]:
    """(x, y, w, h) in source pixels: the largest window of `aspect` (w / h) in a width x height source,
    slid along its free axis to hold the most saliency."""
    if width / height > aspect:  # the source is wider: full height, slide across
        w, h = height * aspect, float(height)
        profile = saliency.sum(axis=0)
        start = _best_start(profile, w / width)
        return min(start * width, width - w), 0.0, w, h
    w, h = float(width), width / aspect
    profile = saliency.sum(axis=1)
    start = _best_start(profile, h / height)
    return 0.0, min(start * height, height - h), w, h


def _best_start(profile: np.ndarray, share: float) -> float:
    """Where (as a fraction of the axis) a window `share` of the axis long holds the most of `profile`;
    ties go to the window nearest the centre."""
    n = len(profile)
    k = max(1, min(n, round(share * n)))
    sums = np.convolve(profile, np.ones(k), mode="valid")
    centre = (n - k) / 2
    best = max(range(len(sums)), key=lambda i: (round(float(sums[i]), 6), -abs(i - centre)))
    return best / n


def centre_of(saliency: np.ndarray) -> tuple[float, float]:
    """The saliency-weighted centre as fractions of width and height."""
    h, w = saliency.shape
    total = float(saliency.sum()) or 1.0
    ys, xs = np.mgrid[0:h, 0:w]
    return float((xs * saliency).sum() / total / max(1, w - 1)), float((ys * saliency).sum() / total / max(1, h - 1))
