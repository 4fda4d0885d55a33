"""The motion video backend: motion graphics from the brand's own assets, no model.

What a motion designer makes from a packshot and a logo: the product (its alpha, or a computed
matte) standing on a lit backdrop in the brand's colours, with a contact shadow and reflection, a
light sweep across it, the shot's camera move applied with parallax (backdrop, shapes and product
at different depths), and the shot's caption set as kinetic type. Shots without the product are
designed too: bold type on a palette backdrop, graphic shapes, a big figure when the caption has
one, the logo where it fits. Every choice is drawn from the seed, so a take is deterministic and
another seed (another variant, another take) is another design.

The backend draws the caption itself (`draws_caption` in the take's metadata), so assembly does not
burn it in again; the cut's .srt still carries it.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from generators.base import ShotRequest, VideoGenerator, VideoTake
from generators.camera import CameraPath, camera_move
from generators.kinetic import Kinetic, set_caption
from generators.matte import Cutout, load_cutout
from generators.media import write_frames
from generators.motion_layers import (
    Backdrop,
    Hero,
    Shape,
    draw_backdrop,
    draw_shapes,
    light_sweep,
    logo_sprite,
    make_hero,
    place,
    resample_visible,
    screen_rect,
)
from generators.motion_look import Colours, Layout, pick_colours, plan_layout, relative_luminance, safe_box
from generators.text import fit_text

# Depth of each layer (0: fixed to the screen, 1: moves fully with the camera): parallax.
# Without a product the backdrop is the picture and moves nearer the camera's full travel.
DEPTH = {"backdrop": 0.3, "backdrop_alone": 0.8, "shapes": 0.75, "product": 1.0, "figure": 0.5, "type": 0.08}
TYPE_DRIFT = 0.03  # a settled caption grows this fraction per second (and lifts), so a hold still moves
STAT = re.compile(r"\d+(?:[.,]\d+)?\s?%?")
LICENSE = {"name": "the brand's own assets (product image, logo, fonts)", "commercial": True,
           "url": None, "note": "no model weights: drawn from the brief's files"}  # fmt: skip


@functools.lru_cache(maxsize=8)
def _cutout(path: str, stamp: tuple[int, int]) -> Cutout:
    return load_cutout(Path(path))


def cutout_for(path: Path | None) -> Cutout | None:
    """The product or logo file as a cutout (kept per file version); None when there is no usable file."""
    if path is None or not Path(path).is_file():
        return None
    stat = Path(path).stat()
    try:
        cut = _cutout(str(path), (stat.st_mtime_ns, stat.st_size))
    except OSError:  # not an image Pillow can read
        return None
    return Cutout(cut.image.copy(), cut.method, cut.coverage)


def digest(path: Path | None) -> str | None:
    """sha256 of a file, for provenance."""
    if path is None or not Path(path).is_file():
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class Design:
    """Everything drawn once for one take, and the per-frame composition."""

    def __init__(self, request: ShotRequest) -> None:
        # 1. the assets and the design decisions, all from the seed
        self.request = request
        rng = random.Random(f"motion|{request.seed}|{request.shot_index}")
        w, h = request.width, request.height
        product = cutout_for(request.product_image) if request.shows_product else None
        logo = cutout_for(request.logo)
        subject = _mean_colour(product.image) if product else None
        stat = _stat(request.caption) if product is None and request.role in ("benefit", "proof", "hook") else None
        aspect = product.image.width / product.image.height if product else 0.6
        self.layout: Layout = plan_layout(request.role, product is not None, w, h, rng, logo is not None,
                                          stat is not None, aspect)  # fmt: skip
        self.colours: Colours = pick_colours(request.palette, rng, subject, request.shot_index)
        # 2. the layers
        focus = _focus(self.layout, w, h)
        self.backdrop: Backdrop = draw_backdrop(w, h, self.colours, rng, focus, floor=product is not None)
        self.hero: Hero | None = None
        if product is not None and self.layout.product is not None:
            floor = self.layout.product[3] <= h * 1.02
            detail = request.role == "proof"
            self.hero = make_hero(product.image, product.method, self.layout.product, self.colours, rng,
                                  reflection=floor and not detail and rng.random() < 0.7, hang=detail)  # fmt: skip
        avoid = [b for b in (self.layout.text, self.layout.logo, self.layout.stat) if b is not None]
        avoid += [self.hero.rect] if self.hero else []
        self.shapes: list[Shape] = draw_shapes(w, h, self.colours, rng, avoid, rng.randint(1, 2) if self.hero else 3)
        self.kinetic: Kinetic | None = set_caption(
            request.caption, self.layout.text, self.layout.align, self.layout.text_size, self.colours.ink,
            self.colours.accent, rng, request.font, request.language,
            start_s=0.12 if request.caption_enters else -10.0,  # a continuing caption is already in place
            anchor=0.0 if self.hero is not None and self.layout.text[1] < h * 0.25 else 0.5,
            plate=self.colours.ground if request.role == "proof" and self.hero is not None else None,
            limit=safe_box(w, h),
        )  # fmt: skip
        self.figure = _figure(stat, self.layout, self.colours, request) if stat and self.layout.stat else None
        self.logo, self.logo_rect = None, None
        if logo is not None and self.layout.logo is not None:
            self.logo = logo_sprite(logo.image, self.layout.logo, self.colours.ground, self.colours.ink)
            self.logo_rect = _corner_rect(self.logo, self.layout.logo, w)
        self.camera = CameraPath(camera_move(request.camera), request.seed)
        self.float_phase = rng.uniform(0, 2 * math.pi)
        self.sweep_window = (rng.uniform(0.1, 0.3), rng.uniform(0.55, 0.75))
        self.product_method = product.method if product else None
        self.logo_method = logo.method if logo else None

    # Per frame ------------------------------------------------------------------------------------
    def frame(self, i: int, total: int) -> np.ndarray:
        """Frame i of `total`, as an RGB array."""
        r = self.request
        t = i / max(1, total - 1)
        t_s = i / r.fps
        pose = self.camera.pose(t)
        img = self.backdrop.frame(pose.at_depth(DEPTH["backdrop"] if self.hero else DEPTH["backdrop_alone"]), t)
        if self.figure is not None:
            sprite, rect = self.figure
            place(img, sprite, screen_rect(rect, pose.at_depth(DEPTH["figure"]), r.width, r.height),
                  min(1.0, t_s / 0.35))  # fmt: skip
        for shape in self.shapes:
            shape.draw(img, pose.at_depth(DEPTH["shapes"]), t, t_s)
        if self.hero is not None:
            self._hero(img, pose, t, t_s)
        if self.logo is not None and self.logo_rect is not None:
            place(img, self.logo, self.logo_rect, min(1.0, max(0.0, (t_s - 0.1) / 0.4)))
        if self.kinetic is not None:
            self.kinetic.draw(img, t_s, drift=TYPE_DRIFT)
        return np.asarray(img)

    def _hero(self, img: Any, pose: Any, t: float, t_s: float) -> None:
        hero, r = self.hero, self.request
        assert hero is not None
        x0, y0, x1, y1 = hero.rect
        # entrance (not on a detail shot), then a slow float
        enter = 1.0 if r.role == "proof" or r.seconds < 1.2 else min(1.0, t_s / min(0.5, r.seconds * 0.25))
        e = 1 - (1 - enter) ** 3
        scale = 0.93 + 0.07 * e
        bob = math.sin(2 * math.pi * 0.33 * t_s + self.float_phase) * 0.006 * r.height
        slide = (1 - e) * 0.08 * r.width * (1 if r.role == "cta" else 0)
        cx, base = (x0 + x1) / 2 + slide, y1 + bob
        w, h = (x1 - x0) * scale, (y1 - y0) * scale
        rect = screen_rect((cx - w / 2, base - h, cx + w / 2, base), pose.at_depth(DEPTH["product"]), r.width, r.height)
        got = resample_visible(hero.sprite, rect, r.width, r.height)
        if got is None:
            return
        piece, at = got
        start, end = self.sweep_window
        phase = (t - start) / (end - start)
        if 0.0 < phase < 1.0:
            top = rect[1] + (rect[3] - rect[1]) * hero.product_share - at[1]
            piece = light_sweep(piece, phase, hero.sweep_angle, int(max(0, top)))
        from generators.motion_layers import paste

        paste(img, piece, at, e)

    def caption_box(self) -> list[float] | None:
        """Where the settled caption sits over the shot, as fractions of the frame (x0, y0, x1, y1):
        assembly's checks look for it there in the delivered cut. None: no caption."""
        if self.kinetic is None:
            return None
        r = self.request
        x0, y0, x1, y1 = self.kinetic.extent(r.seconds, TYPE_DRIFT)
        return [round(max(0.0, x0) / r.width, 4), round(max(0.0, y0) / r.height, 4),
                round(min(r.width, x1) / r.width, 4), round(min(r.height, y1) / r.height, 4)]  # fmt: skip

    def describe(self) -> dict[str, Any]:
        """The design choices, for the take's provenance."""
        c = self.colours
        return {
            "layout": {"product": _r(self.layout.product), "text": _r(self.layout.text), "align": self.layout.align},
            "backdrop": self.backdrop.style, "type_entrance": self.kinetic.style if self.kinetic else None,
            "shapes": len(self.shapes), "figure": self.figure is not None, "logo_shown": self.logo is not None,
            "colours": {k: "#{:02X}{:02X}{:02X}".format(*v) for k, v in vars(c).items()},
            "camera_move": self.camera.move, "product_matte": self.product_method, "logo_matte": self.logo_method,
        }


class MotionVideo(VideoGenerator):
    """Motion graphics from the product image, logo, palette and copy; offline and deterministic."""

    name: ClassVar[str] = "motion"
    follows_prompt: ClassVar[bool] = False  # the caption, camera and assets make the picture, not the prompt
    picture_note: ClassVar[str] = "composes the brand's product image, logo, colours and caption, not the prompt"
    draws_caption: ClassVar[bool] = True
    thread_safe: ClassVar[bool] = True  # no shared mutable state: every take builds its own Design
    # Request fields that do not change a motion take (kept out of its cache key).
    cache_ignores: ClassVar[set[str]] = {"prompt", "negative_prompt", "title", "lora", "footage", "footage_ranking", "keyframe"}

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        crf: int = Field(default=12, ge=0, le=51)

    def load(self) -> None:
        """Import what rendering needs, once, under the process's load lock: two batch workers importing
        scipy at the same moment from two threads can see it half-initialised."""
        import scipy.ndimage  # noqa: F401
        from PIL import Image, ImageChops, ImageDraw, ImageFilter  # noqa: F401

        self.loaded = True

    def render(self, request: ShotRequest, out: Path) -> VideoTake:
        """Compose and encode the shot's frames (exactly round(seconds * fps)) into `out`."""
        started = time.perf_counter()
        total = max(1, round(request.seconds * request.fps))
        design = Design(request)
        drawn = time.perf_counter()
        written = write_frames(out, self._frames(design, total), request.fps, crf=self.options.crf)
        elapsed = time.perf_counter() - started
        missing = sorted(design.kinetic.missing) if design.kinetic else []
        return VideoTake(
            path=Path(out), num_frames=written, fps=request.fps, width=request.width, height=request.height,
            metadata={
                "backend": self.name, "model": "motion", "seed": request.seed, "license": LICENSE,
                "draws_caption": design.kinetic is not None, "missing_glyphs": missing,
                "caption_box": design.caption_box(),
                "parameters": {"camera": request.camera, "role": request.role, "frames": total, "fps": request.fps,
                               "width": request.width, "height": request.height, "crf": self.options.crf,
                               **design.describe()},
                "assets": {"product_image": digest(request.product_image) if request.shows_product else None,
                           "logo": digest(request.logo), "font": digest(request.font)},
                "timings": {"design_s": round(drawn - started, 4), "total_s": round(elapsed, 4),
                            "per_frame_ms": round(1000 * elapsed / max(1, written), 2)},
            },
        )  # fmt: skip

    @staticmethod
    def _frames(design: Design, total: int) -> Iterator[np.ndarray]:
        for i in range(total):
            yield design.frame(i, total)


# Helpers -----------------------------------------------------------------------------------------


def _mean_colour(img: Any) -> tuple[int, int, int]:
    arr = np.asarray(img.convert("RGBA")).astype(np.float32)
    weight = arr[..., 3:4] / 255.0
    mean = (arr[..., :3] * weight).sum((0, 1)) / max(1.0, float(weight.sum()))
    return int(mean[0]), int(mean[1]), int(mean[2])


def _focus(layout: Layout, width: int, height: int) -> tuple[float, float]:
    """Where the backdrop's light falls (frame fractions): behind the product, else behind the type."""
    box = layout.product or layout.stat or layout.text
    x0, y0, x1, y1 = box
    return ((x0 + x1) / 2 / width, min(0.75, (y0 + y1) / 2 / height))


def _stat(caption: str) -> str | None:
    match = STAT.search(caption or "")
    return match.group(0).replace(" ", "") if match else None


def _figure(stat: str, layout: Layout, colours: Colours, request: ShotRequest) -> tuple[Any, tuple] | None:
    """A big figure from the caption ("24", "30%") drawn in the accent colour behind the type."""
    from PIL import Image

    from generators.motion_layers import padded

    assert layout.stat is not None
    x0, y0, x1, y1 = layout.stat
    stack, _ = fit_text(stat, x1 - x0, 1, (y1 - y0) * 0.9, (y1 - y0) * 0.3, True, request.font, request.language)
    ascent, descent = stack.getmetrics(stat)
    w, h = int(stack.getlength(stat)) + 4, ascent + descent
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    colour = colours.accent if relative_luminance(colours.accent) != relative_luminance(colours.ground) else colours.ink
    stack.draw(img, (2, 0), stat, colour + (235,), ascent=ascent)
    cx = (x0 + x1) / 2 if layout.align == "center" else x0 + w / 2
    cy = (y0 + y1) / 2
    return padded(img), (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def _corner_rect(sprite: Any, box: tuple, width: int) -> tuple:
    """A padded sprite at its own size in the box, flush to the frame edge the box is nearer."""
    from generators.motion_layers import PAD

    w, h = sprite.width - 2 * PAD, sprite.height - 2 * PAD
    x0, y0, x1, _ = box
    left = x1 - w if (x0 + x1) / 2 > width / 2 else x0
    return (left, y0, left + w, y0 + h)


def _r(box: tuple | None) -> list[int] | None:
    return [int(round(v)) for v in box] if box else None
