"""The synth audio backend: a music bed and sound effects made by additive synthesis, no model.

Music: mood words pick tempo, mode, a chord progression and an instrument set; the seed picks the
key and small variations; soft hits land on the request's cut points. Effects: prompt words pick
a recipe (whoosh, click, pop, chime, impact, riser, fizz); a soft whoosh when none matches.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from generators.base import AudioGenerator, AudioTake, SoundRequest
from generators.lazy import scipy_module
from generators.media import write_wav

NOTE_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
MAJOR = [0, 2, 4, 5, 7, 9, 11]
MINOR = [0, 2, 3, 5, 7, 8, 10]
# Progressions as scale degrees (0 = tonic); roman names are for the metadata.
PROGRESSIONS = {
    "major": [([0, 4, 5, 3], "I-V-vi-IV"), ([0, 3, 4, 3], "I-IV-V-IV"), ([5, 3, 0, 4], "vi-IV-I-V"),
              ([0, 5, 3, 4], "I-vi-IV-V")],
    "minor": [([0, 5, 2, 6], "i-VI-III-VII"), ([0, 3, 5, 4], "i-iv-VI-v"), ([0, 6, 5, 6], "i-VII-VI-VII")],
}


@dataclass(frozen=True)
class Style:
    """What a mood sounds like."""

    tempo: int
    mode: str
    pad: float  # level of the sustained chord pad
    arp: float  # level of the eighth-note arpeggio
    drums: float  # level of the soft kick and hat
    brightness: float  # 0..1: how many upper partials the timbres keep


MOODS: dict[str, Style] = {
    "uplifting": Style(118, "major", 0.5, 0.35, 0.3, 0.7),
    "energetic": Style(126, "major", 0.4, 0.45, 0.5, 0.85),
    "playful": Style(112, "major", 0.35, 0.5, 0.25, 0.8),
    "calm": Style(76, "major", 0.7, 0.15, 0.0, 0.35),
    "warm": Style(92, "major", 0.65, 0.25, 0.1, 0.45),
    "corporate": Style(104, "major", 0.5, 0.35, 0.25, 0.6),
    "dark": Style(92, "minor", 0.65, 0.2, 0.2, 0.35),
    "dramatic": Style(100, "minor", 0.6, 0.3, 0.35, 0.6),
    "sad": Style(70, "minor", 0.75, 0.2, 0.0, 0.3),
    "luxury": Style(84, "minor", 0.6, 0.25, 0.1, 0.5),
}
SYNONYMS = {
    "happy": "uplifting", "bright": "uplifting", "optimistic": "uplifting", "inspiring": "uplifting",
    "hopeful": "uplifting", "fresh": "uplifting", "upbeat": "energetic", "exciting": "energetic",
    "fast": "energetic", "sport": "energetic", "bold": "energetic", "fun": "playful", "quirky": "playful",
    "whimsical": "playful", "relaxed": "calm", "chill": "calm", "ambient": "calm", "serene": "calm",
    "gentle": "calm", "peaceful": "calm", "soft": "calm", "cozy": "warm", "friendly": "warm",
    "confident": "corporate", "professional": "corporate", "tech": "corporate", "modern": "corporate",
    "mysterious": "dark", "tense": "dark", "moody": "dark", "epic": "dramatic", "cinematic": "dramatic",
    "powerful": "dramatic", "melancholic": "sad", "nostalgic": "sad", "emotional": "sad",
    "elegant": "luxury", "premium": "luxury", "sophisticated": "luxury",
}


def style_for(mood: str) -> tuple[str, Style]:
    """The first known mood word in `mood` (or a synonym of one); 'uplifting' when none."""
    for word in mood.lower().replace(",", " ").replace("-", " ").split():
        word = SYNONYMS.get(word, word)
        if word in MOODS:
            return word, MOODS[word]
    return "uplifting", MOODS["uplifting"]


# 1. Voices: additive tones with envelopes ------------------------------------------------------


def midi_hz(note: float) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def tone(hz: float, n: int, sr: int, partials: int, rolloff: float, detune: float = 0.0) -> np.ndarray:
    """A sum of harmonics with amplitudes rolloff**k, optionally doubled with a detuned copy."""
    t = np.arange(n, dtype=np.float32) / sr
    out = np.zeros(n, np.float32)
    for k in range(1, partials + 1):
        if hz * k > sr / 2.2:
            break
        out += rolloff ** (k - 1) * np.sin(2 * np.pi * hz * k * t, dtype=np.float32)
        if detune:
            out += rolloff ** (k - 1) * np.sin(2 * np.pi * hz * (1 + detune) * k * t, dtype=np.float32)
    return out / max(1.0, np.abs(out).max())


def envelope(n: int, sr: int, attack: float, release: float) -> np.ndarray:
    """Linear attack, exponential decay towards a release tail; no clicks at either end."""
    a = max(1, min(n, int(attack * sr)))
    env = np.ones(n, np.float32)
    env[:a] = np.linspace(0, 1, a, dtype=np.float32)
    tail = np.arange(n - a, dtype=np.float32) / sr
    env[a:] = np.exp(-tail / max(1e-3, release))
    r = min(n, int(0.01 * sr))
    env[n - r :] *= np.linspace(1, 0, r, dtype=np.float32)
    return env


def add(buf: np.ndarray, start: int, sig: np.ndarray, gain_lr: tuple[float, float]) -> None:
    """Mix a mono signal into a stereo buffer at `start`, cut at the buffer's end."""
    if start >= len(buf) or start < 0:
        return
    sig = sig[: len(buf) - start]
    buf[start : start + len(sig), 0] += sig * gain_lr[0]
    buf[start : start + len(sig), 1] += sig * gain_lr[1]


def soft_hit(n: int, sr: int, rng: random.Random) -> np.ndarray:
    """A soft accent: a low sine thump with a short band of noise."""
    t = np.arange(n, dtype=np.float32) / sr
    sweep = 55 + 60 * np.exp(-t * 25)
    thump = np.sin(2 * np.pi * np.cumsum(sweep) / sr).astype(np.float32) * np.exp(-t * 7)
    noise = np.random.default_rng(rng.randrange(2**32)).standard_normal(n).astype(np.float32)
    noise = _lowpass(noise, 3000, sr) * np.exp(-t * 18) * 0.25
    return (thump + noise) * envelope(n, sr, 0.004, 1.0)


def _lowpass(x: np.ndarray, hz: float, sr: int) -> np.ndarray:
    scipy_module("scipy.signal")  # imported one thread at a time (generators.lazy)
    from scipy.signal import butter, sosfilt

    return sosfilt(butter(2, hz, fs=sr, output="sos"), x).astype(np.float32)


def _bandpass(x: np.ndarray, lo: float, hi: float, sr: int, zi: np.ndarray | None = None):
    scipy_module("scipy.signal")  # imported one thread at a time (generators.lazy)
    from scipy.signal import butter, sosfilt, sosfilt_zi

    sos = butter(2, [lo, hi], btype="band", fs=sr, output="sos")
    if zi is None:
        zi = sosfilt_zi(sos) * 0
    return sosfilt(sos, x, zi=zi)


# 2. Music ---------------------------------------------------------------------------------------


def compose_music(request: SoundRequest) -> tuple[np.ndarray, dict]:
    """Render a stereo music bed and describe it (tempo, key, progression)."""
    sr, n = request.sample_rate, round(request.seconds * request.sample_rate)
    rng = random.Random(request.seed)
    mood, style = style_for(request.mood or request.prompt)
    tempo = style.tempo + rng.randint(-4, 4)
    root = 48 + rng.randrange(12)  # C3..B3
    steps, prog_name = rng.choice(PROGRESSIONS[style.mode])
    scale = MAJOR if style.mode == "major" else MINOR
    beat = 60.0 / tempo
    bar = 4 * beat
    buf = np.zeros((n, 2), np.float32)
    partials = 2 + int(6 * style.brightness)
    for b in range(int(request.seconds / bar) + 1):
        chord = _triad(root, scale, steps[b % len(steps)])
        start = int(b * bar * sr)
        _pad(buf, start, int(bar * sr * 1.15), chord, sr, style, partials)
        _bass(buf, start, beat, chord[0] - 12, sr, partials)
        if style.arp:
            _arp(buf, start, beat, chord, sr, style, rng)
        if style.drums:
            _drums(buf, start, beat, sr, style, rng)
    for cut in request.cut_points:
        if 0 < cut < request.seconds:
            add(buf, int(round(cut * sr)), soft_hit(int(0.6 * sr), sr, rng), (0.55, 0.55))
    buf = _finish(buf, sr)
    key = f"{NOTE_NAMES[root % 12]} {style.mode}"
    return buf, {"mood": mood, "tempo": tempo, "key": key, "progression": prog_name}


def _triad(root: int, scale: list[int], degree: int) -> list[int]:
    octave = lambda i: 12 * (i // 7) + scale[i % 7]  # noqa: E731  (degree -> semitones, wrapping)
    return [root + octave(degree), root + octave(degree + 2), root + octave(degree + 4)]


def _pad(buf: np.ndarray, start: int, n: int, chord: list[int], sr: int, style: Style, partials: int) -> None:
    env = envelope(n, sr, 0.25, 2.5)
    for i, note in enumerate(chord):
        sig = tone(midi_hz(note + 12), n, sr, partials, 0.45, detune=0.003) * env * style.pad * 0.22
        pan = (0.6, 0.4) if i % 2 else (0.4, 0.6)
        add(buf, start, sig, pan)


def _bass(buf: np.ndarray, start: int, beat: float, note: int, sr: int, partials: int) -> None:
    n = int(beat * 2 * sr)
    sig = tone(midi_hz(note), n, sr, min(partials, 4), 0.5) * envelope(n, sr, 0.01, 0.5) * 0.3
    for half in range(2):
        add(buf, start + half * n, sig, (0.5, 0.5))


def _arp(buf: np.ndarray, start: int, beat: float, chord: list[int], sr: int, style: Style,
         rng: random.Random) -> None:
    n = int(beat / 2 * sr)
    pattern = rng.choice([[0, 1, 2, 1], [0, 2, 1, 2], [2, 1, 0, 1]])
    for k in range(8):
        note = chord[pattern[k % 4]] + 24
        sig = tone(midi_hz(note), n, sr, 3, 0.35) * envelope(n, sr, 0.003, 0.12) * style.arp * 0.18
        pan = 0.3 + 0.4 * (k % 2)
        add(buf, start + k * n, sig, (1 - pan, pan))


def _drums(buf: np.ndarray, start: int, beat: float, sr: int, style: Style, rng: random.Random) -> None:
    kick_n, hat_n = int(0.25 * sr), int(0.05 * sr)
    t = np.arange(kick_n, dtype=np.float32) / sr
    kick = np.sin(2 * np.pi * np.cumsum(50 + 90 * np.exp(-t * 40)) / sr).astype(np.float32) * np.exp(-t * 14)
    noise = np.random.default_rng(rng.randrange(2**32)).standard_normal(hat_n).astype(np.float32)
    hat = (noise - _lowpass(noise, 6000, sr)) * np.exp(-np.arange(hat_n, dtype=np.float32) / sr * 80)
    for k in range(4):
        add(buf, start + int(k * beat * sr), kick * style.drums * 0.5, (0.5, 0.5))
        add(buf, start + int((k + 0.5) * beat * sr), hat * style.drums * 0.12, (0.45, 0.55))


def _finish(buf: np.ndarray, sr: int) -> np.ndarray:
    """Fade both ends and scale to a -3 dBFS peak so later mixing has headroom."""
    fade_in, fade_out = min(len(buf), int(0.05 * sr)), min(len(buf), int(1.0 * sr))
    buf[:fade_in] *= np.linspace(0, 1, fade_in, dtype=np.float32)[:, None]
    buf[len(buf) - fade_out :] *= np.linspace(1, 0, fade_out, dtype=np.float32)[:, None]
    peak = max(float(buf.max(initial=0.0)), -float(buf.min(initial=0.0)))  # no |buf| copy of a long bed
    if peak > 0:
        buf *= 0.7 / peak  # in place: a long bed is held once
    return buf


# 3. Effects ------------------------------------------------------------------------------------

EFFECT_WORDS = {
    "whoosh": ("whoosh", "swoosh", "swish", "wind", "transition", "swipe", "rush", "air"),
    "click": ("click", "tap", "tick", "button", "snap", "shutter", "type", "keyboard"),
    "pop": ("pop", "bubble", "cork", "plop", "drop"),
    "chime": ("chime", "bell", "ding", "sparkle", "shimmer", "notification", "glint", "magic"),
    "impact": ("impact", "hit", "boom", "thud", "slam", "bass", "drum", "stomp"),
    "riser": ("rise", "riser", "swell", "build", "uplift"),
    "fizz": ("fizz", "water", "splash", "pour", "sizzle", "rain", "spray", "crackle", "carbonat"),
}


def effect_kind(prompt: str) -> str:
    """The effect recipe the prompt's words name; 'whoosh' when none matches."""
    text = prompt.lower()
    for kind, words in EFFECT_WORDS.items():
        if any(w in text for w in words):
            return kind
    return "whoosh"


def make_effect(request: SoundRequest) -> tuple[np.ndarray, dict]:
    """Render a short stereo effect at the start of a buffer of the requested length."""
    sr, n = request.sample_rate, round(request.seconds * request.sample_rate)
    rng = random.Random(request.seed)
    kind = effect_kind(request.prompt)
    sig = RECIPES[kind](sr, rng)[:n]
    buf = np.zeros((n, 2), np.float32)
    pan = rng.uniform(0.4, 0.6)
    add(buf, 0, sig, (1 - pan, pan))
    peak = float(np.abs(buf).max())
    buf = buf * (0.7 / peak) if peak > 0 else buf
    return buf, {"effect": kind, "effect_seconds": round(len(sig) / sr, 3)}


def _noise(n: int, rng: random.Random) -> np.ndarray:
    return np.random.default_rng(rng.randrange(2**32)).standard_normal(n).astype(np.float32)


def _whoosh(sr: int, rng: random.Random) -> np.ndarray:
    """Band-passed noise whose centre sweeps up then down under a swelling envelope."""
    n, block = int(rng.uniform(0.6, 0.9) * sr), 512
    noise, out, zi = _noise(n, rng), np.zeros(n, np.float32), None
    lo_hz, hi_hz = rng.uniform(250, 400), rng.uniform(2500, 4000)
    for s in range(0, n, block):
        x = s / n
        centre = lo_hz * (hi_hz / lo_hz) ** (np.sin(np.pi * x))  # log sweep up and back
        seg, zi = _bandpass(noise[s : s + block], centre / 1.6, min(centre * 1.6, sr / 2.1), sr, zi)
        out[s : s + block] = seg
    t = np.linspace(0, 1, n, dtype=np.float32)
    return out * np.sin(np.pi * t) ** 2 * envelope(n, sr, 0.005, 10.0)


def _click(sr: int, rng: random.Random) -> np.ndarray:
    n = int(0.03 * sr)
    t = np.arange(n, dtype=np.float32) / sr
    body = np.sin(2 * np.pi * rng.uniform(1800, 2600) * t) * np.exp(-t * 300)
    return (body + 0.5 * _noise(n, rng) * np.exp(-t * 600)).astype(np.float32)


def _pop(sr: int, rng: random.Random) -> np.ndarray:
    n = int(0.12 * sr)
    t = np.arange(n, dtype=np.float32) / sr
    hz = rng.uniform(500, 800) * np.exp(-t * 30) + 200
    return (np.sin(2 * np.pi * np.cumsum(hz) / sr) * np.exp(-t * 35)).astype(np.float32)


def _chime(sr: int, rng: random.Random) -> np.ndarray:
    n = int(1.2 * sr)
    t = np.arange(n, dtype=np.float32) / sr
    base = rng.uniform(700, 1100)
    ratios, out = (1.0, 2.76, 5.4, 8.93), np.zeros(n, np.float32)
    for i, r in enumerate(ratios):  # inharmonic partials: a bell, not a string
        out += np.sin(2 * np.pi * base * r * t) * np.exp(-t * (2.5 + 2 * i)) / (i + 1)
    return out * envelope(n, sr, 0.002, 10.0)


def _impact(sr: int, rng: random.Random) -> np.ndarray:
    return soft_hit(int(0.8 * sr), sr, rng) * 1.5


def _riser(sr: int, rng: random.Random) -> np.ndarray:
    n = int(1.0 * sr)
    t = np.arange(n, dtype=np.float32) / sr
    hz = 200 * 8 ** (t / t[-1])
    tonal = np.sin(2 * np.pi * np.cumsum(hz) / sr).astype(np.float32) * 0.4
    noisy = _bandpass(_noise(n, rng), 1500, 6000, sr)[0].astype(np.float32)
    return (tonal + noisy) * (t / t[-1]) ** 2 * envelope(n, sr, 0.01, 10.0)


def _fizz(sr: int, rng: random.Random) -> np.ndarray:
    n = int(0.9 * sr)
    hiss = _bandpass(_noise(n, rng), 3000, 12000, sr)[0].astype(np.float32) * 0.4
    crackle = np.zeros(n, np.float32)
    for _ in range(60):  # tiny bubbles: random short clicks
        s = rng.randrange(n - 200)
        crackle[s : s + 200] += _click(sr, rng)[:200] * rng.uniform(0.1, 0.5)
    t = np.linspace(0, 1, n, dtype=np.float32)
    return (hiss + crackle) * np.sin(np.pi * np.minimum(1, t * 1.5)) * envelope(n, sr, 0.02, 10.0)


RECIPES = {"whoosh": _whoosh, "click": _click, "pop": _pop, "chime": _chime, "impact": _impact,
           "riser": _riser, "fizz": _fizz}


# 4. The backend --------------------------------------------------------------------------------


class SynthAudio(AudioGenerator):
    """Music beds and effects by additive synthesis: offline, instant, deterministic per seed."""

    name: ClassVar[str] = "synth"
    thread_safe: ClassVar[bool] = True  # pure functions of the request: every take seeds its own generators

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        gain_db: float = Field(default=0.0, ge=-40.0, le=6.0)

    def render(self, request: SoundRequest, out: Path) -> AudioTake:
        """Render the music bed or effect to a stereo WAV of exactly round(seconds * rate) samples."""
        started = time.perf_counter()
        make = compose_music if request.kind == "music" else make_effect
        samples, details = make(request)
        samples *= np.float32(10 ** (self.options.gain_db / 20))  # in place: a long bed is held once
        write_wav(out, samples, request.sample_rate)
        return AudioTake(
            path=Path(out), sample_rate=request.sample_rate, channels=2,
            seconds=len(samples) / request.sample_rate,
            metadata={
                "backend": self.name, "model": "synth", "seed": request.seed,
                "parameters": {"kind": request.kind, "prompt": request.prompt, "mood": request.mood,
                               "cut_points": request.cut_points, **details},
                "timings": {"total_s": round(time.perf_counter() - started, 4)},
            },
        )
