"""End to end through the CLI on the preview profile: every example brief, kill and resume, two at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fixtures.probe import probe_mp4

from agent.assembly.cut import probe
from agent.brief import load_brief
from agent.store import Store
from generators.media import read_frames

ROOT = Path(__file__).parents[1]
EXAMPLES = sorted((ROOT / "briefs").glob("*.yaml"))
DRAFT = "96"  # short side in pixels: the whole path, fast


def briefcut(*args: str, workdir: Path, timeout: int = 600, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "BRIEFCUT_HOME": str(workdir), "OMP_NUM_THREADS": "1"}
    env.pop("OPENAI_BASE_URL", None)
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, **kw)  # fmt: skip


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("brief_path", EXAMPLES, ids=lambda p: p.stem)
def test_example_brief_runs_to_probed_cuts(brief_path: Path, tmp_path: Path) -> None:
    proc = briefcut("run", str(brief_path), "--resolution", DRAFT, "--json", "--out", str(tmp_path / "out"),
                    workdir=tmp_path / "ws")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = last_json(proc.stdout)
    brief = load_brief(brief_path)
    assert result["status"] == "done"
    expected = len(brief.segments) * brief.variants.count * len(brief.formats.aspect_ratios)
    assert len(result["cuts"]) == expected
    frame = 1 / brief.formats.fps
    for cut in result["cuts"]:
        assert set(cut) >= {"brief", "segment", "variant", "format", "path", "duration_s"}
        info = probe_mp4(Path(cut["path"]))
        assert info["vcodec"] == "h264" and info["pix_fmt"] == "yuv420p" and info["acodec"] == "aac"
        assert info["fps"] == pytest.approx(brief.formats.fps)
        assert info["frames"] == round(brief.formats.duration_s * brief.formats.fps)
        assert abs(info["audio_s"] - info["video_s"]) <= frame
        w, h = (int(x) for x in cut["format"].split(":"))
        assert info["width"] / info["height"] == pytest.approx(w / h, rel=0.03)
        assert Path(cut["path"]).with_suffix(".scorecard.json").exists()
        assert Path(cut["path"]).with_suffix(".srt").exists()


def wait_for(predicate, timeout: float, step: float = 0.05) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(step)
    return False


def test_killed_run_resumes_without_rerendering(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    env = {**os.environ, "BRIEFCUT_HOME": str(ws), "OMP_NUM_THREADS": "1"}
    brief = ROOT / "briefs" / "brand-story.yaml"
    proc = subprocess.Popen([sys.executable, "-m", "agent.cli", "run", str(brief), "--resolution", DRAFT, "--json"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip

    def rendered() -> int:
        if not (ws / "briefcut.db").exists():
            return 0
        try:
            return Store(ws / "briefcut.db").render_count()
        except Exception:
            return 0

    assert wait_for(lambda: rendered() >= 2, timeout=300), proc.stderr.read() if proc.poll() is not None else ""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = Store(ws / "briefcut.db")
    run_id = store.runs()[0]["id"]
    before = {t["cache_key"] for t in store.takes(run_id) if t["rendered"] and t["status"] == "done"}
    assert store.cuts(run_id) == [], "the run finished before it was killed; the test proves nothing"

    resumed = briefcut("resume", run_id, "--json", workdir=ws)
    assert resumed.returncode == 0, resumed.stderr
    assert last_json(resumed.stdout)["status"] == "done"
    takes = Store(ws / "briefcut.db").takes(run_id)
    rendered_keys = [t["cache_key"] for t in takes if t["rendered"] and t["status"] == "done"]
    assert len(rendered_keys) == len(set(rendered_keys)), "a take was rendered twice"
    assert before <= set(rendered_keys)
    assert len(Store(ws / "briefcut.db").cuts(run_id)) == 1

    again = briefcut("resume", run_id, "--json", workdir=ws)  # a finished run: nothing to do
    assert again.returncode == 0 and last_json(again.stdout)["status"] == "done"
    assert Store(ws / "briefcut.db").render_count(run_id) == len(rendered_keys)


def test_two_runs_in_one_workspace_at_once(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    env = {**os.environ, "BRIEFCUT_HOME": str(ws), "OMP_NUM_THREADS": "1"}
    env.pop("OPENAI_BASE_URL", None)
    procs = [
        subprocess.Popen([sys.executable, "-m", "agent.cli", "run", str(ROOT / "briefs" / name), "--resolution",
                          DRAFT, "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name in ("bumper.yaml", "multi-format.yaml")
    ]  # fmt: skip
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert last_json(out)["status"] == "done"
    assert {r["status"] for r in Store(ws / "briefcut.db").runs()} == {"done"}


def test_repeated_run_renders_nothing_new(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    brief = str(ROOT / "briefs" / "bumper.yaml")
    first = briefcut("run", brief, "--resolution", DRAFT, "--json", workdir=ws)
    second = briefcut("run", brief, "--resolution", DRAFT, "--fresh", "--json", workdir=ws)  # a new run, not the first
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    store = Store(ws / "briefcut.db")
    run2 = last_json(second.stdout)["run_id"]
    assert store.render_count(last_json(first.stdout)["run_id"]) > 0
    assert store.render_count(run2) == 0
    assert all(t["status"] == "done" for t in store.takes(run2))
    # every cut came from the cut cache: the same frames, tagged with the second run's own takes
    cuts1, cuts2 = (last_json(p.stdout)["cuts"] for p in (first, second))
    assert sum(e["kind"] == "cut_reused" for e in store.events(run2)) == len(cuts2) == len(cuts1) > 0
    assert not any(e["kind"] == "cut_reused" for e in store.events(last_json(first.stdout)["run_id"]))
    for a, b in zip(cuts1, cuts2, strict=True):
        assert np.array_equal(read_frames(Path(a["path"])), read_frames(Path(b["path"])))
        tagged = json.loads(probe(Path(b["path"]))["metadata"]["comment"])
        row = next(r for r in store.rows("cuts", "run_id = ?", [run2]) if r["path"] == b["path"])
        assert tagged["video"] == row["provenance"]["video"]  # the second run's own record


@pytest.mark.parametrize(("call", "code", "err", "thread"), [("leave(3)", 3, "", False), ("leave(None)", 0, "", True),
                                                             ("leave('no brief')", 1, "no brief\n", False)])  # fmt: skip
def test_leaving_without_teardown_keeps_the_exit_handlers_the_output_and_the_status(tmp_path, call, code, err, thread):
    """The CLI exits without freeing the interpreter (agent.cli.leave); what it printed still arrives through a
    pipe, its exit handlers still run (a temporary folder is removed), and a working thread is waited for."""
    script = ("import atexit, sys, tempfile, threading, time\n"
              "from agent.cli import leave\n"
              "tmp = tempfile.TemporaryDirectory(dir=sys.argv[1])\n"
              "atexit.register(lambda: print('handler ran'))\n"
              + ("threading.Thread(target=lambda: (time.sleep(0.3), open(sys.argv[1] + '/thread', 'w').close())).start()\n"
                 if thread else "")
              + f"print('the summary', end='')\n{call}\n")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=60,
                          cwd=ROOT)  # fmt: skip
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == "the summaryhandler ran\n" and proc.stderr == err
    # the temporary folder removed; the thread finished
    assert [p.name for p in tmp_path.iterdir()] == (["thread"] if thread else [])
