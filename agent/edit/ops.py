"""Typed edit operations, and how they change a plan.

Shots in edit operations are numbered from 1, as people say them ("shot 3"), and every number in
one message refers to the plan as it was before the message. `apply_edits` returns the edited plan
and the 0-based `Shot.index` values (in the new plan) of the shots that must be rendered again.
An edit keeps the cut consistent: a new call to action is also put where a caption or voice line
stated the old one, and a new music mood is written into the music prompt, not only the mood word.

Messages become operations in `agent.edit.parse` (no LLM) and `agent.edit.llm_parse` (free text).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.brief import MIN_SHOT_SECONDS
from agent.errors import PlanError
from agent.plan import Plan, Shot, fit_durations


class _Op(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RerenderShot(_Op):
    op: Literal["rerender"] = "rerender"
    shot: int = Field(ge=1)
    prompt: str | None = None
    seed: int | None = Field(default=None, ge=0, lt=2**31)


class SetCaption(_Op):
    op: Literal["caption"] = "caption"
    shot: int = Field(ge=1)
    text: str


class SetMusicMood(_Op):
    op: Literal["music"] = "music"
    mood: str = Field(min_length=1)


class ReorderShots(_Op):
    op: Literal["order"] = "order"
    order: list[int] = Field(min_length=1)


class TrimShot(_Op):
    op: Literal["trim"] = "trim"
    shot: int = Field(ge=1)
    seconds: float = Field(ge=MIN_SHOT_SECONDS)


class DropShot(_Op):
    op: Literal["drop"] = "drop"
    shot: int = Field(ge=1)


class SetCallToAction(_Op):
    op: Literal["cta"] = "cta"
    text: str = Field(min_length=1)


class AdjustShot(_Op):
    op: Literal["adjust"] = "adjust"
    shot: int = Field(ge=1)
    instruction: str = Field(min_length=1)


EditOp = Annotated[
    RerenderShot | SetCaption | SetMusicMood | ReorderShots | TrimShot | DropShot | SetCallToAction | AdjustShot,
    Field(discriminator="op"),
]


class EditList(BaseModel):
    """A validated list of edit operations (what `parse_with_llm` asks the model for)."""

    ops: list[EditOp]


# 1. Applying edits -------------------------------------------------------------------------

Reviser = Callable[[Plan, int, str], Plan]


def apply_edits(plan: Plan, ops: list[EditOp], duration_s: float,
                revise: Reviser | None = None) -> tuple[Plan, list[int]]:
    """The edited plan (timing refitted to `duration_s`, shots reindexed) and the shots to re-render.

    `revise(plan, shot_index, instruction)` turns an AdjustShot into a prompt revision (the
    planner's `revise`); without it the instruction is appended to the prompt.
    """
    work = _Work(plan)
    for op in ops:
        work.apply(op, revise)
    return work.finish(duration_s)


class _Work:
    """Shots keyed by their number in the original plan while edits are applied."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.shots: dict[int, Shot] = {i + 1: s for i, s in enumerate(plan.shots)}
        self.order: list[int] = list(self.shots)
        self.touched: set[int] = set()
        self.pinned: dict[int, float] = {}
        self.retimed = False
        self.music, self.end_card = plan.music, plan.end_card

    def get(self, n: int) -> Shot:
        if n not in self.shots:
            have = "dropped" if 1 <= n <= len(self.plan.shots) else "not in the plan"
            raise PlanError(f"shot {n} is {have} (the plan has shots 1-{len(self.plan.shots)})")
        return self.shots[n]

    def update(self, n: int, touch: bool = True, **fields: Any) -> None:
        self.shots[n] = self.get(n).model_copy(update=fields)
        if touch:
            self.touched.add(n)

    def apply(self, op: Any, revise: Reviser | None) -> None:
        match op:
            case RerenderShot(shot=n, prompt=prompt, seed=seed):
                shot = self.get(n)
                fields: dict[str, Any] = {"prompt": prompt} if prompt else {}
                if seed is not None:
                    fields |= {"seed": seed, "seed_offset": 0}
                elif not prompt:
                    fields["seed_offset"] = shot.seed_offset + 1
                self.update(n, **fields)
            case SetCaption(shot=n, text=text):
                self.update(n, touch=False, caption=text)
            case SetMusicMood(mood=mood):
                self.set_mood(mood)
            case SetCallToAction(text=text):
                self.set_call_to_action(text)
            case ReorderShots(order=order):
                self.reorder(order)
            case TrimShot(shot=n, seconds=seconds):
                self.get(n)
                self.pinned[n] = round(seconds, 2)
                self.retimed = True
            case DropShot(shot=n):
                self.get(n)
                if len(self.order) == 1:
                    raise PlanError("cannot drop the only shot left")
                del self.shots[n]
                self.order.remove(n)
                self.pinned.pop(n, None)
                self.retimed = True
            case AdjustShot(shot=n, instruction=instruction):
                self.adjust(n, instruction, revise)

    def set_mood(self, mood: str) -> None:
        """The mood word and the music prompt say the same thing (the prompt is what a model hears)."""
        old = self.music
        prompt = restate(old.prompt, old.mood, mood) if old.prompt else ""
        if old.prompt and prompt is None:  # the prompt never named the mood: it is rewritten around it
            prompt = f"{mood} music bed"
        self.music = old.model_copy(update={"mood": mood, "prompt": prompt})

    def set_call_to_action(self, text: str) -> None:
        """The end card's call to action, and every caption or voice line that stated the old one."""
        old = self.end_card.call_to_action
        self.end_card = self.end_card.model_copy(update={"call_to_action": text})
        for n, shot in list(self.shots.items()):
            fields = {f: new for f in ("caption", "voice_line") if (new := restate_cta(getattr(shot, f), old, text))}
            if fields:
                self.update(n, touch=False, **fields)

    def reorder(self, order: list[int]) -> None:
        for n in order:
            self.get(n)
        if len(set(order)) != len(order):
            raise PlanError(f"order {','.join(map(str, order))} repeats a shot")
        self.order = [*order, *(n for n in self.order if n not in order)]

    def adjust(self, n: int, instruction: str, revise: Reviser | None) -> None:
        shot = self.get(n)
        if revise is None:
            self.update(n, prompt=f"{shot.prompt}, {instruction}")
            return
        now = [self.shots[m].model_copy(update={"index": i}) for i, m in enumerate(self.order)]
        position = self.order.index(n)
        revised = revise(self.plan.model_copy(update={"shots": now}), position, instruction).shots[position]
        self.update(n, prompt=revised.prompt, negative_prompt=revised.negative_prompt)

    def finish(self, duration_s: float) -> tuple[Plan, list[int]]:
        shots = [self.shots[n] for n in self.order]
        if self.retimed:
            shots = self.refit(shots, duration_s)
        rerender: list[int] = []
        new = []
        for i, (n, shot) in enumerate(zip(self.order, shots, strict=True)):
            changed = n in self.touched or abs(shot.seconds - self.plan.shots[n - 1].seconds) > 1e-9
            if changed:
                rerender.append(i)
                shot = shot.model_copy(update={"lineage": shot.lineage + 1})
            new.append(shot.model_copy(update={"index": i}))
        plan = self.plan.model_copy(update={"shots": new, "music": self.music, "end_card": self.end_card})
        plan.check_duration(duration_s)
        return plan, rerender

    def refit(self, shots: list[Shot], duration_s: float) -> list[Shot]:
        """Pinned (trimmed) shots keep their length; the others share the rest in proportion."""
        free_total = round(duration_s - self.end_card.seconds - sum(self.pinned.values()), 6)
        free = [n for n in self.order if n not in self.pinned]
        if not free and abs(free_total) > 1e-6:
            raise PlanError(f"the trimmed shots last {sum(self.pinned.values()):g} s but the shots must fill "
                            f"{duration_s - self.end_card.seconds:g} s; leave one shot untrimmed")
        if free_total < len(free) * MIN_SHOT_SECONDS - 1e-9:
            raise PlanError(f"after the trim only {max(free_total, 0):g} s remain for {len(free)} other shot(s); "
                            f"each needs at least {MIN_SHOT_SECONDS} s")
        seconds = dict(self.pinned)
        if free:
            # fit_durations shares what is above the minimum, so weigh by each shot's share above it
            old = [self.shots[n].seconds for n in free]
            want = [free_total * o / sum(old) for o in old]
            lengths = fit_durations([max(w - MIN_SHOT_SECONDS, 1e-6) for w in want], free_total, MIN_SHOT_SECONDS,
                                    step=0.01)
            seconds |= dict(zip(free, lengths, strict=True))
        return [s.model_copy(update={"seconds": seconds[n]}) for n, s in zip(self.order, shots, strict=True)]


# 2. Telling the person ----------------------------------------------------------------------


def restate(text: str, old: str, new: str) -> str | None:
    """`text` with the phrase `old` (any case, whole words) replaced by `new`; None if `old` is not in it."""
    if not old.strip() or not text:
        return None
    pattern = re.compile(rf"(?<!\w){re.escape(old.strip())}(?!\w)", re.I)
    return pattern.sub(lambda _: new, text) if pattern.search(text) else None


def restate_cta(text: str, old: str, new: str) -> str | None:
    """A line that states the old call to action, stating the new one: a line that is the call to
    action (any case, end punctuation aside), or one that contains it, when it is a phrase of 2+ words
    (a one-word call to action inside a sentence is too likely to be some other use of the word)."""
    bare = text.strip().rstrip(".!").strip()
    if bare and bare.casefold() == old.strip().rstrip(".!").strip().casefold():
        return text.replace(bare, new.strip().rstrip(".!").strip()) if bare != text.strip() else new
    return restate(text, old, new) if len(old.split()) >= 2 else None


def describe_edits(ops: list[EditOp]) -> str:
    """One line per operation, for the confirmation prompt."""
    return "\n".join(f"- {_describe(op)}" for op in ops)


def _describe(op: Any) -> str:
    match op:
        case RerenderShot(shot=n, prompt=p, seed=s):
            bits = [f'prompt "{p}"' if p else "", f"seed {s}" if s is not None else ""]
            return f"re-render shot {n}" + (f" with {' and '.join(b for b in bits if b)}" if p or s is not None
                                            else " with a new take")
        case SetCaption(shot=n, text=t):
            return f'caption of shot {n}: "{t}"' if t else f"remove the caption of shot {n}"
        case SetMusicMood(mood=m):
            return f"music mood: {m}"
        case ReorderShots(order=o):
            return f"new shot order: {', '.join(map(str, o))}"
        case TrimShot(shot=n, seconds=s):
            return f"shot {n} lasts {s:g} s (the other shots absorb the difference)"
        case DropShot(shot=n):
            return f"drop shot {n} (the other shots absorb its time)"
        case SetCallToAction(text=t):
            return f'call to action: "{t}"'
        case AdjustShot(shot=n, instruction=i):
            return f'revise shot {n}: "{i}"'
    return str(op)


def plan_diff(old: Plan, new: Plan) -> list[str]:
    """What changed between two plans, in words (shots matched by uid, else by description)."""
    lines: list[str] = []
    key = lambda s: s.uid or s.description  # noqa: E731
    before = {key(s): s for s in old.shots}
    after = {key(s): s for s in new.shots}
    for k, s in before.items():
        if k not in after:
            lines.append(f"shot {s.index + 1} ({s.description}) removed")
    for s in new.shots:
        prev = before.get(key(s))
        if prev is None:
            lines.append(f"shot {s.index + 1} ({s.description}) added")
            continue
        lines += _shot_diff(prev, s)
    if [key(s) for s in old.shots if key(s) in after] != [key(s) for s in new.shots if key(s) in before]:
        lines.append("shot order: " + ", ".join(str(old.shots.index(before[key(s)]) + 1) for s in new.shots
                                                if key(s) in before))
    if old.music.mood != new.music.mood:
        lines.append(f"music mood: {old.music.mood} -> {new.music.mood}")
    if old.music.prompt != new.music.prompt:
        lines.append(f'music prompt: "{old.music.prompt}" -> "{new.music.prompt}"')
    if old.end_card.call_to_action != new.end_card.call_to_action:
        lines.append(f'call to action: "{old.end_card.call_to_action}" -> "{new.end_card.call_to_action}"')
    return lines


def _shot_diff(a: Shot, b: Shot) -> list[str]:
    name = f"shot {b.index + 1}" + (f" (was {a.index + 1})" if a.index != b.index else "")
    out = []
    if a.prompt != b.prompt:
        out.append(f'{name} prompt: "{a.prompt}" -> "{b.prompt}"')
    if a.negative_prompt != b.negative_prompt:
        out.append(f'{name} negative prompt: "{a.negative_prompt}" -> "{b.negative_prompt}"')
    if a.caption != b.caption:
        out.append(f'{name} caption: "{a.caption}" -> "{b.caption}"')
    if a.voice_line != b.voice_line:
        out.append(f'{name} voice line: "{a.voice_line}" -> "{b.voice_line}"')
    if abs(a.seconds - b.seconds) > 1e-9:
        out.append(f"{name} length: {a.seconds:g} s -> {b.seconds:g} s")
    if (a.seed, a.seed_offset) != (b.seed, b.seed_offset):
        out.append(f"{name} seed: {a.seed + a.seed_offset} -> {b.seed + b.seed_offset}")
    return out
