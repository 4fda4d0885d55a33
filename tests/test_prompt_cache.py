"""Prompt embeddings reused across renders: under model offload (hooks rebuilt after every call), after
a reload, and within a byte budget (Hunyuan's embeddings included)."""

from __future__ import annotations

from typing import Any

import pytest

from generators.base import VIDEO, ShotRequest
from generators.prompt_cache import PromptCache

pytest.importorskip("diffusers")


def shot(prompt: str = "a red car on a coast road", seed: int = 0) -> ShotRequest:
    return ShotRequest(prompt=prompt, negative_prompt="blurry", seconds=0.5, fps=24, width=64, height=36, seed=seed)


def encoder_calls(pipe: Any, name: str = "text_encoder") -> list[int]:
    calls = [0]
    getattr(pipe, name).register_forward_hook(lambda *a: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_cache_keeps_hitting_under_model_offload(smoke_models: dict[str, Any]) -> None:
    backend = VIDEO.create("diffusers", {**smoke_models["wan"], "memory_plan": "model_offload"})
    backend.ensure_loaded()
    calls = encoder_calls(backend.pipe)
    backend.clip(shot(seed=0))
    assert calls[0] == 2  # prompt and negative
    hooks_after_first = list(backend.pipe._all_hooks)
    for seed in (1, 2):
        _, meta = backend.clip(shot(seed=seed))
    assert calls[0] == 2  # never again: the encoder did not run (nor move to the device)
    assert meta["text_cache"]["hits"] == 2 and meta["text_cache"]["misses"] == 1
    # maybe_free_model_hooks rebuilt the offload hooks after every call, and the cache survived it
    assert backend.pipe._all_hooks and backend.pipe._all_hooks[0] is not hooks_after_first[0]
    backend.clip(shot("a quiet snowy forest at dawn"))
    assert calls[0] == 4


def test_cache_survives_a_reload(smoke_models: dict[str, Any]) -> None:
    backend = VIDEO.create("diffusers", {**smoke_models["wan"], "memory_plan": "group_offload"})
    backend.clip(shot())
    backend._rebuild()  # what an OOM fallback from group offloading does
    backend._place("sequential_offload")
    calls = encoder_calls(backend.pipe)
    _, meta = backend.clip(shot(seed=5))
    assert calls[0] == 0 and meta["text_cache"]["hits"] == 1 and backend.load_count == 2


def test_budget_bounds_what_is_held(smoke_models: dict[str, Any]) -> None:
    backend = VIDEO.create("diffusers", smoke_models["hunyuan"])
    backend.clip(shot())
    # Hunyuan asks for the prompt and (true CFG) the negative one at a time: two entries, same size
    assert backend.text_cache.stats()["entries"] == 2
    entry = backend.text_cache.bytes // 2
    assert entry > 0
    small = VIDEO.create("diffusers", {**smoke_models["hunyuan"], "text_cache_mb": 1})
    small.text_cache.budget_bytes = int(entry * 2.5)  # room for two entries: the negative and one prompt
    for prompt in ("one", "two", "three"):
        small.clip(shot(prompt))
    stats = small.text_cache.stats()
    assert stats["entries"] == 2 and stats["bytes"] <= stats["budget_bytes"]
    calls = encoder_calls(small.pipe)
    small.clip(shot("one"))  # the oldest was evicted: encoded again
    assert calls[0] > 0


def test_uncacheable_calls_pass_through() -> None:
    import torch

    class Pipe:
        def encode_prompt(self, prompt: str, prompt_embeds: Any = None) -> Any:
            return torch.ones(2) if prompt_embeds is None else prompt_embeds

    cache, pipe = PromptCache(budget_bytes=1024), Pipe()
    assert cache.install(pipe) and cache.install(pipe)  # installing twice wraps once
    pipe.encode_prompt("x")
    pipe.encode_prompt("x")
    pipe.encode_prompt("x", prompt_embeds=torch.zeros(2))
    assert cache.stats()["hits"] == 1 and cache.stats()["uncacheable"] == 1
    cache.salt = "lora on"  # an adapter that may touch the text encoder: a new key
    pipe.encode_prompt("x")
    assert cache.misses == 2
