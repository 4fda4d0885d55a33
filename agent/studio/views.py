"""What the studio shows, read from the store: a run (in `run --json`'s shape, plus progress, takes,
versions, variants, edits and approvals) and the list of runs. Nothing here is kept in memory, so a
reloaded page, a second browser and a restarted studio all read the same state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.edit.ops import plan_diff
from agent.plan import Plan
from agent.runner import summary
from agent.store import Store, cut_id
from agent.studio.security import media_url
from agent.studio.worker import CONFIRMED, FAILED, QUEUED
from agent.workspace import Workspace

STAGES = ("plan", "render", "score", "assemble")
LIST_KEYS = ("id", "status", "profile", "planner", "brief_path", "created_at")


def list_runs(workspace: Workspace, limit: int = 50) -> list[dict[str, Any]]:
    """Recent runs as `runs ls --json` lists them, with the studio's queued ones (not begun yet) first."""
    store = workspace.store
    rows = [{k: r[k] for k in LIST_KEYS} for r in store.runs(limit)]
    waiting = store.rows("events", "kind = ? and run_id not in (select id from runs)", [QUEUED], order_by="id desc")
    early = [{"id": e["run_id"], "status": _early_status(store, e["run_id"]), "profile": None, "planner": None,
              "brief_path": e["data"].get("name"), "created_at": e["ts"]} for e in waiting]  # fmt: skip
    return (early + rows)[:limit]


def run_view(workspace: Workspace, run_id: str, busy: bool = False) -> dict[str, Any] | None:
    """One run as the studio shows it; None for a run the workspace does not know."""
    store = workspace.store
    row = store.get("runs", run_id)
    events = store.events(run_id)
    if row is None:
        queued = next((e for e in events if e["kind"] == QUEUED), None)
        if queued is None:
            return None
        failed = next((e for e in events if e["kind"] == FAILED), None)
        return {"run_id": run_id, "status": "failed" if failed else "queued", "error": failed and failed["data"]["error"],
                "name": queued["data"].get("name"), "version": 0, "cuts": [], "scorecard": {}, "busy": busy,
                "progress": progress(events), "takes": [], "versions": [], "variants": [], "edits": [], "approved": []}  # fmt: skip
    view = summary(store, run_id)  # the shape of `briefcut run --json`
    root = workspace.root
    view |= {
        "status": row["status"], "error": row["error"], "profile": row["profile"], "busy": busy,
        "name": next((e["data"].get("name") for e in events if e["kind"] == QUEUED), Path(row["brief_path"]).name),
        "progress": progress(events), "takes": takes(store, run_id), "versions": versions(store, run_id, root),
        "variants": variants(store, run_id), "edits": edits(events), "approved": approved(events),
        "notes": [e["data"].get("text") for e in events if e["kind"] in ("note", "warning")][-20:],
    }  # fmt: skip
    latest = next((v for v in view["versions"] if v["version"] == view["version"]), {"cuts": []})
    by_path = {c["path"]: c for c in latest["cuts"]}
    view["cuts"] = [cut | {k: by_path[cut["path"]][k] for k in ("id", "url", "composite")} for cut in view["cuts"]
                    if cut["path"] in by_path]  # fmt: skip
    return view


def _early_status(store: Store, run_id: str) -> str:
    return "failed" if store.rows("events", "run_id = ? and kind = ?", [run_id, FAILED]) else "queued"


# 1. progress, per stage and per take --------------------------------------------------------------
def progress(events: list[dict]) -> dict[str, Any]:
    """Each stage's total and done units from the latest round of progress events, and the stage now."""
    stages: dict[str, dict[str, int]] = {}
    current = None
    for e in events:
        if e["kind"] in ("run_created", "edited"):
            stages, current = {}, None  # a new round: an edit renders and assembles again
        elif e["kind"] == "stage":
            current = e["data"]["stage"]
            stages[current] = {"total": e["data"]["total"], "done": 0}
        elif e["kind"] == "advance" and e["data"]["stage"] in stages:
            stages[e["data"]["stage"]]["done"] += e["data"].get("n", 1)
    stages = {s: v for s, v in stages.items() if v["total"] > 0}  # a stage with nothing to do is not shown
    order = [s for s in STAGES if s in stages] + [s for s in stages if s not in STAGES]
    return {"stage": current, "stages": [{"stage": s, **stages[s]} for s in order],
            "last_event": events[-1]["id"] if events else 0}  # fmt: skip


def takes(store: Store, run_id: str) -> list[dict[str, Any]]:
    """Every take of the run: what it is, its status and its composite once scored."""
    out = []
    for t in store.takes(run_id):
        score = store.score(t["id"]) if t["kind"] == "video" and t["status"] == "done" else None
        out.append({"id": t["id"], "kind": t["kind"], "plan_key": t["plan_key"], "shot": t["shot"],
                    "format": t["format"], "take_no": t["take_no"], "round": t["round"], "status": t["status"],
                    "rendered": bool(t["rendered"]), "reason": t["reason"],
                    "composite": score and score["composite"]})  # fmt: skip
    return out


# 2. the cuts: versions, variants -----------------------------------------------------------------
def versions(store: Store, run_id: str, root: Path) -> list[dict[str, Any]]:
    """Every version of the run's cuts, newest first: media links, scorecards and what changed."""
    by_version: dict[int, dict[str, Any]] = {}
    for c in store.cuts(run_id):
        card = c["scorecard"] or {}
        v = by_version.setdefault(c["version"], {"version": c["version"], "cuts": [], "diff": {}})
        if c["diff"]:
            v["diff"][c["plan_key"]] = c["diff"]
        segment, variant = c["plan_key"].split("/v")
        v["cuts"].append({
            "id": cut_id(run_id, c["plan_key"], c["format"], c["version"]), "plan_key": c["plan_key"],
            "segment": segment, "variant": int(variant), "format": c["format"], "path": c["path"],
            "duration_s": c["duration_s"], "url": media_url(root, c["path"]),
            "poster_url": media_url(root, c["poster"]), "contact_url": media_url(root, c["contact_sheet"]),
            "srt_url": media_url(root, c["srt"]), "composite": (card.get("cut") or {}).get("composite"),
            "weak_shots": [s["shot"] for s in card.get("shots", []) if s.get("weak")], "scorecard": card,
            "warnings": c["warnings"] or [],
        })  # fmt: skip
    return [by_version[v] for v in sorted(by_version, reverse=True)]


def variants(store: Store, run_id: str) -> list[dict[str, Any]]:
    """Per segment, its variants side by side: what each varies from the first, and its latest scores."""
    plans = {k: Plan.model_validate(r["plan"]) for k, r in store.latest_plans(run_id).items()}
    cuts = store.cuts(run_id)
    latest = max((c["version"] for c in cuts), default=0)
    scores: dict[str, dict[str, float | None]] = {}
    for c in cuts:
        if c["version"] == latest:
            scores.setdefault(c["plan_key"], {})[c["format"]] = ((c["scorecard"] or {}).get("cut") or {}).get("composite")
    out: dict[str, list[dict[str, Any]]] = {}
    for key, plan in sorted(plans.items()):
        group = out.setdefault(plan.segment, [])
        first = plans.get(f"{plan.segment}/v0", plan)
        group.append({"plan_key": key, "variant": plan.variant, "scores": scores.get(key, {}),
                      "varies": [] if plan is first else plan_diff(first, plan),
                      "music": plan.music.mood, "shots": len(plan.shots)})  # fmt: skip
    return [{"segment": s, "variants": v} for s, v in out.items()]


# 3. edits and approvals ----------------------------------------------------------------------------
def edits(events: list[dict]) -> list[dict[str, Any]]:
    """The edits proposed in the studio (their dry runs), which were confirmed, and each applied edit."""
    confirmed = {e["data"]["edit_id"] for e in events if e["kind"] == CONFIRMED}
    out = []
    for e in events:
        if e["kind"] == "edit_proposed":
            d = e["data"]
            out.append({"edit_id": d["edit_id"], "message": d["request"]["message"], "dry_run": d["dry_run"],
                        "version": d["version"], "confirmed": d["edit_id"] in confirmed, "ts": e["ts"]})  # fmt: skip
    return out


def approved(events: list[dict]) -> list[str]:
    """The cut ids approved last (an approval replaces the one before)."""
    marks = [e["data"]["cuts"] for e in events if e["kind"] == "approved"]
    return marks[-1] if marks else []
