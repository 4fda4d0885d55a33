"""`briefcut verify FILE`: what a recipient can check about a cut without trusting whoever sent it.

The C2PA manifest (valid, invalid, absent), the provenance tags in the MP4, the watermark in the
frames, and, given the producer's workspace, the run and cut the file came from. The verdict: verified
(exit 0) when a valid manifest signs the file, or, without one, when the workspace holds a cut with these
exact bytes; tampered or unverifiable (exit 1) otherwise; a file that is not a video is bad input (exit 2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent.errors import BriefcutError
from agent.provenance.credentials import read_credentials
from generators.media import file_sha256


class NotAVideo(BriefcutError):
    """A file to verify that does not exist or holds no video stream."""

    exit_code = 2


def verify_file(path: Path, workspace: Any = None, trust_anchors: Path | None = None) -> dict[str, Any]:
    """Everything `verify` reports about `path`, with `verified` (bool) and `verdict` (one line)."""
    from agent.assembly.cut import probe
    from agent.provenance.watermark import read_video

    if not path.is_file():
        raise NotAVideo(f"{path}: no such file")
    try:
        info = probe(path)
    except Exception as exc:  # PyAV's errors for a file that is not media
        raise NotAVideo(f"{path}: not a video file ({type(exc).__name__}: {exc})") from None
    if not info["has_video"]:
        raise NotAVideo(f"{path}: holds no video stream")
    c2pa = read_credentials(path, trust_anchors)
    tags = _tags(info["metadata"])
    mark = read_video(str(path))
    report = {"file": str(path), "sha256": file_sha256(path), "c2pa": c2pa, "provenance": tags,
              "watermark": {"found": mark.found, "payload": mark.payload, "scale": mark.scale, "peak_z": mark.peak_z}}
    report["origin"] = _origin(workspace, report) if workspace is not None else None
    report["verified"], report["verdict"] = _verdict(report)
    return report


def _tags(metadata: dict[str, str]) -> dict[str, Any]:
    comment = metadata.get("comment") or ""
    try:
        data = json.loads(comment) if comment else None
    except ValueError:
        data = None
    return {"found": isinstance(data, dict) and data.get("tool") == "briefcut", "data": data,
            "description": metadata.get("description")}


def _origin(workspace: Any, report: dict[str, Any]) -> list[dict[str, Any]]:
    """The workspace's cuts this file is: the same bytes, or the same watermark key."""
    key = report["watermark"]["payload"] or ((report["provenance"]["data"] or {}).get("watermark"))
    found = []
    for cut in workspace.store.db["cuts"].rows:
        prov = json.loads(cut["provenance"] or "{}")
        delivered = prov.get("delivered") or {}
        same_bytes = report["sha256"] in (delivered.get("sha256"), delivered.get("media_sha256"))
        if same_bytes or (key and prov.get("watermark") == key):
            found.append({"run_id": cut["run_id"], "cut": cut["id"], "path": cut["path"], "same_bytes": same_bytes,
                          "watermark_match": bool(key) and prov.get("watermark") == key})
    return found


def _verdict(report: dict[str, Any]) -> tuple[bool, str]:
    status = report["c2pa"]["status"]
    mark, signed = report["watermark"], (report["c2pa"].get("briefcut") or {}).get("watermark")
    if status == "invalid":
        return False, "tampered: the C2PA manifest does not match the file (" + \
            "; ".join(report["c2pa"].get("failures") or [str(report["c2pa"].get("state"))]) + ")"
    if status == "valid":
        if mark["found"] and signed and mark["payload"] != signed:
            return False, f"the frames carry watermark {mark['payload']}, the manifest names {signed}"
        trust = "trusted signer" if report["c2pa"].get("trusted") else "signer not checked against trust anchors"
        return True, f"verified: valid C2PA manifest ({trust})"
    if any(o["same_bytes"] for o in report["origin"] or []):
        return True, "verified: the workspace holds a cut with these exact bytes (no C2PA manifest)"
    why = "c2pa-python is not installed" if status == "unavailable" else "no C2PA manifest"
    hint = "" if report["origin"] is not None else "; give --workspace to look the file up"
    return False, f"unverifiable: {why}{hint}"


def verification_text(r: dict[str, Any]) -> str:
    """The report for a person: the verdict, then one line per thing checked."""
    c2pa, mark, tags = r["c2pa"], r["watermark"], r["provenance"]
    signer = c2pa.get("signer") or {}
    lines = [f"{r['file']}: {r['verdict']}", f"  c2pa        {c2pa['status']}" + (
        f" ({c2pa.get('state')}; signed by {signer.get('common_name') or '?'}, issuer {signer.get('issuer') or '?'})"
        if c2pa["status"] in ("valid", "invalid") else "")]
    lines += [f"              {failure}" for failure in c2pa.get("failures") or []]
    data = tags["data"] or {}
    lines.append(f"  provenance  {'briefcut tags' if tags['found'] else 'none'}"
                 + (f": brief {data.get('brief_hash')}, usage {data.get('usage')}" if tags["found"] else ""))
    lines.append(f"  watermark   {mark['payload'] if mark['found'] else 'not found'}"
                 + (f" (scale {mark['scale']:g})" if mark["found"] else ""))
    for origin in r["origin"] or []:
        lines.append(f"  came from   run {origin['run_id']}, cut {origin['cut']} "
                     f"({'same bytes' if origin['same_bytes'] else 'same watermark'})")
    if r["origin"] == []:
        lines.append("  came from   no cut in the workspace matches")
    return "\n".join(lines)
