"""The agent graph, wired in one function and compiled with a SQLite checkpointer.

plan -> render (one Send per job) -> score -> refine -> render ... -> assemble -> audience -> review
review waits (interrupt) for the person's edit -> edit -> render -> score -> assemble -> audience -> review ...
"""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agent.context import RunContext
from agent.nodes import (
    assemble_node,
    audience_node,
    edit_node,
    fan_out,
    plan_node,
    refine_node,
    render_node,
    review_node,
    route_after_review,
    route_after_score,
    score_node,
)
from agent.state import RunInput, RunState


def build_graph() -> StateGraph:
    """The nodes and the edges between them (routers decide the conditional ones)."""
    graph = StateGraph(RunState, context_schema=RunContext, input_schema=RunInput)
    graph.add_node("plan", plan_node)
    graph.add_node("render", render_node)
    graph.add_node("score", score_node)
    graph.add_node("refine", refine_node)
    graph.add_node("assemble", assemble_node)
    graph.add_node("audience", audience_node)
    graph.add_node("review", review_node)
    graph.add_node("edit", edit_node)
    graph.add_edge(START, "plan")
    for source in ("plan", "refine", "edit"):
        graph.add_conditional_edges(source, fan_out, ["render", "score"])
    graph.add_edge("render", "score")
    graph.add_conditional_edges("score", route_after_score, ["refine", "assemble"])
    graph.add_edge("assemble", "audience")
    graph.add_edge("audience", "review")
    graph.add_conditional_edges("review", route_after_review, ["edit", END])
    return graph


def compile_graph(checkpointer: BaseCheckpointSaver) -> CompiledStateGraph:
    """The compiled graph with the workspace's checkpointer; thread id = run id, so a killed run resumes."""
    return build_graph().compile(checkpointer=checkpointer)
