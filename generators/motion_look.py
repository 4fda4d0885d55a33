"""The motion backend's design decisions for one shot: colour roles from the brand palette and the
layout of product, type and logo for the frame's shape. Pure: numbers in, numbers out, seeded.

Colours: the ground (backdrop) is the palette colour that best sets off what the shot shows (the
product's own colour, or the type); the ink (type) is the palette colour with the highest WCAG
contrast on the ground (white or near-black when none reaches 4.5:1); the accent is the most
saturated colour left. Layouts keep type inside the title-safe area of social formats.
"""

from __future__ import annotations

import colorsys
import random
from dataclasses import dataclass

RGB = tuple[int, int, int]
DEFAULT_PALETTE = ["#1F2A44", "#F2C14E", "#F7F4EA"]
WHITE: RGB = (250, 250, 248)
BLACK: RGB = (18, 18, 22)
# Title-safe margins (left, top, right, bottom) as fractions, by frame shape; vertical video keeps the
# bottom sixth clear, where social apps draw their own buttons (the same margins assembly uses).
SAFE = {"portrait": (0.07, 0.08, 0.07, 0.17), "square": (0.06, 0.06, 0.06, 0.08), "landscape": (0.06, 0.07, 0.06, 0.07)}


def hex_rgb(colour: str) -> RGB:
    """'#RRGGBB' -> (r, g, b)."""
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def relative_luminance(rgb: RGB) -> float:
    """WCAG 2 relative luminance (sRGB linearised)."""

    def lin(v: int) -> float:
        s = v / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = rgb
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


def contrast(a: RGB, b: RGB) -> float:
    """WCAG contrast ratio, 1..21."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def saturation(rgb: RGB) -> float:
    return colorsys.rgb_to_hsv(*(v / 255 for v in rgb))[1] * (max(rgb) / 255)


def mix(a: RGB, b: RGB, t: float) -> RGB:
    """a*(1-t) + b*t per channel."""
    return tuple(int(round(x * (1 - t) + y * t)) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def shade(rgb: RGB, amount: float) -> RGB:
    """Darker (amount < 0, towards black) or lighter (amount > 0, towards white)."""
    return mix(rgb, (0, 0, 0), -amount) if amount < 0 else mix(rgb, (255, 255, 255), amount)


@dataclass(frozen=True)
class Colours:
    """The colour roles of one shot."""

    ground: RGB  # the backdrop
    ground2: RGB  # a second backdrop tone (gradients, splits)
    accent: RGB  # shapes, bars, the glow
    ink: RGB  # type
    light: RGB  # the palette's lightest colour


def pick_colours(palette: list[str], rng: random.Random, subject: RGB | None, shot_index: int) -> Colours:
    """Colour roles for a shot: the ground sets off `subject` (the product's mean colour) when given;
    shots without the product alternate grounds along the cut so neighbouring shots read apart."""
    cols = list(dict.fromkeys(hex_rgb(c) for c in (palette or DEFAULT_PALETTE)))
    by_light = sorted(cols, key=relative_luminance)
    if subject is not None:
        ranked = sorted(cols, key=lambda c: -contrast(c, subject) - 0.5 * (c == by_light[0]))
        ground = ranked[0] if contrast(ranked[0], subject) >= 1.8 else shade(subject, -0.78)
    else:
        strong = sorted(cols, key=lambda c: -(saturation(c) + 0.6 * (relative_luminance(c) < 0.2)))
        choices = strong[:2] if len(strong) > 1 else strong
        ground = choices[(shot_index + rng.randint(0, 1)) % len(choices)]
    others = [c for c in cols if c != ground] or [shade(ground, 0.5 if relative_luminance(ground) < 0.3 else -0.5)]
    accent = max(others, key=lambda c: saturation(c) + 0.25 * contrast(c, ground) / 21)
    ink_choices = others + [WHITE, BLACK]
    ink = max(ink_choices, key=lambda c: contrast(c, ground) + (2.0 if c in others else 0.0))
    if contrast(ink, ground) < 4.5:
        ink = max((WHITE, BLACK), key=lambda c: contrast(c, ground))
    dark = relative_luminance(ground) < 0.18
    ground2 = shade(ground, rng.choice((0.1, 0.16)) if dark else rng.choice((-0.1, -0.18)))
    return Colours(ground=ground, ground2=ground2, accent=accent, ink=ink, light=by_light[-1])


# Layout ------------------------------------------------------------------------------------------

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels


def frame_shape(width: int, height: int) -> str:
    r = width / height
    return "portrait" if r < 0.9 else ("landscape" if r > 1.15 else "square")


# A 9:16 frame plays full screen (Reels, Stories, Shorts, TikTok), where the app's own text and buttons
# cover the top 14% and the bottom 35% (Meta's Reels safe zone): type and product stay out of both.
TALL_SAFE = (0.07, 0.14, 0.07, 0.35)


def safe_box(width: int, height: int) -> Box:
    """The title-safe box of a frame, in pixels (a full-screen 9:16 frame keeps its app's zones free)."""
    left, top, right, bottom = TALL_SAFE if width / height < 0.6 else SAFE[frame_shape(width, height)]
    return width * left, height * top, width * (1 - right), height * (1 - bottom)


@dataclass(frozen=True)
class Layout:
    """Where things go in a shot: the product's box (None: no product), the type's box, the type's
    alignment, the logo's corner box, and how large the type starts (px)."""

    product: Box | None
    text: Box
    align: str  # "left" | "center" | "right"
    logo: Box | None
    text_size: float
    stat: Box | None = None  # a big figure behind type-only shots


def plan_layout(role: str, shows_product: bool, width: int, height: int, rng: random.Random,
                has_logo: bool, has_stat: bool, product_aspect: float = 0.6) -> Layout:  # fmt: skip
    """A layout for the role and frame shape; the seed flips sides and shifts the balance.
    `product_aspect` (width / height of the product's pixels) sizes the product's column."""
    x0, y0, x1, y1 = safe_box(width, height)
    sw, sh = x1 - x0, y1 - y0
    unit = min(width, height)
    shape = frame_shape(width, height)
    flip = rng.random() < 0.5
    logo = _logo_box(width, height, unit, flip) if has_logo and role in ("hook", "cta", "scene") else None
    logo_h = (logo[3] - logo[1]) + unit * 0.08 if logo else 0.0
    if not shows_product:
        # Type is the hero: large, centred or flush left; a big figure above it when the copy has one.
        align = "center" if shape != "landscape" and rng.random() < 0.6 else "left"
        size = unit * (0.11 if shape == "portrait" else 0.125)
        if has_stat and shape == "landscape":  # the figure beside the type
            stat, text = (x0, y0 + logo_h, x0 + sw * 0.42, y1), (x0 + sw * 0.46, y0 + logo_h, x1, y1)
        elif has_stat:
            stat = (x0, y0 + logo_h + sh * 0.04, x1, y0 + sh * 0.5)
            text = (x0, y0 + sh * 0.52, x1, y1 - sh * 0.04)
        else:
            stat, text = None, (x0, y0 + logo_h + sh * 0.08, x1, y1 - sh * 0.08)
        return Layout(None, text, align, logo, size, stat)
    if role == "proof":  # a detail: the product larger than the frame, the type on a plate
        product = (width * 0.1, height * 0.1, width * 0.9, height * 1.9)
        text = (x0, y1 - sh * 0.24, x1, y1) if shape != "landscape" else (x0, y0 + sh * 0.6, x0 + sw * 0.55, y1)
        return Layout(product, text, "left", None, unit * 0.068)
    if shape == "portrait":
        text_top = rng.random() < 0.75
        text = (x0, y0 + logo_h, x1, y0 + logo_h + sh * 0.24) if text_top else (x0, y1 - sh * 0.24, x1, y1)
        py0, py1 = (y0 + logo_h + sh * 0.27, y1 + height * 0.1) if text_top else (y0 + logo_h, y1 - sh * 0.25)
        pw = sw * (0.9 if role == "product" else 0.7)
        product = ((width - pw) / 2, py0, (width + pw) / 2, py1)
        return Layout(product, text, "center", logo, unit * 0.085)
    # landscape and square: the product on one side, type on the other
    # The product's column is as wide as it needs at full height (a bottle: narrow; a box: wide).
    split = min(0.5, max(0.28, product_aspect * sh * 1.05 / sw))
    top = max(y0 + sh * 0.12, y0 + logo_h)
    py0, py1 = y0 + sh * 0.02, y1 - sh * 0.02
    if flip:
        product = (x0, py0, x0 + sw * split, py1)
        text = (x0 + sw * (split + 0.06), top, x1, y1 - sh * 0.12)
    else:
        product = (x1 - sw * split, py0, x1, py1)
        text = (x0, top, x1 - sw * (split + 0.06), y1 - sh * 0.12)
    return Layout(product, text, "left", logo, unit * (0.078 if shape == "landscape" else 0.07))


def _logo_box(width: int, height: int, unit: int, flip: bool) -> Box:
    x0, y0, x1, _ = safe_box(width, height)
    w, h = unit * 0.3, unit * 0.085
    return (x1 - w, y0, x1, y0 + h) if flip else (x0, y0, x0 + w, y0 + h)


def fit_box(inner_w: float, inner_h: float, box: Box, anchor_y: float = 0.5) -> Box:
    """The largest box of aspect inner_w:inner_h inside `box`, centred horizontally, at `anchor_y` vertically."""
    bx0, by0, bx1, by1 = box
    s = min((bx1 - bx0) / inner_w, (by1 - by0) / inner_h)
    w, h = inner_w * s, inner_h * s
    x = bx0 + (bx1 - bx0 - w) / 2
    y = by0 + (by1 - by0 - h) * anchor_y
    return x, y, x + w, y + h
