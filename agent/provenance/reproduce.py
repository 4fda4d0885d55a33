"""`briefcut reproduce CUT`: render a cut again from what its run recorded, in a fresh workspace, and
compare. The frames are compared decoded (every frame, exactly, and by PSNR where they differ), the sound
by its decoded samples, and the bytes separately: the same frames can come out as different bytes (another
ffmpeg build muxes its own way), so byte identity is reported on its own, against the media before any
signing. x264 runs a set number of threads (`X264_PARAMS`), so the frames do not depend on the machine's cores.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from agent.errors import BriefcutError, RunNotFound
from generators.media import file_sha256


class CannotReproduce(BriefcutError):
    """A cut that cannot be rendered again from its record (an edited version, a run without a brief)."""

    exit_code = 2


def find_cut(workspace: Any, ref: str) -> dict[str, Any]:
    """A cut row by id (RUN:PLAN:FORMAT:VERSION) or by its file's path; unknown ones list a few known ids."""
    rows = list(workspace.store.db["cuts"].rows)
    for row in rows:
        if ref == row["id"] or Path(ref).resolve() == Path(row["path"]).resolve():
            return workspace.store.get("cuts", row["id"])
    known = ", ".join(r["id"] for r in rows[-5:]) or "none"
    raise RunNotFound(f"no cut '{ref}' in the workspace {workspace.root} (a cut id or a cut's path; recent: {known})")


def reproduce(workspace: Any, ref: str, into: Path | None = None) -> dict[str, Any]:
    """Render the cut `ref` again with its run's brief, backend choices and run id in a fresh workspace
    (`into`, else a temporary folder) and compare the result with the original."""
    from agent.brief import validate_brief
    from agent.profiles import Choices
    from agent.runner import start_run
    from agent.workspace import Workspace

    cut = find_cut(workspace, ref)
    if cut["version"] != 1:
        raise CannotReproduce(f"cut {cut['id']} is edit version {cut['version']}: reproduce renders a run's first "
                              "version from its record; edits are not replayed")
    run = workspace.store.run(cut["run_id"])
    brief = validate_brief(run["brief"], Path(run["brief_path"]))
    root = Path(into) if into else Path(tempfile.mkdtemp(prefix="briefcut-reproduce-"))
    if root.exists() and any(root.iterdir()):
        raise CannotReproduce(f"{root}: the workspace to reproduce in must be new or empty")
    with Workspace.at(root, settings=workspace.settings.model_copy(update={"sign_cert": None, "sign_key": None})) as ws:
        start_run(Path(run["brief_path"]), ws, brief=brief, choices=Choices.model_validate(run["choices"]),
                  run_id=run["id"], out=root / "cuts")
        again = find_cut(ws, cut["id"])
    return {"cut": cut["id"], "original": cut["path"], "reproduced": again["path"], "workspace": str(root),
            **compare(Path(cut["path"]), Path(again["path"]), (cut["provenance"] or {}).get("delivered") or {})}


def compare(original: Path, again: Path, delivered: dict[str, Any]) -> dict[str, Any]:
    """Frames and sound compared decoded; bytes compared against the original's media before signing."""
    a, b = _frames(original), _frames(again)
    same = sum(1 for x, y in zip(a, b, strict=False) if np.array_equal(x, y))
    worst = min((_psnr(x, y) for x, y in zip(a, b, strict=False)), default=float("inf"))
    media = delivered.get("media_sha256") or file_sha256(original)
    sound_a, sound_b = _sound(original), _sound(again)
    return {
        "frames": {"original": len(a), "reproduced": len(b), "identical": same,
                   "equal": len(a) == len(b) == same, "min_psnr_db": None if worst == float("inf") else round(worst, 2)},
        "audio_equal": sound_a.shape == sound_b.shape and bool(np.array_equal(sound_a, sound_b)),
        "bytes": {"identical": file_sha256(again) == media, "original_media_sha256": media,
                  "reproduced_sha256": file_sha256(again), "original_signed": bool(delivered.get("signed"))},
    }


def _frames(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="yuv420p") for f in container.decode(video=0)]


def _sound(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            return np.zeros(0)
        return np.concatenate([f.to_ndarray().ravel() for f in container.decode(audio=0)] or [np.zeros(0)])


def _psnr(x: np.ndarray, y: np.ndarray) -> float:
    if x.shape != y.shape:
        return 0.0
    mse = float(np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def reproduction_text(r: dict[str, Any]) -> str:
    """The comparison for a person: frames, sound, bytes."""
    f, b = r["frames"], r["bytes"]
    frames = f"{f['identical']} of {f['original']} identical ({f['reproduced']} reproduced)"
    return "\n".join([
        f"cut {r['cut']} reproduced in {r['workspace']}: {r['reproduced']}",
        f"  frames  {'identical' if f['equal'] else 'DIFFERENT'}: {frames}"
        + ("" if f["equal"] else f", lowest PSNR {f['min_psnr_db']} dB"),
        f"  sound   {'identical' if r['audio_equal'] else 'different'}",
        f"  bytes   {'identical' if b['identical'] else 'different'} (against the original's media before signing)",
    ])
