"""Free text to edit operations through the LLM endpoint (the planner's structured-output client).

Used when the parser in `agent.edit.parse` cannot read a message and an endpoint is configured. The
answer's schema bounds shot numbers by the plan, so grammar-constrained servers cannot name a shot
that is not there; what the model says is repaired where the intent is clear and dropped where not.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, create_model

from agent.brief import MIN_SHOT_SECONDS
from agent.edit.ops import EditList, EditOp
from agent.errors import PlanError
from agent.llm import LLMClient, LLMSettings, render_prompt
from agent.plan import Plan

LLM_TEXT_CHARS = 120


def _llm_edit_model(n_shots: int) -> type[BaseModel]:
    """EditList with shot numbers bounded by the plan (in the schema, so servers enforce them)."""
    shot = (int, Field(json_schema_extra={"minimum": 1, "maximum": n_shots}))
    bounded = Annotated[str, Field(json_schema_extra={"maxLength": LLM_TEXT_CHARS})]
    text = (bounded, ...)
    variants = [
        create_model("LLMRerender", op=(Literal["rerender"], ...), shot=shot, prompt=(bounded | None, ...),
                     seed=(Annotated[int, Field(json_schema_extra={"minimum": 0, "maximum": 2**31 - 1})] | None, ...)),
        create_model("LLMCaption", op=(Literal["caption"], ...), shot=shot, text=text),
        create_model("LLMMusic", op=(Literal["music"], ...), mood=text),
        create_model("LLMOrder", op=(Literal["order"], ...),
                     order=(list[Annotated[int, Field(json_schema_extra={"minimum": 1, "maximum": n_shots})]],
                            Field(json_schema_extra={"minItems": 1, "maxItems": n_shots}))),
        create_model("LLMTrim", op=(Literal["trim"], ...), shot=shot, seconds=(float, ...)),
        create_model("LLMDrop", op=(Literal["drop"], ...), shot=shot),
        create_model("LLMCta", op=(Literal["cta"], ...), text=text),
        create_model("LLMAdjust", op=(Literal["adjust"], ...), shot=shot, instruction=text),
    ]
    union = variants[0]
    for v in variants[1:]:
        union = union | v  # type: ignore[assignment, operator]
    return create_model("LLMEdits", ops=(list[union], Field(json_schema_extra={"minItems": 1, "maxItems": 8})))


def parse_with_llm(message: str, plan: Plan, client_opts: Mapping[str, Any] | BaseModel | None = None,
                   env: Mapping[str, str] | None = None) -> list[EditOp]:
    """Edit operations from free text, via the LLM endpoint's structured output (same path as planning)."""
    opts = client_opts.model_dump() if isinstance(client_opts, BaseModel) else dict(client_opts or {})
    settings = LLMSettings.model_validate({k: v for k, v in opts.items() if k in LLMSettings.model_fields})
    client = LLMClient(settings, os.environ if env is None else env)
    shots = "\n".join(f"{i + 1}. [{s.seconds:g} s] {s.description}: {s.prompt[:160]}"
                      f"{f' (caption: {s.caption})' if s.caption else ''}" for i, s in enumerate(plan.shots))
    messages = [
        {"role": "system", "content": render_prompt("edits_system")},
        {"role": "user", "content": render_prompt("edits_user", shots=shots, music=plan.music.mood,
                                                  cta=plan.end_card.call_to_action, message=message)},
    ]
    answer = client.ask(messages, _llm_edit_model(len(plan.shots)))
    return _ops_from_llm(answer.ops, len(plan.shots))


def _ops_from_llm(raw: list[Any], n_shots: int) -> list[EditOp]:
    """Typed ops from what the model said, repaired where the intent is clear, invalid ones left out."""
    ops: list[EditOp] = []
    for item in raw:
        data = item.model_dump()
        if "shot" in data and not 1 <= data["shot"] <= n_shots:
            continue
        if data["op"] == "trim":
            data["seconds"] = max(MIN_SHOT_SECONDS, data["seconds"]) if math.isfinite(data["seconds"]) else None
        if data.get("seed") is not None:
            data["seed"] %= 2**31
        if data["op"] == "order":
            data["order"] = [n for n in dict.fromkeys(data["order"]) if 1 <= n <= n_shots]
        for key in ("text", "mood", "instruction", "prompt"):
            if isinstance(data.get(key), str):
                data[key] = " ".join(data[key].split())
        try:
            ops.append(EditList.model_validate({"ops": [data]}).ops[0])
        except ValueError:
            continue
    if not ops:
        raise PlanError("the message asked for no edit the plan can take; say e.g. 'shot 2 darker'")
    return ops
