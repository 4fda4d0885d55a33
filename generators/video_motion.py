"""The motion video backend: motion graphics from the brand's own assets, no model.

What a motion designer makes from a packshot and a logo: the product (its alpha, or a computed
matte) standing on a lit backdrop in the brand's colours, with a contact shadow and reflection, a
light sweep across it, the shot's camera move applied with parallax (backdrop, shapes and product
at different depths), and the shot's caption set as kinetic type. Shots without the product are
designed too: bold type on a palette backdrop, graphic shapes, a big figure when the caption has
one, the logo where it fits. Every choice is drawn from the seed, so a take is deterministic and
another seed (another variant, another take) is another design.

The caption's type is designed here but drawn at assembly: the take is rendered without its words and
records its type layer (box, size, colours, entrance; generators.type_layer), which assembly sets the
shot's caption in, over the take's frames. So a take does not depend on its caption's words (only on a
figure drawn from them), and a caption edit renders nothing. The cut's .srt still carries the caption.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from generators.base import ShotRequest, VideoGenerator, VideoTake
from generators.camera import CameraPath, camera_move
from generators.kinetic import STYLES
from generators.lazy import scipy_module
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
from generators.motion_look import (
    Box,
    Colours,
    Layout,
    pick_colours,
    plan_layout,
    relative_luminance,
    safe_box,
)
from generators.type_layer import FigureSlot, TypeLayer, fractions

# Depth of each layer (0: fixed to the screen, 1: moves fully with the camera): parallax.
# Without a product the backdrop is the picture and moves nearer the camera's full travel.
DEPTH = {"backdrop": 0.3, "backdrop_alone": 0.8, "shapes": 0.75, "product": 1.0}  # the figure's: type_layer
HERO_DRIFT = 0.02  # the product grows this fraction per second, so a still camera's shot still moves
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
        aspect = product.image.width / product.image.height if product else 0.6
        # The layout without a big figure, and (type-led shots) with one: the same draws, so the seed's
        # choices agree; which one the type takes is the caption's, at assembly (generators.type_layer).
        slot = product is None and request.role in ("benefit", "proof", "hook")
        state = rng.getstate()
        with_figure = plan_layout(request.role, False, w, h, rng, logo is not None, True, aspect) if slot else None
        rng.setstate(state)
        self.layout: Layout = plan_layout(request.role, product is not None, w, h, rng, logo is not None,
                                          False, aspect)  # fmt: skip
        self.colours: Colours = pick_colours(request.palette, rng, subject, request.shot_index)
        # 2. the layers (the picture leaves the type's whole zone free, with or without a figure)
        zone = _union([self.layout.text] + ([with_figure.text, with_figure.stat] if with_figure else []))
        focus = _focus(self.layout.product or zone, w, h)
        self.backdrop: Backdrop = draw_backdrop(w, h, self.colours, rng, focus, floor=product is not None)
        self.hero: Hero | None = None
        if product is not None and self.layout.product is not None:
            floor = self.layout.product[3] <= h * 1.02
            detail = request.role == "proof"
            self.hero = make_hero(product.image, product.method, self.layout.product, self.colours, rng,
                                  reflection=floor and not detail and rng.random() < 0.7, hang=detail)  # fmt: skip
        avoid = [b for b in (zone, self.layout.logo) if b is not None]
        avoid += [self.hero.rect] if self.hero else []
        self.shapes: list[Shape] = draw_shapes(w, h, self.colours, rng, avoid, rng.randint(1, 2) if self.hero else 3)
        style = rng.choice(STYLES)  # drawn here, with or without a caption: the rest of the design stays
        self.type_layer = TypeLayer(
            box=fractions(self.layout.text, w, h), align=self.layout.align, size=self.layout.text_size / h,
            ink=self.colours.ink, accent=self.colours.accent, style=style,
            anchor=0.0 if self.hero is not None and self.layout.text[1] < h * 0.25 else 0.5,
            plate=self.colours.ground if request.role == "proof" and self.hero is not None else None,
            limit=fractions(safe_box(w, h), w, h), figure=_slot(with_figure, self.colours, request),
        )  # fmt: skip
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
        for shape in self.shapes:
            shape.draw(img, pose.at_depth(DEPTH["shapes"]), t, t_s)
        if self.hero is not None:
            self._hero(img, pose, t, t_s)
        if self.logo is not None and self.logo_rect is not None:
            place(img, self.logo, self.logo_rect, min(1.0, max(0.0, (t_s - 0.1) / 0.4)))
        return np.asarray(img)

    def _hero(self, img: Any, pose: Any, t: float, t_s: float) -> None:
        hero, r = self.hero, self.request
        assert hero is not None
        x0, y0, x1, y1 = hero.rect
        # entrance (not on a detail shot), then a slow float
        enter = 1.0 if r.role == "proof" or r.seconds < 1.2 else min(1.0, t_s / min(0.5, r.seconds * 0.25))
        e = 1 - (1 - enter) ** 3
        scale = (0.93 + 0.07 * e) * (1 + HERO_DRIFT * t_s)  # once in, it keeps moving: a held shot never freezes
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

    def describe(self) -> dict[str, Any]:
        """The design choices, for the take's provenance."""
        c = self.colours
        return {
            "layout": {"product": _r(self.layout.product), "text": _r(self.layout.text), "align": self.layout.align},
            "backdrop": self.backdrop.style, "type_entrance": self.type_layer.style,
            "shapes": len(self.shapes), "figure_slot": self.type_layer.figure is not None, "logo_shown": self.logo is not None,
            "colours": {k: "#{:02X}{:02X}{:02X}".format(*v) for k, v in vars(c).items()},
            "camera_move": self.camera.move, "product_matte": self.product_method, "logo_matte": self.logo_method,
        }


class MotionVideo(VideoGenerator):
    """Motion graphics from the product image, logo, palette and copy; offline and deterministic."""

    name: ClassVar[str] = "motion"
    follows_prompt: ClassVar[bool] = False  # the caption, camera and assets make the picture, not the prompt
    picture_note: ClassVar[str] = "composes the brand's product image, logo, colours and caption, not the prompt"
    thread_safe: ClassVar[bool] = True  # no shared mutable state: every take builds its own Design
    # Request fields that do not change a motion take (kept out of its cache key).
    cache_ignores: ClassVar[set[str]] = {"prompt", "negative_prompt", "title", "lora", "footage", "footage_ranking",
                                         "keyframe", "caption", "caption_enters"}  # fmt: skip

    @classmethod
    def caption_changes_picture(cls, before: str, after: str) -> bool:
        """Never: the caption's type and its big figure are assembly's layer (generators.type_layer)."""
        return False

    def cache_identity(self, request: ShotRequest) -> tuple[dict[str, Any], set[str]]:
        """A take never holds its caption's words (assembly sets them in the take's type layer)."""
        identity, ignored = super().cache_identity(request)
        return identity | {"type": "layer"}, ignored

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        crf: int = Field(default=12, ge=0, le=51)

    def load(self) -> None:
        """Import what rendering needs, once, under the process's load lock: two batch workers importing
        scipy at the same moment from two threads can see it half-initialised."""
        scipy_module("scipy.ndimage")
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
        return VideoTake(
            path=Path(out), num_frames=written, fps=request.fps, width=request.width, height=request.height,
            metadata={
                "backend": self.name, "model": "motion", "seed": request.seed, "license": LICENSE,
                "type_layer": design.type_layer.record(),
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


def _focus(box: Box, width: int, height: int) -> tuple[float, float]:
    """Where the backdrop's light falls (frame fractions): behind the product, else behind the type's zone."""
    x0, y0, x1, y1 = box
    return ((x0 + x1) / 2 / width, min(0.75, (y0 + y1) / 2 / height))


def _union(boxes: list[Box | None]) -> Box:
    kept = [b for b in boxes if b is not None]
    return (min(b[0] for b in kept), min(b[1] for b in kept), max(b[2] for b in kept), max(b[3] for b in kept))


def _slot(layout: Layout | None, colours: Colours, request: ShotRequest) -> FigureSlot | None:
    """Where a big figure from the caption would go ("24", "30%", in the accent colour behind the type)."""
    if layout is None or layout.stat is None:
        return None
    w, h = request.width, request.height
    accent_shows = relative_luminance(colours.accent) != relative_luminance(colours.ground)
    return FigureSlot(box=fractions(layout.stat, w, h), text_box=fractions(layout.text, w, h),
                      colour=colours.accent if accent_shows else colours.ink, camera=request.camera,
                      seed=request.seed)  # fmt: skip


def _corner_rect(sprite: Any, box: tuple, width: int) -> tuple:
    """A padded sprite at its own size in the box, flush to the frame edge the box is nearer."""
    from generators.motion_layers import PAD

    w, h = sprite.width - 2 * PAD, sprite.height - 2 * PAD
    x0, y0, x1, _ = box
    left = x1 - w if (x0 + x1) / 2 > width / 2 else x0
    return (left, y0, left + w, y0 + h)


def _r(box: tuple | None) -> list[int] | None:
    return [int(round(v)) for v in box] if box else None
