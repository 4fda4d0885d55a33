"""A take's pixel grid, kept beside it, so scoring it again under new words decodes nothing.

The weight-free metrics read each frame on a regular grid of its pixels (`evaluators.scorecard.thumbnail`:
every s-th pixel of the frame scaled for scoring). A take whose caption is set in its type layer is scored as
delivered, the caption drawn on every frame (`generators.type_layer.typed_frames`), so an edit to the words
scores it again. Drawing the type is pixel-local: each pixel it touches becomes a mix of that pixel and the
type's own (PIL pastes through a mask, fills a rectangle), never of its neighbours. So the grid of a typed
frame is the type drawn over the grid of the bare frame, and the bare grid, kept from the first scoring pass
(`GridTap`), stands in for decoding the take: each kept grid frame is spread back over a frame of the scoring
size (`Grid.carriers`: each grid pixel repeated over its s x s cell), the type drawn on that as on a decoded
frame, and the grid read off it again is, pixel for pixel, the decoded frame's (tests/test_take_grid.py
checks that the scores are equal). Only the weight-free metrics can be served so: CLIP reads whole frames,
and with an embedder the take is decoded as before.

A grid is a zip of .npy blocks of BLOCK frames (deflated at level 1: ~0.6 MB for a 2-second take, ~2 MB
bare), written as the frames pass and renamed into place whole (generators.atomic), read a block at a time:
memory holds one block whatever the take's length. A main-job take reads back in ~15 ms where decoding it
took ~0.4 CPU-seconds.
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from evaluators.scorecard import THUMB_SIDE, thumbnail

GRID_FORMAT = 1  # raise when what a grid holds changes: older grids are then not read
BLOCK = 24  # frames per block: memory holds one block (~1 MB for a 320-pixel scoring size)


class GridDamaged(ValueError):
    """A kept grid that does not read back whole (its reader removes it and decodes the take)."""


def grid_path(media: Path, max_side: int) -> Path:
    """Where the grid of `media` decoded at `max_side` is kept: beside it, named by how it was read."""
    media = Path(media)
    return media.with_name(f"{media.stem}.grid-{max_side}-{THUMB_SIDE}-v{GRID_FORMAT}.npz")


class Grid:
    """A kept grid: `count` frames of `height` x `width` (the scoring size), read back a block at a time."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            with zipfile.ZipFile(self.path) as zf:
                names = set(zf.namelist())
                with zf.open("frame.npy") as f:
                    self.height, self.width, self.count = (int(v) for v in np.lib.format.read_array(f))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise GridDamaged(f"{type(exc).__name__}: {exc}") from None
        if min(self.height, self.width, self.count) < 1 or names != {"frame.npy", *_block_names(self.count)}:
            raise GridDamaged(f"blocks {sorted(names)} for {self.count} frames")

    def carriers(self) -> Iterator[np.ndarray]:
        """Frames [H,W,3] of the scoring size whose grid is the kept one, in order (a damaged block: GridDamaged)."""
        s = max(1, math.ceil(max(self.height, self.width) / THUMB_SIDE))
        try:
            with zipfile.ZipFile(self.path) as zf:
                for name in _block_names(self.count):
                    with zf.open(name) as f:
                        block = np.lib.format.read_array(f, allow_pickle=False)
                    for cells in block:
                        yield np.ascontiguousarray(np.repeat(np.repeat(cells, s, 0), s, 1)[: self.height, : self.width])
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise GridDamaged(f"{type(exc).__name__}: {exc}") from None


class GridTap:
    """Keeps the grid of every frame that passes through `frames` and, when the `with` block ends without an
    error, keeps it at `path` (None: keeps nothing). A grid that cannot be written (a full disk) only costs
    a decode later: it is dropped with a warning, and the frames still pass."""

    def __init__(self, path: Path | None, warn: Callable[[str], None] | None = None) -> None:
        from generators.atomic import temp_path

        self.path, self.warn = path, warn
        self.tmp = temp_path(path) if path is not None else None
        self._zip: zipfile.ZipFile | None = None
        self._block: list[np.ndarray] = []
        self._size: tuple[int, int] | None = None
        self.count = 0

    def __enter__(self) -> GridTap:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self._keep()
        self._drop()

    def frames(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """The frames, unchanged, their grid kept on the way."""
        for frame in frames:
            if self.tmp is not None:
                self._add(frame)
            yield frame

    def _add(self, frame: np.ndarray) -> None:
        size = frame.shape[:2]
        try:
            if self._size is not None and size != self._size:
                raise ValueError(f"frame {self.count} is {size[1]}x{size[0]}, the take's first {self._size[1]}x{self._size[0]}")
            if self._zip is None:
                self._zip = zipfile.ZipFile(self.tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1)
            self._size = size
            self._block.append(thumbnail(frame))
            self.count += 1
            if len(self._block) == BLOCK:
                self._flush()
        except (OSError, ValueError) as exc:
            self._fail(exc)

    def _flush(self) -> None:
        if self._block:
            self._write(_block_names(self.count)[-1], np.stack(self._block))
            self._block = []

    def _write(self, name: str, array: np.ndarray) -> None:
        with self._zip.open(name, "w") as f:
            np.lib.format.write_array(f, array, allow_pickle=False)

    def _keep(self) -> None:
        if self.tmp is None or self._zip is None:
            return
        from generators.atomic import atomic_path
        from generators.errors import StorageError

        try:
            self._flush()
            self._write("frame.npy", np.array([*self._size, self.count], np.int64))
            self._zip.close()
            self._zip = None
            with atomic_path(self.path) as final:
                os.replace(self.tmp, final)
        except (OSError, ValueError, StorageError) as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        if self.warn is not None:
            self.warn(f"{self.path}: the pixel grid was not kept ({type(exc).__name__}: {exc}); scoring this take "
                      "again will decode it")  # fmt: skip
        self._drop()
        self.tmp = None

    def _drop(self) -> None:
        if self._zip is not None:
            try:
                self._zip.close()
            except (OSError, ValueError):
                pass
            self._zip = None
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


def _block_names(count: int) -> list[str]:
    """The blocks of a grid of `count` frames, in order."""
    return [f"b{k:05d}.npy" for k in range(-(-count // BLOCK))]
