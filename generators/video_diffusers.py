"""The diffusers video backend: Wan 2.1/2.2, LTX-Video, CogVideoX, Mochi, HunyuanVideo, AnimateDiff.

One backend drives any of these text-to-video pipelines by hub id or local path. The family
(detected from the pipeline class, or forced by option) decides frame counts, sizes, fps and the
dtypes each component loads in (`generators.families`); the pipeline is hosted by
`generators.diffusers_host` (memory plan, out-of-memory fallback, prompt cache, LoRA). The VAE decode
tiles itself when the decode would not fit, and an OOM in the decode retries the decode alone, tiled.
A pipeline loads once per backend instance (the BackendPool keeps instances), jobs on one device run
one at a time, and repeated prompts reuse their embeddings (`generators.prompt_cache`).

A request with `keyframe` set goes keyframe first (`generators.video_keyframe`): a still with the
product composed into the scene, animated by the family's image-to-video pipeline. A model that is
itself an image-to-video pipeline renders every shot that way.
"""

from __future__ import annotations

import inspect
import json
import time
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from generators import diffusers_setup as setup
from generators import hub
from generators.base import ShotRequest, VideoGenerator, VideoTake
from generators.diffusers_host import HostOptions, PipelineHost
from generators.errors import BackendOptionsError, TakeFailed
from generators.families import (
    I2V_CLASSES,
    Family,
    Snapped,
    detect_family,
    get_family,
    native_indices,
    retime,
    snap,
)
from generators.licenses import declared, license_of, lookup
from generators.media import write_frames
from generators.memory import OFFLOADS, decode_bytes, device_job, free_bytes
from generators.prompt_cache import PromptCache

MARKER = setup.MARKER
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


# Request fields a text-to-video take does not depend on (the storyboard's and the product path's).
T2V_IGNORES = frozenset({"title", "caption", "palette", "shot_index", "role", "shows_product", "product_name",
                         "product_image", "brand_name", "logo", "keyframe", "language", "font",
                         "caption_enters", "footage", "footage_ranking"})
# Options that only the keyframe path reads: they enter the keys of keyframe takes alone.
KEYFRAME_OPTIONS = frozenset({"i2v_model", "i2v_options", "i2v_lora", "keyframe_model", "keyframe_options"})


class DiffusersVideo(PipelineHost, VideoGenerator):
    """A diffusers text-to-video (or image-to-video) pipeline, any supported family, by hub id or local path."""

    name: ClassVar[str] = "diffusers"
    extra: ClassVar[str | None] = "ml"
    cache_ignores: ClassVar[frozenset[str]] = T2V_IGNORES

    class Options(HostOptions):
        model: str = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
        base_model: str | None = None  # AnimateDiff: the SD 1.5 model a motion-adapter id runs on
        max_side: int | None = Field(default=None, gt=0)  # cap on the render's long side
        max_frames: int | None = Field(default=None, gt=0)  # cap on rendered frames (smoke, previews)
        retime: Literal["motion", "blend", "nearest"] = "motion"  # native fps -> the cut's fps
        # Keyframe-first product shots: the image-to-video model ("same": this model loaded as its
        # family's I2V pipeline; None: the family's default, `families.I2V_MODELS`), its option overrides,
        # whether the request's LoRAs go into it (None: only when it is this model), and the keyframe model.
        i2v_model: str | None = None
        i2v_options: dict[str, Any] = Field(default_factory=dict)
        i2v_lora: bool | None = None
        keyframe_model: str | None = None  # None: generators.image_diffusers' default
        keyframe_options: dict[str, Any] = Field(default_factory=dict)
        # Testing the TakeFailed path: fill the latents with NaN after the first step.
        poison_latents: bool = False

    def __init__(self, options: dict[str, Any] | Any = None) -> None:
        super().__init__(options)
        self._init_host()
        self._keyframes: Any = None

    # 1. Identity -----------------------------------------------------------------------------

    def identity(self) -> dict[str, Any]:
        """Backend, options, family and model revision: everything that decides a text-to-video take."""
        o = self.options
        self._fetch_marker()
        return {
            "backend": self.name,
            "options": o.model_dump(mode="json", exclude=set(KEYFRAME_OPTIONS)),
            "family": self.family.name if self.family else (o.family or self._family_from_files()),
            "revision": hub.revision_of(o.model, MARKER, o.revision),
        }

    def cache_identity(self, request: ShotRequest) -> tuple[dict[str, Any], set[str]]:
        """A keyframe-first take depends on the keyframe and image-to-video models and the product image too."""
        if not self.keyframes.applies(request):
            return self.identity(), set(T2V_IGNORES)
        return self.keyframes.identity(), set(self.keyframes.ignores)

    def describe(self) -> dict[str, Any]:
        return {**self.identity(), "memory_plan": self.offload, "device": self.device,
                "dtype": str(self.dtype).removeprefix("torch."), "load_count": self.load_count}

    @property
    def keyframes(self) -> Any:
        """The keyframe-then-motion path of this backend (models load on first use)."""
        if self._keyframes is None:
            from generators.video_keyframe import KeyframeMotion

            self._keyframes = KeyframeMotion(self)
        return self._keyframes

    def _family_of(self, name: str) -> Family:
        return get_family(name)

    def _detect_family(self, pipe: Any) -> str:
        return _detect(pipe)

    def licenses(self, voices: list[str] | None = None) -> list[dict[str, Any]]:
        """The licenses of the weights: the model, and for AnimateDiff the SD 1.5 base it runs on."""
        models = [self.options.model, *([self.options.base_model] if self.options.base_model else [])]
        return [declared(m, "weights", lookup(m)) for m in models]

    def keyframe_licenses(self) -> list[dict[str, Any]]:
        """The licenses of the keyframe path's weights: the text-to-image model and the image-to-video one."""
        from generators.image_diffusers import DEFAULT_KEYFRAME_MODEL

        models = [self.options.keyframe_model or DEFAULT_KEYFRAME_MODEL, self.keyframes.target()]
        return [declared(m, "keyframe weights", lookup(m)) for m in models if m]

    def _family_from_files(self) -> str | None:
        o = self.options
        if setup.model_kind(o.model, o.revision) == "motion_adapter":
            return "animatediff"
        folder = hub.local_folder(o.model, MARKER, o.revision)
        try:
            index = json.loads((folder / MARKER).read_text()) if folder else None
            if index is not None and o.pipeline:  # loaded as another class: detect it as that class
                index["_class_name"] = o.pipeline
            return detect_family(index, _transformer_config(folder)) if index is not None else None
        except (KeyError, OSError, json.JSONDecodeError):
            return None

    # 2. Loading ------------------------------------------------------------------------------

    def load(self) -> None:
        """Load the pipeline once: weights, scheduler, speed-ups, offload, prompt cache."""
        self._load_host()
        self.native_aspect = self.family.any_aspect
        self.loaded = True

    @property
    def needs_image(self) -> bool:
        """Whether the loaded pipeline animates an image (an image-to-video pipeline)."""
        return type(self.pipe).__name__ in I2V_CLASSES

    # 3. Rendering ----------------------------------------------------------------------------

    def render(self, request: ShotRequest, out: Path) -> VideoTake:
        """Render one take: keyframe first where asked (or where the model needs an image), else text to video;
        then check, retime, write."""
        if self.keyframes.applies(request):
            frames, meta = self.keyframes.render(request)
        else:
            frames, meta = self.render_frames(request)
            if request.keyframe:
                meta["notes"].append(self.keyframes.why_not())
        return self._finish(frames, meta, request, out)

    def _finish(self, frames: np.ndarray, meta: dict[str, Any], request: ShotRequest, out: Path) -> VideoTake:
        # 3. check, retime to the request's fps, write
        reason = check_output(frames)
        if reason:
            raise TakeFailed(f"{meta['family']}: {reason} (seed {request.seed})", meta)
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

    def snapped(self, request: ShotRequest) -> Snapped:
        """Frames, size and fps this pipeline renders `request` at (a fixed-size model's own size)."""
        self.ensure_loaded()
        snapped = snap(self.family, request, self.options.max_side, self.options.max_frames)
        fixed = _fixed_size(self.pipe)
        if fixed and fixed != (snapped.width, snapped.height):
            note = (f"size {snapped.width}x{snapped.height} -> {fixed[0]}x{fixed[1]} ({self.family.name}'s learned "
                    f"positions fix its size)")
            snapped = snapped._replace(width=fixed[0], height=fixed[1], changes=[*snapped.changes, note])
        return snapped

    def render_frames(self, request: ShotRequest, image: Any = None) -> tuple[np.ndarray, dict[str, Any]]:
        """The raw clip [N,H,W,3] (floats 0..1, the family's native fps) and its metadata; `image` (a PIL
        image at the snapped size) is the first frame of an image-to-video pipeline."""
        self.ensure_loaded()
        if self.needs_image != (image is not None):
            what = "animates an image: the shot needs a keyframe" if image is None else "does not animate an image"
            raise BackendOptionsError(f"diffusers: {self.options.model} loads as {type(self.pipe).__name__}, which "
                                      f"{what} (the video options i2v_model and pipeline choose the models)")
        # 1. fit the request to the family
        snapped = self.snapped(request)
        changes = list(snapped.changes)
        with device_job(self.device):  # one job per device: its peak and its OOMs are its own
            loras = self.loras.apply(self.pipe, request.lora, self._compute_dtype(), self._loading)
            self.text_cache.salt = self.loras.salt()
            self._plan_decode(snapped, changes)
            kwargs = self._call_kwargs(request, snapped, changes)
            if image is not None:
                kwargs["image"] = image
            # 2. denoise and decode
            started = time.perf_counter()
            self._reset_peak()
            frames = np.asarray(self._run(kwargs, request.seed).frames[0], dtype=np.float32)
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

    # 4. Metadata -----------------------------------------------------------------------------

    def _metadata(self, request: ShotRequest, snapped: Any, kwargs: dict[str, Any], loras: list[dict[str, Any]],
                  changes: list[str], render_s: float) -> dict[str, Any]:
        o, fam = self.options, self.family
        steps = kwargs.get("num_inference_steps", o.steps or fam.steps)
        return {
            "backend": self.name, "model": o.model, "revision": hub.revision_of(o.model, MARKER, o.revision),
            "family": fam.name, "pipeline": type(self.pipe).__name__, "seed": request.seed,
            "license": license_of(o.model), "mode": "image-to-video" if "image" in kwargs else "text-to-video",
            "parameters": {
                "steps": steps, "guidance_scale": kwargs.get("guidance_scale"),
                "true_cfg_scale": kwargs.get("true_cfg_scale"),
                "scheduler": type(self.pipe.scheduler).__name__, "dtype": str(self.dtype).removeprefix("torch."),
                "component_dtypes": self._component_dtypes(), "device": self.device, "frames": snapped.frames,
                "width": snapped.width, "height": snapped.height, "native_fps": snapped.fps, "fp8": o.fp8,
                "step_cache": o.step_cache, "vae_tiling": setup.tiling_on(self.pipe),
                "negative_prompt": request.negative_prompt, "lora": loras,
            },
            **self._placement(), "changes": changes,
            "notes": self.setup_notes + self.notes, "load_count": self.load_count,
            "text_cache": self.text_cache.stats(),
            "timings": {"load_s": round(self.load_seconds, 4), "render_s": round(render_s, 4),
                        "s_per_step": round(render_s / steps, 4)},
            **self._peak_memory(),
        }


# 5. Helpers ----------------------------------------------------------------------------------


def _poison_latents(pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
    import torch

    callback_kwargs["latents"] = torch.full_like(callback_kwargs["latents"], float("nan"))
    return callback_kwargs


def _detect(pipe: Any) -> str:
    index = {"_class_name": type(pipe).__name__, **dict(pipe.config)}
    transformer = getattr(pipe, "transformer", None)
    return detect_family(index, dict(transformer.config) if transformer is not None else None)


def _transformer_config(folder: Path | None) -> dict[str, Any] | None:
    path = folder / "transformer" / "config.json" if folder else None
    return json.loads(path.read_text()) if path is not None and path.exists() else None


def _fixed_size(pipe: Any) -> tuple[int, int] | None:
    """The only size a model with learned positional embeddings renders (CogVideoX-5b-I2V), else None."""
    transformer = getattr(pipe, "transformer", None)
    config = dict(transformer.config) if transformer is not None else {}
    if not config.get("use_learned_positional_embeddings") or not config.get("sample_width"):
        return None
    scale = getattr(pipe, "vae_scale_factor_spatial", 8)
    return int(config["sample_width"] * scale), int(config["sample_height"] * scale)


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
