"""The CLIP embedder: frames and prompts -> L2-normalised embeddings (transformers' CLIPModel)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import torch

DEFAULT_CLIP = "openai/clip-vit-base-patch32"
LARGE_CLIP = "openai/clip-vit-large-patch14"
Dtype = Literal["auto", "fp32", "bf16"]
# CPU flags under which bf16 matmuls run natively; elsewhere bf16 is emulated and slower (bench/scoring.py).
_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_has_fast_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True where the CPU advertises native bf16 (AMX or AVX512-BF16)."""
    try:
        flags = cpuinfo.read_text().split()
    except OSError:
        return False
    return any(flag in flags for flag in _BF16_CPU_FLAGS)


def resolve_dtype(dtype: Dtype, device: str) -> torch.dtype:
    """`auto` -> bf16 on a CUDA device with bf16 or a CPU with native bf16, else fp32."""
    import torch

    if dtype == "fp32":
        return torch.float32
    if dtype == "bf16":
        return torch.bfloat16
    if dtype != "auto":
        raise ValueError(f"unknown dtype {dtype!r}; expected 'auto', 'fp32' or 'bf16'")
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32


def _resolve_device(device: str) -> str:
    import torch

    if device != "auto":
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def _features(output: Any) -> torch.Tensor:
    """transformers 5 returns a model output from get_*_features; 4.x returned the tensor."""
    return getattr(output, "pooler_output", output)


def _normalised(features: torch.Tensor) -> np.ndarray:
    out = features.float().cpu().numpy()
    return out / np.maximum(np.linalg.norm(out, axis=-1, keepdims=True), 1e-12)


class ClipEmbedder:
    """Batched CLIP image and text embeddings, L2-normalised float32 numpy arrays."""

    def __init__(self, model: Any, processor: Any, *, model_id: str, batch_size: int = 32) -> None:
        self.model = model.eval()
        self.processor = processor
        self.model_id = model_id
        self.batch_size = batch_size

    @classmethod
    def load(
        cls,
        model_id_or_path: str | Path = DEFAULT_CLIP,
        *,
        dtype: Dtype = "auto",
        device: str = "auto",
        batch_size: int = 32,
        local_files_only: bool = True,
    ) -> ClipEmbedder:
        """Load a CLIPModel and its processor by hub id or local path (raises if unavailable)."""
        from transformers import AutoProcessor, CLIPModel

        device = _resolve_device(device)
        torch_dtype = resolve_dtype(dtype, device)
        source = str(model_id_or_path)
        model = CLIPModel.from_pretrained(source, dtype=torch_dtype, local_files_only=local_files_only)
        processor = AutoProcessor.from_pretrained(source, local_files_only=local_files_only)
        return cls(model.to(device), processor, model_id=source, batch_size=batch_size)

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the model computes in."""
        return next(self.model.parameters()).dtype

    @property
    def device(self) -> torch.device:
        """The device the model lives on."""
        return next(self.model.parameters()).device

    def describe(self) -> dict[str, Any]:
        """Model id/path, dtype, device and embedding width, for scorecards and `doctor`."""
        return {
            "model": self.model_id,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": str(self.device),
            "dim": int(self.model.config.projection_dim),
        }

    def embed_images(self, frames: np.ndarray) -> np.ndarray:
        """Frames uint8 [N,H,W,3] -> L2-normalised float32 embeddings [N,D]."""
        import torch

        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected frames [N,H,W,3], got shape {frames.shape}")
        chunks = []
        for start in range(0, len(frames), self.batch_size):
            batch = list(frames[start : start + self.batch_size])
            pixels = self.processor(images=batch, return_tensors="pt")["pixel_values"]
            with torch.inference_mode():
                out = self.model.get_image_features(pixel_values=pixels.to(self.device, self.dtype))
            chunks.append(_normalised(_features(out)))
        return np.concatenate(chunks) if chunks else np.zeros((0, self.describe()["dim"]), np.float32)

    def embed_text(self, texts: str | list[str]) -> np.ndarray:
        """Prompts -> L2-normalised float32 embeddings [T,D] (truncated to the model's context)."""
        import torch

        texts = [texts] if isinstance(texts, str) else list(texts)
        max_length = int(self.model.config.text_config.max_position_embeddings)
        enc = self.processor(
            text=texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length
        )
        with torch.inference_mode():
            out = self.model.get_text_features(
                input_ids=enc["input_ids"].to(self.device), attention_mask=enc["attention_mask"].to(self.device)
            )
        return _normalised(_features(out))


def load_embedder(
    model_id_or_path: str | Path = DEFAULT_CLIP, **opts: Any
) -> tuple[ClipEmbedder | None, str | None]:
    """(embedder, None), or (None, why) when the model cannot be had offline; CLIP metrics then skip."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as err:
        return None, f"{err.name or 'transformers'} is not installed (pip install 'briefcut[ml]')"
    if opts.get("dtype", "auto") not in ("auto", "fp32", "bf16"):
        raise ValueError(f"unknown dtype {opts['dtype']!r}; expected 'auto', 'fp32' or 'bf16'")
    try:
        return ClipEmbedder.load(model_id_or_path, **opts), None
    except (OSError, ValueError) as err:
        return None, _unavailable_reason(model_id_or_path, err)


def _unavailable_reason(model_id_or_path: str | Path, err: Exception) -> str:
    text = str(err).strip()
    detail = text.splitlines()[0][:200] if text else type(err).__name__
    source = str(model_id_or_path)
    looks_local = Path(source).exists() or source.startswith(("/", ".", "~"))
    hint = "" if looks_local else f"; fetch it once with `hf download {source}`"
    return f"CLIP model {model_id_or_path} could not be loaded offline ({detail}){hint}"
