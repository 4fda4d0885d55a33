"""Real briefcut processes killed, stopped and interrupted at injected points (BRIEFCUT_FAULT): no fault
corrupts a run. An edit or a refine round killed after its writes is applied once; a second process is
kept off a running run and its output folder; a stale lock does not block; Ctrl-C names the run;
leftovers are cleaned; and the same brief and seed give byte-identical cuts."""

from __future__ import annotations

import filecmp
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.cli import (
    briefcut,
    error_lines,
    kill,
    last_json,
    leftovers,
    only_run,
    run_status,
    spawn,
    tiny_brief,
    wait_stopped,
)
from fixtures.llama import MODEL, FakeLLM, ok
from fixtures.probe import probe_mp4


def rows(workdir: Path, sql: str, *params: object) -> list[tuple]:
    conn = sqlite3.connect(f"{(workdir / 'briefcut.db').as_uri()}?mode=ro", uri=True)
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()


def plan_shots(workdir: Path, run_id: str) -> list[int]:
    """Shot count of each stored version of the run's plan, oldest first."""
    import json

    found = rows(workdir, "select plan from plans where run_id = ? order by version", run_id)
    return [len(json.loads(p)["shots"]) for (p,) in found]


@pytest.fixture
def finished(tmp_path: Path) -> tuple[Path, str]:
    """A workspace with one finished run of the tiny brief."""
    ws = tmp_path / "ws"
    done = briefcut(ws, "run", str(tiny_brief(tmp_path)), "--json")
    assert done.returncode == 0, done.stderr
    return ws, last_json(done.stdout)["run_id"]


# 1. edits and refine rounds are applied once ----------------------------------------------------
def test_an_edit_killed_after_its_writes_is_applied_once(finished: tuple[Path, str]) -> None:
    ws, run_id = finished
    killed = briefcut(ws, "edit", run_id, "-m", "drop shot 2", BRIEFCUT_FAULT="after_edit_write")
    assert killed.returncode == -signal.SIGKILL
    assert plan_shots(ws, run_id) == [3, 2]  # the edit's writes are in
    assert run_status(ws, run_id)["status"] == "running"
    again = briefcut(ws, "edit", run_id, "-m", "drop shot 1")
    assert again.returncode == 2 and f"finish it first: briefcut resume {run_id}" in again.stderr

    resumed = briefcut(ws, "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    result = last_json(resumed.stdout)
    assert result["status"] == "done" and result["version"] == 2
    assert plan_shots(ws, run_id) == [3, 2], "the edit was applied twice"
    assert rows(ws, "select count(*) from events where run_id = ? and kind = 'edited'", run_id) == [(1,)]
    assert probe_mp4(Path(result["cuts"][0]["path"]))["frames"] == 4 * 24


def test_an_edit_killed_before_the_graph_took_it_is_applied_by_resume(finished: tuple[Path, str]) -> None:
    ws, run_id = finished
    killed = briefcut(ws, "edit", run_id, "-m", "drop shot 3", BRIEFCUT_FAULT="after_edit_request")
    assert killed.returncode == -signal.SIGKILL and plan_shots(ws, run_id) == [3]
    resumed = briefcut(ws, "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert last_json(resumed.stdout)["version"] == 2 and plan_shots(ws, run_id) == [3, 2]
    assert briefcut(ws, "resume", run_id, "--json").returncode == 0 and plan_shots(ws, run_id) == [3, 2]


def llm_plan(prompts: list[str]) -> dict:
    shots = [{"role": "product", "description": f"shot {i}", "prompt": p, "negative_prompt": "", "seconds": 1,
              "camera": "static", "sound": "", "caption": "", "voice_line": "", "transition": "cut",
              "shows_product": True}
             for i, p in enumerate(prompts)]  # fmt: skip
    return {"shots": shots, "music_prompt": "soft synth"}


def test_a_refine_round_killed_after_its_writes_revises_once(tmp_path: Path, fake_llm: FakeLLM) -> None:
    ws, brief = tmp_path / "ws", tiny_brief(tmp_path)
    # every shot is under a threshold of 1: one re-render, the weakest shot
    brief.write_text(brief.read_text().replace("refine: {max_rounds: 0}", "refine: {max_rounds: 1, max_rerenders: 1, "
                                                                          "threshold: 1.0}\naudience: {panel: off}"))  # fmt: skip
    fake_llm.replies = [ok(llm_plan(["a Tiny Lamp on a desk", "a Tiny Lamp by a window", "a Tiny Lamp at night"])),
                        ok({"prompt": "a Tiny Lamp glowing on a desk", "negative_prompt": "blur"})]  # fmt: skip
    llm = {"OPENAI_BASE_URL": fake_llm.url, "BRIEFCUT_LLM_MODEL": MODEL}
    killed = briefcut(ws, "run", str(brief), "--json", BRIEFCUT_FAULT="after_refine_write", **llm)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run_id = only_run(ws)
    assert len(fake_llm.requests) == 2  # the plan, then the one revision

    resumed = briefcut(ws, "resume", run_id, "--json")  # no LLM settings here: the run recorded its endpoint
    assert resumed.returncode == 0, resumed.stderr
    assert len(fake_llm.requests) == 2, "the revision was asked for again"
    assert plan_shots(ws, run_id) == [3, 3], "a second plan version was made"
    offsets = [s["seed_offset"] for s in last_plan(ws, run_id)["shots"]]
    assert sorted(offsets) == [0, 0, 1], "the seed moved twice"
    assert rows(ws, "select count(*) from events where run_id = ? and kind = 'refined'", run_id) == [(1,)]


def last_plan(ws: Path, run_id: str) -> dict:
    import json

    return json.loads(rows(ws, "select plan from plans where run_id = ? order by version desc limit 1", run_id)[0][0])


# 2. one process per run, and per output folder; stale locks do not block ------------------------
def test_a_second_resume_is_refused_while_a_stale_lock_is_not(tmp_path: Path) -> None:
    ws, out = tmp_path / "ws", tmp_path / "shared-out"
    brief = tiny_brief(tmp_path)
    # one take at a time: stopped at the fault point, the process holds no write transaction of another thread
    first = spawn(ws, "run", str(brief), "--out", str(out), BRIEFCUT_FAULT="after_render_write:stop",
                  BRIEFCUT_RENDER_WORKERS="1")
    try:
        wait_stopped(first)
        run_id = only_run(ws)
        second = briefcut(ws, "resume", run_id)
        assert second.returncode == 2
        assert error_lines(second.stderr) == [second.stderr.strip()]
        assert f"run {run_id} is being worked on by another process (pid {first.pid} on " in second.stderr
        other = briefcut(ws, "run", str(brief), "--out", str(out))
        assert other.returncode == 2 and f"{out} is being written by another run" in other.stderr
    finally:
        kill(first)  # SIGKILL: its locks die with it, its files stay as a crash leaves them
    resumed = briefcut(ws, "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    cut = Path(last_json(resumed.stdout)["cuts"][0]["path"])
    assert cut.parent == out and probe_mp4(cut)["frames"] == 96
    assert not (ws / "locks" / f"{run_id}.lock").exists() and not (out / ".briefcut.lock").exists()


def test_a_second_resume_is_refused_at_once_while_the_holder_is_stopped_inside_a_write(tmp_path: Path) -> None:
    """A process stopped while one of its threads holds SQLite's write lock: `resume` only reads the store
    before it reaches the run lock, so it names the holder at once instead of waiting out the busy
    timeout and failing with "database is locked"."""
    ws = tmp_path / "ws"
    first = spawn(ws, "run", str(tiny_brief(tmp_path)), BRIEFCUT_FAULT="after_render_write:stop")
    writer = None
    try:
        wait_stopped(first)
        run_id = only_run(ws)
        writer = sqlite3.connect(ws / "briefcut.db", timeout=0)
        try:  # the stopped process's open write, as a thread of it would hold it...
            writer.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # ...or does: it was stopped while a render thread was writing
            pass
        second = briefcut(ws, "resume", run_id)
        assert second.returncode == 2, second.stderr
        assert f"run {run_id} is being worked on by another process (pid {first.pid} on " in second.stderr
        listed = briefcut(ws, "runs", "ls", "--json")
        assert listed.returncode == 0 and run_id in listed.stdout, listed.stderr
    finally:
        if writer is not None:
            if writer.in_transaction:
                writer.rollback()
            writer.close()
        kill(first)


def test_ctrl_c_names_the_run_marks_it_and_cleans_up(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    proc = spawn(ws, "run", str(tiny_brief(tmp_path)), BRIEFCUT_FAULT="after_render_write:stop")
    wait_stopped(proc)
    run_id = only_run(ws)
    os.kill(proc.pid, signal.SIGINT)
    os.kill(proc.pid, signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert error_lines(err)[-1] == (f"briefcut: interrupted run {run_id}; finished takes are kept: "
                                    f"`briefcut resume {run_id}` finishes it")  # fmt: skip
    assert run_status(ws, run_id)["status"] == "interrupted"
    assert leftovers(ws) == []
    assert last_json(briefcut(ws, "resume", run_id, "--json").stdout)["status"] == "done"


def test_sigterm_stops_a_run_like_ctrl_c(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    proc = spawn(ws, "run", str(tiny_brief(tmp_path)), BRIEFCUT_FAULT="after_render_write:stop")
    wait_stopped(proc)
    os.kill(proc.pid, signal.SIGTERM)
    os.kill(proc.pid, signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted run" in err
    assert run_status(ws, only_run(ws))["status"] == "interrupted"


# 3. leftovers -------------------------------------------------------------------------------------
def test_a_cut_killed_before_its_rename_leaves_no_half_cut_and_resume_cleans_up(tmp_path: Path) -> None:
    ws, out = tmp_path / "ws", tmp_path / "out"
    killed = briefcut(ws, "run", str(tiny_brief(tmp_path)), "--out", str(out), BRIEFCUT_FAULT="before_cut_rename")
    assert killed.returncode == -signal.SIGKILL
    left = leftovers(out)
    assert {p.name.split(".")[1] for p in left} == {"all_v0_1x1", "briefcut-cut"}  # the part file and the mix
    assert not (out / "all_v0_1x1.mp4").exists()
    # a take a dead process was writing, in the media cache
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = ws / "media" / "ab" / f".abc.mp4.{dead.stdout.strip()}-0badc0de.part.mp4"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"half a take")
    # and a cut's chunk it was encoding, in the cut cache
    chunk = ws / "cut-cache" / "parts" / f".0f0f.ts.{dead.stdout.strip()}-0badc0de.part.ts"
    chunk.write_bytes(b"half a chunk")

    resumed = briefcut(ws, "resume", only_run(ws), "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert leftovers(out, ws) == []
    assert probe_mp4(out / "all_v0_1x1.mp4")["frames"] == 96


# 4. reproducible encodes --------------------------------------------------------------------------
def test_the_same_brief_and_seed_give_byte_identical_files(tmp_path: Path) -> None:
    extra = "audio: {voice_over: true, music_mood: calm}\n" if _has("espeak-ng") else ""
    brief = tiny_brief(tmp_path, extra)
    outs = []
    for name in ("a", "b"):
        done = briefcut(tmp_path / f"ws-{name}", "run", str(brief), "--out", str(tmp_path / f"out-{name}"), "--json")
        assert done.returncode == 0, done.stderr
        outs.append(last_json(done.stdout))
    assert outs[0]["run_id"] != outs[1]["run_id"]
    cut_a, cut_b = (Path(o["cuts"][0]["path"]) for o in outs)
    assert cut_a.read_bytes() == cut_b.read_bytes(), "the cuts differ"
    for name in ("srt", "poster.png", "contact.png"):
        assert filecmp.cmp(cut_a.with_suffix(f".{name}"), cut_b.with_suffix(f".{name}"), shallow=False), name
    takes = [sorted(p.relative_to(tmp_path / f"ws-{n}") for p in (tmp_path / f"ws-{n}" / "media").rglob("*.*")
                    if p.suffix in (".mp4", ".wav")) for n in ("a", "b")]  # fmt: skip
    assert takes[0] == takes[1] and takes[0]
    kinds = {p.suffix for p in takes[0]}
    assert kinds == {".mp4", ".wav"}
    for rel in takes[0]:
        assert (tmp_path / "ws-a" / rel).read_bytes() == (tmp_path / "ws-b" / rel).read_bytes(), rel


def _has(tool: str) -> bool:
    import shutil

    return shutil.which(tool) is not None
