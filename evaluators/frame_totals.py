"""The weight-free pixel metrics over a stream of frames: one pass, running totals, bounded memory.

`FrameTotals.add` takes a take's frames one at a time (small thumbnails, see the scorecard) and keeps
only sums and counts plus the previous frame, so scoring a take holds one or two frames whatever its
length. Each frame-to-frame difference is computed once and shared by the metrics that read it
(temporal flicker and frozen frames; the retimed take's rendered frames reuse it where they are
adjacent). The values are those of the whole-array formulas in `evaluators.metrics` (same definitions,
same float32 steps), up to float rounding of the sums; tests check the two against each other.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from evaluators.metrics import BLACK_LUMA, FROZEN_MAE, MOTION_FULL_SCALE, MOTION_GRID, block_means, luma


class FrameTotals:
    """Running totals of temporal flicker, motion, black and frozen frames over frames fed in order.

    `native`: the indices of the frames the model rendered, when the take was retimed (ascending);
    frozen-ness is judged on those where there are two or more, as `evaluators.registry` explains.
    """

    def __init__(self, native: Iterable[int] | None = None) -> None:
        self.native = frozenset(native) if native else frozenset()
        self.count = 0  # frames seen
        self.black = 0  # frames under the black level
        self.steps = 0  # consecutive pairs seen (count - 1)
        self.step_sum = 0.0  # sum of their mean absolute differences (0-255)
        self.frozen = 0  # pairs closer than FROZEN_MAE
        self.block_sum = 0.0  # sum of the pairs' mean absolute differences of 16x16 block means
        self.native_steps = 0  # the same two for consecutive rendered frames
        self.native_frozen = 0
        self._prev: np.ndarray | None = None
        self._prev_blocks: np.ndarray | None = None
        self._prev_native: tuple[int, np.ndarray] | None = None

    def add(self, frame: np.ndarray) -> None:
        """Fold in the next frame, uint8 [H,W,3] (the same size as the others)."""
        f = frame.astype(np.float32)
        blocks = block_means(frame[None], MOTION_GRID)[0]
        self.black += bool(luma(frame).mean() < BLACK_LUMA)
        step = None
        if self._prev is not None:
            step = float(np.abs(f - self._prev).mean())
            self.steps += 1
            self.step_sum += step
            self.frozen += step < FROZEN_MAE
            self.block_sum += float(np.abs(blocks - self._prev_blocks).mean())
        if self.count in self.native:
            self._add_native(f, step)
        self._prev, self._prev_blocks = f, blocks
        self.count += 1

    def _add_native(self, f: np.ndarray, step: float | None) -> None:
        if self._prev_native is not None:
            last, prev = self._prev_native
            if last != self.count - 1 or step is None:  # not adjacent: this pair's difference is new
                step = float(np.abs(f - prev).mean())
            self.native_steps += 1
            self.native_frozen += step < FROZEN_MAE
        self._prev_native = (self.count, f)

    def _need_two(self, name: str) -> None:
        if self.count < 2:
            raise ValueError(f"{name} needs at least 2 frames")

    def temporal_flicker(self) -> float:
        """`metrics.temporal_flicker` of the frames fed: (255 - mean step MAE) / 255."""
        self._need_two("temporal_flicker")
        return (255.0 - self.step_sum / self.steps) / 255.0

    def motion(self) -> float:
        """`metrics.motion` of the frames fed: the mean step MAE of block means, to full scale 0.08."""
        self._need_two("motion")
        return min(1.0, self.block_sum / self.steps / 255.0 / MOTION_FULL_SCALE)

    def black_fraction(self) -> float:
        """`metrics.black_fraction` of the frames fed."""
        if self.count == 0:
            raise ValueError("black_fraction needs at least 1 frame")
        return self.black / self.count

    def frozen_fraction(self) -> float:
        """`metrics.frozen_fraction` of the rendered frames where two or more were fed, else of all frames."""
        if self.native_steps >= 1:
            return self.native_frozen / self.native_steps
        self._need_two("frozen_fraction")
        return self.frozen / self.steps
