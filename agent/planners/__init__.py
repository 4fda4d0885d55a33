"""Planners turn a brief into a Plan per (segment, variant) and revise a plan from feedback."""

from agent.planners.base import PLANNERS, Planner, PlanRequest

__all__ = ["PLANNERS", "PlanRequest", "Planner"]
