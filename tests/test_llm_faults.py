"""Every fault path of the LLM client against a real, misbehaving HTTP server on 127.0.0.1.

The server (`fake_llm`, tests/fixtures/llama.py) is stdlib `http.server` in a thread; each test
scripts its answers in order (a status, a body, headers, or a hang) and reads what the client sent.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
from fixtures.llama import MODEL, FakeLLM, Reply, chat, ok
from pydantic import BaseModel

from agent.brief import Brief
from agent.errors import EndpointError
from agent.llm import LLMClient, LLMSettings, endpoint_configured, redact
from agent.planners.base import PlanRequest
from agent.planners.openai_planner import OpenAIPlanner

SECRET = "sk-test-SECRET-7f3a9c2e1b"


class Answer(BaseModel):
    colour: str
    count: int


def client(url: str, **opts: Any) -> LLMClient:
    base = {"base_url": url, "model": MODEL, "timeout_s": 2.0, "max_retries": 2, "backoff_s": 0.01,
            "max_backoff_s": 0.5}
    settings = LLMSettings(**(base | opts))
    return LLMClient(settings, {"OPENAI_API_KEY": SECRET})


ASK = [{"role": "system", "content": "You answer in JSON."}, {"role": "user", "content": "A colour and a count."}]


def assert_one_line_naming(err: EndpointError, url: str) -> None:
    text = str(err)
    assert "\n" not in text and url in text and MODEL in text and SECRET not in text


# 1. answers that do not validate --------------------------------------------------------------


def test_invalid_json_twice_is_one_clear_error(fake_llm: FakeLLM) -> None:
    fake_llm.replies = [Reply(body=chat("not json {")), Reply(body=chat("still not json"))]
    with pytest.raises(EndpointError, match="unusable answer after one retry") as err:
        client(fake_llm.url).ask(ASK, Answer)
    assert_one_line_naming(err.value, fake_llm.url)
    assert len(fake_llm.requests) == 2


def test_a_schema_violation_is_fed_back_once_and_the_fixed_answer_is_used(fake_llm: FakeLLM) -> None:
    fake_llm.replies = [ok({"colour": "red"}), ok({"colour": "red", "count": 3})]
    assert client(fake_llm.url).ask(ASK, Answer) == Answer(colour="red", count=3)
    retry = fake_llm.requests[1]["messages"][-1]["content"]
    assert "count" in retry and "Field required" in retry
    assert fake_llm.requests[0]["response_format"]["type"] == "json_schema"


def test_schema_violations_after_the_retry_are_an_error(fake_llm: FakeLLM) -> None:
    fake_llm.replies = [ok({"colour": "red"}), ok({"count": "many"})]
    with pytest.raises(EndpointError, match=r"unusable answer after one retry: .*count"):
        client(fake_llm.url).ask(ASK, Answer)


def test_a_truncated_answer_is_reported_as_such(fake_llm: FakeLLM) -> None:
    cut = chat('{"colour": "re')
    cut["choices"][0]["finish_reason"] = "length"
    fake_llm.replies = [Reply(body=cut), Reply(body=cut)]
    with pytest.raises(EndpointError, match="cut off at max_tokens=64"):
        client(fake_llm.url, max_tokens=64).ask(ASK, Answer)


# 2. transient faults are retried ----------------------------------------------------------------


def test_http_500_is_retried_then_succeeds(fake_llm: FakeLLM) -> None:
    fake_llm.replies = [Reply(500, {"error": {"message": "boom"}}), Reply(503, "busy"), ok({"colour": "b", "count": 1})]
    assert client(fake_llm.url).ask(ASK, Answer).count == 1
    assert len(fake_llm.requests) == 3


def test_http_500_past_the_retry_budget_is_an_error(fake_llm: FakeLLM) -> None:
    fake_llm.replies = [Reply(500, {"error": {"message": "kaput"}})] * 3
    with pytest.raises(EndpointError, match="HTTP 500: kaput") as err:
        client(fake_llm.url).ask(ASK, Answer)
    assert_one_line_naming(err.value, fake_llm.url)
    assert len(fake_llm.requests) == 3


def test_429_waits_for_retry_after_then_succeeds(fake_llm: FakeLLM) -> None:
    fake_llm.replies = [Reply(429, {"error": {"message": "slow down"}}, {"retry-after": "0.3"}),
                        ok({"colour": "g", "count": 2})]
    start = time.monotonic()
    assert client(fake_llm.url).ask(ASK, Answer).colour == "g"
    assert time.monotonic() - start >= 0.3


def test_retry_after_is_bounded(fake_llm: FakeLLM) -> None:
    fake_llm.replies = [Reply(429, {"error": {"message": "later"}}, {"retry-after": "3600"}),
                        ok({"colour": "g", "count": 2})]
    start = time.monotonic()
    client(fake_llm.url, max_backoff_s=0.2).ask(ASK, Answer)
    assert time.monotonic() - start < 5


def test_a_hang_past_the_timeout_is_retried_then_reported(fake_llm: FakeLLM) -> None:
    fake_llm.replies = [Reply(hang_s=6.0, body=chat("{}"))] * 2
    start = time.monotonic()
    with pytest.raises(EndpointError, match=r"no answer within 0.4 s \(2 attempts\)") as err:
        client(fake_llm.url, timeout_s=0.4, max_retries=1).ask(ASK, Answer)
    assert time.monotonic() - start < 4.0  # two 0.4 s attempts, not two 6 s hangs
    assert_one_line_naming(err.value, fake_llm.url)


# 3. faults that are not retried -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["json_schema", "json_object"])
@pytest.mark.parametrize("body", ["<html>a login page</html>", {"unexpected": True}])
def test_a_reply_that_is_not_a_chat_completion_is_one_clear_error(fake_llm: FakeLLM, mode: str, body: Any) -> None:
    fake_llm.replies = [Reply(200, body)] * 2
    with pytest.raises(EndpointError, match="not an OpenAI chat completion|returned no choices") as err:
        client(fake_llm.url, mode=mode).ask(ASK, Answer)
    assert_one_line_naming(err.value, fake_llm.url)


def test_unknown_model_is_named_without_retrying(fake_llm: FakeLLM) -> None:
    fake_llm.replies = [Reply(404, {"error": {"message": f"The model `{MODEL}` does not exist",
                                              "type": "invalid_request_error", "code": "model_not_found"}})]
    with pytest.raises(EndpointError, match="model not found") as err:
        client(fake_llm.url).ask(ASK, Answer)
    assert_one_line_naming(err.value, fake_llm.url)
    assert "BRIEFCUT_LLM_MODEL" in str(err.value) and len(fake_llm.requests) == 1


def test_dead_port_is_one_line_naming_url_and_model() -> None:
    fake = FakeLLM()
    url = fake.url
    fake.close()  # nothing listens on this port now
    with pytest.raises(EndpointError, match="cannot connect \\(connection refused\\)") as err:
        client(url, max_retries=1).ask(ASK, Answer)
    assert_one_line_naming(err.value, url)


def test_refused_key_names_the_env_var_not_the_key(fake_llm: FakeLLM) -> None:
    fake_llm.replies = [Reply(401, {"error": {"message": f"Incorrect API key provided: {SECRET}"}})]
    with pytest.raises(EndpointError, match=r"API key was refused \(HTTP 401\); set \$OPENAI_API_KEY") as err:
        client(fake_llm.url).ask(ASK, Answer)
    assert SECRET not in str(err.value)
    assert fake_llm.headers[0]["authorization"] == f"Bearer {SECRET}"  # the key did reach the server


# 4. structured-output mode ----------------------------------------------------------------------


def test_auto_mode_falls_back_to_json_object_on_400_and_remembers(fake_llm: FakeLLM) -> None:
    fake_llm.replies = [Reply(400, {"error": {"message": "response_format json_schema is not supported"}}),
                        ok({"colour": "x", "count": 1}), ok({"colour": "y", "count": 2})]
    first = client(fake_llm.url)
    assert first.ask(ASK, Answer).colour == "x"
    assert client(fake_llm.url).ask(ASK, Answer).colour == "y"  # a new client, same endpoint
    kinds = [r["response_format"]["type"] for r in fake_llm.requests]
    assert kinds == ["json_schema", "json_object", "json_object"]
    system = fake_llm.requests[1]["messages"][0]["content"]
    assert '"colour"' in system and "JSON schema" in system
    assert first.describe()["mode"] == "json_object"


def test_explicit_json_schema_mode_does_not_fall_back(fake_llm: FakeLLM) -> None:
    fake_llm.replies = [Reply(400, {"error": {"message": "bad response_format"}})]
    with pytest.raises(EndpointError, match="HTTP 400: bad response_format"):
        client(fake_llm.url, mode="json_schema").ask(ASK, Answer)


def test_json_object_mode_accepts_fenced_json(fake_llm: FakeLLM) -> None:
    fake_llm.replies = [Reply(body=chat('```json\n{"colour": "z", "count": 5}\n```'))]
    assert client(fake_llm.url, mode="json_object").ask(ASK, Answer).count == 5


def test_no_model_configured_uses_the_servers_only_model(fake_llm: FakeLLM) -> None:
    fake_llm.replies = [ok({"colour": "x", "count": 1})]
    assert LLMClient(LLMSettings(base_url=fake_llm.url), {}).ask(ASK, Answer).count == 1
    assert fake_llm.requests[0]["model"] == MODEL
    fake_llm.models = ["a", "b"]
    with pytest.raises(EndpointError, match=r"no model configured and the server lists 2 \(a, b\)"):
        LLMClient(LLMSettings(base_url=fake_llm.url), {}).ask(ASK, Answer)


# 5. the planner's errors and the key -----------------------------------------------------------


def brief_request() -> PlanRequest:
    brief = Brief.model_validate({
        "brand": {"name": "Lumen"}, "product": {"name": "Lumen Lamp"}, "message": "Light that follows you",
        "call_to_action": "Shop now", "segments": [{"id": "all"}], "formats": {"duration_s": 10}, "shots": 2,
        "must_avoid": ["cheap"],
    })
    return PlanRequest(brief=brief, segment=brief.segments[0])


def plan_answer() -> dict[str, Any]:
    shot = {"role": "product", "description": "lamp", "prompt": "a cheap Lumen Lamp on a desk",
            "negative_prompt": "", "seconds": 3, "camera": "static", "sound": "", "caption": "Glow",
            "voice_line": "", "transition": "cut", "shows_product": True}
    return {"shots": [shot, {**shot, "role": "cta"}], "music_prompt": "soft synth"}


def test_the_api_key_never_leaves_through_results_errors_or_logs(
    fake_llm: FakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    env = {"BRIEFCUT_KEY": SECRET}
    planner = OpenAIPlanner({"base_url": fake_llm.url, "model": MODEL, "api_key_env": "BRIEFCUT_KEY",
                             "backoff_s": 0.01, "max_retries": 1}, env=env)
    fake_llm.replies = [Reply(500, {"error": {"message": f"Authorization: Bearer {SECRET} failed"}}),
                        ok(plan_answer()), ok({"prompt": "a warm Lumen Lamp", "negative_prompt": "glare"})]
    request = brief_request()
    plan = planner.plan(request)
    revised = planner.revise(request, plan, 0, "too cold")
    seen = [plan.model_dump_json(), revised.model_dump_json(), json.dumps(planner.identity()),
            json.dumps(planner.describe()), repr(planner.client.endpoint), repr(planner.options)]
    for reply in (Reply(401, {"error": {"message": f"bad key {SECRET}"}}),
                  Reply(404, {"error": {"message": f"no model; api_key={SECRET}"}}),
                  Reply(500, f"<html>{SECRET}</html>"), Reply(500, f"<html>{SECRET}</html>")):
        fake_llm.replies = [reply] * 2
        with pytest.raises(EndpointError) as err:
            planner.plan(request)
        seen.append(str(err.value))
    seen += [r.getMessage() for r in caplog.records]
    assert all(f"Bearer {SECRET}" == h["authorization"] for h in fake_llm.headers)  # the key was really used
    leaks = [s for s in seen if SECRET in s or SECRET[3:] in s]
    assert leaks == []
    assert "cheap" not in plan.shots[0].prompt and "cheap" in plan.shots[0].negative_prompt


def test_redact_hides_keys_bearers_and_authorization_values() -> None:
    text = f'Authorization: Bearer abc.def {{"api_key": "zzz123"}} x-api-key=qqq {SECRET} sk-abcdefghijkl'
    out = redact(text, (SECRET,))
    for secret in ("abc.def", "zzz123", "qqq", SECRET, "sk-abcdefghijkl"):
        assert secret not in out
    assert redact("the API key was refused") == "the API key was refused"


def test_endpoint_configured_needs_a_url_or_a_model() -> None:
    assert not endpoint_configured({})
    assert not endpoint_configured({"OPENAI_API_KEY": SECRET})
    assert endpoint_configured({"OPENAI_BASE_URL": "http://127.0.0.1:8080/v1"})
    assert endpoint_configured({"BRIEFCUT_LLM_MODEL": "llama"})
