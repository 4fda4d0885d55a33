"""Edit operations: the parser (the grammar and what people type), applying edits (timing, re-render
sets, consistency), descriptions and diffs."""

from __future__ import annotations

import json

import pytest
from fixtures.llama import MODEL, FakeLLM, ok

from agent.brief import MIN_SHOT_SECONDS, end_card_seconds
from agent.edit.llm_parse import parse_with_llm
from agent.edit.ops import (
    AdjustShot,
    DropShot,
    EditList,
    ReorderShots,
    RerenderShot,
    SetCallToAction,
    SetCaption,
    SetMusicMood,
    TrimShot,
    apply_edits,
    describe_edits,
    plan_diff,
)
from agent.edit.parse import GRAMMAR, NotUnderstood, parse_edit
from agent.errors import PlanError
from agent.plan import EndCard, Music, Plan, Shot

DURATION = 15.0


def three_shot_plan() -> Plan:
    seconds = [3.0, 4.0, 5.0]
    shots = [Shot(index=i, description=f"d{i + 1}", prompt=f"prompt {i + 1}", seconds=s, uid=f"u{i + 1}", seed=10 + i)
             for i, s in enumerate(seconds)]
    plan = Plan(segment="all", shots=shots, music=Music(mood="uplifting"),
                end_card=EndCard(seconds=end_card_seconds(DURATION), headline="Hi", call_to_action="Buy"))
    plan.check_duration(DURATION)
    return plan


# 1. grammar ---------------------------------------------------------------------------------


def test_every_command_form_parses_to_its_typed_op() -> None:
    text = ("shot 3: a red car at dusk; shot 3 seed 7\ncaption 2: Fresh taste; music: calm; drop shot 2;"
            " trim shot 1 to 2.5; order 3,1,2; cta: Try it today; shot 3 darker; rerender shot 1")
    assert parse_edit(text) == [
        RerenderShot(shot=3, prompt="a red car at dusk"), RerenderShot(shot=3, seed=7),
        SetCaption(shot=2, text="Fresh taste"), SetMusicMood(mood="calm"), DropShot(shot=2),
        TrimShot(shot=1, seconds=2.5), ReorderShots(order=[3, 1, 2]), SetCallToAction(text="Try it today"),
        AdjustShot(shot=3, instruction="darker"), RerenderShot(shot=1),
    ]


def test_commands_are_case_and_space_tolerant() -> None:
    assert parse_edit("  SHOT 2 :  closer on the bottle ") == [RerenderShot(shot=2, prompt="closer on the bottle")]
    assert parse_edit("Trim shot 2 to 3s") == [TrimShot(shot=2, seconds=3.0)]
    assert parse_edit("order 2, 1") == [ReorderShots(order=[2, 1])]


@pytest.mark.parametrize("text", ["make it pop", "", " ; ", "music:", "shot:"])
def test_unreadable_input_is_an_error_with_suggestions_not_the_whole_grammar(text: str) -> None:
    with pytest.raises(NotUnderstood) as err:
        parse_edit(text)
    assert "help" in str(err.value) and GRAMMAR.strip() not in str(err.value)


@pytest.mark.parametrize("text, where", [("trim shot 1 to 0.2", "seconds"), ("shot 0: x", "shot")])
def test_bad_values_name_the_command_and_field(text: str, where: str) -> None:
    with pytest.raises(PlanError, match=rf"'{text}': {where}"):
        parse_edit(text)


def test_ops_round_trip_through_the_discriminated_union() -> None:
    ops = parse_edit("shot 1 seed 3; caption 2: x; order 2,1; cta: go")
    assert EditList.model_validate_json(EditList(ops=ops).model_dump_json()).ops == ops


# 2. applying --------------------------------------------------------------------------------


def test_caption_music_and_cta_re_render_nothing() -> None:
    plan = three_shot_plan()
    new, rerender = apply_edits(plan, parse_edit("caption 2: New!; music: calm; cta: Shop now"), DURATION)
    assert rerender == []
    assert new.shots[1].caption == "New!" and new.music.mood == "calm" and new.end_card.call_to_action == "Shop now"
    assert [s.lineage for s in new.shots] == [0, 0, 0]


def test_prompt_or_seed_change_re_renders_only_that_shot() -> None:
    plan = three_shot_plan()
    new, rerender = apply_edits(plan, parse_edit("shot 2: a blue bottle; shot 3 seed 99"), DURATION)
    assert rerender == [1, 2]
    assert new.shots[1].prompt == "a blue bottle" and new.shots[1].lineage == 1
    assert new.shots[2].seed == 99 and new.shots[2].prompt == "prompt 3"
    assert new.shots[0] == plan.shots[0]


def test_plain_rerender_asks_for_a_new_take() -> None:
    new, rerender = apply_edits(three_shot_plan(), [RerenderShot(shot=1)], DURATION)
    assert rerender == [0] and new.shots[0].seed_offset == 1


def test_trim_keeps_the_cut_length_and_gives_time_to_the_others_proportionally() -> None:
    plan = three_shot_plan()
    new, rerender = apply_edits(plan, parse_edit("trim shot 1 to 1.5"), DURATION)
    new.check_duration(DURATION)
    assert new.shots[0].seconds == 1.5
    # 1.5 s freed, shared 4:5 between shots 2 and 3
    assert new.shots[1].seconds == pytest.approx(4 + 1.5 * 4 / 9, abs=0.011)
    assert new.shots[2].seconds == pytest.approx(5 + 1.5 * 5 / 9, abs=0.011)
    assert rerender == [0, 1, 2]


def test_drop_reindexes_and_refits() -> None:
    plan = three_shot_plan()
    new, rerender = apply_edits(plan, parse_edit("drop shot 2"), DURATION)
    new.check_duration(DURATION)
    assert [s.uid for s in new.shots] == ["u1", "u3"] and [s.index for s in new.shots] == [0, 1]
    assert new.shots[0].seconds == pytest.approx(3 + 4 * 3 / 8, abs=0.011)
    assert rerender == [0, 1]


def test_reorder_moves_shots_without_re_rendering() -> None:
    new, rerender = apply_edits(three_shot_plan(), parse_edit("order 3,1"), DURATION)
    assert [s.uid for s in new.shots] == ["u3", "u1", "u2"] and [s.index for s in new.shots] == [0, 1, 2]
    assert rerender == []


def test_numbers_refer_to_the_plan_before_the_message() -> None:
    new, rerender = apply_edits(three_shot_plan(), parse_edit("drop shot 1; shot 3: the end"), DURATION)
    assert [s.uid for s in new.shots] == ["u2", "u3"] and new.shots[1].prompt == "the end"
    with pytest.raises(PlanError, match="shot 1 is dropped"):
        apply_edits(three_shot_plan(), parse_edit("drop shot 1; caption 1: x"), DURATION)


def test_adjust_uses_the_reviser_with_neighbours_or_appends_the_instruction() -> None:
    plan = three_shot_plan()
    new, rerender = apply_edits(plan, parse_edit("order 3,1,2; shot 1 darker"), DURATION)
    assert new.shots[1].prompt == "prompt 1, darker" and rerender == [1]

    seen: list[tuple[list[str], int, str]] = []

    def revise(p: Plan, i: int, feedback: str) -> Plan:
        seen.append(([s.uid for s in p.shots], i, feedback))
        shots = list(p.shots)
        shots[i] = shots[i].model_copy(update={"prompt": "low-key light", "negative_prompt": "bright"})
        return p.model_copy(update={"shots": shots})

    new, rerender = apply_edits(plan, parse_edit("order 3,1,2; shot 1 darker"), DURATION, revise=revise)
    assert seen == [(["u3", "u1", "u2"], 1, "darker")]
    assert new.shots[1].prompt == "low-key light" and new.shots[1].negative_prompt == "bright"


@pytest.mark.parametrize("text, message", [
    ("trim shot 1 to 11", "remain for 2 other shot"),
    ("drop shot 1; drop shot 2; drop shot 3", "only shot left"),
    ("order 1,1", "repeats"),
    ("shot 4: x", "not in the plan"),
])
def test_impossible_edits_are_plan_errors(text: str, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        apply_edits(three_shot_plan(), parse_edit(text), DURATION)


def test_trimming_every_shot_must_still_fill_the_cut() -> None:
    ops = parse_edit("trim shot 1 to 4; trim shot 2 to 4; trim shot 3 to 4")
    new, _ = apply_edits(three_shot_plan(), ops, DURATION)
    assert [s.seconds for s in new.shots] == [4, 4, 4]
    with pytest.raises(PlanError, match="leave one shot untrimmed"):
        apply_edits(three_shot_plan(), parse_edit("trim shot 1 to 4; trim shot 2 to 4; trim shot 3 to 3"), DURATION)


def test_trim_to_the_minimum_is_allowed() -> None:
    new, _ = apply_edits(three_shot_plan(), [TrimShot(shot=3, seconds=MIN_SHOT_SECONDS)], DURATION)
    assert new.shots[2].seconds == MIN_SHOT_SECONDS
    new.check_duration(DURATION)


# 3. telling the person ------------------------------------------------------------------------


def test_describe_edits_has_one_line_per_op() -> None:
    text = describe_edits(parse_edit("shot 2 seed 4; drop shot 1; music: calm; cta: Go"))
    assert text.splitlines() == ["- re-render shot 2 with seed 4", "- drop shot 1 (the other shots absorb its time)",
                                 "- music mood: calm", '- call to action: "Go"']


def test_plan_diff_names_what_changed() -> None:
    plan = three_shot_plan()
    new, _ = apply_edits(plan, parse_edit("drop shot 1; order 3,2; shot 2: new prompt; music: calm"), DURATION)
    diff = plan_diff(plan, new)
    assert "shot 1 (d1) removed" in diff
    assert 'shot 2 (was 2) prompt: "prompt 2" -> "new prompt"' not in diff
    assert any(line.startswith('shot 2 prompt: "prompt 2" -> "new prompt"') for line in diff)
    assert "shot order: 3, 2" in diff and "music mood: uplifting -> calm" in diff
    assert plan_diff(plan, plan) == []


# 4. free text through an LLM endpoint (scripted server) ------------------------------------------


def test_parse_with_llm_types_and_repairs_what_the_model_said(fake_llm: FakeLLM) -> None:
    fake_llm.replies = [ok({"ops": [
        {"op": "adjust", "shot": 2, "instruction": "  darker\n please "},
        {"op": "order", "order": [3, 3, 9, 1]},
        {"op": "trim", "shot": 1, "seconds": -4},
        {"op": "drop", "shot": 7},  # no such shot: left out
        {"op": "music", "mood": "calm"},
    ]})]
    ops = parse_with_llm("second shot darker, end first, calmer music", three_shot_plan(),
                         {"base_url": fake_llm.url, "model": MODEL, "max_retries": 0})
    assert ops == [AdjustShot(shot=2, instruction="darker please"), ReorderShots(order=[3, 1]),
                   TrimShot(shot=1, seconds=MIN_SHOT_SECONDS), SetMusicMood(mood="calm")]
    sent = fake_llm.requests[0]
    assert "calmer music" in sent["messages"][1]["content"] and "prompt 2" in sent["messages"][1]["content"]
    schema = json.dumps(sent["response_format"]["json_schema"]["schema"])
    assert '"maximum": 3' in schema  # shot numbers bounded by the plan, for grammar-constrained servers


def test_parse_with_llm_with_nothing_usable_is_a_plan_error(fake_llm: FakeLLM) -> None:
    fake_llm.replies = [ok({"ops": [{"op": "drop", "shot": 9}]})]
    with pytest.raises(PlanError, match="no edit the plan can take"):
        parse_with_llm("drop the ninth", three_shot_plan(), {"base_url": fake_llm.url, "model": MODEL})


# 5. an edit keeps the cut consistent ------------------------------------------------------------


def cta_plan(cta: str, captions: list[str], voice: list[str]) -> Plan:
    plan = three_shot_plan()
    shots = [s.model_copy(update={"caption": c, "voice_line": v}) for s, c, v in zip(plan.shots, captions, voice, strict=True)]
    return plan.model_copy(update={"shots": shots, "end_card": plan.end_card.model_copy(update={"call_to_action": cta})})


def test_a_new_call_to_action_is_also_said_where_the_old_one_was() -> None:
    plan = cta_plan("Shop the spring drop", ["Cold for 24 hours.", "", "Shop the spring drop"],
                    ["", "", "shop the spring drop today!"])
    new, rerender = apply_edits(plan, parse_edit("change the CTA to Order by Friday"), DURATION)
    assert new.end_card.call_to_action == "Order by Friday"
    assert [s.caption for s in new.shots] == ["Cold for 24 hours.", "", "Order by Friday"]
    assert new.shots[2].voice_line == "Order by Friday today!"
    assert rerender == []  # words on screen and in the voice: no picture to render again
    assert 'shot 3 caption: "Shop the spring drop" -> "Order by Friday"' in plan_diff(plan, new)


def test_a_one_word_call_to_action_replaces_only_lines_that_are_it() -> None:
    plan = cta_plan("Buy.", ["Buy", "Buy it once, keep it forever", ""], ["", "", ""])
    new, _ = apply_edits(plan, parse_edit("cta: Join"), DURATION)
    assert [s.caption for s in new.shots] == ["Join", "Buy it once, keep it forever", ""]


def test_a_music_mood_change_rewrites_the_music_prompt() -> None:
    plan = three_shot_plan().model_copy(update={"music": Music(mood="Uplifting", prompt="uplifting music bed for an ad")})
    new, _ = apply_edits(plan, parse_edit("make the music calm piano"), DURATION)
    assert (new.music.mood, new.music.prompt) == ("calm piano", "calm piano music bed for an ad")
    other = plan.model_copy(update={"music": Music(mood="uplifting", prompt="driving drums and synth bass")})
    new, _ = apply_edits(other, parse_edit("music: calm"), DURATION)
    assert new.music.prompt == "calm music bed"  # a prompt that never named the mood would contradict it
    assert 'music prompt: "driving drums and synth bass" -> "calm music bed"' in plan_diff(other, new)
