"""The store: migrations on open, JSON columns, concurrent writers from several processes."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from agent.errors import DiskFull, RunNotFound
from agent.store import MIGRATIONS, Store


@pytest.fixture
def fresh_db() -> Store:
    return Store(None)


def test_migrations_apply_once(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store(path)
    store = Store(path)  # reopening applies nothing twice
    names = [r["name"] for r in store.db["_migrations"].rows]
    assert names == [m.__name__ for m in MIGRATIONS]
    assert {"runs", "plans", "shots", "takes", "scores", "cuts", "events"} <= set(store.db.table_names())
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_json_columns_round_trip(fresh_db: Store) -> None:
    fresh_db.create_run({"id": "r1", "brief": {"a": [1, 2]}, "choices": {"video": "animatic"}})
    run = fresh_db.run("r1")
    assert run["brief"] == {"a": [1, 2]} and run["status"] == "running"
    assert [e["kind"] for e in fresh_db.events("r1")] == ["run_created"]


def test_unknown_run_is_a_clear_error(fresh_db: Store) -> None:
    with pytest.raises(RunNotFound, match="no run 'nope'"):
        fresh_db.run("nope")


def test_cached_take_needs_the_file(fresh_db: Store, tmp_path: Path) -> None:
    media = tmp_path / "m.mp4"
    fresh_db.write("takes", {"id": "t1", "cache_key": "k1", "status": "done", "path": str(media), "rendered": 1})
    assert fresh_db.cached_take("k1") is None
    media.write_bytes(b"x")
    assert fresh_db.cached_take("k1")["id"] == "t1"
    assert fresh_db.render_count() == 1


def _writer(path: str, worker: int, n: int) -> None:
    store = Store(path)
    for i in range(n):
        store.write("takes", {"id": f"{worker}-{i}", "cache_key": f"k{i}", "run_id": f"r{worker}",
                              "status": "done", "rendered": 1, "metadata": {"i": i}})  # fmt: skip
        store.event(f"r{worker}", "tick", {"i": i})


def test_several_processes_write_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    Store(path)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 150)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    store = Store(path)
    assert store.render_count() == 600
    assert store.db["events"].count == 600


def test_scorecards_stored_in_cut_rows_move_to_their_own_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A workspace made before m004 keeps its scorecards: they become rows that `cuts()` reads back."""
    import agent.store as store_module

    path = tmp_path / "old.db"
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS[:3])
    old = Store(path)
    card = {"shots": [{"shot": 0, "metrics": {"clip_score": 0.5}, "not_computed": {}, "composite": 0.5}],
            "cut": {"composite": 0.5, "mean_shot_composite": 0.5}, "weights": {}, "thresholds": {}}
    old.write("cuts", {"id": "r1:a/v0:1:1:1", "run_id": "r1", "plan_key": "a/v0", "format": "1:1", "version": 1,
                       "path": "x.mp4", "scorecard": card, "created_at": 1.0})  # fmt: skip
    old.close()
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS)
    store = Store(path)
    assert "scorecard" not in store.db["cuts"].columns_dict
    assert store.cuts("r1")[0]["scorecard"] == card == store.scorecard("r1", "a/v0", "1:1", 1)


def test_a_take_score_keeps_its_notes(fresh_db: Store) -> None:
    fresh_db.save_score("t1", {"metrics": {"motion": 0.1}, "not_computed": {}, "composite": 0.4,
                               "notes": {"temporal_flicker": "weighted by stillness"}})  # fmt: skip
    assert fresh_db.score("t1")["notes"] == {"temporal_flicker": "weighted by stillness"}


def test_a_full_database_reads_like_any_full_disk(tmp_path: Path) -> None:
    """SQLite's own "database or disk is full" (here a real page limit, as a full disk gives) is a
    DiskFull naming the file in the same words a media write uses, so the runner frees its reserved
    room and the person reads one message whichever file the disk filled on."""
    path = tmp_path / "small.db"
    store = Store(path)
    store.create_run({"id": "r1", "brief": {}, "choices": {}})
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages + 1}")
    with pytest.raises(DiskFull) as raised:
        for i in range(200):
            store.event("r1", "tick", {"pad": "x" * 4000, "i": i})
    message = str(raised.value)
    assert str(path) in message and "no space left on the device" in message
    assert store.run("r1")["status"] == "running"  # what was written before is still there


def test_opening_a_new_database_another_process_is_writing_waits_for_it(tmp_path: Path) -> None:
    """A second process opening a database not yet in WAL mode while the first holds its write lock: SQLite
    answers the switch to WAL "database is locked" at once (waiting could deadlock); the store waits instead."""
    import sqlite3
    import threading
    import time

    path = tmp_path / "new.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE t (x)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO t VALUES (1)")
    threading.Timer(0.5, lambda: writer.execute("COMMIT")).start()
    started = time.monotonic()
    store = Store(path)
    assert time.monotonic() - started >= 0.4  # it waited for the writer rather than failing at once
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert [r["name"] for r in store.db["_migrations"].rows] == [m.__name__ for m in MIGRATIONS]
    writer.close()
