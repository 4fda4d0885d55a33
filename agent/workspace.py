"""The workspace: where runs live (the store, the graph checkpoints, the media cache, run outputs),
and the one owner of the open store and checkpointer (each opened once, closed with the workspace).

Nothing is created until something is written: a refused brief leaves no workspace behind. A
workspace opened `read_only` writes nothing at all (listing runs and writing reports elsewhere work
on a read-only disk)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.errors import StorageError, WorkspaceError
from agent.settings import Settings
from agent.store import Store, database_error, wal_mode
from generators.atomic import atomic_path

RESERVE_NAME = ".briefcut-reserve"
RESERVE_BYTES = 2 << 20

if TYPE_CHECKING:
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.graph.state import CompiledStateGraph


class Workspace:
    """A workspace folder and its open connections. Use it as a context manager, or `close()` it."""

    def __init__(self, root: Path, settings: Settings | None = None, read_only: bool = False) -> None:
        self.root = Path(root)
        self.settings = settings or Settings.from_env(home=self.root)
        self.read_only = read_only
        self._store: Store | None = None
        self._checkpoints: sqlite3.Connection | None = None
        self._saver: SqliteSaver | None = None
        self._graph: CompiledStateGraph | None = None
        self._lock = threading.RLock()

    @classmethod
    def at(cls, path: str | Path | None = None, settings: Settings | None = None, read_only: bool = False) -> Workspace:
        """The workspace at `path`, else the settings' home ($BRIEFCUT_HOME, else ./.briefcut), created on
        first write."""
        settings = settings or Settings.from_env()
        root = Path(path or settings.home).expanduser().resolve()
        return cls(root, settings.model_copy(update={"home": root}), read_only=read_only)

    # 1. what it owns ---------------------------------------------------------------------------
    @property
    def store(self) -> Store:
        """The workspace's store, opened on first use and shared by everything in this process."""
        with self._lock:
            if self._store is None:
                if self.read_only and not self.db_path.exists():
                    raise WorkspaceError(f"{self.root}: no briefcut workspace here (no {self.db_path.name})")
                self._store = Store(self.db_path, read_only=self.read_only)
            return self._store

    def checkpointer(self) -> SqliteSaver:
        """The graph's SQLite checkpointer (thread-safe: it locks around its connection), opened once."""
        from langgraph.checkpoint.sqlite import SqliteSaver

        with self._lock:
            if self._saver is None:
                if self.read_only:
                    raise WorkspaceError(f"{self.root}: opened read-only; runs cannot be driven here")
                self.root.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(str(self.checkpoints_path), check_same_thread=False, timeout=30)
                try:
                    wal_mode(conn)  # (two processes may open a new workspace at once)
                    saver = SqliteSaver(conn)
                    saver.setup()  # a damaged file is found here, named, before the graph runs
                except sqlite3.DatabaseError as exc:
                    conn.close()
                    raise database_error(self.checkpoints_path, exc) from None
                self._checkpoints, self._saver = conn, saver
            return self._saver

    def graph(self) -> CompiledStateGraph:
        """The run graph compiled with this workspace's checkpointer, once: a command reads a run's state
        (is it waiting for an edit?) and drives it with the same graph."""
        from agent.graph import compile_graph

        with self._lock:
            if self._graph is None:
                self._graph = compile_graph(self.checkpointer())
            return self._graph

    def close(self) -> None:
        """Close the store and the checkpointer; a later use opens them again."""
        with self._lock:
            if self._checkpoints is not None:
                self._checkpoints.close()
            if self._store is not None:
                self._store.close()
            self._store, self._checkpoints, self._saver, self._graph = None, None, None, None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # 2. room to record a failure -----------------------------------------------------------------
    def reserve_space(self) -> None:
        """Keep RESERVE_BYTES on the workspace's disk, so that when the disk fills up mid-run there is
        room to record why the run stopped (`release_space` frees it just before)."""
        path = self.root / RESERVE_NAME
        if path.exists() or self.read_only:
            return
        try:
            with atomic_path(path) as tmp:
                tmp.write_bytes(bytes(RESERVE_BYTES))
        except (StorageError, OSError):
            pass  # no room even for this: the run will stop at its first write, and say where

    def release_space(self) -> None:
        """Free the reserved room (the disk is full and a failure must be recorded)."""
        (self.root / RESERVE_NAME).unlink(missing_ok=True)

    # 3. where things go ------------------------------------------------------------------------
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

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"
