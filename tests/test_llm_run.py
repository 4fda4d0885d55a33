"""A whole run planned by the LLM through a real llama-server, then edited by chat, with an API key
set: the run names its planner, and the key appears nowhere in the workspace or the cuts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.llm
ROOT = Path(__file__).parents[1]
KEY = "sk-briefcut-test-0123456789abcdefSECRET"
PANEL = """
audience:
  personas:
    gamers: [{name: Ana, description: plays shooters every evening}]
  samples: 1
  options: {max_tokens: 700}
"""


def cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True,
                          timeout=600, env=env)  # fmt: skip


def test_llm_planned_run_and_chat_edit_leave_no_key(llama_server: str, tmp_path: Path) -> None:
    ws, out = tmp_path / "ws", tmp_path / "out"
    env = {**os.environ, "BRIEFCUT_HOME": str(ws), "OPENAI_BASE_URL": llama_server, "OPENAI_API_KEY": KEY,
           "BRIEFCUT_LLM_MODEL": "tiny", "OMP_NUM_THREADS": "1"}  # fmt: skip
    brief = tmp_path / "b.yaml"
    brief.write_text((ROOT / "briefs" / "bumper.yaml").read_text().replace("variants: 2", "variants: 1") + PANEL)
    run = cli("run", str(brief), "--resolution", "64", "--out", str(out), "--json", env=env)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["status"] == "done" and result["planner"] == "openai"
    panel = result["audience"]["gamers"]  # one persona, one answer: the panel ran on the same endpoint
    assert panel["computed"] is True and panel["ranking"][0]["variant"] == "gamers/v0", panel
    assert panel["personas"] == [{"name": "Ana", "description": "plays shooters every evening", "from": "brief"}]

    edit = cli("edit", result["run_id"], "-m", "music: calm; cta: Listen now", "--json", env=env)
    assert edit.returncode == 0, edit.stderr
    show = cli("runs", "show", result["run_id"], "--json", env=env)
    details = json.loads(show.stdout.strip().splitlines()[-1])
    assert details["planner"] == "openai" and details["versions"] == [1, 2]

    for output in (run.stdout, run.stderr, edit.stdout, edit.stderr, show.stdout):
        assert KEY not in output
    leaks = [p for root in (ws, out) for p in root.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    assert leaks == []


def test_dead_endpoint_is_one_line_and_exit_1(tmp_path: Path) -> None:
    from fixtures.llama import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"
    env = {**os.environ, "BRIEFCUT_HOME": str(tmp_path / "ws"), "OPENAI_BASE_URL": url, "OPENAI_API_KEY": KEY,
           "BRIEFCUT_LLM_MODEL": "tiny-model"}  # fmt: skip
    proc = cli("run", str(ROOT / "briefs" / "bumper.yaml"), "--resolution", "64", env=env)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and url.rstrip("/v1") in lines[0] and "tiny-model" in lines[0]
    assert KEY not in proc.stderr
