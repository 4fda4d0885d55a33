"""Render jobs and the plans they come from: plans read from and saved to the store, shots stamped
with their stable ids and seeds, and the jobs a plan (or a change to it) needs rendered."""

from __future__ import annotations

from collections.abc import Iterable

from agent.context import RunContext
from agent.plan import Plan
from agent.render import base_seed, music_lineage
from agent.state import RenderJob


def load_plans(ctx: RunContext) -> dict[str, Plan]:
    """The latest version of every plan of the run, by plan key."""
    return {k: Plan.model_validate(row["plan"]) for k, row in ctx.store.latest_plans(ctx.run_id).items()}


def save_plan(ctx: RunContext, plan: Plan) -> None:
    """Store `plan` as the next version of its key."""
    versions = [r["version"] for r in ctx.store.plans(ctx.run_id) if r["key"] == plan.key]
    ctx.store.save_plan(ctx.run_id, plan.model_dump(mode="json"), max(versions, default=0) + 1)


def stamp_shots(plan: Plan, brief_seed: int) -> Plan:
    """Give every shot its stable id and base seed (planners leave these to the graph)."""
    shots = [
        s.model_copy(update={"uid": s.uid or f"s{i}", "seed": s.seed or base_seed(brief_seed, plan.variant, i, plan.segment)})
        for i, s in enumerate(plan.shots)
    ]
    return plan.model_copy(update={"shots": shots})


def initial_jobs(ctx: RunContext, plans: dict[str, Plan]) -> list[RenderJob]:
    """Everything a new run renders: every shot in every format, the music, effects and voice."""
    jobs: list[RenderJob] = []
    for plan in plans.values():
        jobs += video_jobs(ctx, plan, range(len(plan.shots)), round_=0)
        jobs += sound_jobs(ctx, plan, range(len(plan.shots)), music=True)
    return jobs


def video_jobs(ctx: RunContext, plan: Plan, shots: Iterable[int], round_: int) -> list[RenderJob]:
    """A video job per shot (0-based index), format and take."""
    return [
        RenderJob(kind="video", plan_key=plan.key, shot=i, uid=plan.shots[i].uid, format=fmt,
                  take_no=t, round=round_, lineage=plan.shots[i].lineage)
        for i in shots for fmt in ctx.brief.formats.aspect_ratios for t in range(ctx.brief.render.takes)
    ]  # fmt: skip


def sound_jobs(ctx: RunContext, plan: Plan, shots: Iterable[int], music: bool) -> list[RenderJob]:
    """The music bed (when `music`), and the effect and voice line of each shot that has one."""
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
