"""Model audio backends (audioldm2, stable-audio, musicgen) on tiny smoke models, through the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from generators.audio_diffusers import check_audio, fit_length
from generators.base import AUDIO, SoundRequest
from generators.errors import ModelUnavailable, TakeFailed
from generators.media import read_wav

pytest.importorskip("diffusers")

NAMES = ["audioldm2", "stable-audio", "musicgen"]


@pytest.fixture(scope="module")
def audio_backends(smoke_models: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {name: AUDIO.create(name, smoke_models[name]) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_renders_exact_48k_length_and_is_seeded(name: str, audio_backends: dict[str, Any], tmp_path: Path) -> None:
    backend = audio_backends[name]
    request = SoundRequest(prompt="warm synth pad", mood="calm", seconds=0.7, seed=0)
    take = backend.render(request, tmp_path / "a.wav")
    data, rate = read_wav(take.path)
    assert rate == take.sample_rate == 48000
    assert len(data) == round(0.7 * 48000) and take.seconds == pytest.approx(0.7)
    assert take.metadata["backend"] == name and take.metadata["seed"] == 0
    assert take.metadata["prompt"] == "warm synth pad, calm" and take.metadata["revision"]
    again, _ = read_wav(backend.render(request, tmp_path / "b.wav").path)
    other, _ = read_wav(backend.render(request.model_copy(update={"seed": 1}), tmp_path / "c.wav").path)
    np.testing.assert_allclose(data, again, atol=1e-4)
    assert np.abs(data - other).mean() > 1e-4
    assert backend.load_count == 1


def test_long_bed_is_looped_to_exact_length(audio_backends: dict[str, Any], tmp_path: Path) -> None:
    backend = audio_backends["stable-audio"]
    assert backend.max_seconds() < 9.0
    take = backend.render(SoundRequest(prompt="drums", seconds=9.0), tmp_path / "long.wav")
    data, _ = read_wav(take.path)
    assert len(data) == 9 * 48000 and take.channels == 2
    assert any("looped" in c for c in take.metadata["changes"])


def test_fit_length_and_check_audio() -> None:
    x = np.sin(np.linspace(0, 100, 1000, dtype=np.float32))
    assert fit_length(x, 400, 1000).shape == (400, 1)
    looped = fit_length(x, 2500, 1000)
    assert looped.shape == (2500, 1) and np.isfinite(looped).all()
    assert check_audio(x) is None
    assert "silent" in check_audio(np.zeros(100))
    assert "NaN" in check_audio(np.array([0.1, np.nan]))


def test_silent_render_raises_take_failed(audio_backends: dict[str, Any], tmp_path: Path) -> None:
    backend = audio_backends["musicgen"]
    real = backend._generate
    backend._generate = lambda *a: real(*a) * 0.0  # a model that returns silence
    try:
        with pytest.raises(TakeFailed, match="silent"):
            backend.render(SoundRequest(prompt="x", seconds=0.3, seed=4), tmp_path / "s.wav")
    finally:
        del backend._generate


@pytest.mark.parametrize("name", NAMES)
def test_uncached_model_offline_is_unavailable(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailable, match="HF_HUB_OFFLINE"):
        AUDIO.create(name, {"model": "briefcut-test/not-a-real-audio-model"}).ensure_loaded()
