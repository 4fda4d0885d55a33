"""The picture of a cut: frame-exact segments, shot sources (retimed, scaled or reframed) and transitions.

Frames travel as yuv420p buffers of shape (H*3/2, W), the layout the encoder reads, so a frame is
converted once (swscale, in C) and captions, end card and crossfades are integer blends in numpy.

Colour path: takes are planar YUV (yuv420p from generators.media; yuv444p before), so a take frame is never
converted through RGB or a full pixel-format conversion: each plane is cropped as a view of the decoded frame
(even offsets keep the chroma aligned), then copied where it already has its size (every plane of a yuv420p
take at the cut's size) or scaled alone by a swscale context the source keeps: luma bicubic, chroma area (each
chroma sample the mean of what it covers, centred like the captions' chroma). Against a bicubic
yuv444p -> yuv420p conversion of the whole frame (the path before) the luma is the same and the chroma
sits half a luma pixel apart: 50+ dB PSNR on motion and animatic takes (tests/test_colour_path.py pins
45), at a half to a fifth of the CPU per frame (720x1280 take at its size: 3.3 -> 1.5 ms; reframed and
scaled up: 8 -> 3 ms). Other inputs (RGB, full range, 10 bits) become limited-range yuv444p first, so
their levels come out right.

Reframe (a take not rendered at the cut's aspect ratio): one fixed crop per shot, placed by a
saliency centre of mass. About 12 frames spread over the take are shrunk to ~96 px; each pixel's
saliency is its colour distance from the frame's mean colour (global contrast, after Achanta et
al.'s frequency-tuned saliency) plus its gradient magnitude, above the median, times a broad
centre prior; the crop window (the largest of the
cut's aspect ratio) is centred on the saliency's centre of mass along the cropped axis, clamped to
the frame. A fixed crop per shot never jitters; the take is never letterboxed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agent.assembly.captions import Overlay
from agent.assembly.type_track import ShotType, TypeTrack
from generators.lazy import scipy_module
from generators.media import file_stamp

CROSSFADE_MAX_S = 0.5
SALIENCY_SAMPLES = 12
SALIENCY_WIDTH = 96
# Pixel formats whose planes are read as they are: log2 of the chroma subsampling (horizontal, vertical).
PLANAR = {"yuv444p": (0, 0), "yuv422p": (1, 0), "yuv420p": (1, 1)}
FULL_RANGE, LIMITED_RANGE = 2, 1  # AVColorRange: JPEG (0-255), MPEG (16-235)
PLANE_SCALING = ("BICUBIC", "AREA")  # swscale's filter for the luma plane, for the chroma planes


@dataclass
class Segment:
    """A run of cut frames [start, start + frames): a shot or the end card."""

    index: int
    start: int
    frames: int
    kind: str  # "shot" | "end"
    fade_in: int = 0  # half-length in frames of a crossfade centred on `start`
    # Captions over this segment: (first cut frame, end cut frame, overlay); pages follow each other.
    captions: list[tuple[int, int, Overlay]] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.start + self.frames

    def overlay_at(self, frame: int) -> Overlay | None:
        """The caption shown at cut frame `frame`, if any."""
        return next((o for a, b, o in self.captions if a <= frame < b), None)


def build_segments(counts: list[int], transitions: list[str], fps: int) -> list[Segment]:
    """Segments from frame counts (shots then end card) and each shot's entering transition."""
    segments, start = [], 0
    for i, n in enumerate(counts):
        kind = "end" if i == len(counts) - 1 else "shot"
        segments.append(Segment(i, start, n, kind))
        start += n
    for i in range(1, len(segments) - 1):
        if transitions[i] == "crossfade":
            # Centred on the boundary so no shot moves; at most a quarter of either shot.
            half = min(round(CROSSFADE_MAX_S * fps / 2), segments[i - 1].frames // 4, segments[i].frames // 4)
            segments[i].fade_in = max(0, half)
    return segments


# 1. Shot sources ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TakeInfo:
    """What a take file holds: its size, rate and frame count."""

    width: int
    height: int
    fps: float
    frames: int


def take_info(path: Path) -> TakeInfo:
    """Read size, rate and frame count from the container (counting packets when the header lacks it); kept
    per process for the file as it is (scoring and every cut's pieces ask again, and opening a container
    costs several milliseconds)."""
    return _take_info(file_stamp(path))


@functools.lru_cache(maxsize=256)
def _take_info(stamp: tuple) -> TakeInfo:
    import av

    with av.open(stamp[0]) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 24)
        frames = stream.frames or sum(1 for p in container.demux(stream) if p.size)
        return TakeInfo(stream.codec_context.width, stream.codec_context.height, fps, frames)


def crop_window(path: Path, info: TakeInfo, aspect: float) -> tuple[int, int, int, int]:
    """The saliency-centred crop (x, y, w, h) of the cut's aspect ratio inside a take (see module doc)."""
    if info.width / info.height > aspect:
        w, h = min(info.width, round(info.height * aspect)), info.height
    else:
        w, h = info.width, min(info.height, round(info.width / aspect))
    w, h = w - w % 2, h - h % 2
    cx, cy = saliency_centre(path, info)
    x = int(np.clip(round(cx * info.width - w / 2), 0, info.width - w)) // 2 * 2
    y = int(np.clip(round(cy * info.height - h / 2), 0, info.height - h)) // 2 * 2
    return x, y, w, h


def saliency_centre(path: Path, info: TakeInfo) -> tuple[float, float]:
    """The centre of mass (fractions of width, height) of the take's saliency over sampled frames."""
    import av

    step = max(1, info.frames // SALIENCY_SAMPLES)
    small_w = min(SALIENCY_WIDTH, info.width)
    small_h = max(2, round(small_w * info.height / info.width))
    total = np.zeros((small_h, small_w), np.float64)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            if i % step == 0:
                total += saliency_map(frame.reformat(small_w, small_h, "rgb24").to_ndarray())
    total = np.maximum(total - np.median(total), 0)  # what stands out, not the uniform background
    total *= centre_prior(small_h, small_w)
    if total.sum() <= 0:
        return 0.5, 0.5
    ys, xs = np.mgrid[0:small_h, 0:small_w]
    return float((xs * total).sum() / total.sum() + 0.5) / small_w, float((ys * total).sum() / total.sum() + 0.5) / small_h


def centre_prior(h: int, w: int) -> np.ndarray:
    """A broad Gaussian centre bias (sigma 40% of each side): subjects are framed near the middle."""
    ys, xs = np.mgrid[0:h, 0:w]
    return np.exp(-(((xs + 0.5) / w - 0.5) ** 2 + ((ys + 0.5) / h - 0.5) ** 2) / (2 * 0.4**2))


def saliency_map(rgb: np.ndarray) -> np.ndarray:
    """Global colour contrast plus gradient magnitude on a small frame; float, same size."""
    scipy_module("scipy.ndimage")  # imported one thread at a time (generators.lazy)
    from scipy.ndimage import gaussian_filter

    img = gaussian_filter(rgb.astype(np.float32), sigma=(1, 1, 0))
    contrast = np.linalg.norm(img - img.reshape(-1, 3).mean(axis=0), axis=2)
    gy, gx = np.gradient(img.mean(axis=2))
    return contrast + 0.5 * np.hypot(gx, gy)


@dataclass
class ShotSource:
    """Frames of one take as yuv420p buffers at the cut's size, indexed by frame within the shot.

    A take at another rate is retimed by its clock; a take shorter than its shot is stretched to
    fill it (slow motion) rather than frozen; frames past the take's end hold its last frame.
    """

    path: Path
    frames: int  # the shot's planned frames
    fps: int
    width: int
    height: int
    native: bool
    shot_type: ShotType | None = None  # the caption set as kinetic type over every frame (a take's type layer)
    info: TakeInfo = field(init=False)
    crop: tuple[int, int, int, int] | None = field(init=False, default=None)
    type: TypeTrack | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.info = take_info(self.path)
        if not self.native:
            self.crop = crop_window(self.path, self.info, self.width / self.height)
        if self.shot_type is not None:
            w, h = self.info.width, self.info.height
            cx, cy, cw, ch = self.crop or (0, 0, w, h)
            view = (cx / w, cy / h, (cx + cw) / w, (cy + ch) / h)
            self.type = TypeTrack(self.shot_type, self.width, self.height, view, self.info.frames / self.info.fps)
        self._decoder: Iterator[Any] | None = None
        self._container: Any = None
        self._scalers: dict[int, Any] = {}
        self._pos, self._raw, self._cache = -1, None, (-1, None)
        self._digest: str | None = None

    def digest(self) -> str:
        """What makes every frame of this source: its take by content, size, rate, crop and type (worked out
        once: the type's digest hashes its sprites, and every frame named by `frame_name` asks for it)."""
        if self._digest is None:
            from generators.media import kept_sha256

            made_of = [kept_sha256(self.path), self.frames, self.fps, self.width, self.height, self.native,
                       self.type.digest() if self.type is not None else None]  # fmt: skip
            self._digest = hashlib.sha256(json.dumps(made_of).encode()).hexdigest()
        return self._digest

    def frame_name(self, k: int) -> str:
        """A name for shot frame `k` as this source makes it (by what makes it, see `digest`)."""
        return frame_name(self.digest(), k)

    def take_index(self, k: int) -> int:
        """Which take frame shows at shot frame k."""
        if self.info.frames >= math.ceil(self.frames * self.info.fps / self.fps):
            j = math.floor(k * self.info.fps / self.fps + 1e-6)
        else:
            j = math.floor(k * self.info.frames / self.frames + 1e-6)
        return min(j, self.info.frames - 1)

    def frame(self, k: int) -> np.ndarray:
        """The buffer for shot frame k (k never decreases between calls, except to repeat)."""
        j = self.take_index(k)
        if self._cache[0] == j:
            return self._cache[1]
        while self._pos < j:
            nxt = next(self._frames(), None)
            if nxt is None:  # fewer frames than the header said: hold the last one
                break
            self._raw, self._pos = nxt, self._pos + 1
        buf = self._convert(self._raw)
        if self.type is not None:
            self.type.draw(buf, j, self.info.frames, self.info.fps)  # at the take's clock, as the backend would
        self._cache = (j, buf)
        return buf

    def _frames(self) -> Iterator[Any]:
        if self._decoder is None:
            import av

            self._container = av.open(str(self.path))
            stream = self._container.streams.video[0]
            stream.thread_type = "AUTO"
            self._decoder = self._container.decode(stream)
        return self._decoder

    def _convert(self, frame: Any) -> np.ndarray:
        """A decoded take frame as a yuv420p buffer at the cut's size, plane by plane (see module doc)."""
        shifts = PLANAR.get(frame.format.name)
        if shifts is None or frame.color_range == FULL_RANGE:
            # Anything else (RGB, full range, 10 bits): to limited-range yuv444p first.
            frame = self._scaler(3).reformat(frame, format="yuv444p", dst_color_range=LIMITED_RANGE, threads=1)
            shifts = (0, 0)
        x, y, w, h = self.crop or (0, 0, frame.width, frame.height)
        out = np.empty((self.height * 3 // 2, self.width), np.uint8)
        for k, dst in enumerate(yuv420_planes(out, self.width, self.height)):
            sx, sy = shifts if k else (0, 0)
            pl = frame.planes[k]
            plane = np.frombuffer(pl, np.uint8).reshape(pl.height, pl.line_size)
            self._fit(k, plane[y >> sy : -(-(y + h) >> sy), x >> sx : -(-(x + w) >> sx)], dst)
        return out

    def _fit(self, k: int, plane: np.ndarray, dst: np.ndarray) -> None:
        """Plane k (a view) into `dst`: copied where the sizes agree, else scaled by this source's scaler k."""
        if plane.shape == dst.shape:
            dst[...] = plane
            return
        import av

        gray = av.VideoFrame.from_numpy_buffer(plane, format="gray")
        size = (dst.shape[1], dst.shape[0])
        dst[...] = self._scaler(k).reformat(gray, *size, interpolation=PLANE_SCALING[min(k, 1)], threads=1).to_ndarray()

    def _scaler(self, k: int) -> Any:
        """Swscale context k (0-2: the planes, 3: a format conversion), made once: a context per frame
        costs its set-up (and a thread pool) every frame."""
        if k not in self._scalers:
            from av.video.reformatter import VideoReformatter

            self._scalers[k] = VideoReformatter()
        return self._scalers[k]

    def close(self) -> None:
        """Free the decoder; a later `frame` decodes from the start again."""
        if self._container is not None:
            self._container.close()
        self._container, self._decoder = None, None
        self._pos, self._raw, self._cache = -1, None, (-1, None)


def frame_name(source_digest: str, k: int) -> str:
    """A name for shot frame `k` of the source whose digest is `source_digest` (ShotSource.digest)."""
    return hashlib.sha256(f"{source_digest} {k}".encode()).hexdigest()


def yuv420_planes(buf: np.ndarray, width: int, height: int) -> list[np.ndarray]:
    """Views of the Y, U and V planes of a yuv420p buffer (H*3/2, W), as (H, W), (H/2, W/2), (H/2, W/2)."""
    flat, n = buf.reshape(-1), width * height
    quarter = (height // 2, width // 2)
    return [flat[:n].reshape(height, width), flat[n : n + n // 4].reshape(quarter), flat[n + n // 4 :].reshape(quarter)]


# 2. Composition -------------------------------------------------------------------------------


def blend(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    """(1 - alpha) * a + alpha * b on uint8 buffers, in integers (YUV is affine in RGB, so this is an RGB mix)."""
    w = np.uint16(round(alpha * 256))
    return ((a.astype(np.uint16) * (256 - w) + b.astype(np.uint16) * w) >> 8).astype(np.uint8)


def compose_segment(seg: Segment, segments: list[Segment], sources: list[ShotSource], end_card: np.ndarray,
                    width: int, height: int, part: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    """The frames of one segment, or of its frames [a, b) (`part`): a shot (its crossfades with its neighbours,
    its captions) or the end card. They depend only on the segment's own take, its neighbours' where it
    fades, its captions (or the end card), so a segment or a part of one can be made alone
    (agent.assembly.chunks)."""
    a, b = part or (0, seg.frames)
    if seg.kind == "end":
        for _ in range(a, b):
            yield end_card
        return
    nxt = segments[seg.index + 1]
    for k in range(a, b):
        frame, owned = _shot_frame(seg, nxt, sources, k)
        overlay = seg.overlay_at(seg.start + k)
        if overlay is not None:
            frame = frame if owned else frame.copy()  # never draw on a cached (held) frame
            overlay.blend(frame, width, height)
        yield frame
    if seg.index > 0 and b >= seg.fade_in:  # the previous take is done once this shot's fade-in is over
        sources[seg.index - 1].close()


def _shot_frame(seg: Segment, nxt: Segment, sources: list[ShotSource], k: int) -> tuple[np.ndarray, bool]:
    """Shot frame k (and whether it is a fresh buffer), mixed with a neighbour inside a crossfade."""
    frame = sources[seg.index].frame(k)
    if seg.fade_in and k < seg.fade_in:  # second half of the fade in: the previous shot runs on
        prev = sources[seg.index - 1]
        alpha = (seg.fade_in + k + 0.5) / (2 * seg.fade_in)
        return blend(prev.frame(prev.frames + k), frame, alpha), True
    if nxt.kind == "shot" and nxt.fade_in and k >= seg.frames - nxt.fade_in:
        # First half: the next shot's first frame (decoded early, reused when it starts) fades up.
        alpha = (k - (seg.frames - nxt.fade_in) + 0.5) / (2 * nxt.fade_in)
        return blend(frame, sources[nxt.index].frame(0), alpha), True
    return frame, False
