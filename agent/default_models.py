"""GPU-profile default models, and what the local HF cache holds of them (for `briefcut doctor`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from agent.brief import BackendChoice

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


def gpu_profile_choices(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The gpu profile's video, audio and CLIP models, each overridable by a BRIEFCUT_* variable."""
    env = os.environ if env is None else env
    video = env.get("BRIEFCUT_VIDEO_MODEL") or DEFAULT_VIDEO_MODEL
    audio = env.get("BRIEFCUT_AUDIO_MODEL") or DEFAULT_AUDIO_MODEL
    return {
        "video": BackendChoice(backend="diffusers", options={"model": video}),
        "audio": BackendChoice(backend=env.get("BRIEFCUT_AUDIO_BACKEND") or audio_backend_for(audio),
                               options={"model": audio}),
        "clip_model": env.get("BRIEFCUT_CLIP_MODEL") or DEFAULT_CLIP_MODEL,
    }


def hub_offline(env: Mapping[str, str] | None = None) -> bool:
    """Whether HF_HUB_OFFLINE is set: then nothing is downloaded and uncached models are unavailable."""
    env = os.environ if env is None else env
    return env.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def model_status(ids: list[str], online: bool | None = None) -> list[dict[str, Any]]:
    """For each model id: cached or not, its cached revision and size, and what a first run downloads.

    The download size is asked of the hub only when `online` (default: when HF_HUB_OFFLINE is unset);
    offline it is None ("unknown").
    """
    online = (not hub_offline()) if online is None else online
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
