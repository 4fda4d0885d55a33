"""The persona panel: aggregation maths on known answers, the rendition, and the panel against a real
llama-server (schema answers, aggregation, stored and shown), plus "not computed" without an endpoint."""

from __future__ import annotations

from html import escape
from pathlib import Path

import numpy as np
import pytest

from agent.audience.aggregate import bootstrap_means, rank
from agent.audience.panel import HEURISTIC, PanelAnswer, panel_client, segment_panel, summarise
from agent.audience.rendition import rendition, variant_differences
from agent.brief import load_brief
from agent.planners.base import PlanRequest
from agent.planners.template import TemplatePlanner
from agent.report_audience import ranking_table

ROOT = Path(__file__).parents[1]


# 1. aggregation on known answers -------------------------------------------------------------------
def test_a_constant_panel_has_its_value_as_mean_and_interval():
    stats = bootstrap_means({"a": np.full((3, 2), 5.0)}, n_boot=200)
    assert (stats["a"].mean, stats["a"].low, stats["a"].high, stats["a"].answers) == (5.0, 5.0, 5.0, 6)


def test_bootstrap_interval_matches_normal_theory_for_many_personas():
    rng = np.random.default_rng(1)
    scores = rng.normal(4.0, 1.0, (200, 1))
    s = bootstrap_means({"a": scores}, n_boot=4000, seed=3)["a"]
    half = 1.96 * scores.std(ddof=1) / np.sqrt(len(scores))
    assert s.mean == pytest.approx(scores.mean())
    assert (s.high - s.low) / 2 == pytest.approx(half, rel=0.12)
    assert s.low < s.mean < s.high


def test_separated_variants_have_a_winner_and_overlapping_ones_do_not():
    rng = np.random.default_rng(0)
    clear = {"v0": 2 + rng.normal(0, 0.3, (6, 2)), "v1": 6 + rng.normal(0, 0.3, (6, 2))}
    ranking = rank(bootstrap_means(clear, n_boot=500))
    assert ranking.winner == "v1" and [v.variant for v in ranking.variants] == ["v1", "v0"]
    assert "v1 leads" in ranking.verdict
    same = {"v0": rng.integers(1, 8, (6, 2)).astype(float), "v1": rng.integers(1, 8, (6, 2)).astype(float)}
    tie = rank(bootstrap_means(same, n_boot=500))
    assert tie.winner is None and tie.verdict.startswith("no clear winner")


def test_missing_answers_are_left_out_never_counted_as_zero():
    a = np.array([[5.0, np.nan], [7.0, 6.0]])
    stats = bootstrap_means({"a": a, "b": np.full((2, 2), np.nan)}, n_boot=300)
    assert stats["a"].mean == pytest.approx(6.0) and stats["a"].answers == 3
    assert stats["b"].mean is None and stats["b"].answers == 0
    ranking = rank(stats)
    assert [v.variant for v in ranking.variants] == ["a", "b"] and ranking.verdict == "only one variant was scored"
    with pytest.raises(ValueError, match="same personas x samples"):
        bootstrap_means({"a": np.ones((2, 2)), "b": np.ones((3, 2))})


def test_summary_ranks_by_intent_and_reports_the_other_measures():
    brief = load_brief(ROOT / "briefs" / "bumper.yaml")
    plans = _plans(brief)
    answer = {"stop_second": 3.0, "recalled_brand": brief.brand.name, "recalled_message": "", "relevance": 4,
              "intent": 2, "change": "Show the price."}  # fmt: skip
    better = answer | {"intent": 6, "stop_second": 6.0, "change": "louder music"}
    answers = {plans[0].key: [[answer], [answer]], plans[1].key: [[better], [better | {"recalled_brand": "?"}]]}
    out = summarise(brief, plans, [], "brief", answers, [])
    top = out["ranking"][0]
    assert out["winner"] == plans[1].key and top["mean"] == 6.0 and top["watch_share"]["mean"] == 1.0
    assert top["brand_recall"]["mean"] == 0.5 and top["reasons"] == ["louder music"]
    assert out["ranking"][1]["reasons"] == ["Show the price"] and out["label"] == HEURISTIC
    html = ranking_table(out)
    assert f"<td class='best'>{plans[1].key}</td>" in html and "6.00 <span class='muted'>[6.00, 6.00]" in html
    assert "<li>louder music</li>" in html and escape(out["verdict"]) in html


# 2. what the personas watch ---------------------------------------------------------------------------
def _plans(brief):
    planner = TemplatePlanner()
    segment = brief.segments[0]
    return [planner.plan(PlanRequest(brief=brief, segment=segment, variant=v, family="animatic")) for v in (0, 1)]


def test_rendition_has_timings_text_voice_and_end_card():
    brief = load_brief(ROOT / "briefs" / "spring-launch.yaml")
    brief = brief.model_copy(update={"audio": brief.audio.model_copy(update={"voice_over": True})})
    plan = _plans(brief)[0]
    text = rendition(plan, 24, brief.brand.name, brief.product.name, "9:16")
    assert text.startswith("A 15.0-second video ad for Lumen (Lumen Bottle)")
    assert "0.0-" in text and f'On screen: "{plan.shots[0].caption}"' in text and "Voice-over:" in text
    assert f'a button "{plan.end_card.call_to_action}"' in text and f"Music: {plan.music.mood}" in text


def test_variant_differences_read_whatever_the_plans_vary():
    brief = load_brief(ROOT / "briefs" / "bumper.yaml")
    a, b = _plans(brief)
    b = b.model_copy(update={"music": b.music.model_copy(update={"mood": "dark synth"})})
    diffs = variant_differences([a, b])
    assert any(d.startswith("music.mood: dark synth") for d in diffs[b.key])
    assert any(d.startswith(("shots[0].camera", "varies.camera")) for d in diffs[a.key])  # declared axes first
    assert not any(d.split(":")[0].endswith(("seed", "uid", "prompt")) for d in diffs[a.key])
    assert variant_differences([a]) == {a.key: []}


# 3. the panel against a real llama-server ---------------------------------------------------------
@pytest.mark.llm
def test_panel_on_a_real_server_answers_in_the_schema_and_aggregates(llama_server: str):
    brief = load_brief(ROOT / "briefs" / "bumper.yaml")
    brief = brief.model_copy(update={"audience": brief.audience.model_copy(update={
        "personas_per_segment": 2, "samples": 1, "options": {"max_tokens": 700, "temperature": 0.8}})})
    env = {"OPENAI_BASE_URL": llama_server, "BRIEFCUT_LLM_MODEL": "tiny"}
    client = panel_client(brief, {"max_retries": 1, "backoff_s": 0.1}, env)
    plans = _plans(brief)
    result = segment_panel(client, brief, brief.segments[0], plans)
    assert result["computed"] is True, result.get("reason")
    assert len(result["personas"]) == 2 and result["personas"][0]["from"] == "llm"
    assert {r["variant"] for r in result["ranking"]} == {p.key for p in plans}
    answered = 0
    for plan in plans:
        for row in result["answers"][plan.key]:
            for answer in row:
                if answer is not None:
                    PanelAnswer.model_validate(answer)  # the schema held
                    assert 0 <= answer["stop_second"] <= brief.formats.duration_s and 1 <= answer["intent"] <= 7
                    answered += 1
    assert answered + result["failed_answers"] == 4 and answered >= 2
    for row in result["ranking"]:
        if row["mean"] is not None:
            assert 1 <= row["low"] <= row["mean"] <= row["high"] <= 7
    assert result["verdict"]


def test_without_an_endpoint_the_panel_is_not_computed_with_its_reason(tmp_path: Path):
    from langgraph.runtime import Runtime

    from agent.audience.run import audience_summary
    from agent.context import RunContext
    from agent.nodes import audience_node, plan_node
    from agent.profiles import resolve_choices
    from agent.settings import Settings
    from agent.workspace import Workspace

    brief = load_brief(ROOT / "briefs" / "bumper.yaml")
    ws = Workspace.at(tmp_path / "ws", Settings.from_env({}))
    choices = resolve_choices(brief, ws.settings)
    ws.store.create_run({"id": "r", "brief_path": "b.yaml", "brief": brief.model_dump(mode="json"),
                         "choices": choices.model_dump(mode="json"), "out_dir": str(tmp_path)})  # fmt: skip
    runtime = Runtime(context=RunContext("r", brief, choices, ws, tmp_path))
    plan_node({"run_id": "r"}, runtime)
    assert audience_node({"run_id": "r", "version": 1}, runtime) == {}
    shown = audience_summary(ws.store, "r", ["gamers"], 1)["gamers"]
    assert shown["computed"] is False and "no LLM endpoint" in shown["reason"] and "ranking" not in shown
    assert audience_summary(ws.store, "r", ["gamers"], 2)["gamers"]["reason"].startswith("the panel has not run")
    off = brief.model_copy(update={"audience": brief.audience.model_copy(update={"panel": "off"})})
    runtime = Runtime(context=RunContext("r", off, choices, ws, tmp_path))
    audience_node({"run_id": "r", "version": 2}, runtime)
    assert "audience.panel: off" in ws.store.audience("r", 2)["gamers"]["reason"]
    ws.close()
    from typer.testing import CliRunner

    from agent.cli import app

    early = CliRunner().invoke(app, ["--workdir", str(tmp_path / "ws"), "audience", "panel", "r"])
    assert early.exit_code == 2 and "run r has no cuts yet" in early.output


def test_bad_audience_settings_are_brief_errors_naming_the_field(tmp_path: Path):
    from agent.errors import BriefError

    base = ("brand: {name: X}\nproduct: {name: Y}\nmessage: Hi there.\ncall_to_action: Buy\nsegments: [{id: a}]\n"
            "formats: {duration_s: 6}\naudience:\n")
    cases = {"  options: {temprature: 0.5}\n": ":8:13: audience.options.temprature: unknown field",
             "  samples: 0\n": ":8:3: audience.samples: Input should be greater than or equal to 1",
             "  personas: {b: [{name: A, description: x}]}\n": ":8:3: audience.personas: names segments the brief does not have: ['b']"}
    for text, message in cases.items():
        path = tmp_path / "b.yaml"
        path.write_text(base + text)
        with pytest.raises(BriefError, match=message.replace("[", r"\[").replace("]", r"\]")):
            load_brief(path)
