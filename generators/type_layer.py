"""A take's caption as a layer: how the motion backend sets its caption as kinetic type, without the words.

The motion backend renders its take without the caption and records this layer in the take's metadata:
the type's box, size, alignment, colours, entrance style, plate and drift, all drawn from the take's
design. Assembly sets the shot's caption with it and draws it over the take's frames, frame by frame, as
the backend would have drawn it (agent.assembly.type_track). So a caption edit re-encodes the shot's
chunk and never renders or scores the take again, and the type is drawn once, at the cut's size, over
the decoded take instead of being encoded into the take and then again into the cut.

Boxes are fractions of the take's frame; `size` is a fraction of its height. A `view` (the part of the
take's frame the cut shows, in the same fractions) maps them onto any frame, so a reframed or scaled
take gets its type set at the cut's own size rather than scaled with the picture.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from generators.errors import BriefcutError
from generators.kinetic import STYLES, Kinetic, set_caption
from generators.motion_look import RGB, Box

TYPE_DRIFT = 0.03  # a settled caption grows this fraction per second (and lifts), so a hold still moves
ENTER_AT_S = 0.12  # when a caption that enters with its shot starts to come on
ALREADY_IN = -10.0  # a caption continuing from the shot before is in place from the first frame
FULL_VIEW: Box = (0.0, 0.0, 1.0, 1.0)
STAT = re.compile(r"\d+(?:[.,]\d+)?\s?%?")
FIGURE_DEPTH = 0.5  # the big figure's parallax: it moves half the camera's travel
FIGURE_FADE_S = 0.35  # the big figure fades in over this long
FIGURE_ALPHA = 235


def figure_of(caption: str) -> str | None:
    """The big figure a caption's copy has ("24", "30%"), or None."""
    match = STAT.search(caption or "")
    return match.group(0).replace(" ", "") if match else None


class TypeLayerError(BriefcutError):
    """A take's type layer record that cannot be read."""


@dataclass(frozen=True)
class FigureSlot:
    """Where a big figure from the caption goes on a shot whose type is the hero (no product): the figure's
    box and the type's box beside it (fractions of the frame), its colour, and the camera it moves with."""

    box: Box
    text_box: Box
    colour: RGB
    camera: str
    seed: int


@dataclass(frozen=True)
class TypeLayer:
    """Where and how a shot's caption is set as kinetic type (no words: those come from the plan)."""

    box: Box  # the type's box, fractions of the frame
    align: str  # "left" | "center" | "right"
    size: float  # the type's starting size, a fraction of the frame's height
    ink: RGB
    accent: RGB
    style: str  # the entrance: one of kinetic.STYLES
    anchor: float = 0.5  # where the block sits in its box's height (0: top, 0.5: middle)
    plate: RGB | None = None  # a backing plate's colour, or None
    limit: Box | None = None  # the settled drift never takes the type outside this box (fractions)
    drift: float = TYPE_DRIFT
    figure: FigureSlot | None = None  # a caption with a number shows it big, here (None: never on this shot)

    def record(self) -> dict[str, Any]:
        """The layer as JSON-able data, for the take's metadata."""
        return asdict(self)

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> TypeLayer:
        """The layer from `record`'s data; a TypeLayerError names what is wrong."""
        try:
            layer = cls(box=_box(data["box"]), align=str(data["align"]), size=float(data["size"]),
                        ink=_rgb(data["ink"]), accent=_rgb(data["accent"]), style=str(data["style"]),
                        anchor=float(data.get("anchor", 0.5)),
                        plate=_rgb(data["plate"]) if data.get("plate") is not None else None,
                        limit=_box(data["limit"]) if data.get("limit") is not None else None,
                        drift=float(data.get("drift", TYPE_DRIFT)),
                        figure=_slot(data["figure"]) if data.get("figure") is not None else None)  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise TypeLayerError(f"a take's type layer record is unreadable ({exc!r}): {data!r}") from exc
        if layer.align not in ("left", "center", "right") or layer.style not in STYLES:
            raise TypeLayerError(f"a take's type layer has align '{layer.align}' and style '{layer.style}'; "
                                 f"known: left, center, right and {', '.join(STYLES)}")  # fmt: skip
        return layer

    def kinetic(self, text: str, width: int, height: int, font: Path | None = None, lang: str | None = None,
                enters: bool = True, view: Box = FULL_VIEW) -> Kinetic | None:  # fmt: skip
        """`text` set in this layer on a `width` x `height` frame that shows `view` of the take's frame
        (None for no text); `enters`: it comes on with the shot, else it is already there."""
        px = _mapper(view, width, height)
        size = self.size * height / max(1e-9, view[3] - view[1])
        box = self.figure.text_box if self.figure is not None and figure_of(text) else self.box
        return set_caption(text, px(box), self.align, size, self.ink, self.accent, self.style, font, lang,
                           start_s=ENTER_AT_S if enters else ALREADY_IN, anchor=self.anchor, plate=self.plate,
                           limit=px(self.limit) if self.limit is not None else None)  # fmt: skip


    def figure_sprite(self, text: str, width: int, height: int, font: Path | None = None, lang: str | None = None,
                      view: Box = FULL_VIEW) -> tuple[Any, Box] | None:  # fmt: skip
        """The big figure of `text` drawn in this layer's slot (a padded RGBA sprite) and where it sits at the
        camera's neutral pose, in pixels of a `width` x `height` frame showing `view`; None: no figure."""
        stat = figure_of(text)
        if self.figure is None or stat is None:
            return None
        from PIL import Image

        from generators.motion_layers import padded
        from generators.text import fit_text

        x0, y0, x1, y1 = _mapper(view, width, height)(self.figure.box)
        stack, _ = fit_text(stat, x1 - x0, 1, (y1 - y0) * 0.9, (y1 - y0) * 0.3, True, font, lang)
        ascent, descent = stack.getmetrics(stat)
        w, h = int(stack.getlength(stat)) + 4, ascent + descent
        img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        stack.draw(img, (2, 0), stat, self.figure.colour + (FIGURE_ALPHA,), ascent=ascent)
        cx = (x0 + x1) / 2 if self.align == "center" else x0 + w / 2
        cy = (y0 + y1) / 2
        return padded(img), (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def fractions(box: Box, width: int, height: int) -> Box:
    """A pixel box as fractions of a `width` x `height` frame."""
    return (box[0] / width, box[1] / height, box[2] / width, box[3] / height)


def _mapper(view: Box, width: int, height: int) -> Any:
    vx0, vy0, vx1, vy1 = view
    sx, sy = width / max(1e-9, vx1 - vx0), height / max(1e-9, vy1 - vy0)

    def px(box: Box) -> Box:
        return ((box[0] - vx0) * sx, (box[1] - vy0) * sy, (box[2] - vx0) * sx, (box[3] - vy0) * sy)

    return px


def _box(value: Any) -> Box:
    x0, y0, x1, y1 = (float(v) for v in value)
    return (x0, y0, x1, y1)


def _slot(data: dict[str, Any]) -> FigureSlot:
    return FigureSlot(box=_box(data["box"]), text_box=_box(data["text_box"]), colour=_rgb(data["colour"]),
                      camera=str(data["camera"]), seed=int(data["seed"]))  # fmt: skip


def _rgb(value: Any) -> RGB:
    r, g, b = (int(v) for v in value)
    return (r, g, b)


def typed_frames(frames: Any, layer: TypeLayer, text: str, fps: float, total: int, font: Path | None = None,
                 lang: str | None = None, enters: bool = True) -> Any:  # fmt: skip
    """RGB frames (an iterator, any size) with `text` set in `layer` on each, as the shot is delivered: the big
    figure moving with the camera, then the kinetic caption, at the frame's own size (scoring sees this)."""
    from PIL import Image

    from generators.motion_layers import place, screen_rect

    kinetic, figure, camera = None, None, None
    for j, frame in enumerate(frames):
        h, w = frame.shape[:2]
        if j == 0:
            kinetic = layer.kinetic(text, w, h, font, lang, enters)
            figure = layer.figure_sprite(text, w, h, font, lang)
            if figure is not None and layer.figure is not None:
                from generators.camera import CameraPath, camera_move

                camera = CameraPath(camera_move(layer.figure.camera), layer.figure.seed)
        if kinetic is None and figure is None:
            yield frame
            continue
        img = Image.fromarray(frame)
        t_s = j / fps
        if figure is not None and camera is not None and t_s > 0:
            pose = camera.pose(j / max(1, total - 1)).at_depth(FIGURE_DEPTH)
            place(img, figure[0], screen_rect(figure[1], pose, w, h), min(1.0, t_s / FIGURE_FADE_S))
        if kinetic is not None:
            kinetic.draw(img, t_s, drift=layer.drift)
        yield np.asarray(img)
