"""Copy that obeys the brief: must-avoid terms found in any script, on-screen requirements, the check.

A term matches as a whole word, ignoring case and compatibility forms (NFKC + casefold): its ends
may not touch a letter or digit of the surrounding word. Scripts written without spaces between
words (Chinese, Japanese, Thai, Lao, Khmer, Myanmar) have no word edges to test, so there a term
matches wherever it occurs. The brief's `must_avoid` applies to every segment; a segment's
`overrides.must_avoid` adds its own terms (the union is checked).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generators.text import spaceless


def normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _wordish(ch: str) -> bool:
    return ch.isalnum() or unicodedata.category(ch) in ("Mn", "Mc", "Pc")


def _edge_ok(text: str, j: int, inner: str) -> bool:
    """True where position j (just outside a match) is not part of the same word."""
    if j < 0 or j >= len(text):
        return True
    return not _wordish(text[j]) or spaceless(text[j]) or spaceless(inner)


def contains_term(text: str, term: str) -> bool:
    """Whether `term` occurs in `text` as a whole word (any case; anywhere in spaceless scripts)."""
    hay, needle = normal(text), normal(term).strip()
    if not needle:
        return False
    start = 0
    while (i := hay.find(needle, start)) >= 0:
        if _edge_ok(hay, i - 1, needle[0]) and _edge_ok(hay, i + len(needle), needle[-1]):
            return True
        start = i + 1
    return False


def found_terms(text: str, terms: list[str]) -> list[str]:
    """The terms of `terms` that `text` contains."""
    return [t for t in terms if contains_term(text, t)]


# 1. The brief's own copy ----------------------------------------------------------------------


@dataclass
class Violation:
    """A must-avoid term in a piece of copy: which field, which term, and from which list."""

    loc: tuple
    term: str
    source: str

    @property
    def field(self) -> str:
        out = ""
        for part in self.loc:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return out


def screen_lines(items: list[Any]) -> list[str]:
    """The must-include items that are text to show on screen (`{on_screen: ...}` entries)."""
    return [i.on_screen for i in items if not isinstance(i, str)]


def prompt_items(items: list[Any]) -> list[str]:
    """The must-include items that describe what the pictures show (plain strings)."""
    return [i for i in items if isinstance(i, str)]


def avoid_terms(brief: Any, segment: Any) -> list[str]:
    """Every must-avoid term for a segment: the brief's and the segment's own."""
    return list(dict.fromkeys([*brief.must_avoid, *(segment.overrides.must_avoid or [])]))


def segment_screen_lines(brief: Any, segment: Any) -> list[str]:
    """On-screen lines every cut of a segment must show: the brief's and the segment's own."""
    return list(dict.fromkeys([*screen_lines(brief.must_include), *screen_lines(segment.overrides.must_include or [])]))


def brief_copy(brief: Any) -> list[tuple[tuple, str, list[int]]]:
    """(field location, text, indexes of the segments that show it) for all copy the brief writes."""
    every = list(range(len(brief.segments)))
    own = lambda field: [i for i, s in enumerate(brief.segments) if getattr(s.overrides, field) is None]  # noqa: E731
    out = [(("brand", "name"), brief.brand.name, every), (("product", "name"), brief.product.name, every),
           (("message",), brief.message, own("message")), (("call_to_action",), brief.call_to_action, own("call_to_action"))]
    out += [(("must_include", k, "on_screen"), item.on_screen, every)
            for k, item in enumerate(brief.must_include) if not isinstance(item, str)]
    for i, seg in enumerate(brief.segments):
        over = seg.overrides
        out += [(("segments", i, "overrides", f), getattr(over, f), [i]) for f in ("message", "call_to_action")
                if getattr(over, f)]
        out += [(("segments", i, "overrides", "must_include", k, "on_screen"), item.on_screen, [i])
                for k, item in enumerate(over.must_include or []) if not isinstance(item, str)]
    return out


def brief_violations(brief: Any) -> list[Violation]:
    """Every must-avoid term in the brief's own copy, checked against the segments that show it."""
    found: list[Violation] = []
    for loc, text, shown_by in brief_copy(brief):
        for term in found_terms(text, list(brief.must_avoid)):
            found.append(Violation(loc, term, "must_avoid"))
        for i in shown_by:
            for term in found_terms(text, list(brief.segments[i].overrides.must_avoid or [])):
                found.append(Violation(loc, term, f"segments[{i}].overrides.must_avoid"))
    return found


def check_brief(brief: Any, path: Path, places: dict[tuple, tuple[int, int]]) -> list[str]:
    """Refuse a brief whose own copy has a must-avoid term (BriefError naming file:line:col, field, term);
    with `compliance: warn`, return the findings as notes instead."""
    from agent.brief_yaml import at as place_of
    from agent.brief_yaml import nearest_place
    from agent.errors import BriefError

    notes = []
    for v in brief_violations(brief):
        at = place_of(path, nearest_place(places, v.loc))
        text = f"{v.field}: contains the must-avoid term '{v.term}' ({v.source})"
        if brief.compliance != "warn":
            raise BriefError(f"{at}: {text}; change the copy, or set `compliance: warn` to allow it")
        notes.append(f"{at}: {text} (compliance: warn)")
    return notes


def brief_notes(brief: Any) -> list[str]:
    """Lines for the run's start: must-avoid terms let through by `compliance: warn`."""
    return [f"{v.field}: contains the must-avoid term '{v.term}' ({v.source}); allowed by compliance: warn"
            for v in brief_violations(brief)]


# 2. A plan's copy and the cut's check ---------------------------------------------------------


def plan_copy(plan: Any) -> list[tuple[str, str]]:
    """(where, text) for every piece of copy a plan shows or speaks."""
    out = []
    for i, shot in enumerate(plan.shots):
        out += [(f"shot {i + 1} {f.replace('_', ' ')}", getattr(shot, f)) for f in ("caption", "voice_line")]
    out += [("end card headline", plan.end_card.headline), ("end card call to action", plan.end_card.call_to_action)]
    return [(where, text) for where, text in out if text]


def plan_violations(plan: Any, terms: list[str]) -> list[str]:
    """One line per must-avoid term found in the plan's copy."""
    return [f"{where}: '{term}' in {text!r}" for where, text in plan_copy(plan) for term in found_terms(text, terms)]


def compliance_check(brief: Any, segment: Any, plan: Any, srt_text: str, notes: list[str] | None = None) -> dict:
    """The scorecard's compliance check for one cut: pass or fail, and why."""
    reasons = [f"must-avoid term in {v}" for v in plan_violations(plan, avoid_terms(brief, segment))]
    shown = "".join(normal(srt_text).split())  # lines broken anywhere still match
    for line in segment_screen_lines(brief, segment):
        if "".join(normal(line).split()) not in shown:
            reasons.append(f"on-screen requirement missing from the cut: {line!r}")
    checked = {"must_avoid": avoid_terms(brief, segment), "on_screen": segment_screen_lines(brief, segment)}
    return {"status": "fail" if reasons else "pass", "reasons": reasons, "notes": list(notes or []),
            "checked": checked, "mode": brief.compliance}
