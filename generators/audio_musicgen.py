"""MusicGen (transformers) for music beds: text -> EnCodec tokens -> waveform, up to 30 s a render."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, Field

from generators import hub
from generators.audio_diffusers import AudioOptions, HubAudio, finish_take, sound_prompt, torch_dtype
from generators.base import AudioTake, SoundRequest
from generators.errors import require
from generators.licenses import license_of
from generators.memory import device_job

MARKER = "config.json"
MAX_SECONDS = 30.0  # MusicGen's training length; longer beds are looped with a crossfade


class MusicGenAudio(HubAudio):
    """MusicGen text-to-music through transformers' MusicgenForConditionalGeneration."""

    name: ClassVar[str] = "musicgen"
    marker: ClassVar[str] = MARKER

    class Options(AudioOptions):
        model: str = "facebook/musicgen-small"
        guidance_scale: float | None = 3.0
        temperature: float = Field(default=1.0, gt=0)
        top_k: int = Field(default=250, gt=0)

    def __init__(self, options: dict[str, Any] | BaseModel | None = None) -> None:
        super().__init__(options)
        self.model: Any = None
        self.processor: Any = None

    def load(self) -> None:
        """Load model and processor once onto the device."""
        torch = require("torch", "ml", self.name)
        require("transformers", "ml", self.name)
        from transformers import AutoProcessor, MusicgenForConditionalGeneration

        o = self.options
        self.device = o.device or ("cuda" if torch.cuda.is_available() else "cpu")
        started = time.perf_counter()
        source = hub.resolve(o.model, MARKER, self.name, o.revision)
        with hub.loading(o.model, self.name):
            self.processor = AutoProcessor.from_pretrained(source, revision=o.revision)
            self.model = MusicgenForConditionalGeneration.from_pretrained(
                source, revision=o.revision, **hub.dtype_kwargs("transformers", torch_dtype(o.dtype, self.device))
            )
        self.model.to(self.device).eval()
        self.load_seconds = time.perf_counter() - started
        self.load_count += 1
        self.loaded = True

    def render(self, request: SoundRequest, out: Path) -> AudioTake:
        """Generate up to 30 s of music, then finish it to the request's rate and exact length."""
        self.ensure_loaded()
        o = self.options
        seconds = min(request.seconds, MAX_SECONDS)
        started = time.perf_counter()
        with device_job(self.device):  # one job per device, video and audio alike
            samples = self._generate(sound_prompt(request), seconds, request.seed)
        rate = int(self.model.config.audio_encoder.sampling_rate)
        meta = {
            "backend": self.name, "model": o.model, "revision": hub.revision_of(o.model, MARKER, o.revision),
            "license": license_of(o.model),
            "seed": request.seed, "kind": request.kind, "prompt": sound_prompt(request),
            "parameters": {"guidance_scale": o.guidance_scale, "temperature": o.temperature, "top_k": o.top_k,
                           "dtype": str(self.model.dtype).removeprefix("torch."), "device": self.device},
            "load_count": self.load_count,
            "timings": {"load_s": round(self.load_seconds, 4), "render_s": round(time.perf_counter() - started, 4)},
        }
        return finish_take(request, out, samples, rate, meta)

    def _generate(self, prompt: str, seconds: float, seed: int) -> np.ndarray:
        import torch

        o = self.options
        frame_rate = self.model.config.audio_encoder.frame_rate
        # The delay pattern costs one step per extra codebook before audio comes out.
        tokens = math.ceil(seconds * frame_rate) + self.model.decoder.num_codebooks
        inputs = self.processor(text=[prompt], padding=True, return_tensors="pt").to(self.device)
        devices = [torch.device(self.device)] if self.device.startswith("cuda") else []
        with torch.random.fork_rng(devices=devices), torch.inference_mode():
            torch.manual_seed(seed)  # generate() samples from the global generator
            audio = self.model.generate(**inputs, do_sample=True, guidance_scale=o.guidance_scale,
                                        temperature=o.temperature, top_k=o.top_k, max_new_tokens=tokens)
        return audio[0].float().cpu().numpy().T  # [samples, channels]


def build_smoke(cache_dir: Path, variant: str | None = None) -> dict[str, Any]:
    """Build the tiny MusicGen under `cache_dir` and return backend options pointing at it."""
    from generators.tiny import build_audio

    return {"model": str(build_audio(cache_dir, "musicgen"))}
