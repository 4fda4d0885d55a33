"""The graph's nodes: plain functions `(state, runtime) -> dict` returning only what they change.

Side effects are idempotent (a node re-runs whole after a crash or an interrupt): plans are read
back from the store if already made, takes come from the media cache, cut rows are upserts.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Send, interrupt

from agent.context import RunContext
from agent.deliver import deliver_cut
from agent.plan import Plan
from agent.render import base_seed, music_lineage, run_job
from agent.scoring import weak_shots
from agent.state import RenderJob, RunState
from agent.voice_fit import fit_plan_voice


def load_plans(ctx: RunContext) -> dict[str, Plan]:
    return {k: Plan.model_validate(row["plan"]) for k, row in ctx.store.latest_plans(ctx.run_id).items()}


def save_plan(ctx: RunContext, plan: Plan) -> None:
    versions = [r["version"] for r in ctx.store.plans(ctx.run_id) if r["key"] == plan.key]
    ctx.store.save_plan(ctx.run_id, plan.model_dump(mode="json"), max(versions, default=0) + 1)


# 1. plan ---------------------------------------------------------------------------------------
def plan_node(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """A plan per (segment, variant); plans already in the store (a resumed run) are kept."""
    ctx = runtime.context
    plans = load_plans(ctx)
    wanted = [(s.id, v) for s in ctx.brief.segments for v in range(ctx.brief.variants)]
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


def stamp_shots(plan: Plan, brief_seed: int) -> Plan:
    """Give every shot its stable id and base seed (planners leave these to the graph)."""
    shots = [
        s.model_copy(update={"uid": s.uid or f"s{i}", "seed": s.seed or base_seed(brief_seed, plan.variant, i)})
        for i, s in enumerate(plan.shots)
    ]
    return plan.model_copy(update={"shots": shots})


def initial_jobs(ctx: RunContext, plans: dict[str, Plan]) -> list[RenderJob]:
    jobs: list[RenderJob] = []
    for plan in plans.values():
        jobs += video_jobs(ctx, plan, range(len(plan.shots)), round_=0)
        jobs += sound_jobs(ctx, plan, range(len(plan.shots)), music=True)
    return jobs


def video_jobs(ctx: RunContext, plan: Plan, shots, round_: int) -> list[RenderJob]:
    return [
        RenderJob(kind="video", plan_key=plan.key, shot=i, uid=plan.shots[i].uid, format=fmt,
                  take_no=t, round=round_, lineage=plan.shots[i].lineage)
        for i in shots for fmt in ctx.brief.formats.aspect_ratios for t in range(ctx.brief.render.takes)
    ]  # fmt: skip


def sound_jobs(ctx: RunContext, plan: Plan, shots, music: bool) -> list[RenderJob]:
    jobs: list[RenderJob] = []
    if music:
        jobs.append(RenderJob(kind="music", plan_key=plan.key, shot=-1, uid="", format="", take_no=0,
                              round=0, lineage=music_lineage(plan)))  # fmt: skip
    for i in shots:
        shot = plan.shots[i]
        for kind, wanted in (("effect", bool(shot.sound)), ("voice", bool(shot.voice_line and ctx.choices.voice))):
            if wanted:
                jobs.append(RenderJob(kind=kind, plan_key=plan.key, shot=i, uid=shot.uid, format="",
                                      take_no=0, round=0, lineage=shot.lineage))  # fmt: skip
    return jobs


def fan_out(state: RunState, runtime: Runtime[RunContext]) -> list[Send] | str:
    """One `render` worker per pending job; straight to scoring when there is nothing to render."""
    jobs = state.get("pending") or []
    runtime.context.progress.begin("render", len(jobs))
    if not jobs:
        return "score"
    return [Send("render", {"job": job, "run_id": state["run_id"]}) for job in jobs]


# 2. render (a worker per job, in parallel) -------------------------------------------------------
def render_node(payload: dict[str, Any], runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx = runtime.context
    job: RenderJob = payload["job"]
    plan = load_plans(ctx)[job["plan_key"]]
    take_id = run_job(ctx, plan, job)
    ctx.progress.advance("render")
    return {"takes": [take_id]}


# 3. score --------------------------------------------------------------------------------------
def score_node(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Score every take and find the shots under threshold (lowest first, within the budget)."""
    ctx = runtime.context
    refine = ctx.brief.refine
    left = refine.max_rerenders - state.get("rerenders_used", 0)
    ctx.progress.begin("score", 1)
    weak = weak_shots(ctx, load_plans(ctx), limit=max(left, 0))
    ctx.progress.advance("score")
    ctx.store.event(ctx.run_id, "scored", {"round": state.get("round", 0), "weak": weak})
    return {"weak": weak, "pending": []}


def route_after_score(state: RunState, runtime: Runtime[RunContext]) -> str:
    """Refine while weak shots remain and rounds and re-renders are left, else assemble."""
    refine = runtime.context.brief.refine
    if (
        state.get("weak")
        and state.get("round", 0) < refine.max_rounds
        and state.get("rerenders_used", 0) < refine.max_rerenders
        and not state.get("edits")
    ):
        return "refine"
    return "assemble"


# 4. refine -------------------------------------------------------------------------------------
def refine_node(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Revise each weak shot's prompt from its scorecard reason, then render only those shots."""
    ctx = runtime.context
    plans = load_plans(ctx)
    round_ = state.get("round", 0) + 1
    jobs: list[RenderJob] = []
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
        plans[plan.key] = plan
        save_plan(ctx, plan)
        jobs += video_jobs(ctx, plan, [index], round_)
    ctx.store.event(ctx.run_id, "refined", {"round": round_, "shots": [(w["plan_key"], w["shot"]) for w in state["weak"]]})
    return {"round": round_, "rerenders_used": state.get("rerenders_used", 0) + len(state["weak"]), "pending": jobs}


# 5. assemble -----------------------------------------------------------------------------------
def assemble_node(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """A cut per plan and format from the winning takes."""
    ctx = runtime.context
    plans = load_plans(ctx)
    version = state.get("version", 1)
    diff = state.get("diff") or []
    targets = [(p, f) for p in plans.values() for f in ctx.brief.formats.aspect_ratios]
    ctx.progress.begin("assemble", len(targets))
    cuts = []
    for plan, fmt in targets:
        row = deliver_cut(ctx, plan, fmt, version, diff.get(plan.key) if isinstance(diff, dict) else None)
        cuts.append({"segment": plan.segment, "variant": plan.variant, "format": fmt,
                     "path": row["path"], "duration_s": row["duration_s"], "version": version})  # fmt: skip
        ctx.progress.advance("assemble")
    ctx.store.set_run_status(ctx.run_id, "done")
    return {"cuts": cuts, "edits": []}


# 6. review (the chat loop) -----------------------------------------------------------------------
def review_node(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Wait for feedback on the finished cuts; the resume value carries typed edit operations."""
    feedback = interrupt({"run_id": state["run_id"], "version": state.get("version", 1), "cuts": state.get("cuts")})
    return {"edits": feedback.get("ops", []), "message": feedback.get("message", "")}


def route_after_review(state: RunState) -> str:
    return "edit" if state.get("edits") else "__end__"


def edit_node(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    """Apply edit operations to the plans; render only what they touch; a new cut version follows."""
    from agent.chat import apply_to_plans

    ctx = runtime.context
    plans = load_plans(ctx)
    changed, jobs, diff = apply_to_plans(ctx, plans, state["edits"])
    for plan in changed.values():
        save_plan(ctx, plan)
    ctx.store.set_run_status(ctx.run_id, "running")
    ctx.store.event(ctx.run_id, "edited", {"message": state.get("message"), "ops": state["edits"], "diff": diff})
    return {"pending": jobs, "version": state.get("version", 1) + 1, "diff": diff}
