"""What each text-to-image family accepts (keyframes): size multiple, trained size, steps, guidance, dtypes.

A keyframe is made by an inpainting pipeline: the product's pixels are kept and the scene is generated
around them. A family's dedicated inpainting checkpoint (SDXL inpainting 0.1: a UNet that sees the mask)
runs as it is; a text-to-image checkpoint runs as its family's inpainting pipeline with the same weights
(`AutoPipelineForInpainting.from_pipe`, repainting the unmasked area each step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ImageFamily:
    """One text-to-image family and the settings its model cards use."""

    name: str
    pipelines: tuple[str, ...]  # diffusers pipeline classes of this family (text-to-image, inpainting)
    size_multiple: int
    native_size: tuple[int, int]  # width, height: the pixel count it was trained at
    steps: int
    guidance_scale: float
    default_dtype: str = "float16"
    dtypes: dict[str, str] = field(default_factory=dict)
    call_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def native_pixels(self) -> int:
        return self.native_size[0] * self.native_size[1]


# SDXL inpainting 0.1's model card: 20 steps, guidance 8.0, strength 0.99 ("keep it below 1.0"); the
# SDXL VAE upcasts itself to float32 for decoding (`force_upcast`). FLUX.1 [schnell] is timestep-
# distilled: 4 steps without guidance (Black Forest Labs' card); FLUX.1 [dev] 28 steps at guidance 3.5.
IMAGE_FAMILIES: dict[str, ImageFamily] = {
    f.name: f
    for f in [
        ImageFamily("sdxl", ("StableDiffusionXLPipeline", "StableDiffusionXLInpaintPipeline"), 8, (1024, 1024),
                    20, 8.0, call_kwargs={"strength": 0.99}),
        ImageFamily("sd", ("StableDiffusionPipeline", "StableDiffusionInpaintPipeline"), 8, (512, 512), 30, 7.5,
                    call_kwargs={"strength": 0.99}),
        ImageFamily("flux-schnell", ("FluxPipeline", "FluxInpaintPipeline"), 16, (1024, 1024), 4, 0.0,
                    default_dtype="bfloat16", call_kwargs={"strength": 1.0, "max_sequence_length": 256}),
        ImageFamily("flux-dev", ("FluxPipeline", "FluxInpaintPipeline"), 16, (1024, 1024), 28, 3.5,
                    default_dtype="bfloat16", call_kwargs={"strength": 1.0}),
    ]
}
INPAINT_CLASSES = frozenset({"StableDiffusionXLInpaintPipeline", "StableDiffusionInpaintPipeline",
                             "FluxInpaintPipeline"})


def get_image_family(name: str) -> ImageFamily:
    """The image family called `name`; an unknown name lists the known ones."""
    if name not in IMAGE_FAMILIES:
        raise KeyError(f"unknown image family '{name}'; known: {', '.join(IMAGE_FAMILIES)}")
    return IMAGE_FAMILIES[name]


def detect_image_family(model_index: dict[str, Any], transformer_config: dict[str, Any] | None = None) -> str:
    """The family of a text-to-image or inpainting pipeline from its model_index.json (and transformer config)."""
    cls = model_index.get("_class_name", "")
    if cls.startswith("Flux"):
        return "flux-dev" if (transformer_config or {}).get("guidance_embeds") else "flux-schnell"
    for fam in IMAGE_FAMILIES.values():
        if cls in fam.pipelines:
            return fam.name
    known = sorted({c for f in IMAGE_FAMILIES.values() for c in f.pipelines})
    raise KeyError(f"pipeline class '{cls}' is not a supported keyframe (text-to-image) family; supported: "
                   f"{', '.join(known)}")


def snap_image(family: ImageFamily, width: int, height: int, max_side: int | None = None) -> tuple[int, int]:
    """A size with the aspect of `width` x `height` at about the family's trained pixel count (capped by
    `max_side`), each side a multiple of the family's."""
    scale = math.sqrt(family.native_pixels / (width * height))
    w, h = width * scale, height * scale
    if max_side and max(w, h) > max_side:
        w, h = w * max_side / max(w, h), h * max_side / max(w, h)
    m = family.size_multiple
    return max(m, round(w / m) * m), max(m, round(h / m) * m)
