"""The report's view of a cut's checks: compliance (pass or fail, and why), the ad-effectiveness checks
(value against threshold, with the source) and loudness as delivered.

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
    parts.append(ad_checks_table(card.get("checks") or []))
    loud = (card.get("cut") or {}).get("loudness") or {}
    if loud.get("passes"):
        last = loud["passes"][-1]
        parts.append(f"<p class='muted'>loudness as delivered: {last['integrated_lufs']} LUFS (target "
                     f"{loud['target_lufs']:g}), true peak {last['true_peak_dbtp']} dBTP, "
                     f"{len(loud['passes'])} encode(s)</p>")
    return "".join(parts)


def ad_checks_table(checks: list[dict]) -> str:
    """The ad-effectiveness checks: pass or fail, the value against its threshold, why, and the source."""
    rows = []
    for c in checks:
        if c.get("kind") != "ad":
            continue
        verdict = {True: "pass", False: "fail", None: "not checked"}[c.get("pass")]
        value = "-" if c.get("value") is None else f"{c['value']:g}{c.get('unit') or ''}"
        limit = f"{c.get('op', '')} {c['threshold']:g}{c.get('unit') or ''}" if c.get("threshold") is not None else ""
        badge = " class='badge failed'" if c.get("pass") is False else ""
        rows.append(f"<tr data-check='{escape(c['name'])}'><td>{escape(c['name'])}</td><td><span{badge}>{verdict}</span></td>"
                    f"<td class='num'>{escape(value)}</td><td>{escape(limit)}</td><td>{escape(c.get('detail', ''))}</td>"
                    f"<td class='muted'>{escape(c.get('source', ''))}</td></tr>")  # fmt: skip
    if not rows:
        return ""
    head = "<tr><th>ad check</th><th></th><th>value</th><th>threshold</th><th>why</th><th>source</th></tr>"
    return f"<table class='adchecks'>{head}{''.join(rows)}</table>"
