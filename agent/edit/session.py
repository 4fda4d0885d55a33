"""The chat-driven refine loop: a message becomes typed edit operations applied through the graph.

The command grammar (`shot 3: <prompt>`, `music: calm`, `drop shot 2`, `cta: <text>` ...) always
works; free text goes to the LLM endpoint when one is configured. Edits reach the graph as the
resume value of its `review` interrupt, so they are applied on the run's own thread.
"""

from __future__ import annotations

from typing import Any

from agent.context import RunContext
from agent.edit.ops import EditList, apply_edits, parse_command, parse_with_llm, plan_diff
from agent.errors import BriefcutError, PlanError
from agent.plan import Plan
from agent.planners.openai_planner import endpoint_configured
from agent.state import RenderJob


class NotReviewable(BriefcutError):
    """A run that has not finished cannot be refined yet."""

    exit_code = 2


def parse_message(ctx: RunContext, message: str) -> list[dict[str, Any]]:
    """Edit operations (as dicts) from a message: the grammar first, else the LLM if configured."""
    try:
        ops = parse_command(message)
    except PlanError:
        options = ctx.choices.planner.options if ctx.choices.planner.backend == "openai" else {}
        if not (options or endpoint_configured()):
            raise
        plan = next(iter(target_plans(ctx, None).values()))
        ops = parse_with_llm(message, plan, options)
    return [op.model_dump(mode="json") for op in ops]


def target_plans(ctx: RunContext, plan_key: str | None) -> dict[str, Plan]:
    """The plans an edit applies to: one by key, or every plan of the run."""
    from agent.nodes import load_plans

    plans = load_plans(ctx)
    if plan_key is None:
        return plans
    if plan_key not in plans:
        raise PlanError(f"run {ctx.run_id} has no plan '{plan_key}'; plans: {', '.join(sorted(plans))}")
    return {plan_key: plans[plan_key]}


def typed_ops(edits: list[dict[str, Any]]) -> list[Any]:
    """The typed edit operations of stored edits (their `plan_keys` routing field left out)."""
    return EditList.model_validate({"ops": [{k: v for k, v in e.items() if k != "plan_keys"} for e in edits]}).ops


def apply_to_plans(
    ctx: RunContext, plans: dict[str, Plan], edits: list[dict[str, Any]]
) -> tuple[dict[str, Plan], list[RenderJob], dict[str, list[str]]]:
    """Apply edits to the targeted plans: the changed plans, the render jobs they need, their diffs."""
    from agent.nodes import sound_jobs, video_jobs

    changed: dict[str, Plan] = {}
    jobs: list[RenderJob] = []
    diffs: dict[str, list[str]] = {}
    targets = edits[0].get("plan_keys") if edits else None
    ops = typed_ops(edits)
    for key, plan in plans.items():
        if targets and key not in targets:
            continue
        new, rerender = apply_edits(plan, ops, ctx.brief.formats.duration_s, revise=_reviser(ctx))
        if new == plan:
            continue
        changed[key] = new
        diffs[key] = plan_diff(plan, new)
        jobs += video_jobs(ctx, new, rerender, round_=0)
        jobs += sound_jobs(ctx, new, rerender, music=new.music != plan.music)
    return changed, jobs, diffs


def _reviser(ctx: RunContext):
    def revise(plan: Plan, index: int, instruction: str) -> Plan:
        return ctx.planner.revise(ctx.plan_request(plan), plan, index, instruction)

    return revise


def check_reviewable(ctx: RunContext) -> None:
    """Refuse to edit a run that has not finished (its graph is not waiting for feedback)."""
    run = ctx.store.run(ctx.run_id)
    if run["status"] != "done" or not ctx.store.cuts(ctx.run_id):
        raise NotReviewable(
            f"run {ctx.run_id} is {run['status']} without cuts; finish it first: briefcut resume {ctx.run_id}"
        )
