"""Where a diffusion pipeline's weights live while it runs (its offload), chosen in one place.

An offload is one of: all on the GPU (`none`), whole models moved on and off as they are used
(`model_offload`), blocks streamed in ahead of use (`group_offload`), or every layer moved on demand
(`sequential_offload`, slowest, least memory). `choose_offload` is a pure function of free VRAM and
model size; `lighter` gives the next offload to try after a CUDA OOM. Briefs choose one with the
diffusers backend's `memory_plan` option; in code, a "plan" is only ever the shot plan.
"""

from __future__ import annotations

from typing import Any, Literal

Offload = Literal["none", "model_offload", "group_offload", "sequential_offload"]
OFFLOADS: tuple[Offload, ...] = ("none", "model_offload", "group_offload", "sequential_offload")

GiB = 1024**3

# Working memory a family needs beside its weights at its native size (latents, attention,
# VAE decode with tiling), measured loosely; used only to pick an offload.
ACTIVATION_BYTES: dict[str, int] = {
    "wan": 3 * GiB,
    "wan2.2": 6 * GiB,
    "wan2.2-ti2v": 5 * GiB,
    "ltx": 3 * GiB,
    "cogvideox": 4 * GiB,
    "cogvideox1.5": 6 * GiB,
    "mochi": 8 * GiB,
    "hunyuan": 8 * GiB,
    "animatediff": 2 * GiB,
}
DEFAULT_ACTIVATION = 4 * GiB
# Group offloading keeps a couple of blocks and their prefetch on the GPU.
GROUP_RESIDENT_FRACTION = 0.15
# Without a figure for the largest component, assume it is this share of the whole.
LARGEST_COMPONENT_FRACTION = 0.6


def choose_offload(free_vram_bytes: int, model_size_bytes: int, family: str | None = None,
                   largest_component_bytes: int | None = None) -> Offload:
    """The fastest offload that fits `model_size_bytes` of weights in `free_vram_bytes` of VRAM."""
    work = ACTIVATION_BYTES.get(family or "", DEFAULT_ACTIVATION)
    largest = largest_component_bytes or int(model_size_bytes * LARGEST_COMPONENT_FRACTION)
    if free_vram_bytes >= model_size_bytes + work:
        return "none"
    if free_vram_bytes >= largest + work:
        return "model_offload"
    if free_vram_bytes >= int(largest * GROUP_RESIDENT_FRACTION) + work:
        return "group_offload"
    return "sequential_offload"


def lighter(offload: Offload) -> Offload | None:
    """The next offload using less VRAM, or None when `offload` is already the lightest."""
    i = OFFLOADS.index(offload)
    return OFFLOADS[i + 1] if i + 1 < len(OFFLOADS) else None


def module_bytes(module: Any) -> int:
    """Bytes of a torch module's parameters and buffers."""
    tensors = list(module.parameters()) + list(module.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def pipeline_sizes(pipe: Any) -> tuple[int, int]:
    """(total bytes, largest component bytes) of a diffusers pipeline's torch modules."""
    import torch

    sizes = [module_bytes(m) for m in pipe.components.values() if isinstance(m, torch.nn.Module)]
    return sum(sizes), max(sizes, default=0)


def apply_offload(pipe: Any, offload: Offload, device: str) -> None:
    """Place `pipe` on `device` with `offload` (CPU pipelines always run with `none`)."""
    if offload == "none" or not device.startswith("cuda"):
        pipe.to(device)
    elif offload == "model_offload":
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "group_offload":
        _group_offload(pipe, device)
    elif offload == "sequential_offload":
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        raise ValueError(f"unknown offload '{offload}'; known: {', '.join(OFFLOADS)}")


def _group_offload(pipe: Any, device: str) -> None:
    import torch
    from diffusers.hooks import apply_group_offloading

    for module in pipe.components.values():
        if not isinstance(module, torch.nn.Module):
            continue
        if hasattr(module, "enable_group_offload"):  # diffusers models
            module.enable_group_offload(onload_device=torch.device(device), offload_type="leaf_level",
                                        use_stream=True)
        else:  # transformers text encoders
            apply_group_offloading(module, onload_device=torch.device(device), offload_type="leaf_level",
                                   use_stream=True)


def remove_offload(pipe: Any) -> None:
    """Undo accelerate offload hooks so a lighter offload can be applied (group hooks need a reload)."""
    if hasattr(pipe, "remove_all_hooks"):
        pipe.remove_all_hooks()
    pipe.to("cpu")


def free_vram(device: str) -> int:
    """Free bytes on a CUDA device (0 when there is none)."""
    import torch

    if not device.startswith("cuda") or not torch.cuda.is_available():
        return 0
    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return int(free)
