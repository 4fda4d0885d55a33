"""The panel's place in a run: after assembly, once per segment and cut version, stored, never faked.

Idempotent like every node: a segment whose panel is stored for this version is not asked again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.audience.panel import panel_client, segment_panel
from agent.audience.rendition import image_part
from agent.audience.results import audience_summary, not_computed
from agent.context import RunContext
from agent.errors import EndpointError
from agent.jobs import load_plans


def why_not(ctx: RunContext) -> str | None:
    """Why the panel does not run for this run (None: it runs)."""
    mode = ctx.brief.audience.panel
    if mode == "off":
        return "the brief turns the panel off (audience.panel: off)"
    if mode == "auto" and not (ctx.settings.llm_configured or ctx.choices.planner.backend == "openai"):
        return ("no LLM endpoint is configured: set OPENAI_BASE_URL (and BRIEFCUT_LLM_MODEL) to an "
                "OpenAI-compatible server, or audience.panel: on to use OpenAI's API with OPENAI_API_KEY")  # fmt: skip
    return None


def run_audience(ctx: RunContext, version: int, retry: bool = False) -> dict[str, dict]:
    """Each segment's panel result for this cut version, computed where none is stored (with `retry`, also
    where it was not computed, e.g. before an endpoint was configured)."""
    stored = ctx.store.audience(ctx.run_id, version)
    todo = [s for s in ctx.brief.segments if s.id not in stored or (retry and not stored[s.id].get("computed"))]
    if not todo:
        return stored
    reason = why_not(ctx)
    plans = load_plans(ctx)
    per_segment = {s.id: sorted((p for p in plans.values() if p.segment == s.id), key=lambda p: p.variant) for s in todo}
    asks = sum(len(v) for v in per_segment.values()) * _personas_asked(ctx) * ctx.brief.audience.samples
    ctx.progress.begin("audience", 0 if reason else asks)
    for segment in todo:
        result = not_computed(reason) if reason else _segment(ctx, segment, per_segment[segment.id], version)
        ctx.store.save_audience(ctx.run_id, segment.id, version, result)
        stored[segment.id] = result
    ctx.store.event(ctx.run_id, "audience", {"version": version, "computed": [k for k, v in stored.items() if v.get("computed")]})
    return stored


def _personas_asked(ctx: RunContext) -> int:
    given = ctx.brief.audience.personas
    return max([len(v) for v in given.values()] + [ctx.brief.audience.personas_per_segment])


def _segment(ctx: RunContext, segment: Any, plans: list, version: int) -> dict[str, Any]:
    planner = ctx.choices.planner
    options = planner.options if planner.backend == "openai" else {}
    images = _contact_sheets(ctx, plans, version) if ctx.brief.audience.images else None
    tick = lambda: ctx.progress.advance("audience")  # noqa: E731
    try:
        client = panel_client(ctx.brief, options, ctx.settings.environ)
        try:
            result = segment_panel(client, ctx.brief, segment, plans, images, tick=tick)
        except EndpointError as exc:
            if not images:
                raise
            ctx.progress.warn(f"audience panel for {segment.id}: the endpoint refused images ({exc}); text only")
            result = segment_panel(client, ctx.brief, segment, plans, None, tick=tick) | {"images": f"refused: {exc}"}
        if result.get("computed"):
            result["endpoint"] = client.describe()
        return result
    except EndpointError as exc:
        ctx.progress.warn(f"audience panel for {segment.id}: not computed: {exc}")
        return not_computed(str(exc))
    except Exception as exc:  # a heuristic add-on never fails a run whose cuts are delivered
        ctx.progress.warn(f"audience panel for {segment.id}: failed: {type(exc).__name__}: {exc}")
        return not_computed(f"the panel failed: {type(exc).__name__}: {exc}")


def _contact_sheets(ctx: RunContext, plans: list, version: int) -> dict[str, dict]:
    """Each plan's contact sheet (the first format's cut of this version) as an image part."""
    fmt = ctx.brief.formats.aspect_ratios[0]
    rows = {(c["plan_key"], c["format"]): c for c in ctx.store.cuts(ctx.run_id) if c["version"] == version}
    out = {}
    for plan in plans:
        row = rows.get((plan.key, fmt))
        part = image_part(Path(row["contact_sheet"])) if row and row.get("contact_sheet") else None
        if part:
            out[plan.key] = part
    return out


def audience_for_run(workspace: Any, run_id: str, again: bool = False, progress: Any = None) -> dict[str, Any]:
    """The panel on a stored run's latest cut version (computed where it was not, or all with `again`)."""
    from agent.runner import open_run

    ctx = open_run(run_id, workspace, progress)
    version = max((c["version"] for c in ctx.store.cuts(run_id)), default=0)
    if version == 0:
        from agent.errors import RunNotFound

        raise RunNotFound(f"run {run_id} has no cuts yet; finish it first (briefcut resume {run_id})")
    if again:
        for segment in ctx.brief.segments:
            ctx.store.save_audience(run_id, segment.id, version, not_computed("asked again"))
    run_audience(ctx, version, retry=True)
    segments = [s.id for s in ctx.brief.segments]
    return {"run_id": run_id, "version": version, "audience": audience_summary(ctx.store, run_id, segments, version)}


def audience_text(result: dict[str, Any]) -> str:
    """The panel's rankings as a few lines per segment."""
    lines = [f"run {result['run_id']} version {result['version']}: audience panel ({not_computed('')['label']})"]
    for segment, r in result["audience"].items():
        if not r.get("computed"):
            lines.append(f"  {segment}: not computed: {r.get('reason')}")
            continue
        lines.append(f"  {segment}: {r['verdict']}")
        for row in r["ranking"]:
            mean = "-" if row["mean"] is None else f"{row['mean']:.2f} [{row['low']:.2f}, {row['high']:.2f}]"
            lines.append(f"    {row['variant']}: intent {mean}" + (f"; change: {row['reasons'][0]}" if row["reasons"] else ""))
    return "\n".join(lines)
