"""The diffusers image backend: keyframes, the product composed into a generated scene.

The product is cut out of its reference image (`generators.matte`: the PNG's alpha, else a computed
matte, else the whole image as a card), placed on the canvas, and an inpainting pipeline generates the
scene around it, so the light and perspective of the scene are made to fit the product in place; the
product's own pixels are then put back exactly over the result. Without a product image the keyframe
is text-to-image alone (the inpainting pipeline with the whole canvas masked).

Default model: SDXL inpainting 0.1 (`diffusers/stable-diffusion-xl-1.0-inpainting-0.1`), a UNet trained
to see the mask, under CreativeML OpenRAIL++-M: commercial use of the output is allowed, with the
license's use restrictions (Attachment A) passed on. FLUX.1 [schnell] (Apache-2.0, no restrictions, but
no inpainting checkpoint: it runs here as FluxInpaintPipeline, repainting) is the alternative; FLUX.1
Fill [dev] is non-commercial and not a default. Hosting (memory plan, OOM fallback, prompt cache,
parking beside the video model) is `generators.diffusers_host`'s.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from generators import hub
from generators.base import ImageGenerator, ImageRequest, ImageTake
from generators.diffusers_host import MARKER, HostOptions, PipelineHost
from generators.errors import TakeFailed
from generators.image_families import (
    INPAINT_CLASSES,
    ImageFamily,
    detect_image_family,
    get_image_family,
    snap_image,
)
from generators.licenses import license_of
from generators.matte import Cutout, Placement, composite, gradient, load_cutout, place
from generators.memory import device_job

DEFAULT_KEYFRAME_MODEL = "diffusers/stable-diffusion-xl-1.0-inpainting-0.1"
# Said of every product keyframe, after the shot's prompt: the scene is built around the product.
PRODUCT_SUFFIX = ("{name} in the scene, professional product photograph, the light and shadows of the scene "
                  "falling on the product, consistent perspective")
NEUTRAL = ((58, 58, 64), (150, 150, 156))  # canvas under the product when the brief has no palette


class DiffusersImage(PipelineHost, ImageGenerator):
    """A diffusers inpainting (or text-to-image) pipeline making keyframes, by hub id or local path."""

    name: ClassVar[str] = "diffusers"
    extra: ClassVar[str | None] = "ml"

    class Options(HostOptions):
        model: str = DEFAULT_KEYFRAME_MODEL
        max_side: int | None = Field(default=None, gt=0)  # cap on the keyframe's long side
        strength: float | None = Field(default=None, gt=0, le=1)  # the family's when None
        product_height: float = Field(default=0.6, gt=0, le=1)  # the product's largest share of the frame
        product_centre: tuple[float, float] = (0.5, 0.55)  # where it stands (fractions of width, height)
        prompt_suffix: str = PRODUCT_SUFFIX

    def __init__(self, options: dict[str, Any] | Any = None) -> None:
        super().__init__(options)
        self._init_host()
        self.converted_from: str | None = None

    def identity(self) -> dict[str, Any]:
        """Backend, options, family and model revision: what decides a keyframe besides its request."""
        o = self.options
        self._fetch_marker()
        return {"backend": f"{self.name}-image", "options": o.model_dump(mode="json"),
                "family": self.family.name if self.family else (o.family or self._family_from_files()),
                "revision": hub.revision_of(o.model, MARKER, o.revision)}

    # Family hooks --------------------------------------------------------------------------------

    def _family_of(self, name: str) -> ImageFamily:
        return get_image_family(name)

    def _detect_family(self, pipe: Any) -> str:
        transformer = getattr(pipe, "transformer", None)
        return detect_image_family({"_class_name": self.converted_from or type(pipe).__name__},
                                   dict(transformer.config) if transformer is not None else None)

    def _family_from_files(self) -> str | None:
        index = self._model_index()
        if index is None:
            return None
        folder = hub.local_folder(self.options.model, MARKER, self.options.revision)
        tconf = folder / "transformer" / "config.json" if folder else None
        try:
            return detect_image_family(index, json.loads(tconf.read_text()) if tconf and tconf.exists() else None)
        except (KeyError, OSError, json.JSONDecodeError):
            return None

    # Loading -------------------------------------------------------------------------------------

    def load(self) -> None:
        """Load the pipeline once (a text-to-image checkpoint as its family's inpainting pipeline)."""
        self._load_host()
        self.loaded = True

    def _load_pipeline(self, dtypes: dict[str, Any]) -> Any:
        pipe = super()._load_pipeline(dtypes)
        if type(pipe).__name__ in INPAINT_CLASSES:
            return pipe
        from diffusers import AutoPipelineForInpainting

        self.converted_from = type(pipe).__name__
        inpaint = AutoPipelineForInpainting.from_pipe(pipe)
        self.setup_notes.append(f"{self.converted_from} weights run as {type(inpaint).__name__}")
        return inpaint

    # Making a keyframe ---------------------------------------------------------------------------

    def render(self, request: ImageRequest, out: Path) -> ImageTake:
        """Make one keyframe into the PNG `out` (written atomically)."""
        image, meta = self.render_image(request)
        write_png(out, image)
        return ImageTake(path=Path(out), width=image.shape[1], height=image.shape[0], metadata=meta)

    def render_image(self, request: ImageRequest) -> tuple[np.ndarray, dict[str, Any]]:
        """The keyframe uint8 [H,W,3] at the request's size, and how it was made."""
        self.ensure_loaded()
        o, fam = self.options, self.family
        # 1. the canvas: the product placed over a palette-coloured ground, and what the model may paint
        width, height = snap_image(fam, request.width, request.height, o.max_side)
        cut = load_cutout(request.product_image) if request.product_image else None
        canvas, layer, alpha = self._canvas(cut, (width, height), request.palette)
        mask = 1.0 - (alpha > 0.5) if cut is not None else np.ones((height, width), np.float32)
        kwargs = self._call_kwargs(request, canvas, mask, cut)
        # 2. generate the scene around the product
        with device_job(self.device):
            started = time.perf_counter()
            self._reset_peak()
            out = self._run(kwargs, request.seed)
            render_s = time.perf_counter() - started
        raw = np.asarray(out.images[0], dtype=np.float32)
        reason = "NaN or infinite values" if not np.isfinite(raw).all() else "all black" if raw.max() <= 0.02 else None
        if reason:
            raise TakeFailed(f"{fam.name}: the keyframe came out {reason} (seed {request.seed})")
        image = _to_uint8(raw)
        # 3. the product's own pixels back over the scene, then the request's size
        if cut is not None:
            image = composite(image, layer, alpha)
        meta = self._metadata(request, kwargs, cut, (width, height), render_s)
        return _resize(image, (request.width, request.height)), meta

    def _canvas(self, cut: Cutout | None, size: tuple[int, int],
                palette: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """The init image (product over a ground from the palette), the product layer and its alpha."""
        colours = [_rgb(c) for c in palette[:2]] or list(NEUTRAL)
        ground = gradient(size, colours[0], colours[-1])
        if cut is None:
            return ground, np.zeros_like(ground), np.zeros(ground.shape[:2], np.float32)
        where = Placement(centre=tuple(self.options.product_centre), height=self.options.product_height)
        layer, alpha = place(cut, size, where)
        return composite(ground, layer, alpha), layer, alpha

    def _call_kwargs(self, request: ImageRequest, canvas: np.ndarray, mask: np.ndarray,
                     cut: Cutout | None) -> dict[str, Any]:  # fmt: skip
        import inspect

        from PIL import Image

        o, fam = self.options, self.family
        prompt = request.prompt
        if cut is not None and o.prompt_suffix:
            name = request.product_name or "the product"
            prompt = f"{prompt.rstrip(' .,')}, {o.prompt_suffix.format(name=name)}"
        kwargs: dict[str, Any] = {
            "prompt": prompt, "image": Image.fromarray(canvas),
            "mask_image": Image.fromarray((mask * 255).astype(np.uint8), "L"),
            "width": canvas.shape[1], "height": canvas.shape[0], "num_inference_steps": o.steps or fam.steps,
            "guidance_scale": fam.guidance_scale if o.guidance_scale is None else o.guidance_scale,
            "output_type": "np", **fam.call_kwargs,
        }
        if o.strength is not None:
            kwargs["strength"] = o.strength
        if request.negative_prompt:
            kwargs["negative_prompt"] = request.negative_prompt
        kwargs.update(o.call_kwargs)
        accepted = inspect.signature(type(self.pipe).__call__).parameters
        return {k: v for k, v in kwargs.items() if k in accepted or "kwargs" in accepted}

    def _metadata(self, request: ImageRequest, kwargs: dict[str, Any], cut: Cutout | None, size: tuple[int, int],
                  render_s: float) -> dict[str, Any]:
        o, fam = self.options, self.family
        product = None
        if cut is not None:
            product = {"matte": cut.method, "coverage": round(cut.coverage, 4), "pixels_kept": True,
                       "centre": list(o.product_centre), "height": o.product_height}
        return {
            "backend": f"{self.name}-image", "model": o.model,
            "revision": hub.revision_of(o.model, MARKER, o.revision), "family": fam.name,
            "pipeline": type(self.pipe).__name__, "seed": request.seed, "license": license_of(o.model),
            "mode": "product composed, scene inpainted" if cut is not None else "text-to-image",
            "prompt": kwargs["prompt"], "product": product,
            "parameters": {"steps": kwargs.get("num_inference_steps"), "guidance_scale": kwargs.get("guidance_scale"),
                           "strength": kwargs.get("strength"), "width": size[0], "height": size[1],
                           "scheduler": type(self.pipe.scheduler).__name__, "dtype": str(self.dtype).removeprefix("torch."),
                           "device": self.device, "negative_prompt": request.negative_prompt},
            **self._placement(), "notes": self.setup_notes + self.notes,
            "timings": {"load_s": round(self.load_seconds, 4), "render_s": round(render_s, 4)},
            **self._peak_memory(),
        }


def write_png(path: Path, image: np.ndarray) -> None:
    """Write uint8 RGB [H,W,3] as a PNG through a temporary file and a rename."""
    import os
    import threading

    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}-{threading.get_ident()}.part.png")
    Image.fromarray(image).save(tmp)
    tmp.replace(path)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    if (image.shape[1], image.shape[0]) == tuple(size):
        return image
    return np.asarray(Image.fromarray(image).resize(size, Image.LANCZOS))


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def build_smoke(cache_dir: Path, variant: str | None = None) -> dict[str, Any]:
    """Build the tiny keyframe pipeline `variant` ("sdxl-inpaint", "sdxl", "flux") and return its options."""
    from generators.tiny_i2v import build_image

    folder = build_image(cache_dir, variant or "sdxl-inpaint")
    return {"model": str(folder), "steps": 2, "max_side": 32}
