"""The diffusers video backend on tiny smoke models of every family, through the registry."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from generators.base import VIDEO, BackendPool, ShotRequest
from generators.errors import BackendOptionsError, MissingDependency, ModelUnavailable, TakeFailed
from generators.media import read_frames
from generators.video_diffusers import check_output

pytest.importorskip("diffusers")

FAMILIES = ["wan", "wan2.2", "ltx", "cogvideox", "mochi", "hunyuan", "animatediff"]
EXPECTED_FAMILY = {"wan": "wan", "wan2.2": "wan2.2", "ltx": "ltx", "cogvideox": "cogvideox", "mochi": "mochi",
                   "hunyuan": "hunyuan", "animatediff": "animatediff"}


def shot(seed: int = 0, prompt: str = "a red car on a coast road", **kw: Any) -> ShotRequest:
    base = {"seconds": 0.5, "fps": 24, "width": 64, "height": 36}
    return ShotRequest(prompt=prompt, negative_prompt="blurry", seed=seed, **{**base, **kw})


@pytest.fixture(scope="module")
def backends(smoke_models: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One loaded backend per family, made through the registry (loads are what the tests count)."""
    return {name: VIDEO.create("diffusers", smoke_models[name]) for name in FAMILIES}


@pytest.mark.parametrize("name", FAMILIES)
def test_family_renders_through_registry(name: str, backends: dict[str, Any], tmp_path: Path) -> None:
    backend = backends[name]
    take = backend.render(shot(seed=0), tmp_path / "a.mp4")
    # assembly expects exactly round(seconds * fps) frames at the request's fps
    assert take.num_frames == 12 and take.fps == 24
    frames = read_frames(take.path)
    assert frames.shape[0] == 12 and frames.shape[1:3] == (take.height, take.width)
    meta = take.metadata
    assert meta["family"] == EXPECTED_FAMILY[name]
    assert meta["seed"] == 0 and meta["memory_plan"] == "none"
    assert meta["parameters"]["dtype"] == "float32" and meta["parameters"]["steps"] == 2
    assert meta["revision"].startswith("sha256:")
    assert meta["timings"]["render_s"] > 0 and meta["peak_rss_bytes"] > 0
    # retimed by motion interpolation; the frames the model rendered are named for the frozen check
    assert meta["retime"] == ("none" if meta["parameters"]["native_fps"] == 24 else "motion")
    assert 2 <= len(meta["native_frames"]) <= 12
    # same seed -> same clip; another seed -> another clip
    a, _ = backend.clip(shot(seed=0))
    b, _ = backend.clip(shot(seed=0))
    c, _ = backend.clip(shot(seed=1))
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert np.abs(a - c).mean() > 1e-4
    assert backend.load_count == 1


def test_wan_reload_matches_and_prompt_matters(smoke_models: dict[str, Any], backends: dict[str, Any]) -> None:
    fresh = VIDEO.create("diffusers", smoke_models["wan"])
    a, _ = backends["wan"].clip(shot(seed=3))
    b, _ = fresh.clip(shot(seed=3))
    np.testing.assert_allclose(a, b, atol=1e-5)  # reloads differ by ~1e-7
    other, _ = fresh.clip(shot(seed=3, prompt="a quiet snowy forest at dawn"))
    assert np.abs(a - other).max() > 1e-6


def test_wan22_uses_two_transformers(backends: dict[str, Any]) -> None:
    pipe = backends["wan2.2"].pipe
    assert pipe.transformer_2 is not None and pipe.config.boundary_ratio == pytest.approx(0.875)


def test_pipeline_loads_once_per_pool(smoke_models: dict[str, Any], tmp_path: Path) -> None:
    pool = BackendPool()
    first = pool.get("video", "diffusers", smoke_models["wan"])
    first.render(shot(seed=0), tmp_path / "a.mp4")
    second = pool.get("video", "diffusers", smoke_models["wan"])
    take = second.render(shot(seed=1), tmp_path / "b.mp4")
    assert second is first and pool.loads == {"video:diffusers": 1}
    assert take.metadata["load_count"] == 1
    # the repeated prompt and negative were encoded once
    assert take.metadata["text_cache"]["hits"] == 1 and take.metadata["text_cache"]["misses"] == 1


def test_forced_nan_raises_take_failed(smoke_models: dict[str, Any], tmp_path: Path) -> None:
    backend = VIDEO.create("diffusers", {**smoke_models["wan"], "poison_latents": True})
    with pytest.raises(TakeFailed, match="NaN") as info:
        backend.render(shot(seed=5), tmp_path / "nan.mp4")
    assert info.value.metadata["seed"] == 5 and info.value.metadata["family"] == "wan"
    assert not (tmp_path / "nan.mp4").exists()


def test_check_output_rules() -> None:
    rng = np.random.default_rng(0)
    ok = rng.random((4, 8, 8, 3), dtype=np.float32)
    assert check_output(ok) is None
    assert check_output((ok * 255).astype(np.uint8)) is None
    assert "NaN" in check_output(np.where(ok > 0.5, np.nan, ok))
    assert "black" in check_output(np.zeros_like(ok))
    assert "frozen" in check_output(np.repeat(ok[:1], 4, axis=0))


def test_aspect_follows_family(backends: dict[str, Any], tmp_path: Path) -> None:
    portrait = backends["wan"].render(shot(width=36, height=64), tmp_path / "p.mp4")
    assert portrait.height > portrait.width and backends["wan"].native_aspect
    fixed = backends["cogvideox"].render(shot(width=36, height=64), tmp_path / "c.mp4")
    assert fixed.width > fixed.height and not backends["cogvideox"].native_aspect
    assert any("reframe needed" in c for c in fixed.metadata["changes"])


def test_identity_covers_what_decides_output(smoke_models: dict[str, Any]) -> None:
    a = VIDEO.create("diffusers", smoke_models["wan"]).identity()
    b = VIDEO.create("diffusers", {**smoke_models["wan"], "steps": 3}).identity()
    assert a["family"] == "wan" and a["revision"].startswith("sha256:")
    for key in ("model", "revision", "steps", "guidance_scale", "scheduler", "dtype", "max_side", "family"):
        assert key in a["options"]
    assert a != b


def test_scheduler_swap_by_class_name(smoke_models: dict[str, Any], tmp_path: Path) -> None:
    backend = VIDEO.create("diffusers", {**smoke_models["wan"], "scheduler": "FlowMatchEulerDiscreteScheduler"})
    take = backend.render(shot(), tmp_path / "s.mp4")
    assert take.metadata["parameters"]["scheduler"] == "FlowMatchEulerDiscreteScheduler"
    with pytest.raises(BackendOptionsError, match="unknown scheduler 'Nope'"):
        VIDEO.create("diffusers", {**smoke_models["wan"], "scheduler": "Nope"}).ensure_loaded()


@pytest.mark.parametrize(("name", "key"), [("FlowMatchEulerDiscreteScheduler", "shift"),
                                           ("DPMSolverMultistepScheduler", "flow_shift")])
def test_scheduler_swap_keeps_wans_flow_shift(smoke_models: dict[str, Any], name: str, key: str,
                                              caplog: pytest.LogCaptureFixture) -> None:
    backend = VIDEO.create("diffusers", {**smoke_models["wan"], "scheduler": name})
    with caplog.at_level("WARNING", logger="briefcut"):
        backend.ensure_loaded()
    config = backend.pipe.scheduler.config
    assert config[key] == 3.0  # the tiny Wan's UniPC flow_shift; FlowMatchEuler's used to fall to 1.0
    _, meta = backend.clip(shot())
    note = next(n for n in meta["notes"] if n.startswith("scheduler "))
    assert f"{key}=3.0" in note and "ignores" in note  # said in the take, and on stderr:
    assert any("flow settings carried" in r.getMessage() for r in caplog.records)


def test_scheduler_that_cannot_sample_flow_models_is_refused(smoke_models: dict[str, Any]) -> None:
    backend = VIDEO.create("diffusers", {**smoke_models["wan"], "scheduler": "DDIMScheduler"})
    with pytest.raises(BackendOptionsError, match="cannot sample a flow-matching model.*compatible: "):
        backend.ensure_loaded()


def test_component_dtypes_follow_the_model_card(smoke_models: dict[str, Any]) -> None:
    import torch

    backend = VIDEO.create("diffusers", {**smoke_models["wan"], "dtype": "bfloat16"})
    frames, meta = backend.clip(shot())
    pipe = backend.pipe
    assert pipe.transformer.dtype == torch.bfloat16 and pipe.text_encoder.dtype == torch.bfloat16
    assert pipe.vae.dtype == torch.float32  # Wan's card decodes in fp32
    assert meta["parameters"]["component_dtypes"]["vae"] == "float32"
    assert check_output(frames) is None


def test_hunyuan_applies_the_negative_prompt(smoke_models: dict[str, Any]) -> None:
    backend = VIDEO.create("diffusers", smoke_models["hunyuan"])
    backend.ensure_loaded()
    calls = [0]
    backend.pipe.transformer.register_forward_hook(lambda *a: calls.__setitem__(0, calls[0] + 1))
    bare, _ = backend.clip(shot(seed=1).model_copy(update={"negative_prompt": ""}))
    assert calls[0] == 2  # two steps, embedded guidance only
    negative, meta = backend.clip(shot(seed=1))
    assert calls[0] == 2 + 4  # true CFG: the negative branch runs too
    assert meta["parameters"]["true_cfg_scale"] == 6.0 and meta["parameters"]["guidance_scale"] == 1.0
    assert any("negative prompt applied" in c for c in meta["changes"])
    assert np.abs(bare - negative).max() > 1e-4


def test_animatediff_motion_adapter_id_loads_with_its_base(smoke_cache: Path) -> None:
    from generators.tiny import build_animatediff_parts

    adapter, base = build_animatediff_parts(smoke_cache)
    backend = VIDEO.create("diffusers", {"model": str(adapter), "base_model": str(base), "steps": 2,
                                         "max_side": 32, "max_frames": 9})
    assert backend.identity()["family"] == "animatediff"
    frames, meta = backend.clip(shot(seed=0))
    assert meta["pipeline"] == "AnimateDiffPipeline" and meta["family"] == "animatediff"
    assert frames.shape == (9, 16, 32, 3) and check_output(frames) is None


def test_first_take_of_an_uncached_model_names_revision_and_family(
        smoke_models: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hub id not yet downloaded: the marker file comes first, so the key and the take name both."""
    import shutil

    import huggingface_hub

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    commit, repo = "c" * 40, "briefcut-test/tiny-wan"

    def download(repo_id: str, filename: str, revision: str | None = None, **_: Any) -> str:  # the hub, faked
        snapshot = tmp_path / f"models--{repo_id.replace('/', '--')}" / "snapshots" / commit
        snapshot.mkdir(parents=True, exist_ok=True)
        (snapshot.parents[1] / "refs").mkdir(exist_ok=True)
        (snapshot.parents[1] / "refs" / "main").write_text(commit)
        shutil.copy(Path(smoke_models["wan"]["model"]) / filename, snapshot / filename)
        return str(snapshot / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    identity = VIDEO.create("diffusers", {"model": repo}).identity()
    assert identity["revision"] == commit and identity["family"] == "wan"


def test_jobs_on_one_device_take_turns(smoke_models: dict[str, Any]) -> None:
    import threading

    first, second = (VIDEO.create("diffusers", smoke_models[n]) for n in ("wan", "ltx"))
    for b in (first, second):
        b.ensure_loaded()
    inside, peak, lock = [0], [0], threading.Lock()

    def enter(*_: Any) -> None:
        with lock:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])

    def leave(*_: Any) -> None:
        with lock:
            inside[0] -= 1

    for b in (first, second):  # count denoiser passes in flight
        b.pipe.transformer.register_forward_pre_hook(enter)
        b.pipe.transformer.register_forward_hook(leave)
    threads = [threading.Thread(target=b.clip, args=(shot(),)) for b in (first, second, first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 1  # never two denoising loops on the CPU at once: peaks and OOMs stay per job


def test_fp8_and_step_cache_options(smoke_models: dict[str, Any], tmp_path: Path) -> None:
    backend = VIDEO.create("diffusers", {**smoke_models["wan"], "fp8": True, "step_cache": True})
    take = backend.render(shot(), tmp_path / "f.mp4")
    assert take.metadata["parameters"]["fp8"] is True
    import torch

    assert backend.pipe.transformer.blocks[0].attn1.to_q.weight.dtype == torch.float8_e4m3fn


def test_uncached_model_offline_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    backend = VIDEO.create("diffusers", {"model": "briefcut-test/not-a-real-model"})
    with pytest.raises(ModelUnavailable, match="not in the local HF cache") as info:
        backend.ensure_loaded()
    assert "\n" not in str(info.value)


def test_missing_diffusers_names_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "diffusers", None)
    with pytest.raises(MissingDependency, match=r"briefcut\[ml\]"):
        VIDEO.create("diffusers", {"model": "x"}).ensure_loaded()
