"""The persona panel: simulated viewers per segment watch each variant's cut and answer in a schema.

A heuristic, and labelled so everywhere: an LLM playing a persona is not a person, and its ranking is a
guess to test against real results (`briefcut audience calibrate`). Never a made-up score: without an
endpoint, or when the endpoint fails, the segment's panel is "not computed" with the reason.

Per segment: 1. the personas (the brief's, else written by the LLM from the segment's description);
2. each persona watches each variant's rendition `samples` times (a distinct seed each); 3. the answers
are scored (intent to act, 1-7, ranks the variants; relevance, watch-through and brand recall are
reported beside it) and aggregated with bootstrap intervals (agent.audience.aggregate).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, Field, create_model

from agent.audience.aggregate import bootstrap_means, rank
from agent.audience.rendition import rendition, variant_differences
from agent.audience.results import HEURISTIC, not_computed
from agent.brief import Brief, Persona, Segment
from agent.errors import EndpointError
from agent.llm import LLMClient, LLMSettings, render_prompt
from agent.plan import Plan
from agent.voices import segment_language

if TYPE_CHECKING:
    pass

PANEL_DEFAULTS = {"max_tokens": 400, "temperature": 0.9}
MAX_FAILED_SHARE = 0.5  # more answers than this failing: the segment's panel is not computed
TOP_REASONS = 3


class PanelAnswer(BaseModel):
    """One persona's answer after watching one cut."""

    stop_second: float = Field(ge=0, description="second at which you would stop watching")
    recalled_brand: str = Field(description="the brand you remember, or empty", json_schema_extra={"maxLength": 60})
    recalled_message: str = Field(description="what the ad said, or empty", json_schema_extra={"maxLength": 160})
    relevance: int = Field(ge=1, le=7, description="1 (not at all) to 7 (very)")
    intent: int = Field(ge=1, le=7, description="1 (not at all) to 7 (very likely to act)")
    change: str = Field(description="the one thing to change", json_schema_extra={"maxLength": 160})


def personas_model(count: int) -> type[BaseModel]:
    """The schema an LLM fills with `count` personas."""
    person = create_model("LLMPersona", name=(str, Field(json_schema_extra={"maxLength": 40})),
                          description=(str, Field(json_schema_extra={"maxLength": 300})))  # fmt: skip
    return create_model("LLMPersonas", personas=(list[person], Field(min_length=count, max_length=count)))  # type: ignore[valid-type]


def language_name(lang: str) -> str:
    return "English" if lang.split("-")[0] == "en" else f"the language whose BCP 47 code is '{lang}'"


def panel_client(brief: Brief, planner_options: dict[str, Any], env: dict[str, str]) -> LLMClient:
    """A client for the panel: the planner's endpoint options, the panel's defaults, then `audience.options`."""
    fields = set(LLMSettings.model_fields)
    base = {k: v for k, v in planner_options.items() if k in fields}
    return LLMClient(LLMSettings.model_validate(base | PANEL_DEFAULTS | brief.audience.options), env)


# 1. personas ----------------------------------------------------------------------------------------
def personas_for(client: LLMClient, brief: Brief, segment: Segment) -> tuple[list[Persona], str]:
    """The brief's personas for the segment, else ones the LLM writes from its description."""
    given = brief.audience.personas.get(segment.id)
    if given:
        return list(given), "brief"
    count = brief.audience.personas_per_segment
    text = render_prompt("personas_user", count=count, product=brief.product.name, brand=brief.brand.name,
                         segment=segment.description or segment.id,
                         language=language_name(segment_language(brief, segment)))  # fmt: skip
    answer = client.ask([{"role": "user", "content": text}], personas_model(count))
    return [Persona(name=p.name.strip()[:80] or f"viewer {i + 1}", description=p.description.strip()[:600] or "-")
            for i, p in enumerate(answer.personas)], "llm"  # fmt: skip


# 2. watching ----------------------------------------------------------------------------------------
def watch(client: LLMClient, persona: Persona, text: str, duration: float, lang: str, seed: int,
          image: dict | None = None) -> PanelAnswer:  # fmt: skip
    """One persona's answer to one cut (the seed makes repeated samples differ, and runs repeatable)."""
    system = render_prompt("panel_system", persona=persona.name, description=persona.description,
                           language=language_name(lang))  # fmt: skip
    user = render_prompt("panel_user", rendition=text, persona=persona.name, duration=f"{duration:.1f}")
    content: Any = user if image is None else [{"type": "text", "text": user}, image]
    client.settings = client.settings.model_copy(update={"seed": seed})
    answer = client.ask([{"role": "system", "content": system}, {"role": "user", "content": content}], PanelAnswer)
    return answer.model_copy(update={"stop_second": min(answer.stop_second, duration)})


def answer_seed(base: int, *parts: Any) -> int:
    """A stable seed per (persona, variant, sample)."""
    blob = ":".join(str(p) for p in (base, *parts)).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "big") % 2**31


# 3. one segment -------------------------------------------------------------------------------------
def segment_panel(client: LLMClient, brief: Brief, segment: Segment, plans: list[Plan],
                  images: dict[str, Any] | None = None, tick: Callable[[], None] = lambda: None) -> dict[str, Any]:  # fmt: skip
    """Ask every persona about every variant; aggregate, rank and collect the top reasons."""
    lang = segment_language(brief, segment)
    personas, origin = personas_for(client, brief, segment)
    samples = brief.audience.samples
    duration = brief.formats.duration_s
    answers: dict[str, list[list[dict | None]]] = {p.key: [[None] * samples for _ in personas] for p in plans}
    errors: list[str] = []
    for plan in plans:
        text = rendition(plan, brief.formats.fps, brief.brand.name, brief.product.name, brief.formats.aspect_ratios[0])
        for i, persona in enumerate(personas):
            for k in range(samples):
                try:
                    got = watch(client, persona, text, duration, lang, answer_seed(brief.seed, segment.id, plan.key, i, k),
                                (images or {}).get(plan.key))  # fmt: skip
                    answers[plan.key][i][k] = got.model_dump()
                except EndpointError as exc:
                    errors.append(str(exc))
                tick()
    asked = len(plans) * len(personas) * samples
    if len(errors) > MAX_FAILED_SHARE * asked:
        return not_computed(f"{len(errors)} of {asked} panel answers failed: {errors[0]}")
    return summarise(brief, plans, personas, origin, answers, errors)


def scores(answers: dict[str, list[list[dict | None]]], field: str, scale: Callable[[dict], float]) -> dict[str, np.ndarray]:
    """Per variant, the personas x samples matrix of one measure (NaN where an answer failed)."""
    return {key: np.array([[np.nan if a is None else scale(a) for a in row] for row in rows], np.float64)
            for key, rows in answers.items()}  # fmt: skip


def summarise(brief: Brief, plans: list[Plan], personas: list[Persona], origin: str,
              answers: dict[str, list[list[dict | None]]], errors: list[str]) -> dict[str, Any]:  # fmt: skip
    """The segment's result: the ranking by intent with intervals, the other measures, the top reasons."""
    duration, brand = brief.formats.duration_s, brief.brand.name.casefold()
    measures = {
        "intent": lambda a: float(a["intent"]),
        "relevance": lambda a: float(a["relevance"]),
        "watch_share": lambda a: a["stop_second"] / duration,
        "brand_recall": lambda a: float(brand in (a["recalled_brand"] + " " + a["recalled_message"]).casefold()),
    }
    stats = {name: bootstrap_means(scores(answers, name, fn), seed=brief.seed) for name, fn in measures.items()}
    ranking = rank(stats["intent"])
    differences = variant_differences(plans)
    rows = []
    for v in ranking.variants:
        row = v.model_dump() | {name: stats[name][v.variant].model_dump(exclude={"variant", "answers"})
                                for name in measures if name != "intent"}  # fmt: skip
        rows.append(row | {"varies": differences.get(v.variant, []), "reasons": top_reasons(answers[v.variant])})
    return {"computed": True, "label": HEURISTIC, "measure": "intent to act, 1-7 (mean over personas and samples)",
            "winner": ranking.winner, "verdict": ranking.verdict, "ranking": rows,
            "personas": [p.model_dump() | {"from": origin} for p in personas], "samples": brief.audience.samples,
            "failed_answers": len(errors), "answers": answers}  # fmt: skip


def top_reasons(rows: list[list[dict | None]]) -> list[str]:
    """The changes personas asked for most often (spaces and a final full stop folded), most frequent first."""
    said = Counter(" ".join(a["change"].split()).rstrip(".").strip() for row in rows for a in row if a and a["change"].strip())
    return [text for text, _ in said.most_common(TOP_REASONS)]
