"""Runs and edits outside the request handlers: a queue served by daemon threads.

A request queues work and returns at once; the work reports through the store (events), so a closed
browser stops nothing and a reloaded page reads where things stand. Every queued item is written to
the store first: a studio that stops (or is killed) finds its unfinished runs when it starts again and
resumes them through the CLI's own resume path.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from agent.context import Progress
from agent.settings import Overrides
from agent.store import Store
from agent.studio.uploads import Upload
from agent.workspace import Workspace
from generators.base import BackendPool

log = logging.getLogger("briefcut.studio")
QUEUED = "studio_queued"  # event: a run the studio took on (its brief path and overrides)
FAILED = "studio_failed"  # event: queued work that failed before its run existed
CONFIRMED = "edit_confirmed"  # event: an edit confirmed in the studio (agent.studio.edits)


class StoreProgress(Progress):
    """Progress written to the store as events, so every page (and a reloaded one) reads the same state."""

    def __init__(self, store: Store, run_id: str) -> None:
        self.store, self.run_id = store, run_id

    def begin(self, stage: str, total: int) -> None:
        self.store.event(self.run_id, "stage", {"stage": stage, "total": total})

    def advance(self, stage: str, n: int = 1) -> None:
        self.store.event(self.run_id, "advance", {"stage": stage, "n": n})

    def note(self, text: str) -> None:
        self.store.event(self.run_id, "note", {"text": text})

    def warn(self, text: str) -> None:
        self.store.event(self.run_id, "warning", {"text": text})


class Worker:
    """Runs briefs and edits one at a time per thread (`threads`, default one: one GPU, models loaded once)."""

    def __init__(self, workspace: Workspace, threads: int = 1) -> None:
        self.workspace = workspace
        self.backends = BackendPool()  # shared by this studio's runs, so a model loads once
        self._queue: queue.Queue[tuple[str, Callable[[], Any]] | None] = queue.Queue()
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._serve, name=f"briefcut-studio-{i}", daemon=True)
                         for i in range(threads)]  # fmt: skip

    def start(self) -> None:
        """Start the threads and take up the runs an earlier studio left unfinished."""
        for t in self._threads:
            t.start()
        self.resume_unfinished()

    def stop(self) -> None:
        """Stop taking new work; work in flight is left to the store's checkpoints (resumed next start)."""
        for _ in self._threads:
            self._queue.put(None)

    def busy(self, run_id: str) -> bool:
        """Whether work for this run is queued or running in this studio."""
        with self._lock:
            return run_id in self._busy

    # 1. what can be queued ------------------------------------------------------------------------
    def start_run(self, run_id: str, upload: Upload, overrides: Overrides) -> None:
        """Queue a new run of a checked brief; its id is known (and listed) before it starts."""
        self.workspace.store.event(run_id, QUEUED, {**upload.model_dump(mode="json"),
                                                    "overrides": overrides.model_dump(exclude_none=True)})  # fmt: skip
        self._put(run_id, lambda: self._run(run_id, upload, overrides))

    def apply_edit(self, request: Any) -> None:
        """Queue a confirmed edit (an agent.edit.request.EditRequest) of a finished run."""
        self._put(request.run_id, lambda: self._edit(request))

    def resume_unfinished(self) -> list[str]:
        """Queue what an earlier studio left unfinished (see `unfinished`); returns the runs taken up."""
        taken: list[str] = []
        for event in self.workspace.store.rows("events", "kind in (?, ?)", [QUEUED, CONFIRMED], order_by="id"):
            run_id = event["run_id"]
            found = None if run_id in taken or self.busy(run_id) else unfinished(self.workspace.store, event)
            if found is None:
                continue
            kind, arg = found
            if kind == "start":
                self._put(run_id, partial(self._run, run_id, *arg))
            else:
                self._put(run_id, partial(self._resume, run_id) if kind == "resume" else partial(self._edit, arg))
            taken.append(run_id)
        return taken

    # 2. the work ----------------------------------------------------------------------------------
    def _run(self, run_id: str, upload: Upload, overrides: Overrides) -> None:
        from agent.brief import load_brief_text
        from agent.runner import start_run

        brief = load_brief_text(upload.kept.read_text(encoding="utf-8"), upload.root / upload.name, upload.root)
        start_run(upload.kept, self.workspace, overrides=overrides, brief=brief,
                  progress=StoreProgress(self.workspace.store, run_id), pool=self.backends, run_id=run_id)  # fmt: skip

    def _edit(self, request: Any) -> None:
        from agent.edit.session import apply_edit

        apply_edit(self.workspace, request, progress=StoreProgress(self.workspace.store, request.run_id))

    def _resume(self, run_id: str) -> None:
        from agent.runner import resume_run

        resume_run(run_id, self.workspace, progress=StoreProgress(self.workspace.store, run_id), pool=self.backends)

    def _put(self, run_id: str, work: Callable[[], Any]) -> None:
        with self._lock:
            self._busy.add(run_id)
        self._queue.put((run_id, work))

    def _serve(self) -> None:
        while (item := self._queue.get()) is not None:
            run_id, work = item
            try:
                work()
            except Exception as exc:  # the run is marked failed by the runner; one that never began is marked here
                log.warning("run %s: %s: %s", run_id, type(exc).__name__, exc)
                if self.workspace.store.get("runs", run_id) is None:
                    self.workspace.store.event(run_id, FAILED, {"error": f"{exc}"})
            finally:
                with self._lock:
                    self._busy.discard(run_id)


def unfinished(store: Store, event: dict[str, Any]) -> tuple[str, Any] | None:
    """What finishes the work a studio event began: ("start", (upload, overrides)) for a queued run that
    never began, ("resume", None) for a run left running, ("edit", request) for a confirmed edit never
    applied; None when it finished (or failed)."""
    from agent.studio.edits import pending_request

    run_id = event["run_id"]
    row = store.get("runs", run_id)
    if row is None:
        if event["kind"] != QUEUED or store.rows("events", "run_id = ? and kind = ?", [run_id, FAILED]):
            return None
        return "start", (Upload.model_validate(event["data"]), Overrides.model_validate(event["data"]["overrides"]))
    if row["status"] == "running":
        return "resume", None
    if row["status"] == "done" and event["kind"] == CONFIRMED:
        request = pending_request(store, run_id, event["data"]["edit_id"])
        return ("edit", request) if request is not None else None
    return None

