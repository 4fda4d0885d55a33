"""On-screen graphics for a cut: captions in the title-safe area, the end card, and the .srt file.

Graphics are drawn once per cut with PIL as RGBA and converted to premultiplied YUV 4:2:0 planes
(through swscale, the same conversion the frames take), so placing them on a frame is an integer
blend over a small region of the frame buffer.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.assembly.formats import TEXT_ZONES
from generators.text import FontStack, break_lines, fit_text, join_lines, sentences

# Title-safe boxes as (left, top, right, bottom) margins, fractions of width/height. Vertical
# cuts keep captions above the bottom sixth, where social apps draw their own buttons and text.
# Caption and end-card margins: a little more than each format's text zone asks at the bottom of the
# feed formats (their players' controls), and never less than the zone (TEXT_ZONES: 9:16 keeps the
# bottom 35% and top 14% free of text, as Meta's Reels safe zone asks).
_DESIGN_MARGINS = {
    "16:9": (0.05, 0.05, 0.05, 0.05),
    "1:1": (0.05, 0.05, 0.05, 0.07),
    "4:5": (0.05, 0.05, 0.05, 0.08),
    "9:16": (0.06, 0.08, 0.06, 0.17),
}
SAFE_MARGINS = {ratio: tuple(max(a, b) for a, b in zip(margins, TEXT_ZONES[ratio][0], strict=True))
                for ratio, margins in _DESIGN_MARGINS.items()}  # fmt: skip
MIN_FONT_PX = 9
CAPTION_LINES = 3
# Caption text size as a fraction of the frame's short side: where it starts, and the smallest it
# shrinks to before a caption is split into pages.
CAPTION_SIZE, CAPTION_FLOOR = 0.052, 0.036


def safe_box(aspect_ratio: str, width: int, height: int) -> tuple[int, int, int, int]:
    """The title-safe box (x0, y0, x1, y1) in pixels for a format."""
    left, top, right, bottom = SAFE_MARGINS.get(aspect_ratio, SAFE_MARGINS["16:9"])
    return (round(width * left), round(height * top), round(width * (1 - right)), round(height * (1 - bottom)))


def load_font(size: float, bold: bool = True, path: Path | None = None, lang: str | None = None) -> FontStack:
    """Text at `size` px: the brand font when given (and readable), then the system's fonts per glyph."""
    return FontStack(max(MIN_FONT_PX, size), bold, path, lang)


def wrap(text: str, font: FontStack, max_width: float) -> list[str]:
    """Lines no wider than `max_width`, broken where Unicode's line-breaking rules (UAX #14) allow."""
    return break_lines(text, font, max_width)


def hex_rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def ink_for(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """Near-black or near-white, whichever reads better on `rgb`."""
    return (20, 20, 20) if (0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]) > 140 else (250, 250, 250)


# 1. Overlays in YUV 4:2:0 ------------------------------------------------------------------------

# Alpha 0..255 as 0..256 (rounded), so a blend divides by 256, a shift.
ALPHA_256 = ((np.arange(256, dtype=np.uint32) * 256 + 127) // 255).astype(np.uint16)


@dataclass
class Overlay:
    """A premultiplied graphic for yuv420p frames at an even position."""

    x: int
    y: int
    y_pm: np.ndarray  # (h, w) uint16: Y * alpha
    uv_pm: np.ndarray  # (2, h/2, w/2) uint16: U, V * alpha
    inv_a: np.ndarray  # (h, w) uint16: 256 - alpha
    inv_a2: np.ndarray  # (h/2, w/2) uint16

    @classmethod
    def from_rgba(cls, rgba: np.ndarray, x: int, y: int) -> Overlay:
        """Convert an RGBA image (even size) with swscale, so colours match the frames' conversion."""
        luma, u, v = yuv444_planes(rgba)
        a = ALPHA_256[rgba[..., 3]]
        a2, uv = quarter_mean(a), np.stack([quarter_mean(p.astype(np.uint16)) for p in (u, v)])
        return cls(x, y, luma * a, uv * a2, 256 - a, 256 - a2)

    @classmethod
    def from_premultiplied(cls, rgba: np.ndarray, x: int, y: int) -> Overlay:
        """From a premultiplied RGBA image (even size): swscale is affine, so converting premultiplied colour
        gives (Y - 16) * alpha, (U - 128) * alpha directly; no division back to straight colour.

        Luma in uint16 throughout: swscale's limited range puts Y in 16..235, so (Y - 16) * 256 + 16 * alpha
        is 0..60160 (the floor at 16 keeps a Y below it, were there one, from wrapping). Chroma, whose sum
        can dip below zero where rounding meets a faint edge, in int32 at quarter size."""
        luma, u, v = yuv444_planes(rgba)
        a = ALPHA_256[rgba[..., 3]]
        a2 = quarter_mean(a)
        y_pm = np.maximum(luma, 16).astype(np.uint16)
        y_pm -= 16
        y_pm <<= 8
        y_pm += a << 4
        uv = np.stack([quarter_mean(p.astype(np.int32)) for p in (u, v)])
        uv_pm = np.clip((uv - 128) * 256 + 128 * a2, 0, 65535).astype(np.uint16)
        return cls(x, y, y_pm, uv_pm, 256 - a, 256 - a2)

    def blend(self, frame: np.ndarray, width: int, height: int) -> None:
        """Blend onto a yuv420p frame buffer (H*3/2, W) in place."""
        h, w = self.y_pm.shape
        luma = frame[:height]
        region = luma[self.y : self.y + h, self.x : self.x + w]
        region[:] = (region * self.inv_a + self.y_pm) >> 8
        cw, ch = width // 2, height // 2
        chroma = frame[height:].reshape(2, ch, cw)
        cy, cx = self.y // 2, self.x // 2
        region = chroma[:, cy : cy + h // 2, cx : cx + w // 2]
        region[:] = (region * self.inv_a2 + self.uv_pm) >> 8


def yuv444_planes(rgba: np.ndarray) -> list[np.ndarray]:
    """The Y, U and V planes (each (h, w) uint8) of an RGBA image's colour, through swscale like every frame.

    Read from the converted frame's own planes: PyAV's (3, h, w) array of yuv444p is a strided view of
    interleaved pixels, on which every later pass is several times slower. Converting "rgba" gives the
    colours "rgb24" gives (tests/test_colour_path.py), without first copying the colour out of the RGBA."""
    import av

    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba), format="rgba").reformat(format="yuv444p")
    return [np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width] for p in frame.planes]


def quarter_mean(plane: np.ndarray) -> np.ndarray:
    """Each 2x2 block's mean, rounded down (the last two axes halved), in the plane's integer type."""
    total = plane[..., 0::2, 0::2] + plane[..., 1::2, 0::2] + plane[..., 0::2, 1::2] + plane[..., 1::2, 1::2]
    return total >> 2


def to_yuv420(rgb: np.ndarray) -> np.ndarray:
    """An RGB image as a yuv420p buffer (H*3/2, W), through swscale like every frame."""
    import av

    return av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format="yuv420p").to_ndarray()


# 2. Captions ----------------------------------------------------------------------------------


@dataclass
class CaptionLayout:
    """A caption laid out for one format: its text size and its pages (each at most CAPTION_LINES lines)."""

    font: FontStack
    pages: list[list[str]]

    @property
    def missing(self) -> set[str]:
        """Characters no installed font covers (drawn as boxes)."""
        return self.font.missing


def layout_caption(text: str, aspect_ratio: str, width: int, height: int, font_path: Path | None = None,
                   lang: str | None = None) -> CaptionLayout:
    """Shrink the caption to the floor size to fit CAPTION_LINES lines; past that, split it into pages."""
    x0, _, x1, _ = safe_box(aspect_ratio, width, height)
    unit = min(width, height)
    size, floor = max(MIN_FONT_PX, CAPTION_SIZE * unit), max(MIN_FONT_PX, CAPTION_FLOOR * unit)
    font, lines = fit_text(text, (x1 - x0) * 0.92, CAPTION_LINES, size, floor, True, font_path, lang)
    if len(lines) <= CAPTION_LINES:
        return CaptionLayout(font, [lines])
    return CaptionLayout(font, paginate(text, font, (x1 - x0) * 0.92))


def paginate(text: str, font: FontStack, max_w: float) -> list[list[str]]:
    """Pages of at most CAPTION_LINES lines, ending at sentence ends where a sentence fits on a page."""
    pages: list[list[str]] = []
    current = ""
    for sentence in sentences(text):
        trial = join_lines([current, sentence]) if current else sentence
        if len(break_lines(trial, font, max_w)) <= CAPTION_LINES:
            current = trial
            continue
        if current:
            pages.append(break_lines(current, font, max_w))
        lines = break_lines(sentence, font, max_w)
        if len(lines) <= CAPTION_LINES:
            current = sentence
            continue
        count = -(-len(lines) // CAPTION_LINES)
        per = -(-len(lines) // count)  # balanced: 4 lines are 2 + 2, not 3 + 1
        pages += [lines[i : i + per] for i in range(0, len(lines), per)]
        current = ""
    if current:
        pages.append(break_lines(current, font, max_w))
    return pages


def caption_overlay(text: str | list[str], aspect_ratio: str, width: int, height: int, font_path: Path | None = None,
                    lang: str | None = None, font: FontStack | None = None) -> Overlay | None:
    """A caption (a string, or lines already laid out) on a translucent box at the bottom of the safe box."""
    from PIL import Image, ImageDraw

    if isinstance(text, str):
        if not text.strip():
            return None
        layout = layout_caption(text, aspect_ratio, width, height, font_path, lang)
        text, font = layout.pages[0], layout.font
    lines = [ln for ln in text if ln.strip()]
    if not lines or font is None:
        return None
    x0, y0, x1, y1 = safe_box(aspect_ratio, width, height)
    ascent, descent = font.getmetrics("".join(lines))
    line_h, pad = ascent + descent, max(2, int(font.size * 0.35))
    box_w = int(max(font.getlength(line) for line in lines)) + 2 * pad
    box_h = line_h * len(lines) + 2 * pad
    box_w, box_h = min(box_w + box_w % 2, (x1 - x0) // 2 * 2), box_h + box_h % 2
    img = Image.new("RGBA", (box_w, box_h), (0, 0, 0, 0))
    ImageDraw.Draw(img).rounded_rectangle((0, 0, box_w - 1, box_h - 1), radius=pad, fill=(0, 0, 0, 150))
    shadow = max(1, font.size // 18)
    for i, line in enumerate(lines):
        lx = (box_w - font.getlength(line)) / 2
        font.draw(img, (lx + shadow, pad + i * line_h + shadow), line, (0, 0, 0, 230), ascent, color_glyphs=False)
        font.draw(img, (lx, pad + i * line_h), line, (255, 255, 255, 255), ascent)
    x = ((x0 + x1 - box_w) // 2) // 2 * 2
    y = max(y0, y1 - box_h) // 2 * 2
    return Overlay.from_rgba(np.asarray(img), x, y)


def ellipsize(text: str, font: FontStack, max_w: float) -> str:
    """`text` cut (by grapheme clusters) with an ellipsis so it fits `max_w`."""
    from generators.text import clusters

    if font.getlength(text) <= max_w:
        return text
    parts = clusters(text)
    while parts and font.getlength("".join(parts) + "…") > max_w:
        parts.pop()
    return "".join(parts).rstrip() + "…"


# 3. End card ----------------------------------------------------------------------------------


def end_card_image(brand: str, headline: str, call_to_action: str, palette: list[str], aspect_ratio: str,
                   width: int, height: int, logo: Path | None = None, font_path: Path | None = None,
                   lang: str | None = None, label: str = "AI-generated", notes: list[str] | None = None,
                   missing: set[str] | None = None) -> np.ndarray:
    """The closing frame as RGB (read-only: the same arguments give the same frame, kept per process, since
    a cut's assembly and its ad checks both draw it): palette gradient, logo, brand name, headline, a CTA
    button, then the on-screen notes (a disclaimer, a legal line) and the AI disclosure `label` in small type."""
    from generators.media import file_stamp

    rgb, lacking = _end_card(brand, headline, call_to_action, tuple(palette), aspect_ratio, width, height, logo,
                             font_path, lang, label, tuple(notes or ()), file_stamp(logo), file_stamp(font_path),
                             safe_box(aspect_ratio, width, height))  # fmt: skip
    if missing is not None:
        missing.update(lacking)
    return rgb


@functools.lru_cache(maxsize=16)
def _end_card(brand: str, headline: str, call_to_action: str, palette: tuple[str, ...], aspect_ratio: str,
              width: int, height: int, logo: Path | None, font_path: Path | None, lang: str | None, label: str,
              notes: tuple[str, ...], logo_stamp: tuple | None, font_stamp: tuple | None,
              box: tuple) -> tuple[np.ndarray, frozenset]:  # fmt: skip
    from PIL import Image

    bg = hex_rgb(palette[0]) if palette else (17, 17, 17)
    accent = hex_rgb(palette[1]) if len(palette) > 1 else ink_for(bg)
    img = Image.fromarray(_gradient(bg, width, height))
    x0, y0, x1, y1 = safe_box(aspect_ratio, width, height)
    unit, max_w = min(width, height), (x1 - x0) * 0.9
    ink = ink_for(bg)
    fonts: list[FontStack] = []
    blocks = []  # (kind, content, font, height)
    logo_img = _load_logo(logo, int(unit * 0.22), int(max_w))
    if logo_img is not None:
        blocks.append(("logo", logo_img, None, logo_img.height))
    # The logo is the brand's name when there is one (a wordmark twice reads as a mistake); the headline
    # repeats nothing: a plan whose headline is the brand name shows it once.
    texts: tuple[tuple[str, float, bool], ...] = () if logo_img is not None else ((brand, 0.11, True),)
    texts += ((headline, 0.055, False),) if headline.strip() != brand.strip() or logo_img is not None else ()
    for text, rel, bold in texts:
        font, lines = fit_text(text, max_w, 2, unit * rel, max(MIN_FONT_PX, unit * rel * 0.6), bold,
                               font_path if bold else None, lang)
        fonts.append(font)
        lines = lines[:1] + [ellipsize(" ".join(lines[1:]), font, max_w)] if len(lines) > 2 else lines
        blocks += [("text", line, font, sum(font.getmetrics(text))) for line in lines]
    cta_font, cta_lines = fit_text(call_to_action, max_w * 0.9, 1, unit * 0.055, max(MIN_FONT_PX, unit * 0.04),
                                   True, font_path, lang)
    fonts.append(cta_font)
    cta_line = ellipsize(call_to_action, cta_font, max_w * 0.9) if len(cta_lines) > 1 else call_to_action
    blocks.append(("cta", cta_line, cta_font, int(sum(cta_font.getmetrics(cta_line)) * 1.8)))
    gap = int(unit * 0.03)
    small = load_font(max(MIN_FONT_PX, unit * 0.026), False, None, lang)
    fonts.append(small)
    note_lines = [ln for note in notes or [] for ln in break_lines(note, small, max_w)]
    note_h = len(note_lines) * sum(small.getmetrics(" ".join(note_lines)))
    y = (y0 + y1 - note_h - sum(b[3] for b in blocks) - gap * (len(blocks) - 1)) // 2
    for kind, content, font, h in blocks:
        if kind == "logo":
            img.paste(content, ((width - content.width) // 2, y), content)
        elif kind == "text":
            font.draw(img, ((width - font.getlength(content)) / 2, y), content, ink)
        else:
            _cta_button(img, content, font, accent, width, y, h)
        y += h + gap
    for line in note_lines:
        small.draw(img, ((width - small.getlength(line)) / 2, y), line, ink)
        y += sum(small.getmetrics(line))
    tag = load_font(max(MIN_FONT_PX, unit * 0.022), False, None, lang)
    fonts.append(tag)
    tag.draw(img, (x1 - tag.getlength(label), y1 - sum(tag.getmetrics(label))), label, ink)
    rgb = np.asarray(img.convert("RGB"))
    rgb.flags.writeable = False
    return rgb, frozenset().union(*(f.missing for f in fonts))


def _gradient(colour: tuple[int, int, int], width: int, height: int) -> np.ndarray:
    top = np.array(colour, np.float32)
    bottom = top * 0.6  # the same hue, darker: keeps the card on-palette
    ramp = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    return np.broadcast_to(top * (1 - ramp) + bottom * ramp, (height, width, 3)).astype(np.uint8)


def _cta_button(img: Any, text: str, font: FontStack, accent: tuple[int, int, int], width: int, y: int, h: int) -> None:
    from PIL import ImageDraw

    tw = font.getlength(text)
    pad_x = h * 0.6
    ImageDraw.Draw(img).rounded_rectangle(((width - tw) / 2 - pad_x, y, (width + tw) / 2 + pad_x, y + h),
                                          radius=h // 2, fill=accent)
    text_h = sum(font.getmetrics(text))
    font.draw(img, ((width - tw) / 2, y + (h - text_h) / 2), text, ink_for(accent))


def _load_logo(logo: Path | None, max_h: int, max_w: int) -> Any:
    from PIL import Image

    if logo is None or not Path(logo).is_file():
        return None
    img = Image.open(logo).convert("RGBA")
    scale = min(max_h / img.height, max_w / img.width)
    return img.resize((max(1, int(img.width * scale)), max(1, int(img.height * scale))), Image.LANCZOS)


# 4. Subtitles ---------------------------------------------------------------------------------


def srt_time(frame: int, fps: int) -> str:
    """A frame boundary as an SRT timestamp HH:MM:SS,mmm (rounded to the millisecond)."""
    ms = round(frame * 1000 / fps)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def write_srt(path: Path, cues: list[tuple[int, int, str]], fps: int) -> None:
    """Write cues (start frame, end frame, text) as SubRip, numbered from 1."""
    blocks = [f"{i}\n{srt_time(a, fps)} --> {srt_time(b, fps)}\n{text.strip()}\n"
              for i, (a, b, text) in enumerate((c for c in cues if c[2].strip()), start=1)]
    path.write_text("\n".join(blocks), encoding="utf-8")
