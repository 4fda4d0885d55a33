"""What each video model family accepts: frame-count rules, size multiples, native fps and size.

`snap()` turns a shot request into a size and frame count the family renders well, and says what it
changed; `retime()` maps the rendered clip (at the family's native fps) onto exactly
`round(seconds * request.fps)` frames at the request's fps, which assembly expects.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np


@dataclass(frozen=True)
class Family:
    """One video model family and the constraints its pipeline and training impose."""

    name: str
    pipeline: str  # the diffusers pipeline class name in model_index.json
    frame_step: int  # frame counts are frame_step * k + frame_offset
    frame_offset: int
    max_frames: int
    size_multiple: int
    fps: int
    native_size: tuple[int, int]  # width, height
    any_aspect: bool  # trained on several aspect ratios: render the request's aspect
    steps: int
    guidance_scale: float
    fixed_frames: int | None = None  # the model only renders this many frames
    call_kwargs: dict[str, Any] = field(default_factory=dict)
    # On CUDA with dtype "auto": the dtype the model card loads in, and components it loads otherwise.
    default_dtype: str = "bfloat16"
    dtypes: dict[str, str] = field(default_factory=dict)
    # Call arguments that make the pipeline honour a negative prompt (Hunyuan: true CFG, 2x compute).
    negative_kwargs: dict[str, Any] = field(default_factory=dict)

    def valid_frames(self, n: int) -> bool:
        """Whether `n` frames satisfies the family's frame rule."""
        return n >= self.frame_offset and (n - self.frame_offset) % self.frame_step == 0

    def frames_at_least(self, n: int) -> int:
        """The smallest valid frame count >= n."""
        k = max(0, math.ceil((n - self.frame_offset) / self.frame_step))
        return k * self.frame_step + self.frame_offset

    def frames_at_most(self, n: int) -> int:
        """The largest valid frame count <= n (at least the smallest valid count)."""
        k = max(0, (n - self.frame_offset) // self.frame_step)
        return k * self.frame_step + self.frame_offset


# HunyuanVideo is guidance-distilled (its `guidance_scale` is an embedded scale); a negative prompt
# only acts through true classifier-free guidance, `true_cfg_scale` > 1 (diffusers' pipeline docs),
# which doubles the compute. With it the embedded scale goes to 1, as Tencent's own CFG settings do.
HUNYUAN_NEGATIVE = {"true_cfg_scale": 6.0, "guidance_scale": 1.0}

# Wan's model cards load the VAE in float32 and the rest in bfloat16 (diffusers' AutoencoderKLWan docs
# too); HunyuanVideo's diffusers docs load the transformer in bfloat16 and the rest in float16;
# AnimateDiff's in float16; LTX-Video, CogVideoX (5B; the 2B card prefers float16) and Mochi in bfloat16.
WAN_DTYPES = {"vae": "float32"}

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in [
        Family("wan", "WanPipeline", 4, 1, 81, 16, 16, (832, 480), True, 50, 5.0, dtypes=WAN_DTYPES),
        Family("wan2.2", "WanPipeline", 4, 1, 81, 16, 16, (1280, 720), True, 40, 4.0,
               call_kwargs={"guidance_scale_2": 3.0}, dtypes=WAN_DTYPES),
        Family("wan2.2-ti2v", "WanPipeline", 4, 1, 121, 32, 24, (1280, 704), True, 50, 5.0, dtypes=WAN_DTYPES),
        Family("ltx", "LTXPipeline", 8, 1, 257, 32, 24, (768, 512), True, 50, 3.0,
               call_kwargs={"frame_rate": 24}),
        Family("cogvideox", "CogVideoXPipeline", 4, 1, 49, 16, 8, (720, 480), False, 50, 6.0, fixed_frames=49),
        Family("cogvideox1.5", "CogVideoXPipeline", 16, 1, 81, 16, 16, (1360, 768), True, 50, 6.0),
        Family("mochi", "MochiPipeline", 6, 1, 163, 16, 30, (848, 480), False, 64, 4.5),
        Family("hunyuan", "HunyuanVideoPipeline", 4, 1, 129, 16, 24, (1280, 720), True, 50, 6.0,
               default_dtype="float16", dtypes={"transformer": "bfloat16"},
               negative_kwargs=HUNYUAN_NEGATIVE),
        Family("animatediff", "AnimateDiffPipeline", 1, 0, 32, 8, 8, (512, 512), True, 25, 7.5,
               fixed_frames=16, default_dtype="float16"),
        # Image-to-video (the keyframe is the first frame). Wan 2.1 I2V loads its CLIP image encoder in
        # float32 beside the VAE (Wan-AI model card); Wan 2.2 A14B I2V samples 40 steps at guidance 3.5
        # for both experts; CogVideoX-5b-I2V's learned positional embeddings fix its size at 720x480.
        # Wan2.2-TI2V-5B and LTX-Video animate an image with the same weights and rules as their text
        # pipelines (`wan2.2-ti2v`, `ltx` above, loaded as WanImageToVideoPipeline / LTXImageToVideoPipeline).
        Family("wan-i2v", "WanImageToVideoPipeline", 4, 1, 81, 16, 16, (832, 480), True, 50, 5.0,
               dtypes={**WAN_DTYPES, "image_encoder": "float32"}),
        Family("wan2.2-i2v", "WanImageToVideoPipeline", 4, 1, 81, 16, 16, (1280, 720), True, 40, 3.5,
               call_kwargs={"guidance_scale_2": 3.5}, dtypes=WAN_DTYPES),
        Family("cogvideox-i2v", "CogVideoXImageToVideoPipeline", 4, 1, 49, 16, 8, (720, 480), False, 50, 6.0,
               fixed_frames=49, call_kwargs={"use_dynamic_cfg": True}),
    ]
}

# The image-to-video pipeline class that animates a keyframe with a text-to-video pipeline's weights,
# where one exists (diffusers' own pairs).
I2V_PIPELINES = {"WanPipeline": "WanImageToVideoPipeline", "LTXPipeline": "LTXImageToVideoPipeline",
                 "CogVideoXPipeline": "CogVideoXImageToVideoPipeline"}
I2V_CLASSES = frozenset({*I2V_PIPELINES.values(), "LTXConditionPipeline"})
SAME_MODEL = "same"
# The image-to-video model that goes with a text-to-video family by default: its own weights where the
# model animates images itself (SAME_MODEL), else the family's published I2V checkpoint; None where
# diffusers has no image-to-video pipeline for the family (its product shots render text-to-video).
I2V_MODELS: dict[str, str | None] = {
    "wan": "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers",
    "wan2.2": "Wan-AI/Wan2.2-I2V-A14B-Diffusers",
    "wan2.2-ti2v": SAME_MODEL,
    "ltx": SAME_MODEL,
    "cogvideox": "THUDM/CogVideoX-5b-I2V",
    "cogvideox1.5": "THUDM/CogVideoX1.5-5B-I2V",
    "mochi": None,
    "hunyuan": None,
    "animatediff": None,
}


# A family from a hub id alone (before its model_index.json is cached), most specific first.
FAMILY_HINTS: list[tuple[str, str]] = [
    ("ti2v", "wan2.2-ti2v"), ("wan2.2-i2v", "wan2.2-i2v"), ("wan2.2", "wan2.2"), ("wan2.1-i2v", "wan-i2v"),
    ("wan", "wan"), ("ltx", "ltx"), ("cogvideox1.5", "cogvideox1.5"), ("cogvideox-5b-i2v", "cogvideox-i2v"),
    ("cogvideo", "cogvideox"), ("mochi", "mochi"), ("hunyuan", "hunyuan"), ("animatediff", "animatediff"),
    ("animate-diff", "animatediff"),
]


def family_hint(model: str) -> str | None:
    """The family a model id suggests by its name, or None."""
    low = model.lower()
    return next((family for hint, family in FAMILY_HINTS if hint in low), None)


def get_family(name: str) -> Family:
    """The family called `name`; an unknown name lists the known ones."""
    if name not in FAMILIES:
        raise KeyError(f"unknown video family '{name}'; known: {', '.join(FAMILIES)}")
    return FAMILIES[name]


# 1. Detection from a saved pipeline ----------------------------------------------------------


def detect_family(model_index: dict[str, Any], transformer_config: dict[str, Any] | None = None) -> str:
    """The family of a pipeline from its model_index.json (and transformer config where it matters)."""
    cls = model_index.get("_class_name", "")
    tcfg = transformer_config or {}
    if cls in ("WanPipeline", "WanImageToVideoPipeline"):
        i2v = "-i2v" if cls != "WanPipeline" else ""
        if model_index.get("expand_timesteps"):
            return "wan2.2-ti2v"
        if _component_present(model_index, "transformer_2"):
            return "wan2.2" + i2v
        return "wan" + i2v
    if cls in ("CogVideoXPipeline", "CogVideoXImageToVideoPipeline"):
        if tcfg.get("patch_size_t"):
            return "cogvideox1.5"
        return "cogvideox-i2v" if cls != "CogVideoXPipeline" else "cogvideox"
    if cls in ("LTXImageToVideoPipeline", "LTXConditionPipeline"):
        return "ltx"
    for fam in FAMILIES.values():
        if fam.pipeline == cls:
            return fam.name
    known = sorted({f.pipeline for f in FAMILIES.values()})
    raise KeyError(f"pipeline class '{cls}' is not a supported video family; supported: {', '.join(known)}")


def detect_family_in(folder: Path) -> str:
    """Detect the family of a pipeline saved in `folder` (a local path or an HF cache snapshot)."""
    folder = Path(folder)
    index = json.loads((folder / "model_index.json").read_text())
    tconf = folder / "transformer" / "config.json"
    return detect_family(index, json.loads(tconf.read_text()) if tconf.exists() else None)


def _component_present(index: dict[str, Any], name: str) -> bool:
    value = index.get(name)
    return isinstance(value, list | tuple) and len(value) == 2 and value[0] is not None


# 2. Snapping a request -----------------------------------------------------------------------


class Snapped(NamedTuple):
    frames: int
    width: int
    height: int
    fps: int
    changes: list[str]


def snap(family: Family | str, request: Any, max_side: int | None = None,
         max_frames: int | None = None) -> Snapped:
    """Frames, render size and fps for `request` under `family`'s rules, and what was changed."""
    fam = get_family(family) if isinstance(family, str) else family
    changes: list[str] = []
    frames = _snap_frames(fam, request.seconds, max_frames, changes)
    width, height = _snap_size(fam, request.width, request.height, max_side, changes)
    if fam.fps != request.fps:
        changes.append(f"rendered at {fam.name}'s native {fam.fps} fps, retimed to {request.fps} fps")
    return Snapped(frames, width, height, fam.fps, changes)


def _snap_frames(fam: Family, seconds: float, max_frames: int | None, changes: list[str]) -> int:
    wanted = max(1, math.ceil(seconds * fam.fps - 1e-9))
    if fam.fixed_frames:
        frames = fam.fixed_frames
        if frames != wanted:
            changes.append(f"frames {wanted} -> {frames} ({fam.name} renders {frames} frames)")
    else:
        frames = fam.frames_at_least(wanted)
        if frames != wanted:
            changes.append(f"frames {wanted} -> {frames} ({fam.name}: {fam.frame_step}k+{fam.frame_offset})")
    cap = min(fam.max_frames, max_frames or fam.max_frames)
    if frames > cap:
        capped = fam.frames_at_most(cap)
        changes.append(f"frames {frames} -> {capped} (cap {cap})")
        frames = capped
    if frames / fam.fps + 1e-9 < seconds:
        changes.append(f"{frames / fam.fps:.2f} s clip stretched to {seconds:.2f} s")
    return frames


def _snap_size(fam: Family, width: int, height: int, max_side: int | None,
               changes: list[str]) -> tuple[int, int]:
    nw, nh = fam.native_size
    if fam.any_aspect:
        # The request's aspect at about the family's native pixel count, never more pixels than asked
        # (a low --resolution draft renders small).
        scale = min(1.0, math.sqrt(nw * nh / (width * height)))
        w, h = width * scale, height * scale
    else:
        # The native aspect, shrunk while it still covers the request (assembly reframes it).
        scale = min(1.0, max(width / nw, height / nh))
        w, h = nw * scale, nh * scale
        if abs(width / height - nw / nh) > 0.01:
            changes.append(f"aspect {width}:{height} not supported by {fam.name}: rendered at {nw}:{nh}, reframe needed")
    long_cap = min(max(nw, nh), max_side or max(nw, nh))
    if max(w, h) > long_cap:
        shrink = long_cap / max(w, h)
        w, h = w * shrink, h * shrink
    m = fam.size_multiple
    sw, sh = max(m, round(w / m) * m), max(m, round(h / m) * m)
    if (sw, sh) != (width, height):
        changes.append(f"size {width}x{height} -> {sw}x{sh} (multiple of {m}, long side <= {long_cap})")
    return sw, sh


# 3. Retiming ---------------------------------------------------------------------------------


def output_frames(seconds: float, fps: float) -> int:
    """How many frames a shot of `seconds` has at `fps` (what assembly expects)."""
    return max(1, round(seconds * fps))


Retime = Literal["motion", "blend", "nearest"]


def retime(frames: np.ndarray, src_fps: float, seconds: float, dst_fps: float,
           mode: Retime = "nearest") -> np.ndarray:
    """Resample a clip [N,H,W,C] at `src_fps` to exactly round(seconds*dst_fps) frames at `dst_fps`.

    The clip's first `seconds` are used; a clip shorter than `seconds` is stretched to fill it.
    `motion` interpolates motion-compensated frames (ffmpeg's minterpolate; uint8 frames), `blend`
    cross-fades neighbours, `nearest` repeats or drops frames.
    """
    n_src, n_out = len(frames), output_frames(seconds, dst_fps)
    pos, rate = _positions(n_src, src_fps, seconds, dst_fps)
    if mode == "motion" and abs(rate - dst_fps) > 1e-9 and n_src > 1:
        from fractions import Fraction

        from generators.interpolate import motion_interpolate

        return motion_interpolate(frames, Fraction(rate).limit_denominator(1001), int(dst_fps), n_out)
    if mode in ("nearest", "motion"):
        return frames[np.floor(pos + 0.5).astype(int).clip(0, n_src - 1)]
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_src - 1)
    w = (pos - lo).reshape(-1, *([1] * (frames.ndim - 1)))
    return (frames[lo] * (1 - w) + frames[hi] * w).astype(frames.dtype)


def native_indices(n_src: int, src_fps: float, seconds: float, dst_fps: float) -> list[int]:
    """Output frames nearest to each rendered (native) frame the retimed clip shows, in order.

    Frozen-picture checks judge these: between them a retimed clip repeats or interpolates frames by
    design, which is not the model freezing.
    """
    pos, _rate = _positions(n_src, src_fps, seconds, dst_fps)
    found: dict[int, int] = {}
    for k, p in enumerate(pos):
        i = int(np.floor(p + 0.5))
        if i not in found or abs(p - i) < abs(pos[found[i]] - i):
            found[i] = k
    return [found[i] for i in sorted(found)]


def _positions(n_src: int, src_fps: float, seconds: float, dst_fps: float) -> tuple[np.ndarray, float]:
    """Source positions (in source frames) of each output frame, and the source rate they imply."""
    n_out = output_frames(seconds, dst_fps)
    rate = float(src_fps)
    span = n_src / rate
    if span < seconds:  # stretched: the clip plays slower to fill the shot
        rate = n_src / seconds
    times = np.arange(n_out) / dst_fps * rate
    return np.clip(times, 0, n_src - 1), rate
