"""LLM servers that misbehave below HTTP, on 127.0.0.1: one that accepts and never answers, one that
trickles a reply a byte at a time (per-read timeouts never fire), one that answers with garbage bytes.
Each question fails within its deadline with one line naming the endpoint; a run planned against the
silent one is marked failed within the deadline, not left waiting."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fixtures.cli import briefcut, error_lines, only_run, run_status, tiny_brief
from fixtures.llama import MODEL
from pydantic import BaseModel

from agent.errors import EndpointError
from agent.llm import LLMClient, LLMSettings

ASK = [{"role": "user", "content": "A colour."}]


class Answer(BaseModel):
    colour: str


def silent(conn: socket.socket) -> None:
    """Read the request, say nothing, keep the connection open."""
    conn.recv(65536)
    time.sleep(30)


def trickle(conn: socket.socket) -> None:
    """Start a 200 reply, then send one byte of its body every 0.2 s."""
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
    for _ in range(150):
        time.sleep(0.2)
        conn.sendall(b" ")


def garbage(conn: socket.socket) -> None:
    """Answer any request with bytes that are not HTTP, then hang up."""
    conn.recv(65536)
    conn.sendall(b"\x00\xff\xfe garbage \x1b[2J\r\n\r\n")


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    """A loopback TCP server whose connections are handled by `request.param`; its base URL."""
    handle: Callable[[socket.socket], None] = request.param
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=_handled, args=(handle, conn), daemon=True).start()

    serving = threading.Thread(target=serve, daemon=True)
    serving.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    stop.set()
    serving.join()
    listener.close()


def _handled(handle: Callable[[socket.socket], None], conn: socket.socket) -> None:
    try:
        handle(conn)
    except OSError:
        pass  # the client hung up
    finally:
        conn.close()


def ask(url: str, **opts: float) -> tuple[EndpointError, float]:
    settings = LLMSettings(base_url=url, model=MODEL, backoff_s=0.05, **opts)
    start = time.monotonic()
    with pytest.raises(EndpointError) as err:
        LLMClient(settings, {"OPENAI_API_KEY": "sk-x"}).ask(ASK, Answer)
    return err.value, time.monotonic() - start


def test_the_default_deadline_bounds_a_question_to_two_minutes() -> None:
    defaults = LLMSettings()
    assert defaults.deadline_s <= 120 and defaults.timeout_s <= defaults.deadline_s


@pytest.mark.parametrize("server", [silent, trickle], indirect=True, ids=["silent", "trickle"])
def test_a_server_that_never_finishes_answering_fails_at_the_deadline(server: str) -> None:
    err, took = ask(server, deadline_s=1.5, timeout_s=60)
    assert took < 4, f"{took:.1f} s for a 1.5 s deadline"
    text = str(err)
    assert "\n" not in text and server in text and MODEL in text
    assert "no answer within 1.5 s in all" in text


@pytest.mark.parametrize("server", [garbage], indirect=True, ids=["garbage"])
def test_a_server_that_answers_garbage_is_one_clear_error(server: str) -> None:
    err, took = ask(server, deadline_s=5, timeout_s=2)
    assert took < 1, "a reply that is not HTTP was retried"
    text = str(err)
    assert "\n" not in text and server in text and MODEL in text
    assert "the reply is not HTTP (illegal status line" in text and "OpenAI-compatible endpoint" in text


@pytest.mark.parametrize("server", [silent], indirect=True, ids=["silent"])
def test_a_run_planned_against_a_silent_server_fails_within_the_deadline(tmp_path: Path, server: str) -> None:
    ws = tmp_path / "ws"
    planner = (f"render: {{planner: {{backend: openai, options: {{base_url: '{server}', model: {MODEL}, "
               f"deadline_s: 2, timeout_s: 60}}}}}}\n")  # fmt: skip
    start = time.monotonic()
    done = briefcut(ws, "run", str(tiny_brief(tmp_path, planner)), timeout=120)
    assert done.returncode == 1, done.stderr
    (line,) = error_lines(done.stderr)
    assert "no answer within 2 s in all" in line and server in line, line
    assert time.monotonic() - start < 60
    assert run_status(ws, only_run(ws))["status"] == "failed"
