"""The graph's nodes and routers.

Nodes are plain functions `(state, runtime) -> dict` returning only the keys they change; routers are
pure functions of the state (and the run's brief) returning the name of the next node. Side effects are
idempotent (a node re-runs whole after a crash or an interrupt): plans are read back from the store if
already made, takes come from the media cache, cut and scorecard rows are upserts. The steps that change
plans (a refine round, an edit) write them in one transaction with a record of the step and what it
returned, keyed by the cut version and round: run again, such a step returns its record and changes
nothing (no edit applied twice, no second revision or LLM call).
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Send, interrupt

from agent.assembly.delivery import deliver_cut
from agent.context import RunContext
from agent.edit.request import EditRequest, apply_to_plans
from agent.faults import fault_point
from agent.jobs import initial_jobs, load_plans, save_plan, stamp_shots, video_jobs
from agent.render import run_job
from agent.runner import balanced_workers, in_threads
from agent.scoring import weak_shots
from agent.state import RenderJob, RunState
from agent.voice_fit import fit_plan_voice


# 1. plan ---------------------------------------------------------------------------------------
def plan_node(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """A plan per (segment, variant); plans already in the store (a resumed run) are kept."""
    ctx = runtime.context
    plans = load_plans(ctx)
    wanted = [(s.id, v) for s in ctx.brief.segments for v in range(ctx.brief.variants.count)]
    ctx.progress.begin("plan", len(wanted))
    for segment, variant in wanted:
        if f"{segment}/v{variant}" not in plans:
            request = ctx.plan_request(segment).model_copy(update={"variant": variant})
            plan = fit_plan_voice(ctx, request, ctx.planner.plan(request))
            plan.check_duration(ctx.brief.formats.duration_s)
            plan = stamp_shots(plan, ctx.brief.seed)
            save_plan(ctx, plan)
            plans[plan.key] = plan
        ctx.progress.advance("plan")
    ctx.store.event(ctx.run_id, "planned", {"plans": sorted(plans)})
    return {"round": 0, "rerenders_used": 0, "version": 1, "pending": initial_jobs(ctx, plans)}


def fan_out(state: RunState, runtime: Runtime[RunContext]) -> list[Send] | Literal["score"]:
    """One `render` worker per pending job; straight to scoring when there is nothing to render."""
    jobs = state.get("pending") or []
    runtime.context.progress.begin("render", len(jobs))
    if not jobs:
        return "score"
    return [Send("render", {"job": job, "run_id": state["run_id"]}) for job in jobs]


# 2. render (a worker per job, in parallel) -------------------------------------------------------
def render_node(payload: dict[str, Any], runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Render one job (or find it in the media cache); the take is a row in the store."""
    ctx = runtime.context
    job: RenderJob = payload["job"]
    run_job(ctx, load_plans(ctx)[job["plan_key"]], job)
    ctx.progress.advance("render")
    return {}


# 3. score --------------------------------------------------------------------------------------
def score_node(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Score every cut once (stored for delivery) and find the shots under threshold, lowest first,
    within the refine budget."""
    ctx = runtime.context
    left = ctx.brief.refine.max_rerenders - state.get("rerenders_used", 0)
    plans = load_plans(ctx)
    ctx.progress.begin("score", len(plans) * len(ctx.brief.formats.aspect_ratios))
    cards = ctx.scorer.score_cuts(plans, ctx.brief.formats.aspect_ratios, state.get("version", 1),
                                  done=lambda: ctx.progress.advance("score"))  # fmt: skip
    weak = weak_shots(cards, plans, ctx.scorer.config, limit=max(left, 0))
    ctx.store.event(ctx.run_id, "scored", {"round": state.get("round", 0), "weak": weak,
                                           "work": dict(ctx.scorer.stats)})  # fmt: skip
    return {"weak": weak, "pending": []}


def route_after_score(state: RunState, runtime: Runtime[RunContext]) -> Literal["refine", "assemble"]:
    """Refine while weak shots remain and rounds and re-renders are left (never during an edit), else assemble."""
    refine = runtime.context.brief.refine
    if (
        state.get("weak")
        and state.get("round", 0) < refine.max_rounds
        and state.get("rerenders_used", 0) < refine.max_rerenders
        and not state.get("edit")
    ):
        return "refine"
    return "assemble"


# 4. refine (the automatic loop) ------------------------------------------------------------------
def refine_node(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Revise each weak shot's prompt from its scorecard reason, then render only those shots."""
    ctx = runtime.context
    round_ = state.get("round", 0) + 1
    step = f"refine:v{state.get('version', 1)}:r{round_}"
    if (done := ctx.store.step_result(ctx.run_id, step)) is not None:
        return done  # revised before a crash: the plans already hold it
    plans = load_plans(ctx)
    jobs: list[RenderJob] = []
    revised_plans = {}
    for weak in state["weak"]:
        plan = plans[weak["plan_key"]]
        index = next(i for i, s in enumerate(plan.shots) if s.uid == weak["uid"])
        revised = ctx.planner.revise(ctx.plan_request(plan), plan, index, weak["feedback"])
        # Keep the graph's bookkeeping; a revision moves the seed so the new take differs.
        shots = list(revised.shots)
        shots[index] = shots[index].model_copy(
            update={"uid": plan.shots[index].uid, "seed": plan.shots[index].seed,
                    "seed_offset": plan.shots[index].seed_offset + 1, "lineage": plan.shots[index].lineage}
        )  # fmt: skip
        plan = revised.model_copy(update={"shots": shots})
        plans[plan.key] = revised_plans[plan.key] = plan
        jobs += video_jobs(ctx, plan, [index], round_)
    result = {"round": round_, "rerenders_used": state.get("rerenders_used", 0) + len(state["weak"]), "pending": jobs}
    with ctx.store.transaction():  # the revised plans and the record of this round: together or not at all
        for plan in revised_plans.values():
            save_plan(ctx, plan)
        ctx.store.event(ctx.run_id, "refined", {"round": round_,
                                                "shots": [(w["plan_key"], w["shot"]) for w in state["weak"]]})
        ctx.store.record_step(ctx.run_id, step, result)
    fault_point("after_refine_write")
    return result


# 5. assemble -----------------------------------------------------------------------------------
def assemble_node(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """A cut per plan and format from the takes its stored scorecard chose."""
    ctx = runtime.context
    plans = load_plans(ctx)
    version = state.get("version", 1)
    diff = state.get("diff") or {}
    formats = ctx.brief.formats.aspect_ratios
    ctx.progress.begin("assemble", len(plans) * len(formats))

    def deliver_plan(plan: Any) -> list[dict[str, Any]]:
        """One plan's cuts, format after format (they share the plan's sound track: mixed once, then kept)."""
        cuts = []
        for fmt in formats:
            row = deliver_cut(ctx, plan, fmt, version, diff.get(plan.key))
            cuts.append({"segment": plan.segment, "variant": plan.variant, "format": fmt,
                         "path": row["path"], "duration_s": row["duration_s"], "version": version})  # fmt: skip
            ctx.progress.advance("assemble")
        return cuts

    # plans at once, about one per core (BRIEFCUT_RENDER_WORKERS; balanced_workers evens out the last round);
    # a plan's formats share its sound track
    per_plan = in_threads(deliver_plan, list(plans.values()), balanced_workers(len(plans)), "assemble")
    ctx.store.set_run_status(ctx.run_id, "done")
    return {"cuts": [cut for cuts in per_plan for cut in cuts], "edit": None}


# 6. audience (the persona panel, a heuristic; "not computed" with its reason without an endpoint) ------
def audience_node(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Each segment's persona panel ranks its variants for this cut version (stored; state unchanged)."""
    from agent.audience.run import run_audience

    run_audience(runtime.context, state.get("version", 1))
    return {}


# 7. review and edit (the user's edits) -----------------------------------------------------------
def review_node(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Wait for the person's edit of the finished cuts; the resume value is an EditRequest as JSON."""
    request = interrupt({"run_id": state["run_id"], "version": state.get("version", 1), "cuts": state.get("cuts")})
    return {"edit": request if (request or {}).get("ops") else None}


def route_after_review(state: RunState) -> Literal["edit", "__end__"]:
    """Apply an edit when the person sent one; else the run ends."""
    return "edit" if state.get("edit") else END


def edit_node(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Apply the edit to the plans; render only what it touches; a new cut version follows."""
    ctx = runtime.context
    version = state.get("version", 1) + 1
    step = f"edit:v{version}"
    if (done := ctx.store.step_result(ctx.run_id, step)) is not None:
        return done  # applied before a crash: applying it again would apply it twice
    request = EditRequest.model_validate(state["edit"])
    changed, jobs, diff = apply_to_plans(ctx, load_plans(ctx), request)
    result = {"pending": jobs, "version": version, "diff": diff}
    with ctx.store.transaction():  # the edited plans and the record of the edit: together or not at all
        for plan in changed.values():
            save_plan(ctx, plan)
        ctx.store.event(ctx.run_id, "edited", {"message": request.message, "diff": diff,
                                               "ops": request.model_dump(mode="json")["ops"]})  # fmt: skip
        ctx.store.record_step(ctx.run_id, step, result)
    fault_point("after_edit_write")
    return result
