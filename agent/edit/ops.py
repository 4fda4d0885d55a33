"""Typed edit operations for the chat-driven refine loop, and how they change a plan.

Shots in edit operations are numbered from 1, as people say them ("shot 3"), and every number in
one message refers to the plan as it was before the message. `apply_edits` returns the edited plan
and the 0-based `Shot.index` values (in the new plan) of the shots that must be rendered again.

The command grammar that works without an LLM is `GRAMMAR` (see `parse_command`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from agent.brief import MIN_SHOT_SECONDS
from agent.errors import PlanError
from agent.llm import LLMClient, LLMSettings, render_prompt
from agent.plan import Plan, Shot, fit_durations

GRAMMAR = """\
    shot 3: <prompt>          new prompt for shot 3
    shot 3 seed 7             render shot 3 with seed 7
    rerender shot 3           a fresh take of shot 3
    shot 3 <instruction>      free instruction, e.g. "shot 3 darker" (becomes a prompt revision)
    caption 2: <text>         on-screen caption of shot 2 ("caption 2:" alone clears it)
    music: <mood>             music mood
    drop shot 2               remove shot 2
    trim shot 1 to 2.5        shot 1 lasts 2.5 s; the other shots absorb the difference
    order 3,1,2               new shot order (shots left out keep their order after these)
    cta: <text>               call to action on the end card
  (several at once: separate them with ";" or new lines)"""


LLM_TEXT_CHARS = 120


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


# 1. The command grammar --------------------------------------------------------------------

_NUM = r"(\d+)"
_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], _Op]]] = [
    (re.compile(rf"shot\s+{_NUM}\s*:\s*(.+)", re.I | re.S), lambda m: RerenderShot(shot=int(m[1]), prompt=m[2].strip())),
    (re.compile(rf"shot\s+{_NUM}\s+seed\s+{_NUM}", re.I), lambda m: RerenderShot(shot=int(m[1]), seed=int(m[2]))),
    (re.compile(rf"re-?render\s+shot\s+{_NUM}", re.I), lambda m: RerenderShot(shot=int(m[1]))),
    (re.compile(rf"caption\s+{_NUM}\s*:\s*(.*)", re.I | re.S), lambda m: SetCaption(shot=int(m[1]), text=m[2].strip())),
    (re.compile(r"music\s*:\s*(.+)", re.I), lambda m: SetMusicMood(mood=m[1].strip())),
    (re.compile(rf"drop\s+shot\s+{_NUM}", re.I), lambda m: DropShot(shot=int(m[1]))),
    (re.compile(rf"trim\s+shot\s+{_NUM}\s+to\s+(\d+(?:\.\d+)?)\s*s?", re.I),
     lambda m: TrimShot(shot=int(m[1]), seconds=float(m[2]))),
    (re.compile(r"order\s*:?\s*(\d+(?:\s*,\s*\d+)*)", re.I),
     lambda m: ReorderShots(order=[int(x) for x in m[1].split(",")])),
    (re.compile(r"cta\s*:\s*(.+)", re.I | re.S), lambda m: SetCallToAction(text=m[1].strip())),
    (re.compile(rf"shot\s+{_NUM}\s+(.+)", re.I | re.S), lambda m: AdjustShot(shot=int(m[1]), instruction=m[2].strip())),
]


def parse_command(message: str) -> list[EditOp]:
    """Edit operations from the command grammar; anything else is a PlanError listing the grammar."""
    ops: list[EditOp] = []
    for part in filter(None, (p.strip() for p in re.split(r"[;\n]", message))):
        ops.append(_parse_one(part))
    if not ops:
        raise PlanError(f"no edit given; commands are:\n{GRAMMAR}")
    return ops


def _parse_one(text: str) -> Any:
    for pattern, build in _RULES:
        if match := pattern.fullmatch(text):
            try:
                return build(match)
            except ValueError as exc:  # pydantic ValidationError is a ValueError
                raise PlanError(f"'{text}': {_first_error(exc)}") from None
    raise PlanError(f"cannot understand '{text}'; commands are:\n{GRAMMAR}")


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        err = errors()[0]
        return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
    return str(exc)


# 2. Understanding free text with an LLM ----------------------------------------------------


def _llm_edit_model(n_shots: int) -> type[BaseModel]:
    """EditList with shot numbers bounded by the plan (in the schema, so servers enforce them)."""
    shot = (int, Field(json_schema_extra={"minimum": 1, "maximum": n_shots}))
    bounded = Annotated[str, Field(json_schema_extra={"maxLength": LLM_TEXT_CHARS})]
    text = (bounded, ...)
    variants = [
        create_model("LLMRerender", op=(Literal["rerender"], ...), shot=shot, prompt=(bounded | None, ...),
                     seed=(Annotated[int, Field(json_schema_extra={"minimum": 0, "maximum": 2**31 - 1})] | None, ...)),
        create_model("LLMCaption", op=(Literal["caption"], ...), shot=shot, text=text),
        create_model("LLMMusic", op=(Literal["music"], ...), mood=text),
        create_model("LLMOrder", op=(Literal["order"], ...),
                     order=(list[Annotated[int, Field(json_schema_extra={"minimum": 1, "maximum": n_shots})]],
                            Field(json_schema_extra={"minItems": 1, "maxItems": n_shots}))),
        create_model("LLMTrim", op=(Literal["trim"], ...), shot=shot, seconds=(float, ...)),
        create_model("LLMDrop", op=(Literal["drop"], ...), shot=shot),
        create_model("LLMCta", op=(Literal["cta"], ...), text=text),
        create_model("LLMAdjust", op=(Literal["adjust"], ...), shot=shot, instruction=text),
    ]
    union = variants[0]
    for v in variants[1:]:
        union = union | v  # type: ignore[assignment, operator]
    return create_model("LLMEdits", ops=(list[union], Field(json_schema_extra={"minItems": 1, "maxItems": 8})))


def parse_with_llm(message: str, plan: Plan, client_opts: Mapping[str, Any] | BaseModel | None = None,
                   env: Mapping[str, str] | None = None) -> list[EditOp]:
    """Edit operations from free text, via the LLM endpoint's structured output (same path as planning)."""
    opts = client_opts.model_dump() if isinstance(client_opts, BaseModel) else dict(client_opts or {})
    settings = LLMSettings.model_validate({k: v for k, v in opts.items() if k in LLMSettings.model_fields})
    client = LLMClient(settings, os.environ if env is None else env)
    shots = "\n".join(f"{i + 1}. [{s.seconds:g} s] {s.description}: {s.prompt[:160]}"
                      f"{f' (caption: {s.caption})' if s.caption else ''}" for i, s in enumerate(plan.shots))
    messages = [
        {"role": "system", "content": render_prompt("edits_system")},
        {"role": "user", "content": render_prompt("edits_user", shots=shots, music=plan.music.mood,
                                                  cta=plan.end_card.call_to_action, message=message)},
    ]
    answer = client.ask(messages, _llm_edit_model(len(plan.shots)))
    return _ops_from_llm(answer.ops, len(plan.shots))


def _ops_from_llm(raw: list[Any], n_shots: int) -> list[EditOp]:
    """Typed ops from what the model said, repaired where the intent is clear, invalid ones left out."""
    ops: list[EditOp] = []
    for item in raw:
        data = item.model_dump()
        if "shot" in data and not 1 <= data["shot"] <= n_shots:
            continue
        if data["op"] == "trim":
            data["seconds"] = max(MIN_SHOT_SECONDS, data["seconds"]) if math.isfinite(data["seconds"]) else None
        if data.get("seed") is not None:
            data["seed"] %= 2**31
        if data["op"] == "order":
            data["order"] = [n for n in dict.fromkeys(data["order"]) if 1 <= n <= n_shots]
        for key in ("text", "mood", "instruction", "prompt"):
            if isinstance(data.get(key), str):
                data[key] = " ".join(data[key].split())
        try:
            ops.append(EditList.model_validate({"ops": [data]}).ops[0])
        except ValueError:
            continue
    if not ops:
        raise PlanError("the message asked for no edit the plan can take; say e.g. 'shot 2 darker'")
    return ops


# 3. Applying edits -------------------------------------------------------------------------

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
                self.music = self.music.model_copy(update={"mood": mood})
            case SetCallToAction(text=text):
                self.end_card = self.end_card.model_copy(update={"call_to_action": text})
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


# 4. Telling the person ----------------------------------------------------------------------


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
    if abs(a.seconds - b.seconds) > 1e-9:
        out.append(f"{name} length: {a.seconds:g} s -> {b.seconds:g} s")
    if (a.seed, a.seed_offset) != (b.seed, b.seed_offset):
        out.append(f"{name} seed: {a.seed + a.seed_offset} -> {b.seed + b.seed_offset}")
    return out
