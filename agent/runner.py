"""Start and resume runs: the one place that builds a RunContext and drives the graph.

A run's configuration is resolved once, here: the brief with the command line's overrides written
in (`apply_overrides`), then the backends it implies (`resolve_choices`); both are stored with the run.
The user's edits of a finished run go through the same graph (`agent.edit.session`).
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

from agent.brief import Brief, brief_hash, load_brief, validate_brief
from agent.compliance import brief_notes
from agent.context import Progress, RunContext
from agent.default_models import preflight
from agent.errors import BriefcutError
from agent.graph import compile_graph
from agent.licensing import check_licenses
from agent.profiles import Choices, check_choices, resolve_choices
from agent.provenance.credentials import signing_key
from agent.settings import Overrides, apply_overrides
from agent.store import Store
from agent.voices import voice_notes
from agent.workspace import Workspace
from generators.base import BackendPool


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def prepare_brief(brief_path: Path, workspace: Workspace, overrides: Overrides | None = None,
                  brief: Brief | None = None, choices: Choices | None = None) -> tuple[Brief, Choices]:  # fmt: skip
    """The run's brief (overrides written in) and its backend choices (resolved, or as a stored run
    recorded them), checked (names, options, licenses, whether the models can be had) before any work."""
    brief = apply_overrides(brief or load_brief(brief_path), overrides)
    choices = choices or resolve_choices(brief, workspace.settings, models_dir=workspace.models_dir)
    check_choices(choices)
    signing_key(workspace.settings)  # a signing key that cannot sign: refused before any work
    licensed = check_licenses(brief, choices)  # a model whose license forbids the brief's usage: refused here
    choices, gated = preflight(choices)  # a gated or missing model is found before any work
    return brief, choices.model_copy(update={"notes": [*choices.notes, *gated, *licensed]})


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
) -> dict[str, Any]:
    """Plan, render, score, refine and assemble a brief; returns the run summary."""
    brief, choices = prepare_brief(brief_path, workspace, overrides, brief, choices)
    run_id = run_id or new_run_id()  # a batch picks the id first, so a killed job finds its run
    out_dir = Path(out).resolve() if out else workspace.run_dir(run_id)
    workspace.store.create_run({
        "id": run_id, "brief_path": str(Path(brief_path).resolve()), "brief": brief.model_dump(mode="json"),
        "brief_hash": brief_hash(brief), "profile": choices.profile, "planner": choices.planner.backend,
        "choices": choices.model_dump(mode="json"), "out_dir": str(out_dir), "batch_id": batch_id,
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


def open_run(run_id: str, workspace: Workspace, progress: Progress | None = None,
             pool: BackendPool | None = None, executor: Any = None) -> RunContext:  # fmt: skip
    """Rebuild the context of a stored run (its brief and backend choices as recorded)."""
    row = workspace.store.run(run_id)
    brief = validate_brief(row["brief"], Path(row["brief_path"]))
    choices = Choices.model_validate(row["choices"])
    return RunContext(run_id, brief, choices, workspace, Path(row["out_dir"]), pool=pool or BackendPool(),
                      progress=progress or Progress(), executor=executor)  # fmt: skip


def resume_run(run_id: str, workspace: Workspace, progress: Progress | None = None,
               pool: BackendPool | None = None, executor: Any = None) -> dict[str, Any]:  # fmt: skip
    """Finish a run whose process stopped: the graph continues from its last checkpoint."""
    ctx = open_run(run_id, workspace, progress, pool, executor)
    if ctx.store.run(run_id)["status"] == "done" and ctx.store.cuts(run_id):
        return summary(ctx.store, run_id)  # finished already: nothing to do
    ctx.store.set_run_status(run_id, "running")
    return drive(ctx, None)


def drive(ctx: RunContext, payload: Any) -> dict[str, Any]:
    """Run the graph on the run's thread until it ends or waits for an edit; a failure marks the run."""
    graph = compile_graph(ctx.workspace.checkpointer())
    config = {"configurable": {"thread_id": ctx.run_id}, "max_concurrency": 4, "recursion_limit": 200}
    try:
        graph.invoke(payload, config, context=ctx)
    except BriefcutError as exc:
        ctx.store.set_run_status(ctx.run_id, "failed", str(exc))
        raise
    except Exception as exc:
        ctx.store.set_run_status(ctx.run_id, "failed", f"{type(exc).__name__}: {exc}")
        raise
    ctx.store.update("runs", ctx.run_id, pool_loads=ctx.pool.loads)
    return summary(ctx.store, ctx.run_id)


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
    return {"run_id": run_id, "status": status, "version": latest, "planner": run["planner"],
            "cuts": rows, "scorecard": card}  # fmt: skip
