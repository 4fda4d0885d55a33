"""The typed edit request, and how the graph's `edit` node applies it to a run's plans.

An `EditRequest` is the same whoever makes it (the CLI, the chat, an HTTP API): the person's message,
the plans it targets and the typed operations it became, plus notes the person should read before
confirming. It reaches the graph as the resume value of the `review` interrupt, as JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agent.context import RunContext
from agent.edit.ops import AdjustShot, EditOp, RerenderShot, apply_edits, describe_edits, plan_diff
from agent.errors import PlanError
from agent.jobs import sound_jobs, video_jobs
from agent.plan import Plan, Shot
from agent.state import RenderJob


class EditRequest(BaseModel):
    """One edit of a finished run: made by `prepare_edit` (a dry run), applied by `apply_edit`."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    message: str = ""
    plan_keys: list[str] = Field(min_length=1)  # the plans it applies to (e.g. ["runners/v0"])
    ops: list[EditOp] = Field(min_length=1)
    notes: list[str] = Field(default_factory=list)  # what the edit cannot do, said before it is applied

    def describe(self) -> str:
        """One line per operation, then the notes, for the confirmation prompt."""
        return "\n".join([describe_edits(self.ops), *(f"note: {n}" for n in self.notes)])


def apply_to_plans(
    ctx: RunContext, plans: dict[str, Plan], request: EditRequest
) -> tuple[dict[str, Plan], list[RenderJob], dict[str, list[str]]]:
    """Apply the request to its plans: the changed plans, the render jobs they need, their diffs.

    Only what changed renders: a shot whose picture changed (video, and its sounds), a shot whose
    voice line or effect changed (that sound), and the music when the music changed.
    """
    changed: dict[str, Plan] = {}
    jobs: list[RenderJob] = []
    diffs: dict[str, list[str]] = {}
    for key in request.plan_keys:
        if key not in plans:
            raise PlanError(f"run {ctx.run_id} has no plan '{key}'; plans: {', '.join(sorted(plans))}")
        plan = plans[key]
        new, rerender = apply_edits(plan, request.ops, ctx.brief.formats.duration_s, revise=_reviser(ctx))
        if new == plan:
            continue
        new, rerender = _recaption(plan, new, rerender, _caption_rule(ctx))
        changed[key], diffs[key] = new, plan_diff(plan, new)
        before = {s.uid: s for s in plan.shots}
        resound = [i for i, s in enumerate(new.shots) if i in rerender or _sound_changed(before.get(s.uid), s)]
        jobs += video_jobs(ctx, new, rerender, round_=0)
        jobs += sound_jobs(ctx, new, resound, music=new.music != plan.music)
    return changed, jobs, diffs


def _caption_rule(ctx: RunContext) -> Callable[[str, str], bool]:
    """Whether the run's video backend must render a shot again for a new caption (before, after): one
    that sets the caption into its picture must; the motion backend's type is assembly's layer."""
    from generators.base import VIDEO

    backend = VIDEO.get(ctx.choices.video.backend)
    return getattr(backend, "caption_changes_picture", lambda before, after: False)


def _recaption(plan: Plan, new: Plan, rerender: list[int], changes: Callable[[str, str], bool]) -> tuple[Plan, list[int]]:
    """Also render again the shots whose new caption changes their picture (their lineage moves on,
    retiring old takes)."""
    before = {s.uid: s.caption for s in plan.shots}
    shots, more = list(new.shots), []
    for i, shot in enumerate(shots):
        was = before.get(shot.uid)
        if i not in rerender and was != shot.caption and (was is None or changes(was, shot.caption)):
            shots[i] = shot.model_copy(update={"lineage": shot.lineage + 1})
            more.append(i)
    if not more:
        return new, rerender
    return new.model_copy(update={"shots": shots}), sorted(rerender + more)


def _sound_changed(old: Shot | None, new: Shot) -> bool:
    return old is None or (old.voice_line, old.sound) != (new.voice_line, new.sound)


def _reviser(ctx: RunContext) -> Any:
    def revise(plan: Plan, index: int, instruction: str) -> Plan:
        return ctx.planner.revise(ctx.plan_request(plan), plan, index, instruction)

    return revise


def picture_notes(ops: list[EditOp], video_backend: str, follows_prompt: bool,
                  why: str = "draws the prompt as a storyboard card") -> list[str]:  # fmt: skip
    """What the request asks of the picture that the run's video backend cannot show (`why`: what the
    backend makes its picture from)."""
    if follows_prompt:
        return []
    notes = []
    for op in ops:
        match op:
            case AdjustShot(shot=n, instruction=text) | RerenderShot(shot=n, prompt=str() as text):
                notes.append(f"shot {n}: the {video_backend} video {why}, so "
                             f'"{text}" changes the words on it, not the look of the picture; render with a '
                             "video model (e.g. --profile gpu) to see it")  # fmt: skip
    return notes
