"""The animatic video backend: a timing-accurate storyboard take drawn offline from the shot's text.

Speed: the background, title and prompt text are drawn once on a canvas 20% larger than the frame;
each frame is then a window of that canvas (integer crop for pans and tilts, nearest-neighbour
resampling for zooms, both a few ms at 720p) plus a small per-frame badge and progress bar, so the
cost per frame is dominated by the H.264 encode in `write_frames`, not by drawing.
"""

from __future__ import annotations

import functools
import math
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from generators.base import ShotRequest, VideoGenerator, VideoTake
from generators.camera import camera_move
from generators.media import write_frames
from generators.text import FontStack, break_lines

DEFAULT_PALETTE = ["#1F2A44", "#F2C14E", "#F78154", "#4D9078"]
# The canvas is this much larger than the frame so every camera window stays inside it.
MARGIN = 1.2

Window = tuple[float, float, float, float]  # x, y, w, h on the canvas


@functools.lru_cache(maxsize=64)
def font(size: float, bold: bool = False, path: Path | None = None) -> FontStack:
    """Text at `size` px: `path` if given, then the system's fonts per glyph (any script, emoji); kept
    per size (the badge is drawn on every frame)."""
    return FontStack(max(6, size), bold, path)


def hex_rgb(colour: str) -> tuple[int, int, int]:
    """'#RRGGBB' -> (r, g, b)."""
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def luminance(rgb: tuple[int, int, int]) -> float:
    """Relative luminance 0..1 (Rec. 709 weights on gamma-encoded values; enough to pick text colour)."""
    r, g, b = rgb
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255.0


def ink_for(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever reads better on `rgb`."""
    return (16, 16, 16) if luminance(rgb) > 0.55 else (250, 250, 250)


# 1. Camera moves -------------------------------------------------------------------------------


def _ease(t: float) -> float:
    return t * t * (3 - 2 * t)


def camera_path(camera: str, width: int, height: int, seed: int) -> tuple[str, Callable[[float], Window]]:
    """The move named by free text (`generators.camera.camera_move`) as a window over the canvas."""
    move = camera_move(camera)
    cw, ch = width * MARGIN, height * MARGIN
    dx, dy = cw - width, ch - height

    def zoom(t: float, s0: float, s1: float) -> Window:
        s = s0 + (s1 - s0) * _ease(t)  # window scale relative to the frame (1 = frame size)
        w, h = width * s, height * s
        return (cw - w) / 2, (ch - h) / 2, w, h

    def slide(t: float, x0: float, x1: float, y0: float, y1: float) -> Window:
        e = _ease(t)
        return x0 + (x1 - x0) * e, y0 + (y1 - y0) * e, width, height

    if move == "push_in":
        return move, lambda t: zoom(t, MARGIN, 1.0)
    if move == "pull_out":
        return move, lambda t: zoom(t, 1.0, MARGIN)
    if move.startswith("orbit"):
        # Half an ellipse across the canvas; "left" runs it the other way.
        side = -1 if move == "orbit_left" else 1
        return "orbit", lambda t: (dx / 2 * (1 - side * math.cos(math.pi * t)), dy / 2 * (1 - math.sin(math.pi * t)),
                                   width, height)
    if move == "pan_left":
        return move, lambda t: slide(t, dx, 0, dy / 2, dy / 2)
    if move == "pan_right":
        return move, lambda t: slide(t, 0, dx, dy / 2, dy / 2)
    if move == "tilt_down":
        return move, lambda t: slide(t, dx / 2, dx / 2, 0, dy)
    if move == "tilt_up":
        return move, lambda t: slide(t, dx / 2, dx / 2, dy, 0)
    if move == "handheld":
        rng = random.Random(seed)
        phases = [rng.uniform(0, 2 * math.pi) for _ in range(4)]
        return move, lambda t: (dx / 2 + dx / 4 * math.sin(7 * t + phases[0]) * math.cos(3 * t + phases[1]),
                                dy / 2 + dy / 4 * math.sin(5 * t + phases[2]) * math.cos(4 * t + phases[3]),
                                width, height)
    return "static", lambda t: (dx / 2, dy / 2, width, height)


def sample_window(canvas: Any, window: Window, width: int, height: int) -> np.ndarray:
    """The canvas seen through `window`, at frame size: a crop when sizes match, else nearest resampling."""
    from PIL import Image

    x, y, w, h = window
    if abs(w - width) < 0.5 and abs(h - height) < 0.5:
        xi, yi = int(round(x)), int(round(y))
        return np.array(canvas.crop((xi, yi, xi + width, yi + height)))
    sx, sy = w / width, h / height
    # Nearest keeps a frame to ~3 ms at 720p; bilinear in PIL costs ~40 ms (measured).
    return np.array(canvas.transform((width, height), Image.AFFINE, (sx, 0, x, 0, sy, y), Image.NEAREST))


# 2. The static canvas --------------------------------------------------------------------------


def draw_background(size: tuple[int, int], palette: list[str], rng: random.Random) -> Any:
    """A palette gradient at a seeded angle with seeded translucent shapes."""
    from PIL import Image, ImageDraw, ImageFilter

    w, h = size
    cols = [hex_rgb(c) for c in (palette or DEFAULT_PALETTE)]
    c0, c1 = rng.choice(cols), rng.choice(cols)
    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = (xx / w - 0.5) * math.cos(angle) + (yy / h - 0.5) * math.sin(angle)
    ramp = np.clip(ramp + 0.5, 0, 1)[..., None]
    img = (np.array(c0, np.float32) * (1 - ramp) + np.array(c1, np.float32) * ramp).astype(np.uint8)
    base = Image.fromarray(img).convert("RGBA")
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for _ in range(rng.randint(5, 9)):
        col = rng.choice(cols) + (rng.randint(70, 150),)
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.08, 0.35) * min(w, h)
        shape = rng.choice(("circle", "rect", "band"))
        if shape == "circle":
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=col)
        elif shape == "rect":
            draw.rounded_rectangle((cx - r, cy - r * 0.6, cx + r, cy + r * 0.6), radius=int(r / 4), fill=col)
        else:
            t = r / 3
            draw.polygon([(cx - t, 0), (cx + t, 0), (cx + t - w / 3, h), (cx - t - w / 3, h)], fill=col)
    layer = layer.filter(ImageFilter.GaussianBlur(max(1, min(w, h) // 200)))
    return Image.alpha_composite(base, layer)


def draw_text_panel(canvas: Any, request: ShotRequest, frame_size: tuple[int, int]) -> None:
    """Title and prompt excerpt on a translucent panel, inside the region every camera window sees."""
    from PIL import Image, ImageDraw

    fw, fh = frame_size
    cw, ch = canvas.size
    unit = min(fw, fh)
    title_font, body_font = font(unit * 0.085, bold=True), font(unit * 0.045)
    box_w = int(fw * 0.7)
    pad = int(unit * 0.04)
    title = request.title or f"Shot {request.shot_index + 1}"
    title_lines = break_lines(title, title_font, box_w - 2 * pad)[:2]
    body_lines = break_lines(request.prompt, body_font, box_w - 2 * pad)
    if len(body_lines) > 4:
        body_lines = body_lines[:3] + [body_lines[3].rstrip(".,; ") + " ..."]
    line_h_t, line_h_b = int(unit * 0.1), int(unit * 0.058)
    box_h = len(title_lines) * line_h_t + len(body_lines) * line_h_b + 2 * pad + int(unit * 0.02)
    x0, y0 = (cw - box_w) // 2, (ch - box_h) // 2
    panel = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(panel)
    draw.rounded_rectangle((x0, y0, x0 + box_w, y0 + box_h), radius=pad, fill=(12, 12, 16, 150))
    y = y0 + pad
    for line in title_lines:
        title_font.draw(panel, (x0 + pad, y), line, (255, 255, 255, 255))
        y += line_h_t
    y += int(unit * 0.02)
    for line in body_lines:
        body_font.draw(panel, (x0 + pad, y), line, (225, 225, 225, 255))
        y += line_h_b
    canvas.alpha_composite(panel)


def build_canvas(request: ShotRequest) -> Any:
    """Background, shapes and text drawn once, MARGIN times the frame size, as RGB."""
    rng = random.Random(request.seed)
    size = (math.ceil(request.width * MARGIN) + 1, math.ceil(request.height * MARGIN) + 1)
    canvas = draw_background(size, request.palette, rng)
    draw_text_panel(canvas, request, (request.width, request.height))
    return canvas.convert("RGB")


# 3. The per-frame overlay: shot badge, move name, timecode and a progress bar ------------------


def draw_badge(request: ShotRequest, move: str, frame: int, total: int) -> np.ndarray:
    """A small RGBA badge: 'SHOT n', the camera move and the time within the shot."""
    from PIL import Image, ImageDraw

    unit = min(request.width, request.height)
    big, small = font(unit * 0.055, bold=True), font(unit * 0.035)
    w, h = int(unit * 0.42), int(unit * 0.15)
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((0, 0, w - 1, h - 1), radius=max(2, h // 5), fill=(0, 0, 0, 170))
    pad = max(2, int(unit * 0.015))
    big.draw(img, (pad, pad), f"SHOT {request.shot_index + 1}", (255, 255, 255, 255))
    stamp = f"{move.replace('_', ' ')}  {frame / request.fps:4.2f}s / {total / request.fps:.2f}s"
    small.draw(img, (pad, int(h * 0.58)), stamp, (230, 230, 230, 255))
    return np.asarray(img)


def overlay(frame: np.ndarray, rgba: np.ndarray, x: int, y: int) -> None:
    """Alpha-blend a small RGBA image onto `frame` in place at (x, y)."""
    h, w = rgba.shape[:2]
    h, w = min(h, frame.shape[0] - y), min(w, frame.shape[1] - x)
    if h <= 0 or w <= 0:
        return
    region = frame[y : y + h, x : x + w].astype(np.uint16)
    a = rgba[:h, :w, 3:4].astype(np.uint16)
    frame[y : y + h, x : x + w] = ((rgba[:h, :w, :3] * a + region * (255 - a)) // 255).astype(np.uint8)


def progress_bar(frame: np.ndarray, fraction: float, colour: tuple[int, int, int]) -> None:
    """A thin bar along the bottom edge showing how far into the shot this frame is."""
    h, w = frame.shape[:2]
    thick = max(2, h // 90)
    frame[h - thick :, : max(1, int(round(w * fraction)))] = colour


# 4. The backend --------------------------------------------------------------------------------


class AnimaticVideo(VideoGenerator):
    """Storyboard takes: palette background, shot text, a camera move, a shot badge; no model."""

    name: ClassVar[str] = "animatic"
    follows_prompt: ClassVar[bool] = False  # it writes the prompt on a card; the look stays the same
    picture_note: ClassVar[str] = "draws the prompt as a storyboard card"
    thread_safe: ClassVar[bool] = True  # every take draws on its own canvas; fonts are kept per thread
    # What a storyboard card does not show: the brand's assets and copy are for other backends.
    cache_ignores: ClassVar[set[str]] = {"caption", "caption_enters", "role", "shows_product", "product_name",
                                         "product_image", "brand_name", "logo", "language", "font", "lora",
                                         "negative_prompt", "footage", "footage_ranking", "keyframe"}

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        crf: int = Field(default=12, ge=0, le=51)

    def render(self, request: ShotRequest, out: Path) -> VideoTake:
        """Draw `frame_counts([seconds], fps)[0]` frames at the requested size into `out`."""
        started = time.perf_counter()
        frames = _frame_total(request)
        move, path = camera_path(request.camera, request.width, request.height, request.seed)
        canvas = build_canvas(request)
        drawn = time.perf_counter()
        written = write_frames(out, self._frames(request, canvas, move, path, frames), request.fps,
                               crf=self.options.crf)
        total = time.perf_counter() - started
        return VideoTake(
            path=Path(out), num_frames=written, fps=request.fps, width=request.width, height=request.height,
            metadata={
                "backend": self.name, "model": "animatic", "seed": request.seed,
                "parameters": {"camera": request.camera, "move": move, "frames": frames, "fps": request.fps,
                               "width": request.width, "height": request.height, "crf": self.options.crf},
                "timings": {"canvas_s": round(drawn - started, 4), "total_s": round(total, 4),
                            "per_frame_ms": round(1000 * total / max(1, written), 2)},
            },
        )

    def _frames(self, request: ShotRequest, canvas: Any, move: str, path: Callable[[float], Window],
                frames: int) -> Iterator[np.ndarray]:
        pal = request.palette or DEFAULT_PALETTE
        accent = hex_rgb(pal[1 % len(pal)])
        margin = max(2, int(min(request.width, request.height) * 0.03))
        for i in range(frames):
            t = i / max(1, frames - 1)
            frame = sample_window(canvas, path(t), request.width, request.height)
            overlay(frame, draw_badge(request, move, i, frames), margin, margin)
            progress_bar(frame, (i + 1) / frames, accent)
            yield frame


def _frame_total(request: ShotRequest) -> int:
    # Same rule as agent.plan.frame_counts for one segment (generators must not import agent).
    return max(1, round(request.seconds * request.fps))
