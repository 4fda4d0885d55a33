"""The graph's state: a narrow input and the full state (parallel render workers write only the store)."""

from __future__ import annotations

from typing import Any, TypedDict


class RunInput(TypedDict):
    run_id: str


class RenderJob(TypedDict):
    """One unit of media work sent to a `render` worker."""

    kind: str  # "video" | "music" | "effect" | "voice"
    plan_key: str
    shot: int  # -1 for cut-level sound (music)
    uid: str  # the shot's stable id ("" for music)
    format: str  # aspect ratio for video; "" for sound
    take_no: int
    round: int
    lineage: int


class RunState(TypedDict, total=False):
    run_id: str
    # Rounds of the refine loop done so far, and re-renders spent from the brief's budget.
    round: int
    rerenders_used: int
    # Shots (plan_key, shot) the last scoring found weak, with reasons.
    weak: list[dict[str, Any]]
    # Cut version being produced (1 for the first assembly; each edit adds a version).
    version: int
    # Shots to render in the next fan-out (set by plan, refine and edit nodes). Render workers write
    # nothing to the state: their takes are rows in the store.
    pending: list[RenderJob]
    cuts: list[dict[str, Any]]
    # The edit being applied (an agent.edit.session.EditRequest as JSON), None outside an edit.
    edit: dict[str, Any] | None
    # Per plan key, the human-readable changes of the last edit (recorded with the new cut version).
    diff: dict[str, list[str]]
