"""Diffusers audio backends for music beds and effects: AudioLDM2 and Stable Audio Open.

Every audio backend ends the same way (`finish_take`): check the samples, resample to the request's
rate (48 kHz), fit exactly round(seconds * rate) samples (looping a short render with a crossfade),
write a WAV and describe how it was made. MusicGen and AudioGen use the same helpers.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from generators import hub
from generators.base import AudioGenerator, AudioTake, SoundRequest
from generators.errors import TakeFailed, require
from generators.licenses import declared, license_of, lookup
from generators.media import resample, write_wav
from generators.memory import device_job

MARKER = "model_index.json"
CROSSFADE_S = 0.25
FADE_OUT_S = 0.01


# 1. Shared helpers for every audio backend ---------------------------------------------------


def sound_prompt(request: SoundRequest) -> str:
    """The text a model is given: the prompt, with the mood for music."""
    return f"{request.prompt}, {request.mood}" if request.mood else request.prompt


def check_audio(samples: np.ndarray) -> str | None:
    """Why rendered samples are unusable (NaN, silence), or None."""
    x = np.asarray(samples, dtype=np.float32)
    if x.size == 0:
        return "empty output"
    if not np.isfinite(x).all():
        return "NaN or infinite values in the output"
    if np.abs(x).max() < 1e-5:
        return "silent output"
    return None


def fit_length(samples: np.ndarray, n: int, sample_rate: int) -> np.ndarray:
    """Exactly `n` samples [n,C]: trimmed with a short fade-out, or looped with a crossfade."""
    x = samples.reshape(len(samples), -1).astype(np.float32)
    if len(x) >= n:
        out = x[:n].copy()
        fade = min(n, int(FADE_OUT_S * sample_rate))
        if fade and len(x) > n:
            out[n - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
        return out
    xf = min(int(CROSSFADE_S * sample_rate), len(x) // 4)
    out = x.copy()
    ramp = np.linspace(0.0, 1.0, xf, dtype=np.float32)[:, None]
    while len(out) < n:
        if xf:
            out[-xf:] = out[-xf:] * (1 - ramp) + x[:xf] * ramp
            out = np.concatenate([out, x[xf:]])
        else:
            out = np.concatenate([out, x])
    return out[:n]


def finish_take(request: SoundRequest, out: Path, samples: np.ndarray, sample_rate: int,
                metadata: dict[str, Any]) -> AudioTake:
    """Check, resample to the request's rate, fit the exact length, write the WAV, describe it."""
    samples = np.asarray(samples, dtype=np.float32)
    reason = check_audio(samples)
    if reason:
        raise TakeFailed(f"{metadata.get('backend', 'audio')}: {reason} (seed {request.seed})", metadata)
    x = samples.reshape(len(samples), -1)
    rendered_s = len(x) / sample_rate
    x = resample(x, sample_rate, request.sample_rate)
    n = round(request.seconds * request.sample_rate)
    if len(x) < n:
        metadata.setdefault("changes", []).append(f"{rendered_s:.2f} s render looped to {request.seconds:.2f} s")
    x = fit_length(x, n, request.sample_rate)
    write_wav(out, x, request.sample_rate)
    metadata.update(native_sample_rate=sample_rate, rendered_seconds=round(rendered_s, 4))
    return AudioTake(path=Path(out), sample_rate=request.sample_rate, channels=x.shape[1],
                     seconds=n / request.sample_rate, metadata=metadata)


def torch_dtype(name: str, device: str) -> Any:
    """fp16 on CUDA and fp32 on CPU unless asked otherwise."""
    import torch

    if name == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    return getattr(torch, name)


class AudioOptions(BaseModel):
    """Options every model audio backend shares."""

    model_config = ConfigDict(extra="forbid")

    model: str
    revision: str | None = None
    steps: int | None = Field(default=None, gt=0)
    guidance_scale: float | None = None
    negative_prompt: str = "low quality, distorted, noise"
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    device: str | None = None


# 2. The diffusers audio backends --------------------------------------------------------------


class HubAudio(AudioGenerator):
    """An audio backend over one model by hub id or path: load bookkeeping and an identity that
    names the model's resolved revision (a local folder's hash or the cached commit)."""

    extra: ClassVar[str | None] = "ml"
    marker: ClassVar[str] = MARKER  # the file whose presence and hash identify the model

    def __init__(self, options: dict[str, Any] | BaseModel | None = None) -> None:
        super().__init__(options)
        self.device = "cpu"
        self.load_count = 0
        self.load_seconds = 0.0

    def identity(self) -> dict[str, Any]:
        o = self.options
        return {"backend": self.name, "options": o.model_dump(mode="json"),
                "revision": hub.revision_of(o.model, self.marker, o.revision)}

    def licenses(self, voices: list[str] | None = None) -> list[dict[str, Any]]:
        """The license of the weights this backend renders with."""
        return [declared(self.options.model, "weights", lookup(self.options.model))]


class _DiffusersAudio(HubAudio):
    """Common loading and rendering for diffusers text-to-audio pipelines."""

    default_steps: ClassVar[int] = 50
    default_guidance: ClassVar[float] = 3.5

    def __init__(self, options: dict[str, Any] | BaseModel | None = None) -> None:
        super().__init__(options)
        self.pipe: Any = None

    def load(self) -> None:
        """Load the pipeline once onto the device."""
        torch = require("torch", "ml", self.name)
        require("diffusers", "ml", self.name)
        o = self.options
        self.device = o.device or ("cuda" if torch.cuda.is_available() else "cpu")
        started = time.perf_counter()
        source = hub.resolve(o.model, MARKER, self.name, o.revision)
        with hub.loading(o.model, self.name):
            self.pipe = self._from_pretrained(source, torch_dtype(o.dtype, self.device))
        self.pipe.to(self.device)
        self.pipe.set_progress_bar_config(disable=True)
        self.load_seconds = time.perf_counter() - started
        self.load_count += 1
        self.loaded = True

    def _from_pretrained(self, source: str, dtype: Any) -> Any:
        from diffusers import DiffusionPipeline

        return DiffusionPipeline.from_pretrained(source, revision=self.options.revision,
                                                 **hub.dtype_kwargs("diffusers", dtype))

    def render(self, request: SoundRequest, out: Path) -> AudioTake:
        """Render one sound at the model's rate, then finish it to the request's rate and length."""
        import torch

        self.ensure_loaded()
        o = self.options
        seconds = min(request.seconds, self.max_seconds())
        steps = o.steps or self.default_steps
        guidance = self.default_guidance if o.guidance_scale is None else o.guidance_scale
        started = time.perf_counter()
        generator = torch.Generator(device="cpu").manual_seed(request.seed)
        with device_job(self.device):  # one job per device, video and audio alike
            samples, rate = self._generate(sound_prompt(request), seconds, steps, guidance, generator)
        meta = {
            "backend": self.name, "model": o.model, "revision": hub.revision_of(o.model, MARKER, o.revision),
            "license": license_of(o.model),
            "seed": request.seed, "kind": request.kind, "prompt": sound_prompt(request),
            "parameters": {"steps": steps, "guidance_scale": guidance, "negative_prompt": o.negative_prompt,
                           "dtype": str(self.pipe.dtype).removeprefix("torch."), "device": self.device},
            "load_count": self.load_count,
            "timings": {"load_s": round(self.load_seconds, 4), "render_s": round(time.perf_counter() - started, 4)},
        }
        return finish_take(request, out, samples, rate, meta)

    def max_seconds(self) -> float:
        """The longest sound one render makes; longer requests are looped."""
        return float("inf")

    def _generate(self, prompt: str, seconds: float, steps: int, guidance: float,
                  generator: Any) -> tuple[np.ndarray, int]:
        raise NotImplementedError


class AudioLDM2Audio(_DiffusersAudio):
    """AudioLDM2 (music and effects) through diffusers."""

    name: ClassVar[str] = "audioldm2"
    default_steps: ClassVar[int] = 100
    default_guidance: ClassVar[float] = 3.5

    class Options(AudioOptions):
        model: str = "cvssp/audioldm2"

    def _from_pretrained(self, source: str, dtype: Any) -> Any:
        from diffusers import AudioLDM2Pipeline
        from transformers import GPT2LMHeadModel

        # Saved AudioLDM2 repos name GPT2Model as the language model, but the pipeline's generation
        # loop needs GenerationMixin, which transformers 5 only gives models with an LM head.
        lm = GPT2LMHeadModel.from_pretrained(source, subfolder="language_model", revision=self.options.revision,
                                             **hub.dtype_kwargs("transformers", dtype))
        return AudioLDM2Pipeline.from_pretrained(source, language_model=lm, revision=self.options.revision,
                                                 **hub.dtype_kwargs("diffusers", dtype))

    def _generate(self, prompt: str, seconds: float, steps: int, guidance: float,
                  generator: Any) -> tuple[np.ndarray, int]:
        out = self.pipe(prompt, negative_prompt=self.options.negative_prompt or None,
                        audio_length_in_s=seconds, num_inference_steps=steps, guidance_scale=guidance,
                        generator=generator)
        return np.asarray(out.audios[0], dtype=np.float32), int(self.pipe.vocoder.config.sampling_rate)


class StableAudio(_DiffusersAudio):
    """Stable Audio Open (stereo, up to ~47 s per render) through diffusers."""

    name: ClassVar[str] = "stable-audio"
    default_steps: ClassVar[int] = 100
    default_guidance: ClassVar[float] = 7.0

    class Options(AudioOptions):
        model: str = "stabilityai/stable-audio-open-1.0"

    def max_seconds(self) -> float:
        p = self.pipe
        return p.transformer.config.sample_size * p.vae.hop_length / p.vae.config.sampling_rate

    def _generate(self, prompt: str, seconds: float, steps: int, guidance: float,
                  generator: Any) -> tuple[np.ndarray, int]:
        out = self.pipe(prompt, negative_prompt=self.options.negative_prompt or None, audio_end_in_s=seconds,
                        num_inference_steps=steps, guidance_scale=guidance, generator=generator)
        audio = out.audios[0]  # [channels, samples]
        return audio.float().cpu().numpy().T, int(self.pipe.vae.config.sampling_rate)


# 3. Smoke models -----------------------------------------------------------------------------


def build_smoke(cache_dir: Path, variant: str | None = None) -> dict[str, Any]:
    """Build the tiny model `variant` ("audioldm2" or "stable-audio") and return backend options."""
    from generators.tiny import build_audio

    name = variant or "audioldm2"
    return {"model": str(build_audio(cache_dir, name)), "steps": 2}
