"""Offloads for diffusion pipelines, chosen and placed in one place.

An offload says where weights live while a pipeline runs: all on the device (`none`), whole models moved
on and off as they are used (`model_offload`, accelerate), one transformer block at a time streamed
in ahead of use (`group_offload`, diffusers' block-level group offloading), or every layer on demand
(`sequential_offload`, diffusers' leaf-level group offloading: "equivalent to sequential CPU offloading"
in diffusers' memory guide, and unlike accelerate's sequential hooks it also runs with the CPU as the
onload device, so the tests run it). `choose_offload` is a pure function of free memory and model size;
`lighter` gives the next offload to try after an out-of-memory error. Every offload places on any device:
on CPU the hooks run with the CPU as both devices, which is how the tests exercise them.

Device memory is shared: `device_job` lets one job at a time use a device in this process, so a
job's peak is its own, and `oom_attributable` tells an OOM this job caused from one caused by another
process taking memory meanwhile (which must not downgrade the offload).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

Offload = Literal["none", "model_offload", "group_offload", "sequential_offload"]
OFFLOADS: tuple[Offload, ...] = ("none", "model_offload", "group_offload", "sequential_offload")

GiB = 1024**3

# Working memory a family needs beside its weights at its native size (latents, attention, a tiled
# VAE decode); loose figures used only to pick an offload. bench/gpu_check.py measures the real peaks.
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
    # image-to-video: the keyframe's latents ride along (Wan 2.1 I2V: its CLIP image tokens too)
    "wan-i2v": 4 * GiB,
    "wan2.2-i2v": 6 * GiB,
    "cogvideox-i2v": 4 * GiB,
    # keyframes (one image at about a megapixel)
    "sdxl": 3 * GiB,
    "sd": 2 * GiB,
    "flux-schnell": 6 * GiB,
    "flux-dev": 6 * GiB,
}
DEFAULT_ACTIVATION = 4 * GiB
# Group offloading keeps a couple of blocks and their prefetch on the device.
GROUP_RESIDENT_FRACTION = 0.15
# Without a figure for the largest component, assume it is this share of the whole.
LARGEST_COMPONENT_FRACTION = 0.6
# An OOM counts as another process's doing when others took at least this much more meanwhile.
FOREIGN_GROWTH_BYTES = GiB // 2

# An untiled VAE decode, estimated as (channels at full resolution x copies alive) values per output
# pixel, times the frames decoded at once (None: all of them). From the decoders' widths (Wan keeps
# a causal cache and decodes one latent frame = 4 output frames at a time; CogVideoX two latent
# frames; AnimateDiff's 2D VAE a chunk of 16 frames). Estimates, not measurements: bench/gpu_check.py
# measures the tiled and untiled peaks per family.
DECODE_VALUES_PER_PIXEL: dict[str, int] = {
    "wan": 96 * 4, "wan2.2": 96 * 4, "wan2.2-ti2v": 256 * 4, "ltx": 128 * 3, "cogvideox": 128 * 8,
    "cogvideox1.5": 128 * 8, "mochi": 128 * 4, "hunyuan": 128 * 4, "animatediff": 128 * 4,
    "wan-i2v": 96 * 4, "wan2.2-i2v": 96 * 4, "cogvideox-i2v": 128 * 8,
}
DECODE_FRAMES_AT_ONCE: dict[str, int | None] = {
    "wan": 4, "wan2.2": 4, "wan2.2-ti2v": 4, "cogvideox": 8, "cogvideox1.5": 8, "animatediff": 16,
    "wan-i2v": 4, "wan2.2-i2v": 4, "cogvideox-i2v": 8,
}


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


# 1. Placement ----------------------------------------------------------------------------------


def apply_offload(pipe: Any, offload: Offload, device: str) -> None:
    """Place `pipe` on `device` according to `offload` (the CPU works as an onload device too)."""
    if offload == "none":
        pipe.to(device)
    elif offload == "model_offload":
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "group_offload":
        _group_offload(pipe, device, "block_level")
    elif offload == "sequential_offload":
        _group_offload(pipe, device, "leaf_level")
    else:
        raise ValueError(f"unknown offload '{offload}'; known: {', '.join(OFFLOADS)}")


def _group_offload(pipe: Any, device: str, level: str) -> None:
    """Group offloading: diffusers models block by block (or leaf by leaf); text encoders, whose blocks
    sit below the top level, always leaf by leaf (a block-level pass would move them whole)."""
    import torch
    from diffusers.hooks import apply_group_offloading

    onload = torch.device(device)
    streams = onload.type == "cuda"  # prefetch the next group on a side stream
    for module in pipe.components.values():
        if not isinstance(module, torch.nn.Module):
            continue
        if hasattr(module, "enable_group_offload") and level == "block_level" and _has_block_list(module):
            module.enable_group_offload(onload_device=onload, offload_type="block_level", num_blocks_per_group=1,
                                        use_stream=streams)
        else:
            apply_group_offloading(module, onload_device=onload, offload_type="leaf_level", use_stream=streams)


def _has_block_list(module: Any) -> bool:
    import torch

    return any(isinstance(c, torch.nn.ModuleList | torch.nn.Sequential) for c in module.children())


def remove_offload(pipe: Any, offload: Offload) -> bool:
    """Undo `offload` in place and leave the weights on the CPU; False when only a reload can (group hooks)."""
    if offload in ("group_offload", "sequential_offload"):
        return False
    if hasattr(pipe, "remove_all_hooks"):
        pipe.remove_all_hooks()
    pipe.to("cpu")
    return True


def is_oom(exc: BaseException) -> bool:
    """Whether `exc` is an accelerator (or CPU allocator) out-of-memory error."""
    import torch

    return isinstance(exc, torch.OutOfMemoryError)


def empty_cache(device: str) -> None:
    """Give cached blocks back to the device after an OOM or an offload change."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()


# 2. How much memory there is ---------------------------------------------------------------------


def free_vram(device: str) -> int:
    """Free bytes on a CUDA device (0 when there is none)."""
    import torch

    if not device.startswith("cuda") or not torch.cuda.is_available():
        return 0
    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return int(free)


def free_bytes(device: str) -> int:
    """Memory a job could still take on `device`: free VRAM on CUDA, available RAM on the CPU."""
    if device.startswith("cuda"):
        return free_vram(device)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os

    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def others_bytes(device: str) -> int:
    """Device memory held by other processes (total - free - what this process's allocator holds)."""
    import torch

    if not device.startswith("cuda") or not torch.cuda.is_available():
        return 0
    dev = torch.device(device)
    free, total = torch.cuda.mem_get_info(dev)
    return max(0, int(total - free - torch.cuda.memory_reserved(dev)))


def oom_attributable(others_before: int, others_after: int) -> bool:
    """Whether an OOM is this job's own: other processes did not take notably more memory meanwhile."""
    return others_after - others_before < FOREIGN_GROWTH_BYTES


def decode_bytes(family: str, frames: int, width: int, height: int, dtype_bytes: int = 2) -> int:
    """Estimated peak of an untiled VAE decode of `frames` frames at `width` x `height`."""
    values = DECODE_VALUES_PER_PIXEL.get(family, 128 * 4)
    at_once = DECODE_FRAMES_AT_ONCE.get(family) or frames
    return values * min(frames, at_once) * width * height * dtype_bytes


# 3. One job per device ---------------------------------------------------------------------------

_DEVICE_LOCKS: dict[str, threading.RLock] = {}
_GUARD = threading.Lock()


@contextmanager
def device_job(device: str) -> Iterator[None]:
    """Hold `device` for one job: jobs in this process using the same device run one at a time, so
    peak-memory statistics and out-of-memory errors belong to the job that holds it."""
    key = device if ":" in device or device == "cpu" else f"{device}:0"
    with _GUARD:
        lock = _DEVICE_LOCKS.setdefault(key, threading.RLock())
    with lock:
        yield


# 4. Several pipelines on one device ---------------------------------------------------------------

# Hosted pipelines per device, least recently used first (weak: a dropped backend leaves by itself).
_RESIDENTS: dict[str, list[weakref.ref]] = {}


def resident_bytes(pipe: Any, offload: Offload, family: str | None = None) -> int:
    """Device bytes a pipeline needs while it runs under `offload`: the weights it keeps on the device
    (all, the largest model, a block or two, none) plus its family's working memory."""
    total, largest = pipeline_sizes(pipe)
    work = ACTIVATION_BYTES.get(family or "", DEFAULT_ACTIVATION)
    weights = {"none": total, "model_offload": largest, "group_offload": int(largest * GROUP_RESIDENT_FRACTION),
               "sequential_offload": 0}[offload]
    return weights + work


def to_park(free: int, need: int, others: list[tuple[Any, int]]) -> list[Any]:
    """Which of `others` (least recently used first, with the device bytes each frees when parked) to
    park so that `need` bytes fit in `free`: none when they fit already, else the fewest from the front."""
    chosen = []
    for key, frees in others:
        if free >= need:
            break
        if frees > 0:
            chosen.append(key)
            free += frees
    return chosen


def make_room(device: str, host: Any, need: int, free: int | None = None) -> list[Any]:
    """Mark `host` as the latest pipeline on `device` and park (weights to the CPU) the least recently
    used others until `need` bytes are free (`free`: what the device has, measured when None); returns the
    hosts parked. Without a CUDA device nothing is measured, so nothing moves unless `free` is given."""
    key = device if ":" in device or device == "cpu" else f"{device}:0"
    with _GUARD:
        refs = [r for r in _RESIDENTS.get(key, []) if r() is not None and r() is not host]
        _RESIDENTS[key] = [*refs, weakref.ref(host)]
        others = [r() for r in refs]
    if free is None and not device.startswith("cuda"):
        return []
    held = [(o, resident_bytes(o.pipe, "none") if _holds(o) else 0) for o in others if o is not None]
    return [o for o in to_park(free_vram(device) if free is None else free, need, held) if o.park()]


def _holds(host: Any) -> bool:
    """Whether a host keeps weights on its device between calls (fully resident and not parked)."""
    return getattr(host, "pipe", None) is not None and host.offload == "none" and not host.parked
