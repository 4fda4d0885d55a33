"""Run configuration that travels through the graph as langgraph's runtime context (no globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.brief import Brief
from agent.plan import Plan
from agent.planners import PLANNERS, Planner, PlanRequest
from agent.profiles import Choices
from agent.store import Store
from agent.workspace import Workspace
from generators.base import BackendPool


class Progress:
    """Where long steps report progress; the CLI shows a bar, tests and batch workers ignore it."""

    def begin(self, stage: str, total: int) -> None:
        """A stage starts with `total` units of work."""

    def advance(self, stage: str, n: int = 1) -> None:
        """`n` more units of the stage are done."""

    def note(self, text: str) -> None:
        """A one-line remark (a fallback, a skipped voice-over)."""

    def warn(self, text: str) -> None:
        """Something a person must know about a result (text cut, a glyph no font has): always on stderr."""
        import sys

        print(f"briefcut: warning: {text}", file=sys.stderr, flush=True)


@dataclass
class RunContext:
    """Everything a node needs besides the state: the brief, the store, the loaded backends."""

    run_id: str
    brief: Brief
    choices: Choices
    store: Store
    workspace: Workspace
    out_dir: Path
    pool: BackendPool = field(default_factory=BackendPool)
    progress: Progress = field(default_factory=Progress)
    executor: Any = None  # agent.executors.Executor; a LocalExecutor over `pool` when None
    # Lazily made and kept for the run: the planner.
    _planner: Planner | None = None

    def __post_init__(self) -> None:
        if self.executor is None:
            from agent.executors import LocalExecutor

            self.executor = LocalExecutor(self.pool)

    @property
    def planner(self) -> Planner:
        if self._planner is None:
            self._planner = PLANNERS.create(self.choices.planner.backend, self.choices.planner.options)
        return self._planner

    def plan_request(self, plan_or_segment: Plan | str) -> PlanRequest:
        segment = plan_or_segment.segment if isinstance(plan_or_segment, Plan) else plan_or_segment
        variant = plan_or_segment.variant if isinstance(plan_or_segment, Plan) else 0
        return PlanRequest(
            brief=self.brief, segment=self.brief.segment(segment), variant=variant, family=self.choices.family
        )

    def embedder(self) -> tuple[Any, str | None]:
        """The CLIP embedder, loaded once per process (shared through the pool across runs);
        (None, reason) when no CLIP model is available offline."""
        if not self.choices.clip_model:
            return None, "no CLIP model configured"
        from evaluators.clip import load_embedder

        model, dtype = self.choices.clip_model, self.brief.scoring.clip_dtype
        return self.pool.shared(f"clip:{model}:{dtype}", lambda: load_embedder(model, dtype=dtype))
