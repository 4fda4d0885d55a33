"""A product image as a cutout: its own alpha, or a matte computed from a plain studio background.

Product shots usually come as a PNG with transparency or as a packshot on a plain (or softly lit)
background. For the second kind the background is modelled from the image border as a smooth
surface (a quadratic in x and y per channel, least squares), every pixel's distance to it is
measured, and the background is what lies close to that surface *and* connects to the border, so a
label printed in the background colour stays part of the product. On the edge band each pixel is
read as a mix of the backdrop and its nearest solid product colour: alpha is its position between
the two, and its colour is the product's (no halo of the old backdrop on a new one, no ringing). An
image whose border is not a plain background (a photo of a scene) gets no cutout: it is used whole,
as a card.

Pure numpy and scipy; no model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from generators.lazy import scipy_module

Method = Literal["alpha", "matte", "card"]
# A border whose residual from the fitted background exceeds this (RGB levels, RMS) is a scene, not a backdrop.
MAX_BACKDROP_RESIDUAL = 14.0
# A pixel this close (RGB distance) to the fitted backdrop may be backdrop; the edge band is EDGE pixels
# either side of the boundary (at the estimate's size), where alpha comes from colour mixing.
MIN_LOW = 18.0
EDGE = 2
# The estimate runs at this size (the alpha is scaled back up): a 4000 px packshot costs the same as a small one.
WORK_SIDE = 512


@dataclass
class Cutout:
    """The product as RGBA cropped to its pixels, how its alpha was made, and the share it covers."""

    image: Any  # PIL.Image.Image, mode RGBA
    method: Method
    coverage: float  # fraction of the source image that is product (1.0 for a card)


def load_cutout(path: Path) -> Cutout:
    """The cutout of an image file (alpha if it has a real one, else a computed matte, else a card)."""
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img)
        img.load()
        return cutout(img)


def cutout(img: Any) -> Cutout:
    """The cutout of a PIL image; see the module docstring for the three methods."""
    rgba = img.convert("RGBA")
    alpha = np.asarray(rgba)[..., 3]
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        if (alpha < 250).mean() > 0.01:
            return _cropped(rgba, "alpha", float((alpha > 8).mean()))
    matte = compute_matte(np.asarray(rgba.convert("RGB")))
    if matte is None:
        return Cutout(rgba, "card", 1.0)
    alpha, colours = matte
    out = np.dstack([colours, (alpha * 255).round().astype(np.uint8)])
    from PIL import Image

    return _cropped(Image.fromarray(out, "RGBA"), "matte", float((alpha > 0.03).mean()))


def compute_matte(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(alpha in 0..1 [H,W], edge-corrected colours [H,W,3] uint8), or None when the border is a scene."""
    h, w = rgb.shape[:2]
    if min(h, w) < 8:
        return None
    small = _downscale(rgb, WORK_SIDE)
    # 1. the backdrop: a smooth surface fitted to the border
    surface, residual = fit_backdrop(small)
    if residual > MAX_BACKDROP_RESIDUAL:
        return None
    # 2. distance to the backdrop, and the background as what is close to it and touches the border
    dist = np.linalg.norm(small.astype(np.float32) - surface, axis=2)
    background = _border_connected(dist <= max(MIN_LOW, 3.0 * residual))
    foreground = _main_parts(~background)
    share = foreground.mean()
    if share < 0.01 or share > 0.97:
        return None
    # 3. the edge, at full size: each rim pixel is a mix of its nearest solid product colour and the backdrop
    solid = _upscale(_interior(foreground, EDGE), (h, w)) > 0.5
    near = _upscale(_dilated(foreground, EDGE), (h, w)) > 0.5
    return edge_matte(rgb, _upscale_rgb(surface, (h, w)), solid, near & ~solid)


def edge_matte(rgb: np.ndarray, backdrop: np.ndarray, solid: np.ndarray, rim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Alpha and colours: 1 and the image on `solid`; on `rim`, the colour of the nearest solid pixel F
    and alpha = the pixel's position between the backdrop B and F, (c - B)·(F - B) / |F - B|^2."""
    ndimage = scipy_module("scipy.ndimage")

    _, (iy, ix) = ndimage.distance_transform_edt(~solid, return_indices=True)
    colours = rgb.copy()
    alpha = solid.astype(np.float32)
    ry, rx = np.nonzero(rim)
    f = rgb[iy[ry, rx], ix[ry, rx]].astype(np.float32)
    b = backdrop[ry, rx].astype(np.float32)
    c = rgb[ry, rx].astype(np.float32)
    span = f - b
    a = ((c - b) * span).sum(axis=1) / np.maximum((span * span).sum(axis=1), 1.0)
    alpha[ry, rx] = np.clip(a, 0.0, 1.0)
    colours[ry, rx] = f.astype(np.uint8)
    return alpha, colours


def feather(rgba: Any, sigma: float) -> Any:
    """`rgba` (PIL RGBA) with its alpha edge softened inward by a Gaussian of `sigma` pixels: alpha
    becomes min(alpha, blurred alpha), so the edge ramps over about 2 sigma but never grows outward
    (where the colours are the old backdrop's, which would show as a halo). Specks below 1% go."""
    from PIL import Image
    ndimage = scipy_module("scipy.ndimage")

    if sigma <= 0:
        return rgba
    alpha = np.asarray(rgba.getchannel("A"), np.float32)
    soft = np.minimum(alpha, ndimage.gaussian_filter(alpha, sigma, mode="constant"))
    soft[soft < 2.55] = 0.0
    out = rgba.copy()
    out.putalpha(Image.fromarray(soft.round().astype(np.uint8), "L"))
    return out


def fit_backdrop(rgb: np.ndarray, band: float = 0.03) -> tuple[np.ndarray, float]:
    """A quadratic surface per channel fitted to the border band, and the fit's RMS residual (levels)."""
    h, w = rgb.shape[:2]
    b = max(2, int(round(min(h, w) * band)))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    xs, ys = xx / max(1, w - 1) - 0.5, yy / max(1, h - 1) - 0.5
    basis = np.stack([np.ones_like(xs), xs, ys, xs * ys, xs * xs, ys * ys], axis=-1)
    mask = np.zeros((h, w), bool)
    mask[:b], mask[-b:], mask[:, :b], mask[:, -b:] = True, True, True, True
    a, y = basis[mask], rgb[mask].astype(np.float32)
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    surface = basis @ coef
    residual = float(np.sqrt(((surface[mask] - y) ** 2).sum(axis=1).mean()))
    return surface.astype(np.float32), residual


def _border_connected(mask: np.ndarray) -> np.ndarray:
    """The parts of `mask` connected (8-way) to the image border."""
    ndimage = scipy_module("scipy.ndimage")

    labels, _ = ndimage.label(mask, structure=np.ones((3, 3), bool))
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return np.isin(labels, edge[edge > 0])


def _main_parts(mask: np.ndarray) -> np.ndarray:
    """The largest connected part of `mask` and any part at least a tenth its size (specks go)."""
    ndimage = scipy_module("scipy.ndimage")

    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if n == 0:
        return mask
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, n + 1))
    keep = np.flatnonzero(sizes >= 0.1 * sizes.max()) + 1
    return np.isin(labels, keep)


def _interior(mask: np.ndarray, depth: int) -> np.ndarray:
    """1.0 on pixels at least `depth` pixels inside `mask`."""
    ndimage = scipy_module("scipy.ndimage")

    return ndimage.binary_erosion(mask, iterations=depth).astype(np.float32)


def _dilated(mask: np.ndarray, depth: int) -> np.ndarray:
    """1.0 on pixels within `depth` pixels of `mask`."""
    ndimage = scipy_module("scipy.ndimage")

    return ndimage.binary_dilation(mask, iterations=depth).astype(np.float32)


def _downscale(rgb: np.ndarray, side: int) -> np.ndarray:
    from PIL import Image

    h, w = rgb.shape[:2]
    if max(h, w) <= side:
        return rgb
    s = side / max(h, w)
    return np.asarray(Image.fromarray(rgb).resize((max(8, round(w * s)), max(8, round(h * s))), Image.BOX))


def _upscale(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    h, w = size
    if plane.shape == (h, w):
        return plane.astype(np.float32)
    img = Image.fromarray(plane.astype(np.float32), "F").resize((w, h), Image.BILINEAR)
    return np.clip(np.asarray(img), 0.0, 1.0)


def _upscale_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.stack([_upscale_float(rgb[..., c], size) for c in range(3)], axis=-1)


def _upscale_float(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    h, w = size
    if plane.shape == (h, w):
        return plane.astype(np.float32)
    return np.asarray(Image.fromarray(plane.astype(np.float32), "F").resize((w, h), Image.BILINEAR))


def _cropped(rgba: Any, method: Method, coverage: float) -> Cutout:
    """The image cropped to its visible pixels with a small transparent margin."""
    alpha = np.asarray(rgba)[..., 3]
    ys, xs = np.nonzero(alpha > 8)
    if len(xs) == 0:
        return Cutout(rgba, method, coverage)
    pad = max(2, int(0.02 * max(rgba.size)))
    box = (max(0, xs.min() - pad), max(0, ys.min() - pad), min(rgba.width, xs.max() + 1 + pad),
           min(rgba.height, ys.max() + 1 + pad))
    return Cutout(rgba.crop(box), method, coverage)


# Placing a cutout on a canvas (keyframe composition) ---------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Where a product goes on a canvas: its centre (fractions of width, height) and its largest share of
    the canvas height and width."""

    centre: tuple[float, float] = (0.5, 0.55)
    height: float = 0.6
    width: float = 0.7


def place(cut: Cutout, size: tuple[int, int], where: Placement = Placement()) -> tuple[np.ndarray, np.ndarray]:
    """The cutout scaled into a canvas of `size` (width, height): colour layer uint8 [H,W,3] and alpha [H,W]."""
    from PIL import Image

    w, h = size
    rgba = cut.image.convert("RGBA")
    scale = min(where.height * h / rgba.height, where.width * w / rgba.width)
    nw, nh = max(1, round(rgba.width * scale)), max(1, round(rgba.height * scale))
    scaled = np.asarray(rgba.resize((nw, nh), Image.LANCZOS))
    # Pillow resamples RGBA premultiplied (no fringe of the transparent pixels' colours); alpha bilinear (no ringing)
    alpha = np.asarray(Image.fromarray(np.asarray(rgba)[..., 3]).resize((nw, nh), Image.BILINEAR)) / 255.0
    layer, mask = np.zeros((h, w, 3), np.uint8), np.zeros((h, w), np.float32)
    x0, y0 = round(where.centre[0] * w - nw / 2), round(where.centre[1] * h - nh / 2)
    sx, sy = max(0, -x0), max(0, -y0)  # the pasted box clipped to the canvas
    ex, ey = min(nw, w - x0), min(nh, h - y0)
    if ex > sx and ey > sy:
        layer[y0 + sy : y0 + ey, x0 + sx : x0 + ex] = scaled[sy:ey, sx:ex, :3]
        mask[y0 + sy : y0 + ey, x0 + sx : x0 + ex] = alpha[sy:ey, sx:ex]
    return layer, mask


def composite(base: np.ndarray, layer: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """`layer` over `base` (uint8 [H,W,3]) by `alpha` [H,W] in 0..1."""
    a = alpha[..., None].astype(np.float32)
    out = layer.astype(np.float32) * a + base.astype(np.float32) * (1 - a)
    return (out + 0.5).clip(0, 255).astype(np.uint8)


def gradient(size: tuple[int, int], top: tuple[int, int, int], bottom: tuple[int, int, int]) -> np.ndarray:
    """A vertical gradient canvas uint8 [H,W,3] from `top` to `bottom`."""
    w, h = size
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    col = np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t
    return np.broadcast_to(col, (h, w, 3)).round().astype(np.uint8).copy()
