"""The store: one SQLite file (sqlite-utils) holding runs, plans, shots, takes, scores, cuts, events.

Migrations are numbered functions applied on open. WAL and a 30 s busy timeout let several
processes (batch workers, a second run) write at once; a lock serialises this process's threads.

Reads, and the events appended to a run, are plain SQL on the store's own connection; sqlite-utils
(which imports numpy and loads its plugins: most of what opening a store cost) comes in at the first
other write or migration, so a command that only reads and notes an event (a repeat `briefcut run`,
`briefcut runs ls`) never imports it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.errors import DiskFull, RunNotFound, WorkspaceError, storage_error
from generators.errors import NO_SPACE

if TYPE_CHECKING:
    import sqlite_utils

JSON_COLUMNS = {
    "brief", "choices", "plan", "parameters", "metadata", "timings", "scorecard",
    "provenance", "data", "metrics", "not_computed", "notes", "diff", "warnings", "pool_loads", "card", "result",
}  # fmt: skip


def m001_initial(db: sqlite_utils.Database) -> None:
    db["runs"].create(
        {
            "id": str, "brief_path": str, "brief": str, "brief_hash": str, "profile": str,
            "planner": str, "choices": str, "status": str, "error": str, "out_dir": str,
            "batch_id": str, "pool_loads": str, "created_at": float, "updated_at": float,
        },
        pk="id",
    )  # fmt: skip
    db["plans"].create(
        {"id": str, "run_id": str, "key": str, "segment": str, "variant": int, "version": int,
         "plan": str, "planner": str, "created_at": float},
        pk="id", foreign_keys=[("run_id", "runs", "id")],
    )  # fmt: skip
    db["shots"].create(
        {"id": str, "run_id": str, "plan_key": str, "version": int, "idx": int, "role": str,
         "description": str, "prompt": str, "negative_prompt": str, "seconds": float, "camera": str,
         "caption": str, "voice_line": str},
        pk="id",
    )  # fmt: skip
    db["takes"].create(
        {
            "id": str, "cache_key": str, "run_id": str, "kind": str, "plan_key": str, "shot": int, "shot_uid": str,
            "format": str, "take_no": int, "round": int, "lineage": int, "backend": str, "model": str,
            "parameters": str, "seed": int, "path": str, "embeds_path": str, "status": str,
            "reason": str, "rendered": int, "timings": str, "metadata": str, "created_at": float,
        },
        pk="id",
    )  # fmt: skip
    db["scores"].create(
        {"take_id": str, "metrics": str, "not_computed": str, "composite": float, "created_at": float},
        pk="take_id",
    )
    db["cuts"].create(
        {
            "id": str, "run_id": str, "plan_key": str, "format": str, "version": int, "path": str,
            "srt": str, "poster": str, "contact_sheet": str, "duration_s": float, "scorecard": str,
            "provenance": str, "warnings": str, "diff": str, "created_at": float,
        },
        pk="id",
    )  # fmt: skip
    db["events"].create(
        {"id": int, "run_id": str, "ts": float, "kind": str, "data": str}, pk="id"
    )
    db["takes"].create_index(["cache_key"])
    db["takes"].create_index(["run_id", "plan_key", "shot", "format"])
    db["events"].create_index(["run_id"])
    db["cuts"].create_index(["run_id"])


def m002_batches(db: sqlite_utils.Database) -> None:
    db["batches"].create(
        {"id": str, "briefs": str, "options": str, "status": str, "report": str,
         "created_at": float, "updated_at": float},
        pk="id",
    )  # fmt: skip
    db["batch_jobs"].create(
        {"id": str, "batch_id": str, "brief_path": str, "segment": str, "variants": int,
         "run_id": str, "status": str, "error": str, "updated_at": float},
        pk="id",
    )  # fmt: skip
    db["batch_jobs"].create_index(["batch_id"])


def m003_batch_stats(db: sqlite_utils.Database) -> None:
    """Batch bookkeeping: the executor, model loads and timings; each job's order and backend group."""
    for column, kind in (("executor", str), ("pool_loads", str), ("timings", str)):
        db["batches"].add_column(column, kind)
    for column, kind in (("position", int), ("group_key", str), ("started_at", float), ("seconds", float)):
        db["batch_jobs"].add_column(column, kind)


def m004_scorecards(db: sqlite_utils.Database) -> None:
    """Scorecards become rows of their own (one per cut and version, written by each scoring pass and
    read by delivery, reports and views) instead of a copy inside each cut row; take scores keep notes."""
    db["scorecards"].create(
        {"id": str, "run_id": str, "plan_key": str, "format": str, "version": int, "card": str,
         "created_at": float, "updated_at": float},
        pk="id",
    )  # fmt: skip
    db["scorecards"].create_index(["run_id"])
    for row in db["cuts"].rows:
        if row.get("scorecard"):
            db["scorecards"].insert({k: row[k] for k in ("id", "run_id", "plan_key", "format", "version")}
                                    | {"card": row["scorecard"], "created_at": row["created_at"],
                                       "updated_at": row["created_at"]})  # fmt: skip
    db["cuts"].transform(drop={"scorecard"})
    db["scores"].add_column("notes", str)


def m005_steps(db: sqlite_utils.Database) -> None:
    """Graph steps whose writes are done (an edit applied, a refine round revised), each with what the
    step returned, so a step that runs again after a crash finds its record and changes nothing."""
    db["steps"].create({"id": str, "run_id": str, "step": str, "result": str, "created_at": float}, pk="id")
    db["steps"].create_index(["run_id"])


def m006_audience(db: sqlite_utils.Database) -> None:
    """The persona panel's result per run, segment and cut version (computed or not, and why)."""
    db["audience"].create(
        {"id": str, "run_id": str, "segment": str, "version": int, "result": str, "created_at": float},
        pk="id",
    )  # fmt: skip
    db["audience"].create_index(["run_id"])


def m007_run_keys(db: sqlite_utils.Database) -> None:
    """Each run's key: the digest of what decides its cuts (`agent.settled`), so a repeat finds it."""
    db["runs"].add_column("run_key", str)
    db["runs"].create_index(["run_key"])


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    m001_initial, m002_batches, m003_batch_stats, m004_scorecards, m005_steps, m006_audience, m007_run_keys,
]


class Store:
    """The workspace database. Rows come back as dicts with JSON columns decoded.

    `read_only` opens an existing database without writing anything (not even its WAL files), so
    a read-only workspace can still be listed and reported on. Every SQLite failure becomes a
    WorkspaceError naming the database file.
    """

    def __init__(self, path: Path | str | None = None, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self._lock = threading.RLock()
        self._depth = 0  # nesting of `transaction()`
        self._keys: dict[str, str] = {}  # table -> its primary key column, read once (a key never changes)
        self._db: sqlite_utils.Database | None = None
        self._moved: tuple[str, str] | None = None  # read-only and moved: ("<old folder>/", "<folder>/") on read
        with self._errors():
            if path is None:
                self.conn = sqlite3.connect(":memory:")
            elif read_only:
                self.conn = _open_read_only(Path(path))
            else:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                self.conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False, isolation_level=None)
                wal_mode(self.conn)
            self.conn.execute("PRAGMA busy_timeout=30000")
            self._migrate()
        if path is not None:
            self._relocate(Path(path).resolve().parent)

    @property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils over the store's connection, made at its first use (writes, migrations)."""
        with self._lock:
            if self._db is None:
                import sqlite_utils

                with self._errors():
                    self._db = sqlite_utils.Database(self.conn)
            return self._db

    def close(self) -> None:
        """Close the connection (the workspace that owns this store does this)."""
        with self._lock:
            self.conn.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """SQLite's failures as one WorkspaceError naming the file and what it means."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise database_error(self.path or ":memory:", exc) from None
        except OSError as exc:
            raise storage_error(exc, self.path) or exc from None

    # 1. migrations ---------------------------------------------------------------------------
    def _migrate(self) -> None:
        """Apply the migrations this database lacks. An up-to-date database is only read, so opening a
        workspace never waits on another process's write (a process stopped mid-write holds SQLite's
        write lock; `resume` must still reach the run lock and say who holds it)."""
        with self._lock, self._errors():
            tables = self._table_names()
            done = {r["name"] for r in self._select("_migrations")} if "_migrations" in tables else set()
        if {m.__name__ for m in MIGRATIONS} <= done:
            return
        if self.read_only:
            raise WorkspaceError(f"{self.path}: made by an older briefcut; open it once where it can be "
                                 "written, to bring it up to date")  # fmt: skip
        db = self.db  # (made before the transaction: it sets a pragma on the connection)
        with self._lock, self._immediate():
            if "_migrations" not in db.table_names():
                db["_migrations"].create({"name": str, "applied_at": float}, pk="name")
            done = {r["name"] for r in db["_migrations"].rows}
            for migration in MIGRATIONS:
                if migration.__name__ not in done:
                    migration(db)
                    db["_migrations"].insert({"name": migration.__name__, "applied_at": time.time()})

    # 2. where the workspace is ---------------------------------------------------------------
    def _relocate(self, root: Path) -> None:
        """Records name the workspace's files by absolute path. A workspace moved or copied to another
        folder has them name its own files again: in every text field, "<old folder>/" becomes
        "<folder>/", once, when the database is first opened at the new place; so its takes, scores and
        cuts are found (nothing is rendered again) and nothing is written beside another copy's files.
        The folder is recorded on first open; for a workspace made before that record, it is read off a
        take's file (`<folder>/media/...`) found under the new folder. Paths outside the folder (briefs,
        assets, `--out` folders) are left as they are. A read-only store writes nothing: it names the new
        folder in the rows it reads instead. (The folder is kept in a table of its own, `workspace`, made
        here rather than by a migration, so a workspace an earlier briefcut made still opens read-only.)"""
        here = str(root)
        with self._lock, self._errors():
            recorded = self._root()
            if recorded == here:  # the usual case: only read
                return
            if self.read_only:
                recorded = recorded or self._media_root(root)
                self._moved = (recorded + "/", here + "/") if recorded is not None and recorded != here else None
                return
        with self._lock, self._immediate():
            self.conn.execute("create table if not exists workspace (key text primary key, value text)")
            recorded = self._root() or self._media_root(root)  # read inside the write: another process may have done it
            if recorded is not None and recorded != here:
                self._rewrite(recorded, here)
            self.conn.execute("insert or replace into workspace (key, value) values ('root', ?)", [here])

    def _root(self) -> str | None:
        if "workspace" not in self._table_names():
            return None
        row = self.conn.execute("select value from workspace where key = 'root'").fetchone()
        return row[0] if row else None

    def _media_root(self, root: Path) -> str | None:
        """The folder the takes' media files were named under (`<folder>/media/<2 characters>/<file>`), read
        off the newest take whose file is now under `root`'s media; None when none is."""
        rows = self.conn.execute("select path from takes where path like '%/media/__/%' order by created_at desc limit 20")
        for (path,) in rows.fetchall():
            before, _, inside = path.rpartition("/media/")
            if (root / "media" / inside).is_file():
                return before
        return None

    def _rewrite(self, old: str, new: str) -> None:
        """Every text field's "<old>/" as "<new>/", also where JSON escaped it (non-ASCII, quotes)."""
        forms = {(old + "/", new + "/"), (json.dumps(old + "/")[1:-1], json.dumps(new + "/")[1:-1])}
        for table in self._table_names():
            if table in ("_migrations", "workspace") or table.startswith("sqlite_"):
                continue
            columns = [r[1] for r in self.conn.execute(f"pragma table_info({_quote(table)})") if r[2].upper() == "TEXT"]
            for column in map(_quote, columns):
                for was, now in forms:
                    self.conn.execute(f"update {_quote(table)} set {column} = replace({column}, ?, ?) "
                                      f"where instr({column}, ?) > 0", [was, now, was])  # fmt: skip

    @contextmanager
    def _immediate(self) -> Iterator[None]:
        """A write transaction taken up front, so concurrent writers queue on the busy timeout; inside
        `transaction()` the writes join the open one."""
        if self._depth:
            yield
            return
        if self.read_only:
            raise WorkspaceError(f"{self.path}: opened read-only; nothing can be written")
        with self._errors():
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if self.conn.in_transaction:  # SQLite itself rolls back on a full disk or I/O error
                    self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Every write inside happens together or not at all (a crash in between leaves none of them)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            with self._immediate():
                self._depth = 1
                try:
                    yield
                finally:
                    self._depth = 0

    # 3. generic helpers ----------------------------------------------------------------------
    def write(self, table: str, row: dict[str, Any], pk: str = "id", replace: bool = False) -> None:
        """Insert (or upsert with `replace`) one row, JSON-encoding dict/list values."""
        row, db = {k: _encode(v) for k, v in row.items()}, self.db
        with self._lock, self._immediate():
            if replace:
                db[table].upsert(row, pk=pk)
            else:
                db[table].insert(row, pk=pk)

    def update(self, table: str, pk_value: str, **values: Any) -> None:
        db = self.db
        with self._lock, self._immediate():
            db[table].update(pk_value, {k: _encode(v) for k, v in values.items()})

    def append(self, table: str, row: dict[str, Any]) -> None:
        """Insert one row into a table the migrations made, by plain SQL (JSON-encoding dict/list values)."""
        columns = ", ".join(_quote(k) for k in row)
        sql = f"INSERT INTO {_quote(table)} ({columns}) VALUES ({', '.join('?' for _ in row)})"
        with self._lock, self._immediate():
            self.conn.execute(sql, [_encode(v) for v in row.values()])

    def rows(self, table: str, where: str = "", params: Any = (), order_by: str | None = None) -> list[dict]:
        with self._lock, self._errors():
            return [self._row(r) for r in self._select(table, where, params, order_by)]

    def get(self, table: str, pk_value: str) -> dict | None:
        """The row whose primary key is `pk_value` (a table without one: its rowid), or None."""
        with self._lock, self._errors():
            pk = self._keys.get(table)
            if pk is None:
                info = self.conn.execute(f"PRAGMA table_info({_quote(table)})").fetchall()
                pk = next((c[1] for c in sorted(info, key=lambda c: c[5]) if c[5]), "rowid")
                if info:  # a table not made yet is asked again
                    self._keys[table] = pk
            rows = self._select(table, f"{_quote(pk)} = ?", [pk_value])
            return self._row(rows[0]) if rows else None

    def _row(self, row: dict) -> dict:
        """A row as read: JSON columns decoded, and (read-only, moved) the old folder's paths as the new one's."""
        return _decode(row) if self._moved is None else _renamed(_decode(row), *self._moved)

    def _select(self, table: str, where: str = "", params: Any = (), order_by: str | None = None) -> list[dict]:
        sql = f"select * from {_quote(table)}" + (f" where {where}" if where else "")
        cursor = self.conn.execute(sql + (f" order by {order_by}" if order_by else ""), params or [])
        columns = [c[0] for c in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor]

    def _table_names(self) -> list[str]:
        return [r[0] for r in self.conn.execute("select name from sqlite_master where type = 'table'")]

    # Graph steps done (see m005_steps) ------------------------------------------------------
    def step_result(self, run_id: str, step: str) -> dict | None:
        """What a recorded step returned, or None when it has not completed."""
        row = self.get("steps", f"{run_id}:{step}")
        return row["result"] if row else None

    def record_step(self, run_id: str, step: str, result: dict) -> None:
        """Record a step as done with its result (call inside the `transaction()` holding its writes)."""
        self.write("steps", {"id": f"{run_id}:{step}", "run_id": run_id, "step": step, "result": result,
                             "created_at": time.time()}, replace=True)  # fmt: skip

    # 4. the domain ---------------------------------------------------------------------------
    def create_run(self, run: dict[str, Any]) -> None:
        now = time.time()
        self.write("runs", {"status": "running", "created_at": now, "updated_at": now, **run})
        self.event(run["id"], "run_created", {"brief_path": run.get("brief_path")})

    def run(self, run_id: str) -> dict:
        row = self.get("runs", run_id)
        if row is None:
            raise RunNotFound(f"no run '{run_id}' in {self.path or 'the store'}")
        return row

    def set_run_status(self, run_id: str, status: str, error: str | None = None) -> None:
        self.update("runs", run_id, status=status, error=error, updated_at=time.time())
        self.event(run_id, f"run_{status}", {"error": error} if error else {})

    def runs(self, limit: int = 50) -> list[dict]:
        return self.rows("runs", order_by="created_at desc")[:limit]

    def event(self, run_id: str, kind: str, data: dict | None = None) -> None:
        self.append("events", {"run_id": run_id, "ts": time.time(), "kind": kind, "data": data or {}})

    def events(self, run_id: str) -> list[dict]:
        return self.rows("events", "run_id = ?", [run_id], order_by="id")

    def save_plan(self, run_id: str, plan: dict, version: int) -> None:
        key = f"{plan['segment']}/v{plan['variant']}"
        self.write(
            "plans",
            {"id": f"{run_id}:{key}:{version}", "run_id": run_id, "key": key, "segment": plan["segment"],
             "variant": plan["variant"], "version": version, "plan": plan, "planner": plan.get("planner"),
             "created_at": time.time()},
            replace=True,
        )  # fmt: skip
        for shot in plan["shots"]:
            self.write(
                "shots",
                {"id": f"{run_id}:{key}:{version}:{shot['index']}", "run_id": run_id, "plan_key": key,
                 "version": version, "idx": shot["index"],
                 **{k: shot[k] for k in ("role", "description", "prompt", "negative_prompt", "seconds",
                                         "camera", "caption", "voice_line")}},
                replace=True,
            )  # fmt: skip

    def plans(self, run_id: str) -> list[dict]:
        return self.rows("plans", "run_id = ?", [run_id], order_by="key, version")

    def latest_plans(self, run_id: str) -> dict[str, dict]:
        latest: dict[str, dict] = {}
        for row in self.plans(run_id):
            latest[row["key"]] = row
        return latest

    def cached_take(self, cache_key: str) -> dict | None:
        """A finished take with this cache key whose file still exists, from any run."""
        for row in self.rows("takes", "cache_key = ? and status = 'done'", [cache_key], order_by="created_at"):
            if row["path"] and Path(row["path"]).exists():
                return row
        return None

    def takes(self, run_id: str, **where: Any) -> list[dict]:
        clause = " and ".join(["run_id = ?"] + [f"{k} = ?" for k in where])
        return self.rows("takes", clause, [run_id, *where.values()], order_by="created_at")

    def save_score(self, take_id: str, score: dict[str, Any]) -> None:
        """A take's score (metrics, not_computed, composite, notes), replacing any earlier one."""
        row = {k: score.get(k) for k in ("metrics", "not_computed", "composite", "notes")}
        self.write("scores", {"take_id": take_id, **row, "created_at": time.time()}, pk="take_id", replace=True)

    def score(self, take_id: str) -> dict | None:
        """A take's stored score (metrics, not_computed, composite, notes), or None."""
        row = self.get("scores", take_id)
        if row is None:
            return None
        return {k: row[k] for k in ("metrics", "not_computed", "composite")} | {"notes": row.get("notes") or {}}

    def save_scorecard(self, run_id: str, plan_key: str, fmt: str, version: int, card: dict[str, Any]) -> None:
        """The scorecard of one cut version, replacing the one an earlier pass stored."""
        now = time.time()
        key = cut_id(run_id, plan_key, fmt, version)
        created = (self.get("scorecards", key) or {}).get("created_at") or now
        self.write("scorecards", {"id": key, "run_id": run_id, "plan_key": plan_key, "format": fmt,
                                  "version": version, "card": card, "created_at": created, "updated_at": now},
                   replace=True)  # fmt: skip

    def scorecard(self, run_id: str, plan_key: str, fmt: str, version: int) -> dict | None:
        """The stored scorecard of one cut version, or None."""
        row = self.get("scorecards", cut_id(run_id, plan_key, fmt, version))
        return row["card"] if row else None

    def save_audience(self, run_id: str, segment: str, version: int, result: dict[str, Any]) -> None:
        """The persona panel's result for one segment and cut version, replacing an earlier one."""
        self.write("audience", {"id": f"{run_id}:{segment}:{version}", "run_id": run_id, "segment": segment,
                                "version": version, "result": result, "created_at": time.time()}, replace=True)  # fmt: skip

    def audience(self, run_id: str, version: int | None = None) -> dict[str, dict]:
        """The panel's results by segment, for `version` (default: each segment's latest)."""
        where, params = ("run_id = ?", [run_id]) if version is None else ("run_id = ? and version = ?", [run_id, version])
        return {r["segment"]: r["result"] for r in self.rows("audience", where, params, order_by="version")}

    def cuts(self, run_id: str) -> list[dict]:
        """The run's cuts, oldest version first, each with its stored `scorecard` (None if it has none)."""
        cards = {r["id"]: r["card"] for r in self.rows("scorecards", "run_id = ?", [run_id])}
        rows = self.rows("cuts", "run_id = ?", [run_id], order_by="version, plan_key, format")
        return [{**r, "scorecard": cards.get(r["id"])} for r in rows]

    def render_count(self, run_id: str | None = None) -> int:
        """How many takes were really rendered (not taken from the cache)."""
        where, params = ("rendered = 1", []) if run_id is None else ("rendered = 1 and run_id = ?", [run_id])
        with self._lock, self._errors():
            return self.conn.execute(f"select count(*) from takes where {where}", params).fetchone()[0]


def _open_read_only(path: Path) -> sqlite3.Connection:
    """A connection that writes nothing: `mode=ro`, else (a read-only folder where SQLite cannot make
    the WAL index) `immutable=1`, which reads the file as it is."""
    if not path.is_file():
        raise WorkspaceError(f"{path}: no workspace database here")
    uri = path.resolve().as_uri()
    for flags in ("mode=ro", "immutable=1"):
        conn = sqlite3.connect(f"{uri}?{flags}", uri=True, timeout=30, check_same_thread=False,
                               isolation_level=None)  # fmt: skip
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError:
            conn.close()
            if flags == "immutable=1":
                raise
    raise AssertionError("unreachable")


def database_error(path: Path | str, exc: sqlite3.DatabaseError) -> WorkspaceError | DiskFull:
    """One line naming the database file and what the SQLite error means for the person. A full disk
    reads the same as a media file's ("no space left on the device") and is the same type, DiskFull."""
    text = str(exc)
    lowered = text.lower()
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in lowered:
        return DiskFull(f"{path}: cannot be written: {NO_SPACE} (SQLite: {text}); free some space and resume")
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        why = (f"damaged, or not a briefcut database ({text}); move it aside (a new one is made on the next "
               "run) or restore it from a backup")  # fmt: skip
    elif "readonly" in lowered or "read-only" in lowered:
        why = f"cannot be written: the workspace is read-only ({text})"
    elif "disk i/o" in lowered:
        why = f"cannot be written: {text} (check the disk and its free space, then resume)"
    elif "unable to open" in lowered:
        why = f"cannot be opened ({text}): check the folder exists and can be written"
    else:
        why = text
    return WorkspaceError(f"{path}: {why}")


def wal_mode(conn: sqlite3.Connection, seconds: float = 30.0) -> None:
    """Put the database in WAL mode. Two processes opening a new database at once both switch it: each
    holds a shared lock and wants the exclusive one, and SQLite answers one "database is locked" at once,
    without waiting (its busy timeout would deadlock); that one tries again until the other is done."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorcode", sqlite3.SQLITE_BUSY) & 0xFF == sqlite3.SQLITE_BUSY
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def cut_id(run_id: str, plan_key: str, fmt: str, version: int) -> str:
    """The id shared by a cut row and its scorecard row."""
    return f"{run_id}:{plan_key}:{fmt}:{version}"


def _quote(identifier: str) -> str:
    """An SQL identifier, double-quoted (as sqlite-utils quotes them)."""
    return '"{}"'.format(identifier.replace('"', '""'))


def _encode(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    if isinstance(value, Path):
        return str(value)
    return value


def _renamed(value: Any, old: str, new: str) -> Any:
    """`value` with `old` as `new` in every string inside it."""
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {k: _renamed(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, old, new) for v in value]
    return value


def _decode(row: dict) -> dict:
    out = dict(row)
    for k in JSON_COLUMNS & out.keys():
        if isinstance(out[k], str):
            try:
                out[k] = json.loads(out[k])
            except json.JSONDecodeError:
                pass
    return out
