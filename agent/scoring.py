"""The spine's side of scoring: decode takes, score them once, pick winners, find weak shots.

Scores and CLIP embeddings are cached beside the media file under a signature of the scoring
configuration and CLIP model, so re-scoring a cached take (or a resumed run) costs nothing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from agent.context import RunContext
from agent.plan import Plan, Shot
from generators.media import read_frames

# Weight-free metrics run on frames scaled down to this (CLIP resizes to 224 anyway).
SCORING_MAX_SIDE = 320


def scoring_config(ctx: RunContext):
    from evaluators.scorecard import ScoringConfig

    s = ctx.brief.scoring
    return ScoringConfig.from_brief_parts(
        s.weights, s.thresholds, s.frames_per_take, ctx.brief.refine.threshold
    )


def _signature(ctx: RunContext, config: Any) -> str:
    blob = json.dumps([config.model_dump(mode="json"), ctx.choices.clip_model, ctx.brief.scoring.clip_dtype],
                      sort_keys=True)  # fmt: skip
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def score_take_row(ctx: RunContext, take: dict, prompt: str, config: Any) -> dict:
    """Score one video take (from the score cache when possible) and save it in the store."""
    from evaluators.scorecard import TakeScore, score_take

    sig = _signature(ctx, config)
    media = Path(take["path"])
    score_file = media.with_name(f"{media.stem}.score-{sig}.json")
    embeds_file = media.with_name(f"{media.stem}.clip-{sig}.npy")
    if score_file.exists():
        score = TakeScore.model_validate_json(score_file.read_text())
    else:
        frames = read_frames(media, max_side=SCORING_MAX_SIDE)
        embedder, reason = ctx.embedder()
        score, embeds = score_take(
            frames, prompt=prompt, palette=ctx.brief.brand.palette, config=config,
            embedder=embedder, embedder_reason=reason, reference_embed=reference_embed(ctx),
            native_indices=(take.get("metadata") or {}).get("native_frames"),
        )  # fmt: skip
        if embeds is not None:
            np.save(embeds_file, embeds)
        score_file.write_text(score.model_dump_json())
    ctx.store.save_score(take["id"], score.metrics, score.not_computed, score.composite)
    if embeds_file.exists():
        ctx.store.update("takes", take["id"], embeds_path=str(embeds_file))
    return {"metrics": score.metrics, "not_computed": score.not_computed, "composite": score.composite}


def reference_embed(ctx: RunContext) -> np.ndarray | None:
    """The CLIP embedding of the brief's product reference image, if there is one and CLIP."""
    path = ctx.brief.product.reference_image
    embedder, _ = ctx.embedder()
    if path is None or embedder is None:
        return None
    from PIL import Image

    image = np.asarray(Image.open(path).convert("RGB"))
    return embedder.embed_images(image[None])[0]


def candidates(ctx: RunContext, plan: Plan, shot: Shot, fmt: str) -> list[dict]:
    """Finished takes that may stand for this shot in this format (same shot, current lineage)."""
    rows = ctx.store.rows(
        "takes",
        "run_id = ? and kind = 'video' and plan_key = ? and shot_uid = ? and format = ? and lineage = ? "
        "and status = 'done'",
        [ctx.run_id, plan.key, shot.uid, fmt, shot.lineage],
        order_by="created_at",
    )
    return [r for r in rows if r["path"] and Path(r["path"]).exists()]


def choose_takes(ctx: RunContext, plan: Plan, fmt: str) -> tuple[list[dict], list[dict]]:
    """The best-scoring take per shot and its score, scoring any take not yet scored."""
    config = scoring_config(ctx)
    chosen, scores = [], []
    for shot in plan.shots:
        best = None
        for take in candidates(ctx, plan, shot, fmt):
            score = ctx.store.score(take["id"]) or score_take_row(ctx, take, shot.prompt, config)
            if best is None or score["composite"] > best[1]["composite"]:
                best = (take, score)
        if best is None:
            raise RuntimeError(f"no finished take for shot {shot.index} of {plan.key} in {fmt}")
        chosen.append(best[0])
        scores.append(best[1])
    return chosen, scores


def cut_card(ctx: RunContext, plan: Plan, fmt: str) -> tuple[dict, list[dict]]:
    """The scorecard of one cut from its chosen takes, and the chosen take rows."""
    from evaluators.scorecard import TakeScore, cut_scorecard

    config = scoring_config(ctx)
    chosen, scores = choose_takes(ctx, plan, fmt)
    takes = [TakeScore.model_validate(s) for s in scores]
    embeds = [np.load(t["embeds_path"]) if t.get("embeds_path") else None for t in chosen]
    card = cut_scorecard(takes, embeds, config)
    for entry, take in zip(card["shots"], chosen, strict=True):
        entry["take"] = take["id"]
        entry["seed"] = take["seed"]
        entry["backend"] = take["backend"]
    return card, chosen


def weak_shots(ctx: RunContext, plans: dict[str, Plan], limit: int) -> list[dict]:
    """Weak shots across every cut, lowest first, one entry per (plan, shot)."""
    from evaluators.scorecard import revise_feedback, weakest_shots

    config = scoring_config(ctx)
    found: dict[tuple[str, str], dict] = {}
    for plan in plans.values():
        for fmt in ctx.brief.formats.aspect_ratios:
            card, _ = cut_card(ctx, plan, fmt)
            for weak in weakest_shots(card, config, limit=len(plan.shots)):
                uid = plan.shots[weak.shot].uid
                entry = {"plan_key": plan.key, "shot": weak.shot, "uid": uid, "format": fmt,
                         "metric": weak.metric, "value": weak.value, "threshold": weak.threshold,
                         "reason": weak.reason, "feedback": revise_feedback(weak)}  # fmt: skip
                key = (plan.key, uid)
                if key not in found or entry["value"] < found[key]["value"]:
                    found[key] = entry
    return sorted(found.values(), key=lambda e: e["value"] - e["threshold"])[:limit]
