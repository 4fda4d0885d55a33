"""Where a workspace keeps things: the store, the graph checkpoints, the media cache, run outputs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = ".briefcut"


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def at(cls, path: str | Path | None = None) -> Workspace:
        """The workspace at `path`, else $BRIEFCUT_HOME, else ./.briefcut (created on first use)."""
        root = Path(path or os.environ.get("BRIEFCUT_HOME") or DEFAULT_HOME).expanduser().resolve()
        root.mkdir(parents=True, exist_ok=True)
        return cls(root)

    @property
    def db_path(self) -> Path:
        return self.root / "briefcut.db"

    @property
    def checkpoints_path(self) -> Path:
        return self.root / "checkpoints.db"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    def media_path(self, cache_key: str, suffix: str) -> Path:
        """Content-addressed media: the same cache key always maps to the same file."""
        return self.root / "media" / cache_key[:2] / f"{cache_key}{suffix}"

    def run_dir(self, run_id: str) -> Path:
        return self.root / "runs" / run_id
