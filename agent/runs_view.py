"""What `briefcut runs show` prints: a run's cuts, scorecards, plans, takes and events."""

from __future__ import annotations

from typing import Any

from agent.audience.results import audience_summary
from agent.workspace import Workspace


def run_details(workspace: Workspace, run_id: str) -> dict[str, Any]:
    """Everything worth showing about one run, as JSON-able data."""
    store = workspace.store
    run = store.run(run_id)
    takes = store.takes(run_id)
    cuts = store.cuts(run_id)
    return {
        "run_id": run_id,
        "status": run["status"],
        "error": run["error"],
        "profile": run["profile"],
        "planner": run["planner"],
        "choices": run["choices"],
        "brief_path": run["brief_path"],
        "brief_hash": run["brief_hash"],
        "pool_loads": run["pool_loads"],
        "versions": sorted({c["version"] for c in cuts}),
        "plans": [{"key": p["key"], "version": p["version"], "plan": p["plan"]} for p in store.plans(run_id)],
        "takes": {
            "total": len(takes),
            "rendered": sum(1 for t in takes if t["rendered"] and t["status"] == "done"),
            "cached": sum(1 for t in takes if not t["rendered"] and t["status"] == "done"),
            "failed": sum(1 for t in takes if t["status"] == "failed"),
        },
        "cuts": [
            {"id": c["id"], "plan_key": c["plan_key"], "format": c["format"], "version": c["version"], "path": c["path"],
             "duration_s": c["duration_s"], "scorecard": c["scorecard"], "diff": c["diff"]}
            for c in cuts
        ],  # fmt: skip
        "audience": audience_summary(store, run_id, [s["id"] for s in (run.get("brief") or {}).get("segments", [])],
                                     max((c["version"] for c in cuts), default=0)),
        "events": [{"kind": e["kind"], "ts": e["ts"], "data": e["data"]} for e in store.events(run_id)][-30:],
    }


def show_text(details: dict[str, Any]) -> str:
    """A readable report: header, takes, and a score table per cut."""
    t = details["takes"]
    lines = [
        f"run {details['run_id']}  {details['status']}  profile={details['profile']}  planner={details['planner']}",
        f"brief {details['brief_path']}  (hash {details['brief_hash']})",
        f"takes: {t['rendered']} rendered, {t['cached']} from cache, {t['failed']} failed",
    ]
    if details["error"]:
        lines.append(f"error: {details['error']}")
    for cut in details["cuts"]:
        lines += ["", f"{cut['plan_key']} {cut['format']} v{cut['version']}  {cut['duration_s']:.2f} s  {cut['path']}"]
        if cut["diff"]:
            lines += [f"  changed: {d}" for d in cut["diff"]]
        if cut["scorecard"]:
            lines.append(format_table(cut["scorecard"]))
            for w in (cut["scorecard"].get("cut") or {}).get("warnings") or []:
                lines.append(f"  warning: shot {w['shot'] + 1 if isinstance(w.get('shot'), int) else '-'}: {w.get('kind')}: {w.get('detail')}")
            lines += [_check_line(c) for c in cut["scorecard"].get("checks") or []]
    for segment, panel in (details.get("audience") or {}).items():
        lines.append(f"audience {segment}: " + (panel["verdict"] if panel.get("computed") else f"not computed: {panel.get('reason')}"))
    if not details["cuts"]:
        lines.append("no cuts yet" + ("" if details["status"] == "done" else f" (briefcut resume {details['run_id']})"))
    return "\n".join(lines)


# The score table ---------------------------------------------------------------------------------
def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_table(card: dict[str, Any]) -> str:
    """A plain-text table of a stored scorecard (shots numbered from 1, as people say them)."""
    from evaluators.registry import METRICS

    labels = {m.name: m.label for m in METRICS.of_level("shot")}
    seen = {n for s in card["shots"] for n in s["metrics"]}
    names = [n for n in labels if n in seen] + sorted(seen - set(labels))  # a retired metric still shows
    header = ["shot", "score"] + [labels.get(n, n) for n in names] + ["weak"]
    rows = [
        [str(s["shot"] + 1), _cell(s["composite"])] + [_cell(s["metrics"].get(n)) for n in names]
        + ["; ".join(s["reasons"]) if s["weak"] else ""]
        for s in card["shots"]
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in [header, *rows]]
    lines.append(_cut_line(card["cut"]))
    by_reason: dict[str, list[str]] = {}
    for name, why in _not_computed(card).items():
        by_reason.setdefault(why, []).append(name)
    lines += [f"not computed: {', '.join(names)}: {why}" for why, names in by_reason.items()]
    return "\n".join(line.rstrip() for line in lines)


def _cut_line(cut: dict[str, Any]) -> str:
    from evaluators.registry import METRICS

    values = "".join(f", {m.name} {_cell(cut.get(m.name))}" for m in METRICS.of_level("cut"))
    return f"cut: score {cut['composite']:.2f}{values}" + "".join(f"; {r}" for r in cut.get("reasons", []))


def _check_line(check: dict[str, Any]) -> str:
    verdict = {True: "passed", False: "FAILED", None: "not checked"}[check.get("pass")]
    value = f" {check['value']:.2f}{check.get('unit') or ''}" if isinstance(check.get("value"), (int, float)) else ""
    limit = f" (must be {check['op']} {check['threshold']:g})" if check.get("op") and check.get("threshold") is not None else ""
    return f"  check {check['name']}: {verdict}{value}{limit}" + (f": {check['detail']}" if check.get("detail") else "")


def _not_computed(card: dict[str, Any]) -> dict[str, str]:
    """Each metric that was not computed in some shot, with its first reason."""
    out: dict[str, str] = {}
    for shot in card["shots"]:
        for name, why in shot["not_computed"].items():
            out.setdefault(name, why)
    out.update(card["cut"].get("not_computed") or {})
    return out
