"""Building a diffusers video pipeline the way each family's model card does, and its speed-ups.

- `load_pipeline`: `DiffusionPipeline.from_pretrained` with a dtype per component (Wan's VAE in fp32),
  or, for an AnimateDiff motion-adapter id, the base model + `MotionAdapter`, as diffusers documents.
- `swap_scheduler`: a scheduler by class name via `from_config`, carrying flow-matching settings
  (Wan's `flow_shift` 3.0 is `shift` to FlowMatchEuler), and saying what the swap changes.
- `enable_fp8` / `enable_step_cache` / `set_vae_tiling`: the speed and memory options.
- `guard_decode`: an out-of-memory error in the VAE decode retries the decode only, tiled, with the
  latents the denoising loop produced (nothing is denoised again).
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable
from typing import Any

from generators import hub
from generators.errors import BackendOptionsError

LOG = logging.getLogger("briefcut")
MARKER = "model_index.json"
ADAPTER_CLASS = "MotionAdapter"
# AnimateDiff's motion adapters are trained on Stable Diffusion 1.5; diffusers' AnimateDiff guide
# pairs them with this community SD 1.5 checkpoint.
DEFAULT_ANIMATEDIFF_BASE = "emilianJR/epiCRealism"
# Sampling settings whose loss in a scheduler swap changes what the sampler does.
FLOW_SHIFT_KEYS = ("flow_shift", "shift")


# 1. Loading ----------------------------------------------------------------------------------------


def model_kind(model: str, revision: str | None = None) -> str:
    """"pipeline" for a pipeline folder or repo, "motion_adapter" for an AnimateDiff MotionAdapter."""
    folder = hub.local_folder(model, MARKER, revision)
    if folder is not None and (folder / MARKER).exists():
        return "pipeline"
    config = hub.local_folder(model, "config.json", revision)
    if config is not None and (config / "config.json").exists():
        cls = json.loads((config / "config.json").read_text()).get("_class_name")
        return "motion_adapter" if cls == ADAPTER_CLASS else "pipeline"
    return "motion_adapter" if "motion-adapter" in model.lower() else "pipeline"


def load_pipeline(model: str, revision: str | None, dtypes: dict[str, Any], backend: str,
                  base_model: str | None = None, pipeline_class: str | None = None) -> Any:
    """The pipeline for `model`, each component in its dtype (`dtypes["default"]` for the rest); loaded
    as `pipeline_class` when given (the same weights as another task: LTX-Video as image-to-video)."""
    from diffusers import DiffusionPipeline

    if model_kind(model, revision) == "motion_adapter":
        return _animatediff(model, revision, dtypes, backend, base_model or DEFAULT_ANIMATEDIFF_BASE)
    cls = pipeline_named(pipeline_class) if pipeline_class else DiffusionPipeline
    source = hub.resolve(model, MARKER, backend, revision)
    with hub.loading(model, backend):
        return cls.from_pretrained(source, revision=revision, **hub.dtype_kwargs("diffusers", dtypes))


def pipeline_named(name: str) -> Any:
    """The diffusers pipeline class called `name`; an unknown name is a BackendOptionsError."""
    import diffusers

    cls = getattr(diffusers, name, None) if name.endswith("Pipeline") else None
    if cls is None or not hasattr(cls, "from_pretrained"):
        raise BackendOptionsError(f"diffusers: unknown pipeline class '{name}' (a diffusers *Pipeline class name)")
    return cls


def _animatediff(adapter_id: str, revision: str | None, dtypes: dict[str, Any], backend: str, base: str) -> Any:
    from diffusers import AnimateDiffPipeline, MotionAdapter

    adapter_src = hub.resolve(adapter_id, "config.json", backend, revision)
    with hub.loading(adapter_id, backend):
        adapter = MotionAdapter.from_pretrained(adapter_src, revision=revision,
                                                **hub.dtype_kwargs("diffusers", dtypes["default"]))
    base_src = hub.resolve(base, MARKER, backend)
    with hub.loading(base, backend):
        return AnimateDiffPipeline.from_pretrained(base_src, motion_adapter=adapter,
                                                   **hub.dtype_kwargs("diffusers", dtypes))


# 2. Scheduler --------------------------------------------------------------------------------------


def swap_scheduler(pipe: Any, name: str) -> list[str]:
    """Replace the scheduler by class `name`, keeping flow-matching settings; returns what changed."""
    import diffusers

    cls = getattr(diffusers, name, None)
    if cls is None or not hasattr(cls, "from_config"):
        raise BackendOptionsError(f"diffusers: unknown scheduler '{name}'; compatible: {_compatible(pipe)}")
    old = dict(pipe.scheduler.config)
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs"}
    overrides = flow_overrides(old, accepted, name, pipe)
    pipe.scheduler = cls.from_config(old, **overrides)
    return _swap_notes(type_name(old), name, old, accepted, overrides)


def flow_overrides(old: dict[str, Any], accepted: set[str], name: str, pipe: Any) -> dict[str, Any]:
    """The settings that keep a flow-matching model's sampling when its scheduler is swapped."""
    is_flow = bool(old.get("use_flow_sigmas")) or "shift" in old or old.get("prediction_type") == "flow_prediction"
    if not is_flow:
        return {}
    shift = next((old[k] for k in FLOW_SHIFT_KEYS if old.get(k) is not None), 1.0)
    if "flow_shift" in accepted and "use_flow_sigmas" in accepted:
        out: dict[str, Any] = {"flow_shift": shift, "use_flow_sigmas": True}
        if "prediction_type" in accepted:
            out["prediction_type"] = "flow_prediction"
        return out
    if "shift" in accepted:
        return {"shift": shift}
    raise BackendOptionsError(
        f"diffusers: scheduler '{name}' cannot sample a flow-matching model (this one uses flow shift {shift}); "
        f"compatible: {_compatible(pipe)}"
    )


def _swap_notes(old_name: str, new_name: str, old: dict[str, Any], accepted: set[str],
                overrides: dict[str, Any]) -> list[str]:
    notes = [f"scheduler {old_name} -> {new_name}"]
    if overrides:
        notes.append("flow settings carried: " + ", ".join(f"{k}={v}" for k, v in sorted(overrides.items())))
    dropped = sorted(k for k in old if not k.startswith("_") and k not in accepted)
    if dropped:
        notes.append(f"{new_name} ignores: {', '.join(dropped[:8])}{' ...' if len(dropped) > 8 else ''}")
    for note in notes[1:]:
        LOG.warning("diffusers: %s: %s", notes[0], note)
    return ["; ".join(notes)]


def type_name(config: dict[str, Any]) -> str:
    """The class name a scheduler config records."""
    return str(config.get("_class_name", "scheduler"))


def _compatible(pipe: Any) -> str:
    return ", ".join(sorted(c.__name__ for c in getattr(pipe.scheduler, "compatibles", [])))


# 3. Speed and memory options ------------------------------------------------------------------------


def denoisers(pipe: Any) -> list[Any]:
    """The pipeline's denoising models (Wan 2.2 has two)."""
    return [m for m in (getattr(pipe, n, None) for n in ("transformer", "transformer_2", "unet")) if m is not None]


def enable_fp8(pipe: Any) -> None:
    """fp8 storage with compute in each denoiser's dtype; norms, embeddings and adapter layers stay out."""
    import torch
    from diffusers.hooks.layerwise_casting import DEFAULT_SKIP_MODULES_PATTERN

    skip = tuple(DEFAULT_SKIP_MODULES_PATTERN) + _adapter_patterns()
    for m in denoisers(pipe):
        m.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=m.dtype, skip_modules_pattern=skip)


def _adapter_patterns() -> tuple[str, ...]:
    try:
        from peft.tuners.lora.layer import LoraLayer
    except ImportError:
        return ("lora_A", "lora_B")
    return tuple(LoraLayer.adapter_layer_names)


def enable_step_cache(pipe: Any, threshold: float) -> list[str]:
    """First-block cache on each denoiser that supports it; notes for those that do not."""
    try:
        from diffusers import FirstBlockCacheConfig
    except ImportError:
        return ["step_cache: this diffusers has no first-block cache; rendering without"]
    notes = []
    for m in denoisers(pipe):
        try:
            m.enable_cache(FirstBlockCacheConfig(threshold=threshold))
        except (ValueError, TypeError, AttributeError, NotImplementedError) as exc:
            notes.append(f"step_cache: not supported by {type(m).__name__} ({exc})")
    return notes


def set_vae_tiling(pipe: Any, on: bool) -> bool:
    """Tiled (and, where the VAE has it, sliced) decoding on or off; False when the VAE cannot tile."""
    vae = getattr(pipe, "vae", None)
    if vae is None or not hasattr(vae, "enable_tiling"):
        return False
    if on:
        vae.enable_tiling()
        if hasattr(vae, "enable_slicing"):
            vae.enable_slicing()
    elif getattr(vae, "use_tiling", False):
        vae.disable_tiling()
        if hasattr(vae, "disable_slicing"):
            vae.disable_slicing()
    return True


def tiling_on(pipe: Any) -> bool:
    return bool(getattr(getattr(pipe, "vae", None), "use_tiling", False))


def guard_decode(pipe: Any, on_oom: Callable[[BaseException], bool]) -> None:
    """Wrap `pipe.vae.decode`: on out-of-memory, `on_oom(exc)` turns tiling on (True) and the same
    latents are decoded again, tiled; False (or an OOM while tiled) re-raises."""
    from generators.memory import is_oom

    vae = getattr(pipe, "vae", None)
    if vae is None or getattr(vae.decode, "_briefcut_guarded", False):
        return
    original = vae.decode

    def decode(*args: Any, **kwargs: Any) -> Any:
        try:
            return original(*args, **kwargs)
        except Exception as exc:
            if not is_oom(exc) or tiling_on(pipe) or not on_oom(exc):
                raise
        return original(*args, **kwargs)

    decode._briefcut_guarded = True  # type: ignore[attr-defined]
    vae.decode = decode
