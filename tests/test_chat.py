"""The user's edit path through the CLI (`edit`, its old name `refine`, and `chat`; no LLM): only what
an edit touches is rendered again, each round is a new cut version with its diff."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
from fixtures.probe import probe_mp4
from fixtures.terminal import Terminal
from typer.testing import CliRunner

from agent.cli import app
from agent.store import Store

ROOT = Path(__file__).parents[1]


def cli(ws: Path, *args: str):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "BRIEFCUT_LLM_MODEL")}
    result = CliRunner().invoke(app, ["--workdir", str(ws), *args], env=env, catch_exceptions=False)
    return result


def last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[Path, str]:
    ws = tmp_path_factory.mktemp("ws")
    brief = tmp_path_factory.mktemp("brief") / "chat.yaml"
    text = (ROOT / "briefs" / "multi-format.yaml").read_text()
    brief.write_text(text.replace('["16:9", "9:16", "1:1", "4:5"]', '["16:9"]').replace("resolution: 540", "resolution: 96"))
    # the storyboard draft: its pictures do not carry the captions, so copy edits render no media
    result = cli(ws, "run", str(brief), "--draft", "--json")
    assert result.exit_code == 0, result.output
    return ws, last_json(result.output)["run_id"]


def renders(ws: Path, run_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in Store(ws / "briefcut.db").takes(run_id):
        if t["rendered"] and t["status"] == "done":
            counts[t["kind"]] = counts.get(t["kind"], 0) + 1
    return counts


def test_prompt_edit_rerenders_only_that_shot(finished_run) -> None:
    ws, run_id = finished_run
    before = renders(ws, run_id)
    result = cli(ws, "edit", run_id, "-m", "shot 2: a family unpacking vegetables at dusk", "--json")
    assert result.exit_code == 0, result.output
    summary = last_json(result.output)
    after = renders(ws, run_id)
    assert after["video"] == before["video"] + 1  # one shot, one format, one take
    assert summary["status"] == "done" and summary["version"] == 2
    cut = summary["cuts"][0]
    assert cut["path"].endswith("_r2.mp4") and Path(cut["path"]).exists()
    info = probe_mp4(Path(cut["path"]))
    assert info["frames"] == 250 and abs(info["audio_s"] - info["video_s"]) <= 1 / 25
    rows = [c for c in Store(ws / "briefcut.db").cuts(run_id) if c["version"] == 2]
    assert any("shot 2 prompt" in d for d in rows[0]["diff"])


def test_caption_and_cta_edits_render_no_media(finished_run) -> None:
    ws, run_id = finished_run
    before = renders(ws, run_id)
    result = cli(ws, "refine", run_id, "-m", "caption 1: Fresh from the farm; cta: Order by Wednesday", "--json")
    assert result.exit_code == 0, result.output
    assert "`briefcut refine` is now `briefcut edit`" in result.output  # the old name still works, with a note
    assert renders(ws, run_id) == before
    scorecard = json.loads(Path(last_json(result.output)["cuts"][0]["path"]).with_suffix(".scorecard.json").read_text())
    assert scorecard["version"] == 3
    # the last shot's caption stated the call to action: it states the new one
    plan = next(iter(Store(ws / "briefcut.db").latest_plans(run_id).values()))["plan"]
    assert plan["shots"][-1]["caption"] == "Order by Wednesday" and plan["end_card"]["call_to_action"] == "Order by Wednesday"
    stored = Store(ws / "briefcut.db").cuts(run_id)[-1]["scorecard"]  # the card delivery wrote is the stored one
    assert stored["shots"] == scorecard["shots"] and stored["cut"] == scorecard["cut"]


def test_music_edit_renders_only_the_music(finished_run) -> None:
    ws, run_id = finished_run
    before = renders(ws, run_id)
    result = cli(ws, "edit", run_id, "-m", "make the music calm piano", "--json")
    assert result.exit_code == 0, result.output
    after = renders(ws, run_id)
    assert after["music"] == before["music"] + 1 and after["video"] == before["video"]


def test_drop_keeps_the_cut_length(finished_run) -> None:
    ws, run_id = finished_run
    result = cli(ws, "edit", run_id, "-m", "drop the first shot", "--json")
    assert result.exit_code == 0, result.output
    cut = last_json(result.output)["cuts"][0]
    assert cut["duration_s"] == pytest.approx(10.0)
    plans = Store(ws / "briefcut.db").latest_plans(run_id)
    assert len(next(iter(plans.values()))["plan"]["shots"]) == 2


def test_unknown_message_without_llm_suggests_the_closest_phrasings(finished_run) -> None:
    ws, run_id = finished_run
    result = cli(ws, "edit", run_id, "-m", "swop the first two shots")
    assert result.exit_code == 1
    assert "cannot understand" in result.output and '"swap 2 and 3"' in result.output
    assert "shot 3: <prompt>" not in result.output  # not the whole grammar
    help_ = cli(ws, "edit", run_id, "-m", "help")
    assert help_.exit_code == 0 and "shot 3: <prompt>" in help_.output


def test_an_edit_the_animatic_cannot_show_says_so(finished_run) -> None:
    ws, run_id = finished_run
    result = cli(ws, "edit", run_id, "-m", "make the first shot calmer")
    assert result.exit_code == 0, result.output
    assert 'note: shot 1: the animatic video draws the prompt as a storyboard card, so "calmer"' in result.output


def test_unfinished_run_cannot_be_refined(tmp_path: Path) -> None:
    store = Store(tmp_path / "briefcut.db")
    brief = (ROOT / "briefs" / "bumper.yaml").resolve()
    from agent.brief import load_brief
    from agent.profiles import resolve_choices
    from agent.settings import Overrides, Settings, apply_overrides

    b = apply_overrides(load_brief(brief), Overrides(profile="preview"))
    store.create_run({"id": "r-x", "brief_path": str(brief), "brief": b.model_dump(mode="json"),
                      "choices": resolve_choices(b, Settings.from_env({})).model_dump(mode="json"),
                      "out_dir": str(tmp_path)})  # fmt: skip
    result = cli(tmp_path, "edit", "r-x", "-m", "music: calm")
    assert result.exit_code == 2 and "briefcut resume r-x" in result.output


def test_chat_shows_edits_and_applies_only_what_is_confirmed(finished_run) -> None:
    ws, run_id = finished_run
    before = renders(ws, run_id)
    versions = {c["version"] for c in Store(ws / "briefcut.db").cuts(run_id)}
    # first message declined, second confirmed, a bad one explained, then quit
    answers = "cta: Not this one\nn\ncaption 1: Picked at dawn\ny\nshot 99 darker\nquit\n"
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "BRIEFCUT_LLM_MODEL")}
    result = CliRunner().invoke(app, ["--workdir", str(ws), "chat", run_id], input=answers, env=env)
    assert result.exit_code == 0, result.output
    assert 'call to action: "Not this one"' in result.output and "apply these edits?" in result.output
    assert "shot 99 is not in the plan" in result.output
    cuts = Store(ws / "briefcut.db").cuts(run_id)
    new_versions = {c["version"] for c in cuts} - versions
    assert len(new_versions) == 1  # only the confirmed message made a version
    latest = [c for c in cuts if c["version"] == max(new_versions)]
    assert any("Picked at dawn" in d for d in latest[0]["diff"])
    assert not any("Not this one" in d for c in cuts for d in c["diff"])
    assert renders(ws, run_id) == before  # a caption renders nothing


def test_chat_on_a_terminal_prints_the_new_cuts_and_scores(finished_run) -> None:
    """On a real terminal (a pty: the progress bar is live) each applied round ends with the new cut
    paths and their scores, after the bar is gone."""
    ws, run_id = finished_run
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "BRIEFCUT_LLM_MODEL")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    term = Terminal([sys.executable, "-m", "agent.cli", "--workdir", str(ws), "chat", run_id], env, cwd=ROOT)
    try:
        term.expect("you:")
        term.send("caption 2: Straight from the field")
        term.expect("apply these edits?")
        term.send("y")
        term.expect("you:", timeout=240)
        term.send("quit")
        assert term.wait() == 0
    finally:
        term.close()
    version = max(c["version"] for c in Store(ws / "briefcut.db").cuts(run_id))
    shown = "\n".join(term.screen())  # what the person sees once the bar has redrawn itself
    after_apply = shown[shown.index("apply these edits?"):]
    assert f"_r{version}.mp4" in after_apply and re.search(r"score \d\.\d\d", after_apply), after_apply


TWO_LANGUAGES = """\
brand: {name: Alder, palette: ["#1F3A5F", "#F2C14E", "#FAFAFA"]}
product: {name: Alder One, description: a small thing for tests}
message: "Alder makes mornings easy."
call_to_action: Try Alder
segments:
  - {id: early, description: early risers, tone: calm}
  - {id: tarde, description: night owls, tone: bold, language: es}
formats: {aspect_ratios: ["16:9"], duration_s: 4, fps: 24, resolution: 64}
shots: 2
refine: {max_rounds: 0}
"""


def test_words_for_one_language_name_their_cut_in_a_run_of_several(tmp_path: Path) -> None:
    """A caption or CTA without --plan in a run with English and Spanish cuts is refused, naming each cut's
    language, and changes nothing; with --plan it goes to that cut alone."""
    brief = tmp_path / "two.yaml"
    brief.write_text(TWO_LANGUAGES)
    ws = tmp_path / "ws"
    run_id = last_json(cli(ws, "run", str(brief), "--draft", "--json").output)["run_id"]
    store = Store(ws / "briefcut.db")
    before = sorted((c["plan_key"], c["version"]) for c in store.cuts(run_id))

    for message in ("caption 1: Hola", "cta: Pruébalo"):
        result = cli(ws, "edit", run_id, "-m", message)
        assert result.exit_code != 0
        assert "early/v0: en, tarde/v0: es" in result.output and "--plan" in result.output, result.output
    assert sorted((c["plan_key"], c["version"]) for c in store.cuts(run_id)) == before

    result = cli(ws, "edit", run_id, "-m", "caption 1: Hola", "--plan", "tarde/v0", "--json")
    assert result.exit_code == 0, result.output
    srt = {(c["plan_key"], c["version"]): Path(c["srt"]).read_text(encoding="utf-8") for c in store.cuts(run_id)}
    assert "Hola" in srt["tarde/v0", 2] and "Hola" not in srt["tarde/v0", 1]
    assert srt["early/v0", 2] == srt["early/v0", 1]  # the English cut keeps its words


def test_an_edit_whose_takes_are_gone_names_the_files_and_a_fresh_run_makes_them_again(tmp_path: Path) -> None:
    """Deleted take files (or a workspace moved since they were made) are one clear error naming them, not
    an internal one; `run --fresh` renders what is gone and delivers again."""
    brief = tmp_path / "one.yaml"
    brief.write_text(TWO_LANGUAGES.replace(", language: es", ""))
    ws = tmp_path / "ws"
    run_id = last_json(cli(ws, "run", str(brief), "--json").output)["run_id"]
    store = Store(ws / "briefcut.db")
    gone = [Path(t["path"]) for t in store.takes(run_id) if t["kind"] == "video" and t["shot"] == 1]
    for path in gone:
        path.unlink()
    result = cli(ws, "edit", run_id, "-m", "caption 1: Good morning")
    assert result.exit_code == 1 and "RuntimeError" not in result.output
    assert "shot 2 of " in result.output and str(gone[0]) in result.output and "--fresh" in result.output, result.output
    again = cli(ws, "run", str(brief), "--fresh", "--json")
    assert again.exit_code == 0, again.output
    assert all(path.is_file() for path in gone) and last_json(again.output)["status"] == "done"
