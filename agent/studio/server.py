"""Start the studio: check the folder, build the app, serve it with uvicorn until interrupted."""

from __future__ import annotations

import sys
from pathlib import Path

from agent.errors import BriefError
from agent.workspace import Workspace


def serve_studio(workspace: Workspace, host: str, port: int, token: str | None, briefs_root: Path,
                 threads: int = 1) -> None:  # fmt: skip
    """Serve the studio over `workspace` on host:port (blocks; Ctrl-C stops it, runs resume next start)."""
    from generators.errors import require

    uvicorn = require("uvicorn", "studio", "studio")
    require("fastapi", "studio", "studio")

    from agent.studio.app import StudioConfig, create_app

    if not briefs_root.is_dir():
        raise BriefError(f"--briefs {briefs_root}: no such folder")
    app = create_app(StudioConfig(workspace, briefs_root, host, token, threads))
    shown = f"[{host}]" if ":" in host else host
    print(f"briefcut studio: http://{shown}:{port}/  (workspace {workspace.root}, briefs from {briefs_root})",
          file=sys.stderr, flush=True)  # fmt: skip
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2)
