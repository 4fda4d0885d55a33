"""Start and resume runs: the one place that builds a RunContext and drives the graph.

A run's configuration is resolved once, here: the brief with the command line's overrides written
in (`apply_overrides`), then the backends it implies (`resolve_choices`), with the LLM endpoint it
plans with (URL and model, never the key); all are stored with the run, and `resume` uses them.
The user's edits of a finished run go through the same graph (`agent.edit.session`).

One process at a time works on a run (and on an output folder): `run_locks`. Whatever stops a run
(an error, a full disk, Ctrl-C) marks it in the store, so it is never left "running".
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agent.audience.results import audience_summary
from agent.brief import Brief, brief_hash, load_brief, validate_brief
from agent.compliance import brief_notes
from agent.context import Progress, RunContext
from agent.default_models import preflight
from agent.errors import BriefcutError, DiskFull, RunInterrupted, storage_error
from agent.licensing import check_licenses
from agent.profiles import Choices, check_choices, resolve_choices
from agent.provenance.credentials import signing_key
from agent.run_lock import run_locks
from agent.settings import Overrides, Settings, apply_overrides
from agent.settled import run_key, settled_run
from agent.store import Store, database_error
from agent.voices import voice_notes
from agent.workspace import Workspace
from generators.atomic import sweep_leftovers
from generators.base import BackendPool


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def prepare_brief(brief_path: Path, workspace: Workspace, overrides: Overrides | None = None,
                  brief: Brief | None = None, choices: Choices | None = None) -> tuple[Brief, Choices]:  # fmt: skip
    """The run's brief (overrides written in) and its backend choices (resolved, or as a stored run
    recorded them), checked (names, options, licenses, whether the models can be had) before any work,
    the LLM endpoint recorded in the choices."""
    brief = apply_overrides(brief or load_brief(brief_path, workspace.settings.assets_roots), overrides)
    choices = choices or resolve_choices(brief, workspace.settings, models_dir=workspace.models_dir)
    check_choices(choices)
    signing_key(workspace.settings)  # a signing key that cannot sign: refused before any work
    licensed = check_licenses(brief, choices)  # a model whose license forbids the brief's usage: refused here
    # a gated or missing model is found before any work
    choices, gated = preflight(choices, keyframes=brief.render.keyframes != "off")
    choices = record_endpoint(choices, workspace.settings)
    return brief, choices.model_copy(update={"notes": [*choices.notes, *gated, *licensed]})


def record_endpoint(choices: Choices, settings: Settings) -> Choices:
    """The LLM planner's endpoint (base URL, and the model where one is named) written into its options
    from the environment, so a resume in another shell talks to the same server. Never the key."""
    if choices.planner.backend != "openai":
        return choices
    from agent.llm import LLMSettings, resolve_endpoint

    options = dict(choices.planner.options)
    known = {k: v for k, v in options.items() if k in LLMSettings.model_fields}
    endpoint = resolve_endpoint(LLMSettings.model_validate(known), settings.environ)
    options["base_url"] = endpoint.url
    if endpoint.model:
        options["model"] = endpoint.model
    return choices.model_copy(update={"planner": choices.planner.model_copy(update={"options": options})})


def start_run(
    brief_path: Path,
    workspace: Workspace,
    *,
    overrides: Overrides | None = None,
    out: Path | None = None,
    progress: Progress | None = None,
    pool: BackendPool | None = None,
    brief: Brief | None = None,
    batch_id: str | None = None,
    executor: Any = None,
    run_id: str | None = None,
    choices: Choices | None = None,
    prepared: bool = False,
    key: str | None = None,
) -> dict[str, Any]:
    """Plan, render, score, refine and assemble a brief; returns the run summary. `prepared`: `brief` and
    `choices` come from `prepare_brief` already (overrides written in, checked) and `key` is their run key."""
    if not (prepared and brief is not None and choices is not None):
        brief, choices = prepare_brief(brief_path, workspace, overrides, brief, choices)
        key = run_key(brief, brief_path, choices, workspace.settings)
    run_id = run_id or new_run_id()  # a batch picks the id first, so a killed job finds its run
    out_dir = Path(out).resolve() if out else workspace.run_dir(run_id)
    with hold_run(workspace, run_id, out_dir, "run"):
        workspace.store.create_run({
            "id": run_id, "brief_path": str(Path(brief_path).resolve()), "brief": brief.model_dump(mode="json"),
            "brief_hash": brief_hash(brief), "profile": choices.profile, "planner": choices.planner.backend,
            "choices": choices.model_dump(mode="json"), "out_dir": str(out_dir), "batch_id": batch_id,
            "run_key": key,
        })  # fmt: skip
        for note in choices.notes:
            workspace.store.event(run_id, "note", {"text": note})
            if progress:
                progress.note(note)
        for note in [*voice_notes(brief), *brief_notes(brief)]:  # stated settings that disagree: always said
            workspace.store.event(run_id, "warning", {"text": note})
            (progress or Progress()).warn(note)
        ctx = RunContext(run_id, brief, choices, workspace, out_dir, pool=pool or BackendPool(),
                         progress=progress or Progress(), executor=executor)  # fmt: skip
        return drive(ctx, {"run_id": run_id})


def repeat_or_start(brief_path: Path, workspace: Workspace, *, overrides: Overrides | None = None,
                    out: Path | None = None, progress: Progress | None = None, brief: Brief | None = None,
                    fresh: bool = False) -> dict[str, Any]:  # fmt: skip
    """`briefcut run`: the finished run that already holds this brief's cuts, where nothing that decides
    them changed (`agent.settled`), else a new run (`fresh`: always a new run)."""
    brief, choices, key, found = settled_lookup(brief_path, workspace, overrides, brief, out, fresh)
    if found is None:
        return start_run(brief_path, workspace, out=out, progress=progress, brief=brief, choices=choices,
                         prepared=True, key=key)  # fmt: skip
    return repeated(workspace, found, brief_path, progress)


def settled_lookup(brief_path: Path, workspace: Workspace, overrides: Overrides | None = None,
                   brief: Brief | None = None, out: Path | None = None, fresh: bool = False,
                   ) -> tuple[Brief, Choices, str | None, str | None]:  # fmt: skip
    """The brief and choices a run of this brief would use (checked), its run key, and the finished run that
    already holds its cuts (in `out` when one is asked for), or None (always None when `fresh`)."""
    brief, choices = prepare_brief(brief_path, workspace, overrides, brief)
    key = run_key(brief, brief_path, choices, workspace.settings)
    found = None if fresh or not workspace.db_path.exists() else settled_run(
        workspace.store, key, out, workspace.root / "locks")
    return brief, choices, key, found


def repeated(workspace: Workspace, run_id: str, brief_path: Path, progress: Progress | None = None,
             what: str = "") -> dict[str, Any]:  # fmt: skip
    """A settled run given as the answer to a repeat: said (`what`: which one, in a batch), recorded on the
    run, and its summary."""
    (progress or Progress()).note(f"{what}nothing that decides the cuts changed since run {run_id}: its cuts are "
                                  "current and nothing was made again (--fresh makes a new run)")  # fmt: skip
    workspace.store.event(run_id, "repeated", {"brief_path": str(Path(brief_path).resolve())})
    return summary(workspace.store, run_id) | {"reused": True}


@contextmanager
def hold_run(workspace: Workspace, run_id: str, out_dir: Path, what: str) -> Iterator[None]:
    """This process's hold on a run: its locks, and what a killed process left behind cleared first."""
    with run_locks(workspace.root / "locks", run_id, out_dir, what):
        for folder in (out_dir, workspace.root / "media", workspace.root / "cut-cache"):
            sweep_leftovers(folder, recursive=folder != out_dir)
        workspace.reserve_space()
        yield


def open_run(run_id: str, workspace: Workspace, progress: Progress | None = None,
             pool: BackendPool | None = None, executor: Any = None,
             llm: dict[str, str] | None = None) -> RunContext:  # fmt: skip
    """Rebuild the context of a stored run (its brief, backend choices and LLM endpoint as recorded;
    `llm` {"base_url", "model"} overrides the endpoint, with a warning)."""
    row = workspace.store.run(run_id)
    brief = validate_brief(row["brief"], Path(row["brief_path"]), confine=False)
    choices = Choices.model_validate(row["choices"])
    progress = progress or Progress()
    choices = endpoint_for_resume(run_id, choices, workspace.settings, llm or {}, progress)
    return RunContext(run_id, brief, choices, workspace, Path(row["out_dir"]), pool=pool or BackendPool(),
                      progress=progress, executor=executor)  # fmt: skip


def endpoint_for_resume(run_id: str, choices: Choices, settings: Settings, llm: dict[str, str],
                        progress: Progress) -> Choices:  # fmt: skip
    """The recorded LLM endpoint, unless the command line names another (said on stderr); an
    environment that names another is said too, and does not win."""
    if choices.planner.backend != "openai":
        return choices
    options = dict(choices.planner.options)
    recorded = f"{options.get('model') or 'the server’s model'} at {options.get('base_url')}"
    given = {k: v for k, v in llm.items() if v and v != options.get(k)}
    if given:
        options.update(given)
        progress.warn(f"run {run_id} was planned with {recorded}; using "
                      f"{options.get('model') or 'the server’s model'} at {options.get('base_url')} as asked")  # fmt: skip
    elif settings.llm_base_url and settings.llm_base_url.rstrip("/") != options.get("base_url"):
        progress.note(f"run {run_id} keeps its LLM endpoint ({recorded}), not $OPENAI_BASE_URL "
                      f"({settings.llm_base_url}); to change it: briefcut resume {run_id} --llm-url URL")  # fmt: skip
    return choices.model_copy(update={"planner": choices.planner.model_copy(update={"options": options})})


def resume_run(run_id: str, workspace: Workspace, progress: Progress | None = None,
               pool: BackendPool | None = None, executor: Any = None,
               llm: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Finish a run whose process stopped: the graph continues from its last checkpoint (an edit
    that was asked for and not applied is applied)."""
    row = workspace.store.run(run_id)
    with hold_run(workspace, run_id, Path(row["out_dir"]), "resume"):
        ctx = open_run(run_id, workspace, progress, pool, executor, llm)
        pending = pending_edit(ctx)
        if pending is None and ctx.store.run(run_id)["status"] == "done" and ctx.store.cuts(run_id):
            return summary(ctx.store, run_id)  # finished already: nothing to do
        ctx.store.set_run_status(run_id, "running")
        if pending is not None:
            from langgraph.types import Command

            return drive(ctx, Command(resume=pending))
        return drive(ctx, None)


def pending_edit(ctx: RunContext) -> dict | None:
    """An edit that was asked for (recorded by `apply_edit`) while the graph still waits for one: the
    process stopped before the graph took it in."""
    if not graph_waits_for_edit(ctx):
        return None
    version = (graph_state(ctx).values or {}).get("version", 1)
    return ctx.store.step_result(ctx.run_id, f"edit-request:v{version + 1}")


def graph_state(ctx: RunContext) -> Any:
    """The run's graph state at its last checkpoint."""
    return ctx.workspace.graph().get_state({"configurable": {"thread_id": ctx.run_id}})


def graph_waits_for_edit(ctx: RunContext) -> bool:
    """Whether the run's graph stopped at `review` (finished cuts, waiting for an edit)."""
    return tuple(graph_state(ctx).next) == ("review",)


def render_workers(cores: int | None = None) -> int:
    """How many render jobs run at once: one per usable core (at least 2, at most 8). Thread-safe
    backends (storyboard, motion, synth, footage) render in parallel; others take one take at a time."""
    given = os.environ.get("BRIEFCUT_RENDER_WORKERS", "").strip()
    if given.isdigit() and int(given) > 0:
        return min(8, int(given))  # the user's cap (1: one take at a time)
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 2)
    return max(2, min(8, cores))


def balanced_workers(items: int, cores: int | None = None) -> int:
    """Threads for `items` like-sized CPU jobs on `render_workers` cores: the fewest from one per core up to
    two per core that finish soonest, counting that a job alone uses one core and jobs beyond the cores share
    them. 3 cuts on 2 cores run at once (1.5 cuts' time) rather than 2 then 1 (2 cuts' time); 4 run 2 and
    2. Never more than two per core, so memory stays bounded."""
    workers = render_workers(cores)
    if items <= workers:
        return max(1, items)

    def finish(threads: int) -> float:
        rounds, rest = divmod(items, threads)
        return rounds * max(1.0, threads / workers) + (max(1.0, rest / workers) if rest else 0.0)

    return min(range(workers, min(items, 2 * workers) + 1), key=lambda t: (finish(t), t))


def in_threads(fn: Callable[[Any], Any], items: list[Any], workers: int, name: str) -> list[Any]:
    """`fn` over `items` in up to `workers` threads, the results in the items' order. An error (or Ctrl-C)
    is raised once the items started have stopped; items not started are dropped."""
    if workers < 2 or len(items) < 2:
        return [fn(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(workers, thread_name_prefix=name)
    try:
        return list(pool.map(fn, items))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def drive(ctx: RunContext, payload: Any) -> dict[str, Any]:
    """Run the graph on the run's thread until it ends or waits for an edit; whatever stops it is
    recorded on the run (failed, or interrupted), and a storage fault names its file."""
    graph = ctx.workspace.graph()
    config = {"configurable": {"thread_id": ctx.run_id}, "max_concurrency": render_workers(),
              "recursion_limit": 200}
    stop_if_asked(ctx)
    try:
        graph.invoke(payload, config, context=ctx)
    except KeyboardInterrupt:
        _interrupted(ctx)
    except BriefcutError as exc:
        _mark(ctx, "failed", exc)
        raise
    except sqlite3.DatabaseError as exc:  # the store names its own errors: this is the checkpointer's
        error = database_error(ctx.workspace.checkpoints_path, exc)
        _mark(ctx, "failed", error)
        raise error from None
    except Exception as exc:
        error = storage_error(exc)
        _mark(ctx, "failed", error or exc)
        if error:
            raise error from None
        raise
    stop_if_asked(ctx)  # a Ctrl-C that a library caught on its way up still stops the run
    if graph_waits_for_edit(ctx) and ctx.store.cuts(ctx.run_id):
        ctx.store.set_run_status(ctx.run_id, "done")  # an edit taken in and finished, or none to take
    ctx.store.update("runs", ctx.run_id, pool_loads=ctx.pool.loads)
    return summary(ctx.store, ctx.run_id)


def stop_if_asked(ctx: RunContext) -> None:
    """Stop the run as Ctrl-C does when this process was asked to stop (agent.faults.INTERRUPTED)."""
    from agent.faults import INTERRUPTED

    if INTERRUPTED.is_set():
        _interrupted(ctx)


def _interrupted(ctx: RunContext) -> None:
    _mark(ctx, "interrupted", "stopped by Ctrl-C (or SIGTERM)")
    raise RunInterrupted(f"interrupted run {ctx.run_id}; finished takes are kept: "
                         f"`briefcut resume {ctx.run_id}` finishes it") from None  # fmt: skip


def _mark(ctx: RunContext, status: str, error: str | BaseException) -> None:
    """Record how the run stopped. A full disk (DiskFull, from a media file or the database alike)
    first frees the workspace's reserved room, so the record fits; if the store still cannot be
    written, the original error is what the person needs."""
    if isinstance(error, DiskFull):
        ctx.workspace.release_space()
    if isinstance(error, BaseException) and not isinstance(error, BriefcutError):
        error = f"{type(error).__name__}: {error}"
    try:
        ctx.store.set_run_status(ctx.run_id, status, str(error))
    except (BriefcutError, sqlite3.Error, OSError):
        pass


def summary(store: Store, run_id: str) -> dict[str, Any]:
    """The run's JSON summary: status, the latest version of each cut, and a scorecard digest."""
    run = store.run(run_id)
    cuts = store.cuts(run_id)
    latest = max((c["version"] for c in cuts), default=0)
    rows, card = [], {}
    for c in cuts:
        if c["version"] != latest:
            continue
        segment, variant = c["plan_key"].split("/v")
        rows.append({"brief": run["brief_path"], "segment": segment, "variant": int(variant),
                     "format": c["format"], "path": c["path"], "duration_s": c["duration_s"]})  # fmt: skip
        sc = c["scorecard"] or {}
        card[Path(c["path"]).stem] = {
            "composite": (sc.get("cut") or {}).get("composite"),
            "weak_shots": [s["shot"] for s in sc.get("shots", []) if s.get("weak")],
            "scorecard": str(Path(c["path"]).with_suffix(".scorecard.json")),
        }
    status = run["status"] if run["status"] in ("done", "failed") else "failed"
    segments = [s["id"] for s in (run.get("brief") or {}).get("segments", [])]
    return {"run_id": run_id, "status": status, "version": latest, "planner": run["planner"],
            "cuts": rows, "scorecard": card, "audience": audience_summary(store, run_id, segments, latest)}  # fmt: skip
