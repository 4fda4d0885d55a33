"""The streamed mix (agent.assembly.mixdown) against the whole-array mix it replaced (fixtures.mix_reference):
the same master, sample for sample, for layouts that put block edges inside a voice line and inside a
limiter's attack, and a peak memory that does not grow with the cut's length."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fixtures import mix_reference
from fixtures.mix_reference import layout

from agent.assembly import mixdown
from agent.assembly.loudness import SoundError
from agent.assembly.meter import LOUDNESS_CHUNK, SAMPLE_RATE

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
    held = []  # the rounds' kept files on disk as each pass starts: the round before it alone
    monkeypatch.setattr(mixdown, "_write", lambda *a, **k: passes.append(a[1])
                        or held.append(len(list(a[0].stems.parent.glob("round-*.f32")))) or write(*a, **k))  # fmt: skip
    monkeypatch.setattr(mixdown, "BLOCK", block_s * LOUDNESS_CHUNK)
    limited, real_limited = [], mixdown.limited
    monkeypatch.setattr(mixdown, "limited", lambda x, *a: limited.append(len(x)) or real_limited(x, *a))
    warnings = mixdown.mix_to_wav(tmp_path / "mix.wav", total, shots, music, 24, target, 1.5)
    got, rate_out = sf.read(str(tmp_path / "mix.wav"), dtype="float32", always_2d=True)
    assert rate_out == SAMPLE_RATE and got.shape == want.shape == (total, 2)
    assert np.array_equal(got, want), f"{int((got != want).sum())} samples differ, by up to {np.abs(got - want).max()}"
    assert warnings == want_warnings
    if case == "loud-limited-resampled":
        assert 10 ** (-2.1 / 20) < np.abs(want).max() <= 10 ** (-2 / 20)  # the limiter holds the ceiling
        assert passes == [0, 1, 2, 3, 4], passes  # limiting moved the loudness: gain and limiter went round again
        # Each round limits once: it reads the round before from where that pass kept it (1 + 2 + 3 + 4 times
        # the cut when every round made the ones before it again); the rest is the limiter's context.
        assert 4 * total < sum(limited) < 1.2 * 4 * total, sum(limited) / total
        assert held == [0, 1, 1, 1, 1], held
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


@pytest.mark.parametrize("length", [None, 48000])
def test_a_track_that_does_not_decode_names_the_file(tmp_path: Path, length: int | None) -> None:
    from agent.assembly.loudness import decoded_blocks

    broken = tmp_path / "broken.m4a"
    broken.write_bytes(b"not an mp4 at all" * 100)
    with pytest.raises(SoundError, match="broken.m4a"):
        list(decoded_blocks(broken, length))


def test_decoding_through_the_pipe_reads_every_sample(tmp_path: Path) -> None:
    """Blocks from ffmpeg's pipe are the file's samples in order, whole blocks but the last, cut where asked."""
    from agent.assembly.loudness import BLOCK, decoded_blocks

    x = mix_reference.tone(9.3, 440, SAMPLE_RATE, 0.5, 2)
    sf.write(str(wav := tmp_path / "t.wav"), x, SAMPLE_RATE, subtype="FLOAT")
    blocks = list(decoded_blocks(wav))
    assert [len(b) for b in blocks[:-1]] == [BLOCK] * (len(blocks) - 1)
    assert np.array_equal(np.concatenate(blocks), x)
    assert np.array_equal(np.concatenate(list(decoded_blocks(wav, 100_001))), x[:100_001])
