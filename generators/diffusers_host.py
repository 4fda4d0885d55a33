"""Hosting one diffusers pipeline on a device: loading, dtypes, offload, out-of-memory fallback, parking.

`PipelineHost` is what the video backend (text-to-video and image-to-video) and the image backend
(keyframes) share, so each of their pipelines loads the way its model card does (`diffusers_setup`),
is placed by the same memory plan (`memory.choose_offload`), steps down the same offloads on an
out-of-memory error (at load, in the denoising loop, in the VAE decode) and reuses prompt embeddings.

Several pipelines may serve one render (a keyframe model, then an image-to-video model). They need not
fit on the device together: before a host runs, `memory.make_room` parks other hosts on the same device
(weights to the CPU) when this one would not fit beside them, and a parked host is put back before it
runs again.

A host subclass names its families (`_family_of`, `_detect_family`, `_family_from_files`); a family
has a `name` (its working-memory allowance in `memory`), a `default_dtype` and per-component `dtypes`.
"""

from __future__ import annotations

import json
import resource
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from generators import diffusers_setup as setup
from generators import hub
from generators.base import MODEL_LOAD_LOCK
from generators.diffusers_lora import LoraSet
from generators.errors import TakeFailed, require
from generators.memory import (
    Offload,
    apply_offload,
    choose_offload,
    empty_cache,
    is_oom,
    lighter,
    make_room,
    oom_attributable,
    others_bytes,
    pipeline_sizes,
    remove_offload,
    resident_bytes,
)
from generators.prompt_cache import MiB, PromptCache

MARKER = setup.MARKER
STEP_CACHE_THRESHOLD = 0.05


class HostOptions(BaseModel):
    """Options every hosted pipeline takes: which weights, how they load, where they live."""

    model_config = ConfigDict(extra="forbid")

    model: str
    revision: str | None = None
    family: str | None = None  # detected from the pipeline class when None
    pipeline: str | None = None  # a diffusers pipeline class to load the weights as (an I2V class, say)
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
    text_cache_mb: int = Field(default=256, ge=0)  # prompt embeddings kept on the CPU
    call_kwargs: dict[str, Any] = Field(default_factory=dict)  # extra pipeline-call arguments

    @field_validator("vae_tiling", mode="before")
    @classmethod
    def _tiling_bool(cls, value: Any) -> Any:
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value


class PipelineHost:
    """One pipeline on one device, placed by a memory plan. Mixed into a backend (which sets `options`)."""

    name: str
    options: Any
    family: Any

    def _init_host(self) -> None:
        self.pipe: Any = None
        self.family = None
        self.offload: Offload = "none"
        self.device = "cpu"
        self.dtype: Any = None
        self.load_count = 0
        self.load_seconds = 0.0
        self.setup_notes: list[str] = []
        self.notes: list[str] = []
        self.fallbacks: list[str] = []
        self.parked = False
        self.park_count = 0
        self.text_cache = PromptCache(self.options.text_cache_mb * MiB)
        self.loras = LoraSet()
        self._marker_fetched = False

    # Family hooks (subclasses) -------------------------------------------------------------------

    def _family_of(self, name: str) -> Any:
        raise NotImplementedError

    def _detect_family(self, pipe: Any) -> str:
        raise NotImplementedError

    def _family_from_files(self) -> str | None:
        return None

    # 1. Loading ------------------------------------------------------------------------------------

    def _fetch_marker(self) -> None:
        """Bring an uncached model's index file (not its weights) so revision and family are known."""
        if not self._marker_fetched:
            self._marker_fetched = True
            hub.fetch_marker(self.options.model, MARKER, self.options.revision)

    def _model_index(self) -> dict[str, Any] | None:
        """The model's model_index.json when it is local or cached (None otherwise)."""
        folder = hub.local_folder(self.options.model, MARKER, self.options.revision)
        try:
            return json.loads((folder / MARKER).read_text()) if folder else None
        except (OSError, json.JSONDecodeError):
            return None

    def _load_host(self) -> None:
        """Load the pipeline once: weights, scheduler, speed-ups, offload, prompt cache."""
        torch = require("torch", "ml", self.name)
        require("diffusers", "ml", self.name)
        o = self.options
        self.device = o.device or ("cuda" if torch.cuda.is_available() else "cpu")
        started = time.perf_counter()
        self._fetch_marker()
        guess = o.family or self._family_from_files()
        dtypes = self._dtypes(self._family_of(guess) if guess else None)
        self.dtype = dtypes["default"]
        self.pipe = self._build(dtypes)
        self.family = self._family_of(o.family or self._detect_family(self.pipe))
        if guess is None:  # family known only now: give components the dtypes its card asks for
            self._cast_components(self._dtypes(self.family))
        # 2. make room beside other hosted pipelines, then place by the memory plan
        make_room(self.device, self, resident_bytes(self.pipe, "none", self.family.name))
        self._place_lightest_that_loads(self._choose_offload())
        self.load_seconds = time.perf_counter() - started
        self.load_count += 1

    def _dtypes(self, family: Any) -> dict[str, Any]:
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

    def _load_pipeline(self, dtypes: dict[str, Any]) -> Any:
        o = self.options
        return setup.load_pipeline(o.model, o.revision, dtypes, self.name, getattr(o, "base_model", None),
                                   pipeline_class=o.pipeline)

    def _build(self, dtypes: dict[str, Any]) -> Any:
        """A fresh pipeline from disk with the scheduler, speed-ups and the tiling option applied."""
        o = self.options
        self.setup_notes = []
        pipe = self._load_pipeline(dtypes)
        self.setup_notes += setup.swap_scheduler(pipe, o.scheduler) if o.scheduler else []
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

    # 2. Placement ----------------------------------------------------------------------------------

    def _choose_offload(self) -> Offload:
        if self.options.memory_plan != "auto":
            return self.options.memory_plan
        if not self.device.startswith("cuda"):
            return "none"
        from generators.memory import free_vram

        total, largest = pipeline_sizes(self.pipe)
        return choose_offload(free_vram(self.device), total, self.family.name, largest)

    def _place(self, offload: Offload) -> None:
        apply_offload(self.pipe, offload, self.device)
        self.offload = offload
        self.parked = False
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

    def park(self) -> bool:
        """Free the device of this pipeline's weights (to the CPU); True when anything moved.

        Only a fully resident pipeline holds weights between calls: under an offload plan the weights
        already live on the CPU and come onto the device only while used. (On a CPU device the weights
        stay where they are; the host is marked parked and placed again before it runs, as on a GPU.)"""
        if self.pipe is None or self.parked or self.offload != "none":
            return False
        self.pipe.to("cpu")
        self.parked = True
        self.park_count += 1
        empty_cache(self.device)
        return True

    def _unpark(self) -> None:
        """Make room for this pipeline (parking others) and put its weights back on the device."""
        make_room(self.device, self, resident_bytes(self.pipe, self.offload, self.family.name))
        if self.parked:
            self._place_lightest_that_loads(self.offload)

    # 3. Running ------------------------------------------------------------------------------------

    def _run(self, kwargs: dict[str, Any], seed: int) -> Any:
        """Call the pipeline with a fresh seeded generator; an OOM this job caused steps to a lighter offload."""
        import torch

        self._unpark()
        while True:
            generator = torch.Generator(device="cpu").manual_seed(seed)
            others_before = others_bytes(self.device)
            try:
                return self.pipe(generator=generator, **kwargs)
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

    # 4. Measuring ----------------------------------------------------------------------------------

    def _reset_peak(self) -> None:
        import torch

        if self.device.startswith("cuda") and torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats(self.device)

    def _peak_memory(self) -> dict[str, int]:
        import torch

        if self.device.startswith("cuda") and torch.cuda.is_available():
            return {"peak_vram_bytes": int(torch.cuda.max_memory_allocated(self.device))}
        return {"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}

    def _component_dtypes(self) -> dict[str, str]:
        import torch

        return {name: str(m.dtype).removeprefix("torch.") for name, m in self.pipe.components.items()
                if isinstance(m, torch.nn.Module) and hasattr(m, "dtype")}

    def _placement(self) -> dict[str, Any]:
        """Where the weights were when this pipeline ran, for a take's metadata."""
        return {"memory_plan": self.offload, "memory_fallbacks": list(self.fallbacks), "parks": self.park_count}
