"""Camera moves named in words ("slow push in", "orbit left", "pan right"...), for the offline backends.

`camera_move` reads a plan's free-text camera into one of a few named moves; `CameraPath` gives that
move as a smooth curve of zoom, offset and roll over the shot, which the motion backend applies to
each layer scaled by its depth (near layers move more than far ones: parallax).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

MOVES = ("push_in", "pull_out", "orbit_left", "orbit_right", "pan_left", "pan_right", "tilt_up",
         "tilt_down", "handheld", "static")  # fmt: skip
KEYWORDS: list[tuple[str, tuple[str, ...]]] = [
    ("push_in", ("push", "zoom in", "dolly in", "move in", "close in")),
    ("pull_out", ("pull", "zoom out", "dolly out", "back out", "reveal")),
    ("orbit", ("orbit", "arc", "circle")),
    ("pan_left", ("pan left", "truck left")),
    ("pan_right", ("pan", "truck", "track", "dolly")),
    ("tilt_down", ("tilt down", "crane down")),
    ("tilt_up", ("tilt", "crane", "pedestal")),
    ("handheld", ("handheld", "shaky")),
]


def camera_move(camera: str) -> str:
    """The move named by free text; 'static' when none is named."""
    text = camera.lower()
    for move, words in KEYWORDS:
        if any(w in text for w in words):
            if move == "orbit":
                return "orbit_left" if "left" in text else "orbit_right"
            return move
    return "static"


def ease(t: float) -> float:
    """Half smoothstep, half linear: a move that eases in and out but never comes to rest, so the
    first and last frames of a shot still move (a stop reads as a frozen picture at the cut)."""
    t = min(1.0, max(0.0, t))
    return 0.5 * t * t * (3 - 2 * t) + 0.5 * t


@dataclass(frozen=True)
class Pose:
    """Where the camera is: zoom (1 = framed) and offset in frame fractions (+x right, +y down)."""

    zoom: float = 1.0
    x: float = 0.0
    y: float = 0.0

    def at_depth(self, depth: float) -> Pose:
        """The pose a layer at `depth` sees (0: fixed to the screen, 1: the subject plane)."""
        return Pose(1.0 + (self.zoom - 1.0) * depth, self.x * depth, self.y * depth)


class CameraPath:
    """A named move as a function of shot time t in [0, 1]; `strength` scales its travel."""

    def __init__(self, move: str, seed: int = 0, strength: float = 1.0) -> None:
        self.move, self.strength = move, strength
        rng = random.Random(seed)
        self._phases = [rng.uniform(0, 2 * math.pi) for _ in range(6)]

    def pose(self, t: float) -> Pose:
        """The camera at time t (0..1 over the shot)."""
        e, k = ease(t), self.strength
        m = self.move
        if m == "push_in":
            return Pose(zoom=1.0 + 0.16 * k * e)
        if m == "pull_out":
            return Pose(zoom=1.0 + 0.16 * k * (1 - e))
        if m in ("pan_left", "pan_right"):
            side = 1 if m == "pan_right" else -1
            return Pose(zoom=1.04, x=side * 0.07 * k * (e - 0.5) * 2)
        if m in ("tilt_up", "tilt_down"):
            side = -1 if m == "tilt_up" else 1
            return Pose(zoom=1.04, y=side * 0.06 * k * (e - 0.5) * 2)
        if m in ("orbit_left", "orbit_right"):
            side = 1 if m == "orbit_right" else -1
            angle = math.pi * (e - 0.5)
            return Pose(zoom=1.06 + 0.03 * k * math.cos(angle), x=side * 0.09 * k * math.sin(angle))
        if m == "handheld":
            p = self._phases
            return Pose(zoom=1.05, x=0.012 * k * math.sin(9 * t + p[0]) * math.cos(4 * t + p[1]),
                        y=0.012 * k * math.sin(7 * t + p[2]) * math.cos(5 * t + p[3]))
        return Pose(zoom=1.0 + 0.1 * k * e)  # "static": a slow drift, never a frozen frame
