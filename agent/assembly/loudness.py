"""Loudness that holds after encoding: the encoded track (the delivered MP4's audio stream, copied into it
byte for byte) is measured and, if needed, fixed.

AAC reconstructs a band-limited signal, so peaks of a limited mix come back higher (transients most:
+2.6 dB was seen on a 4 s cut whose mix peaked at -2 dBFS). The check decodes the MP4's audio track
with ffmpeg through a pipe, measures its true peak (4x oversampled, ITU-R BS.1770-4 annex 2) and integrated
loudness (BS.1770 gated; pyloudnorm's numbers, in blocks), and where either is out of spec the mix is re-mastered (gain
for loudness, a lower limiter ceiling for peaks) and encoded again, up to MAX_PASSES times.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

import numpy as np

from agent.assembly.audio_mix import LIMIT_REACH, limited, read_raw
from agent.assembly.meter import SAMPLE_RATE, TRUE_PEAK_PAD, LoudnessMeter, true_peak
from generators.errors import BriefcutError
from generators.lazy import scipy_module

TRUE_PEAK_MAX_DBTP = -1.0
# Our meter aims this far under the maximum, so another meter (a platform's, ffmpeg's ebur128) that
# reads a few hundredths higher still finds the file in spec.
METER_MARGIN_DB = 0.1
LOUDNESS_TOLERANCE_LU = 0.5
MAX_PASSES = 6
BLOCK = 4 * SAMPLE_RATE  # samples decoded, measured and corrected at a time


class SoundError(BriefcutError):
    """The cut's sound could not be mixed, encoded or read back."""


def decoded_blocks(path: Path, length: int | None = None) -> Iterator[np.ndarray]:
    """A media file's first audio track as float32 [N, 2] blocks at 48 kHz, read from ffmpeg's output as it
    decodes (ffmpeg applies the edit list); cut at `length` samples where given."""
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path),
           "-map", "0:a:0", "-f", "f32le", "-ac", "2", "-ar", str(SAMPLE_RATE), "-"]
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors)
        try:
            fed = 0
            while (length is None or fed < length) and (data := _read_exactly(proc.stdout, 8 * BLOCK)):
                x = np.frombuffer(data, np.float32).reshape(-1, 2)[: None if length is None else length - fed]
                fed += len(x)
                yield x
            if (length is None or fed < length) and proc.wait(timeout=600) != 0:  # read to its end: did it decode?
                errors.seek(0)
                raise SoundError(f"cannot decode the audio of {path}: {errors.read().decode(errors='replace')[-300:]}")
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
            proc.wait()


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    """`size` bytes from a pipe, fewer only at its end."""
    parts, got = [], 0
    while got < size and (part := stream.read(size - got)):
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def in_context(blocks: Iterable[np.ndarray], pad: int) -> Iterator[tuple[np.ndarray, int, int]]:
    """Each block with up to `pad` samples of its neighbours either side: (window, the block's start and end
    in it). Blocks but the last must hold `pad` samples or more."""
    before, current = None, None
    for following in blocks:
        if current is not None:
            yield _window(before, current, following[:pad])
            before = current[-pad:]
        current = following
    if current is not None:
        yield _window(before, current, None)


def _window(before: np.ndarray | None, block: np.ndarray, after: np.ndarray | None) -> tuple[np.ndarray, int, int]:
    parts = [p for p in (before, block, after) if p is not None]
    start = 0 if before is None else len(before)
    return np.concatenate(parts) if len(parts) > 1 else block, start, start + len(block)


def measure(path: Path) -> dict:
    """{'integrated_lufs', 'true_peak_dbtp'} of a file's decoded audio, streamed."""
    meter, peak = LoudnessMeter(2), 0.0
    for window, start, end in in_context(decoded_blocks(path), TRUE_PEAK_PAD):
        meter.add(window[start:end])
        if end > start:  # the loudest sample's own true peak first: what cannot beat it is not oversampled
            j = start + int(np.abs(window[start:end]).max(axis=1).argmax())
            lo = max(0, j - TRUE_PEAK_PAD)
            peak = max(peak, float(true_peak(window[lo : j + TRUE_PEAK_PAD + 1])[j - lo]))
        peak = max(peak, float(true_peak(window, over=peak)[start:end].max(initial=0.0)))
    dbtp = 20 * np.log10(peak) if peak > 0 else float("-inf")
    return {"integrated_lufs": round(float(meter.lufs()), 2), "true_peak_dbtp": round(float(dbtp), 2)}


def in_spec(found: dict, target: float) -> bool:
    """True peak at or under the maximum and integrated loudness within the tolerance of `target`."""
    lufs, peak = found["integrated_lufs"], found["true_peak_dbtp"]
    ceiling = TRUE_PEAK_MAX_DBTP - METER_MARGIN_DB
    if not np.isfinite(lufs):  # silence: nothing to hold
        return peak <= ceiling
    return peak <= ceiling and abs(lufs - target) <= LOUDNESS_TOLERANCE_LU


def hold_after_encoding(mp4: Path, wav: Path, target: float, ceiling_db: float,
                        reencode: Callable[[Path], None]) -> tuple[dict, list[dict]]:
    """Measure the encoded cut; correct the mix and re-encode the audio until it is in spec.

    Peaks: where the decoded audio goes over, the mix is turned down there (a gain envelope over
    the overshoot, smoothed over two AAC frames), so the rest keeps its level. Loudness: the mix moves
    by the encoder's loudness error and is limited again at the ceiling. Every pass starts from the
    first master (`wav`, left as it is; each correction is written beside it). Nothing is held whole: the
    encoded track is decoded through a pipe and measured in blocks, and the envelope and the decoded true
    peaks are kept in scratch files. Returns the measurements of every pass, and a warning when the last is still out.
    """
    import soundfile as sf

    length, passes, shift = sf.info(str(wav)).frames, [measure(mp4)], 0.0
    with tempfile.TemporaryDirectory(prefix="hold-", dir=wav.parent) as tmp:
        envelope, peaks, mixed = Path(tmp) / "envelope.f32", Path(tmp) / "peaks.f32", Path(tmp) / "corrected.wav"
        while not in_spec(passes[-1], target) and len(passes) <= MAX_PASSES:
            found = passes[-1]
            if not envelope.exists():
                _fill(envelope, length, 1.0)
            if found["true_peak_dbtp"] > TRUE_PEAK_MAX_DBTP - METER_MARGIN_DB:  # a wider margin each pass: overs move
                _write_peaks(mp4, peaks, length)
                _scale_envelope(envelope, peaks, length, margin_db=0.4 * len(passes))
            if np.isfinite(found["integrated_lufs"]) and abs(found["integrated_lufs"] - target) > LOUDNESS_TOLERANCE_LU / 2:
                shift += target - found["integrated_lufs"]
            _write_corrected(wav, envelope, shift, ceiling_db, mixed)
            reencode(mixed)
            passes.append(measure(mp4))
    record = {"target_lufs": target, "max_true_peak_dbtp": TRUE_PEAK_MAX_DBTP, "passes": passes,
              "in_spec": bool(in_spec(passes[-1], target))}
    warnings = []
    if not record["in_spec"]:
        last = passes[-1]
        warnings.append({"shot": None, "kind": "loudness", "detail": (
            f"after {len(passes)} encodes the cut measures {last['integrated_lufs']} LUFS (target {target:g} "
            f"± {LOUDNESS_TOLERANCE_LU}) and {last['true_peak_dbtp']} dBTP (max {TRUE_PEAK_MAX_DBTP:g}): the mix "
            f"is too sparse or too peaky to reach the target under the ceiling")})
    return record, warnings


def _write_peaks(mp4: Path, peaks: Path, length: int) -> None:
    """The decoded track's true peak per sample (cut at the mix's length, 1e-9 past its end) into a raw float32 file."""
    with peaks.open("wb") as out:
        for window, start, end in in_context(decoded_blocks(mp4, length), TRUE_PEAK_PAD):
            out.write(true_peak(window)[start:end].tobytes())
    _fill(peaks, length, 1e-9)


def _fill(path: Path, length: int, value: float) -> None:
    """Extend a raw float32 file to `length` samples of `value`."""
    with path.open("ab") as out:
        for a in range(out.tell() // 4, length, BLOCK):
            out.write(np.full(min(BLOCK, length - a), value, np.float32).tobytes())


def _scale_envelope(envelope: Path, peaks: Path, length: int, margin_db: float) -> None:
    """Multiply the envelope by the gain (<= 1) that brings the decoded true peaks under the maximum, less a
    margin: the min over two AAC frames (the encoder spreads a change over its frame), then their mean."""
    scipy_module("scipy.ndimage")  # imported one thread at a time (generators.lazy)
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    width = 2 * 1024 + 1
    for a in range(0, length, BLOCK):
        b = min(length, a + BLOCK)
        lo, hi = max(0, a - width), min(length, b + width)
        need = np.minimum(1.0, 10 ** ((TRUE_PEAK_MAX_DBTP - margin_db) / 20) / np.maximum(read_raw(peaks, lo, hi), 1e-9))
        gain = uniform_filter1d(minimum_filter1d(need, width), width).astype(np.float32)[a - lo : b - lo]
        _write(envelope, a, read_raw(envelope, a, b) * gain)


def _write_corrected(master: Path, envelope: Path, shift_db: float, ceiling_db: float, out: Path) -> None:
    """The first master turned down where it overshot, moved by `shift_db`, limited at the ceiling, into `out`."""
    import soundfile as sf

    with sf.SoundFile(str(master)) as source, sf.SoundFile(str(out), "w", SAMPLE_RATE, 2, subtype="FLOAT") as dest:
        length = source.frames
        for a in range(0, length, BLOCK):
            b = min(length, a + BLOCK)
            lo, hi = max(0, a - LIMIT_REACH), min(length, b + LIMIT_REACH)
            source.seek(lo)
            x = source.read(hi - lo, dtype="float32", always_2d=True) * read_raw(envelope, lo, hi)[:, None]
            x *= np.float32(10 ** (shift_db / 20))
            dest.write(limited(x, slice(a - lo, b - lo), ceiling_db).astype(np.float32))


def _write(path: Path, a: int, x: np.ndarray) -> None:
    with path.open("r+b") as f:
        f.seek(4 * a)
        f.write(np.ascontiguousarray(x, np.float32).tobytes())
