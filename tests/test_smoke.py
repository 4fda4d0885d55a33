"""The smoke profile (tiny models of every backend) and the gpu profile's model defaults and cache status."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from agent.brief import BackendChoice
from agent.default_models import DEFAULT_VIDEO_MODEL, audio_backend_for, gpu_profile_choices, model_status
from agent.settings import Settings
from agent.smoke import SMOKE_BACKENDS, build_entry, doctor_smoke, smoke_profile_choices
from generators.base import BackendPool

NAMES = ["wan", "wan2.2", "ltx", "cogvideox", "mochi", "hunyuan", "animatediff", "keyframe-sdxl-inpaint",
         "keyframe-flux", "wan-i2v", "wan2.2-i2v", "wan2.2-ti2v", "ltx-i2v", "ltx-condition", "cogvideox-i2v",
         "audioldm2", "stable-audio", "musicgen", "audiogen"]


def test_smoke_table_names() -> None:
    assert [e.name for e in SMOKE_BACKENDS] == NAMES
    assert {e.kind for e in SMOKE_BACKENDS} == {"video", "image", "audio"}


def test_build_is_cached(smoke_models: dict[str, Any], smoke_cache: Path) -> None:
    entry = next(e for e in SMOKE_BACKENDS if e.name == "ltx")
    index = Path(smoke_models["ltx"]["model"]) / "model_index.json"
    before = index.stat().st_mtime_ns
    assert build_entry(entry, smoke_cache) == smoke_models["ltx"]
    assert index.stat().st_mtime_ns == before


def test_doctor_smoke_renders_every_backend(smoke_models: dict[str, Any], smoke_cache: Path) -> None:
    rows = doctor_smoke(smoke_cache, BackendPool())
    assert [r["name"] for r in rows] == NAMES
    for row in rows:  # every backend, none skipped
        assert set(row) == {"name", "kind", "ok", "seconds", "error"}
        assert row["ok"] and row["error"] is None, row


def test_smoke_profile_choices(smoke_models: dict[str, Any], smoke_cache: Path) -> None:
    choices = smoke_profile_choices(smoke_cache)
    # tiny Wan 2.1, with its tiny image-to-video and keyframe models for product shots
    assert choices["video"] == BackendChoice(backend="diffusers", options=smoke_models["wan-i2v"])
    assert {**smoke_models["wan-i2v"], "i2v_model": None, "keyframe_model": None, "keyframe_options": None} == \
        {**smoke_models["wan"], "i2v_model": None, "keyframe_model": None, "keyframe_options": None}
    assert choices["audio"] == BackendChoice(backend="musicgen", options=smoke_models["musicgen"])


def test_gpu_profile_defaults_and_env_overrides() -> None:
    base = gpu_profile_choices(Settings.from_env({}))
    assert base["video"].options["model"] == DEFAULT_VIDEO_MODEL == "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
    assert base["audio"].backend == "stable-audio" and base["clip_model"] == "openai/clip-vit-base-patch32"
    assert base["audio_fallbacks"] == []  # then the offline synth: the only commercially safe fallback
    env = {"BRIEFCUT_VIDEO_MODEL": "Lightricks/LTX-Video", "BRIEFCUT_AUDIO_MODEL": "facebook/musicgen-small",
           "BRIEFCUT_CLIP_MODEL": "/models/clip"}
    over = gpu_profile_choices(Settings.from_env(env))
    assert over["video"].options["model"] == "Lightricks/LTX-Video"
    assert over["audio"] == BackendChoice(backend="musicgen", options={"model": "facebook/musicgen-small"})
    chain = gpu_profile_choices(Settings.from_env({"BRIEFCUT_AUDIO_MODEL": "stabilityai/stable-audio-open-1.0, cvssp/audioldm2-music"}))
    assert chain["audio"].backend == "stable-audio"
    assert chain["audio_fallbacks"] == [BackendChoice(backend="audioldm2", options={"model": "cvssp/audioldm2-music"})]
    assert over["clip_model"] == "/models/clip"
    assert audio_backend_for("cvssp/audioldm2-music") == "audioldm2"


def _fake_hf_cache(root: Path, repo: str, commit: str) -> None:
    folder = root / ("models--" + repo.replace("/", "--"))
    (folder / "blobs").mkdir(parents=True)
    (folder / "blobs" / "abc123").write_text("{}")
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(commit)
    snap = folder / "snapshots" / commit
    snap.mkdir(parents=True)
    os.symlink("../../blobs/abc123", snap / "model_index.json")


def test_model_status_reads_local_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_hf_cache(tmp_path, "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "a" * 40)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    rows = model_status(["Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "openai/clip-vit-base-patch32"], online=False)
    assert rows[0]["cached"] and rows[0]["revision"] == "a" * 40 and rows[0]["size_bytes"] == 2
    assert rows[0]["download_bytes"] == 0
    assert not rows[1]["cached"] and rows[1]["download_bytes"] is None and rows[1]["offline"]
    assert rows[1]["download"] == "unknown size"
