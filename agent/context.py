"""Run configuration that travels through the graph as langgraph's runtime context (no globals)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.brief import Brief
from agent.plan import Plan
from agent.planners import PLANNERS, Planner, PlanRequest
from agent.profiles import Choices
from agent.settings import Settings
from agent.store import Store
from agent.workspace import Workspace
from generators.base import BackendPool

if TYPE_CHECKING:
    from agent.scoring import Scorer


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
    """Everything a node needs besides the state: the brief, the workspace (its store), the loaded backends."""

    run_id: str
    brief: Brief
    choices: Choices
    workspace: Workspace
    out_dir: Path
    pool: BackendPool = field(default_factory=BackendPool)
    progress: Progress = field(default_factory=Progress)
    executor: Any = None  # agent.batch.executors.Executor; a LocalExecutor over `pool` when None
    # Lazily made and kept for the run: the planner and the scorer.
    _planner: Planner | None = None
    _scorer: Scorer | None = None
    _footage: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.executor is None:
            from agent.batch.executors import LocalExecutor

            self.executor = LocalExecutor(self.pool)

    @property
    def store(self) -> Store:
        return self.workspace.store

    @property
    def settings(self) -> Settings:
        return self.workspace.settings

    @property
    def planner(self) -> Planner:
        if self._planner is None:
            cls = PLANNERS.get(self.choices.planner.backend)
            self._planner = cls(self.choices.planner.options, env=self.settings.environ)
        return self._planner

    def plan_request(self, plan_or_segment: Plan | str) -> PlanRequest:
        segment = plan_or_segment.segment if isinstance(plan_or_segment, Plan) else plan_or_segment
        variant = plan_or_segment.variant if isinstance(plan_or_segment, Plan) else 0
        return PlanRequest(
            brief=self.brief, segment=self.brief.segment(segment), variant=variant, family=self.choices.family
        )

    def footage_ranker(self) -> Any:
        """The run's ranker of the brief's footage folder (agent.footage.FootageRanker), by the scorer's
        CLIP model when there is one, else by words; None when the brief names no footage."""
        if self.brief.assets.footage is None:
            return None
        with self._lock:
            if self._footage is None:
                from agent.footage import FootageRanker

                embedder, _ = self.scorer.embedder()
                self._footage = FootageRanker(Path(self.brief.assets.footage), embedder, self.choices.clip.model or "")
            return self._footage

    @property
    def scorer(self) -> Scorer:
        """The run's scorer: configuration, CLIP choice and reference embedding resolved once."""
        if self._scorer is None:
            from agent.scoring import Scorer

            self._scorer = Scorer(self.run_id, self.brief, self.choices.clip, self.store, self.pool,
                                  warn=self.progress.warn)
        return self._scorer
