"""Briefs coming in over HTTP: the same loader and checks as the CLI, confined to the studio's brief folder.

An upload reads as the file it names inside the brief folder (`--briefs`, default the folder the studio
started in): errors name that file and line, relative asset paths resolve beside it, and no asset path
may leave the folder. The text of every brief a run starts from is kept in the workspace.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel

from agent.brief import MAX_BRIEF_BYTES, Brief, load_brief_text
from agent.errors import BriefError

NAME = re.compile(r"^[\w.-]+(/[\w.-]+)*\.ya?ml$")
ERROR_LINE = re.compile(r"^(?P<file>.*?):(?P<line>\d+)(?::(?P<col>\d+))?: (?P<field>[\w.\[\]]+): (?P<message>.*)$")
LISTED_BRIEFS = 200


class Upload(BaseModel):
    """A checked brief a run starts from: its name in the brief folder, the folder, and its kept text."""

    name: str
    root: Path
    kept: Path


class UploadTooLarge(BriefError):
    """A request body over the brief size limit."""


def brief_path(root: Path, name: str | None) -> Path:
    """Where an upload called `name` reads as if it lay: a relative .yaml path inside `root`."""
    name = (name or "brief.yaml").strip()
    parts = PurePosixPath(name).parts
    if not NAME.match(name) or ".." in parts or name.startswith("/"):
        raise BriefError(f"{name}: a brief's name is a relative path ending in .yaml, without '..'")
    return root / name


def decode(body: bytes, name: str) -> str:
    """The upload's text: UTF-8 within the size limit, else one clear error."""
    if len(body) > MAX_BRIEF_BYTES:
        raise UploadTooLarge(f"{name}: brief is larger than {MAX_BRIEF_BYTES} bytes")
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BriefError(f"{name}: not UTF-8 text (byte {exc.start})") from None


# The loader's words for an asset outside the allowed folders (agent.assets.confine): an upload gets the
# studio's rule instead, without the server's folders.
OUTSIDE = re.compile(r"^(?P<where>.*?: [\w.]+: )(?P<given>.+?)(?: \(it resolves to .*?\))? is outside the brief's folder ")


def check_upload(root: Path, name: str | None, body: bytes) -> tuple[Path, Brief, str]:
    """Check an uploaded brief as the CLI would; returns where it reads from, the brief and its text."""
    path = brief_path(root, name)
    text = decode(body, str(path.relative_to(root)))
    try:
        return path, load_brief_text(text, path, assets_root=root), text
    except BriefError as exc:  # errors name the brief as the person knows it, not the server's folders
        raise BriefError(upload_message(str(exc), root)) from None


def upload_message(message: str, root: Path) -> str:
    """A loader error as the person who uploaded knows the brief: no server folders, the studio's rule."""
    outside = OUTSIDE.match(message)
    if outside:
        message = f"{outside['where']}{outside['given']} is outside the studio's brief folder"
    return message.replace(f"{root}/", "").replace(str(root), "the studio's brief folder")


def keep_text(workspace_root: Path, text: str) -> Path:
    """Keep a brief's text in the workspace (content-addressed, written atomically); returns its path."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    path = workspace_root / "briefs" / f"{digest}.yaml"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    return path


def error_fields(message: str) -> dict[str, Any]:
    """The line and field of a one-line brief error, for an editor to point at (None where it has none)."""
    m = ERROR_LINE.match(message)
    if not m:
        return {"error": message, "line": None, "field": None}
    return {"error": message, "line": int(m["line"]), "field": m["field"]}


def list_briefs(root: Path) -> list[str]:
    """The .yaml briefs in the brief folder and its subfolders (relative names), for the editor to open."""
    found = []
    for path in sorted(root.rglob("*.y*ml")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and NAME.match(rel) and not any(p.startswith(".") for p in PurePosixPath(rel).parts):
            found.append(rel)
        if len(found) >= LISTED_BRIEFS:
            break
    return found


def read_brief(root: Path, name: str) -> str:
    """The text of a brief in the brief folder (after symlinks, still inside it), within the size limit."""
    path = brief_path(root, name)
    real = path.resolve()
    if not real.is_relative_to(root.resolve()) or not real.is_file():
        raise BriefError(f"{name}: no such brief in {root}")
    if real.stat().st_size > MAX_BRIEF_BYTES:
        raise UploadTooLarge(f"{name}: brief is larger than {MAX_BRIEF_BYTES} bytes")
    return real.read_text(encoding="utf-8", errors="replace")
