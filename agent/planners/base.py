"""The Planner seam: `plan(request) -> Plan` and `revise(plan, shot, feedback) -> Plan`, by name."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from agent.brief import Brief, Segment
from agent.plan import Plan
from generators.base import Backend, Registry


class PlanRequest(BaseModel):
    """What a planner plans for: the brief, one segment, one variant, and the target video family."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    brief: Brief
    segment: Segment
    variant: int = 0
    # The video model family the prompts are written for ("animatic", "wan", "ltx", ...).
    family: str = "animatic"


class Planner(Backend):
    kind: ClassVar[str] = "planner"

    def __init__(self, options: dict[str, Any] | BaseModel | None = None,
                 env: Mapping[str, str] | None = None) -> None:  # fmt: skip
        """`env`: where a planner that calls a service looks its API key up by name (the run's settings)."""
        super().__init__(options)
        self.env = env

    @abstractmethod
    def plan(self, request: PlanRequest) -> Plan:
        """A plan whose shots plus end card fill the brief's duration exactly."""

    @abstractmethod
    def revise(self, request: PlanRequest, plan: Plan, shot_index: int, feedback: str) -> Plan:
        """The same plan with shot `shot_index` rewritten to answer `feedback` (timing unchanged)."""

    def shorten_line(self, request: PlanRequest, text: str, ratio: float) -> str:
        """A voice line about `ratio` as long as `text` (by default a deterministic cut at a clause or word)."""
        from agent.wording import shorten_text

        return shorten_text(text, ratio)


PLANNERS: Registry[Planner] = Registry(
    "planner",
    {
        "template": "agent.planners.template:TemplatePlanner",
        "openai": "agent.planners.openai_planner:OpenAIPlanner",
    },
)
