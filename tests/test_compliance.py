"""Copy that obeys the brief: must-avoid terms refuse a brief at load, on-screen lines reach every cut."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from test_run import briefcut, last_json

from agent.brief import load_brief
from agent.compliance import compliance_check, contains_term
from agent.errors import BriefError
from agent.planners.base import PlanRequest
from agent.planners.template import TemplatePlanner

ROOT = Path(__file__).parents[1]


def brief_file(tmp_path: Path, **changes) -> Path:
    data = {
        "brand": {"name": "Lumen", "palette": ["#0B1F3A", "#F2C14E"]},
        "product": {"name": "Lumen Bottle"},
        "message": "Cold for 24 hours.",
        "call_to_action": "Shop the drop",
        "segments": [{"id": "runners"}],
        "formats": {"aspect_ratios": ["1:1"], "duration_s": 4},
        "must_avoid": ["plastic bottles"],
    } | changes
    path = tmp_path / "brief.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def line_of(path: Path, start: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(start))


@pytest.mark.parametrize(("text", "term", "found"), [
    ("No more Plastic Bottles!", "plastic bottles", True),
    ("plastic bottlesque", "plastic bottles", False),  # whole words only
    ("ＰＬＡＳＴＩＣ bottles", "plastic bottles", True),  # compatibility forms
    ("Sin plástico barato.", "PLÁSTICO BARATO", True),
    ("ノンプラスチック製ボトル", "プラスチック", True),  # no spaces in Japanese: anywhere
    ("塑料瓶不再", "塑料", True),
    ("ขวดพลาสติกราคาถูก", "พลาสติก", True),
    ("Lumenボトル", "lumen", True),  # a Latin word next to kana still ends there
    ("illumen", "lumen", False),
    ("لا للبلاستيك", "البلاستيك", False),  # Arabic writes spaces: inside a word is no match
])
def test_terms_match_whole_words_in_any_script(text: str, term: str, found: bool) -> None:
    assert contains_term(text, term) is found


@pytest.mark.parametrize(("changes", "where"), [
    ({"message": "Better than plastic bottles."}, ":{message}:1: message: contains the must-avoid term 'plastic bottles'"),
    ({"segments": [{"id": "runners", "overrides": {"call_to_action": "Ditch PLASTIC BOTTLES"}}]},
     "segments[0].overrides.call_to_action: contains the must-avoid term 'plastic bottles'"),
    ({"must_include": [{"on_screen": "Plastic bottles not included"}]},
     "must_include[0].on_screen: contains the must-avoid term"),
    ({"message": "プラスチック不使用", "must_avoid": ["プラスチック"]}, "message: contains the must-avoid term 'プラスチック'"),
    ({"segments": [{"id": "kids", "overrides": {"must_avoid": ["hours"]}}]},
     "message: contains the must-avoid term 'hours' (segments[0].overrides.must_avoid)"),
])
def test_must_avoid_in_the_briefs_own_copy_refuses_it(tmp_path: Path, changes: dict, where: str) -> None:
    path = brief_file(tmp_path, **changes)
    with pytest.raises(BriefError) as err:
        load_brief(path)
    where = where.format(message=line_of(path, "message:"))
    assert where in str(err.value) and str(path) in str(err.value) and "compliance: warn" in str(err.value)


def test_the_cli_refuses_with_exit_2_and_warn_runs_with_the_check_failed(tmp_path: Path) -> None:
    path = brief_file(tmp_path, message="Better than plastic bottles.")
    proc = briefcut("run", str(path), "--resolution", "64", "--json", workdir=tmp_path / "ws")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert f"{path}:{line_of(path, 'message:')}:1: message: contains the must-avoid term 'plastic bottles'" in proc.stderr
    # the same brief with compliance: warn runs; every cut carries the on-screen line and a failed check
    legal = "Offer ends 30 June. Terms apply."
    warned = brief_file(tmp_path, message="Better than plastic bottles.", compliance="warn",
                        must_include=["the gold cap", {"on_screen": legal}],
                        formats={"aspect_ratios": ["1:1", "9:16"], "duration_s": 4})
    proc = briefcut("run", str(warned), "--resolution", "96", "--json", "--out", str(tmp_path / "out"),
                    workdir=tmp_path / "ws")
    assert proc.returncode == 0, proc.stderr
    assert "warning: message: contains the must-avoid term 'plastic bottles'" in proc.stderr
    cuts = last_json(proc.stdout)["cuts"]
    assert len(cuts) == 2
    for cut in cuts:
        srt = Path(cut["path"]).with_suffix(".srt").read_text(encoding="utf-8")
        assert " ".join(srt.split()).endswith(legal)  # the last cue, over the end card
        card = json.loads(Path(cut["path"]).with_suffix(".scorecard.json").read_text())
        check = card["compliance"]
        assert check["status"] == "fail" and check["mode"] == "warn" and check["checked"]["on_screen"] == [legal]
        assert check["reasons"] and all("plastic bottles" in r for r in check["reasons"])  # the screen line is there


def test_on_screen_lines_are_not_prompt_words_and_their_absence_fails_the_check(tmp_path: Path) -> None:
    legal = "Offer ends 30 June. Terms apply."
    brief = load_brief(brief_file(tmp_path, must_include=["the gold cap", {"on_screen": legal}]))
    plan = TemplatePlanner().plan(PlanRequest(brief=brief, segment=brief.segments[0]))
    assert all("Offer ends" not in s.prompt for s in plan.shots)  # a screen line is not a prompt word
    assert "the gold cap" in plan.shots[0].prompt
    assert compliance_check(brief, brief.segments[0], plan, f"Cold for 24 hours.\n{legal}")["status"] == "pass"
    check = compliance_check(brief, brief.segments[0], plan, "a subtitle without it")
    assert check["status"] == "fail" and "on-screen requirement missing" in check["reasons"][0]
