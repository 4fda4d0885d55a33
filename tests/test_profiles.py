"""Backend choice precedence (profile < brief < command line) and early checks: pure logic."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.brief import BackendChoice, load_brief
from agent.cli import app, backend_overrides
from agent.errors import UnknownBackend
from agent.profiles import check_choices, default_planner, resolve_choices, video_family
from agent.store import Store

BRIEF = Path(__file__).parents[1] / "briefs" / "bumper.yaml"


def test_preview_defaults() -> None:
    choices = resolve_choices(load_brief(BRIEF), "preview", env={})
    assert (choices.planner.backend, choices.video.backend, choices.audio.backend) == ("template", "animatic", "synth")
    assert choices.family == "animatic"


def test_brief_beats_profile_and_cli_beats_brief() -> None:
    brief = load_brief(BRIEF)
    brief.render.video = BackendChoice(backend="diffusers", options={"model": "Lightricks/LTX-Video"})
    choices = resolve_choices(brief, "preview", env={})
    assert choices.video.options["model"] == "Lightricks/LTX-Video" and choices.family == "ltx"
    cli = backend_overrides(None, None, None, "THUDM/CogVideoX-2b", None, "facebook/musicgen-small")
    choices = resolve_choices(brief, "preview", overrides=cli, env={})
    assert choices.family == "cogvideox"
    assert (choices.audio.backend, choices.audio.options["model"]) == ("musicgen", "facebook/musicgen-small")


def test_an_endpoint_makes_the_llm_the_default_planner() -> None:
    assert default_planner({"OPENAI_BASE_URL": "http://127.0.0.1:1/v1"}).backend == "openai"
    assert default_planner({"OPENAI_API_KEY": "k"}).backend == "template"


def test_video_family_from_model_id() -> None:
    for model, family in [("Wan-AI/Wan2.2-T2V-A14B-Diffusers", "wan"), ("tencent/HunyuanVideo", "hunyuan"),
                          ("genmo/mochi-1-preview", "mochi"), ("guoyww/animatediff-motion-adapter-v1-5-2", "animatediff")]:
        assert video_family(BackendChoice(backend="diffusers", options={"model": model})) == family


def test_unknown_backend_fails_before_the_run_is_made(tmp_path: Path) -> None:
    brief = load_brief(BRIEF)
    choices = resolve_choices(brief, "preview", overrides={"audio": BackendChoice(backend="kazoo")}, env={})
    with pytest.raises(UnknownBackend, match="known: .*synth"):
        check_choices(choices)
    result = CliRunner().invoke(app, ["--workdir", str(tmp_path), "run", str(BRIEF), "--audio", "kazoo"])
    assert result.exit_code == 2 and "unknown audio backend 'kazoo'" in result.output
    assert Store(tmp_path / "briefcut.db").runs() == []
