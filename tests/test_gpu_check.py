"""bench/gpu_check.py in its tiny CPU mode: every section runs and reports, so the GPU check cannot rot."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "bench" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_mode_runs_every_section(gpu_check, smoke_cache: Path, tmp_path: Path) -> None:
    import json

    out = tmp_path / "tiny.json"
    result = gpu_check.main(["--tiny", "--out", str(out), "--cache", str(smoke_cache)])  # the smoke Wan
    assert json.loads(out.read_text()) == json.loads(json.dumps(result, default=str))
    sections = result["sections"]
    assert list(sections) == ["build", "bare", "plans", "oom_fallback", "fp8_step_cache", "lora_fp8", "vae_decode"]
    assert all(s["ok"] for s in sections.values()), {k: s.get("error") for k, s in sections.items()}
    for plan, figures in sections["plans"]["by_plan"].items():  # every plan reproduces the bare diffusers call
        assert figures["plan"] == plan and figures["max_abs_diff_vs_bare"] < 1e-4
    cache = sections["plans"]["text_cache"]
    assert cache["text_encoder_calls_second"] == 0 and cache["stats"]["hits"] == 1
    assert sections["oom_fallback"]["fallbacks"] == ["none -> model_offload (out of memory)"]
    assert sections["oom_fallback"]["max_abs_diff_vs_bare"] < 1e-4
    assert sections["lora_fp8"]["max_abs_diff_vs_no_lora"] > 1e-4
    families = sections["vae_decode"]["by_family"]
    assert set(families) == {"wan", "ltx", "cogvideox", "mochi", "hunyuan", "animatediff"}
    assert all(e["untiled"]["oom"] is False and e["tiled"]["oom"] is False for e in families.values()), families


def test_a_failing_section_is_recorded_and_the_rest_run(gpu_check, tmp_path: Path) -> None:
    check = gpu_check.Check(tmp_path / "c.json", budget_s=30, tiny=True)

    def broken() -> dict:
        raise RuntimeError("boom")

    assert check.section("first", broken, needs_s=0)["error"] == "RuntimeError: boom"
    assert check.section("second", lambda: {"value": 1}, needs_s=0)["ok"]
    assert "time guard" in check.section("third", lambda: {}, needs_s=10_000)["skipped"]
