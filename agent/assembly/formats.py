"""Cut formats: pixel dimensions per aspect ratio and file-name-safe labels."""

from __future__ import annotations

RATIOS = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1), "4:5": (4, 5)}


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
