"""A workspace moved or copied to another folder (agent.store: `Store._relocate`): its records name its own
files again, so nothing is rendered again, nothing is made at the old place, and a copy never writes
beside the original's files."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.store import Store

ROOT = Path(__file__).parents[1]


def cli(ws: Path, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "BRIEFCUT_LLM_MODEL")}
    result = CliRunner().invoke(app, ["--workdir", str(ws), *args, "--json"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def brief(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("brief") / "relocate.yaml"
    text = (ROOT / "briefs" / "multi-format.yaml").read_text()
    path.write_text(text.replace('["16:9", "9:16", "1:1", "4:5"]', '["16:9"]').replace("resolution: 540", "resolution: 96"))
    return path


def rendered(ws: Path) -> int:
    return sum(t["rendered"] for t in Store(ws / "briefcut.db").rows("takes", "status = 'done'"))


def texts(ws: Path) -> str:
    """Every text field of the workspace's database, as one string."""
    with sqlite3.connect(ws / "briefcut.db") as conn:
        return "\n".join(line for line in conn.iterdump())


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def test_a_moved_workspace_renders_nothing_again_and_makes_nothing_at_its_old_place(tmp_path: Path, brief: Path) -> None:
    old, new = tmp_path / "wörk \"one\"", tmp_path / "moved"  # a folder JSON escapes (non-ASCII, a quote)
    first = cli(old, "run", str(brief), "--draft")
    made = rendered(old)
    assert made > 0 and str(old) in texts(old)
    shutil.move(old, new)

    again = cli(new, "run", str(brief), "--draft", "--fresh")  # a new run: every take from the media cache
    assert rendered(new) == made
    assert again["run_id"] != first["run_id"] and all(Path(c["path"]).is_file() for c in again["cuts"])
    edited = cli(new, "edit", first["run_id"], "-m", "caption 1: Moved along")
    assert edited["version"] == 2 and all(Path(c["path"]).parent.parent == new / "runs" for c in edited["cuts"])
    assert rendered(new) == made and not old.exists()  # the old folder is not made again
    dump = texts(new)
    assert str(old) not in dump and json.dumps(str(old))[1:-1] not in dump and str(new / "media") in dump


def test_a_copy_writes_only_its_own_files(tmp_path: Path, brief: Path) -> None:
    original, copy = tmp_path / "original", tmp_path / "copy"
    run = cli(original, "run", str(brief), "--draft")
    shutil.copytree(original, copy)
    before = snapshot(original)

    cli(copy, "edit", run["run_id"], "-m", "cta: Copy that")  # its takes are scored again (new words)
    cli(copy, "run", str(brief), "--draft", "--fresh")
    assert snapshot(original) == before
    takes = Store(copy / "briefcut.db").rows("takes", "status = 'done'")
    assert takes and all(Path(t["path"]).is_relative_to(copy) for t in takes)
    assert str(original) + "/" not in texts(copy)


def test_a_workspace_made_before_the_folder_was_recorded_finds_its_files_after_a_move(tmp_path: Path, brief: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    cli(old, "run", str(brief), "--draft")
    made = rendered(old)
    with sqlite3.connect(old / "briefcut.db") as conn:  # as an older briefcut left it: no folder recorded
        conn.execute("drop table workspace")
    shutil.move(old, new)
    cli(new, "run", str(brief), "--draft", "--fresh")
    assert rendered(new) == made and not old.exists()
    assert Store(new / "briefcut.db").rows("workspace") == [{"key": "root", "value": str(new)}]


def test_a_moved_workspace_opened_read_only_reads_its_own_files_and_writes_nothing(tmp_path: Path, brief: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "archive"
    run = cli(old, "run", str(brief), "--draft")
    shutil.move(old, new)
    before = snapshot(new)
    store = Store(new / "briefcut.db", read_only=True)
    takes, cuts = store.rows("takes", "status = 'done'"), store.cuts(run["run_id"])
    assert takes and all(Path(t["path"]).is_file() and Path(t["path"]).is_relative_to(new) for t in takes)
    assert cuts and all(Path(c["path"]).is_file() for c in cuts)
    assert Path(store.get("runs", run["run_id"])["out_dir"]) == new / "runs" / run["run_id"]
    store.close()
    index = ("briefcut.db-shm", "briefcut.db-wal")  # SQLite's WAL index, which `mode=ro` makes where it can
    assert {p: s for p, s in snapshot(new).items() if not p.endswith(index)} == before
    assert str(old) + "/" in texts(new)  # the records themselves are as they were
