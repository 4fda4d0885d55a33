"""The edit parser that needs no LLM: what people type, not only the command grammar.

A message is split into parts at ";" and new lines; each part is matched, whole, against a short list
of phrasings. Shots can be named as people name them: "shot 3", "the second shot", "3rd scene", "shot
three", "the last shot" (when the plan's length is known). A part that matches nothing is answered with
the closest phrasings, not the whole list; "help" gives the whole list.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable
from typing import Any

from agent.edit.ops import (
    AdjustShot,
    DropShot,
    EditOp,
    ReorderShots,
    RerenderShot,
    SetCallToAction,
    SetCaption,
    SetMusicMood,
    TrimShot,
)
from agent.errors import BriefcutError, PlanError

GRAMMAR = """\
    shot 3: <prompt>              new prompt for shot 3
    make the second shot darker   a free instruction (becomes a prompt revision); also "shot 3 darker"
    rerender shot 3               a fresh take of shot 3 ("redo the last shot")
    shot 3 seed 7                 render shot 3 with seed 7
    caption 2: <text>             on-screen caption of shot 2 ("remove the caption of shot 2" clears it)
    make the music calm           music mood (also "music: calm")
    change the CTA to <text>      call to action on the end card (also "cta: <text>")
    drop shot 2                   remove shot 2; the other shots absorb its time
    trim shot 1 to 2.5            shot 1 lasts 2.5 s; the other shots absorb the difference
    swap 2 and 3                  exchange two shots
    order 3,1,2                   new shot order (shots left out keep their order after these)
    move shot 4 before shot 2     also "put shot 3 first", "move shot 1 to the end"
  several at once: separate them with ";" or new lines. Shots: "shot 3", "the third shot", "the last shot"."""

# What an unreadable part is compared with, to suggest the closest phrasings.
EXAMPLES = [
    "shot 2: a runner at dawn", "make shot 2 darker", "make the second shot brighter", "rerender shot 3",
    "redo the last shot", "shot 3 seed 7", "caption 2: Fresh taste", "remove the caption of shot 2",
    "make the music calm", "music: calm piano", "change the cta to Shop now", "cta: Shop now",
    "drop shot 2", "remove the last shot", "trim shot 1 to 2.5", "make shot 1 3 seconds", "swap 2 and 3",
    "order 3,1,2", "move shot 4 before shot 2", "put shot 3 first", "help",
]  # fmt: skip
KEYWORDS = {
    "music": ["make the music calm", "music: calm piano"], "song": ["make the music calm"],
    "caption": ["caption 2: Fresh taste", "remove the caption of shot 2"], "text": ["caption 2: Fresh taste"],
    "cta": ["change the cta to Shop now"], "call": ["change the cta to Shop now"],
    "button": ["change the cta to Shop now"], "swap": ["swap 2 and 3"], "order": ["order 3,1,2"],
    "move": ["move shot 4 before shot 2"], "seed": ["shot 3 seed 7"], "trim": ["trim shot 1 to 2.5"],
    "shorter": ["trim shot 1 to 2.5"], "longer": ["trim shot 1 to 2.5"], "seconds": ["make shot 1 3 seconds"],
    "remove": ["drop shot 2"], "delete": ["drop shot 2"], "drop": ["drop shot 2"], "again": ["rerender shot 3"],
    "redo": ["rerender shot 3"], "prompt": ["shot 2: a runner at dawn"],
}  # fmt: skip

ORDINALS = {w: i + 1 for i, w in enumerate(
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth".split())} | {"opening": 1}
NUMBERS = {w: i + 1 for i, w in enumerate("one two three four five six seven eight nine ten eleven twelve".split())}
LAST = ("last", "final", "closing")
_WORD = "|".join([*ORDINALS, *NUMBERS, *LAST])
_NOUN = r"(?:shot|scene|clip)s?"
# A shot named with its noun ("shot 3", "the 2nd scene", "the last shot") ...
REF = (rf"(?:the\s+)?(?:(?:\d+(?:st|nd|rd|th)|{_WORD})\s+{_NOUN}"
       rf"|{_NOUN}\s+(?:number\s+|no\.?\s*|#\s*)?(?:\d+|{_WORD}))")  # fmt: skip
# ... or, where the verb can only mean a shot, a bare number or ordinal ("swap 2 and 3", "drop the last").
NREF = rf"(?:{REF}|(?:the\s+)?(?:\d+(?:st|nd|rd|th)?|{_WORD}))"
SECONDS = r"(\d+(?:\.\d+)?)\s*(?:s|secs?|seconds?)?(?:\s+long)?"
CTA = r"(?:the\s+)?(?:cta|call[\s-]+to[\s-]+action)(?:\s+(?:text|wording|line|button|copy))?"
# Every shot at once ("make everything darker", "remove all captions").
EVERY = r"(?:everything|all(?:\s+of)?\s+(?:the\s+)?(?:shots|scenes|clips)|every\s+(?:shot|scene|clip)|the\s+whole\s+(?:cut|video|ad|spot))"
MUSIC = r"(?:the\s+)?(?:music|soundtrack|song|track|music\s+bed)"


class NotUnderstood(PlanError):
    """A part of a message that no phrasing matches (an LLM, where configured, may still read it)."""


class HelpRequested(BriefcutError):
    """The person asked what they can say; the message is the list of phrasings."""

    exit_code = 0


def parse_edit(message: str, n_shots: int | None = None) -> list[EditOp]:
    """Edit operations from a message. `n_shots` (the plan's length, when every targeted plan has the
    same) lets "the last shot" be understood. Unreadable parts are a PlanError with suggestions."""
    raw = [p.strip() for p in re.split(r"[;\n]", message)]
    if any(HELP.fullmatch(p) for p in raw):
        raise HelpRequested(f"what you can say:\n{GRAMMAR}")
    parts = [p for p in map(_tidy, raw) if p]
    if not parts:
        raise NotUnderstood("no edit given; say e.g. 'make shot 2 darker' (or 'help' for every phrasing)")
    return [op for part in parts for op in _parse_part(part, n_shots)]


def _tidy(text: str) -> str:
    """One line, single spaces, no politeness or closing punctuation around the edit."""
    text = " ".join(text.split())
    for _ in range(3):
        text = POLITE_HEAD.sub("", text)
        text = POLITE_TAIL.sub("", text).strip()
    return text


POLITE_HEAD = re.compile(r"^(?:please|pls|ok(?:ay)?|and|also|then|now|can you|could you|would you|"
                         r"i(?:'d| would) like (?:you )?to|i want (?:you )?to|let'?s)[\s,]+", re.I)  # fmt: skip
POLITE_TAIL = re.compile(r"(?:[\s,]+(?:please|pls|thanks|thank you)!?)?[\s.?]*$", re.I)
HELP = re.compile(r"(?:help(?:\s+me)?|\?+|commands|what can i (?:say|do|type)|how does (?:this|it) work)[\s?!.]*", re.I)


def _parse_part(text: str, n_shots: int | None) -> list[EditOp]:
    for pattern, build in RULES:
        if match := _compiled(pattern).fullmatch(text):
            try:
                made = build(_Match(match, n_shots))
                return made if isinstance(made, list) else [made]
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                raise PlanError(f"'{text}': {_first_error(exc)}") from None
    raise NotUnderstood(f"cannot understand '{text}'; try {suggest(text)} (or 'help' for every phrasing)")


class _Match:
    """A rule's match, with its groups read as shot numbers, seconds or text."""

    def __init__(self, match: re.Match[str], n_shots: int | None) -> None:
        self.match, self.n_shots = match, n_shots

    def shot(self, group: int) -> int:
        return shot_number(self.match[group], self.n_shots)

    def text(self, group: int) -> str:
        return _unquote(self.match[group] or "")

    def number(self, group: int) -> float:
        return float(self.match[group])


def shot_number(ref: str, n_shots: int | None) -> int:
    """The 1-based shot number a reference names: "3", "shot 3", "the third shot", "shot three", "last"."""
    for token in reversed(re.findall(r"\d+|[a-z]+", ref.lower())):
        if token.isdigit():
            return int(token)
        if token in ORDINALS or token in NUMBERS:
            return ORDINALS.get(token) or NUMBERS[token]
        if token in LAST:
            if n_shots is None:
                raise PlanError(f"'{ref}': the plans differ in length; name the shot by its number")
            return n_shots
    raise PlanError(f"'{ref}' names no shot")


def _unquote(text: str) -> str:
    text = text.strip()
    for a, b in ('""', "''", "“”", "‘’", "«»"):
        if len(text) >= 2 and text[0] == a and text[-1] == b:
            return text[1:-1].strip()
    return text


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        err = errors()[0]
        return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
    return str(exc)


def suggest(text: str, n: int = 3) -> str:
    """The phrasings closest to `text`: by the words it uses, then by spelling."""
    words = re.findall(r"[a-z]+", text.lower())
    picks = [ex for w in words for ex in KEYWORDS.get(w, [])]
    for w in words:  # a misspelt keyword ("musik", "captoin") still finds its phrasings
        for close in difflib.get_close_matches(w, list(KEYWORDS), n=1, cutoff=0.75):
            picks += KEYWORDS[close]
    picks += difflib.get_close_matches(text.lower(), EXAMPLES, n=n, cutoff=0.0)
    chosen = list(dict.fromkeys(picks))[:n]
    return ", ".join(f'"{c}"' for c in chosen)


# The phrasings, most specific first; each is matched against the whole part, ignoring case. ---------
def _order_moving(m: _Match, moved: int, anchor: int, after: bool) -> ReorderShots:
    """Shot `moved` placed just before (or after) shot `anchor`; the shots up to both keep their order."""
    rest = [n for n in range(1, max(moved, anchor) + 1) if n != moved]
    at = rest.index(anchor) + (1 if after else 0) if anchor in rest else len(rest)
    return ReorderShots(order=[*rest[:at], moved, *rest[at:]])


def _every(m: _Match, make: Callable[[int], EditOp]) -> list[EditOp]:
    """One operation per shot of the plan."""
    if m.n_shots is None:
        raise PlanError("the plans differ in length; name the shots by number")
    return [make(n) for n in range(1, m.n_shots + 1)]


def _to_end(m: _Match, moved: int) -> ReorderShots:
    if m.n_shots is None:
        raise PlanError("the plans differ in length; give the whole order instead, e.g. 'order 2,3,1'")
    return ReorderShots(order=[*(n for n in range(1, m.n_shots + 1) if n != moved), moved])


def _swap(a: int, b: int) -> ReorderShots:
    order = list(range(1, max(a, b) + 1))
    if a == b:
        raise PlanError(f"swap needs two different shots (got shot {a} twice)")
    order[a - 1], order[b - 1] = b, a
    return ReorderShots(order=order)


def _mood(text: str) -> SetMusicMood:
    mood = re.sub(r"^(?:more|a\s+bit|a\s+little|to|be|sound)\s+|\s+(?:instead|music)$", "", text.strip(), flags=re.I)
    return SetMusicMood(mood=_unquote(mood))


def _rule(pattern: str, build: Callable[[_Match], Any]) -> tuple[str, Callable[[_Match], Any]]:
    return pattern, build


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """A rule's pattern, compiled when a message first reaches it (compiling them all was most of an edit's
    parsing, and a message stops at the first rule that reads it)."""
    return re.compile(pattern, re.I | re.S)


_SET = r"(?:set|change|make|update|replace|switch|turn)"
_SAY = r"(?:to|with|say|read|into|:|should\s+(?:say|read|be))"
RULES = [
    # order
    _rule(rf"(?:swap|switch|exchange|trade)\s+(?:{_NOUN}\s+)?({NREF})\s+(?:and|with|&)\s+({NREF})(?:\s+{_NOUN})?",
          lambda m: _swap(m.shot(1), m.shot(2))),
    _rule(r"(?:re)?order\s*:?\s*(\d+(?:\s*[,\s]\s*\d+)*)",
          lambda m: ReorderShots(order=[int(x) for x in re.split(r"[,\s]+", m.text(1))])),
    _rule(rf"(?:put|move|place)\s+({NREF})\s+(?:first|(?:at|to)\s+the\s+(?:start|beginning|front))",
          lambda m: ReorderShots(order=[m.shot(1)])),
    _rule(rf"(?:put|move|place)\s+({NREF})\s+(?:last|at\s+the\s+end|to\s+the\s+end)", lambda m: _to_end(m, m.shot(1))),
    _rule(rf"(?:put|move|place)\s+({NREF})\s+(before|after|ahead\s+of|behind)\s+({NREF})",
          lambda m: _order_moving(m, m.shot(1), m.shot(3), after=m.text(2).lower() in ("after", "behind"))),
    # seeds, prompts, fresh takes
    _rule(rf"({REF})\s+(?:with\s+|using\s+)?seed\s*:?\s*(\d+)", lambda m: RerenderShot(shot=m.shot(1), seed=int(m.text(2)))),
    _rule(rf"(?:use\s+)?seed\s+(\d+)\s+(?:for|on|in)\s+({NREF})", lambda m: RerenderShot(shot=m.shot(2), seed=int(m.text(1)))),
    _rule(rf"({REF})(?:'s)?(?:\s+prompt)?\s*:\s*(.+)", lambda m: RerenderShot(shot=m.shot(1), prompt=m.text(2))),
    _rule(rf"{_SET}\s+(?:the\s+)?prompt\s+(?:of|for|in)\s+({NREF})\s+{_SAY}\s*(.+)",
          lambda m: RerenderShot(shot=m.shot(1), prompt=m.text(2))),
    _rule(rf"(?:re-?render|redo|re-?do|re-?take|re-?shoot|regenerate|retry|try)\s+({NREF})(?:\s+again)?",
          lambda m: RerenderShot(shot=m.shot(1))),
    _rule(rf"(?:(?:give\s+me\s+|make\s+|try\s+)?(?:another|a\s+new|a\s+fresh|new)\s+(?:take|version|render)\s+(?:of|for)\s+)({NREF})",
          lambda m: RerenderShot(shot=m.shot(1))),
    _rule(rf"({REF})\s+again", lambda m: RerenderShot(shot=m.shot(1))),
    _rule(rf"(?:a\s+)?(?:new|another|different)\s+seed\s+(?:for|on|in)\s+({NREF})", lambda m: RerenderShot(shot=m.shot(1))),
    _rule(rf"replace\s+({REF})\s+with\s+(.+)", lambda m: RerenderShot(shot=m.shot(1), prompt=m.text(2))),
    # captions
    _rule(r"caption\s+(\d+)\s*:\s*(.*)", lambda m: SetCaption(shot=m.shot(1), text=m.text(2))),
    _rule(rf"(?:remove|clear|delete|drop|no)\s+(?:the\s+)?(?:caption|text)\s+(?:of|on|for|from|in)\s+({NREF})",
          lambda m: SetCaption(shot=m.shot(1), text="")),
    _rule(r"(?:remove|clear|delete|drop|no)\s+(?:all\s+(?:the\s+)?|every\s+|the\s+)?captions(?:\s+at\s+all)?",
          lambda m: _every(m, lambda n: SetCaption(shot=n, text=""))),
    _rule(rf"(?:{_SET}\s+)?(?:the\s+)?(?:caption|text)\s+(?:of|on|for|in)\s+({NREF})\s*{_SAY}\s*(.*)",
          lambda m: SetCaption(shot=m.shot(1), text=m.text(2))),
    _rule(rf"({REF})(?:'s)?\s+caption\s*{_SAY}\s*(.*)", lambda m: SetCaption(shot=m.shot(1), text=m.text(2))),
    # the call to action
    _rule(rf"{CTA}\s*:\s*(.+)", lambda m: SetCallToAction(text=m.text(1))),
    _rule(rf"(?:{_SET}\s+)?{CTA}\s+{_SAY}\s*(.+)", lambda m: SetCallToAction(text=m.text(1))),
    _rule(rf"make\s+{CTA}\s+(.+)", lambda m: SetCallToAction(text=m.text(1))),
    # music
    _rule(rf"{MUSIC}\s*:\s*(.+)", lambda m: _mood(m.text(1))),
    _rule(rf"{_SET}\s+{MUSIC}\s+(?:to\s+|into\s+)?(.+)", lambda m: _mood(m.text(1))),
    _rule(rf"{MUSIC}\s+(?:should\s+be|should\s+sound|to\s+be|more)\s+(.+)", lambda m: _mood(m.text(1))),
    _rule(r"(?:use|try|play|i\s+want|give\s+me)\s+(?:some\s+)?(.+?)\s+music(?:\s+instead)?", lambda m: _mood(m.text(1))),
    # timing
    _rule(rf"(?:trim|shorten|lengthen|extend|cut|make|set)\s+({NREF})\s+(?:to\s+|down\s+to\s+|up\s+to\s+)?{SECONDS}",
          lambda m: TrimShot(shot=m.shot(1), seconds=m.number(2))),
    _rule(rf"({REF})\s+(?:should\s+(?:be|last)|lasts?|for)\s+{SECONDS}", lambda m: TrimShot(shot=m.shot(1), seconds=m.number(2))),
    _rule(rf"(?:drop|remove|delete|cut|lose|skip|get\s+rid\s+of)\s+({NREF})", lambda m: DropShot(shot=m.shot(1))),
    # a free instruction for one shot, or for every shot (revised by the planner)
    _rule(rf"(?:make\s+|have\s+)?{EVERY}\s+(?:look\s+|feel\s+|be\s+)?(.+)",
          lambda m: _every(m, lambda n: AdjustShot(shot=n, instruction=m.text(1)))),
    _rule(rf"(?:i(?:'d|\s+would)\s+like|i\s+want)\s+({REF})\s+(?:to\s+)?(?:be\s+|look\s+|feel\s+)?(.+)",
          lambda m: AdjustShot(shot=m.shot(1), instruction=m.text(2))),
    _rule(rf"(?:change|turn)\s+({REF})\s+(?:to|into)\s+(.+)", lambda m: AdjustShot(shot=m.shot(1), instruction=m.text(2))),
    _rule(rf"(?:make|have|let)\s+({REF})\s+(?:look\s+|feel\s+|be\s+)?(.+)", lambda m: AdjustShot(shot=m.shot(1), instruction=m.text(2))),
    _rule(rf"(?:in|for|on)\s+({REF})\s*,?\s*(.+)", lambda m: AdjustShot(shot=m.shot(1), instruction=m.text(2))),
    _rule(rf"({REF})\s+(?:should|needs\s+to|must)\s+(?:be\s+|look\s+|feel\s+)?(.+)",
          lambda m: AdjustShot(shot=m.shot(1), instruction=m.text(2))),
    _rule(rf"({REF})(?:\s*[,\u2013\u2014-]\s*|\s+)(.+)", lambda m: AdjustShot(shot=m.shot(1), instruction=m.text(2))),
    # a mood said before the word music ("calmer music")
    _rule(r"(?:a\s+|some\s+)?(.+?)\s+music", lambda m: _mood(m.text(1))),
]  # fmt: skip
