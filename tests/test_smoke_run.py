"""The whole graph on the smoke profile (tiny random diffusers, MusicGen and CLIP models): cuts are
probed, models load once across runs, and the refine loop re-renders only the weakest shot."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from fixtures.probe import probe_mp4

from agent.runner import start_run
from agent.settings import Overrides
from agent.store import Store
from agent.workspace import Workspace
from generators.base import BackendPool

ROOT = Path(__file__).parents[1]
SMOKE = Overrides(profile="smoke")


@pytest.fixture
def smoke_env(smoke_models, smoke_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BRIEFCUT_SMOKE_DIR", str(smoke_cache))
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("BRIEFCUT_LLM_MODEL", raising=False)
    return smoke_cache


def brief_file(tmp_path: Path, **changes) -> Path:
    data = yaml.safe_load((ROOT / "briefs" / "bumper.yaml").read_text())
    data["formats"]["resolution"] = 96
    for key, value in changes.items():
        data[key] = value
    path = tmp_path / "smoke-brief.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_smoke_profile_runs_and_loads_models_once_across_runs(smoke_env: Path, tmp_path: Path) -> None:
    pool = BackendPool()
    ws = Workspace.at(tmp_path / "ws")
    first = start_run(brief_file(tmp_path, variants=1), ws, overrides=SMOKE, pool=pool)
    second = start_run(brief_file(tmp_path, variants=1, seed=99), ws, overrides=SMOKE, pool=pool)
    assert first["status"] == second["status"] == "done"
    assert pool.loads["video:diffusers"] == 1 and pool.loads["audio:musicgen"] == 1
    assert [v for k, v in pool.loads.items() if k.startswith("clip:")] == [1]
    store = Store(ws.db_path)
    assert store.render_count(second["run_id"]) > 0  # a new seed really rendered again
    for cut in first["cuts"] + second["cuts"]:
        info = probe_mp4(Path(cut["path"]))
        assert info["frames"] == 180 and info["fps"] == pytest.approx(30)
        assert info["acodec"] == "aac" and abs(info["audio_s"] - info["video_s"]) <= 1 / 30
    takes = store.takes(first["run_id"], kind="video")
    assert {t["backend"] for t in takes} == {"diffusers"}
    shots = store.latest_plans(first["run_id"])["gamers/v0"]["plan"]["shots"]
    assert any(s["shows_product"] for s in shots)
    for take in takes:  # product shots: a keyframe (text-to-image: no reference image), then image-to-video
        product = shots[take["shot"]]["shows_product"]
        assert take["metadata"]["family"] == ("wan-i2v" if product else "wan")
        assert bool(take["metadata"].get("keyframe")) == product
    card = store.cuts(first["run_id"])[0]["scorecard"]
    assert card["shots"][0]["metrics"]["clip_score"] is not None  # the tiny CLIP scored it


def test_refine_loop_rerenders_only_the_weakest_shot_and_keeps_the_best(smoke_env: Path, tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path / "ws")
    path = brief_file(tmp_path, variants=1, refine={"max_rounds": 1, "max_rerenders": 1, "threshold": 0.99})
    result = start_run(path, ws, overrides=SMOKE)
    store = Store(ws.db_path)
    run_id = result["run_id"]
    scored = [e["data"] for e in store.events(run_id) if e["kind"] == "scored"]
    weakest = scored[0]["weak"][0]
    videos = store.takes(run_id, kind="video")
    n_shots = len(store.latest_plans(run_id)["gamers/v0"]["plan"]["shots"])
    rendered = [t for t in videos if t["rendered"] and t["status"] == "done"]
    assert len(rendered) == n_shots + 1, "only the weakest shot is rendered again"
    extra = [t for t in rendered if t["round"] == 1]
    assert [t["shot_uid"] for t in extra] == [weakest["uid"]]
    # Every take keeps its scores, and the cut uses the best take of the re-rendered shot.
    takes = [t for t in videos if t["shot_uid"] == weakest["uid"]]
    scores = {t["id"]: store.score(t["id"])["composite"] for t in takes}
    assert len(scores) == 2
    card = store.cuts(run_id)[0]["scorecard"]
    chosen = card["shots"][weakest["shot"]]["take"]
    assert chosen == max(scores, key=scores.get)


def test_nan_takes_fail_with_reason_retry_and_the_run_goes_on(smoke_env: Path, tmp_path: Path) -> None:
    from agent.brief import BackendChoice, load_brief
    from agent.smoke import smoke_profile_choices

    video = smoke_profile_choices(smoke_env)["video"]
    poisoned = BackendChoice(backend="diffusers", options={**video.options, "poison_latents": True})
    path = brief_file(tmp_path, variants=1, render={"max_failed_retries": 1}, refine={"max_rounds": 0})
    ws = Workspace.at(tmp_path / "ws")
    brief = load_brief(path)
    brief.render.video = poisoned  # the brief names the backend with its options; the rest is the profile's
    result = start_run(path, ws, overrides=SMOKE, brief=brief)
    assert result["status"] == "done"
    store = Store(ws.db_path)
    videos = store.takes(result["run_id"], kind="video")
    failed = [t for t in videos if t["status"] == "failed"]
    n_shots = len(store.latest_plans(result["run_id"])["gamers/v0"]["plan"]["shots"])
    assert len(failed) == 2 * n_shots  # the first seed and one retry per shot
    assert all("NaN" in t["reason"] for t in failed)
    assert len({t["seed"] for t in failed}) == len(failed)  # each retry has a new seed
    done = [t for t in videos if t["status"] == "done"]
    assert {t["backend"] for t in done} == {"motion"}  # the fallback (motion design from the brand's assets), said
    assert all("fell back" in t["metadata"]["retries"][-1] for t in done)
    info = probe_mp4(Path(result["cuts"][0]["path"]))
    assert info["frames"] == 180


def test_product_brief_goes_keyframe_then_i2v_and_a_drifting_product_shot_is_rendered_again(
        smoke_env: Path, tmp_path: Path) -> None:
    from evaluators.registry import METRICS

    # Only product likeness can make a shot weak here, and no take of tiny random models reaches 1.0.
    thresholds = {name: 0.0 for name in METRICS.names("shot")} | {"product_consistency": 1.0}
    bottle = tmp_path / "lumen-bottle.png"  # assets lie beside their brief
    shutil.copy(ROOT / "briefs/assets/lumen-bottle.png", bottle)
    path = brief_file(tmp_path, variants=1, shots=3, scoring={"thresholds": thresholds},
                      product={"name": "Lumen Bottle", "reference_image": str(bottle)},
                      refine={"max_rounds": 1, "max_rerenders": 4, "threshold": 0.0})
    ws = Workspace.at(tmp_path / "ws")
    result = start_run(path, ws, overrides=SMOKE)
    assert result["status"] == "done"
    store = Store(ws.db_path)
    run_id = result["run_id"]
    shots = store.latest_plans(run_id)["gamers/v0"]["plan"]["shots"]
    product = {s["uid"] for s in shots if s["shows_product"]}
    assert product and len(product) < len(shots)  # hook, product, cta: the hook does not show it
    takes = [t for t in store.takes(run_id, kind="video") if t["status"] == "done"]
    for take in takes:  # 1. product shots: the bottle cut out of its flat ground, composed, then animated
        keyframe = take["metadata"].get("keyframe")
        assert bool(keyframe) == (take["shot_uid"] in product)
        if keyframe:
            assert keyframe["product"]["matte"] == "matte" and Path(keyframe["path"]).is_file()
            assert Path(keyframe["path"]).is_relative_to(ws.root / "media" / "keyframes")
            # a local tiny model: its license is read from its model card
            assert take["metadata"]["family"] == "wan-i2v" and keyframe["license"]["name"] == "Apache-2.0"
    # 2. the drifting product shots, and only they, are weak for their product and rendered again
    weak = [e["data"]["weak"] for e in store.events(run_id) if e["kind"] == "scored"][0]
    assert {w["uid"] for w in weak} == product and {w["metric"] for w in weak} == {"product_consistency"}
    again = [t for t in takes if t["round"] == 1]
    assert {t["shot_uid"] for t in again} == product
    first = {t["shot_uid"]: t["metadata"]["keyframe"]["cache_key"] for t in takes if t["round"] == 0 and t["shot_uid"] in product}
    assert all(t["metadata"]["keyframe"]["cache_key"] != first[t["shot_uid"]] for t in again)  # a new keyframe
    card = store.cuts(run_id)[0]["scorecard"]
    hook = next(s for s in card["shots"] if shots[s["shot"]]["uid"] not in product)
    assert hook["not_computed"]["product_consistency"] == "the shot does not show the product"
