"""The sound of a cut, mixed in numpy at 48 kHz stereo so every sample's place is known exactly.

Stems: the music bed under the whole cut, each shot's effect from its shot's first frame, each
shot's voice line inside its shot (time-fitted or trimmed, never spilling), music ducked under
speech. The master is faded at both ends, normalised to the target integrated loudness
(pyloudnorm, BS.1770) and held under a true-peak ceiling by a look-ahead limiter. This module holds the
pieces; agent.assembly.mixdown mixes the cut with them in blocks, so memory does not grow with its length.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.assembly.meter import SAMPLE_RATE, TRUE_PEAK_PAD, true_peak
from generators.lazy import scipy_module
from generators.media import read_wav, resample

MAX_SPEEDUP = 1.25
# Below -1 dBFS with margin: AAC encoding adds up to ~0.5 dB of overshoot on limited material.
PEAK_CEILING_DB = -2.0
DUCK_DB = -12.0
# Stem levels before the master is normalised: voice on top, music under it, effects between.
STEM_LUFS = {"voice": -18.0, "music": -23.0, "effects": -22.0}
VOICE_LEAD_S = 0.08
VOICE_TAIL_S = 0.05


@dataclass
class ShotAudio:
    """Where a shot sits in samples, and its effect and voice files."""

    index: int
    start: int
    length: int
    effect: Path | None
    voice: Path | None
    # Samples the voice line may use: up to the next voiced shot (a line may run on under shots
    # without one); None means this shot's own length.
    voice_room: int | None = None


def load_audio(path: Path, channels: int) -> np.ndarray:
    """A WAV as float32 [N, channels] at 48 kHz (mono is spread to stereo; stereo is folded to mono)."""
    data, rate = read_wav(path)
    data = resample(data, rate, SAMPLE_RATE)
    if channels == 1:
        return data.mean(axis=1, keepdims=True)
    return np.repeat(data[:, :1], 2, axis=1) if data.shape[1] == 1 else data[:, :2]


# 1. Voice fitting -----------------------------------------------------------------------------


def time_stretch(samples: np.ndarray, factor: float) -> np.ndarray:
    """Speed mono speech up by `factor` keeping its pitch (ffmpeg's atempo, WSOLA-like)."""
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "f32le", "-ar",
           str(SAMPLE_RATE), "-ac", "1", "-i", "-", "-filter:a", f"atempo={factor:.5f}", "-f", "f32le", "-"]
    proc = subprocess.run(cmd, input=np.ascontiguousarray(samples[:, 0], np.float32).tobytes(),
                          capture_output=True, check=True, timeout=120)
    return np.frombuffer(proc.stdout, np.float32).copy()[:, None]


def fit_voice(voice: np.ndarray, room: int, shot: int, fps: int) -> tuple[np.ndarray, list[dict]]:
    """Fit a voice line into `room` samples: as is, sped up to MAX_SPEEDUP, or that and trimmed."""
    if len(voice) <= room:
        return voice, []
    factor = len(voice) / room
    seconds, available = len(voice) / SAMPLE_RATE, room / SAMPLE_RATE
    fitted = time_stretch(voice, min(factor, MAX_SPEEDUP))
    if factor <= MAX_SPEEDUP:
        detail = f"voice line {seconds:.2f} s sped up {factor:.2f}x to fit {available:.2f} s"
        return _fit_length(fitted, room), [{"shot": shot, "kind": "voice_sped_up", "detail": detail,
                                            "factor": round(factor, 4)}]
    cut = len(fitted) - room
    detail = (f"voice line {seconds:.2f} s does not fit {available:.2f} s even at {MAX_SPEEDUP}x: "
              f"last {cut / SAMPLE_RATE:.2f} s trimmed")
    return _fit_length(fitted, room), [{"shot": shot, "kind": "voice_overflow", "detail": detail,
                                        "factor": MAX_SPEEDUP}]


def _fit_length(sig: np.ndarray, n: int) -> np.ndarray:
    """Exactly n samples, with a short fade where the line is cut so the cut never clicks."""
    out = np.zeros((n, sig.shape[1]), np.float32)
    out[: min(n, len(sig))] = sig[:n]
    if len(sig) > n:
        fade = min(n, int(0.04 * SAMPLE_RATE))
        out[n - fade :] *= np.linspace(1, 0, fade, dtype=np.float32)[:, None]
    return out



# 2. Ducking and limiting (the streamed mix in agent.assembly.mixdown calls these on blocks) ----------


DUCK_HOLD_S, DUCK_EASE_S = 0.12, 0.3


def duck_gain(voice: np.ndarray, loudest: float) -> np.ndarray:
    """Music gain per sample: DUCK_DB under speech, eased in and out over ~0.3 s; `loudest` is the voice
    stem's loudest sample over the whole cut (speech is what rises above a fiftieth of it)."""
    scipy_module("scipy.ndimage")  # imported one thread at a time (generators.lazy)
    from scipy.ndimage import maximum_filter1d, uniform_filter1d

    if not loudest:
        return np.ones(len(voice), np.float32)
    level = np.abs(voice[:, 0])
    active = (maximum_filter1d(level, int(DUCK_HOLD_S * SAMPLE_RATE)) > 0.02 * loudest).astype(np.float32)
    active = uniform_filter1d(active, int(DUCK_EASE_S * SAMPLE_RATE))  # ramps, not a gate
    return (1 - (1 - 10 ** (DUCK_DB / 20)) * active).astype(np.float32)


LIMITER_WINDOW = 2 * int(0.005 * SAMPLE_RATE) + 1
# Samples of context each side that make a block's limiter gain the whole signal's: the min and mean windows
# and the true-peak filter.
LIMIT_REACH = 2 * LIMITER_WINDOW + 2 * TRUE_PEAK_PAD


def limiter_gain(x: np.ndarray, ceiling_db: float) -> np.ndarray:
    """A look-ahead peak limiter's per-sample gain for `x`: the smoothed gain never exceeds what keeps each true
    peak under the ceiling, and is exactly 1 wherever no true peak near goes over it."""
    scipy_module("scipy.ndimage")  # imported one thread at a time (generators.lazy)
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    ceiling = 10 ** (ceiling_db / 20)
    need = np.minimum(1.0, ceiling / np.maximum(true_peak(x, over=ceiling), 1e-9))  # exact where it is under 1
    # The min over a window then a mean over the same window stays <= the need at every peak.
    return uniform_filter1d(minimum_filter1d(need, LIMITER_WINDOW), LIMITER_WINDOW)


def limited(x: np.ndarray, inner: slice, ceiling_db: float) -> np.ndarray:
    """The samples `inner` of `x` through the look-ahead limiter; `x` holds up to LIMIT_REACH samples of
    context either side, so they are the whole signal's."""
    return x[inner] * limiter_gain(x, ceiling_db)[inner, None]


def read_raw(path: Path, a: int, b: int, channels: int = 1) -> np.ndarray:
    """Samples [a, b) of a scratch file of raw float32 samples, [b - a] (one channel) or [b - a, channels]."""
    with path.open("rb") as f:
        f.seek(4 * channels * a)
        x = np.fromfile(f, np.float32, channels * (b - a))
    return x if channels == 1 else x.reshape(-1, channels)
