"""Text on images in any script: per-glyph font fallback, bidirectional runs, Unicode line breaks.

A `FontStack` draws a string with the brand font first, then the system's sans-serif, then faces
found for the characters neither covers (`generators.fonts`). Each line is cut into runs of one
direction and one face: directions come from the Unicode Bidirectional Algorithm (the implicit
rules, UAX #9 W1-W7, N1-N2, I1-I2, L2; briefs carry no explicit embedding controls), each run is
shaped by Pillow's raqm layout (Arabic joining, Indic reordering, mark placement) and runs are
placed on a shared baseline. Colour emoji from a bitmap font are drawn at the font's native strike
and scaled. Lines break where UAX #14 allows (uniseg), grapheme clusters stay whole, and sentences
split by UAX #29 (so `。！？` and `।` end sentences too).
"""

from __future__ import annotations

import functools
import math
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generators.fonts import Face, default_face, fallback_face, is_emoji, needs_glyph, read_face

MIN_SIZE = 6
STRONG_RTL = ("R", "AL")


@functools.lru_cache(maxsize=1)
def raqm() -> bool:
    """Whether Pillow lays text out with raqm (shaping and direction); else runs are drawn unshaped."""
    from PIL import features

    return bool(features.check("raqm"))


@functools.lru_cache(maxsize=256)
def pil_font(path: str, index: int, size: int, thread: int) -> Any:
    # Cached per thread: one FreeType face must not draw in two threads at once (cuts run in parallel).
    from PIL import ImageFont

    engine = ImageFont.Layout.RAQM if raqm() else ImageFont.Layout.BASIC
    return ImageFont.truetype(path, size, index=index, layout_engine=engine)


def clusters(text: str) -> list[str]:
    """Grapheme clusters (a letter with its marks, an emoji ZWJ sequence, a flag)."""
    return list(_clusters(text))


@functools.lru_cache(maxsize=4096)
def _clusters(text: str) -> tuple[str, ...]:
    from uniseg.graphemecluster import grapheme_clusters

    return tuple(grapheme_clusters(text))


def sentences(text: str) -> list[str]:
    """Sentences by UAX #29 in any script, stripped; text without sentence ends is one sentence."""
    from uniseg.sentencebreak import sentences as split

    return [s.strip() for s in split(text) if s.strip()]


def break_units(text: str) -> list[str]:
    """Pieces between UAX #14 line-break opportunities (each keeps its trailing spaces)."""
    return list(_break_units(text))


@functools.lru_cache(maxsize=4096)
def _break_units(text: str) -> tuple[str, ...]:
    # uniseg's breaker is pure Python, and a caption is broken again at every size fit_text tries and by every
    # part of a cut that lays it out (assembly, the type layer, the ad checks)
    from uniseg.linebreak import line_break_units

    return tuple(line_break_units(text))


# Scripts written without spaces between words (code point ranges).
SPACELESS_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3000, 0x30FF),  # CJK punctuation, Hiragana, Katakana
    (0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF),
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x20000, 0x3134F),
)


def spaceless(ch: str) -> bool:
    """Whether a character belongs to a script written without spaces between words."""
    if not ch:
        return False
    cp = ord(ch[0])
    return any(lo <= cp <= hi for lo, hi in SPACELESS_RANGES)


def join_lines(lines: list[str]) -> str:
    """Lines back into running text: a space between words, none between characters of CJK or Thai."""
    out = ""
    for line in lines:
        glue = "" if not out or spaceless(out[-1]) or spaceless(line[:1]) else " "
        out += glue + line
    return out


# 1. Bidirectional runs ----------------------------------------------------------------------


def bidi_levels(text: str) -> tuple[list[int], int]:
    """Embedding level per character and the paragraph level (implicit rules of UAX #9)."""
    types = [unicodedata.bidirectional(c) or "L" for c in text]
    base = next((1 if t in STRONG_RTL else 0 for t in types if t in ("L", "R", "AL")), 0)
    prev, last_strong = ("R" if base else "L"), ("R" if base else "L")
    for i, t in enumerate(types):  # W1-W3: marks follow, numbers after Arabic letters are Arabic numbers
        if t == "NSM":
            t = prev
        if t == "EN" and last_strong == "AL":
            t = "AN"
        if t in ("L", "R", "AL"):
            last_strong = t
        types[i] = prev = "R" if t == "AL" else t
    for i in range(1, len(types) - 1):  # W4: one separator between two numbers of a kind joins them
        if types[i] in ("ES", "CS") and types[i - 1] == types[i + 1] == "EN":
            types[i] = "EN"
        elif types[i] == "CS" and types[i - 1] == types[i + 1] == "AN":
            types[i] = "AN"
    _terminators_join_numbers(types)  # W5
    types = [("ON" if t in ("ES", "ET", "CS") else t) for t in types]  # W6
    strong = "R" if base else "L"
    for i, t in enumerate(types):  # W7: European numbers after a left-to-right letter are left-to-right
        if t in ("L", "R"):
            strong = t
        elif t == "EN" and strong == "L":
            types[i] = "L"
    _resolve_neutrals(types, base)
    return [_implicit_level(t, base) for t in types], base


def _terminators_join_numbers(types: list[str]) -> None:
    i = 0
    while i < len(types):
        if types[i] != "ET":
            i += 1
            continue
        j = i
        while j < len(types) and types[j] == "ET":
            j += 1
        if (i > 0 and types[i - 1] == "EN") or (j < len(types) and types[j] == "EN"):
            types[i:j] = ["EN"] * (j - i)
        i = j


def _resolve_neutrals(types: list[str], base: int) -> None:
    """N1-N2: a neutral run between two strong sides of one direction takes it, else the paragraph's."""
    def side(t: str) -> str | None:
        return "L" if t == "L" else ("R" if t in ("R", "EN", "AN") else None)

    i, sos = 0, "R" if base else "L"
    while i < len(types):
        if side(types[i]) is not None:
            i += 1
            continue
        j = i
        while j < len(types) and side(types[j]) is None:
            j += 1
        before = side(types[i - 1]) if i > 0 else sos
        after = side(types[j]) if j < len(types) else sos
        types[i:j] = [before if before == after else ("R" if base else "L")] * (j - i)
        i = j


def _implicit_level(t: str, base: int) -> int:
    if base % 2 == 0:
        return base + (1 if t == "R" else 2 if t in ("AN", "EN") else 0)
    return base + (1 if t in ("L", "EN", "AN") else 0)


def visual_runs(items: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Runs (text, level) in logical order -> display order (rule L2 over whole runs)."""
    runs = list(items)
    if not runs:
        return runs
    top, low = max(r[1] for r in runs), min(r[1] for r in runs)
    for level in range(top, (low if low % 2 else low + 1) - 1, -1):
        i = 0
        while i < len(runs):
            if runs[i][1] < level:
                i += 1
                continue
            j = i
            while j < len(runs) and runs[j][1] >= level:
                j += 1
            runs[i:j] = runs[i:j][::-1]
            i = j
    return runs


# 2. Faces and runs ---------------------------------------------------------------------------


@dataclass
class Run:
    """A piece of a line drawn in one face and one direction."""

    text: str
    face: Face
    rtl: bool


class FontStack:
    """One text size with per-glyph fallback: brand font, the system sans-serif, then covering faces.

    Clusters no installed font covers are drawn with the first face (a box) and collected in
    `missing`, so the caller can warn.
    """

    def __init__(self, size: float, bold: bool = True, brand: Path | None = None, lang: str | None = None) -> None:
        self.size = max(MIN_SIZE, int(size))
        self.bold, self.lang = bold, lang
        self.primary = [f for f in (_brand_face(brand), default_face(bold)) if f is not None]
        if not self.primary:
            raise OSError("no font found on this machine (install fonts, e.g. apt-get install fonts-dejavu-core)")
        self.missing: set[str] = set()
        self._face: dict[str, Face] = {}

    # Which face draws each cluster --------------------------------------------------------
    def prepare(self, text: str) -> None:
        """Choose faces for every cluster in `text`, asking for fallbacks in a few batched look-ups."""
        todo = [c for c in dict.fromkeys(clusters(text)) if c not in self._face]
        for cluster in todo:
            chars = _glyphs(cluster)
            face = None if is_emoji(cluster) else next((f for f in self.primary if _covers(f, chars)), self.primary[0])
            if not chars or (face is not None and _covers(face, chars)):
                self._face[cluster] = face or self.primary[0]
        for emoji in (True, False):
            self._fallbacks([c for c in todo if c not in self._face and is_emoji(c) == emoji], emoji)
        for cluster in todo:
            if cluster not in self._face:
                if is_emoji(cluster) and _covers(self.primary[0], _glyphs(cluster)):
                    self._face[cluster] = self.primary[0]  # a monochrome emoji beats a box
                    continue
                self.missing.add(cluster)
                self._face[cluster] = self.primary[0]

    def _fallbacks(self, left: list[str], emoji: bool) -> None:
        for _ in range(8):  # each look-up covers at least one more cluster, or we stop
            if not left:
                return
            chars = "".join(dict.fromkeys(c for cl in left for c in cl if needs_glyph(c)))
            face = fallback_face(chars, self.bold, self.lang, emoji)
            covered = [cl for cl in left if face and _covers(face, _glyphs(cl))]
            if not covered:
                return
            for cl in covered:
                self._face[cl] = face
            left = [cl for cl in left if cl not in covered]

    def runs(self, line: str) -> list[Run]:
        """The line as runs of one face and direction, in display order."""
        if self._plain(line):
            return [Run(line, self.primary[0], False)] if line else []  # the common case, without the machinery
        self.prepare(line)
        levels, _ = bidi_levels(line)
        pieces: list[tuple[str, int]] = []
        pos = 0
        for cl in clusters(line):
            level = levels[pos]
            pos += len(cl)
            if pieces and pieces[-1][1] == level:
                pieces[-1] = (pieces[-1][0] + cl, level)
            else:
                pieces.append((cl, level))
        out: list[Run] = []
        for text, level in visual_runs(pieces):
            sub = self._split_by_face(text, level % 2 == 1)
            out += sub[::-1] if level % 2 else sub
        return out

    def _plain(self, text: str) -> bool:
        """ASCII the first face covers: one left-to-right run, no lookups."""
        return text.isascii() and _covers(self.primary[0], {ord(c) for c in text if c.isprintable()})

    def _split_by_face(self, text: str, rtl: bool) -> list[Run]:
        runs: list[Run] = []
        for cl in clusters(text):
            face = self._face[cl]
            if runs and face != runs[-1].face and _neutral(cl) and _covers(runs[-1].face, _glyphs(cl)):
                face = runs[-1].face  # spaces, digits and punctuation stay in the face around them
            if runs and runs[-1].face == face and not face.strikes:
                runs[-1].text += cl
            else:
                runs.append(Run(cl, face, rtl))
        return runs

    # Measuring and drawing ---------------------------------------------------------------
    def _font(self, face: Face) -> tuple[Any, float]:
        """The PIL font for a face at this size, and the scale from its pixels to this size."""
        if face.strikes:
            strike = min(face.strikes, key=lambda s: (s < self.size, abs(s - self.size)))
            return pil_font(face.path, face.index, strike, threading.get_ident()), self.size / strike
        return pil_font(face.path, face.index, self.size, threading.get_ident()), 1.0

    def run_length(self, run: Run) -> float:
        font, scale = self._font(run.face)
        return font.getlength(_layout_text(run), **_direction(run)) * scale

    def getlength(self, text: str) -> float:
        """Advance width of one line in pixels."""
        return sum(self.run_length(r) for r in self.runs(text))

    def getmetrics(self, text: str = "") -> tuple[int, int]:
        """(ascent, descent) in pixels: the primary face's, grown to fit every face `text` uses."""
        faces = {self.primary[0]}
        if text and not self._plain(text):
            self.prepare(text)
            faces |= {self._face[c] for c in clusters(text)}
        ascent = descent = 0
        for face in faces:
            font, scale = self._font(face)
            a, d = font.getmetrics()
            ascent, descent = max(ascent, math.ceil(a * scale)), max(descent, math.ceil(d * scale))
        return ascent, descent

    def plain_face(self, text: str) -> Face | None:
        """The one scalable face that draws all of `text` when it is plain (ASCII the first face covers: one
        left-to-right run, no shaping beyond kerning), else None."""
        face = self.primary[0]
        return face if self._plain(text) and not face.strikes and not face.color else None

    def draw(self, image: Any, xy: tuple[float, float], text: str, fill: Any, ascent: int | None = None,
             color_glyphs: bool = True) -> None:
        """Draw one line with its top-left at `xy` (baseline at y + ascent); emoji only if `color_glyphs`."""
        from PIL import ImageDraw

        draw = ImageDraw.Draw(image)
        x, baseline = xy[0], xy[1] + (ascent if ascent is not None else self.getmetrics(text)[0])
        for run in self.runs(text):
            font, scale = self._font(run.face)
            if run.face.strikes:
                if color_glyphs:
                    _draw_bitmap_run(image, font, scale, run, x, baseline)
            elif not (run.face.color and not color_glyphs):
                draw.text((x, baseline), _layout_text(run), font=font, fill=fill, anchor="ls",
                          embedded_color=run.face.color, **_direction(run))
            x += self.run_length(run)


def _brand_face(path: Path | None) -> Face | None:
    if path is None or not Path(path).is_file():
        return None
    try:
        return read_face(str(path), 0)
    except Exception:  # not a font: the system's sans-serif takes over
        return None


def _covers(face: Face, chars: set[int]) -> bool:
    from generators.fonts import coverage

    return chars <= coverage(face.path, face.index)


def _glyphs(cluster: str) -> set[int]:
    return {ord(c) for c in cluster if needs_glyph(c)}


def _neutral(cluster: str) -> bool:
    """No letters or marks: spaces, digits, punctuation (emoji are never neutral)."""
    return not is_emoji(cluster) and not any(unicodedata.category(c)[0] in "LM" for c in cluster)


def _direction(run: Run) -> dict:
    return {"direction": "rtl" if run.rtl else "ltr"} if raqm() else {}


def _layout_text(run: Run) -> str:
    """Without raqm nothing reorders a right-to-left run: reverse its clusters here."""
    return run.text if raqm() or not run.rtl else "".join(reversed(clusters(run.text)))


def _draw_bitmap_run(image: Any, font: Any, scale: float, run: Run, x: float, baseline: float) -> None:
    """Colour bitmap glyphs: drawn at the font's strike, scaled to the text size, composited."""
    from PIL import Image, ImageDraw

    ascent, descent = font.getmetrics()
    width = max(1, math.ceil(font.getlength(run.text)))
    tile = Image.new("RGBA", (width, ascent + descent), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text((0, ascent), run.text, font=font, anchor="ls", embedded_color=True)
    size = (max(1, round(width * scale)), max(1, round((ascent + descent) * scale)))
    tile = tile.resize(size, Image.LANCZOS)
    pos = (round(x), round(baseline - ascent * scale))
    if image.mode == "RGBA":
        layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
        layer.paste(tile, pos)
        image.alpha_composite(layer)
    else:
        image.paste(tile, pos, tile)


# 3. Line breaking and fitting ---------------------------------------------------------------


def break_lines(text: str, stack: FontStack, max_width: float) -> list[str]:
    """Greedy lines no wider than `max_width`, broken where UAX #14 allows (clusters as a last resort)."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for unit in break_units(paragraph):
            if stack.getlength((line + unit).rstrip()) <= max_width:
                line += unit
                continue
            if line.strip():
                lines.append(line.rstrip())
            line = unit
            if stack.getlength(unit.rstrip()) > max_width:  # one unbreakable piece wider than the line
                parts = _split_clusters(unit, stack, max_width)
                lines += parts[:-1]
                line = parts[-1]
        if line.strip():
            lines.append(line.rstrip())
    return [ln.strip() for ln in lines if ln.strip()]


def _split_clusters(text: str, stack: FontStack, max_width: float) -> list[str]:
    out = [""]
    for cl in clusters(text):
        if out[-1] and stack.getlength(out[-1] + cl) > max_width:
            out.append("")
        out[-1] += cl
    return out


def fit_text(text: str, max_width: float, max_lines: int, size: float, floor: float, bold: bool = True,
             brand: Path | None = None, lang: str | None = None) -> tuple[FontStack, list[str]]:
    """Shrink from `size` towards `floor` until `text` fits `max_lines`; the lines at the last size tried."""
    while True:
        stack = FontStack(size, bold, brand, lang)
        lines = break_lines(text, stack, max_width)
        if len(lines) <= max_lines or size <= floor:
            return stack, lines
        size = max(floor, size * 0.9)
