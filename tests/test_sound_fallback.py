"""Sound falls back along its chain (model -> next model -> synth) and the run goes on; the fallback is on
the take, on stderr and in the cut's warnings and report. Gated models are found before any work.
A video take that no seed can fix goes straight to the fallback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.brief import BackendChoice, load_brief
from agent.context import Progress
from agent.runner import open_run, start_run
from agent.settings import Overrides
from agent.store import Store
from agent.workspace import Workspace

ROOT = Path(__file__).parents[1]


class Notes(Progress):
    """What a person would read on stderr."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def note(self, text: str) -> None:
        self.lines.append(text)


@pytest.fixture(scope="module")
def failing_run(smoke_models: dict, smoke_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One smoke run whose sound model fails to load (a folder that holds no model): its workspace,
    result and what went to stderr. The tests below read it, or add jobs to it."""
    tmp = tmp_path_factory.mktemp("sound-fallback")
    (tmp / "not-a-model").mkdir()  # a folder, so nothing fails before the run: the load does
    broken = BackendChoice(backend="musicgen", options={"model": str(tmp / "not-a-model")})
    notes, path = Notes(), brief_file(tmp)
    brief = load_brief(path)
    brief.render.audio = broken  # the brief names the sound backend with its options
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BRIEFCUT_SMOKE_DIR", str(smoke_cache))
        mp.delenv("OPENAI_BASE_URL", raising=False)
        mp.delenv("BRIEFCUT_LLM_MODEL", raising=False)
        ws = Workspace.at(tmp / "ws")  # its settings are read from the environment now, once
        result = start_run(path, ws, overrides=Overrides(profile="smoke"), progress=notes, brief=brief)
    return {"ws": ws, "result": result, "notes": notes.lines, "tmp": tmp}


def brief_file(tmp_path: Path, **changes: Any) -> Path:
    data = yaml.safe_load((ROOT / "briefs" / "bumper.yaml").read_text())
    data["formats"]["resolution"] = 96
    data.update(variants=1, refine={"max_rounds": 0}, **changes)
    path = tmp_path / "brief.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_failing_sound_model_falls_back_to_synth_and_says_so(failing_run: dict) -> None:
    from agent.report import report_for

    result, ws = failing_run["result"], failing_run["ws"]
    assert result["status"] == "done"  # a failing sound model used to end the run
    store = Store(ws.db_path)
    music = store.takes(result["run_id"], kind="music")
    assert [t["backend"] for t in music if t["status"] == "done"] == ["synth"]
    failure = music[0]["metadata"]["sound_fallbacks"][0]
    assert failure.startswith("musicgen (") and "not-a-model" in failure
    assert any(line.startswith("warning: music for") and "trying synth" in line for line in failing_run["notes"])
    assert [e for e in store.events(result["run_id"]) if e["kind"] == "sound_fallback"]
    warnings = store.cuts(result["run_id"])[0]["scorecard"]["cut"]["warnings"]
    assert any(w["kind"] == "sound_fallback" and "music made by synth" in w["detail"] for w in warnings)
    page = report_for(ws, result["run_id"], failing_run["tmp"] / "report").read_text()
    assert "sound_fallback" in page and "music made by synth after musicgen" in page


def _job(ctx: Any, kind: str, **kw: Any) -> tuple[Any, dict]:
    from agent.jobs import load_plans
    from agent.render import music_lineage

    plan = next(iter(load_plans(ctx).values()))
    job = {"kind": kind, "plan_key": plan.key, "shot": -1, "uid": "", "format": "", "take_no": 1, "round": 0,
           "lineage": music_lineage(plan), **kw}
    return plan, job


def test_the_chain_tries_the_next_model_before_synth(failing_run: dict, smoke_models: dict) -> None:
    from agent.render import run_job

    ctx = open_run(failing_run["result"]["run_id"], failing_run["ws"])
    broken = BackendChoice(backend="audioldm2", options={"model": str(failing_run["tmp"] / "gone")})
    ctx.choices = ctx.choices.model_copy(update={"audio": broken, "audio_fallbacks": [
        BackendChoice(backend="stable-audio", options=smoke_models["stable-audio"])]})
    plan, job = _job(ctx, "music")
    take = ctx.store.get("takes", run_job(ctx, plan, job))
    assert take["backend"] == "stable-audio" and take["status"] == "done"
    assert take["metadata"]["sound_fallbacks"][0].startswith("audioldm2 (")
    # a local model's license is what its card's front matter says (the tiny model's: briefcut's own)
    assert take["metadata"]["license"]["name"] == "Apache-2.0"
    assert take["metadata"]["license"]["source"].endswith("README.md")


def test_an_oom_no_seed_can_fix_goes_straight_to_the_fallback(failing_run: dict, smoke_models: dict) -> None:
    import torch
    from diffusers import WanTransformer3DModel

    from agent.render import run_job

    def oom(module: torch.nn.Module, args: Any) -> None:
        if isinstance(module, WanTransformer3DModel):
            raise torch.OutOfMemoryError("out of memory (injected)")

    ctx = open_run(failing_run["result"]["run_id"], failing_run["ws"])
    video = BackendChoice(backend="diffusers", options={**smoke_models["wan"], "memory_plan": "sequential_offload"})
    ctx.choices = ctx.choices.model_copy(update={"video": video})
    plan, job = _job(ctx, "video", shot=0, uid=plan_uid(ctx), format="1:1", take_no=7, lineage=0)
    handle = torch.nn.modules.module.register_module_forward_pre_hook(oom)
    try:
        take = ctx.store.get("takes", run_job(ctx, plan, job))
    finally:
        handle.remove()
    assert take["backend"] == "motion"  # the first of the video fallback chain
    reasons = take["metadata"]["retries"]
    assert len(reasons) == 2  # one try, not max_failed_retries + 1: a new seed cannot make memory
    assert "out of memory even with sequential_offload" in reasons[0] and "fell back" in reasons[1]


def plan_uid(ctx: Any) -> str:
    from agent.jobs import load_plans

    return next(iter(load_plans(ctx).values())).shots[0].uid


def test_gated_and_missing_models_are_found_before_any_work(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import httpx
    from huggingface_hub.errors import GatedRepoError

    from agent.default_models import gpu_profile_choices, preflight
    from agent.profiles import Choices
    from agent.settings import Settings

    def gated(repo_id: str, **_: Any) -> None:
        if repo_id.startswith("stabilityai/"):
            response = httpx.Response(403, request=httpx.Request("GET", f"https://huggingface.co/{repo_id}"))
            raise GatedRepoError("Access to this repo is restricted", response=response)

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.auth_check", gated)
    monkeypatch.setattr("generators.hub.cached_file", lambda *a, **k: None)
    choices = Choices(profile="gpu", planner=BackendChoice(backend="template"), **gpu_profile_choices(Settings.from_env({})))
    checked, notes = preflight(choices)
    assert checked.audio == BackendChoice(backend="synth") and checked.video == choices.video
    assert notes == ["stable-audio: model 'stabilityai/stable-audio-open-1.0' is gated: accept its terms at "
                     "https://huggingface.co/stabilityai/stable-audio-open-1.0 and log in (`hf auth login`, or set "
                     "HF_TOKEN); sound uses the offline synth meanwhile"]
    missing = choices.model_copy(update={"audio": BackendChoice(backend="musicgen", options={
        "model": str(tmp_path / "no-such-model")}), "audio_fallbacks": [choices.audio]})
    checked, notes = preflight(missing)
    assert checked.audio == BackendChoice(backend="synth") and len(notes) == 2
    assert notes[0].endswith("no-such-model' does not exist; sound uses stable-audio "
                             "(stabilityai/stable-audio-open-1.0) meanwhile")
