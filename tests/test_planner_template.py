"""The template planner and plan timing: pure logic, no media."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.brief import end_card_seconds, load_brief
from agent.errors import PlanError
from agent.plan import fit_durations, frame_counts
from agent.planners import PLANNERS, PlanRequest
from agent.planners.template import caption_lines, shot_roles

BRIEFS = sorted((Path(__file__).parents[1] / "briefs").glob("*.yaml"))


def plan_for(path: Path, variant: int = 0, segment: int = 0, family: str = "animatic"):
    brief = load_brief(path)
    request = PlanRequest(brief=brief, segment=brief.segments[segment], variant=variant, family=family)
    return brief, PLANNERS.create("template").plan(request)


@pytest.mark.parametrize("path", BRIEFS, ids=lambda p: p.stem)
def test_plan_fills_the_duration_exactly(path: Path) -> None:
    brief, plan = plan_for(path)
    plan.check_duration(brief.formats.duration_s, tolerance=1e-9)
    assert plan.end_card.seconds == end_card_seconds(brief.formats.duration_s)
    assert all(s.seconds >= 0.75 for s in plan.shots)
    assert plan.shots[0].role in ("hook", "product") and plan.shots[-1].role == "cta"
    if brief.shots:
        assert len(plan.shots) == brief.shots


def test_plan_is_deterministic_and_variants_differ() -> None:
    _, a = plan_for(BRIEFS[0], variant=0)
    _, b = plan_for(BRIEFS[0], variant=0)
    _, c = plan_for(BRIEFS[0], variant=1)
    assert a == b
    assert [s.camera for s in a.shots] != [s.camera for s in c.shots]


def test_brief_constraints_reach_the_prompts() -> None:
    brief, plan = plan_for(Path(__file__).parents[1] / "briefs" / "spring-launch.yaml", family="wan")
    assert all("gold cap" in s.prompt for s in plan.shots)
    assert all("plastic bottles" in s.negative_prompt for s in plan.shots)
    assert all(brief.product.name in s.prompt or brief.brand.name in s.prompt for s in plan.shots)
    assert all("cinematic" in s.prompt for s in plan.shots)  # the family's style words
    assert plan.shots[-1].caption == brief.call_to_action


def test_segment_overrides_win() -> None:
    brief, plan = plan_for(Path(__file__).parents[1] / "briefs" / "spring-launch.yaml", segment=2)
    assert plan.end_card.call_to_action == brief.segments[2].overrides.call_to_action


def test_revise_changes_one_shot_and_moves_its_seed() -> None:
    brief, plan = plan_for(BRIEFS[0])
    request = PlanRequest(brief=brief, segment=brief.segments[0], variant=0)
    revised = PLANNERS.create("template").revise(request, plan, 1, "the picture freezes: ask for movement")
    assert revised.shots[1].prompt != plan.shots[1].prompt
    assert revised.shots[1].seed_offset == plan.shots[1].seed_offset + 1
    assert [s.seconds for s in revised.shots] == [s.seconds for s in plan.shots]
    assert revised.shots[0] == plan.shots[0] and revised.shots[2:] == plan.shots[2:]


def test_frame_counts_sum_exactly_and_bounds_round_to_nearest() -> None:
    seconds = [2.05, 2.4, 2.4, 2.9, 2.25, 3.0]
    counts = frame_counts(seconds, 24)
    assert sum(counts) == round(sum(seconds) * 24) == 360
    t = 0.0
    for i, s in enumerate(seconds):
        t += s
        assert abs(sum(counts[: i + 1]) / 24 - t) <= 0.5 / 24 + 1e-9


def test_fit_durations() -> None:
    parts = fit_durations([1, 2, 1], 6.0, 0.75)
    assert sum(parts) == pytest.approx(6.0) and min(parts) >= 0.75 and parts[1] > parts[0]
    with pytest.raises(PlanError):
        fit_durations([1] * 10, 5.0, 0.75)


def test_roles_and_captions() -> None:
    assert shot_roles(5, 0) == ["hook", "product", "benefit", "proof", "cta"]
    assert shot_roles(5, 1)[1:4] != shot_roles(5, 0)[1:4]
    lines = caption_lines("One. Two. Three.", 4, "Buy")
    assert lines == ["One.", "Two.", "Three.", "Buy"]
    assert caption_lines("Just one.", 3, "Buy")[-1] == "Buy"


@pytest.mark.parametrize("path", BRIEFS, ids=lambda p: p.stem)
def test_shot_requests_ask_for_exactly_their_frames_on_the_timeline(path: Path) -> None:
    from agent.render import shot_frames

    brief, plan = plan_for(path)
    fps = brief.formats.fps
    counts = frame_counts([s.seconds for s in plan.shots] + [plan.end_card.seconds], fps)
    asked = [round(shot_frames(plan, s, fps) / fps * fps) for s in plan.shots]
    assert asked == counts[:-1]
    assert sum(counts) == round(brief.formats.duration_s * fps)


@pytest.mark.parametrize("path", BRIEFS, ids=lambda p: p.stem)
def test_every_plan_speaks_to_its_segment_in_colour_words(path: Path) -> None:
    import re

    from agent.variants import audience

    brief = load_brief(path)
    for segment in range(len(brief.segments)):
        for variant in range(max(2, brief.variants.count)):
            _, plan = plan_for(path, variant, segment, family="wan")
            who = audience(brief.segments[segment]).casefold()
            copy = " ".join(s.caption for s in plan.shots if s.role in ("hook", "benefit", "product")).casefold()
            assert who in copy, (path.stem, segment, variant, copy)  # in the copy, even in a 2-shot bumper
            assert who in plan.shots[0].prompt.casefold()
            prompts = " ".join(s.prompt for s in plan.shots)
            assert not re.search(r"#[0-9A-Fa-f]{6}\b", prompts)  # colours in words, not hex codes


def test_colours_are_named_as_people_say_them() -> None:
    from agent.colour_names import colour_name

    assert colour_name("#0B1F3A") == "deep navy" and colour_name("#F4C430") == "saffron"
    assert colour_name("#FFFFFF") == "white"
