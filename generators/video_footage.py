"""The footage video backend: each shot cut from the brand's own clips and stills.

The agent ranks the brand's footage folder for each shot (`ShotRequest.footage`, best first); this
backend takes the first file it can read, trims a clip to exactly the shot's frames (a window chosen by
the seed; a clip shorter than the shot is slowed to fill it), and reframes it to the shot's aspect by
saliency (`generators.saliency`): the window of the target shape that holds what stands out. A still
gets the shot's camera move inside that window. A shot with no matching footage is composed from
the brand's assets by the motion backend instead, and says so in its metadata.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from generators.base import ShotRequest, VideoGenerator, VideoTake
from generators.camera import CameraPath, camera_move
from generators.lazy import scipy_module
from generators.media import write_frames
from generators.saliency import centre_of, crop_window, saliency_map

LICENSE = {"name": "the brand's own footage", "commercial": True, "url": None,
           "note": "cut from the brief's assets.footage folder"}  # fmt: skip
STILL_EXTS = {".png", ".jpg", ".jpeg", ".webp"}
MAX_TRIES = 4  # candidates to try before composing the shot instead


class FootageVideo(VideoGenerator):
    """Cuts each shot from the best-matching file of the brand's footage (ranked by the agent)."""

    name: ClassVar[str] = "footage"
    uses_footage: ClassVar[bool] = True
    thread_safe: ClassVar[bool] = True  # every take opens its own files
    cache_ignores: ClassVar[set[str]] = {"prompt", "negative_prompt", "title", "lora", "keyframe"}

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        crf: int = Field(default=12, ge=0, le=51)
        max_slow: float = Field(default=2.0, ge=1.0, le=8.0, description="slowest a short clip may be stretched")

    def load(self) -> None:
        """Import what rendering needs once, under the load lock (scipy through `scipy_module`: see generators.lazy)."""
        import av  # noqa: F401

        scipy_module("scipy.ndimage")

        self.loaded = True

    def render(self, request: ShotRequest, out: Path) -> VideoTake:
        """The shot from the first usable candidate; composed by the motion backend when none is."""
        started = time.perf_counter()
        total = max(1, round(request.seconds * request.fps))
        tried: list[str] = []
        for path in request.footage[:MAX_TRIES]:
            try:
                frames, info = self._source(Path(path), request, total)
                written = write_frames(out, frames, request.fps, crf=self.options.crf)
            except Exception as exc:  # an unreadable or empty file: the next candidate
                tried.append(f"{Path(path).name}: {type(exc).__name__}: {str(exc)[:120]}")
                continue
            if written != total:
                tried.append(f"{Path(path).name}: {written} frames of {total}")
                continue
            return self._take(request, out, written, info, tried, time.perf_counter() - started)
        return self._compose(request, out, tried)

    def _source(self, path: Path, request: ShotRequest, total: int) -> tuple[Iterator[np.ndarray], dict]:
        if path.suffix.lower() in STILL_EXTS:
            return still_frames(path, request, total)
        return clip_frames(path, request, total, self.options.max_slow)

    def _take(self, request: ShotRequest, out: Path, written: int, info: dict, tried: list[str],
              elapsed: float) -> VideoTake:  # fmt: skip
        return VideoTake(
            path=Path(out), num_frames=written, fps=request.fps, width=request.width, height=request.height,
            metadata={
                "backend": self.name, "model": "footage", "seed": request.seed, "license": LICENSE,
                "parameters": {"ranking": request.footage_ranking, "frames": written, "fps": request.fps,
                               "width": request.width, "height": request.height, **info},
                "assets": {"footage": info["source"], "footage_sha256": _digest(Path(info["path"]))},
                "skipped": tried, "timings": {"total_s": round(elapsed, 4)},
            },
        )  # fmt: skip

    def _compose(self, request: ShotRequest, out: Path, tried: list[str]) -> VideoTake:
        from generators.video_motion import MotionVideo

        take = MotionVideo({"crf": self.options.crf}).render(request, out)
        why = "no footage matched this shot" if not request.footage else f"no candidate was usable ({'; '.join(tried)})"
        take.metadata |= {"footage_fallback": f"composed from the brand's assets by 'motion': {why}",
                          "composed_by": "motion", "backend": self.name}  # fmt: skip
        return take


# 1. Clips -----------------------------------------------------------------------------------------


def clip_frames(path: Path, request: ShotRequest, total: int, max_slow: float) -> tuple[Iterator[np.ndarray], dict]:
    """The clip trimmed to `total` frames at the request's rate and reframed; and what was done."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        duration = _duration(container, stream)
        width, height = stream.codec_context.width, stream.codec_context.height
    if duration <= 0 or not width or not height:
        raise ValueError("no video stream with a duration")
    need = total / request.fps
    rate = min(1.0, duration / need)  # < 1: the clip is slowed to fill the shot
    if rate < 1.0 / max_slow:
        raise ValueError(f"{duration:.2f} s is too short for a {need:.2f} s shot (at most {max_slow:g}x slower)")
    span = need * rate
    start = random.Random(request.seed).uniform(0.0, max(0.0, duration - span))
    times = [start + i / request.fps * rate for i in range(total)]
    sal = np.mean([saliency_map(f) for _, f in _decode(path, times[:: max(1, total // 4)], max_side=160)], axis=0)
    box = crop_window(sal, width, height, request.width / request.height)
    frames = (_reframe(f, box, request.width, request.height) for _, f in _decode(path, times))
    info = {"source": path.name, "path": str(path), "kind": "video", "trim_s": [round(start, 3), round(start + span, 3)],
            "speed": round(rate, 3), "crop": [round(v, 1) for v in box], "focus": [round(v, 3) for v in centre_of(sal)]}
    return frames, info


def _duration(container: Any, stream: Any) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return float(container.duration or 0) / 1e6


def _decode(path: Path, times: list[float], max_side: int | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """For each wanted time (ascending), the last frame shown at or before it: (time, RGB frame)."""
    import av
    from av.video.reformatter import VideoReformatter

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        wanted = iter(times)
        target = next(wanted, None)
        last = None
        scaler = VideoReformatter()  # one swscale context for the file, not one set up per frame
        for frame in container.decode(stream):
            t = float(frame.pts * stream.time_base) if frame.pts is not None else 0.0
            while target is not None and t > target + 1e-6 and last is not None:
                yield target, last
                target = next(wanted, None)
            if target is None:
                return
            last = _rgb(frame, max_side, scaler)
        while target is not None and last is not None:  # past the end: hold the last frame
            yield target, last
            target = next(wanted, None)


def _rgb(frame: Any, max_side: int | None, scaler: Any) -> np.ndarray:
    w, h = frame.width, frame.height
    if max_side and max(w, h) > max_side:
        s = max_side / max(w, h)
        w, h = max(2, round(w * s)), max(2, round(h * s))
    return scaler.reformat(frame, width=w, height=h, format="rgb24").to_ndarray()


def _reframe(frame: np.ndarray, box: tuple[float, float, float, float], width: int, height: int) -> np.ndarray:
    from PIL import Image

    x, y, w, h = box
    img = Image.fromarray(frame)
    return np.asarray(img.resize((width, height), Image.BILINEAR, box=(x, y, x + w, y + h)))


# 2. Stills ----------------------------------------------------------------------------------------


def still_frames(path: Path, request: ShotRequest, total: int) -> tuple[Iterator[np.ndarray], dict]:
    """A still with the shot's camera move inside its saliency window."""
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img).convert("RGB")
    arr = np.asarray(img)
    sal = saliency_map(arr)
    x, y, w, h = crop_window(sal, img.width, img.height, request.width / request.height)
    # The move needs room: the window shrinks a little and drifts inside the saliency window.
    camera = CameraPath(camera_move(request.camera), request.seed)

    def frames() -> Iterator[np.ndarray]:
        for i in range(total):
            pose = camera.pose(i / max(1, total - 1))
            zoom = pose.zoom * 1.08
            ww, hh = w / zoom, h / zoom
            cx = min(max(x + w / 2 + pose.x * w, x + ww / 2), x + w - ww / 2)
            cy = min(max(y + h / 2 + pose.y * h, y + hh / 2), y + h - hh / 2)
            box = (cx - ww / 2, cy - hh / 2, cx + ww / 2, cy + hh / 2)
            yield np.asarray(img.resize((request.width, request.height), Image.BILINEAR, box=box))

    info = {"source": path.name, "path": str(path), "kind": "still", "crop": [round(v, 1) for v in (x, y, w, h)],
            "focus": [round(v, 3) for v in centre_of(sal)], "camera_move": camera.move}
    return frames(), info


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
