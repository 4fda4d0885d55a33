"""Caption cues on a cut's timeline: shots' captions laid out, paged and timed, plus their warnings.

Neighbouring shots that carry the same caption share one cue (one subtitle, no flicker at the cut).
A caption is shrunk to a floor size to fit three lines; longer text is split into pages that share
the cue's time in proportion to their length. A page is never shown for less than MIN_PAGE_S:
what does not fit then is cut with an ellipsis and reported, as is any character no installed font
covers. The same cues make the overlays and the .srt, so the two always agree.
"""

from __future__ import annotations

import functools
from dataclasses import astuple, dataclass
from pathlib import Path

from agent.assembly.captions import (
    CAPTION_LINES,
    Overlay,
    caption_overlay,
    ellipsize,
    layout_caption,
    safe_box,
)
from generators.text import join_lines

MIN_PAGE_S = 0.8


@dataclass
class Cue:
    """Caption text shown over cut frames [start, end), with its overlay for one format."""

    start: int
    end: int
    text: str
    overlay: Overlay | None = None
    shot: int = 0

    @property
    def middle(self) -> int:
        """The cut frame the ad checks judge this page on."""
        return (self.start + self.end - 1) // 2


@dataclass
class CaptionFormat:
    """Where captions go: the cut's format, size, brand font and language."""

    aspect_ratio: str
    width: int
    height: int
    fps: int
    font: Path | None = None
    lang: str | None = None


def spans(captions: list[str], bounds: list[tuple[int, int]]) -> list[tuple[int, int, str, int]]:
    """(start, end, text, first shot) per caption; neighbouring shots with the same caption merge."""
    out: list[tuple[int, int, str, int]] = []
    for i, (text, (start, end)) in enumerate(zip(captions, bounds, strict=True)):
        text = text.strip()
        if not text:
            continue
        if out and out[-1][2] == text and out[-1][1] == start:
            out[-1] = (out[-1][0], end, text, out[-1][3])
        else:
            out.append((start, end, text, i))
    return out


def caption_cues(captions: list[str], bounds: list[tuple[int, int]], fmt: CaptionFormat) -> tuple[list[Cue], list[dict]]:
    """Cues with overlays for every caption, and warnings (text cut to fit, glyphs no font has)."""
    from generators.media import file_stamp

    cues, warnings = _caption_cues(tuple(captions), tuple(map(tuple, bounds)), astuple(fmt), file_stamp(fmt.font),
                                   safe_box(fmt.aspect_ratio, fmt.width, fmt.height))  # fmt: skip
    return list(cues), [dict(w) for w in warnings]


@functools.lru_cache(maxsize=16)
def _caption_cues(captions: tuple[str, ...], bounds: tuple[tuple[int, int], ...], how: tuple,
                  font_stamp: tuple | None, box: tuple) -> tuple[tuple[Cue, ...], tuple[dict, ...]]:  # fmt: skip
    # Kept per process (the cues are only read): a cut's assembly and its ad checks lay out and draw the same
    # captions (about 40 ms a cut at 720p, in Python holding the interpreter lock)
    fmt = CaptionFormat(*how)
    cues: list[Cue] = []
    warnings: list[dict] = []
    missing: set[str] = set()
    for start, end, text, shot in spans(captions, bounds):
        layout = layout_caption(text, fmt.aspect_ratio, fmt.width, fmt.height, fmt.font, fmt.lang)
        missing |= layout.missing
        pages = layout.pages
        room = max(1, (end - start) // max(1, round(MIN_PAGE_S * fmt.fps)))
        if len(pages) > room:
            warnings.append(overflow_warning(shot, text, pages, room, (end - start) / fmt.fps))
            pages = pages[: room - 1] + [_last_page(pages[room - 1 :], layout.font, fmt)]
        for (a, b), page in zip(share(start, end, [len("".join(p)) for p in pages]), pages, strict=True):
            overlay = caption_overlay(page, fmt.aspect_ratio, fmt.width, fmt.height, font=layout.font)
            cues.append(Cue(a, b, "\n".join(page), overlay, shot))
    if missing:
        warnings.append(missing_glyph_warning(missing, "captions"))
    return tuple(cues), tuple(warnings)


def share(start: int, end: int, weights: list[int]) -> list[tuple[int, int]]:
    """Split frames [start, end) into consecutive parts in proportion to `weights` (each >= 1 frame)."""
    total, n = max(1, sum(weights)), len(weights)
    bounds, acc = [start], 0
    for i, w in enumerate(weights[:-1]):
        acc += w
        cut = start + round((end - start) * acc / total)
        bounds.append(min(max(cut, bounds[-1] + 1), end - (n - 1 - i)))
    bounds.append(end)
    return list(zip(bounds, bounds[1:], strict=False))


def _last_page(rest: list[list[str]], font, fmt: CaptionFormat) -> list[str]:
    """The pages that do not fit, folded into one page whose last line ends in an ellipsis."""
    lines = [line for page in rest for line in page]
    x0, _, x1, _ = safe_box(fmt.aspect_ratio, fmt.width, fmt.height)
    last = join_lines(lines[CAPTION_LINES - 1 :])
    return lines[: CAPTION_LINES - 1] + [ellipsize(last + "…", font, (x1 - x0) * 0.92)]


def overflow_warning(shot: int, text: str, pages: list[list[str]], room: int, seconds: float) -> dict:
    """The warning for a caption too long for its time even at the smallest size."""
    detail = (f"caption of shot {shot + 1} needs {len(pages)} pages at the smallest text size but its "
              f"{seconds:.2f} s hold {room} (at least {MIN_PAGE_S} s each): the rest is cut with '…'; "
              f"shorten it: {text[:60]!r}")
    return {"shot": shot, "kind": "caption_overflow", "detail": detail}


def missing_glyph_warning(missing: set[str], where: str) -> dict:
    """The warning for characters that no installed font covers (drawn as boxes)."""
    chars = " ".join(f"{c} (U+{ord(c[0]):04X})" for c in sorted(missing)[:12])
    detail = (f"no installed font covers {len(missing)} character(s) in the {where}: {chars}; "
              f"install a font for them (e.g. the Noto fonts) or set brand.font")
    return {"shot": None, "kind": "missing_glyph", "detail": detail}


def attach(segments: list, cues: list[Cue]) -> None:
    """Give each shot segment of the timeline the cues that overlap it, in cut frames."""
    for seg in segments:
        if seg.kind == "shot":
            seg.captions = [(max(c.start, seg.start), min(c.end, seg.end), c.overlay)
                            for c in cues if c.overlay is not None and c.start < seg.end and c.end > seg.start]
