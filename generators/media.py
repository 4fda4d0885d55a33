"""Reading and writing the media files backends produce: frame videos and WAV audio."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from generators.atomic import atomic_path
from generators.lazy import scipy_module

# Visually lossless intermediate for takes: H.264 at CRF 12.
TAKE_CRF = 12
# 4:2:0, the cut's own chroma: a take at the cut's size goes into it plane for plane, with no chroma scaling,
# and decodes in three quarters of the CPU of 4:4:4 (the preview bench: 0.37 against 0.49 CPU-s a 4.5 s 720p
# take, and 2 ms a frame of chroma area-scaling saved). Flat palette colours come through the same; only a
# colour edge's chroma is halved, as the cut halves it anyway. Takes made before (4:4:4) are read as they are.
TAKE_PIX_FMT = "yuv420p"
# Takes are cached intermediates: encode fast, keep quality (the cut is encoded again anyway).
TAKE_PRESET = "ultrafast"
# Every H.264 encode (takes and cuts) runs x264 so that the same frames give the same bytes on any machine:
# deterministic frame threading, no sliced threads, one lookahead thread, and a set number of frame threads.
# Left to itself x264 takes 1.5 threads per core it may use, and its output depends on that count: the
# decoded frames, not only the bytes (43 of 96 frames of a 720p cut differed between 1 and 3 threads), so a
# cut made on a 16-core machine could not be reproduced on a laptop. 4 threads encode as fast as x264's own
# choice on 2 cores (96 frames at 720x1280: 1.15 s against 1.14-1.31 s), and a bigger machine's assembly
# encodes several chunks at once.
X264_PARAMS = "deterministic=1:sliced-threads=0:lookahead-threads=1:threads=4"


def write_frames(
    path: Path, frames: Iterable[np.ndarray], fps: float, crf: int = TAKE_CRF, preset: str = TAKE_PRESET
) -> int:
    """Encode uint8 RGB frames [H,W,3] to an MP4 at `fps`; returns the number of frames written."""
    import av

    count = 0
    with atomic_path(Path(path), ".mp4") as tmp, av.open(str(tmp), "w") as container:
        stream = None
        for frame in frames:
            frame = np.ascontiguousarray(frame, dtype=np.uint8)
            if stream is None:
                h, w = frame.shape[:2]
                stream = container.add_stream("libx264", rate=_fraction(fps))
                stream.width, stream.height = w - w % 2, h - h % 2
                stream.pix_fmt = TAKE_PIX_FMT
                stream.options = {"crf": str(crf), "preset": preset, "x264-params": X264_PARAMS}
            frame = frame[: stream.height, : stream.width]
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
            count += 1
        if stream is None:
            raise ValueError(f"no frames to write to {path}")
        for packet in stream.encode():
            container.mux(packet)
    return count


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex), read in 1 MiB blocks (footage and cuts can be large)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_stamp(path: Path | str | None) -> tuple | None:
    """A file as it is now (path, size, modification time, inode) for keys of work kept per process: a font or
    a logo replaced at the same path (a long-running studio; an atomic write is a new inode) is not answered
    from work on the old one."""
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return (str(path), None)
    return (str(path), st.st_size, st.st_mtime_ns, st.st_ino)


def kept_sha256(path: Path | str) -> str:
    """`file_sha256`, kept per process for the file as it is now (`file_stamp`): the keys of kept work hash
    the same take, sound or font several times a cut (its chunks, the cut cache, the ad checks' references,
    the scorer's type digest). Not for verifying a file: that reads its bytes (agent.provenance)."""
    stamp = file_stamp(path)
    if stamp[1] is None:  # gone: file_sha256 says so as it always did (OSError)
        return file_sha256(Path(path))
    return _kept_sha256(stamp)


@functools.lru_cache(maxsize=1024)
def _kept_sha256(stamp: tuple) -> str:
    return file_sha256(Path(stamp[0]))


def content_key(path: Path | str) -> str:
    """A file's part in a key: its `kept_sha256`, or "missing:<name>" when it cannot be read, so the key
    still forms (and differs from the file's) and what needs the file fails where it reads it."""
    try:
        return kept_sha256(path)
    except OSError:
        return f"missing:{Path(path).name}"


def iter_frames(path: Path, max_side: int | None = None) -> Iterator[np.ndarray]:
    """Decode a video file to uint8 RGB frames [H,W,3], scaled down to `max_side` if given."""
    import av
    from av.video.reformatter import VideoReformatter

    # One swscale context for the whole file: frame.to_ndarray(width=...) made one per frame, and its set-up
    # was a third of a scoring pass (720x720 to 320 px: 7.2 -> 5.2 ms a frame, the same pixels).
    scaler = VideoReformatter()
    with av.open(str(path)) as container:
        container.streams.video[0].thread_type = "AUTO"  # frame threads: decoding is the cost here
        for frame in container.decode(video=0):
            w, h = frame.width, frame.height
            if max_side and max(w, h) > max_side:
                scale = max_side / max(w, h)
                w, h = max(2, round(w * scale)), max(2, round(h * scale))
            yield scaler.reformat(frame, width=w, height=h, format="rgb24").to_ndarray()


def count_frames(path: Path) -> int:
    """How many frames a video file holds: its packets counted without decoding (cheap next to a decode)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)


def read_frames(path: Path, indices: Iterable[int] | None = None, max_side: int | None = None) -> np.ndarray:
    """Decode all frames (or those at `indices`) to a uint8 array [N,H,W,3]. Every frame is held at once:
    metrics stream `iter_frames` instead, so their memory does not grow with the video's length."""
    wanted = None if indices is None else set(indices)
    frames = [f for i, f in enumerate(iter_frames(path, max_side)) if wanted is None or i in wanted]
    return np.stack(frames) if frames else np.zeros((0, 0, 0, 3), np.uint8)


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write float samples [N] or [N,C] in -1..1 to a 16-bit PCM WAV, atomically (clipped and converted a
    block at a time: a long signal is not copied whole)."""
    import soundfile as sf

    channels = 1 if samples.ndim == 1 else samples.shape[1]
    with atomic_path(Path(path), ".wav") as tmp, sf.SoundFile(str(tmp), "w", sample_rate, channels,
                                                               subtype="PCM_16") as out:  # fmt: skip
        for start in range(0, len(samples), WAV_BLOCK):
            out.write(np.clip(samples[start : start + WAV_BLOCK], -1.0, 1.0).astype(np.float32))


WAV_BLOCK = 1 << 18  # samples clipped and converted at a time


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Read a WAV as float32 [N,C] and its sample rate."""
    import soundfile as sf

    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return data, sr


def video_problem(path: Path, frames: int | None = None) -> str | None:
    """Why a video file cannot be reused, or None: it must open, hold every packet it declares (read
    through to the end, so a file cut short is found), have `frames` frames when given, and decode."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            count, first = 0, None
            for packet in container.demux(stream):
                if packet.size:
                    count += 1
                    if first is None:
                        first = packet
            if first is None:
                return "has no frames"
            # The first frame decodes (its packet is a keyframe: nothing before it is needed).
            decoded = list(stream.codec_context.decode(first)) + list(stream.codec_context.decode(None))
            if not decoded:
                return "its first frame does not decode"
    except (av.error.FFmpegError, OSError, IndexError, ValueError) as exc:
        return f"cannot be read ({' '.join(str(exc).split())[:160]})"
    if frames is not None and count != frames:
        return f"has {count} frames, {frames} expected"
    return None


def audio_problem(path: Path, seconds: float | None = None) -> str | None:
    """Why a WAV file cannot be reused, or None: it must decode whole and last about `seconds`."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError, ValueError) as exc:  # soundfile's errors are RuntimeErrors
        return f"cannot be read ({' '.join(str(exc).split())[:160]})"
    if len(data) == 0:
        return "has no samples"
    if len(data) < info.frames:
        return f"is cut short ({len(data)} of {info.frames} samples)"
    if seconds is not None and abs(len(data) / rate - seconds) > 0.1 + 0.05 * seconds:
        return f"lasts {len(data) / rate:.2f} s, {seconds:.2f} s expected"
    return None


def resample(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Polyphase resampling along axis 0 (scipy), exact for integer rate ratios."""
    if src_rate == dst_rate:
        return samples
    from math import gcd

    scipy_module("scipy.signal")  # imported one thread at a time (generators.lazy)
    from scipy.signal import resample_poly

    g = gcd(src_rate, dst_rate)
    return resample_poly(samples, dst_rate // g, src_rate // g, axis=0).astype(np.float32)


def _fraction(fps: float):
    from fractions import Fraction

    return Fraction(fps).limit_denominator(1001)
