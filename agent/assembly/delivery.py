"""Turn a plan's winning takes into delivered cuts: one per format, with scorecard and provenance."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent import __version__
from agent.assembly.formats import dimensions, label
from agent.brief import brief_hash
from agent.compliance import compliance_check, segment_screen_lines
from agent.context import RunContext
from agent.licensing import provenance_licenses
from agent.plan import Plan
from agent.provenance.credentials import seal, signing_key
from agent.render import music_lineage
from agent.store import cut_id
from agent.voices import segment_language
from agent.wording import word
from generators.atomic import write_text
from generators.errors import StorageError

if TYPE_CHECKING:
    from agent.assembly.cut import CutSpec
    from evaluators.scorecard import CutScorecard


def sound_row(ctx: RunContext, kind: str, plan: Plan, uid: str = "", lineage: int = 0) -> dict | None:
    """The newest finished sound take of this kind for a plan (music) or a shot (effect, voice)."""
    rows = ctx.store.rows(
        "takes",
        "run_id = ? and kind = ? and plan_key = ? and shot_uid = ? and lineage = ? and status = 'done'",
        [ctx.run_id, kind, plan.key, uid, lineage],
        order_by="created_at desc",
    )
    return next((row for row in rows if row["path"] and Path(row["path"]).exists()), None)


def sound_take(ctx: RunContext, kind: str, plan: Plan, uid: str = "", lineage: int = 0) -> Path | None:
    """The file of `sound_row`, or None."""
    row = sound_row(ctx, kind, plan, uid, lineage)
    return Path(row["path"]) if row else None


def made_with_warnings(takes: list[dict | None]) -> list[dict]:
    """Warnings about how the takes in a cut were made: a sound that fell back along its chain, and
    weights whose license forbids commercial use (an ad made with them cannot ship)."""
    warnings = []
    for take in takes:
        meta = (take or {}).get("metadata") or {}
        shot = take["shot"] if take and take.get("shot", -1) >= 0 else None
        for failure in meta.get("sound_fallbacks") or []:
            warnings.append({"shot": shot, "kind": "sound_fallback",
                             "detail": f"{take['kind']} made by {take['backend']} after {failure}"})
        if meta.get("missing_glyphs"):
            chars = " ".join(f"{c} (U+{ord(c[0]):04X})" for c in meta["missing_glyphs"][:12])
            warnings.append({"shot": shot, "kind": "missing_glyph", "detail": f"no installed font covers "
                             f"{chars} in the caption the {take['backend']} video sets; install a font for "
                             "them (e.g. the Noto fonts) or set brand.font"})  # fmt: skip
        keyframe = meta.get("keyframe") or {}  # a keyframe-first take: the still's model too
        for what, model, lic in [((take or {}).get("kind"), (take or {}).get("model"), meta.get("license")),
                                 ("keyframe", keyframe.get("model"), keyframe.get("license"))]:
            if lic and lic.get("commercial") is False:
                warnings.append({"shot": shot, "kind": "license", "detail": f"{what} made with {model}: "
                                 f"{lic['name']}, non-commercial use only ({lic['url']})"})
    return warnings


def watermark_key(ctx: RunContext, plan: Plan, fmt: str) -> str:
    """The cut's key in its watermark: the brief (by hash), the plan's segment and variant and the format;
    not the run, so the same brief and seed mark the same frames, and not the version, so every edit of a
    cut carries the same mark (a copy stripped of its credentials still leads to its cut's versions) and
    an edit re-encodes only the segments it changed (agent.assembly.chunks)."""
    from agent.provenance.watermark import cut_key

    return cut_key(json.dumps([brief_hash(ctx.brief), plan.key, fmt], sort_keys=True))


def cut_name(plan: Plan, fmt: str, version: int) -> str:
    suffix = f"_r{version}" if version > 1 else ""
    return f"{plan.segment}_v{plan.variant}_{label(fmt)}{suffix}"


def provenance(ctx: RunContext, plan: Plan, chosen: list[dict]) -> dict[str, Any]:
    """How the cut was made: tool, models, seeds, the brief's hash, each shot's media (by content key);
    plus the AI disclosure. Nothing in it names the run, so the same brief and seed make the same file
    (the run is named beside it: in the scorecard and the store)."""
    return {
        "tool": "briefcut",
        "version": __version__,
        "disclosure": "AI-generated",
        "brief_hash": brief_hash(ctx.brief),
        "profile": ctx.choices.profile,
        "planner": plan.planner,
        "video": [
            {"shot": i, "backend": t["backend"], "model": t["model"], "seed": t["seed"], "media": t["cache_key"],
             "revision": (t.get("metadata") or {}).get("revision")}
            for i, t in enumerate(chosen)
        ],
        "audio": ctx.choices.audio.model_dump(),
        "voice": ctx.choices.voice.model_dump() if ctx.choices.voice else None,
        "clip": ctx.choices.clip.model_dump(),
        **provenance_licenses(ctx.brief, ctx.choices),
    }


def cut_spec(ctx: RunContext, plan: Plan, fmt: str, card: CutScorecard) -> tuple[CutSpec, list[dict | None]]:
    """What assembly makes one cut from (agent.assembly.cut.CutSpec): the takes the scorecard `card` chose,
    the plan's sounds, the brand, the segment's language and lines, the watermark and the encoder; and the
    records of the takes it names (the shots', the music's, each shot's effect or None)."""
    from agent.assembly.cut import CutSpec, encoder_record

    chosen = [ctx.store.get("takes", s.take) for s in card.shots]
    music = sound_row(ctx, "music", plan, lineage=music_lineage(plan))
    effects = [sound_row(ctx, "effect", plan, s.uid, s.lineage) if s.sound else None for s in plan.shots]
    width, height = dimensions(fmt, ctx.brief.formats.resolution)
    key = watermark_key(ctx, plan, fmt) if ctx.brief.watermark else None
    segment = ctx.brief.segment(plan.segment)
    lang = segment_language(ctx.brief, segment)
    spec = CutSpec(
        plan=plan, aspect_ratio=fmt, width=width, height=height, fps=ctx.brief.formats.fps,
        shot_videos=[Path(t["path"]) for t in chosen],
        shot_native=[_native(ctx, t) for t in chosen],
        shot_effects=[Path(e["path"]) if e else None for e in effects],
        shot_voice=[sound_take(ctx, "voice", plan, s.uid, s.lineage) if s.voice_line else None for s in plan.shots],
        shot_draws_caption=[bool((t.get("metadata") or {}).get("draws_caption")) for t in chosen],
        shot_caption_boxes=[(t.get("metadata") or {}).get("caption_box") for t in chosen],
        shot_type_layers=[(t.get("metadata") or {}).get("type_layer") for t in chosen],
        music=Path(music["path"]) if music else None,
        brand_name=ctx.brief.brand.name, palette=ctx.brief.brand.palette,
        logo=ctx.brief.brand.logo, font=ctx.brief.brand.font,
        loudness_lufs=ctx.brief.audio.loudness_lufs,
        language=lang, screen_notes=segment_screen_lines(ctx.brief, segment), disclosure=word("ai_generated", lang),
        provenance=provenance(ctx, plan, chosen) | {"watermark": key},
        watermark=key, preset=ctx.choices.encoder.preset, crf=ctx.choices.encoder.crf,
        shot_scores=[s.metrics | {"composite": s.composite} for s in card.shots],
    )  # fmt: skip
    spec.provenance["encoder"] = encoder_record(spec)  # how the picture is encoded, in every record of the cut
    return spec, [*chosen, music, *effects]


def deliver_cut(ctx: RunContext, plan: Plan, fmt: str, version: int, diff: list[str] | None = None) -> dict:
    """Assemble one cut from the takes its stored scorecard chose, add what assembly had to do to the
    scorecard, write scorecard.json, record the cut in the store; returns the cut row."""
    from agent.assembly.cut_cache import cut_key, kept_ad_checks
    from evaluators.scorecard import CutCheck

    card = ctx.scorer.stored_card(plan, fmt, version)
    spec, takes = cut_spec(ctx, plan, fmt, card)
    segment = ctx.brief.segment(plan.segment)
    base = ctx.out_dir / cut_name(plan, fmt, version)
    entry = ctx.workspace.root / "cut-cache" / cut_key(spec)
    result = cached_or_assembled(ctx, spec, base, entry)
    sealed = seal(result.path, signing_key(ctx.workspace.settings), spec.provenance, diff or [])
    card.cut.warnings = result.warnings + made_with_warnings(takes)
    card.cut.loudness = result.loudness
    for check in kept_ad_checks(spec, result, product_confirmed(card.shots, card.thresholds), entry):
        card.set_check(check)
    card.compliance = compliance_check(ctx.brief, segment, plan, result.srt.read_text(encoding="utf-8"))
    card.set_check(CutCheck(name="compliance", passed=card.compliance["status"] == "pass", source="the brief's "
                            "must_avoid / must_include", kind="compliance", detail="; ".join(card.compliance["reasons"])))
    ctx.store.save_scorecard(ctx.run_id, plan.key, fmt, version, card.model_dump(mode="json"))
    for warning in card.cut.warnings:  # on stderr too, not only in the JSON (a small speed-up is no problem)
        if warning["kind"] != "voice_sped_up":
            ctx.progress.warn(f"{result.path.name}: {warning['detail']}")
    made = {**spec.provenance, "run_id": ctx.run_id, "delivered": sealed}  # how the cut was made, as delivered
    scorecard = {
        "run_id": ctx.run_id, "segment": plan.segment, "variant": plan.variant, "format": fmt,
        "version": version, "path": str(result.path), "duration_s": result.duration_s,
        **card.model_dump(mode="json"), "provenance": made,
    }  # fmt: skip
    write_text(base.with_suffix(".scorecard.json"), json.dumps(scorecard, indent=2, default=str))
    row = {
        "id": cut_id(ctx.run_id, plan.key, fmt, version), "run_id": ctx.run_id, "plan_key": plan.key,
        "format": fmt, "version": version, "path": str(result.path), "srt": str(result.srt),
        "poster": str(result.poster), "contact_sheet": str(result.contact_sheet),
        "duration_s": result.duration_s, "provenance": made,
        "warnings": card.cut.warnings, "diff": diff or [], "created_at": time.time(),
    }  # fmt: skip
    ctx.store.write("cuts", row, replace=True)
    return row | {"scorecard": card}


def cached_or_assembled(ctx: RunContext, spec: Any, base: Path, entry: Path) -> Any:
    """The cut from its cut-cache entry (copied, with this run's tags) or assembled now and kept there."""
    from agent.assembly.cut import assemble_cut
    from agent.assembly.cut_cache import keep, restore

    result = restore(spec, entry, base)
    if result is not None:
        ctx.store.event(ctx.run_id, "cut_reused", {"cut": base.name, "entry": entry.name})
        return result
    result = assemble_cut(spec, base, parts=ctx.workspace.root / "cut-cache" / "parts")
    try:
        keep(result, entry)
    except (OSError, StorageError) as exc:  # a cut not kept for reuse costs time later, not this run
        ctx.progress.warn(f"{result.path.name}: not kept in the cut cache ({exc}); it will be assembled again next time")
    return result


def product_confirmed(shots: list, thresholds: dict[str, float]) -> list[bool | None]:
    """Per shot, whether its frames look like the product (CLIP's product consistency over its threshold),
    or None where that was not computed."""
    limit = thresholds.get("product_consistency")
    values = [s.metrics.get("product_consistency") for s in shots]
    return [None if v is None or limit is None else v >= limit for v in values]


def _native(ctx: RunContext, take: dict) -> bool:
    """Whether a take was rendered at its format's aspect ratio (so assembly only scales it)."""
    request = (take.get("metadata") or {}).get("request") or {}
    meta = take.get("metadata") or {}
    w, h = meta.get("width") or request.get("width"), meta.get("height") or request.get("height")
    fw, fh = dimensions(take["format"], ctx.brief.formats.resolution)
    return bool(w and h) and abs(w / h - fw / fh) < 0.02
