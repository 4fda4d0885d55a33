"""AudioGen (facebook/audiogen-medium) text-to-sound without audiocraft installed.

audiocraft 1.3 pins torch 2.1, xformers and a source-only av, so it cannot live beside briefcut.
The published checkpoint (`state_dict.bin` + `compression_state_dict.bin`) is converted once into
transformers' MusicGen decoder and EnCodec classes (`audiogen_convert`), cached by content hash,
and run by `audiogen_model` with audiocraft's conditioning, delay pattern, guidance and sampling.
The weights are CC-BY-NC 4.0: the license is part of `describe()` and of every take's metadata.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from generators.base import AudioGenerator, AudioTake, SoundRequest
from generators.errors import ModelUnavailable, require
from generators.media import resample, write_wav
from generators.memory import device_job

DEFAULT_MODEL = "facebook/audiogen-medium"
CHECKPOINT_FILES = ("state_dict.bin", "compression_state_dict.bin")


class AudioGenAudio(AudioGenerator):
    """Sound effects from text with AudioGen: T5-conditioned LM over 16 kHz EnCodec codes."""

    name: ClassVar[str] = "audiogen"
    extra: ClassVar[str | None] = "ml"
    marker: ClassVar[str] = CHECKPOINT_FILES[0]  # the file whose presence says the model is cached
    license: ClassVar[str] = "CC-BY-NC-4.0"  # facebook/audiogen-medium's model card
    license_url: ClassVar[str] = "https://creativecommons.org/licenses/by-nc/4.0/"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        model: str = DEFAULT_MODEL  # hub id or a folder holding the two checkpoint files
        text_encoder: str | None = None  # T5 hub id or path; default: the one the checkpoint names
        cache_dir: str | None = None  # converted checkpoints; default ~/.cache/briefcut/audiogen
        device: str = "auto"
        dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
        use_sampling: bool = True
        top_k: int = Field(250, ge=0)
        top_p: float = Field(0.0, ge=0.0, le=1.0)
        temperature: float = Field(1.0, ge=0.0)
        cfg_coef: float | None = None  # default: the checkpoint's inference_coef (3.0)
        extend_stride: float = Field(2.0, gt=0)

    def __init__(self, options: dict[str, Any] | BaseModel | None = None) -> None:
        super().__init__(options)
        self.model: Any = None
        self.converted: Any = None

    # 1. loading ---------------------------------------------------------------------------------

    def load(self) -> None:
        """Convert the checkpoint once (cached), then load it with transformers' classes."""
        torch = require("torch", self.extra or "ml", self.name)
        require("transformers", self.extra or "ml", self.name)
        from generators.audiogen_convert import convert_checkpoint
        from generators.audiogen_model import AudioGenModel

        device = self.options.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = self.options.dtype
        if dtype == "auto":
            dtype = "float32" if device == "cpu" else "float16"
        self.converted = convert_checkpoint(self.checkpoint_dir(), self.cache_dir())
        self.model = AudioGenModel.from_converted(
            self.converted.path, self.options.text_encoder, device=device, dtype=dtype
        )
        self.loaded = True

    def checkpoint_dir(self) -> Path:
        """The local folder with the two checkpoint files: a path, or the hub cache (offline first)."""
        local = Path(self.options.model).expanduser()
        if local.is_dir():
            missing = [f for f in CHECKPOINT_FILES if not (local / f).is_file()]
            if missing:
                raise ModelUnavailable(f"audiogen: {local} lacks {', '.join(missing)}")
            return local
        try:
            from huggingface_hub import hf_hub_download

            paths = [Path(hf_hub_download(self.options.model, f)) for f in CHECKPOINT_FILES]
        except Exception as exc:  # offline, unknown repo, no network: one clear line
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ModelUnavailable(
                f"audiogen: model '{self.options.model}' is not cached locally and cannot be downloaded ({reason})"
            ) from exc
        return paths[0].parent

    def cache_dir(self) -> Path:
        if self.options.cache_dir:
            return Path(self.options.cache_dir).expanduser()
        return Path(os.environ.get("BRIEFCUT_CACHE", "~/.cache/briefcut")).expanduser() / "audiogen"

    def describe(self) -> dict[str, Any]:
        """Provenance plus the weights' license (shown by `briefcut doctor`)."""
        return {**super().describe(), "model": self.options.model, "license": self.license,
                "license_url": self.license_url}

    def licenses(self, voices: list[str] | None = None) -> list[dict[str, Any]]:
        """The weights' license: facebook/audiogen-medium's by id, else a local card's, else the
        published checkpoint's (a folder holding the converted files is still AudioGen's weights)."""
        from generators.licenses import declared, lookup

        model = self.options.model
        return [declared(model, "weights", lookup(model) or lookup(DEFAULT_MODEL))]

    # 2. rendering -------------------------------------------------------------------------------

    def render(self, request: SoundRequest, out: Path) -> AudioTake:
        """Generate `request.seconds` of sound for the prompt, resampled to `request.sample_rate`."""
        import torch

        self.ensure_loaded()
        model = self.model
        sampling = self.sampling()
        prompt = self.prompt_text(request)
        frames = max(1, math.ceil(request.seconds * model.frame_rate))
        generator = torch.Generator(device=model.device).manual_seed(request.seed)
        with device_job(str(model.device)):  # one job per device, video and audio alike
            codes = model.generate_long([prompt], frames, sampling, generator, self.options.extend_stride)
            wav = model.decode(codes)[0].T.cpu().numpy()  # [N, C] at the codec's rate
        samples = fit_length(resample(wav, model.sample_rate, request.sample_rate),
                             round(request.seconds * request.sample_rate))
        write_wav(out, samples, request.sample_rate)
        return AudioTake(path=Path(out), sample_rate=request.sample_rate, channels=samples.shape[1],
                         seconds=samples.shape[0] / request.sample_rate,
                         metadata=self.take_metadata(request, prompt, sampling, frames))

    def sampling(self) -> Any:
        from generators.audiogen_model import Sampling

        o = self.options
        cfg_coef = o.cfg_coef if o.cfg_coef is not None else self.model.settings["cfg_coef"]
        return Sampling(use_sampling=o.use_sampling, temperature=o.temperature, top_k=o.top_k,
                        top_p=o.top_p, cfg_coef=cfg_coef)

    @staticmethod
    def prompt_text(request: SoundRequest) -> str:
        return f"{request.prompt}, {request.mood}" if request.mood else request.prompt

    def take_metadata(self, request: SoundRequest, prompt: str, sampling: Any, frames: int) -> dict[str, Any]:
        return {
            **self.describe(),
            "prompt": prompt,
            "seed": request.seed,
            "parameters": {**sampling.__dict__, "frames": frames, "frame_rate": self.model.frame_rate,
                           "extend_stride": self.options.extend_stride},
            "source_sample_rate": self.model.sample_rate,
            "checkpoint_sha256": self.converted.sha256,
            "conversion_reused": self.converted.reused,
        }


def fit_length(samples: Any, length: int) -> Any:
    """Trim or zero-pad [N, C] samples to exactly `length` rows."""
    import numpy as np

    if samples.shape[0] >= length:
        return samples[:length]
    return np.concatenate([samples, np.zeros((length - samples.shape[0], samples.shape[1]), samples.dtype)])


def build_smoke(cache_dir: Path, variant: str | None = None) -> dict[str, Any]:
    """Options for a tiny random AudioGen in the published layout (built once under `cache_dir`)."""
    from generators.audiogen_export import tiny_checkpoint, tiny_t5

    if variant not in (None, "tiny"):
        raise ValueError(f"audiogen smoke: unknown variant '{variant}' (known: tiny)")
    root = Path(cache_dir) / "audiogen-smoke"
    t5_dir, ckpt_dir = root / "t5", root / "checkpoint"
    if not (t5_dir / "config.json").exists():
        tiny_t5(t5_dir)
    if not all((ckpt_dir / f).exists() for f in CHECKPOINT_FILES):
        tiny_checkpoint(ckpt_dir)
    return {"model": str(ckpt_dir), "text_encoder": str(t5_dir), "cache_dir": str(root / "converted"),
            "device": "cpu", "top_k": 16}
