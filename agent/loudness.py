"""Loudness that holds after encoding: the delivered MP4's own audio is measured and, if needed, fixed.

AAC reconstructs a band-limited signal, so peaks of a limited mix come back higher (transients most:
+2.6 dB was seen on a 4 s cut whose mix peaked at -2 dBFS). The check decodes the MP4's audio track
with ffmpeg, measures its true peak (4x oversampled, ITU-R BS.1770-4 annex 2) and integrated
loudness (BS.1770 gated, pyloudnorm), and where either is out of spec the mix is re-mastered (gain
for loudness, a lower limiter ceiling for peaks) and only the audio is encoded again (the video
stream is copied), up to MAX_PASSES times.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np

TRUE_PEAK_MAX_DBTP = -1.0
LOUDNESS_TOLERANCE_LU = 0.5
MAX_PASSES = 4
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
    from agent.audio_mix import true_peak

    peak = float(true_peak(x).max()) if len(x) else 0.0
    return 20 * np.log10(peak) if peak > 0 else float("-inf")


def measure(path: Path) -> dict:
    """{'integrated_lufs', 'true_peak_dbtp'} of a file's decoded audio."""
    from agent.audio_mix import loudness

    x = decode_audio(path)
    return {"integrated_lufs": round(loudness(x), 2), "true_peak_dbtp": round(true_peak_dbtp(x), 2)}


def in_spec(found: dict, target: float) -> bool:
    """True peak at or under the maximum and integrated loudness within the tolerance of `target`."""
    lufs, peak = found["integrated_lufs"], found["true_peak_dbtp"]
    if not np.isfinite(lufs):  # silence: nothing to hold
        return peak <= TRUE_PEAK_MAX_DBTP
    return peak <= TRUE_PEAK_MAX_DBTP and abs(lufs - target) <= LOUDNESS_TOLERANCE_LU


def hold_after_encoding(mp4: Path, wav: Path, target: float, ceiling_db: float,
                        reencode: Callable[[Path], None]) -> tuple[dict, list[dict]]:
    """Measure the encoded cut; re-master the WAV and re-encode the audio until it is in spec.

    Returns the measurements (every pass) and warnings when the last pass is still out of spec.
    """
    import soundfile as sf

    from agent.audio_mix import master_to

    passes = [measure(mp4)]
    while not in_spec(passes[-1], target) and len(passes) <= MAX_PASSES:
        found = passes[-1]
        over = found["true_peak_dbtp"] - TRUE_PEAK_MAX_DBTP
        if over > -0.1:  # the encoder's overshoot plus a margin comes off the limiter's ceiling
            ceiling_db -= over + 0.3
        mix, rate = sf.read(str(wav), dtype="float32", always_2d=True)
        sf.write(str(wav), master_to(mix, target, ceiling_db), rate, subtype="FLOAT")
        reencode(wav)
        passes.append(measure(mp4) | {"ceiling_db": round(ceiling_db, 2)})
    record = {"target_lufs": target, "max_true_peak_dbtp": TRUE_PEAK_MAX_DBTP, "passes": passes,
              "in_spec": in_spec(passes[-1], target)}
    warnings = []
    if not record["in_spec"]:
        last = passes[-1]
        warnings.append({"shot": None, "kind": "loudness", "detail": (
            f"after {len(passes)} encodes the cut measures {last['integrated_lufs']} LUFS (target {target:g} "
            f"± {LOUDNESS_TOLERANCE_LU}) and {last['true_peak_dbtp']} dBTP (max {TRUE_PEAK_MAX_DBTP:g})")})
    return record, warnings


def remux_command(mp4: Path, wav: Path, out: Path, audio_args: list[str], metadata_args: list[str]) -> list[str]:
    """ffmpeg: the MP4's video stream copied, the audio encoded anew from `wav`."""
    import imageio_ffmpeg

    return [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", "-nostdin",
            "-i", str(mp4), "-i", str(wav), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", *audio_args,
            "-movflags", "+faststart", *metadata_args, "-f", "mp4", str(out)]
