"""The edit parser without an LLM: what people type (ordinals, swaps, "change the CTA to", "make the
music", help) and what an unreadable message gets back (the closest phrasings). Pure logic."""

from __future__ import annotations

import pytest

from agent.edit.ops import (
    AdjustShot,
    DropShot,
    ReorderShots,
    RerenderShot,
    SetCallToAction,
    SetCaption,
    SetMusicMood,
    TrimShot,
)
from agent.edit.parse import GRAMMAR, HelpRequested, NotUnderstood, parse_edit
from agent.edit.request import picture_notes
from agent.errors import PlanError


@pytest.mark.parametrize("text, op", [
    ("make the second shot darker", AdjustShot(shot=2, instruction="darker")),
    ("Make the 3rd scene look warmer, please.", AdjustShot(shot=3, instruction="warmer")),
    ("the first shot should feel calmer", AdjustShot(shot=1, instruction="calmer")),
    ("in shot two, add a dog running past", AdjustShot(shot=2, instruction="add a dog running past")),
    ("shot three: a dog on a beach", RerenderShot(shot=3, prompt="a dog on a beach")),
    ("shot 2: the first shot of a sunrise", RerenderShot(shot=2, prompt="the first shot of a sunrise")),
    ("redo the last shot", RerenderShot(shot=3)),
    ("give me another take of shot 1", RerenderShot(shot=1)),
    ("use seed 42 for the second shot", RerenderShot(shot=2, seed=42)),
    ("swap 2 and 3", ReorderShots(order=[1, 3, 2])),
    ("Can you swap shots 1 and 2 thanks", ReorderShots(order=[2, 1])),
    ("swap the first and the last shot", ReorderShots(order=[3, 2, 1])),
    ("move shot 3 before shot 1", ReorderShots(order=[3, 1, 2])),
    ("move the first shot to the end", ReorderShots(order=[2, 3, 1])),
    ("put the last shot first", ReorderShots(order=[3])),
    ("Please change the CTA to \u201cOrder today\u201d.", SetCallToAction(text="Order today")),
    ("set the call to action to Shop the sale", SetCallToAction(text="Shop the sale")),
    ("the cta should say Try it free", SetCallToAction(text="Try it free")),
    ("make the music calmer", SetMusicMood(mood="calmer")),
    ("change the music to calm piano", SetMusicMood(mood="calm piano")),
    ("make the music more upbeat", SetMusicMood(mood="upbeat")),
    ("upbeat music please", SetMusicMood(mood="upbeat")),
    ("use some lo-fi hip hop music instead", SetMusicMood(mood="lo-fi hip hop")),
    ("remove the caption of the second shot", SetCaption(shot=2, text="")),
    ("change the caption of shot 1 to Fresh!", SetCaption(shot=1, text="Fresh!")),
    ("delete the first shot", DropShot(shot=1)),
    ("drop 2", DropShot(shot=2)),
    ("make shot 1 2.5 seconds", TrimShot(shot=1, seconds=2.5)),
    ("shorten the second shot to 3 s", TrimShot(shot=2, seconds=3.0)),
    ("make the opening shot brighter", AdjustShot(shot=1, instruction="brighter")),
    ("I'd like the third shot to be warmer", AdjustShot(shot=3, instruction="warmer")),
    ("Shot 2 - more contrast", AdjustShot(shot=2, instruction="more contrast")),
    ("change shot 3 to a close-up of the bottle", AdjustShot(shot=3, instruction="a close-up of the bottle")),
    ("replace shot 2 with a runner on a bridge", RerenderShot(shot=2, prompt="a runner on a bridge")),
    ("new seed for shot 2", RerenderShot(shot=2)),
    ("switch shots 1 and 3", ReorderShots(order=[3, 2, 1])),
    ("move the last shot to the beginning", ReorderShots(order=[3])),
    ("change the CTA text to Get yours", SetCallToAction(text="Get yours")),
    ("okay now swap 1 and 3 please", ReorderShots(order=[3, 2, 1])),
])  # fmt: skip

def test_what_people_type_becomes_one_typed_op(text: str, op) -> None:
    assert parse_edit(text, n_shots=3) == [op]


def test_every_shot_at_once() -> None:
    assert parse_edit("make everything darker", n_shots=2) == [AdjustShot(shot=1, instruction="darker"),
                                                               AdjustShot(shot=2, instruction="darker")]
    assert parse_edit("remove all captions", n_shots=2) == [SetCaption(shot=1, text=""), SetCaption(shot=2, text="")]


def test_several_edits_in_one_message() -> None:
    ops = parse_edit("make the second shot darker; cta: Buy now\nswap 1 and 2", n_shots=3)
    assert ops == [AdjustShot(shot=2, instruction="darker"), SetCallToAction(text="Buy now"),
                   ReorderShots(order=[2, 1])]


def test_help_lists_every_phrasing() -> None:
    for text in ("help", "?", "What can I say?"):
        with pytest.raises(HelpRequested) as err:
            parse_edit(text)
        assert GRAMMAR in str(err.value) and err.value.exit_code == 0


def test_the_last_shot_needs_the_plan_length() -> None:
    with pytest.raises(PlanError, match="name the shot by its number"):
        parse_edit("redo the last shot")
    assert parse_edit("redo the last shot", n_shots=5) == [RerenderShot(shot=5)]


@pytest.mark.parametrize("text, expected", [
    ("make the musik calmer", '"make the music calm"'),
    ("captoin 2 hello", '"caption 2: Fresh taste"'),
    ("swop 2 and 3", '"swap 2 and 3"'),
    ("what about the call to action button", '"change the cta to Shop now"'),
])  # fmt: skip
def test_an_unreadable_part_gets_the_closest_phrasings(text: str, expected: str) -> None:
    with pytest.raises(NotUnderstood) as err:
        parse_edit(text, n_shots=3)
    message = str(err.value)
    assert f"cannot understand '{text}'" in message and expected in message
    assert message.count('"') <= 6  # a few suggestions, not the grammar


def test_values_are_still_checked() -> None:
    with pytest.raises(PlanError, match="swap needs two different shots"):
        parse_edit("swap 2 and 2")
    with pytest.raises(PlanError, match="seconds"):
        parse_edit("make shot 1 0.1 seconds")


def test_picture_notes_say_what_a_storyboard_cannot_show() -> None:
    ops = parse_edit("make the second shot calmer; cta: Go; shot 1: a beach", n_shots=3)
    notes = picture_notes(ops, "animatic", follows_prompt=False)
    assert len(notes) == 2 and notes[0].startswith("shot 2:") and '"calmer"' in notes[0] and "look" in notes[0]
    assert picture_notes(ops, "diffusers", follows_prompt=True) == []
