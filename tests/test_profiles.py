"""Backend choice precedence (profile < environment < brief < command line), the one overrides path,
and early checks: pure logic."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.brief import BackendChoice, load_brief
from agent.cli import app
from agent.errors import BriefError, UnknownBackend
from agent.profiles import check_choices, default_planner, resolve_choices, video_family
from agent.settings import Overrides, Settings, apply_overrides
from agent.store import Store

BRIEF = Path(__file__).parents[1] / "briefs" / "bumper.yaml"
NO_ENV = Settings.from_env({})
PREVIEW = Overrides(profile="preview")


def choices_for(brief, overrides: Overrides = PREVIEW, settings: Settings = NO_ENV):
    return resolve_choices(apply_overrides(brief, overrides), settings)


def test_preview_defaults() -> None:
    choices = choices_for(load_brief(BRIEF))
    assert (choices.planner.backend, choices.video.backend, choices.audio.backend) == ("template", "motion", "synth")
    assert choices.family == "motion"


def test_draft_mode_is_the_storyboard() -> None:
    from agent.settings import draft_video

    draft = Overrides(profile="preview", video=draft_video(True, None))
    assert choices_for(load_brief(BRIEF), draft).video.backend == "animatic"
    assert draft_video(False, "diffusers") == "diffusers" and draft_video(True, "animatic") == "animatic"
    with pytest.raises(BriefError, match="--draft renders the storyboard"):
        draft_video(True, "diffusers")


def test_brief_beats_profile_and_cli_beats_brief() -> None:
    brief = load_brief(BRIEF)
    brief.render.video = BackendChoice(backend="diffusers", options={"model": "Lightricks/LTX-Video"})
    brief.render.video.options["steps"] = 12
    choices = choices_for(brief)
    assert choices.video.options["model"] == "Lightricks/LTX-Video" and choices.family == "ltx"
    cli = Overrides(profile="preview", video_model="THUDM/CogVideoX-2b", audio_model="facebook/musicgen-small")
    choices = choices_for(brief, cli)
    assert choices.family == "cogvideox" and choices.video.options["steps"] == 12  # the model swapped, not the steps
    assert (choices.audio.backend, choices.audio.options["model"]) == ("musicgen", "facebook/musicgen-small")


def test_environment_models_are_defaults_the_brief_and_command_line_beat() -> None:
    env = Settings.from_env({"BRIEFCUT_CLIP_MODEL": "/env/clip", "BRIEFCUT_VIDEO_MODEL": "env/video"})
    brief = load_brief(BRIEF)
    assert choices_for(brief, settings=env).clip.model == "/env/clip"
    assert choices_for(brief, Overrides(profile="gpu"), env).video.options["model"] == "env/video"
    brief.render.clip_model = "/brief/clip"
    assert choices_for(brief, settings=env).clip.model == "/brief/clip"
    cli = Overrides(profile="preview", clip_model="/cli/clip")
    assert choices_for(brief, cli, env).clip.model == "/cli/clip"
    brief.scoring.clip_dtype = "int8"
    assert choices_for(brief, cli, env).clip.dtype == "int8"  # model and precision: one choice


def test_overrides_write_formats_variants_and_segments_into_the_brief() -> None:
    brief = load_brief(BRIEF)
    out = apply_overrides(brief, Overrides(resolution=96, formats=["9:16", "1:1"], variants=1, segments=["gamers"]))
    assert (out.formats.resolution, out.formats.aspect_ratios, out.variants.count) == (96, ["9:16", "1:1"], 1)
    assert brief.formats.resolution == 720  # the loaded brief itself is left as it was
    with pytest.raises(BriefError, match="no segment 'nobody'"):
        apply_overrides(brief, Overrides(segments=["nobody"]))


def test_stored_choices_from_before_the_clip_choice_still_load() -> None:
    from agent.profiles import Choices

    row = choices_for(load_brief(BRIEF)).model_dump(mode="json")
    row.pop("clip")
    row["clip_model"] = "openai/clip-vit-base-patch32"
    assert Choices.model_validate(row).clip.model == "openai/clip-vit-base-patch32"


def test_an_endpoint_makes_the_llm_the_default_planner() -> None:
    assert default_planner(Settings.from_env({"OPENAI_BASE_URL": "http://127.0.0.1:1/v1"})).backend == "openai"
    assert default_planner(Settings.from_env({"OPENAI_API_KEY": "k"})).backend == "template"


def test_video_family_from_model_id() -> None:
    for model, family in [("Wan-AI/Wan2.2-T2V-A14B-Diffusers", "wan"), ("tencent/HunyuanVideo", "hunyuan"),
                          ("genmo/mochi-1-preview", "mochi"), ("guoyww/animatediff-motion-adapter-v1-5-2", "animatediff")]:
        assert video_family(BackendChoice(backend="diffusers", options={"model": model})) == family


def test_unknown_backend_fails_before_the_run_is_made(tmp_path: Path) -> None:
    brief = load_brief(BRIEF)
    choices = choices_for(brief, Overrides(profile="preview", audio="kazoo"))
    with pytest.raises(UnknownBackend, match="known: .*synth"):
        check_choices(choices)
    result = CliRunner().invoke(app, ["--workdir", str(tmp_path), "run", str(BRIEF), "--audio", "kazoo"])
    assert result.exit_code == 2 and "unknown audio backend 'kazoo'" in result.output
    assert Store(tmp_path / "briefcut.db").runs() == []
    result = CliRunner().invoke(app, ["--workdir", str(tmp_path), "run", str(BRIEF), "--profile", "fast"])
    assert result.exit_code == 2 and "--profile: Input should be 'preview', 'smoke' or 'gpu'" in result.output
