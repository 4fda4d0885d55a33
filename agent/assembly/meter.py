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
TRUE_PEAK_REACH = 10  # input samples the 4x filter reads either side of the one it interpolates around


def true_peak(x: np.ndarray, over: float | None = None) -> np.ndarray:
    """Per-sample peak over channels of a 4x oversampled signal (BS.1770 true-peak estimate), in blocks
    with enough context either side that every value is the whole-signal one.

    With `over`, only what can exceed it is oversampled: a sample whose 21 neighbours (the filter's reach)
    all lie under `over` / the filter's largest gain (the sum of one phase's magnitudes, ~2.24) cannot have
    a true peak over `over`, and gets its own magnitude instead, which is then at or under `over` as its
    true peak is. So every value over `over` is the true peak to the bit, and every other value is at or
    under `over`: a limiter's need (min(1, ceiling / peak)) or a running maximum comes out the same. The
    spans that may exceed it are oversampled together, each with its own context (~10% of a mastered mix
    at a -2 dBTP ceiling)."""
    x = x if x.ndim == 2 else x[:, None]
    n = len(x)
    if over is None or n == 0:
        out = np.empty(n, np.float32)
        _oversampled(x, [(0, n)], out)
        return out
    scipy_module("scipy.ndimage")  # imported one thread at a time (generators.lazy)
    from scipy.ndimage import maximum_filter1d

    out = _row_max(np.abs(x)).astype(np.float32, copy=False)
    near = maximum_filter1d(out, 2 * TRUE_PEAK_REACH + 1, mode="constant")
    _oversampled(x, _runs(near.astype(np.float64) * _filter_gain() > over, 2 * TRUE_PEAK_PAD), out)
    return out


def _oversampled(x: np.ndarray, spans: list[tuple[int, int]], out: np.ndarray) -> None:
    """Write the true peak of the samples in `spans` of x [N, channels] into `out` [N] there: the spans,
    each with TRUE_PEAK_PAD samples of context either side (zeros past the signal's ends, as resample_poly
    takes them), are oversampled back to back, up to TRUE_PEAK_BLOCK samples at a time. Each value reads only
    its own span's context (the filter reaches 10), so it is the whole signal's to the bit."""
    scipy_module("scipy.signal")  # imported one thread at a time (generators.lazy)
    from scipy.signal import resample_poly

    n, pad = len(x), TRUE_PEAK_PAD

    def context(a: int, b: int) -> np.ndarray:  # samples [a - pad, b + pad), zeros outside the signal
        if a >= pad and b + pad <= n:
            return x[a - pad : b + pad]
        return np.pad(x[max(0, a - pad) : b + pad], ((max(0, pad - a), max(0, b + pad - n)), (0, 0)))

    pieces = [(a, min(b, a + TRUE_PEAK_BLOCK)) for a0, b in spans for a in range(a0, b, TRUE_PEAK_BLOCK)]
    first, held = 0, 0
    for k, (a, b) in enumerate(pieces):
        held += b - a + 2 * pad
        if held < TRUE_PEAK_BLOCK and k + 1 < len(pieces):
            continue
        group, first, held = pieces[first : k + 1], k + 1, 0
        windows = np.concatenate([context(a, b) for a, b in group])
        peaks = _row_max(np.abs(resample_poly(windows, 4, 1, axis=0)).reshape(len(windows), -1))
        at = 0
        for a, b in group:
            out[a:b] = peaks[at + pad : at + pad + b - a]
            at += b - a + 2 * pad


@functools.cache
def _filter_gain() -> float:
    """The largest gain of resample_poly's 4x filter on any input (its phases' sums of magnitudes), with a
    margin for float rounding: no interpolated value exceeds it times the largest input in its reach."""
    scipy_module("scipy.signal")  # imported one thread at a time (generators.lazy)
    from scipy.signal import firwin

    taps = firwin(2 * 4 * TRUE_PEAK_REACH + 1, 1 / 4, window=("kaiser", 5.0)) * 4  # resample_poly's, for 4/1
    return float(max(np.abs(taps[q::4]).sum() for q in range(4))) * (1 + 1e-4)


def _row_max(a: np.ndarray) -> np.ndarray:
    """The largest value of each row of a 2-D array with few columns (numpy's reduction over a short last
    axis costs several times this)."""
    out = a[:, 0].copy()
    for k in range(1, a.shape[1]):
        np.maximum(out, a[:, k], out=out)
    return out


def _runs(mask: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """The [start, end) spans where `mask` is set, spans closer than `gap` joined."""
    edges = np.flatnonzero(np.diff(np.concatenate([[False], mask, [False]]).astype(np.int8)))
    spans: list[tuple[int, int]] = []
    for a, b in zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True):
        if spans and a - spans[-1][1] < gap:
            spans[-1] = (spans[-1][0], b)
        else:
            spans.append((a, b))
    return spans
