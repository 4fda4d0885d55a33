"""The report's view of a cut's checks: compliance (pass or fail, and why) and loudness as delivered.

(The cut's warnings have their own list in agent.report.)"""

from __future__ import annotations

from html import escape


def checks_html(card: dict) -> str:
    """A short block for one cut: the compliance check and the loudness as delivered."""
    parts = []
    check = card.get("compliance")
    if check:
        status = check["status"]
        why = "".join(f"<li>{escape(r)}</li>" for r in check.get("reasons", []))
        parts.append(f"<p class='compliance {status}'>compliance: <span class='badge {'failed' if status == 'fail' else ''}'>"
                     f"{escape(status)}</span> ({escape(check.get('mode', 'strict'))})</p>" + (f"<ul>{why}</ul>" if why else ""))
    loud = (card.get("cut") or {}).get("loudness") or {}
    if loud.get("passes"):
        last = loud["passes"][-1]
        parts.append(f"<p class='muted'>loudness as delivered: {last['integrated_lufs']} LUFS (target "
                     f"{loud['target_lufs']:g}), true peak {last['true_peak_dbtp']} dBTP, "
                     f"{len(loud['passes'])} encode(s)</p>")
    return "".join(parts)
