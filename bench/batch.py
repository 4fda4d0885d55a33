"""Bench: batch throughput local (1 and 2 runs in flight) versus Ray on this machine, side by side, and
the overhead per take (scheduling + store) with a trivially fast backend and with cache hits.

Same small batch for every executor (2 briefs x 2 segments x 2 variants, preview profile, 64 px,
fresh workspace each). Ray runs on a local loopback cluster. `shots` counts distinct shots (distinct
video cache keys): takes of one shot shared by two cuts are one shot rendered once and found once in the
cache, not two. Each executor runs --repeat times, in a rotated order each round; the table gives the
median and spread (min-max) of wall time and shots per minute.

    .venv/bin/python bench/batch.py [--takes 200] [--repeat 3] [--no-ray]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

BRIEF = """\
brand: {{name: {name}, palette: ["#1F3A5F", "#F2C14E", "#FAFAFA"]}}
product: {{name: {name} One}}
message: "{name} makes mornings easy."
call_to_action: Try {name}
segments: [{{id: early, description: early risers}}, {{id: late, description: night owls}}]
formats: {{aspect_ratios: ["16:9"], duration_s: 4, fps: 24, resolution: 64}}
variants: 2
shots: 2
refine: {{max_rounds: 0}}
seed: {seed}
"""


def write_briefs(folder: Path) -> list[Path]:
    paths = []
    for name, seed in (("Alder", 1), ("Birch", 2)):
        path = folder / f"{name.lower()}.yaml"
        path.write_text(BRIEF.format(name=name, seed=seed))
        paths.append(path)
    return paths


def time_batch(root: Path, label: str, briefs: list[Path], **opts: Any) -> dict[str, Any]:
    """One batch in a fresh workspace: wall time, distinct shots (video cache keys), renders, shots per minute."""
    from agent.batch.queue import BatchOptions, run_batch
    from agent.store import Store
    from agent.workspace import Workspace

    ws = Workspace.at(root / label)
    started = time.perf_counter()
    result = run_batch(ws, briefs, BatchOptions(**opts))
    seconds = time.perf_counter() - started
    store = Store(ws.db_path)
    distinct = "select count(distinct cache_key) from takes where kind = 'video' and status = 'done'"
    shots = store.db.execute(distinct).fetchone()[0]
    rendered = store.db["takes"].count_where("kind = 'video' and rendered = 1 and status = 'done'")
    assert result["status"] == "done", result["jobs"]
    return {"label": label, "seconds": seconds, "shots": shots, "rendered": rendered,
            "per_min": 60 * shots / seconds, "loads": result["pool_loads"], "ws": ws}  # fmt: skip


def instant_backend(template: Path) -> type:
    """A registered video backend that copies a ready file: rendering costs ~nothing, the rest is overhead."""
    from generators.base import ShotRequest, VideoGenerator, VideoTake
    from generators.media import read_frames

    class InstantVideo(VideoGenerator):  # defined in a function: Ray ships it to actors by value
        name: ClassVar[str] = "instant"
        source: ClassVar[bytes] = template.read_bytes()
        frames: ClassVar[int] = len(read_frames(template))  # what the file holds: a cache hit checks it

        def render(self, request: ShotRequest, out: Path) -> VideoTake:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(self.source)
            return VideoTake(path=out, num_frames=self.frames, fps=request.fps, width=request.width,
                             height=request.height)

    return InstantVideo


def take_overhead(ws: Any, executor: Any, takes: int, run_id: str, first_take: int) -> tuple[float, float]:
    """Milliseconds per take through `agent.render.run_job`: fresh renders, then cache hits in another run."""
    from agent.brief import BackendChoice
    from agent.jobs import load_plans
    from agent.render import run_job
    from agent.runner import open_run
    from agent.state import RenderJob

    base = open_run(run_id, ws, executor=executor)
    ctx = base
    ctx.choices = base.choices.model_copy(update={"video": BackendChoice(backend="instant")})
    plan = next(iter(load_plans(ctx).values()))
    jobs = [RenderJob(kind="video", plan_key=plan.key, shot=0, uid=plan.shots[0].uid, format="16:9",
                      take_no=first_take + t, round=0, lineage=0) for t in range(takes)]  # fmt: skip
    timings = []
    for run in (f"{run_id}-fresh-{executor.name}", f"{run_id}-hits-{executor.name}"):
        ctx.run_id = run
        started = time.perf_counter()
        for job in jobs:
            run_job(ctx, plan, job)
        timings.append(1000 * (time.perf_counter() - started) / takes)
    fresh, hits = (ctx.store.render_count(f"{run_id}-{kind}-{executor.name}") for kind in ("fresh", "hits"))
    assert (fresh, hits) == (takes, 0), (fresh, hits)  # the fresh pass really rendered, the second hit the cache
    return timings[0], timings[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--takes", type=int, default=200, help="takes for the per-take overhead")
    parser.add_argument("--no-ray", action="store_true", help="local only")
    parser.add_argument("--repeat", type=int, default=3, help="batches per executor (median and spread)")
    args = parser.parse_args()
    from agent.batch.executors import LocalExecutor
    from generators.base import VIDEO, BackendPool

    root = Path(tempfile.mkdtemp(prefix="briefcut-bench-"))
    briefs = write_briefs(root)
    time_batch(root, "warm-up", briefs[:1], segments=["early"], variants=1)  # imports and CLIP probe, once
    configs = {"local, 1 run in flight": {"workers": 1}, "local, 2 runs in flight": {"workers": 2}}
    ray_init = None
    if not args.no_ray:
        import ray

        started = time.perf_counter()
        ray.init(address=None, num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
        ray_init = time.perf_counter() - started
        configs["ray, 2 runs in flight"] = {"workers": 2, "executor": "ray"}
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in configs}
    labels = list(configs)
    for r in range(args.repeat):
        for label in labels[r % len(labels):] + labels[: r % len(labels)]:  # rotated: no config always first
            runs[label].append(time_batch(root, f"{label} #{r}", briefs, **configs[label]))

    print(f"\nbatch: 2 briefs x 2 segments x 2 variants, preview profile, 64 px, 4 s cuts (8 cuts, fresh workspace), "
          f"median (min-max) of {args.repeat}")
    print(f"{'executor':<26}{'wall s':>20}{'shots':>7}{'rendered':>10}{'shots/min':>22}  loads")
    for label, rs in runs.items():
        print(f"{label:<26}{spread([r['seconds'] for r in rs], '.1f'):>20}{rs[0]['shots']:>7}{rs[0]['rendered']:>10}"
              f"{spread([r['per_min'] for r in rs], '.1f'):>22}  {rs[0]['loads']}")
    if ray_init is not None:
        print(f"(ray cluster start, not counted above: {ray_init:.1f} s)")
    rows = runs[labels[0]]

    ws = rows[0]["ws"]
    run_id = first_run(ws)
    template = next(p for p in (ws.root / "media").rglob("*.mp4"))
    VIDEO.register(instant_backend(template))
    print(f"\noverhead per take (store + scheduling; the 'instant' backend copies a {template.stat().st_size} B file), "
          f"{args.takes} takes:")  # fmt: skip
    executors = [LocalExecutor(BackendPool())]
    if ray_init is not None:
        from agent.batch.executor_ray import RayExecutor

        executors.append(RayExecutor(BackendPool()))
    for i, executor in enumerate(executors):  # each its own seeds, so its fresh renders are not cache hits
        fresh, hits = take_overhead(ws, executor, args.takes, run_id, first_take=1000 + i * args.takes)
        print(f"  {executor.name:<6} fresh render {fresh:6.1f} ms/take   cache hit {hits:6.1f} ms/take   (target < 50 ms)")
        executor.close()
    shutil.rmtree(root, ignore_errors=True)


def spread(values: list[float], fmt: str) -> str:
    """'median (min-max)' of `values`."""
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def first_run(ws: Any) -> str:
    """The oldest run of a workspace."""
    from agent.store import Store

    return Store(ws.db_path).runs()[-1]["id"]


if __name__ == "__main__":
    main()
