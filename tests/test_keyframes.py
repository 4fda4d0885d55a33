"""Keyframe-first product shots on tiny models: the product placed on the canvas, the keyframe (product pixels kept), every
image-to-video family offered, the keyframe cache, cache keys, parking one pipeline for another, and
product likeness as a refine trigger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from generators.base import IMAGE, VIDEO, ImageRequest, ShotRequest
from generators.image_families import get_image_family, snap_image
from generators.matte import Placement, composite, cutout, load_cutout, place
from generators.tiny_i2v import product_png

pytest.importorskip("diffusers")
ROOT = Path(__file__).parents[1]
I2V = {"wan-i2v": "wan-i2v", "wan2.2-i2v": "wan2.2-i2v", "wan2.2-ti2v": "wan2.2-ti2v", "ltx-i2v": "ltx",
       "ltx-condition": "ltx", "cogvideox-i2v": "cogvideox-i2v"}
PIPELINES = {"wan-i2v": "WanImageToVideoPipeline", "wan2.2-i2v": "WanImageToVideoPipeline",
             "wan2.2-ti2v": "WanImageToVideoPipeline", "ltx-i2v": "LTXImageToVideoPipeline",
             "ltx-condition": "LTXConditionPipeline", "cogvideox-i2v": "CogVideoXImageToVideoPipeline"}


def shot(product: Path | None, seed: int = 0, **kw: Any) -> ShotRequest:
    base = {"prompt": "a gold bottle on a beach at dawn", "negative_prompt": "blurry", "seconds": 0.5, "fps": 24,
            "width": 64, "height": 36, "seed": seed, "keyframe": True, "shows_product": True,
            "product_image": product, "product_name": "Lumen Bottle", "palette": ["#0B1F3A", "#F2C14E"]}
    return ShotRequest(**{**base, **kw})


def first_frames_encoded(backend: Any) -> list[np.ndarray]:
    """Record, as [H,W,3] in -1..1, the first frame of every video the loaded pipeline's VAE encodes."""
    backend.ensure_loaded()
    vae = backend.pipe.vae
    encode, seen = vae.encode, []

    def recording(x: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(x[0, :, 0].float().permute(1, 2, 0).cpu().numpy())
        return encode(x, *args, **kwargs)

    vae.encode = recording
    return seen


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return product_png(tmp_path_factory.mktemp("product") / "bottle.png")


# 1. The product on the canvas (the cutout itself is `generators.matte`'s, tested in test_matte) ---------


def test_placement_keeps_the_cutout_pixels_and_composite_lays_them_over(product: Path) -> None:
    cut = load_cutout(product)
    assert cut.method == "alpha"
    layer, alpha = place(cut, (64, 96))
    rows = np.flatnonzero(alpha.max(axis=1) > 0.5)
    assert 0.55 < (rows[-1] - rows[0] + 1) / 96 <= 0.61  # 60% of the height
    assert abs(np.flatnonzero(alpha.max(axis=0) > 0.5).mean() - 31.5) < 1.5  # centred
    gold = (alpha == 1.0) & (layer[..., 2] < 120)  # the body (the cap is white): the bottle's own gold
    assert gold.sum() > 100 and (np.abs(np.median(layer[gold], axis=0) - (242, 193, 78)) <= 2).all()
    ground = np.zeros((96, 64, 3), np.uint8)
    out = composite(ground, layer, alpha)
    assert (out[alpha == 1.0] == layer[alpha == 1.0]).all() and (out[alpha == 0] == 0).all()
    edge = (alpha > 0.2) & (alpha < 0.8)
    assert edge.any() and (out[edge] < layer[edge]).any()  # the edge blends into the ground


def test_an_image_that_cannot_be_cut_out_is_placed_whole_as_a_card() -> None:
    from PIL import Image

    noise = np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8)
    cut = cutout(Image.fromarray(noise))
    assert cut.method == "card" and cut.coverage == 1.0
    layer, alpha = place(cut, (60, 100), Placement(centre=(0.5, 0.5), height=0.4, width=1.0))
    inside = alpha == 1.0
    assert inside.sum() == 40 * 30  # scaled 1:1 (0.4 x 100 = 40 rows), every pixel opaque
    np.testing.assert_array_equal(layer[30:70, 15:45], noise)
    assert not alpha[:30].any() and not alpha[70:].any()


# 2. The keyframe ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keyframer(smoke_models: dict[str, Any]) -> Any:
    return IMAGE.create("diffusers", smoke_models["keyframe-sdxl-inpaint"])


def test_keyframe_keeps_the_product_pixels_and_generates_the_scene(keyframer: Any, product: Path,
                                                                    tmp_path: Path) -> None:
    w, h = snap_image(get_image_family("sdxl"), 24, 32, 32)  # the size it renders at: no resize after
    request = ImageRequest(prompt="a bottle on a beach", width=w, height=h, seed=3, product_image=product,
                           palette=["#0B1F3A", "#F2C14E"])
    take = keyframer.render(request, tmp_path / "k.png")
    image = np.asarray(Image.open(take.path).convert("RGB"))
    assert image.shape == (h, w, 3)
    layer, alpha = place(load_cutout(product), (w, h))
    inside = alpha == 1.0
    assert inside.sum() > 20 and (image[inside] == layer[inside]).all()  # the product's own pixels, exactly
    meta = take.metadata
    assert meta["mode"] == "product composed, scene inpainted" and meta["product"]["matte"] == "alpha"
    assert meta["family"] == "sdxl" and meta["pipeline"] == "StableDiffusionXLInpaintPipeline"
    assert "Lumen" not in meta["prompt"] and "the product in the scene" in meta["prompt"]
    # the scene around it is generated (not the flat palette ground), and seeded
    again, _ = keyframer.render_image(request)
    other, _ = keyframer.render_image(request.model_copy(update={"seed": 4}))
    np.testing.assert_array_equal(image, again)
    assert np.abs(image[~inside].astype(int) - other[~inside].astype(int)).mean() > 0.5
    text_only, meta2 = keyframer.render_image(request.model_copy(update={"product_image": None}))
    assert meta2["mode"] == "text-to-image" and meta2["product"] is None
    assert np.abs(text_only[inside].astype(int) - layer[inside].astype(int)).mean() > 5


def test_a_text_to_image_checkpoint_runs_as_its_inpainting_pipeline(smoke_models: dict[str, Any],
                                                                     product: Path) -> None:
    flux = IMAGE.create("diffusers", smoke_models["keyframe-flux"])
    image, meta = flux.render_image(ImageRequest(prompt="a bottle", width=32, height=32, product_image=product))
    assert image.shape == (32, 32, 3)
    assert meta["family"] == "flux-schnell" and meta["pipeline"] == "FluxInpaintPipeline"
    assert meta["parameters"]["steps"] == 2 and "FluxPipeline weights run as FluxInpaintPipeline" in meta["notes"]


# 3. Keyframe, then image-to-video, for every family offered -------------------------------------------------


@pytest.mark.parametrize("name", list(I2V))
def test_every_i2v_family_animates_the_keyframe(name: str, smoke_models: dict[str, Any], product: Path,
                                                tmp_path: Path) -> None:
    backend = VIDEO.create("diffusers", smoke_models[name])
    encoded = first_frames_encoded(backend.keyframes.i2v())
    take = backend.render(shot(product, media_dir=tmp_path / "media"), tmp_path / "a.mp4")
    assert take.num_frames == 12 and take.fps == 24  # exactly the shot's frames at the cut's fps
    # the pipeline was handed the keyframe (the product composed in) and encoded it as the clip's first frame
    keyframe = np.asarray(Image.open(take.metadata["keyframe"]["path"]).convert("RGB"), np.float32) / 127.5 - 1
    assert encoded and encoded[0].shape == keyframe.shape
    np.testing.assert_allclose(encoded[0], keyframe, atol=2e-2)
    meta = take.metadata
    assert meta["family"] == I2V[name] and meta["pipeline"] == PIPELINES[name]
    assert meta["mode"] == "keyframe + image-to-video"
    key = meta["keyframe"]
    assert key["product"]["matte"] == "alpha" and key["family"] == "sdxl" and key["seed"] == 0
    assert (key["parameters"]["width"], key["parameters"]["height"]) != (0, 0) and key["reused"] is False
    a, _ = backend.keyframes.render(shot(product, seed=1))
    b, _ = backend.keyframes.render(shot(product, seed=1))
    np.testing.assert_allclose(a, b, atol=1e-5)  # seeded: keyframe and motion


def test_a_model_without_i2v_renders_text_to_video_and_says_so(smoke_models: dict[str, Any], product: Path,
                                                              tmp_path: Path) -> None:
    backend = VIDEO.create("diffusers", smoke_models["mochi"])
    take = backend.render(shot(product), tmp_path / "m.mp4")
    assert take.metadata["mode"] == "text-to-video" and "keyframe" not in take.metadata
    assert any("no image-to-video model" in n for n in take.metadata["notes"])


def test_keyframes_are_kept_in_the_media_folder_and_reused(smoke_models: dict[str, Any], product: Path,
                                                           tmp_path: Path) -> None:
    media = tmp_path / "media"
    first = VIDEO.create("diffusers", smoke_models["wan-i2v"]).render(shot(product, media_dir=media), tmp_path / "1.mp4")
    kept = first.metadata["keyframe"]
    assert kept["reused"] is False and Path(kept["path"]).is_file() and Path(kept["path"]).with_suffix(".json").is_file()
    assert Path(kept["path"]).parent.parent == media / "keyframes"
    # another image-to-video setting: a new take, the same keyframe from the cache
    steps3 = VIDEO.create("diffusers", {**smoke_models["wan-i2v"], "steps": 3})
    second = steps3.render(shot(product, media_dir=media), tmp_path / "2.mp4")
    again = second.metadata["keyframe"]
    assert again["reused"] is True and again["cache_key"] == kept["cache_key"] and again["model"] == kept["model"]
    assert second.metadata["parameters"]["steps"] == 3
    # another product image (same name, other bytes): another keyframe
    changed = tmp_path / "bottle.png"
    rgba = np.asarray(Image.open(product)).copy()
    rgba[20:30, 15:30, :3] = (10, 200, 10)
    Image.fromarray(rgba).save(changed)
    third = steps3.render(shot(changed, media_dir=media), tmp_path / "3.mp4")
    assert third.metadata["keyframe"]["cache_key"] != kept["cache_key"]


def test_cache_identity_keyframe_takes_depend_on_their_models(smoke_models: dict[str, Any], product: Path) -> None:
    base = VIDEO.create("diffusers", smoke_models["wan-i2v"])
    other_keyframes = VIDEO.create("diffusers", {**smoke_models["wan-i2v"], "keyframe_options": {"steps": 3}})
    plain = shot(product, keyframe=False, shows_product=False)
    ident, ignored = base.cache_identity(plain)
    assert ident == other_keyframes.cache_identity(plain)[0]  # a text-to-video take ignores the keyframe model
    assert {"product_image", "keyframe", "logo"} <= ignored
    kident, kignored = base.cache_identity(shot(product))
    assert kident != ident and kident != other_keyframes.cache_identity(shot(product))[0]
    assert "product_image" not in kignored and kident["i2v"]["family"] == "wan-i2v"


def test_lora_goes_to_the_i2v_model_only_when_it_is_the_same_model(smoke_models: dict[str, Any],
                                                                   product: Path) -> None:
    wan = VIDEO.create("diffusers", smoke_models["wan-i2v"])
    ltx = VIDEO.create("diffusers", smoke_models["ltx-i2v"])
    assert wan.keyframes._lora_applies() is False and ltx.keyframes._lora_applies() is True
    _, meta = wan.keyframes.render(shot(product, lora=[{"path_or_id": "/nowhere/lora", "weight": 1.0}]))
    assert meta["parameters"]["lora"] == [] and any("LoRA not applied" in n for n in meta["notes"])


# 4. Two pipelines on one device ----------------------------------------------------------------------------


def test_to_park_frees_the_fewest_least_recent() -> None:
    from generators.memory import to_park

    assert to_park(10, 5, [("a", 4), ("b", 4)]) == []
    assert to_park(2, 5, [("a", 4), ("b", 4)]) == ["a"]
    assert to_park(0, 5, [("a", 0), ("b", 4), ("c", 4)]) == ["b", "c"]
    assert to_park(0, 100, [("a", 4)]) == ["a"]  # not enough even then: park what there is


def test_a_parked_pipeline_is_placed_again_and_renders_the_same(smoke_models: dict[str, Any]) -> None:
    from generators.memory import make_room

    video = VIDEO.create("diffusers", {**smoke_models["wan"], "memory_plan": "none"})
    still = IMAGE.create("diffusers", {**smoke_models["keyframe-sdxl-inpaint"], "memory_plan": "none"})
    plain = shot(None, keyframe=False, shows_product=False)
    before, _ = video.render_frames(plain)
    still.ensure_loaded()
    assert make_room("cpu", still, need=2**40) == []  # nothing measured on a CPU: nothing moves
    parked = make_room("cpu", still, need=2**40, free=0)  # the keyframe model needs the whole device
    assert video in parked and still not in parked and all(h.parked for h in parked)
    assert video.park_count == 1
    after, meta = video.render_frames(plain)
    assert not video.parked and meta["parks"] == 1
    np.testing.assert_allclose(before, after, atol=1e-6)


# 5. Product likeness: judged on product shots, a refine trigger ---------------------------------------------


def test_product_consistency_is_judged_on_product_shots_and_triggers_refine() -> None:
    from agent.scoring import revise_feedback
    from evaluators.scorecard import ScoringConfig, TakeScore, cut_scorecard, score_take, weakest_shots

    config = ScoringConfig()
    frames = np.full((4, 16, 16, 3), 128, np.uint8)
    score, _ = score_take(frames, prompt="p", palette=[], config=config, shows_product=False)
    assert score.metrics["product_consistency"] is None
    assert score.not_computed["product_consistency"] in ("no CLIP model was loaded", "the shot does not show the product")
    drifted = TakeScore(metrics={"product_consistency": 0.3, "not_black": 1.0}, composite=0.9)
    steady = TakeScore(metrics={"product_consistency": 0.9, "not_black": 1.0}, composite=0.9)
    card = cut_scorecard([steady, drifted], [None, None], config)
    weak = weakest_shots(card, config, limit=4)
    assert [(w.shot, w.metric) for w in weak] == [(1, "product_consistency")]
    assert "drifts from the reference" in revise_feedback(weak[0])


# 6. Licenses: the keyframe model's is recorded, and a non-commercial one is flagged on the cut ----------------


def test_a_hub_keyframe_model_records_its_license_and_a_non_commercial_one_is_flagged(
        smoke_models: dict[str, Any], product: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from agent.assembly.delivery import made_with_warnings
    from generators.image_diffusers import DEFAULT_KEYFRAME_MODEL
    from generators.licenses import license_of

    assert license_of(DEFAULT_KEYFRAME_MODEL)["name"] == "CreativeML OpenRAIL++-M"
    assert license_of(DEFAULT_KEYFRAME_MODEL)["commercial"] is True
    # the tiny FLUX weights in a (local, offline) HF cache under FLUX.1 [dev]'s id: loaded by id, like a user's
    commit, repo = "d" * 40, "black-forest-labs/FLUX.1-dev"
    cache = tmp_path / "hub" / f"models--{repo.replace('/', '--')}"
    shutil.copytree(smoke_models["keyframe-flux"]["model"], cache / "snapshots" / commit)
    (cache / "refs").mkdir()
    (cache / "refs" / "main").write_text(commit)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    flux = IMAGE.create("diffusers", {**smoke_models["keyframe-flux"], "model": repo})
    _, meta = flux.render_image(ImageRequest(prompt="a bottle", width=32, height=32, product_image=product))
    assert meta["model"] == repo and meta["revision"] == commit
    assert meta["license"]["name"] == "FLUX.1 [dev] Non-Commercial License" and meta["license"]["commercial"] is False
    # a cut whose product shot was animated from that keyframe cannot ship: the deliverable says which model
    take = {"shot": 1, "kind": "video", "backend": "diffusers", "model": "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers",
            "metadata": {"license": license_of("Wan-AI/Wan2.1-I2V-14B-480P-Diffusers"), "keyframe": meta}}
    warnings = made_with_warnings([take])
    assert [(w["shot"], w["kind"]) for w in warnings] == [(1, "license")]
    assert repo in warnings[0]["detail"] and "non-commercial" in warnings[0]["detail"]


# 7. A keyframe or image-to-video model that cannot be had -------------------------------------------------


def test_models_that_cannot_be_had_leave_product_shots_text_to_video_said_before_and_on_the_take(
        smoke_models: dict[str, Any], product: Path, tmp_path: Path) -> None:
    from agent.default_models import keyframe_notes
    from agent.settings import BackendChoice
    from generators.errors import ModelUnavailable

    # tiny Wan 2.1 with the family's default image-to-video model, a 14B hub id not in the (offline) cache
    default = {k: v for k, v in smoke_models["wan-i2v"].items() if k != "i2v_model"}
    take = VIDEO.create("diffusers", default).render(shot(product), tmp_path / "t.mp4")
    assert take.metadata["mode"] == "text-to-video" and "keyframe" not in take.metadata
    assert any("Wan2.1-I2V-14B" in n and "HF_HUB_OFFLINE" in n for n in take.metadata["notes"])
    [note] = keyframe_notes(BackendChoice(backend="diffusers", options=default))
    assert "Wan2.1-I2V-14B" in note and note.endswith("product shots render text-to-video meanwhile")
    missing = {**smoke_models["wan-i2v"], "keyframe_model": str(tmp_path / "gone")}
    assert "model folder" in keyframe_notes(BackendChoice(backend="diffusers", options=missing))[0]
    assert keyframe_notes(BackendChoice(backend="diffusers", options=smoke_models["wan-i2v"])) == []
    # a video model that animates images cannot do without its keyframes: an error before any work
    own = {**smoke_models["wan2.2-ti2v"], "pipeline": "WanImageToVideoPipeline", "keyframe_model": str(tmp_path / "gone")}
    with pytest.raises(ModelUnavailable, match="animates keyframes"):
        keyframe_notes(BackendChoice(backend="diffusers", options=own))
