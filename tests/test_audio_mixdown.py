"""The streamed mix (agent.assembly.mixdown) against the whole-array mix it replaced (fixtures.mix_reference):
the same master, sample for sample, for layouts that put block edges inside a voice line and inside a
limiter's attack, and a peak memory that does not grow with the cut's length."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fixtures import mix_reference

from agent.assembly import mixdown
from agent.assembly.audio_mix import ShotAudio
from agent.assembly.meter import LOUDNESS_CHUNK, SAMPLE_RATE

SHOT_S = 3.0


def tone(seconds: float, hz: float, rate: int, amp: float, channels: int, seed: int = 0) -> np.ndarray:
    """A slowly swelling sine with a little noise."""
    t = np.arange(int(seconds * rate)) / rate
    x = amp * np.sin(2 * np.pi * hz * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.7 * t))
    x += 0.05 * np.random.default_rng(seed).standard_normal(len(t))
    return np.repeat(x[:, None], channels, axis=1).astype(np.float32)


def drums(seconds: float, rate: int) -> np.ndarray:
    """A bass under a noise hit every quarter second, one right before each 4 s block edge: loud transients
    the limiter must catch, its attack crossing the edge."""
    x = tone(seconds, 55, rate, 0.25, 2)
    rng = np.random.default_rng(1)
    hits = sorted({*np.arange(0, seconds, 0.25), *(np.arange(4, seconds, 4) - 0.004)})
    for s in hits:
        i, n = int(s * rate), int(0.05 * rate)
        x[i : i + n] += rng.uniform(-1, 1, (len(x[i : i + n]), 1)) * 0.9
    return np.clip(x, -1, 1)


def layout(folder: Path, seconds: float, music_rate: int | None, loud: bool, music_s: float | None = None,
           voice: bool = True) -> tuple[int, list[ShotAudio], Path | None]:
    """Shots of 3 s: an effect (24 kHz) on every other, a voice line (16 kHz mono) on two of three, the
    fourth's too long for its room (sped up); voice lines run across the 4 s block edges."""
    total = int(seconds * SAMPLE_RATE)
    music = None
    if music_rate:
        music = folder / f"music-{music_rate}.wav"
        bed_s = music_s or seconds
        sf.write(str(music), drums(bed_s, music_rate) if loud else tone(bed_s, 110, music_rate, 0.3, 2), music_rate,
                 subtype="FLOAT")  # fmt: skip
    shots = []
    for i in range(int(seconds // SHOT_S)):
        effect = spoken = None
        if i % 2 == 0:
            sf.write(str(effect := folder / f"fx{i}.wav"), tone(1.7, 900 + 50 * i, 24000, 0.5, 2, i), 24000)
        if voice and i % 3 != 2:
            line = tone(4.0 if i == 3 else 2.2, 200 + 10 * i, 16000, 0.4, 1, i)
            sf.write(str(spoken := folder / f"voice{i}.wav"), line, 16000)
        shots.append(ShotAudio(i, int(i * SHOT_S * SAMPLE_RATE), int(SHOT_S * SAMPLE_RATE), effect, spoken))
    for i, shot in enumerate(shots):
        following = next((s for s in shots[i + 1 :] if s.voice is not None), None)
        shot.voice_room = (following.start if following else total - SAMPLE_RATE // 2) - shot.start
    return total, shots, music


CASES = {  # seconds, music rate, loud, target LUFS, music length
    "loud-limited-resampled": (13.3, 44100, True, -8.0, None),
    "quiet-48k-bed-shorter": (20.0, 48000, False, -14.0, 16.5),
    "loud-32k-bed-longer": (9.0, 32000, True, -16.0, 12.0),
    "no-music": (10.0, None, False, -14.0, None),
    "under-a-gating-block": (0.3, 48000, False, -14.0, None),
}


@pytest.mark.parametrize("block_s", [1, 4])
@pytest.mark.parametrize("case", list(CASES))
def test_the_streamed_mix_is_the_whole_array_mix(case: str, block_s: int, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    seconds, rate, loud, target, music_s = CASES[case]
    total, shots, music = layout(tmp_path, seconds, rate, loud, music_s)
    want, want_warnings = mix_reference.mix(total, shots, music, 24, target, 1.5)
    passes = []
    write = mixdown._write
    monkeypatch.setattr(mixdown, "_write", lambda *a, **k: passes.append(a[1]) or write(*a, **k))
    monkeypatch.setattr(mixdown, "BLOCK", block_s * LOUDNESS_CHUNK)
    warnings = mixdown.mix_to_wav(tmp_path / "mix.wav", total, shots, music, 24, target, 1.5)
    got, rate_out = sf.read(str(tmp_path / "mix.wav"), dtype="float32", always_2d=True)
    assert rate_out == SAMPLE_RATE and got.shape == want.shape == (total, 2)
    assert np.array_equal(got, want), f"{int((got != want).sum())} samples differ, by up to {np.abs(got - want).max()}"
    assert warnings == want_warnings
    if case == "loud-limited-resampled":
        assert 10 ** (-2.1 / 20) < np.abs(want).max() <= 10 ** (-2 / 20)  # the limiter holds the ceiling
        assert passes == [0, 1, 2, 3, 4], passes  # limiting moved the loudness: gain and limiter went round again
        assert any(w["kind"] == "voice_sped_up" for w in warnings)


def test_mixing_a_long_cut_holds_what_a_short_one_does(tmp_path: Path) -> None:
    """Peak traced memory of mixing a 120 s cut against a 15 s one: blocks, not buses the cut's length (a 120 s
    stereo float32 bus alone is 46 MB; the whole-array mix held several)."""
    import tracemalloc

    def peak(seconds: float) -> int:
        folder = tmp_path / f"{seconds:g}"
        folder.mkdir()
        total, shots, music = layout(folder, seconds, 48000, False)
        tracemalloc.start()
        try:
            mixdown.mix_to_wav(folder / "mix.wav", total, shots, music, 24, -14.0, 1.5)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak(3.0)  # imports and filter coefficients, made once
    short, long = peak(15.0), peak(120.0)
    assert long - short < 2 * 2**20, (short, long)
    assert long < 40 * 2**20, long  # a few blocks of 4 s in flight, whatever the length
