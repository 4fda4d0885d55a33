"""Settings read once from the environment (and --workdir), and the workspace that owns the open store
and checkpointer: pure logic and real SQLite files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent.settings import Settings
from agent.workspace import Workspace


def test_settings_from_the_environment_with_the_command_line_on_top(tmp_path: Path) -> None:
    env = {"BRIEFCUT_HOME": str(tmp_path / "env-home"), "HF_HUB_OFFLINE": "yes", "BRIEFCUT_CLIP_MODEL": " /m/clip ",
           "OPENAI_API_KEY": "sk-secret-value", "BRIEFCUT_SMOKE_DIR": ""}  # fmt: skip
    s = Settings.from_env(env)
    assert s.home == tmp_path / "env-home" and s.hub_offline and s.clip_model == "/m/clip"
    assert s.smoke_dir is None and not s.llm_configured  # an API key alone configures no endpoint
    assert "sk-secret-value" not in repr(s) and "sk-secret-value" not in s.model_dump_json()
    assert s.environ["OPENAI_API_KEY"] == "sk-secret-value"  # looked up by name when a request is made
    assert Settings.from_env(env, home=tmp_path / "cli").home == tmp_path / "cli"
    assert Settings.from_env({"BRIEFCUT_LLM_MODEL": "qwen"}).llm_configured


def test_the_workspace_opens_its_store_and_checkpointer_once_and_closes_them(tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path / "ws", Settings.from_env({}))
    assert ws.root == (tmp_path / "ws").resolve() and ws.settings.home == ws.root
    store, saver = ws.store, ws.checkpointer()
    assert ws.store is store and ws.checkpointer() is saver
    store.create_run({"id": "r1"})
    with ws:
        pass  # leaving the block closes both connections
    with pytest.raises(sqlite3.ProgrammingError):
        store.db.execute("select 1")
    with pytest.raises(sqlite3.ProgrammingError):
        saver.conn.execute("select 1")
    assert ws.store is not store and ws.store.run("r1")["id"] == "r1"  # used again: opened again
    ws.close()
