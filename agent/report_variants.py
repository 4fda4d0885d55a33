"""The report's side-by-side view of a segment's variants: what each one varies, and how it scored.

One table per brief and segment with more than one variant: a column per variant, a row per declared
axis (the hook angle and line, the call-to-action wording, the music mood, the camera set, the beat
order, as the plan recorded them), then the opening caption, the end card and the best composite.
"""

from __future__ import annotations

from html import escape
from typing import Any

AXES = ("hook", "cta", "music", "camera", "order")


def variants_html(runs: list[dict], cuts: list[tuple[dict, dict]]) -> str:
    """Every segment's variants side by side (empty when no segment has more than one)."""
    groups: dict[tuple[str, str], dict[int, dict]] = {}
    for run in runs:
        for plan in run["plans"].values():
            groups.setdefault((run["brief"], plan["segment"]), {})[plan.get("variant", 0)] = plan
    best: dict[tuple[str, str, int], float] = {}
    for run, cut in cuts:
        key = (run["brief"], cut["segment"], cut["variant"])
        if isinstance(cut["composite"], (int, float)):
            best[key] = max(best.get(key, float("-inf")), cut["composite"])
    tables = [_table(brief, segment, plans, best) for (brief, segment), plans in sorted(groups.items())
              if len(plans) > 1]
    if not tables:
        return ""
    return "<h2 id='variants'>Variants side by side</h2>" + "".join(tables)


def _table(brief: str, segment: str, plans: dict[int, dict], best: dict) -> str:
    order = sorted(plans)
    axes = [a for a in AXES if any(a in (plans[v].get("varies") or {}) for v in order)]
    head = "<tr><th></th>" + "".join(f"<th>v{v}</th>" for v in order) + "</tr>"
    rows = [_row(axis, [(plans[v].get("varies") or {}).get(axis, "—") for v in order], f"axis-{axis}")
            for axis in axes]
    rows.append(_row("opening caption", [_first_caption(plans[v]) for v in order], "opening"))
    rows.append(_row("end card", [_end_card(plans[v]) for v in order], "end-card"))
    rows.append(_row("music mood", [(plans[v].get("music") or {}).get("mood", "") for v in order], "mood"))
    scores = [best.get((brief, segment, v)) for v in order]
    rows.append("<tr class='composite'><th>best composite</th>" + "".join(
        f"<td class='num' data-value='{s!r}'>{s:.3f}</td>" if isinstance(s, float) else "<td>—</td>" for s in scores)
        + "</tr>")  # fmt: skip
    return (f"<h3>{escape(brief)} · {escape(segment)}</h3><table class='variants' data-segment='{escape(segment)}'>"
            f"{head}{''.join(rows)}</table>")


def _row(label: str, values: list[Any], css: str) -> str:
    cells = "".join(f"<td>{escape(str(v))}</td>" for v in values)
    return f"<tr class='{css}'><th>{escape(label)}</th>{cells}</tr>"


def _first_caption(plan: dict) -> str:
    return next((s.get("caption", "") for s in plan.get("shots", []) if s.get("caption")), "")


def _end_card(plan: dict) -> str:
    end = plan.get("end_card") or {}
    return f"{end.get('headline', '')} — {end.get('call_to_action', '')}"
