"""The diffusers video backend: Wan 2.1/2.2, LTX-Video, CogVideoX, Mochi, HunyuanVideo, AnimateDiff.

One backend drives any of these text-to-video pipelines by hub id or local path. The family
(detected from the pipeline class, or forced by option) decides frame counts, sizes and fps
(`generators.families`); the offload (where weights live) is chosen in `generators.memory`. A pipeline loads once per
backend instance (the BackendPool keeps instances), and repeated prompts reuse text-encoder outputs.
"""

from __future__ import annotations

import hashlib
import json
import resource
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from generators import hub
from generators.base import ShotRequest, VideoGenerator, VideoTake
from generators.errors import BackendOptionsError, TakeFailed, require
from generators.families import Family, detect_family, detect_family_in, get_family, retime, snap
from generators.media import write_frames
from generators.memory import (
    OFFLOADS,
    Offload,
    apply_offload,
    choose_offload,
    free_vram,
    lighter,
    pipeline_sizes,
    remove_offload,
)

MARKER = "model_index.json"
DENOISERS = ("transformer", "transformer_2", "unet")
TEXT_ENCODERS = ("text_encoder", "text_encoder_2")
STEP_CACHE_THRESHOLD = 0.05


def check_output(frames: np.ndarray) -> str | None:
    """Why rendered frames [N,H,W,C] (floats in 0..1 or uint8) is unusable, or None when it is fine."""
    x = np.asarray(frames, dtype=np.float32)
    if x.size == 0:
        return "empty output"
    if not np.isfinite(x).all():
        return "NaN or infinite values in the output"
    if np.issubdtype(np.asarray(frames).dtype, np.integer):
        x = x / 255.0
    if x.max() <= 0.02:
        return "all-black output"
    if len(x) > 1 and np.abs(np.diff(x, axis=0)).mean(axis=(1, 2, 3)).max() < 0.5 / 255:
        return "frozen output: every frame is the same"
    return None


class DiffusersVideo(VideoGenerator):
    """A diffusers text-to-video pipeline, any supported family, by hub id or local path."""

    name: ClassVar[str] = "diffusers"
    extra: ClassVar[str | None] = "ml"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        model: str = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
        revision: str | None = None
        family: str | None = None  # detected from the pipeline class when None
        steps: int | None = Field(default=None, gt=0)  # the family's default when None
        guidance_scale: float | None = None
        scheduler: str | None = None  # a diffusers scheduler class name, swapped via from_config
        memory_plan: Literal["auto", "none", "model_offload", "group_offload", "sequential_offload"] = "auto"
        vae_tiling: bool = False
        fp8: bool = False  # layerwise casting: fp8 storage, compute in `dtype`
        step_cache: bool = False  # first-block cache, where the installed diffusers has it
        dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
        device: str | None = None  # "cuda" when available, else "cpu"
        max_side: int | None = Field(default=None, gt=0)  # cap on the render's long side
        max_frames: int | None = Field(default=None, gt=0)  # cap on rendered frames (smoke, previews)
        retime: Literal["nearest", "blend"] = "nearest"
        call_kwargs: dict[str, Any] = Field(default_factory=dict)  # extra pipeline-call arguments
        # Testing the TakeFailed path: fill the latents with NaN after the first step.
        poison_latents: bool = False

    def __init__(self, options: dict[str, Any] | BaseModel | None = None) -> None:
        super().__init__(options)
        self.pipe: Any = None
        self.family: Family | None = None
        self.offload: Offload = "none"
        self.device = "cpu"
        self.dtype: Any = None
        self.load_count = 0
        self.load_seconds = 0.0
        self.notes: list[str] = []
        self.fallbacks: list[str] = []
        self.text_cache = TextEncoderCache()
        self._adapters: dict[str, str] = {}

    # 1. Identity -----------------------------------------------------------------------------

    def identity(self) -> dict[str, Any]:
        """Backend, options, family and model revision: everything that decides the output."""
        o = self.options
        return {
            "backend": self.name,
            "options": o.model_dump(mode="json"),
            "family": self.family.name if self.family else (o.family or self._family_from_files()),
            "revision": hub.revision_of(o.model, MARKER, o.revision),
        }

    def describe(self) -> dict[str, Any]:
        return {**self.identity(), "memory_plan": self.offload, "device": self.device,
                "dtype": str(self.dtype).removeprefix("torch."), "load_count": self.load_count}

    def _family_from_files(self) -> str | None:
        folder = hub.local_folder(self.options.model, MARKER, self.options.revision)
        try:
            return detect_family_in(folder) if folder else None
        except (KeyError, OSError, json.JSONDecodeError):
            return None

    # 2. Loading ------------------------------------------------------------------------------

    def load(self) -> None:
        """Load the pipeline once: weights, scheduler, speed-ups, offload, text cache."""
        torch = require("torch", "ml", self.name)
        require("diffusers", "ml", self.name)
        o = self.options
        self.device = o.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.dtype = _torch_dtype(o.dtype, self.device)
        started = time.perf_counter()
        self.pipe = self._from_pretrained()
        self.family = get_family(o.family) if o.family else get_family(_detect(self.pipe))
        self._swap_scheduler()
        self._speedups()
        self._place(self._choose_offload())
        self.pipe.set_progress_bar_config(disable=True)
        self.load_seconds = time.perf_counter() - started
        self.load_count += 1
        self.native_aspect = self.family.any_aspect
        self.loaded = True

    def _from_pretrained(self) -> Any:
        from diffusers import DiffusionPipeline

        o = self.options
        source = hub.resolve(o.model, MARKER, self.name, o.revision)
        with hub.loading(o.model, self.name):
            return DiffusionPipeline.from_pretrained(
                source, revision=o.revision, **hub.dtype_kwargs("diffusers", self.dtype)
            )

    def _swap_scheduler(self) -> None:
        name = self.options.scheduler
        if not name:
            return
        import diffusers

        cls = getattr(diffusers, name, None)
        if cls is None or not hasattr(cls, "from_config"):
            known = sorted(c.__name__ for c in getattr(self.pipe.scheduler, "compatibles", []))
            raise BackendOptionsError(f"diffusers: unknown scheduler '{name}'; compatible: {', '.join(known)}")
        self.pipe.scheduler = cls.from_config(self.pipe.scheduler.config)

    def _speedups(self) -> None:
        import torch

        o = self.options
        denoisers = [getattr(self.pipe, n) for n in DENOISERS if getattr(self.pipe, n, None) is not None]
        if o.fp8:
            for m in denoisers:
                m.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=self.dtype)
        if o.step_cache:
            self._enable_step_cache(denoisers)
        if o.vae_tiling and hasattr(self.pipe.vae, "enable_tiling"):
            self.pipe.vae.enable_tiling()

    def _enable_step_cache(self, denoisers: list[Any]) -> None:
        try:
            from diffusers import FirstBlockCacheConfig
        except ImportError:
            self.notes.append("step_cache: this diffusers has no first-block cache; rendering without")
            return
        for m in denoisers:
            try:
                m.enable_cache(FirstBlockCacheConfig(threshold=STEP_CACHE_THRESHOLD))
            except (ValueError, TypeError, AttributeError, NotImplementedError) as exc:
                self.notes.append(f"step_cache: not supported by {type(m).__name__} ({exc})")

    def _choose_offload(self) -> Offload:
        if self.options.memory_plan != "auto":
            return self.options.memory_plan
        if not self.device.startswith("cuda"):
            return "none"
        total, largest = pipeline_sizes(self.pipe)
        return choose_offload(free_vram(self.device), total, self.family.name, largest)

    def _place(self, offload: Offload) -> None:
        apply_offload(self.pipe, offload, self.device)
        self.offload = offload
        self.text_cache.install(self.pipe)

    # 3. Rendering ----------------------------------------------------------------------------

    def render(self, request: ShotRequest, out: Path) -> VideoTake:
        """Render one take: snap to the family, run the pipeline, check, retime, write."""
        frames, meta = self.render_frames(request)
        # 3. check, retime to the request's fps, write
        reason = check_output(frames)
        if reason:
            raise TakeFailed(f"{self.family.name}: {reason} (seed {request.seed})", meta)
        timed = retime(frames, meta["parameters"]["native_fps"], request.seconds, request.fps, self.options.retime)
        started = time.perf_counter()
        count = write_frames(out, _to_uint8(timed), request.fps)
        meta["timings"]["write_s"] = round(time.perf_counter() - started, 4)
        h, w = timed.shape[1:3]
        return VideoTake(path=Path(out), num_frames=count, fps=request.fps, width=w - w % 2,
                         height=h - h % 2, metadata=meta)

    def render_frames(self, request: ShotRequest) -> tuple[np.ndarray, dict[str, Any]]:
        """The raw frames [N,H,W,3] (floats 0..1, the family's native fps) and its metadata."""
        self.ensure_loaded()
        # 1. fit the request to the family
        snapped = snap(self.family, request, self.options.max_side, self.options.max_frames)
        loras = self._apply_lora(request.lora)
        # 2. denoise and decode
        started = time.perf_counter()
        self._reset_peak()
        frames = self._call(self._call_kwargs(request, snapped), request.seed)
        return frames, self._metadata(request, snapped, loras, time.perf_counter() - started)

    def _call_kwargs(self, request: ShotRequest, snapped: Any) -> dict[str, Any]:
        import inspect

        o, fam = self.options, self.family
        accepted = inspect.signature(type(self.pipe).__call__).parameters
        kwargs: dict[str, Any] = {
            "prompt": request.prompt, "num_frames": snapped.frames, "width": snapped.width,
            "height": snapped.height, "num_inference_steps": o.steps or fam.steps,
            "guidance_scale": fam.guidance_scale if o.guidance_scale is None else o.guidance_scale,
            "output_type": "np", **fam.call_kwargs, **o.call_kwargs,
        }
        if request.negative_prompt and "negative_prompt" in accepted:
            kwargs["negative_prompt"] = request.negative_prompt
        if o.poison_latents:
            kwargs["callback_on_step_end"] = _poison_latents
            kwargs["callback_on_step_end_tensor_inputs"] = ["latents"]
        return {k: v for k, v in kwargs.items() if k in accepted or "kwargs" in accepted}

    def _call(self, kwargs: dict[str, Any], seed: int) -> np.ndarray:
        """Run the pipeline with a fresh seeded generator; on CUDA OOM step to a lighter offload."""
        import torch

        while True:
            generator = torch.Generator(device="cpu").manual_seed(seed)
            try:
                out = self.pipe(generator=generator, **kwargs)
                return np.asarray(out.frames[0], dtype=np.float32)
            except torch.cuda.OutOfMemoryError:
                nxt = lighter(self.offload)
                if nxt is None:
                    raise
                self.fallbacks.append(f"{self.offload} -> {nxt} (CUDA out of memory)")
                self._fall_back(nxt)

    def _fall_back(self, offload: Offload) -> None:
        import torch

        if self.offload == "group_offload":  # group hooks cannot be removed cleanly: reload
            self.pipe = self._from_pretrained()
            self._swap_scheduler()
            self._speedups()
            self.pipe.set_progress_bar_config(disable=True)
            self.load_count += 1
        else:
            remove_offload(self.pipe)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        self._place(offload)

    def _apply_lora(self, loras: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Load (once) and activate the request's LoRA adapters; deactivate them when none asked."""
        if not loras:
            if self._adapters and hasattr(self.pipe, "disable_lora"):
                self.pipe.disable_lora()
            return []
        if not hasattr(self.pipe, "load_lora_weights"):
            raise BackendOptionsError(f"diffusers: LoRA is not supported for the {self.family.name} family")
        names, weights = [], []
        for spec in loras:
            src = str(spec.get("path_or_id") or spec.get("path") or "")
            if not src:
                raise BackendOptionsError(f"diffusers: a LoRA entry needs 'path_or_id': {spec}")
            if src not in self._adapters:
                name = "lora_" + hashlib.sha256(src.encode()).hexdigest()[:10]
                with hub.loading(src, self.name):
                    self.pipe.load_lora_weights(src, adapter_name=name)
                self._adapters[src] = name
            names.append(self._adapters[src])
            weights.append(float(spec.get("weight", 1.0)))
        self.pipe.enable_lora()
        self.pipe.set_adapters(names, adapter_weights=weights)
        return [{"path_or_id": s, "weight": w} for s, w in zip(self._adapters, weights, strict=False)
                if self._adapters[s] in names]

    # 4. Metadata -----------------------------------------------------------------------------

    def _reset_peak(self) -> None:
        import torch

        if self.device.startswith("cuda") and torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()

    def _peak_memory(self) -> dict[str, int]:
        import torch

        if self.device.startswith("cuda") and torch.cuda.is_available():
            return {"peak_vram_bytes": int(torch.cuda.max_memory_allocated())}
        return {"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}

    def _metadata(self, request: ShotRequest, snapped: Any, loras: list[dict[str, Any]],
                  render_s: float) -> dict[str, Any]:
        o, fam = self.options, self.family
        steps = o.steps or fam.steps
        return {
            "backend": self.name, "model": o.model, "revision": hub.revision_of(o.model, MARKER, o.revision),
            "family": fam.name, "pipeline": type(self.pipe).__name__, "seed": request.seed,
            "parameters": {
                "steps": steps, "guidance_scale": fam.guidance_scale if o.guidance_scale is None else o.guidance_scale,
                "scheduler": type(self.pipe.scheduler).__name__, "dtype": str(self.dtype).removeprefix("torch."),
                "device": self.device, "frames": snapped.frames, "width": snapped.width, "height": snapped.height,
                "native_fps": snapped.fps, "fp8": o.fp8, "step_cache": o.step_cache, "vae_tiling": o.vae_tiling,
                "negative_prompt": request.negative_prompt, "lora": loras,
            },
            "memory_plan": self.offload, "memory_fallbacks": list(self.fallbacks), "changes": list(snapped.changes),
            "notes": list(self.notes), "load_count": self.load_count, "text_cache": self.text_cache.stats(),
            "timings": {"load_s": round(self.load_seconds, 4), "render_s": round(render_s, 4),
                        "s_per_step": round(render_s / steps, 4)},
            **self._peak_memory(),
        }


# 5. Helpers ----------------------------------------------------------------------------------


class TextEncoderCache:
    """Text-encoder outputs kept by input, so a repeated prompt (or negative) is encoded once.

    It wraps each text encoder's `forward` (after any offload hooks), keyed by the exact input
    tensors, so it works for every family without knowing its prompt-encoding code.
    """

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self.entries: OrderedDict[str, Any] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def install(self, pipe: Any) -> None:
        """Wrap the pipeline's text encoders (again after an offload replaced their forward)."""
        for name in TEXT_ENCODERS:
            module = getattr(pipe, name, None)
            if module is None or getattr(module.forward, "_briefcut_cached", False):
                continue
            module.forward = self._wrap(name, module.forward)

    def _wrap(self, name: str, forward: Callable[..., Any]) -> Callable[..., Any]:
        def cached(*args: Any, **kwargs: Any) -> Any:
            key = name + ":" + _fingerprint(args, kwargs)
            if key in self.entries:
                self.hits += 1
                self.entries.move_to_end(key)
                return self.entries[key]
            self.misses += 1
            value = forward(*args, **kwargs)
            self.entries[key] = value
            if len(self.entries) > self.size:
                self.entries.popitem(last=False)
            return value

        cached._briefcut_cached = True  # type: ignore[attr-defined]
        return cached

    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "entries": len(self.entries)}


def _fingerprint(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    import torch

    h = hashlib.sha256()
    for key, value in [*enumerate(args), *sorted(kwargs.items())]:
        h.update(str(key).encode())
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        else:
            h.update(repr(value).encode())
    return h.hexdigest()


def _poison_latents(pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
    import torch

    callback_kwargs["latents"] = torch.full_like(callback_kwargs["latents"], float("nan"))
    return callback_kwargs


def _detect(pipe: Any) -> str:
    index = {"_class_name": type(pipe).__name__, **dict(pipe.config)}
    transformer = getattr(pipe, "transformer", None)
    return detect_family(index, dict(transformer.config) if transformer is not None else None)


def _torch_dtype(name: str, device: str) -> Any:
    import torch

    if name == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, name)


def _to_uint8(frames: np.ndarray) -> np.ndarray:
    return (np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


__all__ = ["OFFLOADS", "DiffusersVideo", "TextEncoderCache", "check_output"]


# Smoke names -> (tiny builder family, builder variant).
SMOKE_VARIANTS: dict[str, tuple[str, str | None]] = {
    "wan": ("wan", None), "wan2.2": ("wan", "2.2"), "ltx": ("ltx", None), "cogvideox": ("cogvideox", None),
    "mochi": ("mochi", None), "hunyuan": ("hunyuan", None), "animatediff": ("animatediff", None),
}


def build_smoke(cache_dir: Path, variant: str | None = None) -> dict[str, Any]:
    """Build the tiny pipeline for `variant` (a smoke name: "wan", "wan2.2", "ltx", ...) and return options."""
    from generators.tiny import build_video

    family, sub = SMOKE_VARIANTS[variant or "wan"]
    folder = build_video(cache_dir, family, sub)
    options: dict[str, Any] = {"model": str(folder), "steps": 2, "max_side": 32, "max_frames": 9}
    if family == "hunyuan":  # the tiny character tokenizer would spend every token on the long template
        options["call_kwargs"] = {"prompt_template": {"template": "{}", "crop_start": 0}}
    return options
