"""The LLM planner and refiner.

Part 1 runs against a real llama.cpp `llama-server` serving a tiny random llama: the content is
noise, but the server's JSON-schema grammar makes every answer schema-valid, so plan, revise and a
chat edit go through the whole structured-output path and must come out as valid plans and ops.
Part 2 uses the scripted server to pin down how the planner enforces the brief on what it gets.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fixtures.llama import MODEL, FakeLLM, ok

from agent.brief import MIN_SHOT_SECONDS, Brief, end_card_seconds
from agent.edit.llm_parse import parse_with_llm
from agent.edit.ops import EditList, apply_edits
from agent.errors import PlanError
from agent.planners import PLANNERS
from agent.planners.base import PlanRequest
from agent.planners.openai_planner import OpenAIPlanner, llm_plan_model, shot_bounds

BRIEF = {
    "brand": {"name": "Lumen", "tone": ["warm", "calm"], "palette": ["#F2C14E", "#0B3C5D"]},
    "product": {"name": "Lumen Lamp", "description": "a brass desk lamp that dims itself"},
    "message": "Light that follows your day", "call_to_action": "Shop now",
    "segments": [{"id": "students", "description": "students in small rooms", "language": "en",
                  "overrides": {"call_to_action": "Student price", "must_include": ["late night"]}}],
    "formats": {"duration_s": 12}, "must_include": ["brass"], "must_avoid": ["cheap", "plastic"],
}


def request(family: str = "wan", **changes: Any) -> PlanRequest:
    brief = Brief.model_validate(BRIEF | changes)
    return PlanRequest(brief=brief, segment=brief.segments[0], variant=1, family=family)


# 1. a real llama.cpp server -------------------------------------------------------------------

# Short strings and few tokens keep generation on one CPU thread to seconds.
LLAMA_OPTS = {"model": "tiny-llama", "text_limit": 48, "max_tokens": 3000, "temperature": 0.8, "seed": 7,
              "timeout_s": 240, "max_retries": 1, "backoff_s": 0.5}


@pytest.mark.llm
def test_plan_revise_and_chat_edit_through_llama_server(llama_server: str) -> None:
    planner = PLANNERS.create("openai", {"base_url": llama_server, **LLAMA_OPTS})
    req = request(shots=3)
    # 1. plan: schema-valid noise becomes a valid plan that fills the cut exactly
    plan = planner.plan(req)
    plan.check_duration(12)
    assert plan.planner == "openai" and len(plan.shots) == 3 and [s.index for s in plan.shots] == [0, 1, 2]
    assert all(s.seconds >= MIN_SHOT_SECONDS and s.prompt for s in plan.shots)
    assert plan.end_card.seconds == end_card_seconds(12) and plan.end_card.call_to_action == "Student price"
    text = " ".join(s.prompt for s in plan.shots).lower()
    assert "lumen lamp" in text and "brass" in text and "late night" in text
    assert all("cheap" in s.negative_prompt for s in plan.shots)
    assert planner.client.describe()["mode"] == "json_schema"  # llama-server honours the JSON schema
    # 2. revise: one prompt changes, timing and the other shots do not
    revised = planner.revise(req, plan, 1, "too bright; make it moody")
    assert [s.seconds for s in revised.shots] == [s.seconds for s in plan.shots]
    assert revised.shots[0] == plan.shots[0] and revised.shots[2] == plan.shots[2]
    assert revised.shots[1].prompt and "lumen lamp" in revised.shots[1].prompt.lower()
    # 3. a chat edit through the same structured-output path gives typed, appliable ops
    ops = parse_with_llm("make the second shot darker and the music calmer", plan,
                         {"base_url": llama_server, **LLAMA_OPTS, "max_tokens": 1500})
    assert ops and EditList(ops=ops).ops == ops
    assert all(1 <= getattr(op, "shot", 1) <= 3 for op in ops)
    try:
        edited, rerender = apply_edits(plan, ops, 12)
    except PlanError as exc:  # noise may ask for an impossible edit; it must say so clearly
        assert "shot" in str(exc) or "order" in str(exc)
    else:
        edited.check_duration(12)
        assert all(0 <= i < len(edited.shots) for i in rerender)


@pytest.mark.llm
def test_llama_server_plan_without_a_fixed_shot_count_or_model_name(llama_server: str) -> None:
    opts = {k: v for k, v in LLAMA_OPTS.items() if k != "model"}
    planner = OpenAIPlanner({"base_url": llama_server, **opts, "max_shots": 4}, env={})
    plan = planner.plan(request(family="animatic"))
    plan.check_duration(12)
    assert 1 <= len(plan.shots) <= 4
    assert planner.client.model == "tiny-llama"  # the server's only model, from /v1/models


# 2. enforcing the brief (scripted server) --------------------------------------------------------


def shot(**over: Any) -> dict[str, Any]:
    base = {"role": "product", "description": "the lamp", "prompt": "a lamp glowing on a desk",
            "negative_prompt": "", "seconds": 3, "camera": "slow push in", "sound": "click",
            "caption": "Glow", "voice_line": "Meet Lumen", "transition": "cut", "shows_product": True}
    return base | over


def planner_for(fake: FakeLLM, **opts: Any) -> OpenAIPlanner:
    return OpenAIPlanner({"base_url": fake.url, "model": MODEL, "max_retries": 0, **opts}, env={})


def test_plan_enforces_timing_words_end_card_and_music(fake_llm: FakeLLM) -> None:
    shots = [
        shot(role="hook", prompt="a cheap plastic lamp\x07 at dawn", seconds=-1),
        shot(seconds=1e9, caption="Cheap?"),
        shot(role="villain", seconds=2, transition="wipe"),
    ]
    fixed = [shots[0], shot(seconds=1e9, caption="Bright?"), shots[2]]
    fake_llm.replies = [ok({"shots": shots, "music_prompt": "plastic pop"}),
                        ok({"shots": fixed, "music_prompt": "plastic pop"})]
    plan = planner_for(fake_llm).plan(request())
    # copy with a must-avoid term is sent back once, naming where and what
    ask = fake_llm.requests[1]["messages"][-1]["content"]
    assert "shot 2 caption: 'cheap'" in ask and "cheap, plastic" in ask
    plan.check_duration(12)
    assert len(plan.shots) == 3 and plan.shots[1].seconds > plan.shots[2].seconds >= MIN_SHOT_SECONDS
    first = plan.shots[0]
    # the audience is spoken to: named in the first prompt and, through the variant's hook, in the copy
    assert first.prompt == "a lamp at dawn, for students in small rooms" and "cheap, plastic" in first.negative_prompt
    assert first.caption == "Students in small rooms? This one's for you. Glow"
    assert plan.varies["hook"].startswith("question:") and set(plan.varies) == {"hook", "cta", "camera", "order"}
    assert "blurry" in first.negative_prompt  # the family's usual negative prompt for wan
    assert plan.shots[1].caption == "Bright?" and plan.music.prompt == "pop" and plan.music.mood == "uplifting"
    assert plan.shots[2].role == "scene" and plan.shots[2].transition == "cut"
    product = plan.shots[1].prompt  # the first product shot carries the missing items
    assert "Lumen Lamp" in product and "brass" in product and "late night" in product
    assert all(s.voice_line == "" for s in plan.shots)  # the brief has no voice-over
    assert plan.end_card.headline == "Light that follows your day" and plan.end_card.call_to_action == "Student price"
    assert f"planned by {MODEL} at {fake_llm.url}" in plan.notes


def test_copy_that_keeps_a_must_avoid_term_fails_the_plan(fake_llm: FakeLLM) -> None:
    bad = {"shots": [shot(), shot(voice_line="So CHEAP!")], "music_prompt": ""}
    fake_llm.replies = [ok(bad), ok(bad)]
    with pytest.raises(PlanError, match=r"still has a must-avoid term after one revision: shot 2 voice line: 'cheap'"):
        planner_for(fake_llm).plan(request(shots=2, audio={"voice_over": True}))


def test_shorten_line_asks_the_llm_and_falls_back_to_a_deterministic_cut(fake_llm: FakeLLM) -> None:
    line = "Bright light for late nights, warm light for early mornings, and brass that lasts."
    fake_llm.replies = [ok({"line": "Light for every hour."}), ok({"line": "So cheap, light for every hour."})]
    planner = planner_for(fake_llm)
    assert planner.shorten_line(request(), line, 0.4) == "Light for every hour."
    assert "at most 32 characters" in fake_llm.requests[0]["messages"][0]["content"]
    fallback = planner.shorten_line(request(), line, 0.4)  # the answer has a must-avoid term
    assert fallback == "Bright light for late nights" and "cheap" not in fallback


def test_prompts_carry_the_brief_and_the_family_style(fake_llm: FakeLLM) -> None:
    fake_llm.replies = [ok({"shots": [shot(), shot()], "music_prompt": ""})]
    planner_for(fake_llm).plan(request(family="ltx", shots=2))
    sent = fake_llm.requests[0]
    system, user = sent["messages"][0]["content"], sent["messages"][1]["content"]
    assert "LTX-Video" in system and "exactly 2 shots" in user and "Lumen Lamp" in user
    assert "cheap, plastic" in user and "brass, late night" in user
    schema = sent["response_format"]["json_schema"]["schema"]
    assert json.dumps(schema).count('"minItems": 2') == 1


def test_a_plan_that_cannot_fit_is_a_plan_error(fake_llm: FakeLLM) -> None:
    fake_llm.replies = [ok({"shots": [shot()] * 3, "music_prompt": ""}), ok({"shots": [], "music_prompt": ""})]
    planner = planner_for(fake_llm)
    with pytest.raises(PlanError, match="planned 3 shots .* the brief allows 2"):
        planner.plan(request(shots=2))
    with pytest.raises(PlanError, match="planned no shots"):
        planner.plan(request())


def test_shot_bounds_follow_the_brief() -> None:
    assert shot_bounds(request(shots=4).brief, 8) == (4, 4)
    assert shot_bounds(request().brief, 8) == (1, 8)
    assert shot_bounds(request(formats={"duration_s": 3}).brief, 8) == (1, 2)


def test_text_limit_bounds_strings_in_the_schema_only() -> None:
    schema = json.dumps(llm_plan_model(1, 3, 40).model_json_schema())
    assert '"maxLength": 40' in schema and '"maxItems": 3' in schema
    assert "maxLength" not in json.dumps(llm_plan_model(1, 3, None).model_json_schema())
    long = llm_plan_model(1, 1, 40).model_validate({"shots": [shot(prompt="x" * 500)], "music_prompt": ""})
    assert len(long.shots[0].prompt) == 500  # generation is bounded; validation stays lenient


def test_revise_rewrites_one_prompt_and_keeps_timing(fake_llm: FakeLLM) -> None:
    fake_llm.replies = [ok({"shots": [shot(), shot(role="cta")], "music_prompt": "soft"}),
                        ok({"prompt": "a cheap moody lamp in shadow", "negative_prompt": "harsh light"})]
    planner = planner_for(fake_llm)
    req = request(shots=2)
    plan = planner.plan(req)
    assert "Lumen Lamp" in plan.shots[0].prompt and "brass" in plan.shots[0].prompt
    revised = planner.revise(req, plan, 0, "too bright")
    assert revised.shots[1] == plan.shots[1] and revised.shots[0].seconds == plan.shots[0].seconds
    new = revised.shots[0]
    # must-avoid words go; the product and must-include items the shot carried stay
    assert new.prompt.startswith("a moody lamp in shadow") and "Lumen Lamp" in new.prompt and "brass" in new.prompt
    assert "harsh light" in new.negative_prompt and "cheap" in new.negative_prompt
    sent = fake_llm.requests[1]["messages"][1]["content"]
    assert "too bright" in sent and "shot 1 of 2" in sent and plan.shots[1].prompt in sent
    with pytest.raises(PlanError, match="has no shot 5"):
        planner.revise(req, plan, 5, "x")


def test_identity_names_endpoint_and_key_variable_only(fake_llm: FakeLLM) -> None:
    planner = OpenAIPlanner({"base_url": fake_llm.url, "model": MODEL, "api_key_env": "MY_KEY"},
                            env={"MY_KEY": "sk-live-abcdefgh12345"})
    ident, desc = planner.identity(), planner.describe()
    assert ident["base_url"] == fake_llm.url and ident["model"] == MODEL and "timeout_s" not in ident["options"]
    assert desc["options"]["api_key_env"] == "MY_KEY" and "sk-live" not in json.dumps([ident, desc])


def test_options_refuse_a_key_in_place_of_the_env_var_name() -> None:
    from agent.errors import BackendOptionsError

    with pytest.raises(BackendOptionsError):
        OpenAIPlanner({"api_key": "sk-abc"})
    with pytest.raises(BackendOptionsError):
        OpenAIPlanner({"api_key_env": "sk-abc-123"})
