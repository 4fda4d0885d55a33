"""The smoke profile: every backend on tiny random-weight models built locally, end to end in seconds.

`build_smoke_models` builds the whole set once into a cache folder (idempotent); `doctor_smoke`
renders one take per backend and reports what worked; `smoke_profile_choices` gives the backends
`--profile smoke` runs with. The output is noise: the point is the real code path.
"""

from __future__ import annotations

import importlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.brief import BackendChoice
from generators.base import BackendPool, ImageRequest, ShotRequest, SoundRequest
from generators.errors import MissingDependency
from generators.tiny_i2v import product_png


@dataclass(frozen=True)
class SmokeEntry:
    """One smoke backend: its name, kind, registered backend, and the builder of its tiny model."""

    name: str
    kind: str  # "video", "image" (keyframes) or "audio"
    backend: str
    variant: str | None
    builder: str  # "module:function" with signature (cache_dir, variant) -> options
    keyframe: bool = False  # a video entry rendered keyframe first (product image -> image-to-video)


I2V_NAMES = ("wan-i2v", "wan2.2-i2v", "wan2.2-ti2v", "ltx-i2v", "ltx-condition", "cogvideox-i2v")
SMOKE_BACKENDS: list[SmokeEntry] = [
    *[SmokeEntry(n, "video", "diffusers", n, "generators.video_diffusers:build_smoke")
      for n in ("wan", "wan2.2", "ltx", "cogvideox", "mochi", "hunyuan", "animatediff")],
    *[SmokeEntry(f"keyframe-{n}", "image", "diffusers", n, "generators.image_diffusers:build_smoke")
      for n in ("sdxl-inpaint", "flux")],
    *[SmokeEntry(n, "video", "diffusers", n, "generators.video_keyframe:build_smoke", keyframe=True)
      for n in I2V_NAMES],
    SmokeEntry("audioldm2", "audio", "audioldm2", "audioldm2", "generators.audio_diffusers:build_smoke"),
    SmokeEntry("stable-audio", "audio", "stable-audio", "stable-audio", "generators.audio_diffusers:build_smoke"),
    SmokeEntry("musicgen", "audio", "musicgen", None, "generators.audio_musicgen:build_smoke"),
    SmokeEntry("audiogen", "audio", "audiogen", None, "generators.audio_audiogen:build_smoke"),
]
CLIP_BUILDER = "evaluators.tiny_clip:build_tiny_clip"


def build_entry(entry: SmokeEntry, cache_dir: Path) -> dict[str, Any]:
    """Build one entry's tiny model (once: the options are kept in `<cache>/<name>.json`)."""
    cache_dir = Path(cache_dir)
    done = cache_dir / f"{entry.name}.json"
    if done.exists():
        options = json.loads(done.read_text())
        if Path(options.get("model", "")).exists():
            return options
    module, _, attr = entry.builder.partition(":")
    options = getattr(importlib.import_module(module), attr)(cache_dir, entry.variant)
    cache_dir.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(options, indent=1))
    return options


def build_smoke_models(cache_dir: Path) -> dict[str, dict[str, Any]]:
    """Build every tiny model under `cache_dir`: smoke name -> backend options (plus "clip").

    A backend whose module is not installed (or not written yet) is left out.
    """
    built: dict[str, dict[str, Any]] = {}
    for entry in SMOKE_BACKENDS:
        try:
            built[entry.name] = build_entry(entry, cache_dir)
        except (ImportError, MissingDependency):
            continue
    clip = _build_clip(Path(cache_dir))
    if clip:
        built["clip"] = {"model": str(clip)}
    return built


def _build_clip(cache_dir: Path) -> Path | None:
    module, _, attr = CLIP_BUILDER.partition(":")
    try:
        build = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None
    path = cache_dir / "clip"
    return path if (path / "config.json").exists() else Path(build(path))


def smoke_profile_choices(cache_dir: Path) -> dict[str, Any]:
    """The video (tiny Wan 2.1, with its tiny image-to-video model and keyframe model for product shots),
    audio (tiny MusicGen) and CLIP choices of `--profile smoke`."""
    by_name = {e.name: e for e in SMOKE_BACKENDS}
    video, audio = by_name["wan-i2v"], by_name["musicgen"]
    clip = _build_clip(Path(cache_dir))
    return {
        "video": BackendChoice(backend=video.backend, options=build_entry(video, cache_dir)),
        "audio": BackendChoice(backend=audio.backend, options=build_entry(audio, cache_dir)),
        "clip_model": str(clip) if clip else None,
    }


def doctor_smoke(cache_dir: Path, pool: BackendPool) -> list[dict[str, Any]]:
    """Build and render one tiny take per smoke backend; rows of name, kind, ok, seconds, error."""
    out_dir = Path(cache_dir) / "doctor"
    return [_smoke_one(entry, Path(cache_dir), out_dir, pool) for entry in SMOKE_BACKENDS]


def _smoke_one(entry: SmokeEntry, cache_dir: Path, out_dir: Path, pool: BackendPool) -> dict[str, Any]:
    started = time.perf_counter()
    row: dict[str, Any] = {"name": entry.name, "kind": entry.kind, "ok": False, "seconds": 0.0, "error": None}
    try:
        backend = pool.get(entry.kind, entry.backend, build_entry(entry, cache_dir))
        product = product_png(cache_dir / "product.png")
        if entry.kind == "video":
            request = ShotRequest(prompt="a red ball rolls on a table", seconds=0.5, fps=8, width=32, height=32,
                                  keyframe=entry.keyframe, shows_product=entry.keyframe, product_image=product)
            take = backend.render(request, out_dir / f"{entry.name}.mp4")
            if entry.keyframe and not take.metadata.get("keyframe"):
                raise RuntimeError(f"rendered without a keyframe: {take.metadata.get('notes')}")
        elif entry.kind == "image":
            request = ImageRequest(prompt="a bottle on a beach", width=32, height=32, product_image=product)
            backend.render(request, out_dir / f"{entry.name}.png")
        else:
            backend.render(SoundRequest(prompt="calm piano", seconds=0.5), out_dir / f"{entry.name}.wav")
        row["ok"] = True
    except Exception as exc:  # doctor reports every failure as a row instead of stopping
        row["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    row["seconds"] = round(time.perf_counter() - started, 3)
    return row
