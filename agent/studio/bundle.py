"""The export bundle: a zip of the approved cuts with their captions, scorecards, stills and provenance."""

from __future__ import annotations

import json
import os
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from agent.errors import BriefcutError
from agent.store import cut_id
from agent.workspace import Workspace

# A cut's files, by the cut row's column (the scorecard JSON lies beside the cut).
CUT_FILES = ("path", "srt", "poster", "contact_sheet")


class NothingApproved(BriefcutError):
    """An export asked for before any cut was approved."""

    exit_code = 2


def export_bundle(workspace: Workspace, run_id: str, approved: list[str]) -> Path:
    """Write `exports/RUN/RUN-vN-TIME.zip` (atomically) with the approved cuts; returns its path."""
    if not approved:
        raise NothingApproved(f"run {run_id}: approve at least one cut before exporting")
    cuts = {cut_id(run_id, c["plan_key"], c["format"], c["version"]): c for c in workspace.store.cuts(run_id)}
    chosen = [cuts[i] for i in approved if i in cuts]
    if not chosen:
        raise NothingApproved(f"run {run_id}: the approved cuts are no longer in the store")
    run = workspace.store.run(run_id)
    version = max(c["version"] for c in chosen)
    out = workspace.root / "exports" / run_id / f"{run_id}-v{version}-{time.strftime('%Y%m%d-%H%M%S')}.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".bundle-", suffix=".tmp")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            manifest = [_add_cut(z, c) for c in chosen]
            z.writestr("manifest.json", json.dumps(_manifest(run, manifest), indent=2, default=str))
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out


def _add_cut(z: zipfile.ZipFile, cut: dict[str, Any]) -> dict[str, Any]:
    """Add one cut's files under its own folder; returns its manifest entry."""
    folder = Path(cut["path"]).stem  # one folder per cut: gamers_v0_1x1_r2
    names = []
    files = [cut[k] for k in CUT_FILES if cut.get(k)] + [str(Path(cut["path"]).with_suffix(".scorecard.json"))]
    for src in files:
        if Path(src).is_file():
            name = f"{folder}/{Path(src).name}"
            z.write(src, name, compress_type=zipfile.ZIP_STORED if src.endswith((".mp4", ".png")) else None)
            names.append(name)
    z.writestr(f"{folder}/provenance.json", json.dumps(cut["provenance"], indent=2, default=str))
    return {"plan_key": cut["plan_key"], "format": cut["format"], "version": cut["version"],
            "duration_s": cut["duration_s"], "files": [*names, f"{folder}/provenance.json"],
            "composite": ((cut["scorecard"] or {}).get("cut") or {}).get("composite")}  # fmt: skip


def _manifest(run: dict[str, Any], cuts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"tool": "briefcut", "run_id": run["id"], "brief_hash": run["brief_hash"], "profile": run["profile"],
            "planner": run["planner"], "exported_at": time.time(), "cuts": cuts}  # fmt: skip
