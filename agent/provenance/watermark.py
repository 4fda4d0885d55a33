"""An invisible watermark in every frame's luma, carrying a 32-bit cut key (+ a 16-bit CRC).

Why not the DWT-DCT method of the `invisible-watermark` package: its bits sit in 4x4 DCT blocks of the
frame's wavelet band at fixed positions, so a crop that moves the block grid or a rescale loses them.
This is a spread-spectrum mark built to survive both, in numpy alone:

- a tile of 32x32 chips, each chip a 4x4-pixel block of +-A luma levels, repeated over the whole frame;
  every one of the 48 bits owns 21 or 22 chips scattered over the tile, each chip's sign keyed (pseudo-random);
- to read it, each frame's luma is high-passed (the picture removed, the mark kept), folded modulo the
  tile (every tile of every frame summed onto one), and correlated with each bit's chips at every cyclic
  offset (FFT): a crop only moves the offset, which the correlation finds;
- a rescale is undone by trying scale factors (the common ones first, then a fine grid) and keeping the
  one whose correlation peak stands out; the CRC says whether what was read is a mark at all.

Bit accuracy after re-encoding, scaling and cropping is measured by `bench/watermark.py` (README).
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from generators.lazy import scipy_module

CHIP = 4  # pixels per chip side at the scale the mark was embedded
CHIPS = 32  # chips per tile side
TILE = CHIP * CHIPS  # 128 pixels
ID_BITS, CRC_BITS = 32, 16
BITS = ID_BITS + CRC_BITS
K = ID_BITS // 8  # key bytes
# Luma levels (of 255): PSNR 38.8 dB against the unmarked frames. 2 levels (42 dB) lost the mark after a
# half-size CRF 28 re-encode of a 720p cut; a per-block contrast mask (1.5 on flat areas, 4 on busy ones)
# did no better than the constant at the same PSNR. On flat areas it shows as faint grain side by side.
AMPLITUDE = 3.0
KEY = b"briefcut-watermark-v1"
PEAK_Z = 6.0  # how far (in standard deviations) the correlation peak must stand above the other offsets
COMMON_SCALES = (1.0, 0.5, 0.75, 2 / 3, 0.9, 1 / 0.9, 1.5, 2.0, 1 / 3, 0.25, 1.25, 0.8)


@dataclass(frozen=True)
class Reading:
    """What was read from frames: whether a valid mark was found, its payload, and how sure."""

    found: bool
    payload: str | None  # the 32-bit cut key as 8 hex digits (None when nothing was read)
    bits: list[int]  # all 48 bits as read (payload then CRC), for bit-accuracy measurements
    scale: float  # the scale the frames were found at, relative to the marked original
    offset: tuple[int, int]
    peak_z: float
    frames: int


def cut_key(text: str) -> str:
    """The 32-bit key of a cut (8 hex digits) from its identifying text."""
    return hashlib.sha256(text.encode()).hexdigest()[: ID_BITS // 4]


def payload_bits(key_hex: str) -> np.ndarray:
    """The 48 bits (0/1) embedded for an 8-hex-digit key: the key, then its CRC-16."""
    raw = bytes.fromhex(key_hex)
    if len(raw) * 8 != ID_BITS:
        raise ValueError(f"a watermark key is {ID_BITS // 4} hex digits, got {key_hex!r}")
    crc = binascii.crc_hqx(raw, 0).to_bytes(2, "big")
    return np.unpackbits(np.frombuffer(raw + crc, dtype=np.uint8))


@lru_cache(maxsize=1)
def _layout() -> tuple[np.ndarray, np.ndarray]:
    """(chip signs +-1, chip -> bit) over the 32x32 tile; the same for every cut (keyed by KEY)."""
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(KEY).digest()[:8], "big"))
    signs = rng.choice(np.array([-1.0, 1.0]), size=(CHIPS, CHIPS))
    owner = rng.permutation(np.arange(CHIPS * CHIPS) % BITS).reshape(CHIPS, CHIPS)
    return signs, owner


def _chips_to_pixels(chips: np.ndarray) -> np.ndarray:
    return np.kron(chips, np.ones((CHIP, CHIP)))


def pattern(key_hex: str, height: int, width: int, amplitude: float | None = None) -> np.ndarray:
    """The luma offsets (int16, height x width) that carry `key_hex`, tiled from the frame's top left."""
    signs, owner = _layout()
    bits = payload_bits(key_hex).astype(np.float64) * 2 - 1
    tile = _chips_to_pixels(signs * bits[owner]) * (AMPLITUDE if amplitude is None else amplitude)
    reps = (-(-height // TILE), -(-width // TILE))
    return np.rint(np.tile(tile, reps)[:height, :width]).astype(np.int16)


def embed(frames: Iterable[np.ndarray], key_hex: str, width: int, height: int) -> Iterator[np.ndarray]:
    """Mark yuv420p frames (H*3/2 x W buffers) in their luma, kept in video range (16-235: the mark never
    clips into black or white crush); each yielded frame is a new buffer, the same again for a frame
    given again (a held frame, the end card).

    In uint8 alone: clip(y + d, 16, 235) is clip(y, 16 - d, 235 - d) + d, the sum wrapping where d < 0
    (exact for |d| <= 16), so no frame is widened to int16 (0.95 -> 0.7 ms a 720x1280 frame)."""
    low, high, step = _bounds(key_hex, height, width)
    given: np.ndarray | None = None
    for frame in frames:
        if frame is not given:
            given, out = frame, np.empty_like(frame)
            out[height:] = frame[height:]
            luma = out[:height]
            np.maximum(frame[:height], low, out=luma)
            np.minimum(luma, high, out=luma)
            np.add(luma, step, out=luma)
        yield out


@lru_cache(maxsize=4)
def _bounds(key_hex: str, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`embed`'s clip bounds and step for a key and frame size (read-only), made once per process: a cut's
    pieces are encoded one by one, and an edit's end cards ahead of its assembly, each with the same mark.
    Four kept: 2.7 MB each at 720p, 6 MB at 1080p (a cut evicted by others is worked out again, ~10 ms)."""
    delta = pattern(key_hex, height, width)
    if np.abs(delta).max() > 16:
        raise ValueError("a watermark amplitude over 16 luma levels would not stay in video range")
    out = (16 - delta).astype(np.uint8), (235 - delta).astype(np.uint8), delta.astype(np.uint8)  # -3 as 253
    for a in out:
        a.flags.writeable = False
    return out


# Reading --------------------------------------------------------------------------------------


class _Frames:
    """The luma planes of a video being read, high-passed once per filter size (the costly part): at the
    file's own size, with a window matched to the chip size at the trial scale, then rescaled per scale."""

    def __init__(self, lumas: list[np.ndarray]) -> None:
        self.lumas = [y.astype(np.float32) for y in lumas]
        self._residuals: dict[int, list[np.ndarray]] = {}

    def residuals(self, scale: float) -> list[np.ndarray]:
        """Luma minus its local mean (a window of about two chips), clipped so edges do not drown the mark."""
        scipy_module("scipy.ndimage")  # imported one thread at a time (generators.lazy)
        from scipy.ndimage import uniform_filter

        size = max(3, int(round(2 * CHIP * scale)) | 1)
        if size not in self._residuals:
            self._residuals[size] = [np.clip(y - uniform_filter(y, size=size, mode="reflect"),
                                             -8 * AMPLITUDE, 8 * AMPLITUDE) for y in self.lumas]
        return self._residuals[size]


def _rescale(luma: np.ndarray, factor: float) -> np.ndarray:
    """Luma resized by `factor` (bilinear, in float)."""
    from PIL import Image

    if abs(factor - 1.0) < 1e-6:
        return luma.astype(np.float32)
    h, w = luma.shape
    size = (max(8, round(w * factor)), max(8, round(h * factor)))
    return np.asarray(Image.fromarray(luma.astype(np.float32), mode="F").resize(size, Image.BILINEAR))


def _fold(residuals: list[np.ndarray]) -> np.ndarray:
    """Every tile of every frame's residual summed onto one TILE x TILE tile (mean per position)."""
    total, count = np.zeros((TILE, TILE)), np.zeros((TILE, TILE))
    for r in residuals:
        h, w = r.shape
        ph, pw = -(-h // TILE) * TILE, -(-w // TILE) * TILE
        padded, mask = np.zeros((ph, pw)), np.zeros((ph, pw))
        padded[:h, :w], mask[:h, :w] = r, 1.0
        total += padded.reshape(ph // TILE, TILE, pw // TILE, TILE).sum(axis=(0, 2))
        count += mask.reshape(ph // TILE, TILE, pw // TILE, TILE).sum(axis=(0, 2))
    return total / np.maximum(count, 1.0)


@lru_cache(maxsize=4)
def _templates_fft(tile: int) -> np.ndarray:
    """Each bit's keyed chips as a TILE x TILE template, in the frequency domain (conjugated)."""
    fft = scipy_module("scipy.fft")

    signs, owner = _layout()
    stack = np.stack([_chips_to_pixels(signs * (owner == k)) for k in range(BITS)])
    return np.conj(fft.rfft2(stack))


def _correlate(tile: np.ndarray, bits: int = BITS) -> tuple[np.ndarray, tuple[int, int], float]:
    """Per-bit correlations at the best cyclic offset, that offset, and its peak's z-score (from the
    first `bits` bits only, when probing)."""
    fft = scipy_module("scipy.fft")

    corr = fft.irfft2(fft.rfft2(tile)[None] * _templates_fft(TILE)[:bits], s=tile.shape)  # [bit, dy, dx]
    score = np.abs(corr).sum(axis=0)
    dy, dx = np.unravel_index(int(np.argmax(score)), score.shape)
    z = float((score[dy, dx] - score.mean()) / (score.std() + 1e-12))
    return corr[:, dy, dx], (int(dy), int(dx)), z


def _scales() -> list[float]:
    fine = np.geomspace(0.3, 2.2, 135)  # steps of 1.5%: a tile is misread by under 2 pixels between them
    return list(COMMON_SCALES) + [float(s) for s in fine if min(abs(s - c) for c in COMMON_SCALES) > 0.004]


def read(lumas: list[np.ndarray], search: bool = True) -> Reading:
    """Read the mark from luma planes (uint8, any size) of frames of one video.

    The frames may have been re-encoded, rescaled (by `search`ing scale factors) or cropped. The common
    scales are tried first; then a fine grid is probed on a few frames and its three best scales decoded."""
    if not lumas:
        return Reading(False, None, [], 1.0, (0, 0), 0.0, 0)
    frames = _Frames(lumas)
    tried: list[Reading] = []
    for scale in _candidates(frames, search):
        tried.append(_decode_some(frames, scale))
        if tried[-1].found:
            return tried[-1]
    return max(tried, key=lambda r: r.peak_z)


def _candidates(frames: _Frames, search: bool) -> Iterator[float]:
    """Scales to decode at, cheapest guesses first: as marked; then each common scale whose probe hints
    at a mark (a probe sees few tiles); then the fine grid's three best by probe."""
    yield 1.0
    if not search:
        return
    yield from (s for s in COMMON_SCALES[1:] if _probe(frames, s) >= PEAK_Z / 2)
    yield from sorted(_scales()[len(COMMON_SCALES):], key=lambda s: -_probe(frames, s, count=2, tiles=2))[:3]


def _decode_some(frames: _Frames, scale: float) -> Reading:
    """Decode on a quarter of the frames first; on all of them only where that shows a mark."""
    some = _decode(frames, scale, 4) if len(frames.lumas) >= 16 else None
    if some is not None and (some.found or some.peak_z < PEAK_Z * 0.75):
        return some
    return _decode(frames, scale)


def _probe(frames: _Frames, scale: float, count: int = 3, tiles: int = 3) -> float:
    """The correlation peak's z-score at one scale, on the middle of `count` frames (`tiles` tiles square)."""
    residuals = frames.residuals(scale)
    side = int(tiles * TILE * scale)
    crops = [y[max(0, (y.shape[0] - side) // 2):][:side, max(0, (y.shape[1] - side) // 2):][:, :side]
             for y in residuals[:: max(1, len(residuals) // count)][:count]]
    return _correlate(_fold([_rescale(y, 1 / scale) for y in crops]), bits=12)[2]


def _decode(frames: _Frames, scale: float, every: int = 1) -> Reading:
    """Read the bits at one scale (from every `every`-th frame). Where the CRC fails, the least reliable
    bits are flipped (up to two of the eight weakest: 37 tries, so a random read passes the 16-bit CRC
    about once in 1,800) before giving up: a soft-decision use of the CRC that rescues a few weak bits."""
    residuals = frames.residuals(scale)[::every]
    corr, offset, z = _correlate(_fold([_rescale(y, 1 / scale) for y in residuals]))
    bits = (corr > 0).astype(np.uint8)
    weak = np.argsort(np.abs(corr))[:8]
    flips = [()] + [(i,) for i in weak] + [(i, j) for n, i in enumerate(weak) for j in weak[n + 1 :]]
    for flip in flips if z >= PEAK_Z else []:
        trial = bits.copy()
        trial[list(flip)] ^= 1
        raw = np.packbits(trial).tobytes()
        if binascii.crc_hqx(raw[:K], 0) == int.from_bytes(raw[K:], "big"):
            return Reading(True, raw[:K].hex(), bits.tolist(), round(scale, 4), offset, round(z, 2), len(residuals))
    return Reading(False, None, bits.tolist(), round(scale, 4), offset, round(z, 2), len(residuals))


def read_video(path: str, max_frames: int = 96) -> Reading:
    """Read the mark from up to `max_frames` frames spread over a video file."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        total = stream.frames or 0
        step = max(1, total // max_frames) if total else 1
        lumas = [f.to_ndarray(format="gray") for i, f in enumerate(container.decode(stream)) if i % step == 0]
    return read(lumas[:max_frames])


def bit_accuracy(reading: Reading, key_hex: str) -> float:
    """The share of the 48 embedded bits read correctly."""
    if not reading.bits:
        return 0.0
    return float(np.mean(np.array(reading.bits) == payload_bits(key_hex)))
