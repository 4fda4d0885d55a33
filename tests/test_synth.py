"""The synth audio backend: exact lengths, 48 kHz stereo, determinism, moods, accents, effects."""

from __future__ import annotations

import numpy as np

from generators.audio_synth import SynthAudio, effect_kind, style_for
from generators.base import AUDIO, SoundRequest
from generators.media import read_wav


def render(tmp_path, name: str, **kw):
    take = AUDIO.create("synth").render(SoundRequest(**{"prompt": "bed", "seconds": 1.5, **kw}), tmp_path / name)
    data, rate = read_wav(take.path)
    return take, data, rate


def test_music_length_rate_and_channels(tmp_path):
    take, data, rate = render(tmp_path, "m.wav", seconds=2.3457, mood="uplifting")
    assert rate == take.sample_rate == 48000 and data.shape == (round(2.3457 * 48000), 2)
    assert np.abs(data).max() > 0.1
    assert {"tempo", "key", "progression"} <= set(take.metadata["parameters"])


def test_music_is_deterministic_per_seed(tmp_path):
    _, a, _ = render(tmp_path, "a.wav", seed=1, mood="calm")
    _, b, _ = render(tmp_path, "b.wav", seed=1, mood="calm")
    _, c, _ = render(tmp_path, "c.wav", seed=2, mood="calm")
    assert np.array_equal(a, b) and not np.allclose(a, c, atol=1e-3)


def test_moods_pick_tempo_and_mode():
    assert style_for("calm, gentle")[1].tempo < style_for("energetic")[1].tempo
    assert style_for("dark and tense")[1].mode == "minor" and style_for("happy")[1].mode == "major"
    assert style_for("no known words")[0] == "uplifting"


def test_accents_land_on_cut_points(tmp_path):
    _, plain, rate = render(tmp_path, "p.wav", seed=4, seconds=2.0)
    _, accented, _ = render(tmp_path, "a.wav", seed=4, seconds=2.0, cut_points=[1.0])
    # Peak scaling differs between the two renders: undo it, then find where they part.
    before = slice(0, int(0.9 * rate))
    k = (plain[before] * accented[before]).sum() / (plain[before] ** 2).sum()
    diff = np.abs(accented - k * plain).max(axis=1)
    first = np.flatnonzero(diff > 0.2 * diff.max())[0] / rate
    assert 1.0 <= first < 1.05


def test_effects_follow_prompt_words(tmp_path):
    assert effect_kind("a soft whoosh as the bottle slides") == "whoosh"
    assert effect_kind("cork pop") == "pop" and effect_kind("a bright chime") == "chime"
    assert effect_kind("") == "whoosh"
    take, data, rate = render(tmp_path, "e.wav", kind="effect", prompt="button click", seconds=0.8)
    assert data.shape == (round(0.8 * 48000), 2) and take.metadata["parameters"]["effect"] == "click"
    assert np.abs(data[: int(0.05 * rate)]).max() > 0.1  # the effect starts at once


def test_options_are_validated():
    import pytest

    from generators.errors import BackendOptionsError

    with pytest.raises(BackendOptionsError):
        SynthAudio({"volume": 3})
