"""Default models (the gpu profile's, and the CLIP model every profile scores with), what the local
Hugging Face cache holds of them (for `briefcut doctor`), and a preflight check that they can be had.

Sound: Stable Audio Open 1.0 by default. It is gated (accept its terms on the hub, log in), and the
only supported text-to-music weights whose license lets an ad use the output commercially (Stability
AI Community License: free below US$1M annual revenue). The ungated ones are non-commercial
(MusicGen CC-BY-NC-4.0, AudioLDM2 CC-BY-NC-SA-4.0), so they are never picked silently: name them in
BRIEFCUT_AUDIO_MODEL (a comma-separated chain, tried in order) or the brief. After the chain the
offline synth always makes the bed. `preflight` finds a gated or missing model before any work.
"""

from __future__ import annotations

from typing import Any

from agent.brief import BackendChoice
from agent.settings import Settings
from generators import hub
from generators.errors import ModelUnavailable

DEFAULT_VIDEO_MODEL = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
DEFAULT_AUDIO_MODEL = "stabilityai/stable-audio-open-1.0"
DEFAULT_CLIP_MODEL = "openai/clip-vit-base-patch32"
# Which audio backend drives a model id, by a fragment of the id.
AUDIO_BACKEND_HINTS = [("musicgen", "musicgen"), ("audiogen", "audiogen"), ("audioldm2", "audioldm2"),
                       ("stable-audio", "stable-audio")]


def audio_backend_for(model: str) -> str:
    """The audio backend that runs `model` (stable-audio when the id says nothing)."""
    low = model.lower()
    return next((backend for hint, backend in AUDIO_BACKEND_HINTS if hint in low), "stable-audio")


def default_clip_model(settings: Settings) -> str:
    """The CLIP model scoring uses unless the brief or the command line names one."""
    return settings.clip_model or DEFAULT_CLIP_MODEL


def gpu_profile_choices(settings: Settings) -> dict[str, Any]:
    """The gpu profile's video, audio and CLIP models, each overridable by a BRIEFCUT_* variable."""
    video = settings.video_model or DEFAULT_VIDEO_MODEL
    chain = [m.strip() for m in (settings.audio_model or DEFAULT_AUDIO_MODEL).split(",") if m.strip()]
    audio = [BackendChoice(backend=audio_backend_for(m), options={"model": m}) for m in chain]
    if settings.audio_backend:
        audio[0] = BackendChoice(backend=settings.audio_backend, options={"model": chain[0]})
    return {
        "video": BackendChoice(backend="diffusers", options={"model": video}),
        "audio": audio[0], "audio_fallbacks": audio[1:],
        "clip_model": default_clip_model(settings),
    }


def preflight(choices: Any, keyframes: bool = False) -> tuple[Any, list[str]]:
    """Check the chosen models can be had before any work: a video model that cannot is an error (one
    line saying what to do); a sound model that cannot is dropped from the chain with a note. With
    `keyframes` (the brief has shots rendered keyframe first), so are the keyframe and image-to-video models:
    the shots render text-to-video instead, with a note."""
    from generators.base import AUDIO, VIDEO

    video = choices.video
    if video.options.get("model"):
        marker = getattr(VIDEO.get(video.backend), "marker", "model_index.json")
        problem = hub.access_problem(str(video.options["model"]), marker, video.backend)
        if problem:
            raise ModelUnavailable(problem)
    notes = keyframe_notes(video) if keyframes else []
    chain = [choices.audio, *choices.audio_fallbacks]
    usable = []
    for choice in chain:
        model = choice.options.get("model")
        marker = getattr(AUDIO.get(choice.backend), "marker", "config.json")
        problem = hub.access_problem(str(model), marker, choice.backend) if model else None
        if problem:
            nxt = _label(chain[chain.index(choice) + 1]) if choice is not chain[-1] else "the offline synth"
            notes.append(f"{problem}; sound uses {nxt} meanwhile")
        else:
            usable.append(choice)
    if len(usable) == len(chain):
        return choices, notes
    first = usable[0] if usable else BackendChoice(backend="synth")
    return choices.model_copy(update={"audio": first, "audio_fallbacks": usable[1:]}), notes


def keyframe_notes(video: BackendChoice) -> list[str]:
    """A note when the video backend's keyframe or image-to-video model cannot be had; an error when its own
    model animates images (it cannot render a shot without a keyframe)."""
    from generators.base import VIDEO

    backend = VIDEO.create(video.backend, video.options)
    keyframes = getattr(backend, "keyframes", None)
    problem = keyframes.unavailable() if keyframes is not None else None
    if problem and keyframes.video_is_i2v():
        raise ModelUnavailable(f"{problem} (the video model {video.options.get('model')} animates keyframes)")
    return [f"{problem}; product shots render text-to-video meanwhile"] if problem else []


def _label(choice: BackendChoice) -> str:
    model = choice.options.get("model")
    return f"{choice.backend} ({model})" if model else choice.backend


def model_status(ids: list[str], online: bool) -> list[dict[str, Any]]:
    """For each model id: cached or not, its cached revision and size, and what a first run downloads.

    The download size is asked of the hub only when `online` (HF_HUB_OFFLINE unset); offline it is
    None ("unknown").
    """
    cached = _cache_index()
    rows = []
    for model_id in ids:
        repo = cached.get(model_id)
        row: dict[str, Any] = {
            "id": model_id, "cached": repo is not None,
            "revision": repo["revision"] if repo else None,
            "size_bytes": repo["size_bytes"] if repo else None,
            "download_bytes": 0 if repo else None, "offline": not online,
        }
        if repo is None and online:
            row["download_bytes"] = _download_size(model_id)
        row["download"] = _human(row["download_bytes"]) if row["download_bytes"] is not None else "unknown size"
        rows.append(row)
    return rows


def _cache_index() -> dict[str, dict[str, Any]]:
    """Model repos in the local HF cache: id -> newest revision and size on disk."""
    try:
        from huggingface_hub import scan_cache_dir

        info = scan_cache_dir()
    except Exception:  # no cache folder yet, or huggingface_hub missing
        return {}
    index = {}
    for repo in info.repos:
        if repo.repo_type != "model" or not repo.revisions:
            continue
        newest = max(repo.revisions, key=lambda r: r.last_modified)
        index[repo.repo_id] = {"revision": newest.commit_hash, "size_bytes": repo.size_on_disk}
    return index


def _download_size(model_id: str) -> int | None:
    try:
        from huggingface_hub import HfApi

        info = HfApi().model_info(model_id, files_metadata=True, timeout=10)
    except Exception:  # unreachable hub, unknown repo, gated repo: size unknown
        return None
    return sum(s.size or 0 for s in info.siblings or [])


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"
