"""Default models (the gpu profile's, and the CLIP model every profile scores with), and what the
local Hugging Face cache holds of them (for `briefcut doctor`)."""

from __future__ import annotations

from typing import Any

from agent.brief import BackendChoice
from agent.settings import Settings

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
    audio = settings.audio_model or DEFAULT_AUDIO_MODEL
    return {
        "video": BackendChoice(backend="diffusers", options={"model": video}),
        "audio": BackendChoice(backend=settings.audio_backend or audio_backend_for(audio), options={"model": audio}),
        "clip_model": default_clip_model(settings),
    }


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
