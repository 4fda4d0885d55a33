"""The user's edit path, from a message to a new cut version, the same for the CLI, the chat and an
HTTP API: `prepare_edit` (a dry run: the message becomes a typed `EditRequest`, checked against the
plans, nothing rendered) and `apply_edit` (the confirmed request applied through the run's own graph:
only what it touches renders again, then the cuts are assembled as a new version).

Without an LLM the parser in `agent.edit.parse` reads what people type; with an endpoint configured,
what it cannot read goes to the LLM (`agent.edit.llm_parse`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.context import Progress, RunContext
from agent.edit.ahead import end_cards_ahead
from agent.edit.llm_parse import parse_with_llm
from agent.edit.ops import EditOp, SetCallToAction, SetCaption, apply_edits
from agent.edit.parse import NotUnderstood, parse_edit
from agent.edit.request import EditRequest, picture_notes
from agent.errors import BriefcutError, PlanError
from agent.faults import fault_point
from agent.jobs import load_plans
from agent.plan import Plan
from agent.runner import drive, graph_state, hold_run, open_run
from agent.workspace import Workspace


class NotReviewable(BriefcutError):
    """A run that has not finished cannot be edited yet."""

    exit_code = 2


def prepare_edit(workspace: Workspace, run_id: str, message: str, plan_key: str | None = None) -> EditRequest:
    """The typed request a message asks for, dry-run against the plans (an impossible edit fails here,
    before anything renders), with notes on what it cannot change."""
    ctx = open_run(run_id, workspace)
    check_reviewable(ctx)
    plans = target_plans(ctx, plan_key)
    ops = parse_message(ctx, message, plans)
    if plan_key is None:
        one_language(ctx, plans, ops)
    dry_run(ctx, plans, ops)
    return EditRequest(run_id=run_id, message=message, plan_keys=sorted(plans), ops=ops,
                       notes=picture_notes(ops, ctx.choices.video.backend, _follows_prompt(ctx),
                                           _picture_note(ctx)))  # fmt: skip


def apply_edit(workspace: Workspace, request: EditRequest, progress: Progress | None = None) -> dict[str, Any]:
    """Apply a confirmed request through the run's graph; returns the run summary of the new version.

    The request is recorded and the run marked running before the graph takes it, so a process that
    stops anywhere after this leaves a run that `briefcut resume` finishes, with this edit applied once."""
    row = workspace.store.run(request.run_id)
    with hold_run(workspace, request.run_id, Path(row["out_dir"]), "edit"):
        ctx = open_run(request.run_id, workspace, progress)
        check_reviewable(ctx)
        plans = load_plans(ctx)
        unknown = sorted(set(request.plan_keys) - set(plans))
        if unknown:
            raise PlanError(f"run {ctx.run_id} has no plan {', '.join(unknown)}; plans: {', '.join(sorted(plans))}")
        targets = {k: plans[k] for k in request.plan_keys}
        edited = dry_run(ctx, targets, request.ops)  # a request made elsewhere, checked too
        payload = request.model_dump(mode="json")
        with end_cards_ahead(ctx, targets, edited):  # made while the graph loads and runs; assembly finds them
            version = (graph_state(ctx).values or {}).get("version", 1)
            with ctx.store.transaction():
                ctx.store.record_step(ctx.run_id, f"edit-request:v{version + 1}", payload)
                ctx.store.set_run_status(ctx.run_id, "running")
            fault_point("after_edit_request")
            # imported here, not at the top: the end cards above start before langgraph loads
            from langgraph.types import Command

            return drive(ctx, Command(resume=payload))


def dry_run(ctx: RunContext, plans: dict[str, Plan], ops: list[EditOp]) -> dict[str, Plan]:
    """Apply the operations to copies of the plans, stored nowhere: an edit a plan cannot take is a PlanError
    here, before anything renders and before the run's graph is touched. Returns the edited copies."""
    return {key: apply_edits(plan, ops, ctx.brief.formats.duration_s)[0] for key, plan in plans.items()}


def parse_message(ctx: RunContext, message: str, plans: dict[str, Plan]) -> list[EditOp]:
    """Edit operations from a message: the parser first, else the LLM when one is configured."""
    lengths = {len(p.shots) for p in plans.values()}
    try:
        return parse_edit(message, n_shots=lengths.pop() if len(lengths) == 1 else None)
    except NotUnderstood:
        options = ctx.choices.planner.options if ctx.choices.planner.backend == "openai" else {}
        if not (options or ctx.settings.llm_configured):
            raise
        return parse_with_llm(message, next(iter(plans.values())), options, env=ctx.settings.environ)


def target_plans(ctx: RunContext, plan_key: str | None) -> dict[str, Plan]:
    """The plans an edit applies to: one by key, or every plan of the run."""
    plans = load_plans(ctx)
    if plan_key is None:
        return plans
    if plan_key not in plans:
        raise PlanError(f"run {ctx.run_id} has no plan '{plan_key}'; plans: {', '.join(sorted(plans))}")
    return {plan_key: plans[plan_key]}


def one_language(ctx: RunContext, plans: dict[str, Plan], ops: list[EditOp]) -> None:
    """Words put on screen by one message (a caption, the call to action) go to cuts of one language: where
    the run's cuts are in several, such an edit names its cut, rather than showing one language's words
    in all of them. Edits without words (music, order, a shot's picture) still go to every cut."""
    from agent.voices import segment_language

    if not any(isinstance(op, SetCaption | SetCallToAction) for op in ops):
        return
    langs = {key: segment_language(ctx.brief, ctx.brief.segment(plan.segment)) for key, plan in plans.items()}
    if len(set(langs.values())) > 1:
        cuts = ", ".join(f"{key}: {lang}" for key, lang in sorted(langs.items()))
        raise PlanError(f"run {ctx.run_id} has cuts in {len(set(langs.values()))} languages ({cuts}); a caption or "
                        "call to action from one message would show in all of them: name the cut it is for "
                        "(--plan KEY on edit and chat, or the studio's plan)")  # fmt: skip


def check_reviewable(ctx: RunContext) -> None:
    """Refuse to edit a run that has not finished (its graph is not waiting for an edit)."""
    run = ctx.store.run(ctx.run_id)
    if run["status"] != "done" or not ctx.store.cuts(ctx.run_id):
        raise NotReviewable(
            f"run {ctx.run_id} is {run['status']} without cuts; finish it first: briefcut resume {ctx.run_id}"
        )


def _follows_prompt(ctx: RunContext) -> bool:
    from generators.base import VIDEO

    return getattr(VIDEO.get(ctx.choices.video.backend), "follows_prompt", True)


def _picture_note(ctx: RunContext) -> str:
    from generators.base import VIDEO

    return getattr(VIDEO.get(ctx.choices.video.backend), "picture_note", "") or "does not follow the prompt"
