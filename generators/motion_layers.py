"""The motion backend's layers: a backdrop canvas, decorative shapes, the product as a lit hero sprite
and the logo, each drawn once per shot with PIL and then placed on every frame.

Placing is the per-frame cost: `place` resamples only the visible part of a sprite (bilinear, at a
sub-pixel position) and pastes it with its alpha, so a frame costs a few small resizes plus one
backdrop resample, not a redraw.

Edges are anti-aliased throughout: PIL draws shapes with hard edges, so they are drawn SS times
larger and reduced (`antialiased`); every resample of an RGBA sprite runs on premultiplied alpha
(Pillow converts RGBA to RGBa for it), so no dark or backdrop-coloured fringe comes along; and the
product's edge is softened by a fraction of a screen pixel (`generators.matte.feather`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from generators.camera import Pose
from generators.matte import feather
from generators.motion_look import RGB, Box, Colours, relative_luminance, shade

PAD = 4  # transparent pixels around every sprite, so sub-pixel windows never leave the image
SS = 4  # shapes are drawn this many times larger, then reduced: anti-aliased edges


# 1. Placing sprites on a frame -------------------------------------------------------------------


def padded(img: Any) -> Any:
    """An RGBA copy of `img` with PAD transparent pixels on every side."""
    from PIL import Image

    out = Image.new("RGBA", (img.width + 2 * PAD, img.height + 2 * PAD), (0, 0, 0, 0))
    out.paste(img.convert("RGBA"), (PAD, PAD))
    return out


def screen_rect(rect: Box, pose: Pose, width: int, height: int) -> Box:
    """Where a rectangle laid out at the neutral pose lands under `pose` (zoom about the frame centre)."""
    cx, cy = width / 2, height / 2
    ox, oy = pose.x * width, pose.y * height
    x0, y0, x1, y1 = rect
    return ((x0 - cx - ox) * pose.zoom + cx, (y0 - cy - oy) * pose.zoom + cy,
            (x1 - cx - ox) * pose.zoom + cx, (y1 - cy - oy) * pose.zoom + cy)  # fmt: skip


def resample_visible(sprite: Any, rect: Box, width: int, height: int) -> tuple[Any, tuple[int, int]] | None:
    """The part of a padded sprite drawn at `rect` that falls inside the frame, resampled, and its
    integer position; None when it is off-frame."""
    from PIL import Image

    x0, y0, x1, y1 = rect
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    vx0, vy0 = max(0, math.floor(x0)), max(0, math.floor(y0))
    vx1, vy1 = min(width, math.ceil(x1)), min(height, math.ceil(y1))
    if vx1 <= vx0 or vy1 <= vy0:
        return None
    kx = (sprite.width - 2 * PAD) / (x1 - x0)
    ky = (sprite.height - 2 * PAD) / (y1 - y0)
    box = (PAD + (vx0 - x0) * kx, PAD + (vy0 - y0) * ky, PAD + (vx1 - x0) * kx, PAD + (vy1 - y0) * ky)
    box = (max(0.0, box[0]), max(0.0, box[1]), min(sprite.width, box[2]), min(sprite.height, box[3]))
    return sprite.resize((vx1 - vx0, vy1 - vy0), Image.BILINEAR, box=box), (vx0, vy0)


def paste(frame: Any, piece: Any, at: tuple[int, int], opacity: float = 1.0) -> None:
    """Alpha-paste an RGBA piece onto the RGB frame, its alpha scaled by `opacity`."""
    if opacity <= 0.004:
        return
    alpha = piece.getchannel("A")
    if opacity < 0.996:
        alpha = alpha.point(lambda v: int(v * opacity))
    frame.paste(piece.convert("RGB"), at, alpha)


def place(frame: Any, sprite: Any, rect: Box, opacity: float = 1.0) -> None:
    """Draw a padded sprite into `rect` (floats, may leave the frame) on the frame."""
    got = resample_visible(sprite, rect, frame.width, frame.height)
    if got is not None:
        paste(frame, got[0], got[1], opacity)


class ScaledDraw:
    """An ImageDraw on a `k` times larger image, taking coordinates, widths and radii at 1x."""

    def __init__(self, img: Any, k: int) -> None:
        from PIL import ImageDraw

        self.draw, self.k = ImageDraw.Draw(img), k

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.draw, name)
        k = self.k

        def scaled(xy: Any, *args: Any, **kw: Any) -> Any:
            if xy and isinstance(xy[0], (tuple, list)):
                xy = [(x * k, y * k) for x, y in xy]
            else:
                xy = [v * k for v in xy]
            kw.update({key: kw[key] * k for key in ("width", "radius") if key in kw})
            return method(xy, *args, **kw)

        return scaled


@contextmanager
def antialiased(img: Any, k: int = SS) -> Iterator[ScaledDraw]:
    """Draw on RGBA `img` through a ScaledDraw: shapes go on a transparent k-times-larger layer that is
    then reduced (box filter, premultiplied) and composited onto `img`, so their edges are anti-aliased."""
    from PIL import Image

    big = Image.new("RGBA", (img.width * k, img.height * k), (0, 0, 0, 0))
    yield ScaledDraw(big, k)
    img.alpha_composite(big.reduce(k) if k > 1 else big)


def smooth_mask(size: tuple[int, int], shape: str, box: Any, k: int = SS, **kw: Any) -> Any:
    """An 'L' mask of `size` with one filled shape ('rounded_rectangle', 'ellipse', 'polygon'), anti-aliased."""
    from PIL import Image

    big = Image.new("L", (size[0] * k, size[1] * k), 0)
    getattr(ScaledDraw(big, k), shape)(box, fill=255, **kw)
    return big.reduce(k)


# 2. The backdrop ---------------------------------------------------------------------------------

BACKDROPS = ("spotlight", "split", "rings", "bokeh", "stripes")
CANVAS = 1.18  # the backdrop canvas is this much larger than the frame (room for its parallax)


@dataclass
class Backdrop:
    """A canvas CANVAS times the frame, seen through the camera at the backdrop's depth, with a soft
    light drifting across it (the backdrop never stands still, even when the camera barely moves)."""

    canvas: Any  # PIL RGB
    width: int
    height: int
    style: str
    glow: Any = None  # RGBA soft light, or None
    glow_path: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # x0, y0 -> x1, y1 (frame fractions)

    def __post_init__(self) -> None:
        # the glow's colour and alpha, split once (not on every frame)
        self._glow = (self.glow.convert("RGB"), self.glow.getchannel("A")) if self.glow is not None else None

    def frame(self, pose: Pose, t: float = 0.0) -> Any:
        """The backdrop for one frame at shot time t (an RGB PIL image at frame size, the caller's to draw on)."""
        from PIL import Image

        cw, ch = self.canvas.size
        w, h = self.width / pose.zoom, self.height / pose.zoom
        cx, cy = cw / 2 + pose.x * self.width, ch / 2 + pose.y * self.height
        x0 = min(max(0.0, cx - w / 2), cw - w)
        y0 = min(max(0.0, cy - h / 2), ch - h)
        img = self.canvas.resize((self.width, self.height), Image.BILINEAR, box=(x0, y0, x0 + w, y0 + h))
        if self._glow is not None:
            rgb, alpha = self._glow
            gx0, gy0, gx1, gy1 = self.glow_path
            gx = (gx0 + (gx1 - gx0) * t) * self.width - rgb.width / 2
            gy = (gy0 + (gy1 - gy0) * t) * self.height - rgb.height / 2
            img.paste(rgb, (round(gx), round(gy)), alpha)
        return img


def soft_light(size: int, colour: RGB, strength: float) -> Any:
    """A round soft light (RGBA, alpha falling off as a Gaussian), `strength` its peak opacity."""
    from PIL import Image

    r = np.linspace(-1, 1, size, dtype=np.float32)
    d2 = r[None, :] ** 2 + r[:, None] ** 2
    alpha = (255 * strength * np.exp(-d2 * 3.0) * (d2 < 1)).astype(np.uint8)
    img = Image.new("RGBA", (size, size), colour + (0,))
    img.putalpha(Image.fromarray(alpha, "L"))
    return img


def soft_blur(img: Any, radius: float) -> Any:
    """A Gaussian blur of `radius` px, done at a reduced size when the radius is large (the result is
    smooth, so scaling it back up loses nothing, and a wide blur at full size costs a frame's budget)."""
    from PIL import Image, ImageFilter

    step = max(1, min(8, int(radius // 3)))
    if step == 1:
        return img.filter(ImageFilter.GaussianBlur(radius))
    small = img.reduce(step).filter(ImageFilter.GaussianBlur(radius / step))
    return small.resize(img.size, Image.BILINEAR)


def draw_backdrop(width: int, height: int, colours: Colours, rng: random.Random, focus: tuple[float, float],
                  floor: bool = False, style: str | None = None) -> Backdrop:  # fmt: skip
    """A studio-style backdrop: a lit gradient around `focus` (frame fractions) plus one graphic treatment,
    and a soft floor under a product (`floor`)."""
    from PIL import Image, ImageDraw

    cw, ch = math.ceil(width * CANVAS), math.ceil(height * CANVAS)
    style = style or rng.choice(BACKDROPS)
    fx, fy = (cw - width) / 2 + focus[0] * width, (ch - height) / 2 + focus[1] * height
    # 1. the light: brighter behind the subject, falling off to a darker rim (a vignette baked in);
    # computed on a grid a quarter the size and scaled up (it is smooth)
    gw, gh = max(2, cw // 4), max(2, ch // 4)
    yy, xx = np.mgrid[0:gh, 0:gw].astype(np.float32)
    xx, yy = xx * (cw / gw), yy * (ch / gh)
    reach = 0.75 * max(width, height)
    d = np.sqrt(((xx - fx) / reach) ** 2 + ((yy - fy) / (reach * 0.85)) ** 2)
    dark = relative_luminance(colours.ground) < 0.25
    centre = np.array(shade(colours.ground, 0.17 if dark else 0.14), np.float32)
    rim = np.array(shade(colours.ground, -0.5 if dark else -0.2), np.float32)
    k = np.clip(d, 0, 1)[..., None] ** 1.4
    base = centre * (1 - k) + np.array(colours.ground, np.float32) * k * 0.5 + rim * k * 0.5
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).resize((cw, ch), Image.BILINEAR).convert("RGBA")
    # 2. the treatment
    layer = Image.new("RGBA", (cw, ch), (0, 0, 0, 0))
    # 2x: the canvas is frame-sized, and soft shapes need no more; bokeh is blurred anyway
    with antialiased(layer, 1 if style == "bokeh" else 2) as draw:
        _treatment(draw, style, cw, ch, fx, fy, width, height, colours, rng)
    if style == "bokeh":
        layer = soft_blur(layer, min(width, height) * 0.012)
    img.alpha_composite(layer)
    unit = min(width, height)
    # 3. a soft floor under the subject for the studio look (not on a split, which has its own)
    if floor and style != "split" and rng.random() < 0.6:
        floor = Image.new("RGBA", (cw, ch), (0, 0, 0, 0))
        top = fy + 0.2 * height
        fd = ImageDraw.Draw(floor)
        fd.rectangle((0, top, cw, ch), fill=shade(colours.ground, -0.25) + (90,))
        img.alpha_composite(soft_blur(floor, unit * 0.04))
    light = soft_light(int(max(width, height) * 0.8), colours.light if dark else shade(colours.ground, 0.6), 0.3)
    path = (rng.uniform(-0.1, 0.3), rng.uniform(0.1, 0.5), rng.uniform(0.7, 1.1), rng.uniform(0.3, 0.8))
    if rng.random() < 0.5:
        path = (path[2], path[1], path[0], path[3])
    return Backdrop(img.convert("RGB"), width, height, style, light, path)


def _treatment(draw: Any, style: str, cw: int, ch: int, fx: float, fy: float, width: int, height: int,
               colours: Colours, rng: random.Random) -> None:  # fmt: skip
    """The backdrop's graphic treatment (a split, rings, bokeh or stripes) drawn with `draw`."""
    unit = min(width, height)
    if style == "split":
        angle = math.radians(rng.uniform(-22, 22))
        mid = fy + rng.uniform(0.05, 0.25) * height
        dy = math.tan(angle) * cw
        draw.polygon([(0, mid - dy / 2), (cw, mid + dy / 2), (cw, ch), (0, ch)], fill=colours.ground2 + (235,))
    elif style == "rings":
        for i in range(rng.randint(3, 5)):
            r = unit * (0.22 + 0.13 * i)
            draw.ellipse((fx - r, fy - r, fx + r, fy + r), outline=colours.accent + (int(95 - 15 * i),),
                         width=max(1, int(unit * 0.006)))
    elif style == "bokeh":
        for _ in range(rng.randint(7, 12)):
            r = unit * rng.uniform(0.03, 0.11)
            x, y = rng.uniform(0, cw), rng.uniform(0, ch)
            col = rng.choice([colours.accent, colours.light, colours.ground2])
            draw.ellipse((x - r, y - r, x + r, y + r), fill=col + (rng.randint(40, 90),))
    elif style == "stripes":
        step = unit * rng.uniform(0.16, 0.26)
        slant = rng.choice((-1, 1)) * ch * 0.6
        for i in range(-4, int(cw / step) + 6, 2):
            x = i * step
            draw.polygon([(x, 0), (x + step, 0), (x + step + slant, ch), (x + slant, ch)],
                         fill=colours.ground2 + (110,))


# 3. Decorative shapes (a middle layer) ----------------------------------------------------------

SHAPES = ("ring", "dots", "capsule", "plus", "slashes", "disc")


@dataclass
class Shape:
    """A small sprite at a place (neutral-pose frame pixels), appearing from `start` (shot fraction)."""

    sprite: Any
    rect: Box
    start: float
    drift: tuple[float, float] = (0.0, 0.0)  # frame fractions per second: shapes float steadily across

    def draw(self, frame: Any, pose: Pose, t: float, t_s: float) -> None:
        grow = min(1.0, max(0.0, (t - self.start) / 0.12))
        if grow <= 0:
            return
        e = 1 - (1 - grow) ** 3
        x0, y0, x1, y1 = self.rect
        dx, dy = self.drift[0] * t_s * frame.width, self.drift[1] * t_s * frame.height
        s = 0.75 + 0.25 * e
        cx, cy, hw, hh = (x0 + x1) / 2 + dx, (y0 + y1) / 2 + dy, (x1 - x0) / 2 * s, (y1 - y0) / 2 * s
        place(frame, self.sprite, screen_rect((cx - hw, cy - hh, cx + hw, cy + hh), pose, frame.width, frame.height), e)


def draw_shapes(width: int, height: int, colours: Colours, rng: random.Random, avoid: list[Box],
                count: int) -> list[Shape]:  # fmt: skip
    """A few seeded graphic shapes placed away from the boxes in `avoid` (type, product)."""
    unit = min(width, height)
    shapes: list[Shape] = []
    for kind in rng.sample(SHAPES, k=min(count, len(SHAPES))):
        size = unit * rng.uniform(0.12, 0.28) if kind in ("ring", "disc") else unit * rng.uniform(0.1, 0.18)
        rect = _free_spot(width, height, size, avoid, rng)
        if rect is None:
            continue
        col = colours.accent if kind in ("ring", "disc", "capsule") else colours.ink
        drift = (rng.choice((-1, 1)) * rng.uniform(0.04, 0.08), rng.uniform(-0.05, 0.02))
        shapes.append(Shape(padded(_shape_sprite(kind, int(size), col, unit)), rect, rng.uniform(0.0, 0.25),
                            drift=drift))  # fmt: skip
        avoid = avoid + [rect]
    return shapes


def _free_spot(width: int, height: int, size: float, avoid: list[Box], rng: random.Random) -> Box | None:
    for _ in range(40):
        x = rng.uniform(-0.15 * size, width - 0.85 * size)
        y = rng.uniform(-0.15 * size, height - 0.85 * size)
        rect = (x, y, x + size, y + size)
        if not any(_overlap(rect, b) > 0.02 * size * size for b in avoid):
            return rect
    return None


def _overlap(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(0.0, w) * max(0.0, h)


def _shape_sprite(kind: str, size: int, colour: RGB, unit: int) -> Any:
    from PIL import Image

    size = max(8, size)
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    with antialiased(img) as d:
        _draw_shape(d, kind, size, colour, unit)
    return img


def _draw_shape(d: Any, kind: str, size: int, colour: RGB, unit: int) -> None:
    line = max(2, int(unit * 0.008))
    if kind == "ring":
        d.ellipse((line, line, size - line, size - line), outline=colour + (220,), width=line)
    elif kind == "disc":
        d.ellipse((0, 0, size - 1, size - 1), fill=colour + (150,))
    elif kind == "dots":
        step = size / 4
        for i in range(4):
            for j in range(4):
                r = max(1.5, unit * 0.006)
                cx, cy = step * (i + 0.5), step * (j + 0.5)
                d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour + (170,))
    elif kind == "capsule":
        d.rounded_rectangle((line, size * 0.3, size - line, size * 0.7), radius=size * 0.2, outline=colour + (220,),
                            width=line)  # fmt: skip
    elif kind == "plus":
        m = size / 2
        d.line((m, size * 0.2, m, size * 0.8), fill=colour + (200,), width=line * 2)
        d.line((size * 0.2, m, size * 0.8, m), fill=colour + (200,), width=line * 2)
    else:  # slashes
        for i in range(3):
            x = size * (0.2 + 0.25 * i)
            d.line((x, size * 0.8, x + size * 0.25, size * 0.2), fill=colour + (200,), width=line * 2)


# 4. The product: a hero sprite with shadow and reflection, and its light sweep --------------------


@dataclass
class Hero:
    """The product sprite (padded) with where it stands at the neutral pose, and where its own pixels
    are inside the sprite (the light sweep lights only those)."""

    sprite: Any
    rect: Box
    product_share: float  # the top fraction of the sprite that is the product (the rest: reflection)
    method: str
    sweep_angle: float = field(default=-0.45)


def make_hero(cutout: Any, method: str, rect: Box, colours: Colours, rng: random.Random,
              max_zoom: float = 1.25, reflection: bool = True, hang: bool = False) -> Hero:  # fmt: skip
    """The cutout fitted into `rect`, standing on its bottom edge (or hanging from its top: `hang`, for
    a detail), drawn at up to `max_zoom` x that size so zooming in stays sharp, with a contact shadow
    and (on a floor) a faint reflection."""
    from PIL import Image, ImageDraw, ImageFilter

    x0, y0, x1, y1 = rect
    scale = min((x1 - x0) / cutout.width, (y1 - y0) / cutout.height)
    pw, ph = cutout.width * scale, cutout.height * scale
    px0, py0 = x0 + (x1 - x0 - pw) / 2, (y0 if hang else y1 - ph)
    res = max(1.0, max_zoom) * (1.0 if scale * max_zoom < 4 else 0.75)
    w, h = max(2, round(pw * res)), max(2, round(ph * res))
    product = cutout.resize((w, h), Image.LANCZOS)  # premultiplied: no fringe of the transparent pixels
    if scale * res > 1.5:  # an upscaled small packshot: restore a little contrast inside, not on its edge
        alpha = product.getchannel("A")
        product = product.convert("RGB").filter(ImageFilter.UnsharpMask(radius=2, percent=60, threshold=2))
        product.putalpha(alpha)
    if method != "card":
        product = feather(product, 0.5 * res)  # half a screen pixel: a cut edge, not a stair
    if method == "card":
        product = _card(product, w, h)
    refl_h = int(h * 0.32) if reflection else 0
    shadow_h = max(4, int(w * 0.14))
    sprite = Image.new("RGBA", (w, h + max(refl_h, shadow_h // 2)), (0, 0, 0, 0))
    # 1. contact shadow: a soft dark ellipse where the product meets the floor
    sh = Image.new("RGBA", sprite.size, (0, 0, 0, 0))
    ImageDraw.Draw(sh).ellipse((w * 0.1, h - shadow_h / 2, w * 0.9, h + shadow_h / 2),
                               fill=shade(colours.ground, -0.7) + (150,))  # fmt: skip (blurred below)
    sprite.alpha_composite(sh.filter(ImageFilter.GaussianBlur(max(2, shadow_h / 3))))
    # 2. reflection: the product flipped, fading out
    if refl_h:
        flipped = product.transpose(Image.FLIP_TOP_BOTTOM).crop((0, 0, w, refl_h))
        fade = (np.linspace(0.22, 0.0, refl_h, dtype=np.float32)[:, None] * np.asarray(flipped)[..., 3]).astype(np.uint8)
        flipped.putalpha(Image.fromarray(fade))
        sprite.alpha_composite(flipped, (0, h))
    sprite.alpha_composite(product, (0, 0))
    total_h = sprite.height / res
    return Hero(padded(sprite), (px0, py0, px0 + pw, py0 + total_h), h / sprite.height, method,
                sweep_angle=rng.uniform(-0.7, -0.25))  # fmt: skip


def _card(product: Any, w: int, h: int) -> Any:
    """A photo that could not be cut out: rounded corners and a thin light border, like a print."""
    radius = int(min(w, h) * 0.05)
    card = product.convert("RGB")
    card.putalpha(smooth_mask((w, h), "rounded_rectangle", (0, 0, w, h), radius=radius))
    with antialiased(card) as draw:
        draw.rounded_rectangle((0, 0, w, h), radius=radius, outline=(255, 255, 255, 200),
                               width=max(2, int(min(w, h) * 0.012)))  # fmt: skip
    return card


def light_sweep(piece: Any, phase: float, angle: float, product_rows: int, strength: float = 0.55) -> Any:
    """A soft band of light crossing the product's pixels; `phase` 0..1 moves it from one corner to the
    other (screen blend, so highlights never clip to flat white). The band is computed on a grid a
    quarter the size and scaled up: it is smooth, and the full-size math cost more than the frame."""
    from PIL import Image, ImageChops

    w, h = piece.size
    rows = max(1, min(h, product_rows))
    gw, gh = max(2, w // 4), max(2, rows // 4)
    x = np.linspace(0, 1, gw, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, gh, dtype=np.float32)[:, None]
    u = x * math.cos(angle) - y * math.sin(angle)
    lo, hi = min(0.0, -math.sin(angle)), max(math.cos(angle), 0.0) + abs(math.sin(angle))
    u = (u - lo) / max(1e-6, hi - lo)
    centre = -0.25 + 1.5 * phase
    band = (255 * strength * np.exp(-(((u - centre) / 0.09) ** 2))).astype(np.uint8)
    light = Image.fromarray(band, "L").resize((w, rows), Image.BILINEAR)
    top = piece.crop((0, 0, w, rows))
    lit = ImageChops.screen(top.convert("RGB"), Image.merge("RGB", (light, light, light)))
    lit.putalpha(top.getchannel("A"))
    out = piece.copy()
    out.paste(lit, (0, 0))
    return out


# 5. The logo -------------------------------------------------------------------------------------


def logo_sprite(logo: Any, box: Box, ground: RGB, plate: RGB) -> Any:
    """The logo fitted into `box`; set on a rounded plate of `plate` when it would not read on `ground`."""
    from PIL import Image

    x0, y0, x1, y1 = box
    scale = min((x1 - x0) / logo.width, (y1 - y0) / logo.height)
    w, h = max(1, round(logo.width * scale)), max(1, round(logo.height * scale))
    img = logo.resize((w, h), Image.LANCZOS)
    arr = np.asarray(img).astype(np.float32)
    weight = arr[..., 3:4] / 255.0
    mean = tuple(int(v) for v in (arr[..., :3] * weight).sum((0, 1)) / max(1.0, float(weight.sum())))
    from generators.motion_look import contrast

    if contrast(mean, ground) >= 2.2:  # type: ignore[arg-type]
        return padded(img)
    pad = int(h * 0.25)
    out = Image.new("RGBA", (w + 2 * pad, h + 2 * pad), (0, 0, 0, 0))
    with antialiased(out) as draw:
        draw.rounded_rectangle((0, 0, out.width, out.height), radius=(h + 2 * pad) // 2, fill=plate + (235,))
    out.alpha_composite(img, (pad, pad))
    return padded(out)
