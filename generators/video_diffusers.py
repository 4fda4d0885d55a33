"""The diffusers video backend: Wan 2.1/2.2, LTX-Video, CogVideoX, Mochi, HunyuanVideo, AnimateDiff.

One backend drives any of these text-to-video pipelines by hub id or local path. The family
(detected from the pipeline class, or forced by option) decides frame counts, sizes, fps and the
dtypes each component loads in (`generators.families`); the offload is chosen and placed in
`generators.memory`, and an out-of-memory error, at load or in the denoising loop, steps to a lighter
offload (reloading when group hooks cannot be undone, with every LoRA adapter restored). The VAE decode
tiles itself when the decode would not fit, and an OOM in the decode retries the decode alone, tiled.
A pipeline loads once per backend instance (the BackendPool keeps instances), jobs on one device run
one at a time, and repeated prompts reuse their embeddings (`generators.prompt_cache`).
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from generators import diffusers_setup as setup
from generators import hub
from generators.base import MODEL_LOAD_LOCK, ShotRequest, VideoGenerator, VideoTake
from generators.diffusers_lora import LoraSet
from generators.errors import TakeFailed, require
from generators.families import (
    Family,
    detect_family,
    detect_family_in,
    get_family,
    native_indices,
    retime,
    snap,
)
from generators.licenses import declared, license_of, lookup
from generators.media import write_frames
from generators.memory import (
    OFFLOADS,
    Offload,
    apply_offload,
    choose_offload,
    decode_bytes,
    device_job,
    empty_cache,
    free_bytes,
    free_vram,
    is_oom,
    lighter,
    oom_attributable,
    others_bytes,
    pipeline_sizes,
    remove_offload,
)
from generators.prompt_cache import MiB, PromptCache

MARKER = setup.MARKER
STEP_CACHE_THRESHOLD = 0.05
# Room the decode must leave free beside its own estimate before it runs untiled.
DECODE_HEADROOM = 0.8


def check_output(frames: np.ndarray) -> str | None:
    """Why a rendered clip [N,H,W,C] (floats in 0..1 or uint8) is unusable, or None when it is fine."""
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
        base_model: str | None = None  # AnimateDiff: the SD 1.5 model a motion-adapter id runs on
        steps: int | None = Field(default=None, gt=0)  # the family's default when None
        guidance_scale: float | None = None
        scheduler: str | None = None  # a diffusers scheduler class name, swapped via from_config
        memory_plan: Literal["auto", "none", "model_offload", "group_offload", "sequential_offload"] = "auto"
        vae_tiling: Literal["auto", "on", "off"] = "auto"  # auto: on when the decode would not fit
        fp8: bool = False  # layerwise casting: fp8 storage, compute in the denoiser's dtype
        step_cache: bool = False  # first-block cache, where the installed diffusers has it
        step_cache_threshold: float = Field(default=STEP_CACHE_THRESHOLD, gt=0)  # higher: faster, rougher
        dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
        device: str | None = None  # "cuda" when available, else "cpu"
        max_side: int | None = Field(default=None, gt=0)  # cap on the render's long side
        max_frames: int | None = Field(default=None, gt=0)  # cap on rendered frames (smoke, previews)
        retime: Literal["motion", "blend", "nearest"] = "motion"  # native fps -> the cut's fps
        text_cache_mb: int = Field(default=256, ge=0)  # prompt embeddings kept on the CPU
        call_kwargs: dict[str, Any] = Field(default_factory=dict)  # extra pipeline-call arguments
        # Testing the TakeFailed path: fill the latents with NaN after the first step.
        poison_latents: bool = False

        @field_validator("vae_tiling", mode="before")
        @classmethod
        def _tiling_bool(cls, value: Any) -> Any:
            return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value

    def __init__(self, options: dict[str, Any] | BaseModel | None = None) -> None:
        super().__init__(options)
        self.pipe: Any = None
        self.family: Family | None = None
        self.offload: Offload = "none"
        self.device = "cpu"
        self.dtype: Any = None
        self.load_count = 0
        self.load_seconds = 0.0
        self.setup_notes: list[str] = []
        self.notes: list[str] = []
        self.fallbacks: list[str] = []
        self.text_cache = PromptCache(self.options.text_cache_mb * MiB)
        self.loras = LoraSet()
        self._marker_fetched = False

    # 1. Identity -----------------------------------------------------------------------------

    def identity(self) -> dict[str, Any]:
        """Backend, options, family and model revision: everything that decides the output."""
        o = self.options
        self._fetch_marker()
        return {
            "backend": self.name,
            "options": o.model_dump(mode="json"),
            "family": self.family.name if self.family else (o.family or self._family_from_files()),
            "revision": hub.revision_of(o.model, MARKER, o.revision),
        }

    def describe(self) -> dict[str, Any]:
        return {**self.identity(), "memory_plan": self.offload, "device": self.device,
                "dtype": str(self.dtype).removeprefix("torch."), "load_count": self.load_count}

    def licenses(self, voices: list[str] | None = None) -> list[dict[str, Any]]:
        """The licenses of the weights: the model, and for AnimateDiff the SD 1.5 base it runs on."""
        models = [self.options.model, *([self.options.base_model] if self.options.base_model else [])]
        return [declared(m, "weights", lookup(m)) for m in models]

    def _fetch_marker(self) -> None:
        """Bring an uncached model's index file (not its weights) so revision and family are known."""
        if not self._marker_fetched:
            self._marker_fetched = True
            hub.fetch_marker(self.options.model, MARKER, self.options.revision)

    def _family_from_files(self) -> str | None:
        o = self.options
        if setup.model_kind(o.model, o.revision) == "motion_adapter":
            return "animatediff"
        folder = hub.local_folder(o.model, MARKER, o.revision)
        try:
            return detect_family_in(folder) if folder else None
        except (KeyError, OSError, json.JSONDecodeError):
            return None

    # 2. Loading ------------------------------------------------------------------------------

    def load(self) -> None:
        """Load the pipeline once: weights, scheduler, speed-ups, offload, prompt cache."""
        torch = require("torch", "ml", self.name)
        require("diffusers", "ml", self.name)
        o = self.options
        self.device = o.device or ("cuda" if torch.cuda.is_available() else "cpu")
        started = time.perf_counter()
        self._fetch_marker()
        guess = o.family or self._family_from_files()
        dtypes = self._dtypes(get_family(guess) if guess else None)
        self.dtype = dtypes["default"]
        self.pipe = self._build(dtypes)
        self.family = get_family(o.family) if o.family else get_family(_detect(self.pipe))
        if guess is None:  # family known only now: give components the dtypes its card asks for
            self._cast_components(self._dtypes(self.family))
        self._place_lightest_that_loads(self._choose_offload())
        self.load_seconds = time.perf_counter() - started
        self.load_count += 1
        self.native_aspect = self.family.any_aspect
        self.loaded = True

    def _dtypes(self, family: Family | None) -> dict[str, Any]:
        """Per-component dtypes: the model card's on CUDA (with dtype auto), float32 on the CPU."""
        import torch

        o, cuda = self.options, self.device.startswith("cuda")
        if o.dtype != "auto":
            names = {"default": o.dtype, **{k: v for k, v in (family.dtypes if family else {}).items()
                                            if v == "float32"}}
        elif cuda and family is not None:
            names = {"default": family.default_dtype, **family.dtypes}
        else:
            names = {"default": "bfloat16" if cuda else "float32"}
        return {k: getattr(torch, v) for k, v in names.items()}

    def _cast_components(self, dtypes: dict[str, Any]) -> None:
        for name, dtype in dtypes.items():
            module = getattr(self.pipe, name, None) if name != "default" else None
            if module is not None and module.dtype != dtype:
                module.to(dtype)
                self.setup_notes.append(f"{name} cast to {str(dtype).removeprefix('torch.')} after loading")

    def _build(self, dtypes: dict[str, Any]) -> Any:
        """A fresh pipeline from disk with the scheduler, speed-ups and the tiling option applied."""
        o = self.options
        pipe = setup.load_pipeline(o.model, o.revision, dtypes, self.name, o.base_model)
        self.setup_notes = setup.swap_scheduler(pipe, o.scheduler) if o.scheduler else []
        if o.fp8:
            setup.enable_fp8(pipe)
        if o.step_cache:
            self.setup_notes += setup.enable_step_cache(pipe, o.step_cache_threshold)
        if o.vae_tiling == "on":
            setup.set_vae_tiling(pipe, True)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def _rebuild(self) -> None:
        """Load the pipeline again (group hooks cannot be removed) with every LoRA adapter restored."""
        with MODEL_LOAD_LOCK:
            tiled = setup.tiling_on(self.pipe)
            self.pipe = None
            empty_cache(self.device)
            self.pipe = self._build(self._dtypes(self.family))
            setup.set_vae_tiling(self.pipe, tiled)
            self.loras.restore(self.pipe, self._compute_dtype(), self._loading)
            self.load_count += 1

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
        setup.guard_decode(self.pipe, self._decode_oom)

    def _place_lightest_that_loads(self, offload: Offload) -> None:
        """Place with `offload`; an OOM while placing steps to lighter offloads (load-time OOM)."""
        while True:
            try:
                self._place(offload)
                return
            except Exception as exc:
                if not is_oom(exc):
                    raise
                failed, offload = offload, lighter(offload)
                if offload is None:
                    raise TakeFailed(f"{self.family.name}: out of memory while placing the model even with "
                                     f"{failed} on {self.device}", {"memory_fallbacks": list(self.fallbacks)},
                                     retry=False) from None
                self.fallbacks.append(f"{failed} -> {offload} (out of memory while placing)")
                self._undo(failed)

    def _undo(self, offload: Offload) -> None:
        if not remove_offload(self.pipe, offload):
            self._rebuild()
        empty_cache(self.device)

    # 3. Rendering ----------------------------------------------------------------------------

    def render(self, request: ShotRequest, out: Path) -> VideoTake:
        """Render one take: snap to the family, run the pipeline, check, retime, write."""
        frames, meta = self.render_frames(request)
        # 3. check, retime to the request's fps, write
        reason = check_output(frames)
        if reason:
            raise TakeFailed(f"{self.family.name}: {reason} (seed {request.seed})", meta)
        native_fps, mode = meta["parameters"]["native_fps"], self.options.retime
        clip = retime(_to_uint8(frames), native_fps, request.seconds, request.fps, mode)
        meta["native_frames"] = native_indices(len(frames), native_fps, request.seconds, request.fps)
        meta["retime"] = mode if native_fps != request.fps else "none"
        started = time.perf_counter()
        count = write_frames(out, clip, request.fps)
        meta["timings"]["write_s"] = round(time.perf_counter() - started, 4)
        h, w = clip.shape[1:3]
        return VideoTake(path=Path(out), num_frames=count, fps=request.fps, width=w - w % 2,
                         height=h - h % 2, metadata=meta)

    def render_frames(self, request: ShotRequest) -> tuple[np.ndarray, dict[str, Any]]:
        """The raw clip [N,H,W,3] (floats 0..1, the family's native fps) and its metadata."""
        self.ensure_loaded()
        # 1. fit the request to the family
        snapped = snap(self.family, request, self.options.max_side, self.options.max_frames)
        changes = list(snapped.changes)
        with device_job(self.device):  # one job per device: its peak and its OOMs are its own
            loras = self.loras.apply(self.pipe, request.lora, self._compute_dtype(), self._loading)
            self.text_cache.salt = self.loras.salt()
            self._plan_decode(snapped, changes)
            kwargs = self._call_kwargs(request, snapped, changes)
            # 2. denoise and decode
            started = time.perf_counter()
            self._reset_peak()
            frames = self._call(kwargs, request.seed)
            render_s = time.perf_counter() - started
            return frames, self._metadata(request, snapped, kwargs, loras, changes, render_s)

    def _plan_decode(self, snapped: Any, changes: list[str]) -> None:
        """Tiled decoding on when the untiled decode would not fit in what the device has free."""
        mode = self.options.vae_tiling
        if mode != "auto" or setup.tiling_on(self.pipe):
            return
        vae_bytes = self.pipe.vae.dtype.itemsize if getattr(self.pipe, "vae", None) is not None else 2
        need = decode_bytes(self.family.name, snapped.frames, snapped.width, snapped.height, vae_bytes)
        if need > DECODE_HEADROOM * free_bytes(self.device) and setup.set_vae_tiling(self.pipe, True):
            changes.append(f"VAE tiling on: an untiled decode needs about {need / 2**30:.1f} GiB, more than is free")

    def _call_kwargs(self, request: ShotRequest, snapped: Any, changes: list[str]) -> dict[str, Any]:
        import inspect

        o, fam = self.options, self.family
        accepted = inspect.signature(type(self.pipe).__call__).parameters
        kwargs: dict[str, Any] = {
            "prompt": request.prompt, "num_frames": snapped.frames, "width": snapped.width,
            "height": snapped.height, "num_inference_steps": o.steps or fam.steps,
            "guidance_scale": fam.guidance_scale if o.guidance_scale is None else o.guidance_scale,
            "output_type": "np", **fam.call_kwargs,
        }
        if request.negative_prompt and "negative_prompt" in accepted:
            kwargs["negative_prompt"] = request.negative_prompt
            extra = {k: v for k, v in fam.negative_kwargs.items() if k not in o.call_kwargs}
            if extra:
                kwargs.update(extra)
                changes.append(f"negative prompt applied with {_kv(extra)} ({fam.name} needs true CFG; ~2x compute)")
        kwargs.update(o.call_kwargs)
        if o.poison_latents:
            kwargs["callback_on_step_end"] = _poison_latents
            kwargs["callback_on_step_end_tensor_inputs"] = ["latents"]
        return {k: v for k, v in kwargs.items() if k in accepted or "kwargs" in accepted}

    def _call(self, kwargs: dict[str, Any], seed: int) -> np.ndarray:
        """Run the pipeline with a fresh seeded generator; an OOM this job caused steps to a lighter offload."""
        import torch

        while True:
            generator = torch.Generator(device="cpu").manual_seed(seed)
            others_before = others_bytes(self.device)
            try:
                out = self.pipe(generator=generator, **kwargs)
                return np.asarray(out.frames[0], dtype=np.float32)
            except Exception as exc:
                if not is_oom(exc):
                    raise
            self._after_oom(others_before)

    def _after_oom(self, others_before: int) -> None:
        """Step to a lighter offload after an out-of-memory error, or say why the take fails."""
        empty_cache(self.device)
        others = others_bytes(self.device)
        if not oom_attributable(others_before, others):
            raise TakeFailed(f"{self.family.name}: out of memory while other processes took "
                             f"{(others - others_before) / 2**30:.1f} GiB more of {self.device}; "
                             f"offload {self.offload} kept", {"memory_plan": self.offload})
        nxt = lighter(self.offload)
        if nxt is None:
            raise TakeFailed(f"{self.family.name}: out of memory even with {self.offload} and VAE tiling on "
                             f"{self.device}", {"memory_plan": self.offload, "memory_fallbacks": list(self.fallbacks)},
                             retry=False)
        self.fallbacks.append(f"{self.offload} -> {nxt} (out of memory)")
        setup.set_vae_tiling(self.pipe, True)
        self._undo(self.offload)
        self._place(nxt)

    def _decode_oom(self, exc: BaseException) -> bool:
        """An OOM in the VAE decode: tiling on, the same latents decoded again."""
        empty_cache(self.device)
        if not setup.set_vae_tiling(self.pipe, True):
            return False
        self.notes.append("VAE decode ran out of memory: decoded again, tiled, from the same latents")
        return True

    def _compute_dtype(self) -> Any:
        denoisers = setup.denoisers(self.pipe)
        return denoisers[0].dtype if denoisers else self.dtype

    def _loading(self, src: str) -> Any:
        return hub.loading(src, self.name)

    # 4. Metadata -----------------------------------------------------------------------------

    def _reset_peak(self) -> None:
        import torch

        if self.device.startswith("cuda") and torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats(self.device)

    def _peak_memory(self) -> dict[str, int]:
        import torch

        if self.device.startswith("cuda") and torch.cuda.is_available():
            return {"peak_vram_bytes": int(torch.cuda.max_memory_allocated(self.device))}
        return {"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}

    def _metadata(self, request: ShotRequest, snapped: Any, kwargs: dict[str, Any], loras: list[dict[str, Any]],
                  changes: list[str], render_s: float) -> dict[str, Any]:
        o, fam = self.options, self.family
        steps = kwargs.get("num_inference_steps", o.steps or fam.steps)
        return {
            "backend": self.name, "model": o.model, "revision": hub.revision_of(o.model, MARKER, o.revision),
            "family": fam.name, "pipeline": type(self.pipe).__name__, "seed": request.seed,
            "license": license_of(o.model),
            "parameters": {
                "steps": steps, "guidance_scale": kwargs.get("guidance_scale"),
                "true_cfg_scale": kwargs.get("true_cfg_scale"),
                "scheduler": type(self.pipe.scheduler).__name__, "dtype": str(self.dtype).removeprefix("torch."),
                "component_dtypes": self._component_dtypes(), "device": self.device, "frames": snapped.frames,
                "width": snapped.width, "height": snapped.height, "native_fps": snapped.fps, "fp8": o.fp8,
                "step_cache": o.step_cache, "vae_tiling": setup.tiling_on(self.pipe),
                "negative_prompt": request.negative_prompt, "lora": loras,
            },
            "memory_plan": self.offload, "memory_fallbacks": list(self.fallbacks), "changes": changes,
            "notes": self.setup_notes + self.notes, "load_count": self.load_count,
            "text_cache": self.text_cache.stats(),
            "timings": {"load_s": round(self.load_seconds, 4), "render_s": round(render_s, 4),
                        "s_per_step": round(render_s / steps, 4)},
            **self._peak_memory(),
        }

    def _component_dtypes(self) -> dict[str, str]:
        import torch

        return {name: str(m.dtype).removeprefix("torch.") for name, m in self.pipe.components.items()
                if isinstance(m, torch.nn.Module) and hasattr(m, "dtype")}


# 5. Helpers ----------------------------------------------------------------------------------


def _poison_latents(pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
    import torch

    callback_kwargs["latents"] = torch.full_like(callback_kwargs["latents"], float("nan"))
    return callback_kwargs


def _detect(pipe: Any) -> str:
    index = {"_class_name": type(pipe).__name__, **dict(pipe.config)}
    transformer = getattr(pipe, "transformer", None)
    return detect_family(index, dict(transformer.config) if transformer is not None else None)


def _kv(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def _to_uint8(frames: np.ndarray) -> np.ndarray:
    return (np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


__all__ = ["OFFLOADS", "DiffusersVideo", "PromptCache", "check_output"]


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
