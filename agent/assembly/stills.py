"""Still images of a cut: the poster frame and the contact sheet (a thumbnail per shot, scores beneath).

Both start from the shots' middle frames as the chunks keep them (yuv420p). The poster is the frame as a
full-size PNG; where the cut's pieces are kept (`keep`, the workspace's cut-cache/parts/), that PNG is kept
there too under the frame's digest, so a cut whose poster frame did not change (an edit to another shot's
words, the end card) copies it rather than converts and compresses it again. The contact sheet scales each
frame straight from yuv420p to its thumbnail (swscale), and draws its labels and scores, which are plain
ASCII as a rule, from glyphs rendered once per process (`draw_label`): PIL rasterises every glyph of a string
anew on each call, some 75 us a glyph in the hinted Noto Sans, and a sheet has about 60 lines.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from pathlib import Path
from typing import Any

import numpy as np

from agent.assembly.captions import load_font
from generators.atomic import atomic_path, copy_file

THUMB_LONG_SIDE = 320
POSTER_FORMAT = 1  # raise when the poster's conversion or encoding changes: kept posters are not reused


def yuv420_to_rgb(frame: np.ndarray, width: int | None = None, height: int | None = None) -> np.ndarray:
    """A yuv420p buffer (H*3/2, W) back to RGB, through swscale like the rest of the pipeline; with a size, scaled
    to it in the same pass (area-averaged: a thumbnail)."""
    import av

    yuv = av.VideoFrame.from_ndarray(frame, format="yuv420p")
    if width is None:
        return yuv.reformat(format="rgb24").to_ndarray()
    return yuv.reformat(width=width, height=height, format="rgb24", interpolation="AREA").to_ndarray()


def save_png(path: Path, rgb: np.ndarray) -> None:
    """Write a PNG atomically, at zlib level 3: a 720p poster or a contact sheet in half the time or less of
    the default 6, for files 10-17% larger."""
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(rgb).save(tmp, format="PNG", compress_level=3)


def save_poster(path: Path, frame: np.ndarray, keep: Path | None = None) -> None:
    """Write the poster PNG of a yuv420p `frame` to `path` (atomically); with `keep`, a folder, copied from
    the PNG kept there for the same frame, else made and kept there first."""
    if keep is None:
        save_png(path, yuv420_to_rgb(frame))
        return
    digest = hashlib.sha256(f"{POSTER_FORMAT} {frame.shape} {frame.dtype}".encode())
    digest.update(np.ascontiguousarray(frame).data)
    kept = Path(keep) / f"poster-{digest.hexdigest()[:32]}.png"
    if not kept.is_file():
        save_png(kept, yuv420_to_rgb(frame))
    copy_file(kept, path)


def contact_sheet(frames: list[np.ndarray], labels: list[str], scores: list[dict], title: str) -> np.ndarray:
    """Thumbnails of yuv420p `frames` (H*3/2 x W) in a grid, each with its label and scores (metric: value)
    underneath."""
    from PIL import Image

    h0, w0 = frames[0].shape[0] * 2 // 3, frames[0].shape[1]
    scale = THUMB_LONG_SIDE / max(h0, w0)
    tw, th = max(2, int(w0 * scale)), max(2, int(h0 * scale))
    cols = min(len(frames), 4 if tw >= th else 6)
    rows = -(-len(frames) // cols)
    body, head = load_font(13, bold=False), load_font(16, bold=True)
    lines = max([1 + len(s) for s in scores] + [1])
    cell_h, pad, top = th + 8 + 17 * lines, 12, 36
    sheet = Image.new("RGB", (cols * (tw + pad) + pad, top + rows * (cell_h + pad)), (246, 246, 244))
    draw_label(head, sheet, (pad, 10), title, (20, 20, 20))
    for i, frame in enumerate(frames):
        x, y = pad + (i % cols) * (tw + pad), top + (i // cols) * (cell_h + pad)
        sheet.paste(Image.fromarray(yuv420_to_rgb(frame, tw, th)), (x, y))
        draw_label(body, sheet, (x, y + th + 4), labels[i], (20, 20, 20))
        metric_items = scores[i].items() if i < len(scores) else []
        for j, (name, value) in enumerate(metric_items):
            text = f"{name}: {value:.3f}" if isinstance(value, int | float) else f"{name}: {value if value is not None else 'n/a'}"
            draw_label(body, sheet, (x, y + th + 4 + 17 * (j + 1)), text, (70, 70, 70))
    return np.asarray(sheet)


def draw_label(font: Any, image: Any, xy: tuple[float, float], text: str, fill: Any) -> None:
    """Draw one line of `font` (a FontStack) with its top-left at `xy`, as FontStack.draw places it: a plain
    line (generators.text.FontStack.plain_face) glyph by glyph from masks rendered once per process, each at
    its advance from the last (no kerning: for labels, not for the ad's own type); any other by its FontStack."""
    face = font.plain_face(text)
    if face is None:
        font.draw(image, xy, text, fill)
        return
    x, baseline = xy[0], round(xy[1] + font.getmetrics()[0])
    for ch in text:
        mask, left, top, advance = _glyph(face.path, face.index, font.size, ch)
        if mask is not None:
            image.paste(fill, (round(x) + left, baseline + top), mask)
        x += advance


@functools.lru_cache(maxsize=4096)
def _glyph(path: str, index: int, size: int, ch: str) -> tuple[Any, int, int, float]:
    """A character's coverage mask ("L", only read), its offset from the pen on the baseline, and its advance;
    kept per process (a sheet has about 60 lines of the same few dozen characters)."""
    from PIL import Image, ImageDraw

    from generators.text import pil_font

    font = pil_font(path, index, size, threading.get_ident())
    advance = font.getlength(ch)
    left, top, right, bottom = font.getbbox(ch, anchor="ls")
    if right <= left or bottom <= top:
        return None, 0, 0, advance  # a space
    mask = Image.new("L", (right - left, bottom - top), 0)
    ImageDraw.Draw(mask).text((-left, -top), ch, font=font, fill=255, anchor="ls")
    return mask, left, top, advance
