"""What a restarted studio takes up, decided from the store alone: a queued run that never began is
started, a run left running is resumed, a confirmed edit never applied is applied, and finished or
failed work is left alone. (The whole path, a killed server resuming a real run, is in test_studio_api.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.edit.ops import RerenderShot
from agent.edit.request import EditRequest
from agent.store import Store
from agent.studio.uploads import Upload
from agent.studio.worker import CONFIRMED, FAILED, QUEUED, unfinished

UPLOAD = {"name": "tiny.yaml", "root": "/briefs", "kept": "/ws/briefs/abc.yaml", "overrides": {"resolution": 64}}


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "briefcut.db")


def add_run(store: Store, run_id: str, status: str, versions: int = 0) -> None:
    store.create_run({"id": run_id, "brief_path": "/ws/briefs/abc.yaml", "brief": {}, "status": status})
    for v in range(1, versions + 1):
        store.write("cuts", {"id": f"{run_id}:a/v0:1:1:{v}", "run_id": run_id, "plan_key": "a/v0", "format": "1:1",
                             "version": v, "path": f"/x_{v}.mp4"})  # fmt: skip


def last(store: Store, run_id: str, kind: str) -> dict:
    return [e for e in store.events(run_id) if e["kind"] == kind][-1]


def propose(store: Store, run_id: str, edit_id: str, version: int) -> None:
    request = EditRequest(run_id=run_id, message="shot 1 seed 9", plan_keys=["a/v0"], ops=[RerenderShot(shot=1, seed=9)])
    store.event(run_id, "edit_proposed", {"edit_id": edit_id, "request": request.model_dump(mode="json"),
                                          "dry_run": {}, "version": version})  # fmt: skip
    store.event(run_id, CONFIRMED, {"edit_id": edit_id})


def test_a_queued_run_that_never_began_is_started_with_its_brief_and_overrides(store: Store) -> None:
    store.event("r1", QUEUED, UPLOAD)
    kind, (upload, overrides) = unfinished(store, last(store, "r1", QUEUED))
    assert kind == "start" and upload == Upload(name="tiny.yaml", root=Path("/briefs"), kept=Path("/ws/briefs/abc.yaml"))
    assert overrides.resolution == 64
    store.event("r1", FAILED, {"error": "the model is gone"})
    assert unfinished(store, last(store, "r1", QUEUED)) is None  # failed before it began: not retried forever


@pytest.mark.parametrize("status, expected", [("running", "resume"), ("done", None), ("failed", None)])
def test_a_run_left_running_is_resumed_and_finished_ones_are_not(store: Store, status: str, expected) -> None:
    store.event("r2", QUEUED, UPLOAD)
    add_run(store, "r2", status, versions=1)
    found = unfinished(store, last(store, "r2", QUEUED))
    assert (found and found[0]) == expected


def test_a_confirmed_edit_is_applied_once_its_version_is_still_current(store: Store) -> None:
    add_run(store, "r3", "done", versions=1)
    propose(store, "r3", "e1", version=1)
    kind, request = unfinished(store, last(store, "r3", CONFIRMED))
    assert kind == "edit" and request.ops == [RerenderShot(shot=1, seed=9)] and request.run_id == "r3"
    store.write("cuts", {"id": "r3:a/v0:1:1:2", "run_id": "r3", "plan_key": "a/v0", "format": "1:1", "version": 2,
                         "path": "/x_2.mp4"})  # fmt: skip
    assert unfinished(store, last(store, "r3", CONFIRMED)) is None  # applied: version 2 exists
