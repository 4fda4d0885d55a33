"""Chat edits in the studio: the message's dry run is kept in the store until it is confirmed.

The dry run is the edit path's own (`prepare_edit`); what it will render again, and what it keeps, is
worked out with the same `apply_edits` the graph uses, on copies of the plans, rendering nothing.
"""

from __future__ import annotations

import secrets
from typing import Any

from agent.context import RunContext
from agent.edit.ops import apply_edits, plan_diff
from agent.edit.request import EditRequest
from agent.edit.session import prepare_edit
from agent.errors import BriefcutError
from agent.jobs import load_plans
from agent.plan import Plan
from agent.render import video_cached
from agent.runner import open_run
from agent.store import Store
from agent.studio.worker import CONFIRMED
from agent.workspace import Workspace

PROPOSED = "edit_proposed"


class EditConflict(BriefcutError):
    """An edit that cannot be confirmed now: unknown, already confirmed, stale, or the run is busy."""

    exit_code = 2


def propose(workspace: Workspace, run_id: str, message: str, plan_key: str | None = None) -> dict[str, Any]:
    """The dry run of a message (nothing rendered), kept in the store under a new edit id."""
    request = prepare_edit(workspace, run_id, message, plan_key)
    ctx = open_run(run_id, workspace)
    plans = {k: p for k, p in load_plans(ctx).items() if k in request.plan_keys}
    version = current_version(workspace.store, run_id)
    dry = {"ops": request.describe().splitlines(), "notes": request.notes,
           "plans": {k: what_renders(ctx, p, request) for k, p in plans.items()}}
    edit_id = secrets.token_hex(6)
    workspace.store.event(run_id, PROPOSED, {"edit_id": edit_id, "request": request.model_dump(mode="json"),
                                             "dry_run": dry, "version": version})  # fmt: skip
    return {"edit_id": edit_id, "run_id": run_id, "message": message, "version": version, "dry_run": dry}


def what_renders(ctx: RunContext, plan: Plan, request: EditRequest) -> dict[str, Any]:
    """For one plan: the shots (1-based) whose picture renders again, the sounds that do, whether the
    music does, the shots kept as they are, and the plan's diff. A picture renders again where the
    edit asks for it or where the new shot's take is not in the cache (a backend that draws the copy
    into the picture renders the shot whose caption changed)."""
    brief = ctx.brief
    new, asked = apply_edits(plan, request.ops, brief.formats.duration_s)
    formats, takes = brief.formats.aspect_ratios, brief.render.takes
    rerender = sorted(set(asked) | {i for i, shot in enumerate(new.shots) if not all(
        video_cached(ctx, new, shot, fmt, t) for fmt in formats for t in range(takes))})  # fmt: skip
    before = {s.uid: s for s in plan.shots}
    sounds = [i + 1 for i, s in enumerate(new.shots) if i in rerender or before.get(s.uid) is None
              or (before[s.uid].voice_line, before[s.uid].sound) != (s.voice_line, s.sound)]  # fmt: skip
    pictures = sorted(i + 1 for i in rerender)
    return {"video_shots": pictures, "video_takes": len(pictures) * len(formats) * takes,
            "sound_shots": [n for n in sounds if new.shots[n - 1].voice_line or new.shots[n - 1].sound],
            "music": new.music != plan.music, "kept_shots": [i + 1 for i in range(len(new.shots)) if i not in rerender],
            "diff": plan_diff(plan, new)}  # fmt: skip


def confirmable(workspace: Workspace, run_id: str, edit_id: str) -> EditRequest:
    """The proposed request, if it can be confirmed: not confirmed before, made on the current version."""
    store = workspace.store
    events = store.rows("events", "run_id = ? and kind in (?, ?)", [run_id, PROPOSED, CONFIRMED], order_by="id")
    proposal = next((e["data"] for e in events if e["kind"] == PROPOSED and e["data"]["edit_id"] == edit_id), None)
    if proposal is None:
        raise EditConflict(f"run {run_id} has no proposed edit '{edit_id}'")
    if any(e["kind"] == CONFIRMED and e["data"]["edit_id"] == edit_id for e in events):
        raise EditConflict(f"edit {edit_id} was confirmed already")
    if proposal["version"] != current_version(store, run_id):
        raise EditConflict(f"edit {edit_id} was made on version {proposal['version']}; the run is at version "
                           f"{current_version(store, run_id)} now: send the message again")  # fmt: skip
    return EditRequest.model_validate(proposal["request"])


def pending_request(store: Store, run_id: str, edit_id: str) -> EditRequest | None:
    """A confirmed edit's request while the run is still at the version it was made on (not applied yet)."""
    rows = store.rows("events", "run_id = ? and kind = ?", [run_id, PROPOSED], order_by="id")
    proposal = next((e["data"] for e in rows if e["data"]["edit_id"] == edit_id), None)
    if proposal is None or proposal["version"] != current_version(store, run_id):
        return None
    return EditRequest.model_validate(proposal["request"])


def current_version(store: Store, run_id: str) -> int:
    """The run's latest cut version (0 before its first cuts)."""
    return max((c["version"] for c in store.cuts(run_id)), default=0)


def mark_confirmed(workspace: Workspace, run_id: str, edit_id: str) -> None:
    workspace.store.event(run_id, CONFIRMED, {"edit_id": edit_id})
