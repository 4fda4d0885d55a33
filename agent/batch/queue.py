"""Batch runs: briefs x segments x variants as a resumable queue of runs that share loaded models.

One job is one run: one brief, one of its segments, the batch's number of variants (a per-run
Brief made with `model_copy`). Variants of a segment share a run because they share its plan
request, its planner and its assembly pass; segments get runs of their own so that one segment's
failure leaves the others finished. Jobs live in the store (`batch_jobs`: queued / running / done /
failed), so `run_batch(..., resume=BATCH)` skips what is done and finishes the rest with
`resume_run`: nothing finished renders again.

Locally, one BackendPool and one executor serve every run of the batch, so each model loads once
per worker; jobs are ordered by their backend choices, and `workers` runs are in flight at once:
the executor serialises renders on one model while another run scores or assembles.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from langgraph.errors import EmptyInputError
from pydantic import ConfigDict, Field, ValidationError

from agent.batch.executors import make_executor
from agent.brief import Brief, load_brief
from agent.context import Progress
from agent.errors import BriefcutError
from agent.profiles import resolve_choices
from agent.run_lock import hold
from agent.runner import new_run_id, repeated, resume_run, settled_lookup, start_run, summary
from agent.settings import Overrides, Settings, apply_overrides
from agent.store import Store
from agent.workspace import Workspace
from generators.base import BackendPool


class BatchError(BriefcutError):
    """A batch that cannot be made or found (no briefs, an unknown batch id or segment)."""

    exit_code = 2


class BatchOptions(Overrides):
    """How a batch changes its briefs (the command line's overrides: segments, variants, formats,
    profile, resolution, backends) and where it renders; stored with the batch for --resume."""

    model_config = ConfigDict(extra="forbid")

    executor: str = "local"
    address: str | None = None
    workers: int = Field(default=2, ge=1, le=64)
    fresh: bool = False  # new runs even for jobs a finished run already answers


# 1. expanding briefs into jobs -------------------------------------------------------------------
def make_options(values: dict[str, Any], settings: Settings | None = None) -> BatchOptions:
    """Batch options from CLI values (the Ray address defaults to the settings'); a bad value is a
    BatchError naming the option."""
    given = {k: v for k, v in values.items() if v is not None}
    if settings is not None and settings.ray_address and given.get("executor") == "ray":
        given.setdefault("address", settings.ray_address)
    try:
        return BatchOptions.model_validate(given)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise BatchError(f"--{'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def job_overrides(opts: BatchOptions, segment: str) -> Overrides:
    """What the batch changes in the brief of one job: its one segment, and the batch's overrides."""
    given = opts.model_dump(include=set(Overrides.model_fields), exclude_none=True)
    return Overrides.model_validate({**given, "segments": [segment]})


def job_brief(brief: Brief, segment: str, opts: BatchOptions) -> Brief:
    """The brief of one job, the batch's overrides written in (the one path the CLI's take too)."""
    return apply_overrides(brief, job_overrides(opts, segment))


def group_key(brief: Brief, settings: Settings, models_dir: Path) -> str:
    """The backend choices a job renders with: jobs with equal keys run back to back."""
    choices = resolve_choices(brief, settings, models_dir=models_dir)
    picked = [choices.video, choices.audio, choices.voice]
    return json.dumps([c.model_dump(mode="json") if c else None for c in picked], sort_keys=True)


def plan_jobs(briefs: list[Path], opts: BatchOptions, settings: Settings, models_dir: Path) -> list[dict[str, Any]]:
    """Every brief x segment as a job, ordered so jobs sharing backends (and loaded models) are adjacent."""
    jobs, seen = [], set()
    for path in dict.fromkeys(Path(b).resolve() for b in briefs):
        brief = load_brief(path, settings.assets_roots)
        ids = [s.id for s in brief.segments]
        for segment in [s for s in (opts.segments or ids) if s in ids]:
            seen.add(segment)
            one = job_brief(brief, segment, opts)
            jobs.append({"brief_path": str(path), "segment": segment, "variants": one.variants.count,
                         "group_key": group_key(one, settings, models_dir)})  # fmt: skip
    missing = [s for s in opts.segments or [] if s not in seen]
    if missing:
        raise BatchError(f"no brief has segment(s) {missing}")
    if not jobs:
        raise BatchError("the batch has no jobs: give at least one brief")
    first = {key: i for i, key in reversed(list(enumerate(j["group_key"] for j in jobs)))}
    return sorted(jobs, key=lambda j: first[j["group_key"]])  # stable: brief order within a group


# 2. the queue in the store -----------------------------------------------------------------------
def new_batch_id() -> str:
    return "batch-" + new_run_id()


def create_batch(store: Store, briefs: list[Path], opts: BatchOptions, jobs: list[dict]) -> str:
    """Write a batch and its queued jobs; returns the batch id."""
    batch_id, now = new_batch_id(), time.time()
    store.write("batches", {"id": batch_id, "briefs": [str(Path(b).resolve()) for b in briefs],
                            "options": opts.model_dump(mode="json"), "status": "queued",
                            "executor": opts.executor, "created_at": now, "updated_at": now})  # fmt: skip
    for position, job in enumerate(jobs):
        store.write("batch_jobs", {"id": f"{batch_id}:{position}", "batch_id": batch_id, "position": position,
                                   "status": "queued", "updated_at": now, **job})  # fmt: skip
    return batch_id


def load_batch(store: Store, batch_id: str) -> tuple[dict, BatchOptions]:
    """A stored batch row (lists and options decoded) and its options."""
    row = store.get("batches", batch_id)
    if row is None:
        raise BatchError(f"no batch '{batch_id}' in {store.path or 'the store'}")
    for key in ("briefs", "options"):
        if isinstance(row[key], str):
            row[key] = json.loads(row[key])
    return row, BatchOptions.model_validate(row["options"])


def batch_jobs(store: Store, batch_id: str) -> list[dict]:
    """The batch's jobs in queue order."""
    return store.rows("batch_jobs", "batch_id = ?", [batch_id], order_by="position")


def set_job(store: Store, job_id: str, **values: Any) -> None:
    store.update("batch_jobs", job_id, updated_at=time.time(), **values)


# 3. doing one job --------------------------------------------------------------------------------
class Worker:
    """What every run of a batch in this process shares: the workspace, one pool, one executor."""

    def __init__(self, workspace: Workspace, opts: BatchOptions, batch_id: str | None = None,
                 progress: Progress | None = None) -> None:  # fmt: skip
        self.workspace, self.opts, self.batch_id, self.progress = workspace, opts, batch_id, progress or Progress()
        self.pool = BackendPool()
        extra = {"address": opts.address} if opts.executor == "ray" else {}
        self.executor = make_executor(opts.executor, self.pool, **extra)
        self.store = workspace.store

    def run(self, job: dict) -> dict:
        """Finish one job: start its run, resume it, or just read it when it is done already."""
        run_id = job["run_id"]
        if not (run_id and self.store.get("runs", run_id)):
            return self.start(job, run_id or new_run_id())
        if self.store.run(run_id)["status"] == "done":
            return summary(self.store, run_id)
        try:
            return resume_run(run_id, self.workspace, pool=self.pool, executor=self.executor)
        except EmptyInputError:  # killed before the graph's first checkpoint: nothing was done yet
            return self.start(job, new_run_id())

    def start(self, job: dict, run_id: str) -> dict:
        """The finished run that already holds the job's cuts (made by `briefcut run` or another batch, with
        nothing that decides them changed since: `agent.settled`), unless the batch is `fresh`; else start
        the job's run under an id recorded first, so a killed batch finds it again."""
        path, overrides = Path(job["brief_path"]), job_overrides(self.opts, job["segment"])
        brief, choices, key, found = settled_lookup(path, self.workspace, overrides, fresh=self.opts.fresh)
        if found is not None:
            set_job(self.store, job["id"], run_id=found, status="running", started_at=time.time())
            return repeated(self.workspace, found, path, self.progress, f"{path.name} / {job['segment']}: ")
        set_job(self.store, job["id"], run_id=run_id, status="running", started_at=time.time())
        return start_run(path, self.workspace, overrides=overrides, pool=self.pool, executor=self.executor,
                         batch_id=self.batch_id, run_id=run_id, brief=brief, choices=choices, prepared=True,
                         key=key)  # fmt: skip

    def attempt(self, job: dict, done: Callable[[dict], None]) -> None:
        """Run a job and record how it ended; a failure stays on its job and the batch goes on."""
        started = time.time()
        set_job(self.store, job["id"], status="running")
        try:
            result = self.run(job)
            status, error = ("done", None) if result["status"] == "done" else ("failed", "the run did not finish")
        except BriefcutError as exc:
            status, error = "failed", str(exc)
        except Exception as exc:
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        set_job(self.store, job["id"], status=status, error=error, seconds=round(time.time() - started, 3))
        done({**job, "status": status, "error": error})

    def loads(self) -> dict[str, int]:
        """Model loads in this worker: the driver's pool plus the executor's own (Ray actors)."""
        counts = dict(self.pool.loads)
        for key, n in (getattr(self.executor, "loads", dict)() or {}).items():
            counts[key] = counts.get(key, 0) + n
        return counts


# 4. the batch ------------------------------------------------------------------------------------
def run_batch(
    workspace: Workspace,
    briefs: list[Path] | None = None,
    opts: BatchOptions | None = None,
    *,
    resume: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run (or with `resume`, continue) a batch; returns the batch result with every cut and the report.

    A new batch validates every brief (and its jobs) before anything is written: one bad brief
    refuses the batch and leaves the workspace as it was."""
    progress = progress or Progress()
    jobs: list[dict] = []
    if resume:
        opts = load_batch(workspace.store, resume)[1].model_copy(update=_overrides(opts))
    else:
        opts = opts or BatchOptions()
        jobs = plan_jobs(briefs or [], opts, workspace.settings, workspace.models_dir)
    worker = Worker(workspace, opts, progress=progress)  # before any row: an unknown executor or a missing ray fails cleanly
    store = workspace.store
    try:
        batch_id = worker.batch_id = resume or create_batch(store, briefs or [], opts, jobs)
        with hold(workspace.root / "locks" / f"{batch_id}.lock", "batch",
                  f"batch {batch_id} is being run by another process", "wait for it to finish (or stop it)"):
            loads, started, todo = _run_jobs(worker, store, batch_id, opts, progress)
    finally:
        worker.executor.close()
    return finish_batch(workspace, batch_id, loads, {"seconds": round(time.time() - started, 3), "jobs": len(todo)})


def _run_jobs(worker: Worker, store: Store, batch_id: str, opts: BatchOptions,
              progress: Progress) -> tuple[dict[str, int], float, list[dict]]:  # fmt: skip
    """Every job of the batch not done yet, `opts.workers` at once; returns model loads, start, jobs."""
    todo = [j for j in batch_jobs(store, batch_id) if j["status"] != "done"]
    store.update("batches", batch_id, status="running", executor=opts.executor, updated_at=time.time())
    progress.begin("batch", len(todo))
    started = time.time()
    with ThreadPoolExecutor(max_workers=opts.workers, thread_name_prefix="batch") as threads:
        futures = [threads.submit(worker.attempt, job, lambda j: _advance(progress, j)) for job in todo]
        for future in futures:
            future.result()  # a failure outside a run (the store itself) stops the batch
    return worker.loads(), started, todo


def _overrides(opts: BatchOptions | None) -> dict[str, Any]:
    """On resume, only where to render may change (executor, address, workers)."""
    if opts is None:
        return {}
    return {k: getattr(opts, k) for k in ("executor", "address", "workers") if k in opts.model_fields_set}


def _advance(progress: Progress, job: dict) -> None:
    progress.advance("batch")
    if job["status"] == "failed":
        progress.note(f"{Path(job['brief_path']).name} / {job['segment']} failed: {job['error']}")


def finish_batch(workspace: Workspace, batch_id: str, loads: dict[str, int], timings: dict) -> dict[str, Any]:
    """Record the batch's outcome, write its HTML report and return the batch result."""
    from agent.report import write_report

    store = workspace.store
    jobs = batch_jobs(store, batch_id)
    done = [j for j in jobs if j["status"] == "done"]
    status = "done" if len(done) == len(jobs) else ("partial" if done else "failed")
    run_ids = [j["run_id"] for j in jobs if j["run_id"] and store.get("runs", j["run_id"])]
    report = write_report(workspace, run_ids, workspace.root / "batches" / batch_id, f"Batch {batch_id}")
    store.update("batches", batch_id, status=status, pool_loads=loads, timings=timings, report=str(report),
                 updated_at=time.time())  # fmt: skip
    return batch_result(store, batch_id)


def batch_result(store: Store, batch_id: str) -> dict[str, Any]:
    """The batch's JSON result: status, every cut (run summary rows with brief and run), jobs, report."""
    row, _ = load_batch(store, batch_id)
    cuts, jobs = [], []
    for job in batch_jobs(store, batch_id):
        jobs.append({k: job[k] for k in ("id", "brief_path", "segment", "variants", "run_id", "status", "error")})
        if job["status"] != "done":
            continue
        result = summary(store, job["run_id"])
        for cut in result["cuts"]:
            card = result["scorecard"].get(Path(cut["path"]).stem, {})
            cuts.append({**cut, "run_id": job["run_id"], "composite": card.get("composite")})
    return {"batch_id": batch_id, "status": row["status"], "cuts": cuts, "report": row["report"],
            "jobs": jobs, "pool_loads": row["pool_loads"], "timings": row["timings"]}  # fmt: skip


def summary_text(result: dict[str, Any]) -> str:
    """A table of the batch's jobs and cuts for people."""
    lines = [f"batch {result['batch_id']}: {result['status']}"]
    for job in result["jobs"]:
        lines.append(f"  {job['status']:<7} {Path(job['brief_path']).name} / {job['segment']:<14} "
                     f"run {job['run_id'] or '-'}" + (f"  {job['error']}" if job["error"] else ""))  # fmt: skip
        for cut in [c for c in result["cuts"] if c["run_id"] == job["run_id"]]:
            score = cut["composite"]
            score_text = f"{score:.3f}" if isinstance(score, (int, float)) else "  -  "
            lines.append(f"            v{cut['variant']} {cut['format']:>5}  {score_text}  {cut['path']}")
    loads = ", ".join(f"{k} x{n}" for k, n in sorted((result.get("pool_loads") or {}).items()))
    lines.append(f"models loaded: {loads or 'none'}")
    lines.append(f"report: {result['report']}")
    return "\n".join(lines)
