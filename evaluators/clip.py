"""The CLIP embedder: frames and prompts -> L2-normalised embeddings (transformers' CLIPModel)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import torch

DEFAULT_CLIP = "openai/clip-vit-base-patch32"
LARGE_CLIP = "openai/clip-vit-large-patch14"
Dtype = Literal["auto", "fp32", "bf16", "int8"]
DTYPES = ("auto", "fp32", "bf16", "int8")
# CPU flags under which bf16 matmuls run natively; elsewhere bf16 is emulated and slower (bench/scoring.py).
_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
# The files whose presence in the HF cache means a model's weights can load offline (any one of them).
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


def cpu_has_fast_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True where the CPU advertises native bf16 (AMX or AVX512-BF16)."""
    try:
        flags = cpuinfo.read_text().split()
    except OSError:
        return False
    return any(flag in flags for flag in _BF16_CPU_FLAGS)


def resolve_dtype(dtype: Dtype, device: str) -> torch.dtype:
    """The dtype to load weights in: `auto` -> bf16 on CUDA or a CPU with native bf16, else fp32.

    `int8` loads in fp32 and then quantises the image tower (`quantize_image_tower`). `auto` never picks
    int8: it is 1.7x faster on an AVX2 CPU, but its drift was measured on random weights only, and
    int8 CLIP embeddings have been reported visibly worse on real checkpoints (see the class docstring).
    """
    import torch

    if dtype in ("fp32", "int8"):
        return torch.float32
    if dtype == "bf16":
        return torch.bfloat16
    if dtype != "auto":
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {', '.join(map(repr, DTYPES))}")
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32


def quantize_image_tower(model: Any) -> Any:
    """Dynamic int8 (per-tensor) for the Linear layers of the vision tower and its projection, in place.

    Weights are int8, activations are quantised per batch at run time (fbgemm/x86 kernels); the patch
    convolution, attention products, LayerNorms and the whole text tower stay fp32. CPU only.
    """
    import torch

    # torch.ao.quantization and qint8 tensors warn that they are deprecated (for torchao, not a dependency)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", ".*deprecated.*", UserWarning)
        from torch.ao.quantization import quantize_dynamic

        for name in ("vision_model", "visual_projection"):
            quantize_dynamic(getattr(model, name), {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    return model


def _is_int8(model: Any) -> bool:
    return any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in model.modules())


@dataclass(frozen=True)
class PixelSpec:
    """What a CLIP image processor does to a frame, for `fast_pixels`: resize the short edge, crop, normalise."""

    shortest_edge: int
    crop: tuple[int, int]  # (height, width)
    mode: Literal["bicubic", "bilinear"]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def from_processor(cls, image_processor: Any) -> PixelSpec | None:
        """The spec of a CLIP-style image processor, or None where it does something `fast_pixels` does not."""
        modes = {3: "bicubic", 2: "bilinear"}  # PIL's BICUBIC and BILINEAR
        ip = image_processor
        try:
            size, crop, resample = ip.size, ip.crop_size, int(ip.resample)
            plain = (ip.do_resize and ip.do_center_crop and ip.do_rescale and ip.do_normalize
                     and abs(float(ip.rescale_factor) - 1 / 255) < 1e-9 and not getattr(ip, "do_pad", False))
            short, crop_hw = size["shortest_edge"], (crop["height"], crop["width"])
            extra = any(size.get(k) for k in ("longest_edge", "height", "width", "max_height", "max_width"))
        except (AttributeError, KeyError, TypeError, ValueError):
            return None
        if not plain or extra or not short or resample not in modes or max(crop_hw) > short:
            return None
        return cls(int(short), (int(crop_hw[0]), int(crop_hw[1])), modes[resample],
                   tuple(map(float, ip.image_mean)), tuple(map(float, ip.image_std)))


def fast_pixels(frames: np.ndarray, spec: PixelSpec) -> torch.Tensor:
    """uint8 [N,H,W,3] -> float32 pixel_values [N,3,h,w], the image processor's steps as batched torch ops.

    Antialiased resize of the short edge on uint8 (torch's port of PIL's filters, rounding to uint8 like
    PIL does), center crop, then rescale and normalise in one pass: within one grey level (0.015 after
    normalisation) of CLIPImageProcessorPil's pixels, with ~6.5x less CPU time on 480x832 frames.
    """
    import torch
    import torch.nn.functional as F

    # 1. sizes exactly as transformers' get_resize_output_image_size and center_crop compute them
    n, h, w, _ = frames.shape
    s = spec.shortest_edge
    size = (s, int(s * w / h)) if h <= w else (int(s * h / w), s)
    top, left = (size[0] - spec.crop[0]) // 2, (size[1] - spec.crop[1]) // 2
    # 2. resize on uint8 NCHW (channels-last memory: the layout the uint8 kernels are vectorised for)
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    x = F.interpolate(x, size=size, mode=spec.mode, antialias=True, align_corners=False)
    x = x[..., top : top + spec.crop[0], left : left + spec.crop[1]]
    # 3. (x / 255 - mean) / std == x * scale + shift, per channel
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    scale, shift = 1 / (255 * std), -torch.tensor(spec.mean).view(1, 3, 1, 1) / std
    return torch.addcmul(shift, x.float(), scale).contiguous()


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
    """Batched CLIP image and text embeddings, L2-normalised float32 numpy arrays.

    Frames are preprocessed with `fast_pixels` where the processor is a plain CLIP one (`fast_preprocess`,
    default), else with the processor itself. End to end (uint8 480x832 frames in) with ViT-B/32 on 2 AVX2
    cores, bench/scoring.py: fp32 ~17.5 frames/s (16.8 with the processor); bf16 ~8x slower without
    native bf16; int8 (`quantize_image_tower`) ~29 frames/s, 1.7x fp32. int8 accuracy, on random-weight
    ViT-B/32 only: image embeddings within 3e-4 cosine of fp32, clip_score within 2.2e-3, CLIP-F within
    2e-4. Trained CLIPs have activation outliers that per-tensor int8 handles worse, which could not be
    measured offline here: so int8 is opt-in and `auto` does not choose it. Batches of 8 ran fastest.
    """

    def __init__(
        self, model: Any, processor: Any, *, model_id: str, batch_size: int = 8, fast_preprocess: bool = True
    ) -> None:
        self.model = model.eval()
        self.processor = processor
        self.model_id = model_id
        self.batch_size = batch_size
        image_processor = getattr(processor, "image_processor", None)
        self.pixel_spec = PixelSpec.from_processor(image_processor) if fast_preprocess and image_processor else None
        self.int8 = _is_int8(self.model)

    @classmethod
    def load(
        cls,
        model_id_or_path: str | Path = DEFAULT_CLIP,
        *,
        dtype: Dtype = "auto",
        device: str = "auto",
        batch_size: int = 8,
        local_files_only: bool = True,
        **opts: Any,
    ) -> ClipEmbedder:
        """Load a CLIPModel and its processor by hub id or local path (raises if unavailable)."""
        from transformers import AutoProcessor, CLIPModel

        device = "cpu" if dtype == "int8" and device == "auto" else _resolve_device(device)
        torch_dtype = resolve_dtype(dtype, device)
        source = str(model_id_or_path)
        model = CLIPModel.from_pretrained(source, dtype=torch_dtype, local_files_only=local_files_only)
        processor = AutoProcessor.from_pretrained(source, local_files_only=local_files_only)
        model = quantize_image_tower(model.eval()) if dtype == "int8" else model.to(device)
        return cls(model, processor, model_id=source, batch_size=batch_size, **opts)

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
            "dtype": "int8" if self.int8 else str(self.dtype).removeprefix("torch."),
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
            pixels = self.pixels(frames[start : start + self.batch_size])
            with torch.inference_mode():
                out = self.model.get_image_features(pixel_values=pixels.to(self.device, self.dtype))
            chunks.append(_normalised(_features(out)))
        return np.concatenate(chunks) if chunks else np.zeros((0, self.describe()["dim"]), np.float32)

    def pixels(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 [N,H,W,3] -> pixel_values [N,3,h,w]: `fast_pixels` where it applies, else the processor."""
        if self.pixel_spec is not None and frames.dtype == np.uint8:
            return fast_pixels(frames, self.pixel_spec)
        return self.processor(images=list(frames), return_tensors="pt")["pixel_values"]

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
    if opts.get("dtype", "auto") not in DTYPES:
        raise ValueError(f"unknown dtype {opts['dtype']!r}; expected one of {', '.join(map(repr, DTYPES))}")
    if opts.get("dtype") == "int8" and opts.get("device", "auto") not in ("auto", "cpu"):
        raise ValueError(f"dtype 'int8' runs on the CPU only, not on {opts['device']!r}")
    # Weights that are not on this machine cannot load offline: say so before importing torch and
    # transformers (seconds and ~300 MiB spent only to fail the load).
    absent = None if opts.get("local_files_only") is False else weights_absent(model_id_or_path)
    if absent is not None:
        return None, _unavailable_reason(model_id_or_path, FileNotFoundError(absent))
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as err:
        return None, f"{err.name or 'transformers'} is not installed (pip install 'briefcut[ml]')"
    try:
        return ClipEmbedder.load(model_id_or_path, **opts), None
    except (OSError, ValueError) as err:
        return None, _unavailable_reason(model_id_or_path, err)


def weights_absent(model_id_or_path: str | Path) -> str | None:
    """Why a CLIP model's weights are certainly not on this machine, or None where they may be: a folder
    that does not exist, or a hub id whose config or weights are not in the local HF cache."""
    source = str(model_id_or_path)
    path = Path(source).expanduser()
    if path.is_dir():
        return None  # the load names whatever is wrong inside a folder
    if source.startswith(("/", ".", "~")) or source.count("/") > 1 or "\\" in source:
        return f"no folder {source}"
    if not any(folder.is_dir() for folder in _hub_folders(source)):
        return f"{source} is not in the local HF cache"  # said without importing huggingface_hub (~0.2 s)
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        config = try_to_load_from_cache(source, "config.json")
        weights = [try_to_load_from_cache(source, name) for name in WEIGHT_FILES]
    except Exception:  # not a valid repo name: nothing of it is cached
        return f"{source} is not a valid model id"
    if not isinstance(config, str) or not any(isinstance(w, str) for w in weights):
        return f"{source} is not in the local HF cache"
    return None


def _hub_folders(repo_id: str) -> list[Path]:
    """Every folder the HF cache can hold hub model `repo_id` in, wherever its settings put the cache
    (HF_HUB_CACHE, the older HUGGINGFACE_HUB_CACHE, HF_HOME, XDG_CACHE_HOME, the staging cache): where none
    of them exists, huggingface_hub finds nothing of it either."""
    import os

    home = Path(os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "huggingface")
    caches = [os.environ.get("HF_HUB_CACHE"), os.environ.get("HUGGINGFACE_HUB_CACHE"), home / "hub",
              "~/.cache/huggingface/hub", "~/.cache/huggingface_staging/hub"]  # fmt: skip
    name = "--".join(["models", *repo_id.split("/")])
    return [Path(os.path.expandvars(os.path.expanduser(str(c)))) / name for c in caches if c]


def _unavailable_reason(model_id_or_path: str | Path, err: Exception) -> str:
    text = str(err).strip()
    detail = text.splitlines()[0][:200] if text else type(err).__name__
    source = str(model_id_or_path)
    looks_local = Path(source).exists() or source.startswith(("/", ".", "~"))
    hint = "" if looks_local else f"; fetch it once with `hf download {source}`"
    return f"CLIP model {model_id_or_path} could not be loaded offline ({detail}){hint}"
