"""Kinetic type drawn at assembly: a take's type layer (generators.type_layer) set with its shot's caption and
drawn over the shot's frames, which travel as yuv420p buffers.

A shot whose take records a type layer (the motion backend's) gets its caption set in that layer, at the
cut's size and through the shot's crop, and drawn on each take frame at the take's own clock, as the
backend would have drawn it. The entrance is drawn onto a transparent canvas the size of what the caption
can reach, by the backend's own code: PIL's masked paste onto a canvas that starts transparent leaves
premultiplied colour (each paste is "over"), which becomes a yuv420p overlay (swscale's colours) blended
like a caption's over the drawn pixels' box only. The settled, drifting block and the big figure are made
once as premultiplied YUV planes and resampled where the drift or the camera puts them each frame
(`YuvaSprite`). Nothing is drawn before the caption starts to enter.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agent.assembly.captions import Overlay
from generators.motion_look import Box
from generators.type_layer import TypeLayer

if TYPE_CHECKING:
    from agent.assembly.cut import CutSpec

TYPE_FORMAT = 2  # raise when the drawing changes for the same inputs: chunks keyed by the old one are not reused


@dataclass(frozen=True)
class ShotType:
    """A shot's caption as its take's type layer sets it."""

    layer: TypeLayer
    text: str
    enters: bool  # the caption comes on with the shot (else it continues from the shot before)
    font: Path | None = None
    lang: str | None = None


def shot_types(spec: CutSpec) -> list[ShotType | None]:
    """Per shot, its caption as its take's type layer sets it; None where the take records no layer."""
    records = list(spec.shot_type_layers) + [None] * (len(spec.plan.shots) - len(spec.shot_type_layers))
    out: list[ShotType | None] = []
    before = ""
    for shot, record in zip(spec.plan.shots, records, strict=False):
        text = shot.caption.strip()
        if record is not None:
            enters = not text or text != before
            out.append(ShotType(TypeLayer.from_record(record), text, enters, spec.font, spec.language))
        else:
            out.append(None)
        before = text
    return out


class TypeTrack:
    """A shot's kinetic type placed on the cut's frames (`width` x `height`, showing `view` of the take's
    frame) for a take `seconds` long; `draw` puts it on a yuv420p buffer at a time in seconds."""

    def __init__(self, shot: ShotType, width: int, height: int, view: Box, seconds: float) -> None:
        self.width, self.height, self.seconds = width, height, seconds
        self.drift = shot.layer.drift
        kinetic = shot.layer.kinetic(shot.text, width, height, shot.font, shot.lang, shot.enters, view)
        self.missing: set[str] = set(kinetic.missing) if kinetic else set()
        self.region: tuple[int, int, int, int] | None = None
        self._yuva: YuvaSprite | None = None  # the settled block, made at its first settled frame
        self._figure_yuva: YuvaSprite | None = None
        self.kinetic = kinetic
        self.figure = shot.layer.figure_sprite(shot.text, width, height, shot.font, shot.lang, view)
        self.camera: Any = None
        self.slot = shot.layer.figure
        if self.figure is not None and self.slot is not None:
            from generators.camera import CameraPath, camera_move

            self.camera = CameraPath(camera_move(self.slot.camera), self.slot.seed)
        if kinetic is not None:
            self.region = _even_clipped(kinetic.reach(seconds, self.drift), width, height)
            if self.region is not None:
                self.local = kinetic.moved(-self.region[0], -self.region[1])

    def box(self) -> tuple[int, int, int, int] | None:
        """Where the settled type is seen, from when it settles to the take's end, in cut pixels (x, y, w, h)."""
        if self.kinetic is None or self.region is None:
            return None
        x0, y0, x1, y1 = self.kinetic.extent(self.seconds, self.drift)
        left, top = max(0, int(x0)), max(0, int(y0))
        right, bottom = min(self.width, int(np.ceil(x1))), min(self.height, int(np.ceil(y1)))
        return (left, top, right - left, bottom - top) if right - left > 1 and bottom - top > 1 else None

    def digest(self) -> str:
        """A digest of everything that shapes the drawn type: its placement, timing and its sprites' pixels."""
        h = hashlib.sha256(json.dumps([TYPE_FORMAT, self.width, self.height, self.seconds, self.drift,
                                       self.region]).encode())  # fmt: skip
        if self.figure is not None:
            h.update(json.dumps([self.figure[1], self.slot.camera, self.slot.seed]).encode())
            h.update(self.figure[0].tobytes())
        k = self.kinetic
        if k is not None and self.region is not None:
            h.update(json.dumps([k.style, k.start_s, k.limit, k.bar, k.plate[1] if k.plate else None,
                                 [(ln.x, ln.y, ln.rtl, ln.sprite.size) for ln in k.lines]]).encode())  # fmt: skip
            for sprite in [ln.sprite for ln in k.lines] + ([k.plate[0]] if k.plate else []):
                h.update(sprite.tobytes())
        return h.hexdigest()

    def draw(self, buf: np.ndarray, j: int, total: int, fps: float) -> None:
        """Draw the type as it looks on take frame `j` of `total` (at `fps`): the big figure, moving with the
        camera, then the caption; onto a yuv420p buffer (H*3/2, W) in place."""
        t_s = j / fps
        if self._figure_at(t_s):
            self._figure(buf, j / max(1, total - 1), t_s)
        if not self._caption_at(t_s):
            return
        if t_s >= self.local.settled_s:
            self._settled(buf, (t_s - self.local.settled_s) * self.drift)
            return
        x0, y0, x1, y1 = self.region
        self._blend(buf, (x0, y0, x1, y1), lambda canvas: self.local.draw(canvas, t_s, drift=self.drift))

    def draws_at(self, j: int, fps: float) -> bool:
        """Whether `draw` puts anything on take frame `j` (at `fps`)."""
        return self._figure_at(j / fps) or self._caption_at(j / fps)

    def _figure_at(self, t_s: float) -> bool:
        return self.figure is not None and t_s > 0  # it fades in from nothing on the first frame

    def _caption_at(self, t_s: float) -> bool:
        return self.region is not None and t_s > self.local.start_s - 0.1  # from just before the plate starts

    def _settled(self, buf: np.ndarray, grow: float) -> None:
        """The settled block where its drift puts it, from its premultiplied YUVA planes (made once)."""
        if self._yuva is None:
            self._yuva = YuvaSprite(self.kinetic.block())
        self._place(buf, self._yuva, self.kinetic.settled_rect(grow))

    def _figure(self, buf: np.ndarray, t: float, t_s: float) -> None:
        """The big figure where the camera's pose puts it (FIGURE_DEPTH's parallax), fading in."""
        from generators.motion_layers import screen_rect
        from generators.type_layer import FIGURE_DEPTH, FIGURE_FADE_S

        if self._figure_yuva is None:
            self._figure_yuva = YuvaSprite(self.figure[0])
        rect = screen_rect(self.figure[1], self.camera.pose(t).at_depth(FIGURE_DEPTH), self.width, self.height)
        self._place(buf, self._figure_yuva, rect, min(1.0, t_s / FIGURE_FADE_S))

    def _place(self, buf: np.ndarray, yuva: YuvaSprite, rect: Box, opacity: float = 1.0) -> None:
        """A YUVA sprite drawn into `rect` (floats) as motion_layers.place draws an RGBA one, and blended."""
        overlay = yuva.overlay(rect, self.width, self.height, opacity)
        if overlay is not None:
            overlay.blend(buf, self.width, self.height)

    def _blend(self, buf: np.ndarray, region: tuple[int, int, int, int], paint: Any) -> None:
        """Paint onto a transparent canvas over `region` (even, inside the frame) and blend what was drawn."""
        from PIL import Image

        x0, y0, x1, y1 = region
        canvas = Image.new("RGBA", (x1 - x0, y1 - y0), (0, 0, 0, 0))
        paint(canvas)
        bbox = canvas.getchannel("A").getbbox()
        if bbox is None:
            return
        bx0, by0 = bbox[0] & ~1, bbox[1] & ~1
        bx1, by1 = bbox[2] + (bbox[2] & 1), bbox[3] + (bbox[3] & 1)
        pm = np.asarray(canvas)[by0:by1, bx0:bx1]
        Overlay.from_premultiplied(pm, x0 + bx0, y0 + by0).blend(buf, self.width, self.height)


def _even_clipped(box: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int] | None:
    """A pixel box clipped to the frame, its corners on even pixels (yuv420p's chroma), or None when empty."""
    x0, y0 = max(0, box[0]) & ~1, max(0, box[1]) & ~1
    x1, y1 = min(width, box[2] + (box[2] & 1)), min(height, box[3] + (box[3] & 1))
    return (x0, y0, x1, y1) if x1 - x0 >= 2 and y1 - y0 >= 2 else None


class YuvaSprite:
    """A straight-alpha RGBA sprite (padded, as motion_layers.place takes them) as premultiplied planes, made
    once: (Y - 16) * a and alpha at full size, (U - 128) * a + 128, (V - 128) * a + 128 and alpha at half
    size (yuv420p's chroma), each a PIL "L" image, so placing it costs bilinear resizes of single bands and
    a few integer passes, with no colour conversion per frame. Premultiplied planes resample as PIL's RGBA
    resize does (it premultiplies too), so it lands as motion_layers.place would draw it."""

    def __init__(self, sprite: Any) -> None:
        import av
        from PIL import Image

        rgba = np.asarray(sprite.convert("RGBA"))
        h, w = rgba.shape[:2]
        if h & 1 or w & 1:  # clear pixels to an even size: the chroma planes are exactly half
            rgba = np.pad(rgba, ((0, h & 1), (0, w & 1), (0, 0)))
        planes = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba[..., :3]), format="rgb24").reformat(
            format="yuv444p").to_ndarray().astype(np.float32)  # fmt: skip
        a = rgba[..., 3].astype(np.float32) / 255.0
        full = [np.clip(planes[0] - 16, 0, None) * a, rgba[..., 3].astype(np.float32)]
        half = [_quarter((planes[k] - 128) * a) + 128 for k in (1, 2)] + [_quarter(full[1])]
        self.width, self.height = w, h  # the sprite's own size (the padding to even lies outside it)
        self.full = [Image.fromarray(np.clip(np.rint(p), 0, 255).astype(np.uint8), mode="L") for p in full]
        self.half = [Image.fromarray(np.clip(np.rint(p), 0, 255).astype(np.uint8), mode="L") for p in half]

    def overlay(self, rect: Box, width: int, height: int, opacity: float = 1.0) -> Overlay | None:
        """The sprite drawn into `rect` (floats; its padding outside, as motion_layers.place) on a `width` x
        `height` frame, alpha scaled by `opacity`, as an overlay on even pixels; None when nothing shows."""
        from generators.motion_layers import PAD

        x0, y0, x1, y1 = rect
        if x1 - x0 < 1 or y1 - y0 < 1 or opacity <= 0.004:
            return None
        vx0, vy0 = max(0, math.floor(x0)) & ~1, max(0, math.floor(y0)) & ~1
        vx1, vy1 = min(width, _even_up(math.ceil(x1))), min(height, _even_up(math.ceil(y1)))
        if vx1 <= vx0 or vy1 <= vy0:
            return None
        kx, ky = (self.width - 2 * PAD) / (x1 - x0), (self.height - 2 * PAD) / (y1 - y0)
        box = (PAD + (vx0 - x0) * kx, PAD + (vy0 - y0) * ky, PAD + (vx1 - x0) * kx, PAD + (vy1 - y0) * ky)
        size = (vx1 - vx0, vy1 - vy0)
        yp, a = (_resized(p, size, box, 1) for p in self.full)
        up, vp, a2 = (_resized(p, (size[0] // 2, size[1] // 2), box, 2) for p in self.half)
        k = round(opacity * 256)
        a, a2 = (((p.astype(np.uint32) + (p >> 7)) * k >> 8).astype(np.uint16) for p in (a, a2))  # /255*256*opacity
        y_pm = yp * k + 16 * a
        uv = np.stack([up, vp]).astype(np.int32)
        uv_pm = np.clip((uv - 128) * k + 128 * a2.astype(np.int32), 0, 65535).astype(np.uint16)
        return Overlay(vx0, vy0, y_pm, uv_pm, 256 - a, 256 - a2)


def _quarter(plane: np.ndarray) -> np.ndarray:
    """Each 2x2 block's mean of a float plane."""
    return (plane[0::2, 0::2] + plane[1::2, 0::2] + plane[0::2, 1::2] + plane[1::2, 1::2]) / 4


def _even_up(v: int) -> int:
    return v + (v & 1)


def _resized(plane: Any, size: tuple[int, int], box: tuple[float, ...], step: int) -> np.ndarray:
    """A band resampled bilinearly from `box` (full-size sprite pixels; `step` 2 for a half-size band) to
    `size`, as uint16; the box is kept inside the band (beyond it the sprite is clear padding anyway)."""
    from PIL import Image

    b = (max(0.0, box[0] / step), max(0.0, box[1] / step), min(plane.width, box[2] / step),
         min(plane.height, box[3] / step))  # fmt: skip
    return np.asarray(plane.resize(size, Image.BILINEAR, box=b), dtype=np.uint8).astype(np.uint16)
