"""Cut formats: pixel dimensions per aspect ratio and file-name-safe labels."""

from __future__ import annotations

RATIOS = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1), "4:5": (4, 5)}
# Where text may sit per format, as (left, top, right, bottom) margins in fractions of width and height,
# and the rule they come from. Captions and the end card are laid out inside them (agent.assembly.captions)
# and the delivered cut is checked against them (agent.ad_checks: text_in_safe_area).
TEXT_ZONES = {
    "9:16": ((0.06, 0.14, 0.06, 0.35), "Meta Reels safe zone: no text in the top 14%, bottom 35%, sides 6% "
             "(Meta Business Help Center)"),
    "16:9": ((0.05, 0.05, 0.05, 0.05), "graphics-safe area, 5% margins (EBU R 95)"),
    "1:1": ((0.05, 0.05, 0.05, 0.05), "graphics-safe area, 5% margins (EBU R 95)"),
    "4:5": ((0.05, 0.05, 0.05, 0.05), "graphics-safe area, 5% margins (EBU R 95)"),
}  # fmt: skip


def dimensions(aspect_ratio: str, resolution: int) -> tuple[int, int]:
    """Width and height (even) for an aspect ratio whose short side is `resolution` pixels."""
    if aspect_ratio not in RATIOS:
        raise ValueError(f"unknown aspect ratio '{aspect_ratio}'; known: {', '.join(RATIOS)}")
    w, h = RATIOS[aspect_ratio]
    short = resolution - resolution % 2
    if w >= h:
        return _even(short * w / h), short
    return short, _even(short * h / w)


def label(aspect_ratio: str) -> str:
    """'9:16' -> '9x16', for file names."""
    return aspect_ratio.replace(":", "x")


def _even(x: float) -> int:
    n = round(x)
    return n + (n % 2)
