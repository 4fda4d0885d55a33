"""A structured-output client for any OpenAI-compatible endpoint, with its faults made plain.

`LLMClient.ask(messages, Model)` returns a validated pydantic `Model`:

1. JSON schema (`chat.completions.parse`) where the server supports it; a JSON object plus the
   schema in the prompt where it does not. Mode "auto" tries the schema first and remembers, per
   endpoint, a server that answered 400 to it.
2. An answer that does not validate is sent back once with the validation errors; a second bad
   answer is an EndpointError.
3. 429, 5xx, timeouts and refused connections are retried with bounded exponential backoff
   (Retry-After respected, capped at `max_backoff_s`); anything else is one EndpointError line
   naming the URL and model. The API key never appears in messages, logs or descriptions.
4. Waiting is bounded: one `ask` (every attempt, backoff and the fix-up retry) ends within
   `deadline_s` (2 minutes by default) of wall-clock time, also against a server that accepts the
   connection and then trickles bytes or says nothing: a request still open at the deadline has its
   connection closed.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from importlib import resources
from string import Template
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.errors import EndpointError

if TYPE_CHECKING:  # the SDK loads with the first client (~1 s): runs with no endpoint never pay for it
    import openai

log = logging.getLogger("briefcut.llm")

Mode = Literal["auto", "json_schema", "json_object"]
T = TypeVar("T", bound=BaseModel)

OPENAI_URL = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
MODEL_ENV = "BRIEFCUT_LLM_MODEL"
BASE_URL_ENV = "OPENAI_BASE_URL"
KEY_ENV = "OPENAI_API_KEY"
# Sent where no key is configured: local servers ignore it, and it is no secret.
NO_KEY = "no-key"
MAX_DETAIL_CHARS = 240

# Which structured-output mode each endpoint accepted, so "auto" asks a server once per process.
_MODES: dict[str, Mode] = {}
_MODES_LOCK = threading.Lock()


class LLMSettings(BaseModel):
    """Where the endpoint is and how patiently to talk to it. Holds the key's env var name, never the key."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(default=None, description=f"default: ${BASE_URL_ENV}, else OpenAI")
    model: str | None = Field(default=None, description=f"default: ${MODEL_ENV}, else the server's only model")
    api_key_env: str = Field(default=KEY_ENV, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    # One request may take `timeout_s`; one question (all its attempts and retries) `deadline_s` in all.
    timeout_s: float = Field(default=120.0, gt=0)
    deadline_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=3, ge=0, le=10)
    backoff_s: float = Field(default=0.5, ge=0)
    max_backoff_s: float = Field(default=30.0, ge=0)
    mode: Mode = "auto"
    temperature: float = Field(default=0.7, ge=0, le=2)
    max_tokens: int = Field(default=4096, ge=16)
    seed: int | None = None


def endpoint_configured(env: Mapping[str, str]) -> bool:
    """True when `env` names an LLM endpoint (the rule is `Settings.llm_configured`'s)."""
    from agent.settings import Settings

    return Settings.from_env(env).llm_configured


@dataclass(frozen=True)
class Endpoint:
    """A resolved endpoint. The key is kept out of repr so it cannot leak through a log line."""

    url: str
    model: str | None
    key_env: str
    api_key: str = field(repr=False, default=NO_KEY)


def resolve_endpoint(settings: LLMSettings, env: Mapping[str, str]) -> Endpoint:
    """Fill base URL, model and key from options first, then the environment."""
    url = (settings.base_url or env.get(BASE_URL_ENV, "") or OPENAI_URL).strip().rstrip("/")
    model = settings.model or env.get(MODEL_ENV) or (DEFAULT_OPENAI_MODEL if url == OPENAI_URL else None)
    key = env.get(settings.api_key_env, "").strip() or NO_KEY
    return Endpoint(url=url, model=model, key_env=settings.api_key_env, api_key=key)


_KEYED = re.compile(
    r"(?i)((?:authorization|api[-_]?key|x-api-key|access[-_]?token)[\"']?\s*[:=]\s*[\"']?)(?:bearer\s+)?[^\s\"',;}]+"
)
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;}]+")
_OPENAI_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}")


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` on one line with keys, bearer tokens and Authorization values replaced by ***."""
    for secret in secrets:
        if secret and secret != NO_KEY and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = _BEARER.sub(r"\1***", _KEYED.sub(r"\1***", text))
    return " ".join(_OPENAI_KEY.sub("***", text).split())


def render_prompt(name: str, **values: Any) -> str:
    """The prompt template `agent/prompts/<name>.txt` with `$placeholders` filled."""
    text = resources.files("agent").joinpath("prompts", f"{name}.txt").read_text(encoding="utf-8")
    return Template(text).substitute({k: str(v) for k, v in values.items()}).strip()


class LLMClient:
    """Asks one endpoint for answers that validate against pydantic models."""

    def __init__(
        self,
        settings: LLMSettings,
        env: Mapping[str, str],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.endpoint = resolve_endpoint(settings, env)
        self._sleep = sleep
        self._local = threading.local()  # the deadline of the question this thread is asking
        self._client = self._new_client()

    def _new_client(self) -> openai.OpenAI:
        import openai

        return openai.OpenAI(
            api_key=self.endpoint.api_key,
            base_url=self.endpoint.url,
            timeout=self.settings.timeout_s,
            max_retries=0,  # retries are ours: bounded, logged, and ending in one clear error
        )

    # 1. public -------------------------------------------------------------------------------

    @property
    def model(self) -> str:
        if self.endpoint.model is None:
            self.endpoint = Endpoint(self.endpoint.url, self._only_model(), self.endpoint.key_env,
                                     self.endpoint.api_key)
        return self.endpoint.model  # type: ignore[return-value]

    @property
    def mode(self) -> Mode:
        """The structured-output mode the next request will use."""
        if self.settings.mode != "auto":
            return self.settings.mode
        with _MODES_LOCK:
            return _MODES.get(self._memo_key, "json_schema")

    def describe(self) -> dict[str, Any]:
        """URL, model and mode for provenance; the key's env var name only."""
        return {"base_url": self.endpoint.url, "model": self.endpoint.model, "mode": self.mode,
                "api_key_env": self.endpoint.key_env}

    def ask(self, messages: list[dict[str, str]], schema: type[T]) -> T:
        """A validated `schema` instance; one retry with the validation errors fed back; all within
        `deadline_s`."""
        outer = getattr(self._local, "deadline", None)
        self._local.deadline = outer or time.monotonic() + self.settings.deadline_s
        try:
            return self._ask(list(messages), schema)
        finally:
            self._local.deadline = outer

    def _ask(self, messages: list[dict[str, str]], schema: type[T]) -> T:
        problem = ""
        for attempt in range(2):
            try:
                return self._complete(messages, schema)
            except _BadAnswer as exc:
                problem = exc.problem
                log.info("llm %s (%s): unusable answer (attempt %d): %s",
                            self.endpoint.url, self.model, attempt + 1, self._redact(problem))
                messages = _with_note(messages, "user", render_prompt("fix_answer", errors=problem))
        raise self.error(f"unusable answer after one retry: {problem}")

    def error(self, problem: str) -> EndpointError:
        """An EndpointError naming URL and model, on one line, with any key text removed."""
        model = self.endpoint.model or "(unset)"
        return EndpointError(self._redact(f"LLM endpoint {self.endpoint.url} (model {model}): {problem}"))

    def _redact(self, text: str) -> str:
        return redact(text, (self.endpoint.api_key,))

    # 2. one structured request, in the current mode ------------------------------------------

    @property
    def _memo_key(self) -> str:
        return self.endpoint.url

    def _complete(self, messages: list[dict[str, str]], schema: type[T]) -> T:
        import openai

        mode = self.mode
        try:
            if mode == "json_schema":
                return self._retrying(lambda: self._parse(messages, schema))
            return self._retrying(lambda: self._json_object(messages, schema))
        except openai.APIStatusError as exc:
            if mode == "json_schema" and self.settings.mode == "auto" and exc.status_code in (400, 422, 501):
                log.info("llm %s: json_schema refused (HTTP %d); using json_object", self.endpoint.url,
                         exc.status_code)
                with _MODES_LOCK:
                    _MODES[self._memo_key] = "json_object"
                return self._complete(messages, schema)
            raise self._status_error(exc) from None

    def _common(self) -> dict[str, Any]:
        args: dict[str, Any] = {"model": self.model, "temperature": self.settings.temperature,
                                "max_tokens": self.settings.max_tokens}
        if self.settings.seed is not None:
            args["seed"] = self.settings.seed
        return args

    def _parse(self, messages: list[dict[str, str]], schema: type[T]) -> T:
        import openai

        common = self._common()  # here, not in the request's thread: it may ask the server for its model
        try:
            completion = self._bounded(lambda client, timeout: client.chat.completions.parse(
                messages=messages, response_format=schema, timeout=timeout, **common  # type: ignore[arg-type]
            ))
        except ValidationError as exc:
            raise _BadAnswer(_validation_summary(exc)) from None
        except openai.LengthFinishReasonError:
            raise _BadAnswer(f"the answer was cut off at max_tokens={self.settings.max_tokens}") from None
        except openai.ContentFilterFinishReasonError:
            raise _BadAnswer("the answer was withheld by the server's content filter") from None
        except _NOT_A_COMPLETION as exc:
            raise self._not_a_completion(exc) from None
        message = _first_message(completion)
        if message.parsed is None:
            raise _BadAnswer(f"no structured answer ({message.refusal or 'empty content'})")
        return message.parsed

    def _json_object(self, messages: list[dict[str, str]], schema: type[T]) -> T:
        schema_text = json.dumps(schema.model_json_schema(), separators=(",", ":"))
        framed = _with_note(messages, "system", render_prompt("json_object", schema=schema_text))
        common = self._common()
        try:
            completion = self._bounded(lambda client, timeout: client.chat.completions.create(
                messages=framed, response_format={"type": "json_object"}, timeout=timeout, **common  # type: ignore[arg-type]
            ))
        except _NOT_A_COMPLETION as exc:
            raise self._not_a_completion(exc) from None
        content = _first_message(completion).content or ""
        try:
            return schema.model_validate_json(_strip_fence(content))
        except ValidationError as exc:
            raise _BadAnswer(_validation_summary(exc)) from None

    def _not_a_completion(self, exc: Exception) -> EndpointError:
        return self.error(f"the reply is not an OpenAI chat completion ({type(exc).__name__}: {_shorten(str(exc), 80)}); "
                          "is the URL an OpenAI-compatible /v1 endpoint?")

    # 3. transport faults, and the deadline -----------------------------------------------------

    def _remaining(self) -> float:
        """Seconds left of the current question's deadline (a call outside `ask` gets a whole one)."""
        deadline = getattr(self._local, "deadline", None)
        return self.settings.deadline_s if deadline is None else deadline - time.monotonic()

    def _bounded(self, call: Callable[[openai.OpenAI, float], T]) -> T:
        """One request, given at most what is left of the deadline: a request still open then (a
        server trickling bytes defeats per-read timeouts) has its connection closed."""
        remaining = self._remaining()
        if remaining <= 0:
            raise _DeadlinePassed()
        client, timeout = self._client, min(self.settings.timeout_s, remaining)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm")
        future = pool.submit(call, client, timeout)
        try:
            return future.result(timeout=remaining + 1.0)
        except FutureTimeout:
            self._client = self._new_client()
            client.close()  # the stuck request fails on its closed socket and its thread ends
            raise _DeadlinePassed() from None
        finally:
            pool.shutdown(wait=False)

    def _retrying(self, call: Callable[[], T]) -> T:
        import openai

        retries = self.settings.max_retries
        for attempt in range(retries + 1):
            try:
                return call()
            except _DeadlinePassed:
                raise self._late() from None
            except openai.APIStatusError as exc:
                if not _transient(exc.status_code) or attempt == retries:
                    raise
                self._wait(attempt, f"HTTP {exc.status_code}", _retry_after(exc.response.headers))
            except openai.APITimeoutError:
                if self._remaining() <= 0:
                    raise self._late() from None
                if attempt == retries:
                    raise self.error(f"no answer within {self.settings.timeout_s:g} s "
                                     f"({retries + 1} attempts)") from None
                self._wait(attempt, "timeout", None)
            except openai.APIConnectionError as exc:
                if _not_http(exc):  # the server is there and answers, but not in HTTP: no retry helps
                    raise self.error(f"the reply is not HTTP ({_cause(exc)}); is this an "
                                     "OpenAI-compatible endpoint?") from None  # fmt: skip
                if attempt == retries:
                    raise self.error(f"cannot connect ({_cause(exc)}); is the server running?") from None
                self._wait(attempt, "connection error", None)
            except openai.APIError as exc:  # e.g. a 200 whose body is not a chat completion
                raise self.error(f"unexpected response: {_shorten(str(exc))}") from None
        raise AssertionError("unreachable")

    def _late(self) -> EndpointError:
        return self.error(f"no answer within {self.settings.deadline_s:g} s in all (deadline_s; the server "
                          "accepts connections but does not answer)")  # fmt: skip

    def _wait(self, attempt: int, why: str, retry_after: float | None) -> None:
        delay = self.settings.backoff_s * (2**attempt) if retry_after is None else retry_after
        delay = min(max(delay, 0.0), self.settings.max_backoff_s, max(self._remaining() - 0.1, 0.0))
        log.info("llm %s (%s): %s; retry %d/%d in %.2f s", self.endpoint.url, self.endpoint.model, why,
                    attempt + 1, self.settings.max_retries, delay)
        self._sleep(delay)

    def _status_error(self, exc: openai.APIStatusError) -> EndpointError:
        code, detail = exc.status_code, _shorten(_server_message(exc))
        if code == 404:
            return self.error(f"model not found or wrong URL (HTTP 404: {detail}); check the model name "
                              f"(${MODEL_ENV} or the planner's 'model' option) and that the URL ends in /v1")
        if code in (401, 403):
            return self.error(f"the API key was refused (HTTP {code}); set ${self.endpoint.key_env}")
        return self.error(f"HTTP {code}: {detail}")

    def _only_model(self) -> str:
        import openai

        try:
            models = self._retrying(lambda: self._bounded(lambda client, timeout: list(client.models.list(timeout=timeout))))  # noqa: E501
        except openai.APIStatusError as exc:
            raise self._status_error(exc) from None
        if len(models) != 1:
            names = ", ".join(m.id for m in models[:5]) or "none"
            raise self.error(f"no model configured and the server lists {len(models)} ({names}); "
                             f"set ${MODEL_ENV} or the planner's 'model' option")
        return models[0].id


# What the SDK raises on a 200 whose body is not a chat completion (HTML, another JSON shape).
_NOT_A_COMPLETION = (json.JSONDecodeError, TypeError, KeyError, AttributeError)


class _DeadlinePassed(Exception):
    """The question's deadline passed (turned into one EndpointError by `_retrying`)."""


class _BadAnswer(Exception):
    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _with_note(messages: list[dict[str, str]], role: str, note: str) -> list[dict[str, str]]:
    """Append `note` to the last message of `role` (chat templates often insist on alternation)."""
    out = [dict(m) for m in messages]
    for m in reversed(out):
        if m["role"] == role:
            if isinstance(m["content"], list):  # content parts (text and images): the note is one more part
                m["content"] = [*m["content"], {"type": "text", "text": note}]
            else:
                m["content"] = f"{m['content']}\n\n{note}"
            return out
    return [{"role": role, "content": note}, *out] if role == "system" else [*out, {"role": role, "content": note}]


def _transient(status: int) -> bool:
    return status == 429 or status >= 500


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from `retry-after-ms` or `retry-after` (seconds or an HTTP date)."""
    if value := headers.get("retry-after-ms"):
        try:
            return float(value) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if "," in value else None
        return None if parsed is None else max(0.0, parsed.timestamp() - time.time())


def _first_message(completion: Any) -> Any:
    if not getattr(completion, "choices", None):
        raise _BadAnswer("the server returned no choices")
    return completion.choices[0].message


def _strip_fence(content: str) -> str:
    """Some servers wrap JSON in a Markdown fence even in json_object mode."""
    match = re.fullmatch(r"\s*```(?:json)?\s*(.*?)\s*```\s*", content, flags=re.S)
    return match.group(1) if match else content


def _validation_summary(exc: ValidationError, limit: int = 6) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        where = ".".join(str(p) for p in err["loc"]) or "answer"
        parts.append(f"{where}: {err['msg']}")
    more = f" (and {exc.error_count() - limit} more)" if exc.error_count() > limit else ""
    return _shorten("; ".join(parts), 600) + more


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return exc.response.text if exc.response is not None else str(exc)


def _not_http(exc: BaseException) -> bool:
    """Whether a connection error is a reply that is not HTTP (garbage bytes, another protocol)."""
    link: BaseException | None = exc
    while link is not None:  # by name: the SDK may bring its own copy of httpx (httpx2)
        if type(link).__name__ == "RemoteProtocolError" and "illegal" in str(link).lower():
            return True
        link = link.__cause__
    return False


def _cause(exc: BaseException) -> str:
    root: BaseException = exc
    while root.__cause__ is not None:
        root = root.__cause__
    text = str(root) or type(root).__name__
    return "connection refused" if "refused" in text.lower() else _shorten(text, 120)


def _shorten(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
