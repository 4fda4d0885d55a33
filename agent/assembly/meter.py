"""BS.1770 metering in blocks: integrated loudness fed a block at a time, and the true peak per sample.

Both hold a bounded amount of signal whatever its length (a second, and a block oversampled 4x), so a
mix of any length is measured while it is made or while it is decoded from a pipe.
"""

from __future__ import annotations

import functools

import numpy as np

from generators.lazy import scipy_module

SAMPLE_RATE = 48000
LOUDNESS_CHUNK = SAMPLE_RATE  # samples K-weighted at a time
GATE_BLOCK_S, GATE_STEP = 0.4, 0.25  # 400 ms gating blocks overlapping 75%
CHANNEL_GAINS = (1.0, 1.0, 1.0, 1.41, 1.41)


class LoudnessMeter:
    """Integrated loudness (ITU-R BS.1770-4: K-weighted, 400 ms blocks overlapping 75%, gated at -70 LUFS
    and -10 LU) of a signal fed in blocks of any size: pyloudnorm's numbers. Given the signal's length up
    front, the sums are the very ones of metering the whole array at once; without it, the same to float
    rounding (the last blocks' bounds are known only at the end)."""

    def __init__(self, channels: int, length: int | None = None) -> None:
        self.channels, self.length, self.fed = channels, length, 0
        self.nonzero = False
        self._pending: list[np.ndarray] = []  # samples short of a whole LOUDNESS_CHUNK
        self._edges = _gate_edges(length) if length is not None else np.zeros(1, np.int64)
        self._sums = np.zeros((channels, max(0, len(self._edges) - 1)))  # sum of squares between edges
        self._state = [[np.zeros(max(len(a), len(b)) - 1) for b, a, _ in _k_weighting()] for _ in range(channels)]

    def add(self, x: np.ndarray) -> None:
        """Feed the next samples, [N, channels] (or [N] for one channel)."""
        x = x if x.ndim == 2 else x[:, None]
        self.nonzero = self.nonzero or bool(np.any(x))
        self._pending.append(x)
        held = sum(len(p) for p in self._pending)
        if held >= LOUDNESS_CHUNK:
            block = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
            whole = held - held % LOUDNESS_CHUNK
            for start in range(0, whole, LOUDNESS_CHUNK):
                self._chunk(block[start : start + LOUDNESS_CHUNK])
            self._pending = [block[whole:]] if whole < held else []

    def lufs(self) -> float:
        """The integrated loudness of everything fed; -inf for silence or under 0.4 s."""
        for rest in self._pending:
            self._chunk(rest)
        self._pending = []
        n = self.fed
        if n < int(GATE_BLOCK_S * SAMPLE_RATE) or not self.nonzero:
            return float("-inf")
        return gated_loudness(self._block_powers(n))

    def _chunk(self, x: np.ndarray) -> None:
        """K-weight one chunk (a whole LOUDNESS_CHUNK, or the last) and add its squares between the edges."""
        scipy_module("scipy.signal")  # imported one thread at a time (generators.lazy)
        from scipy.signal import lfilter

        start, end = self.fed, self.fed + len(x)
        if self.length is None:
            self._grow_edges(end)
        edges = self._edges
        inside = edges[(edges > start) & (edges < end)]
        cuts = np.concatenate([[start], inside]) - start  # reduceat offsets within the chunk
        first = np.searchsorted(edges, start, side="right") - 1  # the segment this chunk starts in
        for ch in range(self.channels):
            y = x[:, ch].astype(np.float64)
            for k, (b, a, gain) in enumerate(_k_weighting()):
                y, self._state[ch][k] = lfilter(b, a, y, zi=self._state[ch][k])
                y = y * gain
            self._sums[ch, first : first + len(cuts)] += np.add.reduceat(y * y, cuts)
        self.fed = end

    def _grow_edges(self, end: int) -> None:
        """Edges of the gating blocks well past `end` (twice as far: few regrowths), so every edge under `end`
        is known before the samples up to it are summed; new edges all lie past what was summed."""
        if self._edges[-1] > end + SAMPLE_RATE:
            return
        j = np.arange(int((2 * end / SAMPLE_RATE + 2) / (GATE_BLOCK_S * GATE_STEP)) + 1)
        self._edges = np.unique(np.concatenate([self._edges, *_bounds(j)]))
        grown = np.zeros((self.channels, len(self._edges) - 1))
        grown[:, : self._sums.shape[1]] = self._sums
        self._sums = grown

    def _block_powers(self, n: int) -> np.ndarray:
        """Mean square of the K-weighted signal per gating block, [channels, blocks]."""
        count = int(np.round((n / SAMPLE_RATE - GATE_BLOCK_S) / (GATE_BLOCK_S * GATE_STEP))) + 1
        lower, upper = _bounds(np.arange(count))
        cumulative = np.concatenate([np.zeros((self.channels, 1)), np.cumsum(self._sums, axis=1)], axis=1)
        last = len(self._edges) - 1  # the total: nothing was added past n

        def at(v: np.ndarray) -> np.ndarray:
            return np.where(v < n, np.searchsorted(self._edges, np.minimum(v, n)), last)

        return (cumulative[:, at(upper)] - cumulative[:, at(lower)]) / (GATE_BLOCK_S * SAMPLE_RATE)


def gated_loudness(z: np.ndarray) -> float:
    """BS.1770's gated integrated loudness from per-block mean squares [channels, blocks]."""
    gains = np.array(CHANNEL_GAINS)[: z.shape[0], None]
    with np.errstate(divide="ignore"):
        blocks = -0.691 + 10 * np.log10((gains * z).sum(axis=0))
        gated = blocks >= -70.0
        if not gated.any():
            return float("-inf")
        relative = -0.691 + 10 * np.log10((gains[:, 0] * z[:, gated].mean(axis=1)).sum()) - 10.0
        kept = gated & (blocks > relative)
        if not kept.any():
            return float("-inf")
        return float(-0.691 + 10 * np.log10((gains[:, 0] * z[:, kept].mean(axis=1)).sum()))


def loudness(x: np.ndarray) -> float:
    """Integrated loudness in LUFS of a whole signal ([N] or [N, channels]), metered in chunks of a second."""
    x = x if x.ndim == 2 else x[:, None]
    meter = LoudnessMeter(x.shape[1], len(x))
    for start in range(0, len(x), LOUDNESS_CHUNK):
        meter.add(x[start : start + LOUDNESS_CHUNK])
    return meter.lufs()


def _bounds(j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample bounds of gating blocks `j` (pyloudnorm's expressions, to the sample)."""
    lower = np.array([int(GATE_BLOCK_S * (i * GATE_STEP) * SAMPLE_RATE) for i in j], np.int64)
    upper = np.array([int(GATE_BLOCK_S * (i * GATE_STEP + 1) * SAMPLE_RATE) for i in j], np.int64)
    return lower, upper


def _gate_edges(n: int) -> np.ndarray:
    """Every gating block's bounds in a signal of n samples, with 0 and n."""
    count = max(0, int(np.round((n / SAMPLE_RATE - GATE_BLOCK_S) / (GATE_BLOCK_S * GATE_STEP))) + 1)
    lower, upper = _bounds(np.arange(count))
    return np.unique(np.clip(np.concatenate([lower, upper, [0, n]]), 0, n))


@functools.cache
def _k_weighting() -> list[tuple[np.ndarray, np.ndarray, float]]:
    """BS.1770's K-weighting at 48 kHz as (b, a, passband gain) stages: pyloudnorm's own coefficients."""
    scipy_module("scipy.signal")  # imported one thread at a time (generators.lazy)
    import pyloudnorm

    return [(f.b, f.a, f.passband_gain) for f in pyloudnorm.Meter(SAMPLE_RATE)._filters.values()]


TRUE_PEAK_BLOCK = 1 << 16  # input samples oversampled at a time (memory stays bounded for any length)
TRUE_PEAK_PAD = 32  # input samples of context each side of a block (the 4x filter spans 10)


def true_peak(x: np.ndarray) -> np.ndarray:
    """Per-sample peak over channels of a 4x oversampled signal (BS.1770 true-peak estimate), in blocks
    with enough context either side that every value is the whole-signal one."""
    scipy_module("scipy.signal")  # imported one thread at a time (generators.lazy)
    from scipy.signal import resample_poly

    n = len(x)
    out = np.empty(n, np.float32)
    for a in range(0, n, TRUE_PEAK_BLOCK):
        b = min(n, a + TRUE_PEAK_BLOCK)
        s, e = max(0, a - TRUE_PEAK_PAD), min(n, b + TRUE_PEAK_PAD)
        over = np.abs(resample_poly(x[s:e], 4, 1, axis=0))
        if len(over) != 4 * (e - s):
            return np.abs(x).max(axis=1)
        out[a:b] = over[4 * (a - s) : 4 * (b - s)].reshape(b - a, 4, -1).max(axis=(1, 2))
    return out
