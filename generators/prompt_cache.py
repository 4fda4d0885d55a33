"""Prompt embeddings kept across renders, at diffusers' own `encode_prompt` seam.

A pipeline's `__call__` asks `self.encode_prompt(prompt, negative_prompt, ...)` for its embeddings.
`PromptCache.install` wraps that method on the pipeline instance, so a repeated (prompt, negative,
settings) returns the stored embeddings and the text encoders never run, nor move onto the device
under an offload plan. Wrapping the method, not the encoders' `forward`, is what survives offloading:
accelerate rebuilds module hooks after every call (`maybe_free_model_hooks`), which would drop a
forward wrapper. Entries live on the CPU within a byte budget (the oldest go first) and go back to
the device they came from on a hit.
"""

from __future__ import annotations

import hashlib
import inspect
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

MiB = 1024**2
DEFAULT_BUDGET_BYTES = 256 * MiB


class PromptCache:
    """`encode_prompt` outputs by argument values, on the CPU, at most `budget_bytes` in all."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self.budget_bytes = budget_bytes
        self.entries: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.uncacheable = 0
        self.salt = ""  # what else decides the embeddings (active text-encoder adapters, say)

    def install(self, pipe: Any) -> bool:
        """Wrap `pipe.encode_prompt` (once per pipeline object); False when the pipeline has none."""
        original = getattr(pipe, "encode_prompt", None)
        if original is None:
            return False
        if getattr(original, "_briefcut_prompt_cache", None) is self:
            return True
        signature = inspect.signature(original)

        def cached(*args: Any, **kwargs: Any) -> Any:
            return self._lookup(original, signature, args, kwargs)

        cached._briefcut_prompt_cache = self  # type: ignore[attr-defined]
        pipe.encode_prompt = cached
        return True

    def _lookup(self, original: Callable[..., Any], signature: inspect.Signature, args: tuple, kwargs: dict) -> Any:
        key = self._key(signature, args, kwargs)
        if key is None:  # embeddings passed in: nothing to look up
            self.uncacheable += 1
            return original(*args, **kwargs)
        if key in self.entries:
            self.hits += 1
            self.entries.move_to_end(key)
            return _restore(self.entries[key][0])
        self.misses += 1
        value = original(*args, **kwargs)
        self._store(key, value)
        return value

    def _key(self, signature: inspect.Signature, args: tuple, kwargs: dict) -> str | None:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return None
        bound.apply_defaults()
        h = hashlib.sha256(self.salt.encode())
        for name, value in bound.arguments.items():
            if _has_tensor(value):
                return None
            h.update(f"{name}={value!r};".encode())
        return h.hexdigest()

    def _store(self, key: str, value: Any) -> None:
        stored, size = _offload(value)
        if size > self.budget_bytes:
            return
        self.entries[key] = (stored, size)
        self.bytes += size
        while self.bytes > self.budget_bytes and self.entries:
            _old, (_value, old_size) = self.entries.popitem(last=False)
            self.bytes -= old_size

    def stats(self) -> dict[str, int]:
        """Hits, misses, entries and the bytes held against the budget."""
        return {"hits": self.hits, "misses": self.misses, "entries": len(self.entries), "bytes": self.bytes,
                "budget_bytes": self.budget_bytes, "uncacheable": self.uncacheable}


def _has_tensor(value: Any) -> bool:
    import torch

    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, list | tuple):
        return any(_has_tensor(v) for v in value)
    return False


def _offload(value: Any) -> tuple[Any, int]:
    """A CPU copy of `value` (tensors nested in tuples and lists) with each tensor's device, and its bytes."""
    import torch

    if isinstance(value, torch.Tensor):
        t = value.detach().to("cpu", copy=True)
        return ("tensor", t, str(value.device)), t.numel() * t.element_size()
    if isinstance(value, list | tuple):
        parts = [_offload(v) for v in value]
        return ("seq", type(value) is tuple, [p[0] for p in parts]), sum(p[1] for p in parts)
    return ("value", value), 0


def _restore(stored: Any) -> Any:
    kind = stored[0]
    if kind == "tensor":
        return stored[1].to(stored[2], copy=True)
    if kind == "seq":
        items = [_restore(s) for s in stored[2]]
        return tuple(items) if stored[1] else items
    return stored[1]
