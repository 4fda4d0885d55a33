"""Loudness that holds after encoding: the encoded track (the delivered MP4's audio stream, copied into it
byte for byte) is measured and, if needed, fixed.

AAC reconstructs a band-limited signal, so peaks of a limited mix come back higher (transients most:
+2.6 dB was seen on a 4 s cut whose mix peaked at -2 dBFS). The check decodes the MP4's audio track
with ffmpeg, measures its true peak (4x oversampled, ITU-R BS.1770-4 annex 2) and integrated
loudness (BS.1770 gated; pyloudnorm's numbers, in blocks), and where either is out of spec the mix is re-mastered (gain
for loudness, a lower limiter ceiling for peaks) and encoded again, up to MAX_PASSES times.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np

TRUE_PEAK_MAX_DBTP = -1.0
# Our meter aims this far under the maximum, so another meter (a platform's, ffmpeg's ebur128) that
# reads a few hundredths higher still finds the file in spec.
METER_MARGIN_DB = 0.1
LOUDNESS_TOLERANCE_LU = 0.5
MAX_PASSES = 6
SAMPLE_RATE = 48000


def decode_audio(path: Path) -> np.ndarray:
    """A media file's first audio track as float32 [N, 2] at 48 kHz (ffmpeg applies the edit list)."""
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path),
           "-map", "0:a:0", "-f", "f32le", "-ac", "2", "-ar", str(SAMPLE_RATE), "-"]
    proc = subprocess.run(cmd, capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"cannot decode the audio of {path}: {proc.stderr.decode(errors='replace')[-300:]}")
    return np.frombuffer(proc.stdout, np.float32).reshape(-1, 2)


def true_peak_dbtp(x: np.ndarray) -> float:
    """The highest true peak of a signal in dBTP (4x oversampled)."""
    from agent.assembly.meter import true_peak

    peak = float(true_peak(x).max()) if len(x) else 0.0
    return 20 * np.log10(peak) if peak > 0 else float("-inf")


def measure(path: Path) -> dict:
    """{'integrated_lufs', 'true_peak_dbtp'} of a file's decoded audio."""
    return levels(decode_audio(path))


def levels(x: np.ndarray) -> dict:
    """Integrated loudness and true peak of a signal."""
    from agent.assembly.meter import loudness

    return {"integrated_lufs": round(float(loudness(x)), 2), "true_peak_dbtp": round(float(true_peak_dbtp(x)), 2)}


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
    first master. Returns the measurements of every pass, and a warning when the last is still out.
    """
    import soundfile as sf

    master, rate = sf.read(str(wav), dtype="float32", always_2d=True)
    decoded = decode_audio(mp4)
    passes = [levels(decoded)]
    envelope, shift = np.ones(len(master), np.float32), 0.0
    while not in_spec(passes[-1], target) and len(passes) <= MAX_PASSES:
        found = passes[-1]
        if found["true_peak_dbtp"] > TRUE_PEAK_MAX_DBTP - METER_MARGIN_DB:  # a wider margin each pass: overs move
            envelope *= peak_envelope(decoded, len(master), margin_db=0.4 * len(passes))
        if np.isfinite(found["integrated_lufs"]) and abs(found["integrated_lufs"] - target) > LOUDNESS_TOLERANCE_LU / 2:
            shift += target - found["integrated_lufs"]
        sf.write(str(wav), corrected(master, envelope, shift, ceiling_db), rate, subtype="FLOAT")
        reencode(wav)
        decoded = decode_audio(mp4)
        passes.append(levels(decoded))
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


def peak_envelope(decoded: np.ndarray, length: int, margin_db: float = 0.4) -> np.ndarray:
    """Per-sample gain (<= 1) that brings the decoded true peaks under the maximum, less a margin."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    from agent.assembly.meter import true_peak

    peaks = np.ones(length, np.float32) * 1e-9
    n = min(length, len(decoded))
    peaks[:n] = true_peak(decoded[:n])
    need = np.minimum(1.0, 10 ** ((TRUE_PEAK_MAX_DBTP - margin_db) / 20) / np.maximum(peaks, 1e-9))
    width = 2 * 1024 + 1  # two AAC frames: the encoder spreads a change over its frame
    return uniform_filter1d(minimum_filter1d(need, width), width).astype(np.float32)


def corrected(master: np.ndarray, envelope: np.ndarray, shift_db: float, ceiling_db: float) -> np.ndarray:
    """The first master turned down where it overshot, moved by `shift_db`, limited at the ceiling."""
    from agent.assembly.audio_mix import limit

    x = master * envelope[:, None] * np.float32(10 ** (shift_db / 20))
    return limit(x, ceiling_db)
