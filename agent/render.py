"""Render jobs: build a request, look it up in the media cache, render with retries, record the take.

A take's cache key hashes everything that determines it (backend identity, request, seed), so a
resumed or repeated run renders nothing twice. Take row ids are derived from the job, so a job
that runs again after a crash rewrites the same row instead of adding one.
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agent.assembly.formats import dimensions
from agent.brief import BackendChoice
from agent.context import RunContext
from agent.faults import fault_point
from agent.plan import Plan, Shot, frame_counts
from agent.state import RenderJob
from agent.voices import segment_language, voice_for
from generators.base import VIDEO, AudioTake, ShotRequest, SoundRequest, VideoTake
from generators.errors import TakeFailed
from generators.media import audio_problem, content_key, video_problem

# A video take that fails every seed falls back along this chain (skipping the backend that failed):
# motion graphics from the brand's assets first (a deliverable shot), the storyboard last.
FALLBACK_VIDEO = ("motion", "animatic")
FALLBACK_AUDIO = "synth"
EFFECT_MAX_SECONDS = 2.0


def cache_key(kind: str, identity: dict[str, Any], request: dict[str, Any]) -> str:
    """A content hash of what determines a take."""
    blob = json.dumps({"kind": kind, "identity": identity, "request": request}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


ASSET_FIELDS = ("product_image", "logo", "font")


def keyed_request(request: ShotRequest, ignored: set[str]) -> dict[str, Any]:
    """The request as it enters a cache key: asset files by content digest, not by path, so a
    changed product image renders again and the same image in another folder does not."""
    keyed = request.model_dump(mode="json", exclude=set(ignored) | {"media_dir"})
    for name in ASSET_FIELDS:
        if keyed.get(name):
            keyed[name] = content_key(keyed[name])
    if keyed.get("footage"):
        keyed["footage"] = [content_key(p) for p in keyed["footage"]]
    return keyed


def take_seed(shot: Shot, take_no: int, retry: int = 0) -> int:
    """The seed of one take: the shot's base seed moved by revision, take number and retry."""
    return (shot.seed + 101 * shot.seed_offset + 7 * take_no + 7919 * retry) % 2**31


def music_lineage(plan: Plan) -> int:
    """Music takes are told apart by their mood: a chat edit of the mood makes a new bed."""
    return zlib.crc32(f"{plan.music.mood}|{plan.music.prompt}".encode())


def base_seed(brief_seed: int, variant: int, index: int, segment: str = "") -> int:
    """A shot's first seed: the brief's, moved by variant, position and segment (two segments' cuts
    never share a take, even where their plans read the same)."""
    salt = zlib.crc32(segment.encode()) * 7919 if segment else 0
    return (brief_seed + 1000 * variant + 17 * index + salt) % 2**31


def shot_frames(plan: Plan, shot: Shot, fps: int) -> int:
    """The shot's frame count on the cut's timeline (cumulative rounding, as assembly cuts it)."""
    seconds = [s.seconds for s in plan.shots] + [plan.end_card.seconds]
    return frame_counts(seconds, fps)[plan.shots.index(shot)]


def video_request(ctx: RunContext, plan: Plan, shot: Shot, fmt: str, take_no: int, retry: int = 0,
                  footage: bool = False) -> ShotRequest:  # fmt: skip
    """The request for one take of a shot; `footage`: rank the brand's own footage into it."""
    width, height = dimensions(fmt, ctx.brief.formats.resolution)
    fps = ctx.brief.formats.fps
    position = plan.shots.index(shot)
    before = plan.shots[position - 1].caption.strip() if position > 0 else ""
    return ShotRequest(
        prompt=shot.prompt,
        negative_prompt=shot.negative_prompt,
        # Exactly the frames the shot occupies in the cut, so assembly never stretches a take.
        seconds=shot_frames(plan, shot, fps) / fps,
        fps=fps,
        width=width,
        height=height,
        seed=take_seed(shot, take_no, retry),
        camera=shot.camera,
        title=shot.description,
        palette=ctx.brief.brand.palette,
        shot_index=shot.index,
        lora=[lo.model_dump() for lo in ctx.brief.render.lora],
        role=shot.role,
        shows_product=shot.shows_product,
        product_name=ctx.brief.product.name,
        product_image=ctx.brief.product.reference_image,
        brand_name=ctx.brief.brand.name,
        logo=ctx.brief.brand.logo,
        language=segment_language(ctx.brief, ctx.brief.segment(plan.segment)),
        font=ctx.brief.brand.font,
        caption=shot.caption,
        caption_enters=not shot.caption.strip() or shot.caption.strip() != before,
        **(footage_for(ctx, plan, position, take_no + retry) if footage else {}),
        keyframe=wants_keyframe(ctx.brief.render.keyframes, shot),
        media_dir=ctx.workspace.root / "media",
    )


def footage_for(ctx: RunContext, plan: Plan, position: int, turn: int) -> dict[str, Any]:
    """The shot's ranked footage (another take or retry starts one candidate further along)."""
    ranker = ctx.footage_ranker()
    if ranker is None:
        return {}
    ranked = ranker.assign([f"{s.prompt}. {s.description}" for s in plan.shots])[position]
    k = turn % len(ranked) if ranked else 0
    return {"footage": ranked[k:] + ranked[:k], "footage_ranking": ranker.method}


def wants_keyframe(mode: str, shot: Shot) -> bool:
    """Whether a shot renders keyframe first: `always`, or `auto` for the shots that show the product."""
    return mode == "always" or (mode == "auto" and shot.shows_product)


def video_cached(ctx: RunContext, plan: Plan, shot: Shot, fmt: str, take_no: int) -> bool:
    """Whether a shot's take is in the cache already (a dry run's question: would this render?)."""
    choice = ctx.choices.video
    footage = getattr(VIDEO.get(choice.backend), "uses_footage", False)
    request = video_request(ctx, plan, shot, fmt, take_no, 0, footage)
    identity, ignored = ctx.pool.instance("video", choice.backend, choice.options).cache_identity(request)
    cached = ctx.store.cached_take(cache_key("video", identity, keyed_request(request, ignored)))
    return bool(cached) and usable_media(ctx, cached)


def run_job(ctx: RunContext, plan: Plan, job: RenderJob) -> str:
    """Do one render job (from the cache where possible) and return its take id."""
    take_id = hashlib.sha256(f"{ctx.run_id}|{json.dumps(dict(job), sort_keys=True)}".encode()).hexdigest()[:24]
    existing = ctx.store.get("takes", take_id)
    if existing and existing["status"] == "done" and usable_media(ctx, existing):
        return take_id  # this job finished before a crash or an interrupt: nothing to redo
    if job["kind"] == "video":
        _video(ctx, plan, job, take_id)
    else:
        _sound(ctx, plan, job, take_id)
    return take_id


def _video(ctx: RunContext, plan: Plan, job: RenderJob, take_id: str) -> None:
    shot = plan.shots[job["shot"]]
    choice = ctx.choices.video
    budget = ctx.brief.render.max_failed_retries
    reasons: list[str] = []
    footage = getattr(VIDEO.get(choice.backend), "uses_footage", False)
    for retry in range(budget + 1):
        request = video_request(ctx, plan, shot, job["format"], job["take_no"], retry, footage)
        outcome = _render_video(ctx, job, take_id, shot, request, choice.backend, choice.options, reasons)
        if outcome == "done":
            return
        if outcome == "final":  # out of memory with the lightest plan: another seed cannot help
            break
    # 3. every seed failed: fall back along the chain so the cut can still be made, and say so.
    request = video_request(ctx, plan, shot, job["format"], job["take_no"])
    failed = len(reasons)
    for fallback in (b for b in FALLBACK_VIDEO if b != choice.backend):
        reasons.append(f"fell back to '{fallback}' after {failed} failed takes")
        if _render_video(ctx, job, take_id, shot, request, fallback, {}, reasons) == "done":
            return
    raise TakeFailed(f"shot {shot.index} of {plan.key}: every take failed: {'; '.join(reasons)}")


def _render_video(
    ctx: RunContext, job: RenderJob, take_id: str, shot: Shot, request: ShotRequest,
    backend_name: str, options: dict, reasons: list[str],
) -> str:  # fmt: skip
    """"done", or "retry" / "final" after a failed take (recorded with its reason)."""
    backend = ctx.pool.instance("video", backend_name, options)
    identity, ignored = backend.cache_identity(request)
    payload = request.model_dump(mode="json")
    key = cache_key("video", identity, keyed_request(request, ignored))
    row = _base_row(ctx, job, take_id, key, shot, backend, request.seed)
    try:
        _render_once(
            ctx, key, row, ".mp4", backend,
            lambda out: VideoTake.model_validate(ctx.executor.render("video", backend_name, options, payload, out)),
            {"request": payload, "retries": reasons},
        )  # fmt: skip
    except TakeFailed as exc:
        reasons.append(f"seed {request.seed}: {exc.reason}")
        ctx.store.write("takes", {**row, "id": f"{take_id}-f{len(reasons)}", "status": "failed",
                                  "reason": exc.reason, "metadata": exc.metadata, "rendered": 1}, replace=True)
        ctx.store.event(ctx.run_id, "take_failed", {"take": take_id, "seed": request.seed, "reason": exc.reason})
        return "retry" if exc.retry else "final"
    return "done"


def _sound(ctx: RunContext, plan: Plan, job: RenderJob, take_id: str) -> None:
    shot = plan.shots[job["shot"]] if job["shot"] >= 0 else None
    if job["kind"] == "voice":
        choice = ctx.choices.voice
        assert choice is not None and shot is not None
        voice = voice_for(ctx.brief, ctx.brief.segment(plan.segment))[0]
        _render_sound(ctx, job, take_id, shot, "voice", choice, {"text": shot.voice_line, "voice": voice})
        return
    request = _sound_request(ctx, plan, shot).model_dump(mode="json")
    chain = [ctx.choices.audio, *ctx.choices.audio_fallbacks]
    chain += [BackendChoice(backend=FALLBACK_AUDIO)] if chain[-1].backend != FALLBACK_AUDIO else []
    failures: list[str] = []
    for choice in chain:  # model -> next model -> the offline synth, each failure said and kept
        try:
            _render_sound(ctx, job, take_id, shot, "audio", choice, request, failures)
            return
        except Exception as exc:  # a sound model failing (gated, OOM, NaN) must not end the run
            if choice is chain[-1]:
                raise
            failures.append(f"{_label(choice)}: {type(exc).__name__}: {str(exc).splitlines()[0][:240]}")
            note = f"{job['kind']} for {plan.key}: {failures[-1]}; trying {_label(chain[chain.index(choice) + 1])}"
            ctx.progress.note(f"warning: {note}")
            ctx.store.event(ctx.run_id, "sound_fallback", {"take": take_id, "kind": job["kind"], "note": note})


def _render_sound(ctx: RunContext, job: RenderJob, take_id: str, shot: Shot | None, seam: str,
                  choice: BackendChoice, request: dict[str, Any], failures: list[str] | None = None) -> None:
    backend = ctx.pool.instance(seam, choice.backend, choice.options)
    key = cache_key(job["kind"], backend.identity(), request)
    row = _base_row(ctx, job, take_id, key, shot, backend, request.get("seed", 0))
    meta: dict[str, Any] = {"request": request, **({"sound_fallbacks": list(failures)} if failures else {})}
    _render_once(
        ctx, key, row, ".wav", backend,
        lambda out: AudioTake.model_validate(ctx.executor.render(seam, choice.backend, choice.options, request, out)),
        meta,
    )  # fmt: skip


def _label(choice: BackendChoice) -> str:
    model = choice.options.get("model")
    return f"{choice.backend} ({model})" if model else choice.backend


def _render_once(
    ctx: RunContext, key: str, row: dict, suffix: str, backend: Any,
    render: Callable[[Path], VideoTake | AudioTake], meta: dict,
) -> None:  # fmt: skip
    """A cache hit, or one render, under a per-key file lock: two workers (threads or processes)
    asking for the same take at once render it once, and the second reuses the file."""
    with media_lock(ctx.workspace.media_path(key, ".lock")):
        cached = ctx.store.cached_take(key)
        if cached and usable_media(ctx, cached):
            ctx.store.write("takes", {**row, **_reuse(cached, meta)}, replace=True)
            return
        started = time.time()
        take = render(ctx.workspace.media_path(key, suffix))
        made = {"num_frames": take.num_frames} if isinstance(take, VideoTake) else {"seconds": take.seconds}
        ctx.store.write(
            "takes",
            {**row, "path": str(take.path), "status": "done", "rendered": 1,
             "metadata": {**take.metadata, **made, **meta}, "parameters": backend.describe(),
             "timings": {"render_s": round(time.time() - started, 3)}},
            replace=True,
        )  # fmt: skip
    fault_point("after_render_write")


def usable_media(ctx: RunContext, take: dict) -> bool:
    """Whether a finished take's file can be used again: it exists, decodes and has the frames (or
    length) it was made with. A damaged file (a full disk, a crash mid-copy) is removed with a
    warning, and the take is rendered again."""
    path = Path(take["path"] or "")
    if not take["path"] or not path.exists():
        return False
    meta = take.get("metadata") or {}
    if take["kind"] == "video":
        problem = video_problem(path, meta.get("num_frames"))
    else:
        problem = audio_problem(path, meta.get("seconds"))
    if problem is None:
        return True
    path.unlink(missing_ok=True)
    ctx.progress.warn(f"{path}: the cached {take['kind']} take {problem}; removed, it will be rendered again")
    ctx.store.event(ctx.run_id, "media_discarded", {"path": str(path), "take": take["id"], "problem": problem})
    return False


@contextmanager
def media_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on `path` (flock: separate opens conflict across threads too)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sound_request(ctx: RunContext, plan: Plan, shot: Shot | None) -> SoundRequest:
    if shot is None:
        bounds, t = [], 0.0
        for s in plan.shots:
            t += s.seconds
            bounds.append(round(t, 3))
        return SoundRequest(
            prompt=plan.music.prompt or plan.music.mood, seconds=plan.seconds, seed=ctx.brief.seed,
            kind="music", mood=plan.music.mood, cut_points=bounds,
        )  # fmt: skip
    return SoundRequest(
        prompt=shot.sound, seconds=min(shot.seconds, EFFECT_MAX_SECONDS), seed=shot.seed, kind="effect"
    )


def _base_row(ctx: RunContext, job: RenderJob, take_id: str, key: str, shot: Shot | None, backend: Any, seed: int) -> dict:
    return {
        "id": take_id, "cache_key": key, "run_id": ctx.run_id, "kind": job["kind"], "plan_key": job["plan_key"],
        "shot": job["shot"], "shot_uid": job["uid"], "format": job["format"], "take_no": job["take_no"], "round": job["round"],
        "lineage": job["lineage"], "backend": backend.name,
        "model": str(backend.describe().get("model", backend.name)), "seed": seed, "created_at": time.time(),
    }  # fmt: skip


def _reuse(cached: dict, meta: dict) -> dict:
    """Fields a cache hit copies from the take that made the file (it was not rendered again), with
    what this job adds (its request, the fallbacks that led to this backend)."""
    return {
        "path": cached["path"], "embeds_path": cached.get("embeds_path"), "status": "done", "rendered": 0,
        "metadata": {**(cached.get("metadata") or {}), **meta, "cached_from": cached["id"]},
        "parameters": cached.get("parameters"), "timings": {"render_s": 0.0},
    }  # fmt: skip
