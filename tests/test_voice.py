"""Voice backends: espeak-ng speaks at 48 kHz; missing tools are clear MissingDependency errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from generators.base import VOICE
from generators.errors import MissingDependency, TakeFailed
from generators.media import read_wav

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")


@needs_espeak
def test_espeak_speaks_48k_mono(tmp_path):
    voice = VOICE.create("espeak-ng", {"speed": 180})
    take = voice.speak("Fresh every morning.", "en", tmp_path / "v.wav")
    data, rate = read_wav(take.path)
    assert rate == take.sample_rate == 48000 and data.shape[1] == 1
    assert 0.4 < take.seconds < 4 and np.abs(data).max() > 0.05
    assert take.metadata["backend"] == "espeak-ng" and take.metadata["parameters"]["speed"] == 180


@needs_espeak
def test_espeak_speed_changes_length(tmp_path):
    slow = VOICE.create("espeak-ng", {"speed": 120}).speak("one two three four five", "en", tmp_path / "s.wav")
    fast = VOICE.create("espeak-ng", {"speed": 300}).speak("one two three four five", "en", tmp_path / "f.wav")
    assert fast.seconds < 0.8 * slow.seconds


@needs_espeak
def test_espeak_rejects_empty_text_and_unknown_voice(tmp_path):
    voice = VOICE.create("espeak-ng")
    with pytest.raises(TakeFailed):
        voice.speak("  ", "en", tmp_path / "e.wav")
    with pytest.raises(TakeFailed, match="no-such-voice"):
        voice.speak("hello", "no-such-voice", tmp_path / "u.wav")


def test_missing_espeak_binary_names_the_install():
    voice = VOICE.create("espeak-ng", {"binary": "espeak-ng-not-here"})
    with pytest.raises(MissingDependency, match="apt-get install espeak-ng"):
        voice.ensure_loaded()


def test_missing_piper_is_a_clear_error():
    voice = VOICE.create("piper", {"binary": "piper-not-here"})
    with pytest.raises(MissingDependency, match="piper-tts"):
        voice.ensure_loaded()
