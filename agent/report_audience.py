"""The report's audience section: per segment, the persona panel's ranking with intervals and reasons.

Labelled a heuristic on the page, as everywhere: an LLM playing personas is not people."""

from __future__ import annotations

from html import escape
from typing import Any


def audience_section(runs: list[dict]) -> str:
    """Every run's segments: the ranking table, or why the panel was not computed."""
    parts = ["<p class='muted'>Simulated viewers (LLM personas) per segment watched a description of each variant "
             "and rated their intent to act (1-7). A heuristic, not people: check it against real results "
             "with <code>briefcut audience calibrate RESULTS.csv</code>.</p>"]  # fmt: skip
    for run in runs:
        for segment, result in (run.get("audience") or {}).items():
            parts.append(f"<h3 class='audience' data-segment='{escape(segment)}'>{escape(run['brief'])} · "
                         f"{escape(segment)} <span class='muted'>run {escape(run['id'])}</span></h3>")  # fmt: skip
            parts.append(ranking_table(result) if result.get("computed") else
                         f"<p class='muted not-computed'>not computed: {escape(str(result.get('reason')))}</p>")  # fmt: skip
    return "".join(parts)


def _interval(m: dict[str, Any] | None, digits: int = 2) -> str:
    if not m or m.get("mean") is None:
        return "<td class='num'>-</td>"
    return (f"<td class='num' data-value='{m['mean']}'>{m['mean']:.{digits}f} "
            f"<span class='muted'>[{m['low']:.{digits}f}, {m['high']:.{digits}f}]</span></td>")


def ranking_table(result: dict[str, Any]) -> str:
    """Variants best first: intent with its interval, the other measures, what varies, the top reasons."""
    head = ("<tr><th>variant</th><th>intent to act (1-7)</th><th>relevance (1-7)</th><th>watched</th>"
            "<th>brand recalled</th><th>answers</th><th>varies</th><th>top reasons (what to change)</th></tr>")
    rows = []
    for row in result.get("ranking", []):
        best = " class='best'" if row["variant"] == result.get("winner") else ""
        varies = "<br>".join(escape(v) for v in row.get("varies") or []) or "-"
        reasons = "".join(f"<li>{escape(r)}</li>" for r in row.get("reasons") or [])
        rows.append(f"<tr data-variant='{escape(row['variant'])}'><td{best}>{escape(row['variant'])}</td>"
                    f"{_interval(row)}{_interval(row.get('relevance'))}{_interval(row.get('watch_share'))}"
                    f"{_interval(row.get('brand_recall'))}<td class='num'>{row.get('answers', 0)}</td>"
                    f"<td class='muted'>{varies}</td><td><ul>{reasons}</ul></td></tr>")  # fmt: skip
    personas = ", ".join(escape(p["name"]) for p in result.get("personas", []))
    return (f"<p class='verdict'>{escape(str(result.get('verdict')))}</p><table class='audience'>{head}{''.join(rows)}"
            f"</table><p class='muted'>personas ({escape(str((result.get('personas') or [{}])[0].get('from', '')))}): "
            f"{personas}; {result.get('samples')} sample(s) each; {result.get('failed_answers', 0)} answer(s) failed</p>")
