"""The sound of a cut, mixed in numpy at 48 kHz stereo so every sample's place is known exactly.

Stems: the music bed under the whole cut, each shot's effect from its shot's first frame, each
shot's voice line inside its shot (time-fitted or trimmed, never spilling), music ducked under
speech. The master is faded at both ends, normalised to the target integrated loudness
(pyloudnorm, BS.1770) and held under a true-peak ceiling by a look-ahead limiter.
"""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from generators.media import read_wav, resample

SAMPLE_RATE = 48000
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


def place(bus: np.ndarray, start: int, sig: np.ndarray) -> None:
    """Add `sig` into `bus` from sample `start`, cut at the bus's end."""
    end = min(len(bus), start + len(sig))
    if end > start:
        bus[start:end] += sig[: end - start]


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


# 2. Stems, ducking and the master --------------------------------------------------------------


def mix(total: int, shots: list[ShotAudio], music: Path | None, fps: int, target_lufs: float,
        fade_out_s: float) -> tuple[np.ndarray, list[dict]]:
    """The cut's master: [total, 2] float32 at 48 kHz, and warnings about voice lines."""
    warnings: list[dict] = []
    voice_bus = np.zeros((total, 1), np.float32)
    effects_bus = np.zeros((total, 2), np.float32)
    for shot in shots:
        if shot.effect is not None:
            place(effects_bus, shot.start, load_audio(shot.effect, 2))
        if shot.voice is not None:
            span = shot.voice_room or shot.length
            lead = min(int(VOICE_LEAD_S * SAMPLE_RATE), span // 10)
            room = span - lead - min(int(VOICE_TAIL_S * SAMPLE_RATE), span // 10)
            line, notes = fit_voice(load_audio(shot.voice, 1), room, shot.index, fps)
            place(voice_bus, shot.start + lead, line)
            warnings += notes
    # The master is built in the music bus, in place (a long cut holds each bus once, not a copy per step):
    # music at its level, ducked under the voice, plus the effects, plus the voice.
    master = _music_bus(music, total)
    scale_to(master, STEM_LUFS["music"])
    master *= duck_gain(voice_bus)[:, None]
    master += scale_to(effects_bus, STEM_LUFS["effects"])
    del effects_bus
    master += scale_to(voice_bus, STEM_LUFS["voice"])
    del voice_bus
    master = apply_fades(master, 0.03, fade_out_s)
    return master_to(master, target_lufs), warnings


def _music_bus(music: Path | None, total: int) -> np.ndarray:
    """The music bed as the [total, 2] bus (cut, or padded with silence), the loaded array itself where it can be."""
    if music is None:
        return np.zeros((total, 2), np.float32)
    bed = load_audio(music, 2)
    if len(bed) >= total and bed.flags.writeable and bed.dtype == np.float32:
        return bed[:total]
    bus = np.zeros((total, 2), np.float32)
    place(bus, 0, bed)
    return bus


def duck_gain(voice: np.ndarray) -> np.ndarray:
    """Music gain per sample: DUCK_DB under speech, eased in and out over ~0.3 s."""
    from scipy.ndimage import maximum_filter1d, uniform_filter1d

    level = np.abs(voice[:, 0])
    if not level.any():
        return np.ones(len(voice), np.float32)
    active = (maximum_filter1d(level, int(0.12 * SAMPLE_RATE)) > 0.02 * level.max()).astype(np.float32)
    active = uniform_filter1d(active, int(0.3 * SAMPLE_RATE))  # ramps, not a gate
    return (1 - (1 - 10 ** (DUCK_DB / 20)) * active).astype(np.float32)


def apply_fades(x: np.ndarray, fade_in_s: float, fade_out_s: float) -> np.ndarray:
    """Linear fade-in and an equal-power fade-out at the ends of the cut."""
    n_in, n_out = min(len(x), int(fade_in_s * SAMPLE_RATE)), min(len(x), int(fade_out_s * SAMPLE_RATE))
    x[:n_in] *= np.linspace(0, 1, n_in, dtype=np.float32)[:, None]
    x[len(x) - n_out :] *= np.cos(np.linspace(0, np.pi / 2, n_out, dtype=np.float32))[:, None]
    return x


def loudness(x: np.ndarray) -> float:
    """Integrated loudness in LUFS (ITU-R BS.1770-4: K-weighted, 400 ms blocks overlapping 75%, gated at
    -70 LUFS and -10 LU); -inf for silence or under 0.4 s. The same numbers as pyloudnorm's meter, computed
    in blocks of a second so memory does not grow with the signal's length."""
    if len(x) < int(0.4 * SAMPLE_RATE) or not np.any(x):
        return float("-inf")
    z = _block_powers(x if x.ndim == 2 else x[:, None])  # [channels, blocks] mean squares
    gains = np.array([1.0, 1.0, 1.0, 1.41, 1.41])[: z.shape[0], None]
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


LOUDNESS_CHUNK = SAMPLE_RATE  # samples K-weighted at a time


def _block_powers(x: np.ndarray) -> np.ndarray:
    """Mean square of the K-weighted signal per gating block (pyloudnorm's block bounds), streamed."""
    from scipy.signal import lfilter

    n, channels = x.shape
    block, step = 0.4, 0.25
    count = int(np.round((n / SAMPLE_RATE - block) / (block * step))) + 1
    lower = np.array([int(block * (j * step) * SAMPLE_RATE) for j in range(count)])
    upper = np.array([int(block * (j * step + 1) * SAMPLE_RATE) for j in range(count)])
    edges = np.unique(np.clip(np.concatenate([lower, upper, [0, n]]), 0, n))
    sums = np.zeros((channels, len(edges) - 1))  # sum of squares between consecutive edges
    stages = _k_weighting()
    state = [[np.zeros(max(len(a), len(b)) - 1) for b, a, _ in stages] for _ in range(channels)]
    for start in range(0, n, LOUDNESS_CHUNK):
        end = min(n, start + LOUDNESS_CHUNK)
        inside = edges[(edges > start) & (edges < end)]
        cuts = np.concatenate([[start], inside]) - start  # reduceat offsets within the chunk
        first = np.searchsorted(edges, start, side="right") - 1  # the segment this chunk starts in
        for ch in range(channels):
            y = x[start:end, ch].astype(np.float64)
            for k, (b, a, gain) in enumerate(stages):
                y, state[ch][k] = lfilter(b, a, y, zi=state[ch][k])
                y = y * gain
            sums[ch, first : first + len(cuts)] += np.add.reduceat(y * y, cuts)
    cumulative = np.concatenate([np.zeros((channels, 1)), np.cumsum(sums, axis=1)], axis=1)
    at = {int(e): i for i, e in enumerate(edges)}
    lo, hi = [at[int(min(v, n))] for v in lower], [at[int(min(v, n))] for v in upper]
    return (cumulative[:, hi] - cumulative[:, lo]) / (block * SAMPLE_RATE)


@functools.cache
def _k_weighting() -> list[tuple[np.ndarray, np.ndarray, float]]:
    """BS.1770's K-weighting at 48 kHz as (b, a, passband gain) stages: pyloudnorm's own coefficients."""
    import pyloudnorm

    return [(f.b, f.a, f.passband_gain) for f in pyloudnorm.Meter(SAMPLE_RATE)._filters.values()]


def scale_to(x: np.ndarray, lufs: float) -> np.ndarray:
    """Scale a stem to `lufs` in place (silence stays silent); returns `x`."""
    now = loudness(x)
    if np.isfinite(now):
        x *= np.float32(10 ** ((lufs - now) / 20))
    return x


TRUE_PEAK_BLOCK = 1 << 16  # input samples oversampled at a time (memory stays bounded for any length)
_TRUE_PEAK_PAD = 32  # input samples of context each side of a block (the 4x filter spans 10)


def true_peak(x: np.ndarray) -> np.ndarray:
    """Per-sample peak over channels of a 4x oversampled signal (BS.1770 true-peak estimate), in blocks
    with enough context either side that every value is the whole-signal one."""
    from scipy.signal import resample_poly

    n = len(x)
    out = np.empty(n, np.float32)
    for a in range(0, n, TRUE_PEAK_BLOCK):
        b = min(n, a + TRUE_PEAK_BLOCK)
        s, e = max(0, a - _TRUE_PEAK_PAD), min(n, b + _TRUE_PEAK_PAD)
        over = np.abs(resample_poly(x[s:e], 4, 1, axis=0))
        if len(over) != 4 * (e - s):
            return np.abs(x).max(axis=1)
        out[a:b] = over[4 * (a - s) : 4 * (b - s)].reshape(b - a, 4, -1).max(axis=(1, 2))
    return out


def limit(x: np.ndarray, ceiling_db: float) -> np.ndarray:
    """Look-ahead peak limiter: the smoothed gain never exceeds what keeps each true peak under the ceiling."""
    gain = _limiter_gain(x, ceiling_db)
    return x if gain is None else (x * gain[:, None]).astype(np.float32)


def _limiter_gain(x: np.ndarray, ceiling_db: float) -> np.ndarray | None:
    """The limiter's per-sample gain for `x`, or None where no true peak goes over the ceiling."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    ceiling = 10 ** (ceiling_db / 20)
    need = np.minimum(1.0, ceiling / np.maximum(true_peak(x), 1e-9))
    if need.min() >= 1.0:
        return None
    width = 2 * int(0.005 * SAMPLE_RATE) + 1
    # The min over a window then a mean over the same window stays <= the need at every peak.
    return uniform_filter1d(minimum_filter1d(need, width), width)


def master_to(x: np.ndarray, target_lufs: float, ceiling_db: float = PEAK_CEILING_DB) -> np.ndarray:
    """Normalise to `target_lufs` integrated with true peaks under `ceiling_db`, in place (`x` is the result)."""
    for _ in range(4):  # limiting lowers loudness a little: re-gain and re-limit until it settles
        now = loudness(x)
        if not np.isfinite(now):
            return x
        x *= np.float32(10 ** ((target_lufs - now) / 20))
        if (gain := _limiter_gain(x, ceiling_db)) is not None:
            x *= gain[:, None]
        if abs(loudness(x) - target_lufs) < 0.2:
            break
    # A last hard ceiling for anything the smoothed gain let through (rare, sub-sample peaks).
    return np.clip(x, -(10 ** (ceiling_db / 20)), 10 ** (ceiling_db / 20), out=x)
