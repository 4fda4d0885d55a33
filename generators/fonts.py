"""Fonts on this machine: the default sans-serif, and a face that covers a given character.

Found through fontconfig (`fc-match` with `charset` and `lang`) where it is installed (Linux, most
BSDs), else by scanning the platform's font folders (macOS, Windows) and reading each face's
coverage table (the `cmap`, with fontTools). No font path is written into the code. Every answer
is checked against the face's own cmap, since fontconfig returns its best match even when nothing
covers a character.

Colour emoji fonts come in two kinds: bitmap strikes (CBDT/CBLC, sbix: FreeType renders them only
at their native pixel sizes, listed in `Face.strikes`) and vector layers (COLR: any size).
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
# Families we prefer as the default sans-serif when scanning (no fontconfig), best first.
SANS_PREFERENCE = ("DejaVu Sans", "Noto Sans", "Arial", "Helvetica Neue", "Helvetica", "Segoe UI",
                   "Liberation Sans", "Roboto")
# Han characters are shared by Chinese, Japanese and Korean but drawn differently; the language
# picks the regional face (fontconfig's `lang`; the family suffix when scanning).
CJK_FAMILY_HINTS = {"ja": ("JP", "Japanese"), "zh": ("SC", "CN", "Simplified"), "zh-tw": ("TC", "TW"),
                    "zh-hk": ("HK",), "ko": ("KR", "Korean")}


@dataclass(frozen=True)
class Face:
    """One face of a font file (a .ttc holds several), with what a renderer must know about it."""

    path: str
    index: int = 0
    family: str = ""
    bold: bool = False
    color: bool = False
    strikes: tuple[int, ...] = ()  # native pixel sizes of a bitmap-only font; () when scalable

    @property
    def name(self) -> str:
        return f"{self.family or Path(self.path).stem} ({Path(self.path).name}#{self.index})"


def is_emoji(cluster: str) -> bool:
    """True for a grapheme cluster shown as an emoji: emoji presentation, VS16, ZWJ sequences, flags."""
    if "\ufe0f" in cluster or "\u200d" in cluster:
        return True
    cp = ord(cluster[0])
    return (0x1F300 <= cp <= 0x1FAFF or 0x2600 <= cp <= 0x27BF or 0x1F1E6 <= cp <= 0x1F1FF
            or 0x1F000 <= cp <= 0x1F2FF or 0x2B00 <= cp <= 0x2BFF and unicodedata.category(cluster[0]) == "So")


def needs_glyph(ch: str) -> bool:
    """Whether a character must be drawn from a font (format and control characters are not)."""
    cp = ord(ch)
    if 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF:  # variation selectors pick a form, not a glyph
        return False
    return unicodedata.category(ch) not in ("Cf", "Cc", "Zl", "Zp")


# 1. Reading faces ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def coverage(path: str, index: int = 0) -> frozenset[int]:
    """The code points a face maps to glyphs (its best cmap); empty for an unreadable file."""
    try:
        from fontTools.ttLib import TTFont

        with TTFont(path, fontNumber=index, lazy=True) as font:
            return frozenset(font.getBestCmap() or {})
    except Exception:  # a broken or unsupported font file is simply not a candidate
        return frozenset()


@functools.lru_cache(maxsize=512)
def read_face(path: str, index: int = 0) -> Face:
    """Family, weight, colour tables and bitmap strikes of one face."""
    from fontTools.ttLib import TTFont

    with TTFont(path, fontNumber=index, lazy=True) as font:
        family = font["name"].getBestFamilyName() or "" if "name" in font else ""
        weight = font["OS/2"].usWeightClass if "OS/2" in font else 400
        strikes: tuple[int, ...] = ()
        if "CBLC" in font:
            strikes = tuple(sorted({s.bitmapSizeTable.ppemY for s in font["CBLC"].strikes}))
        elif "sbix" in font:
            strikes = tuple(sorted(font["sbix"].strikes))
        scalable = "glyf" in font or "CFF " in font or "CFF2" in font
        color = bool(strikes) or "COLR" in font
    return Face(path, index, family, weight >= 600, color, () if scalable and not strikes else strikes)


def face_count(path: str) -> int:
    """How many faces a font file holds (1 unless it is a collection)."""
    if not path.lower().endswith((".ttc", ".otc")):
        return 1
    try:
        from fontTools.ttLib import TTCollection

        with TTCollection(path, lazy=True) as collection:
            return len(collection.fonts)
    except Exception:
        return 0


# 2. fontconfig --------------------------------------------------------------------------------


def fontconfig() -> str | None:
    """The fc-match binary, unless BRIEFCUT_FONTCONFIG=0 turns the lookup off (then folders are scanned)."""
    if os.environ.get("BRIEFCUT_FONTCONFIG", "1") == "0":
        return None
    return shutil.which("fc-match")


@functools.lru_cache(maxsize=1024)
def _fc_match(exe: str, pattern: str) -> tuple[str, int] | None:
    try:
        proc = subprocess.run([exe, "-f", "%{file}\t%{index}", pattern], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    path, _, index = proc.stdout.strip().partition("\t")
    return (path, int(index or 0)) if proc.returncode == 0 and path and Path(path).is_file() else None


def _fc_pattern(chars: str, bold: bool, lang: str | None, emoji: bool) -> str:
    parts = ["emoji" if emoji else "sans-serif"]
    if bold:
        parts.append("weight=bold")
    if emoji:
        parts.append("color=true")
    if lang and not emoji:
        parts.append(f"lang={lang.lower().replace('_', '-')}")
    if chars:
        parts.append("charset=" + " ".join(f"{ord(c):x}" for c in sorted(set(chars))))
    return ":".join(parts)


# 3. Scanning the platform's folders -------------------------------------------------------------


def font_dirs() -> list[Path]:
    """Where this platform keeps fonts (system, then the user's)."""
    home = Path.home()
    system = platform.system()
    if system == "Darwin":
        dirs = [Path("/System/Library/Fonts"), Path("/Library/Fonts"), home / "Library/Fonts"]
    elif system == "Windows":
        windir = Path(os.environ.get("WINDIR", "C:/Windows"))
        local = Path(os.environ.get("LOCALAPPDATA", home / "AppData/Local"))
        dirs = [windir / "Fonts", local / "Microsoft/Windows/Fonts"]
    else:
        data = os.environ.get("XDG_DATA_DIRS", "/usr/local/share:/usr/share").split(":")
        dirs = [Path(d) / "fonts" for d in data] + [home / ".local/share/fonts", home / ".fonts"]
    extra = [Path(p) for p in os.environ.get("BRIEFCUT_FONT_DIRS", "").split(os.pathsep) if p]
    return extra + dirs


@functools.lru_cache(maxsize=1)
def catalogue() -> tuple[Face, ...]:
    """Every face under the platform's font folders (read once per process)."""
    faces = []
    for root in font_dirs():
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() in FONT_SUFFIXES:
                for index in range(face_count(str(path))):
                    try:
                        faces.append(read_face(str(path), index))
                    except Exception:  # unreadable: not a candidate
                        continue
    return tuple(faces)


def _rank(face: Face, bold: bool, lang: str | None, emoji: bool) -> tuple:
    """Sort key for scanned candidates (lower is better): colour for emoji, sans, weight, region."""
    family = face.family.lower()
    hints = CJK_FAMILY_HINTS.get((lang or "").lower(), ()) or CJK_FAMILY_HINTS.get((lang or "")[:2].lower(), ())
    return (
        emoji != face.color,
        "serif" in family and "sans" not in family,
        "mono" in family,
        bold != face.bold,
        bool(hints) and not any(h.lower() in family for h in hints),
        len(family),
    )


# 4. What callers use -------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def default_face(bold: bool = True) -> Face | None:
    """The system's sans-serif (bold or regular), or None where no font can be found at all."""
    exe = fontconfig()
    if exe:
        found = _fc_match(exe, "sans-serif:weight=bold" if bold else "sans-serif")
        if found and coverage(*found):
            return read_face(*found)
    faces = [f for f in catalogue() if not f.color]
    for family in SANS_PREFERENCE:
        named = [f for f in faces if f.family == family]
        if named:
            return min(named, key=lambda f: f.bold != bold)
    return min(faces, key=lambda f: _rank(f, bold, None, False), default=None)


def fallback_face(chars: str, bold: bool, lang: str | None = None, emoji: bool = False) -> Face | None:
    """A face covering as many of `chars` as possible (at least one), for the given weight and language."""
    wanted = {ord(c) for c in chars}
    exe = fontconfig()
    if exe:
        found = _fc_match(exe, _fc_pattern(chars, bold, lang, emoji))
        if found and wanted & coverage(*found):
            return read_face(*found)
        if emoji:  # no colour font: any face with the glyph beats a box
            return fallback_face(chars, bold, lang, emoji=False)
        return None
    best = min(
        (f for f in catalogue() if wanted & coverage(f.path, f.index)),
        key=lambda f: (-len(wanted & coverage(f.path, f.index)), *_rank(f, bold, lang, emoji)),
        default=None,
    )
    return best


def describe_lookup() -> str:
    """How fonts are found on this machine, for `doctor` and provenance."""
    exe = fontconfig()
    return f"fontconfig ({exe})" if exe else f"scanned {len(catalogue())} faces in {sys.platform} font folders"


# A few letters of each script, to say which face draws it on this machine (`briefcut doctor`).
SCRIPT_SAMPLES = {"Latin": "Aé", "Greek": "Ω", "Cyrillic": "Ж", "Arabic": "ع", "Hebrew": "ש", "Devanagari": "क",
                  "Bengali": "ক", "Thai": "ก", "Han": "中", "Kana": "あア", "Hangul": "한", "Emoji": "🎉"}


def script_faces(bold: bool = True) -> dict[str, str | None]:
    """Per script, the face that draws it here (the default face where it covers it), or None."""
    found: dict[str, str | None] = {}
    base = default_face(bold)
    for script, sample in SCRIPT_SAMPLES.items():
        wanted = {ord(c) for c in sample}
        emoji = script == "Emoji"
        if base is not None and not emoji and wanted <= coverage(base.path, base.index):
            found[script] = base.name
            continue
        face = fallback_face(sample, bold, "ja" if script == "Kana" else None, emoji)
        found[script] = face.name if face is not None and wanted <= coverage(face.path, face.index) else None
    return found
