"""LoRA on the diffusers backend: what the take records, Wan 2.2's two experts, adapters on and off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from generators.base import VIDEO, ShotRequest
from generators.errors import BackendOptionsError

pytest.importorskip("diffusers")


def shot(seed: int = 2, lora: list[dict[str, Any]] | None = None) -> ShotRequest:
    return ShotRequest(prompt="a red car on a coast road", negative_prompt="blurry", seconds=0.5, fps=24,
                       width=64, height=36, seed=seed, lora=lora or [])


@pytest.fixture(scope="module")
def loras(smoke_models: dict[str, Any], smoke_cache: Path) -> tuple[str, str]:
    from generators.tiny import build_wan_lora

    base = smoke_models["wan"]["model"]
    return (str(build_wan_lora(smoke_cache / "wan-lora", base)),
            str(build_wan_lora(smoke_cache / "wan-lora-b", base, seed=1)))


def test_take_records_the_adapters_it_was_rendered_with(smoke_models: dict[str, Any], loras: tuple[str, str]) -> None:
    a, b = loras
    backend = VIDEO.create("diffusers", smoke_models["wan"])
    backend.clip(shot(lora=[{"path_or_id": a, "weight": 0.9}]))
    _, meta = backend.clip(shot(lora=[{"path_or_id": b, "weight": 0.5}]))
    assert meta["parameters"]["lora"] == [{"path_or_id": b, "weight": 0.5}]  # was []
    both = [{"path_or_id": b, "weight": 0.3}, {"path_or_id": a, "weight": 0.9}]
    frames, meta = backend.clip(shot(lora=both))
    assert meta["parameters"]["lora"] == both  # was recorded with the weights swapped
    assert backend.pipe.get_active_adapters() == [backend.loras.loaded[b], backend.loras.loaded[a]]
    # the order in the request is the order applied: the same set the other way round differs
    swapped, _ = backend.clip(shot(lora=[{"path_or_id": b, "weight": 0.9}, {"path_or_id": a, "weight": 0.3}]))
    assert np.abs(frames - swapped).max() > 1e-5


def test_lora_changes_output_and_goes_off_again(smoke_models: dict[str, Any], loras: tuple[str, str]) -> None:
    backend = VIDEO.create("diffusers", smoke_models["wan"])
    plain, _ = backend.clip(shot())
    styled, meta = backend.clip(shot(lora=[{"path_or_id": loras[0], "weight": 1.0}]))
    assert np.abs(plain - styled).max() > 1e-4
    again, meta = backend.clip(shot())
    np.testing.assert_allclose(plain, again, atol=1e-5)
    assert meta["parameters"]["lora"] == []
    with pytest.raises(BackendOptionsError, match="path_or_id"):
        backend.clip(shot(lora=[{"weight": 1.0}]))


def test_wan22_lora_reaches_both_experts(smoke_models: dict[str, Any], loras: tuple[str, str]) -> None:
    import torch

    backend = VIDEO.create("diffusers", smoke_models["wan2.2"])
    plain, _ = backend.clip(shot())
    styled, _ = backend.clip(shot(lora=[{"path_or_id": loras[0], "weight": 1.0}]))
    assert np.abs(plain - styled).max() > 1e-4
    name = backend.loras.loaded[loras[0]]
    torch.manual_seed(0)
    inputs = {"hidden_states": torch.randn(1, 16, 3, 4, 4), "timestep": torch.tensor([500]),
              "encoder_hidden_states": torch.randn(1, 8, 32), "return_dict": False}
    for expert in (backend.pipe.transformer, backend.pipe.transformer_2):  # the second used to stay bare
        assert name in expert.peft_config and name in expert.active_adapters()
        with torch.no_grad():
            on = expert(**inputs)[0]
            expert.disable_adapters()
            off = expert(**inputs)[0]
            expert.enable_adapters()
        assert (on - off).abs().max() > 1e-4
