"""Batches: briefs x segments x variants as resumable jobs sharing one loaded pool, on the preview profile."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import ClassVar

import pytest
from fixtures.probe import probe_mp4

from agent.batch.queue import BatchOptions, batch_jobs, load_batch, plan_jobs, run_batch
from agent.runner import repeat_or_start
from agent.settings import Overrides, Settings
from agent.store import Store
from agent.workspace import Workspace
from generators.base import VIDEO, ShotRequest, VideoGenerator, VideoTake
from generators.video_animatic import AnimaticVideo

BRIEF = """\
brand: {{name: {name}, palette: ["#1F3A5F", "#F2C14E", "#FAFAFA"]}}
product: {{name: {name} One, description: a small thing for tests}}
message: "{name} makes mornings easy."
call_to_action: Try {name}
segments:
  - {{id: early, description: early risers, tone: calm}}
  - {{id: late, description: night owls, tone: bold}}
formats: {{aspect_ratios: ["16:9"], duration_s: {seconds}, fps: 24, resolution: 64}}
variants: 1
shots: {shots}
refine: {{max_rounds: 0}}
seed: {seed}
{render}"""


def write_brief(folder: Path, name: str, seed: int, *, seconds: float = 4, shots: int = 2, video: str = "") -> Path:
    """A short brief with two segments; `video` picks a video backend in its render section."""
    folder.mkdir(parents=True, exist_ok=True)
    render = f"render: {{video: {{backend: {video}}}}}\n" if video else ""
    path = folder / f"{name.lower()}.yaml"
    path.write_text(BRIEF.format(name=name, seed=seed, seconds=seconds, shots=shots, render=render))
    return path


class CountingAnimatic(AnimaticVideo):
    """The animatic, counting real loads on the class (independent of the pool's own counter)."""

    name: ClassVar[str] = "counting-animatic"
    load_calls: ClassVar[int] = 0

    def load(self) -> None:
        type(self).load_calls += 1
        super().load()


class ExplodingVideo(VideoGenerator):
    """A registered backend whose renders raise: the run using it fails, no other."""

    name: ClassVar[str] = "exploding"

    def render(self, request: ShotRequest, out: Path) -> VideoTake:
        raise RuntimeError("the exploding backend exploded")


@pytest.fixture
def registered():
    for cls in (CountingAnimatic, ExplodingVideo):
        VIDEO.register(cls)
    CountingAnimatic.load_calls = 0
    yield
    for cls in (CountingAnimatic, ExplodingVideo):
        VIDEO.unregister(cls.name)


def test_two_briefs_two_segments_two_variants_share_one_pool(tmp_path: Path, registered) -> None:
    ws = Workspace.at(tmp_path / "ws")
    briefs = [write_brief(tmp_path, "Alder", 1, video="counting-animatic"),
              write_brief(tmp_path, "Birch", 2, video="counting-animatic")]  # fmt: skip
    result = run_batch(ws, briefs, BatchOptions(variants=2))

    assert result["status"] == "done", result["jobs"]
    combos = {(Path(c["brief"]).stem, c["segment"], c["variant"]) for c in result["cuts"]}
    assert combos == {(b, s, v) for b in ("alder", "birch") for s in ("early", "late") for v in (0, 1)}
    for cut in result["cuts"]:
        assert probe_mp4(Path(cut["path"]))["frames"] == 4 * 24
        assert isinstance(cut["composite"], float)
    store = Store(ws.db_path)
    runs = {j["run_id"] for j in batch_jobs(store, result["batch_id"])}
    assert len(runs) == 4  # one run per brief x segment, each with both variants
    for run_id in runs:
        brief = store.run(run_id)["brief"]
        assert len(brief["segments"]) == 1 and brief["variants"]["count"] == 2
    # One load per model for the whole batch: counted by the pool, recorded, and by the class itself.
    assert CountingAnimatic.load_calls == 1
    loads = result["pool_loads"]
    assert {k: v for k, v in loads.items() if not k.startswith("clip:")} == {"video:counting-animatic": 1,
                                                                             "audio:synth": 1}
    assert [v for k, v in loads.items() if k.startswith("clip:")] == [1]  # the CLIP embedder too, once
    assert load_batch(store, result["batch_id"])[0]["pool_loads"] == result["pool_loads"]
    html = Path(result["report"]).read_text()
    assert html.count("<video ") == 8


def test_a_broken_backend_fails_its_run_alone(tmp_path: Path, registered) -> None:
    ws = Workspace.at(tmp_path / "ws")
    good = write_brief(tmp_path, "Good", 3)
    unknown = write_brief(tmp_path, "Unknown", 4, video="no-such-backend")
    exploding = write_brief(tmp_path, "Boom", 5, video="exploding")
    result = run_batch(ws, [unknown, good, exploding], BatchOptions(segments=["early"]))

    assert result["status"] == "partial"
    by_brief = {Path(j["brief_path"]).stem: j for j in result["jobs"]}
    assert by_brief["good"]["status"] == "done"
    assert by_brief["unknown"]["status"] == "failed" and "no-such-backend" in by_brief["unknown"]["error"]
    assert by_brief["boom"]["status"] == "failed" and "exploded" in by_brief["boom"]["error"]
    assert {Path(c["brief"]).stem for c in result["cuts"]} == {"good"}
    store = Store(ws.db_path)
    assert store.run(by_brief["boom"]["run_id"])["status"] == "failed"
    assert "did not finish" in Path(result["report"]).read_text()


def test_a_batch_run_again_is_answered_by_its_finished_runs_and_fresh_makes_new_ones(tmp_path: Path, registered) -> None:
    ws = Workspace.at(tmp_path / "ws")
    brief = write_brief(tmp_path, "Hazel", 9, video="counting-animatic")
    first = run_batch(ws, [brief], BatchOptions())
    store = Store(ws.db_path)
    runs = {j["segment"]: j["run_id"] for j in first["jobs"]}
    takes, loads = len(store.rows("takes")), CountingAnimatic.load_calls

    again = run_batch(ws, [brief], BatchOptions())  # nothing that decides the cuts changed
    assert again["status"] == "done" and again["batch_id"] != first["batch_id"]
    assert {j["segment"]: j["run_id"] for j in again["jobs"]} == runs
    assert len(store.runs()) == 2 and len(store.rows("takes")) == takes and CountingAnimatic.load_calls == loads
    assert sorted(c["path"] for c in again["cuts"]) == sorted(c["path"] for c in first["cuts"])
    assert Path(again["report"]).read_text().count("<video ") == 2
    assert all(any(e["kind"] == "repeated" for e in store.events(r)) for r in runs.values())
    # the same key as `briefcut run` of one segment: each answers the other
    one = repeat_or_start(brief, ws, overrides=Overrides(segments=["late"]))
    assert one["reused"] and one["run_id"] == runs["late"]

    rendered = len(store.rows("takes", "rendered = 1"))
    fresh = run_batch(ws, [brief], BatchOptions(fresh=True))  # --fresh: new runs, their takes from the cache
    assert fresh["status"] == "done" and not {j["run_id"] for j in fresh["jobs"]} & set(runs.values())
    assert len(store.runs()) == 4 and len(store.rows("takes", "rendered = 1")) == rendered


def test_jobs_are_grouped_by_backend_choices(tmp_path: Path, registered) -> None:
    briefs = [write_brief(tmp_path, "A", 1), write_brief(tmp_path, "B", 2, video="counting-animatic"),
              write_brief(tmp_path, "C", 3)]  # fmt: skip
    jobs = plan_jobs(briefs, BatchOptions(profile="preview"), Settings.from_env({}), tmp_path / "models")
    order = [(Path(j["brief_path"]).stem, j["segment"]) for j in jobs]
    assert order == [("a", "early"), ("a", "late"), ("c", "early"), ("c", "late"), ("b", "early"), ("b", "late")]
    assert len({j["group_key"] for j in jobs}) == 2


def briefcut(*args: str, workdir: Path, **kw) -> subprocess.Popen:
    env = {**os.environ, "BRIEFCUT_HOME": str(workdir), "OMP_NUM_THREADS": "1"}
    env.pop("OPENAI_BASE_URL", None)
    return subprocess.Popen([sys.executable, "-m", "agent.cli", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)  # fmt: skip


def mid_batch(db: Path) -> bool:
    """One job is done and another job's run has rendered a take but is not finished."""
    if not db.exists():
        return False
    try:
        store = Store(db)
        jobs = store.rows("batch_jobs")
        done = [j for j in jobs if j["status"] == "done"]
        busy = [j for j in jobs if j["status"] == "running" and j["run_id"] and store.get("runs", j["run_id"])]
        return bool(done) and any(store.render_count(j["run_id"]) > 0 for j in busy)
    except Exception:  # the schema is being created
        return False


def test_killed_batch_resumes_without_rerendering(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    briefs = [write_brief(tmp_path, "Cedar", 7), write_brief(tmp_path, "Dogwood", 8, seconds=10, shots=4)]
    proc = briefcut("batch", *map(str, briefs), "--segments", "early", "--variants", "2", "--workers", "1",
                    "--json", workdir=ws)  # fmt: skip
    end = time.time() + 240
    while not mid_batch(ws / "briefcut.db") and proc.poll() is None and time.time() < end:
        time.sleep(0.05)
    assert proc.poll() is None, f"the batch ended before it could be killed: {proc.stderr.read()[-2000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    store = Store(ws / "briefcut.db")
    batch_id = store.rows("batches")[0]["id"]
    before = {j["id"]: j for j in batch_jobs(store, batch_id)}
    assert Counter(j["status"] for j in before.values()) == {"done": 1, "running": 1}
    done_run = next(j["run_id"] for j in before.values() if j["status"] == "done")
    done_takes = len(store.takes(done_run))
    rendered_before = Counter(t["cache_key"] for t in store.rows("takes", "rendered = 1 and status = 'done'"))

    resumed = briefcut("batch", "--resume", batch_id, "--json", workdir=ws)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["batch_id"] == batch_id and result["status"] == "done"
    assert len(result["cuts"]) == 4 and Path(result["report"]).is_file()

    store = Store(ws / "briefcut.db")
    after = {j["id"]: j for j in batch_jobs(store, batch_id)}
    assert {k: j["run_id"] for k, j in after.items()} == {k: j["run_id"] for k, j in before.items()}
    assert len(store.takes(done_run)) == done_takes, "the finished job ran again"
    # Nothing finished before the kill renders again (a take in flight at the kill may, by design).
    rendered = Counter(t["cache_key"] for t in store.rows("takes", "rendered = 1 and status = 'done'"))
    assert {k: rendered[k] for k in rendered_before} == dict(rendered_before), "a finished take was rendered again"
    assert sum(rendered.values()) > sum(rendered_before.values()), "the resume rendered nothing: the kill came too late"
    assert len(store.runs()) == 2


def test_a_smoke_profile_batch_loads_each_tiny_model_once(tmp_path: Path) -> None:
    pytest.importorskip("diffusers", reason="the ml extra is not installed")
    ws = Workspace.at(tmp_path / "ws")
    result = run_batch(ws, [write_brief(tmp_path, "Smoky", 3)], BatchOptions(profile="smoke"))
    assert result["status"] == "done" and len(result["cuts"]) == 2, result["jobs"]
    loads = result["pool_loads"]
    assert {k: v for k, v in loads.items() if not k.startswith("clip:")} == {"video:diffusers": 1, "audio:musicgen": 1}
    assert [v for k, v in loads.items() if k.startswith("clip:")] == [1]  # the tiny CLIP, once for the batch
    for cut in result["cuts"]:
        assert probe_mp4(Path(cut["path"]))["frames"] == 4 * 24
