"""The cut's master mixed in blocks and written to a WAV: memory stays flat in the cut's length.

Nothing is held whole: the music is read from its file a block at a time (resampled with enough of its
neighbours that every sample is the whole-file one), each shot's effect and voice line is loaded while a
block overlaps it, and every per-sample step (ducking, fades, the look-ahead limiter) is computed on a
block with enough context either side that its values are those of the whole cut. What needs the
whole signal, the integrated loudness of the stems and of the master, takes passes over the blocks:

1. the stems, rendered once into a scratch file beside the WAV (so the music and every sound are read and
   resampled once, not once a pass): the level of music, effects and voice, the voice's loudest sample;
2. the premaster (stems at their levels, music ducked, fades): its loudness;
3. the master: gain to the target, limiter, written to the WAV while its loudness is measured; where
   limiting moved the loudness off the target, the gain and the limiter go round again (up to
   MASTER_ROUNDS times, each a pass), as normalising the whole array did.

Each pass keeps what it made (the premaster, then each round's master before clipping) in a scratch file,
so the next round reads it rather than making it again: a round limits once (the limiter's 4x oversampled
true peak is most of a pass), however many rounds came before. Only the last round's file is kept (8 bytes
a sample: 46 MB for 120 s, beside the stems' 115 MB).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from math import ceil, gcd
from pathlib import Path

import numpy as np

from agent.assembly.audio_mix import (
    DUCK_EASE_S,
    DUCK_HOLD_S,
    LIMIT_REACH,
    PEAK_CEILING_DB,
    STEM_LUFS,
    VOICE_LEAD_S,
    VOICE_TAIL_S,
    ShotAudio,
    duck_gain,
    fit_voice,
    limited,
    load_audio,
    read_raw,
)
from agent.assembly.meter import LOUDNESS_CHUNK, SAMPLE_RATE, LoudnessMeter

STEM_CHANNELS = 5
BLOCK = 4 * LOUDNESS_CHUNK  # samples mixed at a time: whole loudness chunks, so the meter sums as on one array
# Context each side that makes a block's ducking the whole cut's: its hold and ease windows (the limiter's
# is LIMIT_REACH, once per round).
DUCK_REACH = int(DUCK_HOLD_S * SAMPLE_RATE) // 2 + int(DUCK_EASE_S * SAMPLE_RATE) // 2 + 64
MASTER_ROUNDS = 4  # limiting lowers loudness a little: re-gain and re-limit until it settles
SETTLED_LU = 0.2
FADE_IN_S = 0.03


class MusicBed:
    """A music file read in blocks as the [N, 2] float32 bed at 48 kHz, beyond its end silence."""

    def __init__(self, path: Path) -> None:
        import soundfile as sf

        self.file = sf.SoundFile(str(path))
        rate = self.file.samplerate
        g = gcd(rate, SAMPLE_RATE)
        self.up, self.down = SAMPLE_RATE // g, rate // g
        self.frames = self.file.frames
        self.length = ceil(self.frames * self.up / self.down)  # resample_poly's output length
        # Input samples of context each side: resample_poly's filter spans 10 * max(up, down) upsampled taps.
        self.pad = ceil(10 * max(self.up, self.down) / self.up) + 2

    def read(self, a: int, b: int) -> np.ndarray:
        """Bed samples [a, b) at 48 kHz, stereo (mono spread, channels past two dropped)."""
        from generators.media import resample

        out = np.zeros((b - a, 2), np.float32)
        end = min(b, self.length)
        if end <= a:
            return out
        # Start on a multiple of `down` so the block's output phase is the whole file's.
        s = max(0, (a * self.down // self.up - self.pad) // self.down * self.down)
        e = min(self.frames, -(-end * self.down // self.up) + self.pad)
        self.file.seek(s)
        data = resample(self.file.read(e - s, dtype="float32", always_2d=True), self.file.samplerate, SAMPLE_RATE)
        offset = s * self.up // self.down
        data = data[a - offset : end - offset]
        out[: end - a] = np.repeat(data[:, :1], 2, axis=1) if data.shape[1] == 1 else data[:, :2]
        return out

    def close(self) -> None:
        self.file.close()


@dataclass
class Sound:
    """A short sound placed at `start`, loaded while a block needs it."""

    start: int
    load: Callable[[], np.ndarray]
    length: int | None = None  # known once loaded
    samples: np.ndarray | None = None


@dataclass
class Stem:
    """A bus of placed sounds, summed a block at a time in placing order (the whole bus's sums exactly)."""

    total: int
    channels: int
    sounds: list[Sound] = field(default_factory=list)

    def block(self, a: int, b: int) -> np.ndarray:
        """The bus over samples [a, b)."""
        out = np.zeros((b - a, self.channels), np.float32)
        for s in self.sounds:
            if s.start >= b or (s.length is not None and s.start + s.length <= a):
                continue
            if s.samples is None:
                s.samples = s.load()
                s.length = len(s.samples)
            lo, hi = max(a, s.start), min(b, s.start + s.length, self.total)
            if hi > lo:
                out[lo - a : hi - a] += s.samples[lo - s.start : hi - s.start]
        for s in self.sounds:  # a pass moves forward: what ended a second back is not needed again in it
            if s.samples is not None and s.start + s.length < a - SAMPLE_RATE:
                s.samples = None
        return out


@dataclass
class Layout:
    """What the master is made of and how it is levelled: stems, gains, fades and the limiter's rounds."""

    total: int
    music: MusicBed | None
    effects: Stem
    voice: Stem
    fade_out: int
    stems: Path  # the three stems side by side once rendered, raw float32 [total, 5]: music, effects, voice
    stem_gains: dict[str, np.float32] = field(default_factory=dict)
    loudest_voice: np.float32 = np.float32(0)
    master_gains: list[np.float32] = field(default_factory=list)  # one per limiter round
    ceiling_db: float = PEAK_CEILING_DB
    kept: dict[int, Path] = field(default_factory=dict)  # rounds made whole, raw float32 [total, 2] (0: premaster)

    def music_block(self, a: int, b: int) -> np.ndarray:
        return self.music.read(a, b) if self.music else np.zeros((b - a, 2), np.float32)

    def rendered(self, a: int, b: int) -> np.ndarray:
        """Samples [a, b) of the rendered stems, [b - a, 5]."""
        return read_raw(self.stems, a, b, STEM_CHANNELS)

    def premaster(self, a: int, b: int) -> np.ndarray:
        """Music at its level ducked under the voice, plus effects and voice at theirs, faded: samples [a, b)."""
        lo, hi = max(0, a - DUCK_REACH), min(self.total, b + DUCK_REACH)
        stems = self.rendered(lo, hi)
        voice = stems[:, 4:5]
        x = stems[a - lo : b - lo, 0:2] * self.stem_gains["music"]
        x *= duck_gain(voice, self.loudest_voice)[a - lo : b - lo, None]
        x += stems[a - lo : b - lo, 2:4] * self.stem_gains["effects"]
        x += voice[a - lo : b - lo] * self.stem_gains["voice"]
        return self._fade(x, a)

    def _fade(self, x: np.ndarray, a: int) -> np.ndarray:
        """A linear fade-in and an equal-power fade-out at the cut's ends (the ramps of the whole cut)."""
        n_in, n_out = min(self.total, int(FADE_IN_S * SAMPLE_RATE)), min(self.total, self.fade_out)
        if a < n_in:
            ramp = np.linspace(0, 1, n_in, dtype=np.float32)[a : a + len(x)]
            x[: len(ramp)] *= ramp[:, None]
        start = self.total - n_out
        if a + len(x) > start:
            ramp = np.cos(np.linspace(0, np.pi / 2, n_out, dtype=np.float32))[max(0, a - start) :]
            x[max(0, start - a) :] *= ramp[: len(x) - max(0, start - a), None]
        return x

    def master(self, rounds: int, a: int, b: int) -> np.ndarray:
        """Samples [a, b) after `rounds` rounds of gain and limiting (0: the premaster), read back where a pass
        kept that round whole."""
        if rounds in self.kept:
            return read_raw(self.kept[rounds], a, b, 2)
        if rounds == 0:
            return self.premaster(a, b)
        lo, hi = max(0, a - LIMIT_REACH), min(self.total, b + LIMIT_REACH)
        x = self.master(rounds - 1, lo, hi)
        x *= self.master_gains[rounds - 1]
        return limited(x, slice(a - lo, b - lo), self.ceiling_db)


def mix_to_wav(wav: Path, total: int, shots: list[ShotAudio], music: Path | None, fps: int, target_lufs: float,
               fade_out_s: float) -> list[dict]:
    """Mix the cut's master ([total, 2] float32 at 48 kHz) into `wav` in blocks; the warnings about voice lines."""
    with tempfile.TemporaryDirectory(prefix="mix-", dir=wav.parent) as tmp:
        layout, warnings = _layout(total, shots, music, fps, fade_out_s, Path(tmp))
        try:
            _level_stems(layout)
            _master(layout, wav, target_lufs)
        finally:
            if layout.music:
                layout.music.close()
    return warnings


def _layout(total: int, shots: list[ShotAudio], music: Path | None, fps: int, fade_out_s: float,
            folder: Path) -> tuple[Layout, list[dict]]:
    """Where every sound sits; voice lines are fitted to their room now (kept in `folder` where changed, as
    the stems will be)."""
    effects, voice, warnings = Stem(total, 2), Stem(total, 1), []
    for shot in shots:
        if shot.effect is not None:
            effects.sounds.append(Sound(shot.start, lambda path=shot.effect: load_audio(path, 2)))
        if shot.voice is not None:
            span = shot.voice_room or shot.length
            lead = min(int(VOICE_LEAD_S * SAMPLE_RATE), span // 10)
            room = span - lead - min(int(VOICE_TAIL_S * SAMPLE_RATE), span // 10)
            spoken = load_audio(shot.voice, 1)
            line, notes = fit_voice(spoken, room, shot.index, fps)
            if line is spoken:
                load = lambda path=shot.voice: load_audio(path, 1)  # noqa: E731
            else:
                np.save(kept := folder / f"voice-{shot.index}.npy", line)
                load = lambda path=kept: np.load(path)  # noqa: E731
            voice.sounds.append(Sound(shot.start + lead, load, len(line)))
            warnings += notes
    bed = MusicBed(music) if music is not None else None
    return Layout(total, bed, effects, voice, int(fade_out_s * SAMPLE_RATE), folder / "stems.f32"), warnings


def _blocks(total: int) -> Iterator[tuple[int, int]]:
    for a in range(0, total, BLOCK):
        yield a, min(total, a + BLOCK)


def _level_stems(layout: Layout) -> None:
    """Pass 1: the stems rendered to a scratch file (the music and every sound read and resampled once), each
    stem's gain to its level, and the loudest voice sample (where ducking starts)."""
    meters = {"music": LoudnessMeter(2, layout.total), "effects": LoudnessMeter(2, layout.total),
              "voice": LoudnessMeter(1, layout.total)}  # fmt: skip
    loudest = np.float32(0)
    with layout.stems.open("wb") as out:
        for a, b in _blocks(layout.total):
            stems = {"music": layout.music_block(a, b), "effects": layout.effects.block(a, b),
                     "voice": layout.voice.block(a, b)}  # fmt: skip
            for stem, x in stems.items():
                meters[stem].add(x)
            loudest = max(loudest, np.abs(stems["voice"]).max(initial=np.float32(0)))
            out.write(np.concatenate(list(stems.values()), axis=1).tobytes())
    layout.loudest_voice = loudest
    for stem, meter in meters.items():
        now = meter.lufs()
        layout.stem_gains[stem] = np.float32(10 ** ((STEM_LUFS[stem] - now) / 20) if np.isfinite(now) else 1.0)


def _master(layout: Layout, wav: Path, target_lufs: float) -> None:
    """Passes 2 and on: meter the premaster, then gain, limit and write until the loudness settles."""
    now = _write(layout, 0, None)
    while np.isfinite(now):
        layout.master_gains.append(np.float32(10 ** ((target_lufs - now) / 20)))
        rounds = len(layout.master_gains)
        after = _write(layout, rounds, wav, clip=True)
        if abs(after - target_lufs) < SETTLED_LU or rounds == MASTER_ROUNDS:
            return
        now = after
    _write(layout, len(layout.master_gains), wav)  # silence: written as it is, unclipped


def _write(layout: Layout, rounds: int, wav: Path | None, clip: bool = False) -> float:
    """One pass over the master after `rounds` rounds: its loudness, and the samples written to `wav`
    (clipped at the ceiling where `clip`: a last hard stop for sub-sample peaks the limiter let through)."""
    import soundfile as sf

    meter = LoudnessMeter(2, layout.total)
    ceiling = 10 ** (layout.ceiling_db / 20)
    made = rounds not in layout.kept
    keep = layout.stems.with_name(f"round-{rounds}.f32")
    out = sf.SoundFile(str(wav), "w", SAMPLE_RATE, 2, subtype="FLOAT") if wav is not None else None
    try:
        with keep.open("wb") if made else nullcontext() as keeping:
            for a, b in _blocks(layout.total):
                x = layout.master(rounds, a, b)
                meter.add(x)  # unclipped, as settling measures it (the meter may hold on to `x`: not changed after)
                if keeping is not None:
                    keeping.write(np.ascontiguousarray(x, np.float32).tobytes())
                if out is not None:
                    out.write(np.clip(x, -ceiling, ceiling) if clip else x)
    finally:
        if out is not None:
            out.close()
    if made:
        layout.kept[rounds] = keep  # whole: the next round reads it, and no round reads the ones before
        for before in [r for r in layout.kept if r < rounds]:
            layout.kept.pop(before).unlink()
    return meter.lufs()
