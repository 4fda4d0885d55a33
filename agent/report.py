"""The HTML review report: one static folder (index.html + media/) that opens from disk.

Every cut plays inline, with its contact sheet, its scorecard (the weakest shots marked), the
plans and prompts it came from and its provenance; a per-segment comparison table and an inline
SVG of score distributions sit on top. Media are hard-linked (or copied) in, paths are relative,
and nothing is fetched from the net. Numbers carry their full value in `data-value`.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from html import escape
from pathlib import Path
from typing import Any

from agent.audience.results import audience_summary
from agent.report_audience import audience_section
from agent.report_checks import checks_html
from agent.report_variants import variants_html
from agent.store import Store
from agent.workspace import Workspace
from generators.atomic import atomic_path, write_text

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:16px 24px;color:#1d1d1f;background:#fafafa}
h1{font-size:24px;margin:8px 0}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;margin:8px 0;background:#fff}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}tr.weak td{background:#fde8e8}tr.weakest td{font-weight:600}
td.best{background:#e3f5e1;font-weight:600}.badge{font-size:11px;padding:1px 6px;border-radius:8px;color:#fff}
.badge.weak{background:#c62828}.badge.weakest{background:#6a1b9a}.badge.failed{background:#c62828}
.cut{background:#fff;border:1px solid #ddd;border-radius:8px;padding:12px;margin:16px 0}
.media{display:flex;gap:16px;flex-wrap:wrap;align-items:flex-start}video{width:360px;max-width:480px;max-height:360px;background:#000}
img.sheet{max-width:640px;border:1px solid #ccc}pre{background:#f3f3f3;padding:8px;overflow:auto;font-size:12px}
.muted{color:#777}svg text{font:11px system-ui,sans-serif}
"""

SCRIPT = """
function recordMedia(){
  const rows=[...document.querySelectorAll('video')].map(v=>({id:v.id,readyState:v.readyState,
    duration:isFinite(v.duration)?v.duration:null,error:v.error?v.error.code:null}));
  document.getElementById('media-status').textContent=JSON.stringify(rows);
}
document.querySelectorAll('video').forEach(v=>{
  v.addEventListener('loadedmetadata',recordMedia);v.addEventListener('loadeddata',recordMedia);
  v.addEventListener('error',recordMedia);
});
recordMedia();
"""


# 1. gathering what the page shows ----------------------------------------------------------------
def write_report(workspace: Workspace, run_ids: list[str], out_dir: Path, title: str) -> Path:
    """Write the report folder for these runs; returns the path of its index.html."""
    store = workspace.store
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = [collect_run(store, run_id, out_dir) for run_id in dict.fromkeys(run_ids)]
    index = out_dir / "index.html"
    write_text(index, render_page(title, runs))
    return index


def collect_run(store: Store, run_id: str, out_dir: Path) -> dict[str, Any]:
    """A run's row, its latest cuts (media linked into the folder, scorecards read) and plans."""
    run = store.run(run_id)
    cuts = store.cuts(run_id)
    latest = max((c["version"] for c in cuts), default=0)
    media = out_dir / "media" / run_id
    return {
        "id": run_id, "status": run["status"], "error": run.get("error"), "brief": Path(run["brief_path"]).name,
        "profile": run["profile"], "planner": run["planner"],
        "cuts": [collect_cut(c, media, out_dir) for c in cuts if c["version"] == latest],
        "plans": {key: row["plan"] for key, row in store.latest_plans(run_id).items()},
        "audience": audience_summary(store, run_id, [s["id"] for s in (run.get("brief") or {}).get("segments", [])],
                                     latest),
    }  # fmt: skip


def collect_cut(row: dict, media: Path, out_dir: Path) -> dict[str, Any]:
    """One cut with relative links to its video, poster and contact sheet, and its scorecard."""
    card = row["scorecard"] or _read_json(Path(row["path"]).with_suffix(".scorecard.json"))
    segment, variant = row["plan_key"].split("/v")
    return {
        "id": f"{row['run_id']}-{Path(row['path']).stem}", "segment": segment, "variant": int(variant),
        "format": row["format"], "duration_s": row["duration_s"], "version": row["version"],
        "video": link_media(row["path"], media, out_dir), "poster": link_media(row["poster"], media, out_dir),
        "contact_sheet": link_media(row["contact_sheet"], media, out_dir),
        "composite": ((card or {}).get("cut") or {}).get("composite"), "card": card or {},
        "provenance": row["provenance"] or (card or {}).get("provenance") or {},
    }  # fmt: skip


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def link_media(src: str | None, media: Path, out_dir: Path) -> str | None:
    """Hard-link (else copy) a file into the report; its path relative to the report folder."""
    if not src or not Path(src).is_file():
        return None
    dst = media / Path(src).name
    with atomic_path(dst) as tmp:
        try:
            os.link(src, tmp)
        except OSError:  # another file system (or a read-only one: the workspace can stay read-only)
            shutil.copyfile(src, tmp)
    return dst.relative_to(out_dir).as_posix()


# 2. the page -------------------------------------------------------------------------------------
def render_page(title: str, runs: list[dict]) -> str:
    """The whole index.html."""
    cuts = [(run, cut) for run in runs for cut in run["cuts"]]
    body = [
        f"<h1>{escape(title)}</h1>",
        f"<p class='muted'>{len(runs)} run(s), {len(cuts)} cut(s); written {time.strftime('%Y-%m-%d %H:%M:%S')}</p>",
        failures_section(runs), "<h2 id='compare'>Per-segment comparison</h2>", compare_table(cuts),
        variants_html(runs, cuts),
        "<h2 id='audience'>Audience panel (a heuristic)</h2>", audience_section(runs),
        "<h2 id='distributions'>Score distributions</h2>", distribution_svg(cuts),
        "<h2 id='cuts'>Cuts</h2>", *[cut_section(run, cut) for run, cut in cuts],
        "<h2 id='plans'>Plans and prompts</h2>", *[plans_section(run) for run in runs],
        "<h2>Media status</h2><pre id='media-status'>[]</pre>",
    ]  # fmt: skip
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>\n"
        + "\n".join(body)
        + f"\n<script>{SCRIPT}</script></body></html>\n"
    )


def num(value: Any, cut: str, metric: str, shot: int | None = None, css: str = "num") -> str:
    """A number cell: three decimals shown, the full value in data-value, '—' when not computed."""
    attrs = f"data-cut='{escape(cut)}' data-metric='{escape(metric)}'"
    attrs += f" data-shot='{shot}'" if shot is not None else ""
    if not isinstance(value, (int, float)):
        return f"<td class='{css}' {attrs} data-value=''>—</td>"
    return f"<td class='{css}' {attrs} data-value='{float(value)!r}'>{value:.3f}</td>"


def failures_section(runs: list[dict]) -> str:
    failed = [r for r in runs if r["status"] != "done"]
    if not failed:
        return ""
    items = "".join(f"<li><b>{escape(r['brief'])}</b> run {escape(r['id'])}: <span class='badge failed'>"
                    f"{escape(r['status'])}</span> {escape(r['error'] or '')}</li>" for r in failed)  # fmt: skip
    return f"<h2 id='failures'>Runs that did not finish</h2><ul>{items}</ul>"


def compare_table(cuts: list[tuple[dict, dict]]) -> str:
    """Composite per brief / segment / variant / format; the best variant of each segment and format marked."""
    best: dict[tuple, float] = {}
    for run, cut in cuts:
        key = (run["brief"], cut["segment"], cut["format"])
        if isinstance(cut["composite"], (int, float)):
            best[key] = max(best.get(key, float("-inf")), cut["composite"])
    rows = []
    for run, cut in sorted(cuts, key=lambda rc: (rc[0]["brief"], rc[1]["segment"], rc[1]["format"], rc[1]["variant"])):
        is_best = best.get((run["brief"], cut["segment"], cut["format"])) == cut["composite"]
        weak = [s["shot"] + 1 for s in cut["card"].get("shots", []) if s.get("weak")]
        rows.append(
            f"<tr><td>{escape(run['brief'])}</td><td>{escape(cut['segment'])}</td><td>v{cut['variant']}</td>"
            f"<td>{escape(cut['format'])}</td>{num(cut['composite'], cut['id'], 'composite', css='num best' if is_best else 'num')}"
            f"<td>{', '.join(map(str, weak)) or '—'}</td><td><a href='#{escape(cut['id'])}'>view</a></td></tr>"
        )  # fmt: skip
    head = "<tr><th>brief</th><th>segment</th><th>variant</th><th>format</th><th>composite</th><th>weak shots</th><th></th></tr>"
    return f"<table class='compare'>{head}{''.join(rows)}</table>"


def distribution_svg(cuts: list[tuple[dict, dict]], width: int = 900) -> str:
    """A strip plot per metric (one dot per shot, 0..1) and one for the cut composites, as inline SVG."""
    series: dict[str, list[float]] = {"cut composite": [], "shot composite": []}
    for _, cut in cuts:
        if isinstance(cut["composite"], (int, float)):
            series["cut composite"].append(cut["composite"])
        for shot in cut["card"].get("shots", []):
            if isinstance(shot.get("composite"), (int, float)):
                series["shot composite"].append(shot["composite"])
            for metric, value in (shot.get("metrics") or {}).items():
                if isinstance(value, (int, float)):
                    series.setdefault(metric, []).append(value)
    series = {k: v for k, v in series.items() if v}
    left, row_h, plot_w = 170, 26, width - 200
    parts = [f"<svg id='score-plot' xmlns='http://www.w3.org/2000/svg' width='{width}' "
             f"height='{row_h * len(series) + 40}' role='img' aria-label='score distributions'>"]  # fmt: skip
    for tick in range(0, 11, 2):
        x = left + plot_w * tick / 10
        parts.append(f"<line x1='{x}' y1='10' x2='{x}' y2='{row_h * len(series) + 14}' stroke='#e0e0e0'/>"
                     f"<text x='{x - 8}' y='{row_h * len(series) + 30}'>{tick / 10:.1f}</text>")  # fmt: skip
    for i, (metric, values) in enumerate(series.items()):
        y = 24 + i * row_h
        parts.append(f"<text x='4' y='{y + 4}'>{escape(metric)} (n={len(values)})</text>")
        mean = sum(values) / len(values)
        parts.append(f"<line x1='{left + plot_w * _unit(mean):.1f}' x2='{left + plot_w * _unit(mean):.1f}' "
                     f"y1='{y - 9}' y2='{y + 9}' stroke='#222' stroke-width='2'/>")  # fmt: skip
        for v in values:
            parts.append(f"<circle class='dot' data-metric='{escape(metric)}' cx='{left + plot_w * _unit(v):.1f}' "
                         f"cy='{y}' r='4' fill='#1565c0' fill-opacity='0.55'><title>{v:.3f}</title></circle>")  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def _unit(v: float) -> float:
    return min(1.0, max(0.0, float(v)))


def cut_section(run: dict, cut: dict) -> str:
    """One cut: the video, its contact sheet, its scorecard and its provenance."""
    video = (f"<video id='v-{escape(cut['id'])}' controls preload='metadata' src='{escape(cut['video'])}'"
             + (f" poster='{escape(cut['poster'])}'" if cut["poster"] else "") + "></video>") if cut["video"] else \
        "<p class='muted'>video file missing</p>"  # fmt: skip
    sheet = f"<img class='sheet' alt='contact sheet' src='{escape(cut['contact_sheet'])}'>" if cut["contact_sheet"] else ""
    cut_card = cut["card"].get("cut") or {}
    return (
        f"<div class='cut' id='{escape(cut['id'])}'><h3>{escape(run['brief'])} · {escape(cut['segment'])} · "
        f"v{cut['variant']} · {escape(cut['format'])} <span class='muted'>run {escape(run['id'])}, "
        f"version {cut['version']}, {cut['duration_s']:.2f} s</span></h3>"
        f"<div class='media'>{video}{sheet}</div>"
        f"<table class='cutscore'><tr><th>composite</th>{num(cut['composite'], cut['id'], 'composite')}"
        f"<th>cross-shot consistency</th>{num(cut_card.get('cross_shot_consistency'), cut['id'], 'cross_shot_consistency')}</tr></table>"
        f"{warnings_list(cut_card.get('warnings'))}{checks_html(cut['card'])}"
        f"{scorecard_table(cut)}<details><summary>provenance</summary><pre>"
        f"{escape(json.dumps(cut['provenance'], indent=2, default=str))}</pre></details></div>"
    )  # fmt: skip


def warnings_list(warnings: list[dict] | None) -> str:
    """The cut's warnings (a sound that fell back, non-commercial weights, a voice line cut short)."""
    if not warnings:
        return ""
    items = "".join(f"<li data-kind='{escape(str(w.get('kind')))}'>"
                    f"{'shot ' + str(w['shot'] + 1) + ': ' if isinstance(w.get('shot'), int) else ''}"
                    f"{escape(str(w.get('kind')))}: {escape(str(w.get('detail')))}</li>" for w in warnings)
    return f"<ul class='warnings'>{items}</ul>"


def scorecard_table(cut: dict) -> str:
    """Per-shot metrics; shots under threshold are marked weak, the lowest composite as weakest."""
    shots = cut["card"].get("shots", [])
    if not shots:
        return "<p class='muted'>no scorecard</p>"
    metrics = [m for m in shots[0].get("metrics", {}) if any(isinstance(s["metrics"].get(m), (int, float)) for s in shots)]
    scored = [s for s in shots if isinstance(s.get("composite"), (int, float))]
    weakest = min(scored, key=lambda s: s["composite"])["shot"] if scored else None
    head = "<tr><th>shot</th><th>composite</th>" + "".join(f"<th>{escape(m)}</th>" for m in metrics) + "<th>notes</th></tr>"
    rows = []
    for s in shots:
        marks = ("<span class='badge weak'>weak</span> " if s.get("weak") else "") + (
            "<span class='badge weakest'>weakest</span> " if s["shot"] == weakest else "")  # fmt: skip
        css = " ".join(c for c, on in (("weak", s.get("weak")), ("weakest", s["shot"] == weakest)) if on)
        cells = "".join(num(s["metrics"].get(m), cut["id"], m, s["shot"]) for m in metrics)
        reasons = "; ".join(map(str, s.get("reasons") or []))
        rows.append(f"<tr class='{css}' data-shot='{s['shot']}'><td>{marks}{s['shot'] + 1}</td>"
                    f"{num(s.get('composite'), cut['id'], 'shot_composite', s['shot'])}{cells}"
                    f"<td>{escape(reasons)}</td></tr>")  # fmt: skip
    return f"<table class='scorecard'>{head}{''.join(rows)}</table>"


def plans_section(run: dict) -> str:
    """Every plan of a run: its shots with prompts, music and end card."""
    parts = [f"<h3>{escape(run['brief'])} — run {escape(run['id'])} <span class='muted'>"
             f"({escape(run['profile'])}, planner {escape(run['planner'])})</span></h3>"]  # fmt: skip
    for key, plan in sorted(run["plans"].items()):
        head = "<tr><th>#</th><th>role</th><th>s</th><th>camera</th><th>prompt</th><th>negative</th><th>caption</th><th>voice line</th></tr>"
        rows = "".join(
            f"<tr><td>{s['index']}</td><td>{escape(str(s.get('role', '')))}</td><td>{s['seconds']:.2f}</td>"
            f"<td>{escape(str(s.get('camera', '')))}</td><td>{escape(s['prompt'])}</td>"
            f"<td>{escape(s.get('negative_prompt', ''))}</td><td>{escape(s.get('caption', ''))}</td>"
            f"<td>{escape(s.get('voice_line', ''))}</td></tr>"
            for s in plan.get("shots", [])
        )  # fmt: skip
        music = plan.get("music") or {}
        end = plan.get("end_card") or {}
        parts.append(f"<h4>{escape(key)}</h4><table class='plan'>{head}{rows}</table><p class='muted'>music: "
                     f"{escape(music.get('prompt') or music.get('mood') or '')} · end card: "
                     f"{escape(end.get('headline', ''))} — {escape(end.get('call_to_action', ''))}</p>")  # fmt: skip
    return "".join(parts)


def report_for(workspace: Workspace, ident: str, out_dir: Path | None = None) -> Path:
    """Write the report of a batch (its runs) or of one run; returns the index.html path."""
    store = workspace.store
    if store.get("batches", ident) is not None:
        jobs = store.rows("batch_jobs", "batch_id = ?", [ident], order_by="position")
        runs = [j["run_id"] for j in jobs if j["run_id"] and store.get("runs", j["run_id"])]
        return write_report(workspace, runs, out_dir or workspace.root / "batches" / ident, f"Batch {ident}")
    store.run(ident)  # RunNotFound names the id
    return write_report(workspace, [ident], out_dir or workspace.root / "reports" / ident, f"Run {ident}")
