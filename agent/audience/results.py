"""The panel's stored results as runs, reports and views show them (no LLM, nothing heavy imported)."""

from __future__ import annotations

from typing import Any

HEURISTIC = "a heuristic: LLM personas, not people; check it against real results (briefcut audience calibrate)"
PUBLIC_KEYS = ("computed", "reason", "label", "measure", "winner", "verdict", "ranking", "personas", "samples",
               "failed_answers")  # fmt: skip


def not_computed(reason: str) -> dict[str, Any]:
    return {"computed": False, "reason": reason, "label": HEURISTIC}


def public(result: dict[str, Any]) -> dict[str, Any]:
    """A result as `run --json` and reports show it (the raw answers stay in the store)."""
    return {k: result[k] for k in PUBLIC_KEYS if k in result}


def audience_summary(store: Any, run_id: str, segments: list[str], version: int) -> dict[str, dict]:
    """Per segment of the run, the panel's public result for the cut version (or why there is none)."""
    stored = store.audience(run_id, version)
    return {s: public(stored[s]) if s in stored else not_computed("the panel has not run for this cut version")
            for s in segments}  # fmt: skip
