"""LoRA adapters on a diffusers pipeline: loaded once, activated per shot, restored after a reload.

The registry (source -> adapter name) and the active set live here, apart from the pipeline object,
so a pipeline reloaded after an out-of-memory fallback gets every adapter back and the same ones
active: a retry never renders without the LoRA its metadata claims. Wan 2.2's second expert
(`transformer_2`, most of the steps at boundary 0.875) gets every adapter too. With fp8 layerwise
casting, peft creates adapter layers in the base layer's storage dtype (float8), which cannot
compute; they are cast to the compute dtype after each load.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from generators.errors import BackendOptionsError

FLOAT8 = ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz")


class LoraSet:
    """Adapters loaded into one backend's pipeline, and the ones the current shot asked for."""

    def __init__(self) -> None:
        self.loaded: dict[str, str] = {}  # source -> adapter name
        self.active: list[tuple[str, float]] = []  # (source, weight) in request order

    def apply(self, pipe: Any, specs: list[dict[str, Any]], compute_dtype: Any,
              loading: Callable[[str], AbstractContextManager[None]]) -> list[dict[str, Any]]:
        """Load (once) and activate `specs`; deactivate all when none asked. Returns what is active."""
        wanted = [(_source(spec), float(spec.get("weight", 1.0))) for spec in specs]
        if wanted and not hasattr(pipe, "load_lora_weights"):
            raise BackendOptionsError(f"diffusers: LoRA is not supported by {type(pipe).__name__}")
        for src, _weight in wanted:
            if src not in self.loaded:
                with loading(src):
                    self._load(pipe, src, compute_dtype)
        self.active = wanted
        self._activate(pipe)
        return [{"path_or_id": src, "weight": weight} for src, weight in wanted]

    def restore(self, pipe: Any, compute_dtype: Any, loading: Callable[[str], AbstractContextManager[None]]) -> None:
        """Put every adapter into a freshly loaded pipeline and activate the current set again."""
        sources, self.loaded = list(self.loaded), {}
        for src in sources:
            with loading(src):
                self._load(pipe, src, compute_dtype)
        self._activate(pipe)

    def _load(self, pipe: Any, src: str, compute_dtype: Any) -> None:
        name = "lora_" + hashlib.sha256(src.encode()).hexdigest()[:10]
        pipe.load_lora_weights(src, adapter_name=name)
        if getattr(pipe, "transformer_2", None) is not None:  # Wan 2.2: the low-noise expert as well
            pipe.load_lora_weights(src, adapter_name=name, load_into_transformer_2=True)
        for module in _denoisers(pipe):
            cast_adapters(module, compute_dtype)
        self.loaded[src] = name

    def _activate(self, pipe: Any) -> None:
        if not self.loaded:
            return
        if not self.active:
            pipe.disable_lora()
            return
        pipe.enable_lora()
        pipe.set_adapters([self.loaded[src] for src, _ in self.active],
                          adapter_weights=[weight for _, weight in self.active])

    def salt(self) -> str:
        """The active adapters as text (part of the prompt-cache key: a LoRA may touch text encoders)."""
        return repr(self.active)


def cast_adapters(module: Any, dtype: Any) -> int:
    """Cast peft adapter weights stored in a float8 dtype to `dtype`; returns how many were cast."""
    import torch

    cast = 0
    for layer in _adapter_layers(module):
        params = [layer] if isinstance(layer, torch.nn.Parameter) else list(layer.parameters())
        for p in params:
            if str(p.dtype).removeprefix("torch.") in FLOAT8:
                p.data = p.data.to(dtype)
                cast += 1
    return cast


def _adapter_layers(module: Any) -> Iterator[Any]:
    from peft.tuners.tuners_utils import BaseTunerLayer

    for sub in module.modules():
        if isinstance(sub, BaseTunerLayer):
            for name in sub.adapter_layer_names:
                yield from getattr(sub, name).values()


def _denoisers(pipe: Any) -> list[Any]:
    return [m for m in (getattr(pipe, n, None) for n in ("transformer", "transformer_2", "unet")) if m is not None]


def _source(spec: dict[str, Any]) -> str:
    src = str(spec.get("path_or_id") or spec.get("path") or "")
    if not src:
        raise BackendOptionsError(f"diffusers: a LoRA entry needs 'path_or_id': {spec}")
    return src
