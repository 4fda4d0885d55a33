"""Keyframe first, then motion: a product shot as a still with the real product in it, then animated.

1. The keyframe: the image backend (`generators.image_diffusers`) composes the product reference image
   into a scene generated around it (a shot that does not show the product gets a text-to-image still).
   It is made at the size the image-to-video model renders, seeded by the take's seed, and kept in the
   media cache under a hash of what decides it (model, options, prompt, seed, size, the product image's
   bytes) with its provenance beside it, so a re-render of the same still (another I2V setting, a retry
   after a crash) reuses it.
2. The motion: the family's image-to-video pipeline, hosted like the text-to-video one (memory plan,
   OOM fallback, prompt cache; `generators.diffusers_host`), with the keyframe as its first frame.
   The I2V model is the video backend's `i2v_model` option, else the family's default
   (`families.I2V_MODELS`: its own weights for LTX-Video and Wan2.2-TI2V-5B, the published I2V checkpoint
   for Wan 2.1/2.2 and CogVideoX); families without one render text-to-video and say so.

The keyframe model and the video models need not fit on the device together: each host makes room
before it runs (`memory.make_room` parks the others' weights on the CPU).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from generators import hub
from generators.base import ImageRequest, ShotRequest
from generators.families import I2V_CLASSES, I2V_MODELS, I2V_PIPELINES, SAME_MODEL

if TYPE_CHECKING:
    from generators.image_diffusers import DiffusersImage
    from generators.video_diffusers import DiffusersVideo

# Video options the image-to-video and keyframe pipelines take from the text-to-video backend's.
SHARED_OPTIONS = ("device", "dtype", "memory_plan", "vae_tiling", "text_cache_mb")
I2V_SHARED = (*SHARED_OPTIONS, "fp8", "step_cache", "step_cache_threshold", "max_side", "max_frames", "retime",
              "steps", "poison_latents")
# Request fields a keyframe take does not depend on.
KEYFRAME_IGNORES = frozenset({"title", "caption", "shot_index", "role", "brand_name", "logo", "language", "font",
                              "caption_enters", "footage", "footage_ranking"})


class KeyframeMotion:
    """The keyframe-then-image-to-video path of one diffusers video backend (models load on first use)."""

    ignores = KEYFRAME_IGNORES

    def __init__(self, video: DiffusersVideo) -> None:
        self.video = video
        self._i2v: DiffusersVideo | None = None
        self._image: DiffusersImage | None = None
        self._unavailable: str | None = None

    # 1. Which models -------------------------------------------------------------------------------

    def video_is_i2v(self) -> bool:
        """Whether the backend's own model is an image-to-video pipeline (then every shot needs a keyframe)."""
        o = self.video.options
        return (o.pipeline or _class_name(o.model, o.revision) or "") in I2V_CLASSES

    def target(self) -> str | None:
        """The image-to-video model id or path, or None when the family has none."""
        o = self.video.options
        if self.video_is_i2v():
            return o.model
        choice = o.i2v_model if o.i2v_model is not None else I2V_MODELS.get(self._family() or "")
        return o.model if choice == SAME_MODEL else choice

    def applies(self, request: ShotRequest) -> bool:
        """Whether `request` renders keyframe first (a model that animates images always does; otherwise
        only where the image-to-video and keyframe models can be had)."""
        if self.video_is_i2v():
            return True
        return request.keyframe and self.target() is not None and self.unavailable() is None

    def why_not(self) -> str:
        """Why a shot that asked for a keyframe rendered text-to-video."""
        if self.target() is None:
            return (f"keyframe asked for, but the {self._family() or 'unknown'} family has no image-to-video model "
                    f"here: rendered text-to-video (set the video option i2v_model)")
        return f"keyframe asked for, but {self.unavailable()}: rendered text-to-video"

    def unavailable(self) -> str | None:
        """Why the image-to-video or keyframe model cannot be had (a missing folder, not cached with the hub
        off, gated), or None; asked once per backend, before any weights load."""
        if self._unavailable is None:
            from generators.diffusers_setup import MARKER
            from generators.image_diffusers import DEFAULT_KEYFRAME_MODEL

            models = [self.target(), self.video.options.keyframe_model or DEFAULT_KEYFRAME_MODEL]
            problems = [hub.access_problem(m, MARKER, "diffusers") for m in models if m]
            self._unavailable = next((p for p in problems if p), "")
        return self._unavailable or None

    def _family(self) -> str | None:
        v = self.video
        if v.family is not None:
            return v.family.name
        from generators.families import family_hint

        return v.options.family or v._family_from_files() or family_hint(v.options.model)

    def i2v(self) -> DiffusersVideo:
        """The image-to-video backend: this backend itself when its model animates images, else a child."""
        if self.video_is_i2v():
            return self.video
        if self._i2v is None:
            from generators.video_diffusers import DiffusersVideo

            o, model = self.video.options, self.target()
            inherited = {k: getattr(o, k) for k in I2V_SHARED if getattr(o, k) is not None}
            cls = _class_name(model, None)
            pipeline = I2V_PIPELINES.get(cls or "") if model != o.model else I2V_PIPELINES.get(cls or _t2v_class(o))
            self._i2v = DiffusersVideo({**inherited, "model": model, "pipeline": pipeline, **o.i2v_options})
        return self._i2v

    def image(self) -> DiffusersImage:
        """The keyframe (image) backend."""
        if self._image is None:
            from generators.image_diffusers import DEFAULT_KEYFRAME_MODEL, DiffusersImage

            o = self.video.options
            inherited = {k: getattr(o, k) for k in (*SHARED_OPTIONS, "max_side") if getattr(o, k) is not None}
            self._image = DiffusersImage({**inherited, "model": o.keyframe_model or DEFAULT_KEYFRAME_MODEL,
                                          **o.keyframe_options})
        return self._image

    def identity(self) -> dict[str, Any]:
        """What decides a keyframe-first take besides its request: the video backend's own identity (it may
        be the I2V model), the keyframe model's and the I2V model's, and whether LoRAs reach the I2V model."""
        return {**self.video.identity(), "mode": "keyframe+i2v", "keyframe": self.image().identity(),
                "i2v": self.i2v().identity(), "i2v_lora": self._lora_applies()}

    def _lora_applies(self) -> bool:
        o = self.video.options
        return o.i2v_lora if o.i2v_lora is not None else self.target() == o.model

    # 2. Rendering ----------------------------------------------------------------------------------

    def render(self, request: ShotRequest) -> tuple[np.ndarray, dict[str, Any]]:
        """The keyframe (cached or made), then the clip animated from it, and the clip's metadata."""
        from PIL import Image

        i2v = self.i2v()
        snapped = i2v.snapped(request)
        still = ImageRequest(
            prompt=request.prompt, negative_prompt=request.negative_prompt, width=snapped.width,
            height=snapped.height, seed=request.seed, product_name=request.product_name, palette=request.palette,
            product_image=request.product_image if request.shows_product else None,
        )  # fmt: skip
        frame, kmeta = self.keyframe(still, request.media_dir)
        lora = self._lora_applies()
        frames, meta = i2v.render_frames(request if lora else request.model_copy(update={"lora": []}),
                                         image=Image.fromarray(frame))
        meta["keyframe"] = kmeta
        meta["mode"] = "keyframe + image-to-video"
        if request.lora and not lora:
            meta["notes"].append(f"LoRA not applied to the image-to-video model {i2v.options.model} (trained for "
                                 f"{self.video.options.model}); set the video option i2v_lora: true to apply it")
        return frames, meta

    def keyframe(self, request: ImageRequest, media_dir: Path | None) -> tuple[np.ndarray, dict[str, Any]]:
        """The keyframe uint8 [H,W,3] from the media cache, else made (and kept there), with its provenance."""
        key = keyframe_key(self.image().identity(), request)
        path = media_dir / "keyframes" / key[:2] / f"{key}.png" if media_dir is not None else None
        found = read_keyframe(path) if path is not None else None
        if found is not None:
            frame, meta = found
            return frame, {**meta, "cache_key": key, "path": str(path), "reused": True}
        frame, meta = self.image().render_image(request)
        meta = {**meta, "cache_key": key, "path": str(path) if path else None, "reused": False}
        if path is not None:
            meta["path"] = write_keyframe(path, frame, meta)
        return frame, meta


def keyframe_key(identity: dict[str, Any], request: ImageRequest) -> str:
    """A content hash of what decides a keyframe: the image backend's identity and the request, with the
    product image by its bytes (not its path)."""
    fields = request.model_dump(mode="json")
    if request.product_image is not None:
        fields["product_image"] = hashlib.sha256(Path(request.product_image).read_bytes()).hexdigest()
    blob = json.dumps({"kind": "keyframe", "identity": identity, "request": fields}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def read_keyframe(path: Path) -> tuple[np.ndarray, dict[str, Any]] | None:
    """A kept keyframe and its provenance, or None when either file is missing or unreadable."""
    from PIL import Image

    sidecar = path.with_suffix(".json")
    try:
        with Image.open(path) as im:
            frame = np.asarray(im.convert("RGB"))
        return frame, json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return None


def write_keyframe(path: Path, frame: np.ndarray, meta: dict[str, Any]) -> str | None:
    """Keep a keyframe (PNG, then its provenance beside it; each written atomically); the path, or None when
    the media folder cannot be written (the take still renders, uncached)."""
    from generators.image_diffusers import write_png

    try:
        write_png(path, frame)
        tmp = path.with_name(f".{path.stem}.{id(meta)}.part.json")
        tmp.write_text(json.dumps(meta, default=str))
        tmp.replace(path.with_suffix(".json"))
    except OSError:
        return None
    return str(path)


def _class_name(model: str | None, revision: str | None) -> str | None:
    """The pipeline class a model's model_index.json names, when it is local or cached."""
    if not model:
        return None
    folder = hub.local_folder(model, "model_index.json", revision)
    try:
        return json.loads((folder / "model_index.json").read_text()).get("_class_name") if folder else None
    except (OSError, ValueError):
        return None


def _t2v_class(options: Any) -> str | None:
    """The text-to-video pipeline class of the backend's family, from its option or its model's name (for a
    hub model not yet cached)."""
    from generators.families import family_hint, get_family

    name = options.family or family_hint(options.model)
    try:
        return get_family(name).pipeline if name else None
    except KeyError:
        return None


# Smoke names -> (text-to-video smoke name or None, tiny image-to-video builder or None: the same model,
# image-to-video option overrides). Every image-to-video family offered, on tiny models.
I2V_SMOKE: dict[str, tuple[str | None, str | None, dict[str, Any]]] = {
    "wan-i2v": ("wan", "wan-i2v", {}),
    "wan2.2-i2v": ("wan2.2", "wan2.2-i2v", {}),
    "wan2.2-ti2v": (None, "wan2.2-ti2v", {}),
    "ltx-i2v": ("ltx", None, {}),
    "ltx-condition": ("ltx", None, {"pipeline": "LTXConditionPipeline"}),
    "cogvideox-i2v": ("cogvideox", "cogvideox-i2v", {}),
}


def build_smoke(cache_dir: Path, variant: str | None = None) -> dict[str, Any]:
    """Video options for the tiny keyframe-then-motion path `variant` (a key of I2V_SMOKE): the text-to-video
    model, its image-to-video model and the tiny keyframe model."""
    from generators.tiny_i2v import build_i2v, build_image
    from generators.video_diffusers import build_smoke as build_t2v

    t2v, i2v, overrides = I2V_SMOKE[variant or "wan-i2v"]
    if t2v is not None:
        options = build_t2v(cache_dir, t2v)
    else:  # the model is its own image-to-video model
        options = {"model": str(build_i2v(cache_dir, i2v)), "steps": 2, "max_side": 32, "max_frames": 9}
    if t2v is not None and i2v is not None:
        options["i2v_model"] = str(build_i2v(cache_dir, i2v))
    if overrides:
        options["i2v_options"] = overrides
    options["keyframe_model"] = str(build_image(cache_dir, "sdxl-inpaint"))
    options["keyframe_options"] = {"steps": 2}
    return options
