"""Reading and writing the media files backends produce: frame videos and WAV audio."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

# Visually lossless intermediate for takes: H.264 at CRF 12, 4:4:4 so palette colours survive.
TAKE_CRF = 12
# Takes are cached intermediates: encode fast, keep quality (the cut is encoded again anyway).
TAKE_PRESET = "ultrafast"


def write_frames(
    path: Path, frames: Iterable[np.ndarray], fps: float, crf: int = TAKE_CRF, preset: str = TAKE_PRESET
) -> int:
    """Encode uint8 RGB frames [H,W,3] to an MP4 at `fps`; returns the number of frames written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path, ".mp4")
    try:
        count = _encode(tmp, frames, fps, crf, preset)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a source that fails mid-way leaves nothing behind
        raise
    tmp.replace(path)  # atomic: a crash never leaves a half file under the final name
    return count


def _encode(tmp: Path, frames: Iterable[np.ndarray], fps: float, crf: int, preset: str) -> int:
    import av

    count = 0
    with av.open(str(tmp), "w") as container:
        stream = None
        for frame in frames:
            frame = np.ascontiguousarray(frame, dtype=np.uint8)
            if stream is None:
                h, w = frame.shape[:2]
                stream = container.add_stream("libx264", rate=_fraction(fps))
                stream.width, stream.height = w - w % 2, h - h % 2
                stream.pix_fmt = "yuv444p"
                stream.options = {"crf": str(crf), "preset": preset}
            frame = frame[: stream.height, : stream.width]
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
            count += 1
        if stream is None:
            raise ValueError(f"no frames to write to {tmp.name}")
        for packet in stream.encode():
            container.mux(packet)
    return count


def iter_frames(path: Path, max_side: int | None = None) -> Iterator[np.ndarray]:
    """Decode a video file to uint8 RGB frames [H,W,3], scaled down to `max_side` if given."""
    import av

    with av.open(str(path)) as container:
        container.streams.video[0].thread_type = "AUTO"  # frame threads: decoding is the cost here
        for frame in container.decode(video=0):
            w, h = frame.width, frame.height
            if max_side and max(w, h) > max_side:
                scale = max_side / max(w, h)
                w, h = max(2, round(w * scale)), max(2, round(h * scale))
            yield frame.to_ndarray(format="rgb24", width=w, height=h)


def read_frames(path: Path, indices: Iterable[int] | None = None, max_side: int | None = None) -> np.ndarray:
    """Decode all frames (or those at `indices`) to a uint8 array [N,H,W,3]."""
    wanted = None if indices is None else set(indices)
    frames = [f for i, f in enumerate(iter_frames(path, max_side)) if wanted is None or i in wanted]
    return np.stack(frames) if frames else np.zeros((0, 0, 0, 3), np.uint8)


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write float samples [N] or [N,C] in -1..1 to a 16-bit PCM WAV, atomically."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path, ".wav")
    sf.write(str(tmp), np.clip(samples, -1.0, 1.0).astype(np.float32), sample_rate, subtype="PCM_16")
    tmp.replace(path)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Read a WAV as float32 [N,C] and its sample rate."""
    import soundfile as sf

    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return data, sr


def resample(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Polyphase resampling along axis 0 (scipy), exact for integer rate ratios."""
    if src_rate == dst_rate:
        return samples
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(src_rate, dst_rate)
    return resample_poly(samples, dst_rate // g, src_rate // g, axis=0).astype(np.float32)


def _temp_name(path: Path, suffix: str) -> Path:
    """A temporary name beside `path`, unique per process and thread (two writers never collide)."""
    import os
    import threading

    return path.with_name(f"{path.stem}.{os.getpid()}-{threading.get_ident()}.part{suffix}")


def _fraction(fps: float):
    from fractions import Fraction

    return Fraction(fps).limit_denominator(1001)
