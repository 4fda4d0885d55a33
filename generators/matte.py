"""Cutting a product out of its reference image, and placing it on a canvas (pure numpy and Pillow).

A product image with transparency is cut out by its alpha channel. Without one, the matte is
computed: the background is the colour that fills the image's border, and everything connected to
the border in that colour (within a tolerance picked by Otsu's method on the colour distances) is
background; holes inside the product are filled, specks dropped, and the edge softened by a pixel.
A border that is not one colour (a photo that fills its frame) cannot be cut this way: the whole
image is then the product, and the matte says so (`source == "whole"`).

Nothing here knows about models: keyframe composition and motion graphics both use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

# Alpha under this (of 255) anywhere means the PNG really has transparency.
OPAQUE = 250
# Border ring, in pixels, whose colour is taken as the background.
BORDER_PX = 2
# Share of the border that must lie within tolerance of the background colour for a computed matte.
UNIFORM_BORDER = 0.6
# Colour-distance tolerance bounds (RGB Euclidean, 0..441): Otsu's threshold is clipped into them.
MIN_TOLERANCE, MAX_TOLERANCE = 12.0, 90.0
# Connected foreground pieces smaller than this share of the largest are specks.
SPECK_FRACTION = 0.02
# Edge softening: Gaussian sigma in pixels.
EDGE_SIGMA = 0.8

Source = Literal["alpha", "computed", "whole"]


@dataclass(frozen=True)
class Matte:
    """A product cut out: its colours uint8 [H,W,3], its alpha float32 [H,W] in 0..1, and how it was cut."""

    rgb: np.ndarray
    alpha: np.ndarray
    source: Source

    @property
    def coverage(self) -> float:
        """Share of the image that is product."""
        return float(self.alpha.mean())


def load_matte(path: Path) -> Matte:
    """The product matte of an image file (alpha channel, else computed)."""
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        rgba = np.asarray(im.convert("RGBA"))
    return product_matte(rgba)


def product_matte(rgba: np.ndarray) -> Matte:
    """Cut a product out of an RGBA (or RGB) uint8 image, cropped to the product's bounding box."""
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[2] not in (3, 4) or min(rgba.shape[:2]) < 4:
        raise ValueError(f"expected an RGB(A) image of at least 4x4 pixels, got shape {rgba.shape}")
    rgb = np.ascontiguousarray(rgba[..., :3], dtype=np.uint8)
    if rgba.shape[2] == 4 and rgba[..., 3].min() < OPAQUE:
        alpha, source = rgba[..., 3].astype(np.float32) / 255.0, "alpha"
    else:
        computed = computed_matte(rgb)
        alpha, source = (computed, "computed") if computed is not None else (np.ones(rgb.shape[:2], np.float32), "whole")
    return crop(Matte(rgb, alpha, source))


def computed_matte(rgb: np.ndarray) -> np.ndarray | None:
    """Alpha [H,W] separating the product from a one-colour background, or None when the border is not one colour."""
    from scipy import ndimage

    # 1. the background colour, and how far each pixel is from it
    ring = border(rgb)
    background = np.median(ring, axis=0)
    distance = np.linalg.norm(rgb.astype(np.float32) - background, axis=-1)
    # 2. a tolerance between background and product colours; the border must mostly be background
    tolerance = float(np.clip(otsu(distance), MIN_TOLERANCE, MAX_TOLERANCE))
    if (np.linalg.norm(ring - background, axis=-1) <= tolerance).mean() < UNIFORM_BORDER:
        return None
    # 3. background = background-coloured regions that touch the border (product-coloured islands stay)
    labels, _ = ndimage.label(distance <= tolerance)
    touching = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    product = ~np.isin(labels, touching[touching > 0])
    # 4. fill holes, drop specks, soften the edge
    product = drop_specks(ndimage.binary_fill_holes(product))
    if not product.any():
        return None
    return soften(product)


def border(rgb: np.ndarray, px: int = BORDER_PX) -> np.ndarray:
    """The pixels of the image's outer ring `px` wide, as float32 [N,3]."""
    mask = np.zeros(rgb.shape[:2], bool)
    mask[:px], mask[-px:], mask[:, :px], mask[:, -px:] = True, True, True, True
    return rgb[mask].astype(np.float32)


def otsu(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold: the split of `values` maximising the between-class variance (Otsu, 1979)."""
    hist, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(hist).astype(np.float64)
    total = weight[-1]
    mean = np.cumsum(hist * centres)
    w0, w1 = weight[:-1], total - weight[:-1]
    valid = (w0 > 0) & (w1 > 0)
    if not valid.any():
        return float(centres[0])
    m0 = mean[:-1] / np.where(valid, w0, 1)
    m1 = (mean[-1] - mean[:-1]) / np.where(valid, w1, 1)
    between = np.where(valid, w0 * w1 * (m0 - m1) ** 2, -1)
    return float(edges[1:][:-1][int(np.argmax(between))])


def drop_specks(mask: np.ndarray, fraction: float = SPECK_FRACTION) -> np.ndarray:
    """Keep connected pieces at least `fraction` of the largest piece's area."""
    from scipy import ndimage

    labels, count = ndimage.label(mask)
    if count <= 1:
        return mask
    sizes = ndimage.sum(mask, labels, index=np.arange(1, count + 1))
    keep = np.flatnonzero(sizes >= fraction * sizes.max()) + 1
    return np.isin(labels, keep)


def soften(mask: np.ndarray, sigma: float = EDGE_SIGMA) -> np.ndarray:
    """A hard mask as float alpha with an edge softened by about a pixel (the inside stays 1)."""
    from scipy import ndimage

    soft = ndimage.gaussian_filter(mask.astype(np.float32), sigma)
    return np.where(ndimage.binary_erosion(mask), 1.0, soft).clip(0, 1).astype(np.float32)


def crop(matte: Matte, threshold: float = 0.05) -> Matte:
    """The matte cropped to the bounding box of its product."""
    rows, cols = np.flatnonzero(matte.alpha.max(axis=1) > threshold), np.flatnonzero(matte.alpha.max(axis=0) > threshold)
    if len(rows) == 0:
        raise ValueError("the product image is fully transparent")
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    return Matte(np.ascontiguousarray(matte.rgb[box]), np.ascontiguousarray(matte.alpha[box]), matte.source)


# Placing on a canvas ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Where a product goes on a canvas: its centre (fractions of width, height) and its largest share of
    the canvas height and width."""

    centre: tuple[float, float] = (0.5, 0.55)
    height: float = 0.6
    width: float = 0.7


def place(matte: Matte, size: tuple[int, int], where: Placement = Placement()) -> tuple[np.ndarray, np.ndarray]:
    """The product scaled into a canvas of `size` (width, height): colour layer uint8 [H,W,3] and alpha [H,W]."""
    from PIL import Image

    w, h = size
    ph, pw = matte.alpha.shape
    scale = min(where.height * h / ph, where.width * w / pw)
    nw, nh = max(1, round(pw * scale)), max(1, round(ph * scale))
    rgb = np.asarray(Image.fromarray(matte.rgb).resize((nw, nh), Image.LANCZOS))
    alpha = np.asarray(Image.fromarray(matte.alpha).resize((nw, nh), Image.BILINEAR)).clip(0, 1)
    layer, mask = np.zeros((h, w, 3), np.uint8), np.zeros((h, w), np.float32)
    x0, y0 = round(where.centre[0] * w - nw / 2), round(where.centre[1] * h - nh / 2)
    # clip the pasted box to the canvas
    sx, sy = max(0, -x0), max(0, -y0)
    ex, ey = min(nw, w - x0), min(nh, h - y0)
    if ex > sx and ey > sy:
        layer[y0 + sy : y0 + ey, x0 + sx : x0 + ex] = rgb[sy:ey, sx:ex]
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
