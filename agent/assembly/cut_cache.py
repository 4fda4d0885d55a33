"""The cut cache: an assembled cut kept under a key of what determines it, so the same cut is never made twice.

The key covers everything that shapes the cut's frames, sound, subtitles and stills: the plan's text, the
format and size, the content of every take, sound, logo and font file, the brand, the copy's language,
the loudness target, the watermark, the shot scores on the contact sheet and the encoder settings; not the
run. A run that would assemble a cut already made (a repeat run, another run of the same brief and seed, an
edit that touched another plan) copies it: the video and audio streams untouched, only the per-run tags (the
provenance names the run's takes) written anew. Signing, the scorecard and the store row stay per run.

Entries live in the workspace, `cut-cache/<key>/`; every file is written atomically and `result.json` last, so an
entry without it (a crash mid-write) is not read, and two processes writing one entry write the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

from agent.assembly.cut import AssemblyError, CutResult, CutSpec, cut_paths, metadata_args
from generators.atomic import atomic_path, copy_file, write_text
from generators.errors import StorageError
from generators.media import content_key

# Raise when assembly changes what it makes from the same inputs: older entries are then not reused.
CACHE_FORMAT = 3
FILE_FIELDS = ("shot_videos", "shot_effects", "shot_voice", "music", "logo", "font")
KEPT = ("mp4", "srt", "poster", "contact")


def cut_key(spec: CutSpec) -> str:
    """The key of what determines a cut (files by content; the provenance without its per-run take ids)."""
    data: dict[str, Any] = spec.model_dump(mode="json", exclude={*FILE_FIELDS, "provenance"})
    for name in FILE_FIELDS:
        value = getattr(spec, name)
        data[name] = [_digest(p) for p in value] if isinstance(value, list) else _digest(value)
    data["provenance"] = {k: v for k, v in spec.provenance.items() if k != "video"}
    data["provenance"]["video"] = [{k: v for k, v in shot.items() if k != "take"}
                                   for shot in spec.provenance.get("video") or []]  # fmt: skip
    data["cache_format"] = CACHE_FORMAT
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _digest(path: Path | None) -> str | None:
    return None if path is None else content_key(path)


def restore(spec: CutSpec, entry: Path, out_base: Path) -> CutResult | None:
    """The cut kept in `entry`, copied to `out_base` with this spec's tags, or None when there is none whole."""
    try:
        saved = json.loads((entry / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    kept = {name: entry / saved["files"][name] for name in KEPT}
    if not all(p.exists() for p in kept.values()):
        return None
    paths = cut_paths(out_base)
    paths["mp4"].parent.mkdir(parents=True, exist_ok=True)
    retag(kept["mp4"], paths["mp4"], metadata_args(spec))
    for name in ("srt", "poster", "contact"):
        copy_file(kept[name], paths[name])
    return CutResult(path=paths["mp4"], srt=paths["srt"], poster=paths["poster"], contact_sheet=paths["contact"],
                     **saved["result"])  # fmt: skip


def keep(result: CutResult, entry: Path) -> None:
    """Keep a freshly assembled cut (before any signing) in `entry`."""
    files = {"mp4": "cut.mp4", "srt": "cut.srt", "poster": "poster.png", "contact": "contact.png"}
    sources = {"mp4": result.path, "srt": result.srt, "poster": result.poster, "contact": result.contact_sheet}
    for name, file in files.items():
        copy_file(sources[name], entry / file)
    data = result.model_dump(mode="json", include={"duration_s", "frames", "warnings", "loudness"})
    write_text(entry / "result.json", json.dumps({"files": files, "result": data}, sort_keys=True))


def kept_ad_checks(spec: CutSpec, result: CutResult, confirmed: list[bool | None], entry: Path) -> list[Any]:
    """The ad checks of a cut, kept in its entry: they read only the cut and what its key covers, plus which
    shots CLIP confirmed show the product (part of the file name)."""
    from agent.ad_checks import ad_checks
    from evaluators.detect import SEARCH_FORMAT
    from evaluators.scorecard import CutCheck

    tag = hashlib.sha256(json.dumps([confirmed, SEARCH_FORMAT]).encode()).hexdigest()[:12]
    file = entry / f"ad-checks-{tag}.json"
    try:
        return [CutCheck.model_validate(c) for c in json.loads(file.read_text(encoding="utf-8"))]
    except (OSError, ValueError):
        pass
    checks = ad_checks(spec, result, confirmed)
    try:
        write_text(file, json.dumps([c.model_dump(mode="json") for c in checks]))
    except (OSError, StorageError):  # not kept: they are checked again next time, nothing else is lost
        pass
    return checks


def retag(source: Path, out: Path, metadata: list[str]) -> None:
    """Copy an MP4's streams as they are (no re-encode: frame-exact) with new container tags."""
    import imageio_ffmpeg

    with atomic_path(out) as tmp:
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", "-nostdin",
                   "-i", str(source), "-map", "0", "-c", "copy", "-movflags", "+faststart", *metadata,
                   "-f", "mp4", str(tmp)]  # fmt: skip
        proc = subprocess.run(command, capture_output=True, timeout=600)
        if proc.returncode != 0:
            raise AssemblyError(f"ffmpeg failed copying the cached cut {source}: "
                                f"{proc.stderr.decode(errors='replace')[-500:]}")  # fmt: skip
