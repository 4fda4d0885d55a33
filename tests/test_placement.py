"""The placement code runs on CPU: every offload, the out-of-memory fallback (raised for real from
inside the pipeline call), the reload with LoRA re-application, the decode retry, step cache, tiling
and fp8, each asserted by its effect (outputs, counted calls, parameter bytes)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from generators.base import VIDEO, ShotRequest
from generators.errors import TakeFailed
from generators.memory import OFFLOADS, module_bytes

pytest.importorskip("diffusers")
ATOL = 1e-5


def shot(seed: int = 0, **kw: Any) -> ShotRequest:
    base = {"seconds": 0.5, "fps": 24, "width": 64, "height": 36, "prompt": "a red car on a coast road",
            "negative_prompt": "blurry"}
    return ShotRequest(seed=seed, **{**base, **kw})


@pytest.fixture(scope="module")
def wan(smoke_models: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return smoke_models["wan"]


@pytest.fixture(scope="module")
def loras(wan: dict[str, Any], smoke_cache: Path) -> tuple[str, str]:
    from generators.tiny import build_wan_lora

    a = build_wan_lora(smoke_cache / "wan-lora", wan["model"])
    b = build_wan_lora(smoke_cache / "wan-lora-b", wan["model"], seed=1)
    return str(a), str(b)


@pytest.fixture(scope="module")
def reference(wan: dict[str, Any]) -> np.ndarray:
    """The take every offload must reproduce: seed 3 with the whole pipeline in place."""
    frames, _ = VIDEO.create("diffusers", {**wan, "memory_plan": "none"}).render_frames(shot(seed=3))
    return frames


@contextmanager
def oom_in(kind: type, when: Callable[[], bool]) -> Iterator[list[int]]:
    """Raise torch.OutOfMemoryError from inside every forward of a `kind` module while `when()` holds,
    whichever pipeline object (reloads included) the module belongs to. Yields the raise count."""
    raised = [0]

    def hook(module: torch.nn.Module, args: Any) -> None:
        if isinstance(module, kind) and when():
            raised[0] += 1
            raise torch.OutOfMemoryError("out of memory (injected)")

    handle = torch.nn.modules.module.register_module_forward_pre_hook(hook)
    try:
        yield raised
    finally:
        handle.remove()


def counter(module: torch.nn.Module) -> list[int]:
    calls = [0]
    module.register_forward_hook(lambda *a: calls.__setitem__(0, calls[0] + 1))
    return calls


# 1. Every offload places and renders the same take ---------------------------------------------------------


@pytest.mark.parametrize("offload", OFFLOADS[1:])
def test_every_offload_runs_on_cpu_and_matches(offload: str, wan: dict[str, Any], reference: np.ndarray) -> None:
    from diffusers.hooks import HookRegistry

    backend = VIDEO.create("diffusers", {**wan, "memory_plan": offload})
    frames, meta = backend.render_frames(shot(seed=3))
    assert meta["memory_plan"] == offload and meta["memory_fallbacks"] == []
    np.testing.assert_allclose(frames, reference, atol=ATOL)
    transformer = backend.pipe.transformer
    if offload == "model_offload":  # accelerate hooks, rebuilt after every call (maybe_free_model_hooks)
        assert hasattr(transformer, "_hf_hook") and backend.pipe._all_hooks
    else:  # diffusers group offloading: blocks (group) or leaf layers (sequential) carry their own hooks
        level = "block_level" if offload == "group_offload" else "leaf_level"
        registry = HookRegistry.check_if_exists_or_initialize(transformer.blocks[0] if level == "block_level"
                                                               else transformer.blocks[0].attn1.to_q)
        assert "group_offloading" in registry.hooks


# 2. Out of memory: fallback, reload, LoRA, attribution --------------------------------------------------


def test_oom_in_the_denoiser_falls_back_and_renders_the_same(wan: dict[str, Any], reference: np.ndarray) -> None:
    from diffusers import WanTransformer3DModel

    backend = VIDEO.create("diffusers", {**wan, "memory_plan": "none"})
    backend.ensure_loaded()
    with oom_in(WanTransformer3DModel, lambda: backend.offload == "none") as raised:
        frames, meta = backend.render_frames(shot(seed=3))
    assert raised[0] == 1
    assert meta["memory_plan"] == "model_offload" and meta["memory_fallbacks"] == [
        "none -> model_offload (out of memory)"]
    assert meta["parameters"]["vae_tiling"] is True  # the lighter offload decodes tiled too
    np.testing.assert_allclose(frames, reference, atol=ATOL)


def test_reload_after_oom_keeps_the_lora(wan: dict[str, Any], loras: tuple[str, str]) -> None:
    from diffusers import WanTransformer3DModel

    lora_a, lora_b = loras
    styled = [{"path_or_id": lora_a, "weight": 0.8}]
    expected, _ = VIDEO.create("diffusers", {**wan, "memory_plan": "sequential_offload"}).render_frames(shot(2, lora=styled))
    backend = VIDEO.create("diffusers", {**wan, "memory_plan": "group_offload"})
    with oom_in(WanTransformer3DModel, lambda: backend.offload == "group_offload"):
        frames, meta = backend.render_frames(shot(2, lora=styled))
    # group hooks cannot be removed: the pipeline was loaded again, and the LoRA came back with it
    assert backend.load_count == 2 and meta["memory_plan"] == "sequential_offload"
    assert meta["parameters"]["lora"] == styled
    np.testing.assert_allclose(frames, expected, atol=ATOL)
    # the next LoRA shot works on the reloaded pipeline (it used to fail: adapter not present)
    _, meta = backend.render_frames(shot(2, lora=[{"path_or_id": lora_b, "weight": 0.5}]))
    assert meta["parameters"]["lora"] == [{"path_or_id": lora_b, "weight": 0.5}]


def test_oom_with_the_lightest_offload_is_a_take_failed_that_no_seed_can_fix(wan: dict[str, Any]) -> None:
    from diffusers import WanTransformer3DModel

    backend = VIDEO.create("diffusers", {**wan, "memory_plan": "group_offload"})
    with oom_in(WanTransformer3DModel, lambda: True), pytest.raises(TakeFailed) as info:
        backend.render_frames(shot())
    assert "out of memory even with sequential_offload" in info.value.reason
    assert info.value.retry is False
    assert backend.fallbacks == ["group_offload -> sequential_offload (out of memory)"]


def test_oom_another_process_caused_keeps_the_plan(wan: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from diffusers import WanTransformer3DModel

    import generators.diffusers_host as vd

    taken = iter([0, 3 * 2**30])  # before the call / after the OOM: others took 3 GiB meanwhile
    monkeypatch.setattr(vd, "others_bytes", lambda device: next(taken))
    backend = VIDEO.create("diffusers", {**wan, "memory_plan": "none"})
    with oom_in(WanTransformer3DModel, lambda: True), pytest.raises(TakeFailed, match="other processes") as info:
        backend.render_frames(shot())
    assert info.value.retry is True  # a later try may find the memory free again
    assert backend.offload == "none" and backend.fallbacks == []


def test_load_time_oom_falls_back(wan: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    import generators.diffusers_host as vd

    real = vd.apply_offload

    def place(pipe: Any, offload: str, device: str) -> None:
        if offload == "none":  # the whole pipeline does not fit on the device
            pipe.to(device)
            raise torch.OutOfMemoryError("out of memory (injected while placing)")
        real(pipe, offload, device)

    monkeypatch.setattr(vd, "apply_offload", place)
    backend = VIDEO.create("diffusers", {**wan, "memory_plan": "none"})
    frames, meta = backend.render_frames(shot(seed=3))
    assert meta["memory_plan"] == "model_offload"
    assert meta["memory_fallbacks"] == ["none -> model_offload (out of memory while placing)"]
    assert frames.shape[0] == 9


# 3. The VAE decode: retried alone, tiled; tiled ahead when it would not fit ---------------------------


def small_tiles(backend: Any) -> None:
    """16-pixel tiles (the VAE's own knobs), so a 32x32 tiny render decodes in 2x2 tiles."""
    backend.ensure_loaded()
    vae = backend.pipe.vae
    vae.tile_sample_min_height = vae.tile_sample_min_width = 16
    vae.tile_sample_stride_height = vae.tile_sample_stride_width = 16


SQUARE = {"width": 32, "height": 32}
LATENT_FRAMES = (9 - 1) // 4 + 1  # Wan's VAE decodes one latent frame per decoder call


def test_decode_oom_retries_the_decode_only_tiled(wan: dict[str, Any]) -> None:
    from diffusers.models.autoencoders.autoencoder_kl_wan import WanDecoder3d

    backend = VIDEO.create("diffusers", {**wan, "memory_plan": "none"})
    small_tiles(backend)
    blocks, decoder = counter(backend.pipe.transformer.blocks[-1].ffn), counter(backend.pipe.vae.decoder)
    with oom_in(WanDecoder3d, lambda: not backend.pipe.vae.use_tiling) as raised:
        frames, meta = backend.render_frames(shot(seed=4, **SQUARE))
    assert raised[0] == 1
    assert blocks[0] == 2 * 2  # two steps, prompt and negative: the denoising ran once
    assert decoder[0] == 4 * LATENT_FRAMES  # after the failed call: 2x2 tiles per latent frame
    assert meta["memory_plan"] == "none" and meta["parameters"]["vae_tiling"] is True
    assert any("decoded again, tiled" in n for n in meta["notes"])
    tiled, _ = backend.render_frames(shot(seed=4, **SQUARE))  # the same take, tiled from the start
    np.testing.assert_allclose(frames, tiled, atol=ATOL)


def test_tiling_turns_on_when_the_decode_would_not_fit(wan: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    import generators.video_diffusers as vd

    backend = VIDEO.create("diffusers", wan)
    small_tiles(backend)
    decoder = counter(backend.pipe.vae.decoder)
    _, meta = backend.render_frames(shot(**SQUARE))
    assert meta["parameters"]["vae_tiling"] is False and decoder[0] == LATENT_FRAMES  # memory to spare
    monkeypatch.setattr(vd, "free_bytes", lambda device: 2**20)  # 1 MiB free
    decoder[0] = 0
    _, meta = backend.render_frames(shot(**SQUARE))
    assert meta["parameters"]["vae_tiling"] is True and decoder[0] == 4 * LATENT_FRAMES
    assert any("VAE tiling on" in c for c in meta["changes"])


# 4. Speed-ups, by their effect ---------------------------------------------------------------------------


def test_step_cache_skips_blocks(wan: dict[str, Any]) -> None:
    counts = {}
    for cache in (False, True):
        backend = VIDEO.create("diffusers", {**wan, "steps": 8, "step_cache": cache, "step_cache_threshold": 0.2})
        backend.ensure_loaded()
        calls = counter(backend.pipe.transformer.blocks[-1].ffn)  # runs only when the block computes
        transformer = counter(backend.pipe.transformer)
        backend.render_frames(shot())
        counts[cache] = (calls[0], transformer[0])
    assert counts[False] == (16, 16)  # 8 steps x (prompt, negative)
    assert counts[True][1] == 16 and counts[True][0] < 16 // 2  # called as often, but the blocks mostly skipped


def test_fp8_stores_fewer_bytes_and_takes_a_lora(wan: dict[str, Any], loras: tuple[str, str]) -> None:
    plain = VIDEO.create("diffusers", wan)
    fp8 = VIDEO.create("diffusers", {**wan, "fp8": True})
    plain.ensure_loaded()
    fp8.ensure_loaded()
    # the blocks' linear layers are stored in one byte a value instead of four (norms stay as they were)
    assert module_bytes(fp8.pipe.transformer.blocks) < 0.3 * module_bytes(plain.pipe.transformer.blocks)
    assert module_bytes(fp8.pipe.transformer) < module_bytes(plain.pipe.transformer)
    styled = [{"path_or_id": loras[0], "weight": 1.0}]
    frames, meta = fp8.render_frames(shot(lora=styled))  # peft used to create float8 adapters that cannot compute
    unstyled, _ = fp8.render_frames(shot())
    assert np.abs(frames - unstyled).max() > 1e-4 and meta["parameters"]["lora"] == styled
    lora_a = fp8.pipe.transformer.blocks[0].attn1.to_q.lora_A
    assert all(layer.weight.dtype == torch.float32 for layer in lora_a.values())
    assert fp8.pipe.transformer.blocks[0].attn1.to_q.base_layer.weight.dtype == torch.float8_e4m3fn
