"""Kinetic typography: a caption set in a box and revealed line by line with motion.

Lines are laid out once with the project's text stack (`generators.text`: any script, right-to-left
runs, emoji, Unicode line breaks) and drawn as sprites; each frame then moves and masks them. The
reveal works on whole drawn lines, so it never splits a cluster or reorders a bidirectional line:
a line rises into place from behind its own baseline, wipes on in its reading direction, or pops
in, one line after another. An accent bar grows beside the block.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from generators.motion_look import RGB, Box, shade
from generators.text import bidi_levels, fit_text

STYLES = ("rise", "wipe", "pop")
MAX_LINES = 4
ENTER_S = 0.42  # one line's entrance
STAGGER_S = 0.11  # between lines
INK_ALPHA = 64  # a settled caption's pixels at or under this opacity (its shadow's soft edge) are not type


def ease_out(t: float) -> float:
    t = min(1.0, max(0.0, t))
    return 1 - (1 - t) ** 3


@dataclass
class Line:
    sprite: Any  # RGBA, tight around the line (with its soft shadow)
    x: float
    y: float
    rtl: bool


@dataclass
class Kinetic:
    """A laid-out caption and how it enters; `draw` puts it on a frame at a time in seconds."""

    lines: list[Line]
    style: str
    start_s: float
    bar: tuple[Box, RGB] | None
    missing: set[str]
    plate: tuple[Any, tuple[int, int]] | None = None  # a backing plate sprite and its position
    limit: Box | None = None  # the settled caption's drift never takes its type outside this box

    _block: tuple[Any, Box] | None = None
    _ink: Box | None = None  # the settled block's visible pixels (alpha over INK_ALPHA), on the frame

    @property
    def settled_s(self) -> float:
        """When every line, the bar and the plate are in place."""
        return self.start_s + max(ENTER_S * 1.4, (len(self.lines) - 1) * STAGGER_S + ENTER_S)

    def draw(self, frame: Any, t_s: float, drift: float = 0.0) -> None:
        """Draw the caption as it looks `t_s` seconds into the shot. Once settled, the block keeps
        moving: `drift` (fraction per second) grows it slowly about its centre and lifts it, drawn
        at sub-pixel positions, so a held caption never freezes the picture."""
        if t_s >= self.settled_s:
            self._settled(frame, (t_s - self.settled_s) * drift)
            return
        if self.plate is not None:
            p = ease_out((t_s - self.start_s + 0.1) / ENTER_S)
            if p > 0:
                _paste(frame, self.plate[0], self.plate[1], p)
        for i, line in enumerate(self.lines):
            p = ease_out((t_s - self.start_s - i * STAGGER_S) / ENTER_S)
            if p > 0:
                self._line(frame, line, p)
        if self.bar is not None:
            self._bar(frame, ease_out((t_s - self.start_s) / (ENTER_S * 1.4)))

    def moved(self, dx: int, dy: int) -> Kinetic:
        """The same caption drawn `dx`, `dy` whole pixels further right and down (onto a part of a frame)."""
        def box(b: Box) -> Box:
            return (b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy)

        lines = [Line(ln.sprite, ln.x + dx, ln.y + dy, ln.rtl) for ln in self.lines]
        bar = (box(self.bar[0]), self.bar[1]) if self.bar is not None else None
        plate = (self.plate[0], (self.plate[1][0] + dx, self.plate[1][1] + dy)) if self.plate is not None else None
        return replace(self, lines=lines, bar=bar, plate=plate, limit=box(self.limit) if self.limit else None,
                       _block=None, _ink=None)  # fmt: skip

    def reach(self, seconds: float, drift: float = 0.0) -> tuple[int, int, int, int]:
        """Every pixel the caption may touch up to `seconds` into the shot (its entrance and its settled
        drift, sprite padding included), as a whole-pixel box on the frame (it may leave the frame)."""
        from generators.motion_layers import PAD

        x0, y0, x1, y1 = self._bounds()
        grow = min(max(0.0, seconds - self.settled_s) * drift, self._max_grow())
        left, top = self._mapped(x0 - PAD, y0 - PAD, grow)
        right, bottom = self._mapped(x1 + PAD, y1 + PAD, grow)
        return (int(min(x0, left)) - PAD - 2, int(min(y0, top)) - PAD - 2,
                int(max(x1, right)) + PAD + 3, int(max(y1, bottom)) + PAD + 3)  # fmt: skip

    def _settled(self, frame: Any, grow: float) -> None:
        from generators.motion_layers import place

        place(frame, self.block(), self.settled_rect(grow))

    def block(self) -> Any:
        """The settled caption (plate, lines and bar in place) as one padded RGBA sprite, made once."""
        if self._block is None:
            self._block = self._compose((0, 0))
        return self._block[0]

    def settled_rect(self, grow: float) -> Box:
        """Where the settled block is drawn after growing by `grow` (capped by `limit`), about its centre
        and lifted by half its growth, in frame pixels (floats)."""
        self.block()
        assert self._block is not None
        x0, y0, x1, y1 = self._block[1]
        grow = min(grow, self._max_grow())
        s = 1.0 + grow
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - grow * (y1 - y0) * 0.5
        hw, hh = (x1 - x0) / 2 * s, (y1 - y0) / 2 * s
        return (cx - hw, cy - hh, cx + hw, cy + hh)

    def _bounds(self) -> tuple[int, int, int, int]:
        """The settled block's box on the frame: lines (with their shadow), plate and bar."""
        boxes = [(ln.x, ln.y, ln.x + ln.sprite.width, ln.y + ln.sprite.height) for ln in self.lines]
        if self.plate is not None:
            px, py = self.plate[1]
            boxes.append((px, py, px + self.plate[0].width, py + self.plate[0].height))
        if self.bar is not None:
            boxes.append(self.bar[0])
        x0, y0 = int(min(b[0] for b in boxes)), int(min(b[1] for b in boxes))
        return x0, y0, int(max(b[2] for b in boxes)) + 1, int(max(b[3] for b in boxes)) + 1

    def extent(self, seconds: float, drift: float = 0.0) -> Box:
        """Where the settled caption's type is seen, from the moment it settles to `seconds` (it grows and
        lifts with `drift`, never past `limit`): the union of its first and last boxes, in frame pixels."""
        grow = min(max(0.0, seconds - self.settled_s) * drift, self._max_grow())
        ix0, iy0, ix1, iy1 = self._ink_box()
        left, top = self._mapped(ix0, iy0, grow)
        right, _ = self._mapped(ix1, iy1, grow)
        return min(ix0, left), min(iy0, top), max(ix1, right), iy1  # the drift lifts: the bottom only rises

    def _mapped(self, x: float, y: float, grow: float) -> tuple[float, float]:
        """Where a point of the settled block is drawn after `grow` (scaled about the centre, lifted)."""
        x0, y0, x1, y1 = self._bounds()
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        return cx + (x - cx) * (1 + grow), cy - grow * (y1 - y0) * 0.5 + (y - cy) * (1 + grow)

    def _max_grow(self) -> float:
        """The most the settled block may grow before its type would leave `limit` (left, right, top;
        the lift never lowers the bottom)."""
        if self.limit is None:
            return float("inf")
        lx0, ly0, lx1, _ = self.limit
        x0, y0, x1, y1 = self._bounds()
        cx, cy, half_h = (x0 + x1) / 2, (y0 + y1) / 2, (y1 - y0) / 2
        ix0, iy0, ix1, _ = self._ink_box()
        caps = [(ix0 - lx0) / (cx - ix0) if cx > ix0 else float("inf"),
                (lx1 - ix1) / (ix1 - cx) if ix1 > cx else float("inf"),
                (iy0 - ly0) / (cy - iy0 + half_h) if cy - iy0 + half_h > 0 else float("inf")]  # fmt: skip
        return max(0.0, min(caps))

    def _ink_box(self) -> Box:
        """The settled block's visible pixels on the frame (its soft shadow's faint edge left out)."""
        if self._ink is None:
            block, (x0, y0, _, _) = self._block_image()
            bbox = block.getchannel("A").point(lambda a: 255 if a > INK_ALPHA else 0).getbbox()
            self._ink = (x0 + bbox[0], y0 + bbox[1], x0 + bbox[2], y0 + bbox[3]) if bbox else self._bounds()
        return self._ink

    def _compose(self, size: tuple[int, int]) -> tuple[Any, Box]:
        """Plate, lines and bar in place, as one padded sprite and its box on the frame."""
        from generators.motion_layers import padded

        block, box = self._block_image()
        return padded(block), box

    def _block_image(self) -> tuple[Any, Box]:
        """Plate, lines and bar in place, as one sprite, and its box on the frame."""
        from PIL import Image, ImageDraw

        x0, y0, x1, y1 = self._bounds()
        block = Image.new("RGBA", (x1 - x0, y1 - y0), (0, 0, 0, 0))
        if self.plate is not None:
            block.alpha_composite(self.plate[0], (self.plate[1][0] - x0, self.plate[1][1] - y0))
        for ln in self.lines:
            block.alpha_composite(ln.sprite, (int(ln.x) - x0, int(ln.y) - y0))
        if self.bar is not None:
            (bx0, by0, bx1, by1), colour = self.bar
            ImageDraw.Draw(block).rectangle((bx0 - x0, by0 - y0, bx1 - x0, by1 - y0), fill=colour + (255,))
        return block, (x0, y0, x1, y1)

    def _line(self, frame: Any, line: Line, p: float) -> None:
        from PIL import Image

        sprite = line.sprite
        w, h = sprite.size
        if self.style == "rise":  # up from behind the line's own baseline
            shift = int(round((1 - p) * h * 0.9))
            if shift >= h:
                return
            piece = sprite.crop((0, 0, w, h - shift))
            _paste(frame, piece, (int(line.x), int(line.y + shift)), min(1.0, p * 1.6))
        elif self.style == "wipe":  # a soft edge crossing in the reading direction
            soft = max(1.0, h * 0.6)
            edge = p * (w + soft)
            ramp = np.clip((edge - np.arange(w, dtype=np.float32)) / soft, 0, 1)
            if line.rtl:
                ramp = ramp[::-1]
            alpha = (np.asarray(sprite.getchannel("A"), np.float32) * ramp[None, :]).astype(np.uint8)
            piece = sprite.copy()
            piece.putalpha(Image.fromarray(alpha))
            _paste(frame, piece, (int(line.x), int(line.y)), 1.0)
        else:  # pop: scale up from 85% with a fade
            s = 0.85 + 0.15 * p
            sw, sh = max(1, int(w * s)), max(1, int(h * s))
            piece = sprite.resize((sw, sh), Image.BILINEAR) if s < 0.999 else sprite
            _paste(frame, piece, (int(line.x + (w - sw) / 2), int(line.y + (h - sh) / 2)), p)

    def _bar(self, frame: Any, p: float) -> None:
        from PIL import ImageDraw

        if p <= 0 or self.bar is None:
            return
        (x0, y0, x1, y1), colour = self.bar
        ImageDraw.Draw(frame).rectangle((x0, y0, x0 + (x1 - x0) * p, y1), fill=colour)


def _paste(frame: Any, piece: Any, at: tuple[int, int], opacity: float) -> None:
    alpha = piece.getchannel("A")
    if opacity < 0.996:
        alpha = alpha.point(lambda v: int(v * opacity))
    frame.paste(piece.convert("RGB"), at, alpha)


def set_caption(text: str, box: Box, align: str, size: float, ink: RGB, accent: RGB, style: str,
                font: Path | None = None, lang: str | None = None, start_s: float = 0.12,
                anchor: float = 0.5, plate: RGB | None = None, limit: Box | None = None) -> Kinetic | None:  # fmt: skip
    """Lay `text` out in `box` (shrinking to fit MAX_LINES) to enter in `style` (one of STYLES); None for no text.
    The same arguments give the same Kinetic, kept per process: treat it as read-only."""
    from generators.media import file_stamp

    def held(v: Any) -> Any:
        return None if v is None else tuple(v)

    return _set_caption(text, held(box), align, float(size), held(ink), held(accent), style, font, lang,
                        float(start_s), float(anchor), held(plate), held(limit), file_stamp(font))  # fmt: skip


@functools.lru_cache(maxsize=64)
def _set_caption(text: str, box: Box, align: str, size: float, ink: RGB, accent: RGB, style: str,
                 font: Path | None, lang: str | None, start_s: float, anchor: float, plate: RGB | None,
                 limit: Box | None, font_stamp: tuple | None) -> Kinetic | None:  # fmt: skip
    # a shot's caption is set for its chunks' keys, its frames and its ad checks: laid out and drawn once
    text = " ".join(text.split())
    if not text:
        return None
    x0, y0, x1, y1 = box
    if align == "left" and bidi_levels(text)[1] == 1:
        align = "right"  # right-to-left copy sets flush right
    # Everything the caption draws stays in its box: the lines, the accent bar (below centred type, above
    # flush type) and a plate's margin; too tall at the width's size, the type shrinks (to half at most).
    fitted, last = size, None
    while True:
        stack, lines = fit_text(text, x1 - x0, MAX_LINES, fitted, size * 0.5, True, font, lang)
        lines = lines[:MAX_LINES]
        ascent, descent = stack.getmetrics(text)
        line_h = int((ascent + descent) * 1.08)
        block_h = line_h * len(lines)
        above, below = _margins(align, size, line_h, plate is not None)  # bar and plate keep the asked size
        if block_h + above + below <= y1 - y0 or stack.size <= size * 0.5 or stack.size == last:
            break  # it fits, or it is as small as it may get (half the size, or the smallest type there is)
        last, fitted = stack.size, max(size * 0.5, stack.size * 0.93)
    top = y0 + above + max(0.0, (y1 - y0 - block_h - above - below) * anchor)
    shadow = shade(ink, -0.85) if sum(ink) > 380 else shade(ink, 0.85)
    out: list[Line] = []
    for i, line in enumerate(lines):
        sprite = _line_sprite(stack, line, ink, shadow, ascent, line_h)
        lw = stack.getlength(line)
        x = {"left": x0, "right": x1 - lw, "center": (x0 + x1 - lw) / 2}[align] - sprite.pad
        out.append(Line(sprite.img, x, top + i * line_h - sprite.pad, bidi_levels(line)[1] == 1))
    bar = _bar_box(out, align, box, top, block_h, size, line_h, accent)
    backing = _plate(out, plate, size) if plate is not None else None
    return Kinetic(out, style, start_s, bar, set(stack.missing), backing, limit)


def _margins(align: str, size: float, line_h: int, plate: bool) -> tuple[float, float]:
    """How far the bar (`_bar_box`) and a plate (`_plate`) reach above and below the lines' block."""
    bar = _bar_gap(line_h) + _bar_thickness(size)
    pad = _plate_pad(size) + _sprite_pad(line_h) if plate else 0.0  # the plate is padded past the lines' sprites
    return (max(pad, 0.0 if align == "center" else bar), max(pad, bar if align == "center" else 0.0))


def _bar_gap(line_h: int) -> float:
    return line_h * 0.18


def _bar_thickness(size: float) -> float:
    return max(3.0, size * 0.09)


def _plate_pad(size: float) -> int:
    return int(size * 0.45)


def _sprite_pad(line_h: int) -> int:
    """A line sprite's clear margin round the line (room for its shadow)."""
    return max(2, line_h // 8)


def _plate(lines: list[Line], colour: RGB, size: float) -> tuple[Any, tuple[int, int]]:
    """A rounded, slightly translucent plate behind the lines (type over a busy picture stays legible)."""
    from PIL import Image, ImageDraw

    pad = _plate_pad(size)
    x0 = min(ln.x for ln in lines) - pad
    y0 = min(ln.y for ln in lines) - pad
    x1 = max(ln.x + ln.sprite.width for ln in lines) + pad
    y1 = max(ln.y + ln.sprite.height for ln in lines) + pad
    img = Image.new("RGBA", (int(x1 - x0), int(y1 - y0)), (0, 0, 0, 0))
    ImageDraw.Draw(img).rounded_rectangle((0, 0, img.width - 1, img.height - 1), radius=int(size * 0.4),
                                          fill=colour + (215,))  # fmt: skip
    return img, (int(x0), int(y0))


@dataclass
class _Sprite:
    img: Any
    pad: int


def _line_sprite(stack: Any, line: str, ink: RGB, shadow: RGB, ascent: int, line_h: int) -> _Sprite:
    """One line drawn with a soft shadow under it (legible on any backdrop)."""
    from PIL import Image, ImageFilter

    pad = _sprite_pad(line_h)
    w = int(stack.getlength(line)) + 2 * pad + 2
    h = line_h + 2 * pad
    glyphs = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    stack.draw(glyphs, (pad, pad), line, ink + (255,), ascent=ascent)
    soft = Image.new("RGBA", (w, h), shadow + (0,))
    soft.putalpha(glyphs.getchannel("A").point(lambda v: int(v * 0.45)).filter(ImageFilter.GaussianBlur(pad * 0.6)))
    out = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    out.alpha_composite(soft, (0, max(1, pad // 3)))
    out.alpha_composite(glyphs)
    return _Sprite(out, pad)


def _bar_box(lines: list[Line], align: str, box: Box, top: float, block_h: float, size: float,
             line_h: int, accent: RGB) -> tuple[Box, RGB] | None:  # fmt: skip
    if not lines:
        return None
    thick = _bar_thickness(size)
    length = min(box[2] - box[0], size * 2.2)
    gap = _bar_gap(line_h)
    if align == "center":
        x0 = (box[0] + box[2] - length) / 2
        y0 = top + block_h + gap
    else:
        x0 = box[0] if align == "left" else box[2] - length
        y0 = top - gap - thick
    return (x0, y0, x0 + length, y0 + thick), accent
