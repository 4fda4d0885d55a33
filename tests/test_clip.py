"""The CLIP embedder on a tiny local CLIP, checked against torchmetrics' CLIPScore."""

from __future__ import annotations

import sys
from itertools import permutations
from pathlib import Path

import numpy as np
import pytest

from evaluators import metrics
from evaluators.clip import (
    ClipEmbedder,
    PixelSpec,
    cpu_has_fast_bf16,
    fast_pixels,
    load_embedder,
    resolve_dtype,
)

torch = pytest.importorskip("torch")
PROMPTS = ["a red running shoe on wet asphalt", "a bowl of ramen steaming at night"]
# With the seed-0 tiny CLIP and `frames` below: "x x x" is positive on every frame, "a cat" and "ok"
# change sign across frames (so per-frame clamping matters), "shoe" is negative everywhere.
SCORED = ["x x x", "a cat", "ok", "shoe"]
# fast_pixels vs the PIL processor: PIL rounds to uint8 between its two resize passes, torch's uint8 port
# does the same, so no pixel is more than one grey level off (1/255/std after normalisation).
ONE_GREY_LEVEL = 1 / 255 / 0.26130258  # the smallest OPENAI_CLIP_STD
# int8 (dynamic, per-tensor) vs fp32 on the seed-0 tiny CLIP: measured min cosine 0.99989, clip_score 1e-3.
INT8_MIN_COS, INT8_CLIP_SCORE_ABS = 0.999, 5e-3


@pytest.fixture(scope="module")
def embedder(tiny_clip: Path) -> ClipEmbedder:
    emb, reason = load_embedder(tiny_clip, dtype="fp32", batch_size=4)
    assert reason is None and emb is not None
    return emb


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    """40x56 frames (not square, not 32 px): a square sliding over a gradient, then black, white, noise."""
    y, x = np.mgrid[0:40, 0:56]
    out = np.zeros((9, 40, 56, 3), np.uint8)
    for t in range(6):
        out[t, ..., 0] = (x * 4) % 256
        out[t, ..., 1] = (y * 6 + 20 * t) % 256
        out[t, 10:26, 5 + 6 * t : 21 + 6 * t, 2] = 255
    out[7] = 255
    out[8] = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    return out


def test_image_embeddings_are_unit_float32(embedder: ClipEmbedder, frames: np.ndarray) -> None:
    e = embedder.embed_images(frames)
    assert e.shape == (9, embedder.describe()["dim"]) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(e[0], e[-1], atol=1e-3)  # different frames, different embeddings


def test_batching_does_not_change_embeddings(embedder: ClipEmbedder, frames: np.ndarray) -> None:
    whole = ClipEmbedder(embedder.model, embedder.processor, model_id="x", batch_size=64).embed_images(frames)
    np.testing.assert_allclose(embedder.embed_images(frames), whole, atol=1e-6)


def test_fast_path_is_used_for_a_plain_clip_processor(embedder: ClipEmbedder) -> None:
    assert embedder.pixel_spec == PixelSpec(32, (32, 32), "bicubic", embedder.processor.image_processor.image_mean,
                                            embedder.processor.image_processor.image_std)


@pytest.mark.parametrize("hw", [(40, 56), (57, 40), (33, 33), (31, 100), (120, 208)])
def test_fast_pixels_match_the_processor(embedder: ClipEmbedder, hw: tuple[int, int]) -> None:
    frames = np.random.default_rng(hw[0]).integers(0, 256, (3, *hw, 3), dtype=np.uint8)
    frames[0] = np.linspace(0, 255, hw[1], dtype=np.uint8)[None, :, None]  # a smooth ramp as well as noise
    reference = embedder.processor(images=list(frames), return_tensors="pt")["pixel_values"]
    fast = fast_pixels(frames, embedder.pixel_spec)
    assert fast.shape == reference.shape and fast.dtype == torch.float32
    diff = (fast - reference).abs()
    assert float(diff.max()) <= ONE_GREY_LEVEL * 1.001 and float(diff.mean()) < 2e-4


def test_fast_path_embeddings_match_the_processor_path(embedder: ClipEmbedder, frames: np.ndarray) -> None:
    reference = ClipEmbedder(embedder.model, embedder.processor, model_id="x", fast_preprocess=False)
    assert reference.pixel_spec is None
    cos = (embedder.embed_images(frames) * reference.embed_images(frames)).sum(1)
    assert cos.min() > 1 - 1e-4


def test_unsupported_processor_falls_back_to_the_processor(embedder: ClipEmbedder, frames: np.ndarray) -> None:
    from transformers import CLIPImageProcessorPil, CLIPProcessor

    squash = CLIPImageProcessorPil(size={"height": 32, "width": 32}, do_center_crop=False)  # no short-edge resize
    processor = CLIPProcessor(image_processor=squash, tokenizer=embedder.processor.tokenizer)
    emb = ClipEmbedder(embedder.model, processor, model_id="x")
    assert emb.pixel_spec is None
    expected = squash(images=list(frames), return_tensors="pt")["pixel_values"]
    assert torch.equal(emb.pixels(frames), expected)


def test_int8_is_close_to_fp32(tiny_clip: Path, embedder: ClipEmbedder, frames: np.ndarray) -> None:
    int8, reason = load_embedder(tiny_clip, dtype="int8")
    assert reason is None and int8 is not None and int8.describe()["dtype"] == "int8"
    quantized = [name for name, m in int8.model.named_modules() if "quantized" in type(m).__module__]
    assert quantized and all(name.startswith(("vision_model.", "visual_projection")) for name in quantized)
    image, ref = int8.embed_images(frames), embedder.embed_images(frames)
    assert (image * ref).sum(1).min() > INT8_MIN_COS and not np.array_equal(image, ref)
    for prompt in SCORED:
        text = int8.embed_text(prompt)[0]
        np.testing.assert_array_equal(text, embedder.embed_text(prompt)[0])  # the text tower stays fp32
        assert metrics.clip_score(image, text) == pytest.approx(metrics.clip_score(ref, text), abs=INT8_CLIP_SCORE_ABS)


def test_int8_is_cpu_only_and_never_automatic(tiny_clip: Path) -> None:
    assert resolve_dtype("int8", "cpu") == torch.float32  # loaded in fp32, then quantised
    assert resolve_dtype("auto", "cpu") != torch.qint8
    with pytest.raises(ValueError, match="CPU only"):
        load_embedder(tiny_clip, dtype="int8", device="cuda")


def test_different_prompts_give_different_text_embeddings(embedder: ClipEmbedder) -> None:
    t = embedder.embed_text(PROMPTS)
    assert t.shape == (2, embedder.describe()["dim"])
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-5)
    assert float(t[0] @ t[1]) < 0.999
    np.testing.assert_allclose(embedder.embed_text(PROMPTS[0])[0], t[0], atol=1e-5)


def test_describe(embedder: ClipEmbedder, tiny_clip: Path) -> None:
    assert embedder.describe() == {"model": str(tiny_clip), "dtype": "float32", "device": "cpu", "dim": 16}


def test_bf16_is_close_to_fp32(tiny_clip: Path, embedder: ClipEmbedder, frames: np.ndarray) -> None:
    bf16, _ = load_embedder(tiny_clip, dtype="bf16")
    assert bf16 is not None and bf16.describe()["dtype"] == "bfloat16"
    np.testing.assert_allclose(bf16.embed_images(frames), embedder.embed_images(frames), atol=0.05)


def test_auto_dtype_follows_cpu_bf16_flags(tmp_path: Path) -> None:
    (tmp_path / "amx").write_text("flags\t: fpu avx2 avx512f avx512_bf16 amx_bf16\n")
    (tmp_path / "plain").write_text("flags\t: fpu avx2 fma\n")
    assert cpu_has_fast_bf16(tmp_path / "amx") and not cpu_has_fast_bf16(tmp_path / "plain")
    assert not cpu_has_fast_bf16(tmp_path / "missing")
    expected = torch.bfloat16 if cpu_has_fast_bf16() else torch.float32
    assert resolve_dtype("auto", "cpu") == expected
    with pytest.raises(ValueError):
        resolve_dtype("fp16", "cpu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fp16"):
        load_embedder("anything", dtype="fp16")  # a typo is an error, not "model unavailable"


def test_missing_model_gives_reason_not_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    emb, reason = load_embedder("openai/clip-vit-base-patch32")
    assert emb is None and "openai/clip-vit-base-patch32" in reason and "hf download" in reason
    emb, reason = load_embedder(tmp_path / "no-such-model")
    assert emb is None and "no-such-model" in reason


def test_missing_transformers_gives_reason(monkeypatch: pytest.MonkeyPatch, tiny_clip: Path) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers -> ImportError
    emb, reason = load_embedder(tiny_clip)
    assert emb is None and "transformers" in reason and "briefcut[ml]" in reason


# independent implementation: torchmetrics' CLIPScore over the same local model -----------------


class _TensorFeatures(torch.nn.Module):
    """torchmetrics 1.9 expects get_*_features to return tensors (transformers 4); 5 returns outputs."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model, self.config = model, model.config

    def get_image_features(self, *args, **kwargs) -> torch.Tensor:
        return self.model.get_image_features(*args, **kwargs).pooler_output

    def get_text_features(self, *args, **kwargs) -> torch.Tensor:
        return self.model.get_text_features(*args, **kwargs).pooler_output


@pytest.fixture(scope="module")
def tm_clipscore(tiny_clip: Path):
    """torchmetrics CLIPScore loading the tiny CLIP from its local path, offline."""
    pytest.importorskip("torchmetrics")
    from torchmetrics.multimodal.clip_score import CLIPScore
    from transformers import CLIPModel, CLIPProcessor

    def load():
        return _TensorFeatures(CLIPModel.from_pretrained(tiny_clip).eval()), CLIPProcessor.from_pretrained(tiny_clip)

    return CLIPScore(model_name_or_path=load)


def _chw(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frames).permute(0, 3, 1, 2)


def test_scored_prompts_cover_positive_mixed_and_negative(embedder, frames) -> None:
    cos = embedder.embed_images(frames) @ embedder.embed_text(SCORED).T
    assert (cos[:, 0] > 0).all() and (cos[:, 3] < 0).all()
    assert (cos[:, 1] > 0).any() and (cos[:, 1] < 0).any()


@pytest.mark.parametrize("prompt", SCORED)
def test_clip_score_matches_torchmetrics(embedder, frames, tm_clipscore, prompt: str) -> None:
    # torchmetrics clamps the batch mean, Hessel each frame: score frame by frame, then average
    with torch.no_grad():
        per_frame = [float(tm_clipscore(_chw(frames[i : i + 1]), [prompt])) for i in range(len(frames))]
    ours = metrics.clip_score(embedder.embed_images(frames), embedder.embed_text(prompt)[0])
    assert ours == pytest.approx(np.mean(per_frame) * metrics.CLIP_SCORE_W / 100, abs=1e-5)


def test_clip_score_matches_torchmetrics_batch_rescale(embedder, frames, tm_clipscore) -> None:
    image, text = embedder.embed_images(frames), embedder.embed_text(SCORED[0])[0]
    assert (image @ text).min() > 0  # the batch rescale holds only where every cosine is positive
    with torch.no_grad():
        batch = float(tm_clipscore(_chw(frames), [SCORED[0]] * len(frames)))
    assert metrics.clip_score(image, text) == pytest.approx(batch / 40, abs=1e-5)


def test_frame_consistency_matches_torchmetrics_image_pairs(embedder, frames, tm_clipscore) -> None:
    e = embedder.embed_images(frames)
    pairs = list(permutations(range(len(frames)), 2))
    assert min(float(e[i] @ e[j]) for i, j in pairs) > 0  # torchmetrics clamps at 0; CLIP-F does not
    src = [torch.from_numpy(frames[i]).permute(2, 0, 1) for i, _ in pairs]
    tgt = [torch.from_numpy(frames[j]).permute(2, 0, 1) for _, j in pairs]
    with torch.no_grad():
        reference = float(tm_clipscore(src, tgt)) / 100
    assert metrics.frame_consistency(e) == pytest.approx(reference, abs=1e-5)


# lean scoring: no torch/transformers unless the CLIP weights are on this machine ---------------------

SCORE_ONE_TAKE = """
import json, sys
from pathlib import Path
from agent.brief import load_brief
from agent.profiles import ClipChoice
from agent.scoring import Scorer
from agent.store import Store
from generators.base import BackendPool

model, media, db, brief = sys.argv[1:5]
store = Store(Path(db))
take = {"id": "take-1", "path": media, "metadata": {}}
store.write("takes", take)
scorer = Scorer("run-1", load_brief(Path(brief)), ClipChoice(model=model, dtype="fp32"), store, BackendPool())
score = scorer.take_score(take, "earbuds on a desk")
heavy = sorted(m for m in ("torch", "transformers", "huggingface_hub") if m in sys.modules)
print(json.dumps({"heavy": heavy, "score": score.model_dump(mode="json")}))
"""


def _score_in_fresh_process(tmp_path: Path, model: str, hf_home: Path, media: Path, **env_: str) -> dict:
    import json
    import os
    import subprocess

    root = Path(__file__).parents[1]
    unset = ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME")  # the cache is where the test puts it
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env |= {"HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(root), **env_}
    db = tmp_path / f"{hf_home.name}.db"
    proc = subprocess.run([sys.executable, "-c", SCORE_ONE_TAKE, model, str(media), str(db),
                           str(root / "briefs" / "bumper.yaml")], capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _cache_as_hub_id(folder: Path, hf_home: Path, repo: str) -> None:
    """Lay `folder` out as the HF cache's snapshot of hub repo `repo` (what `hf download` leaves)."""
    import shutil

    cached = hf_home / "hub" / f"models--{repo.replace('/', '--')}"
    shutil.copytree(folder, cached / "snapshots" / "0123abcd")
    (cached / "refs").mkdir()
    (cached / "refs" / "main").write_text("0123abcd")


def test_scoring_without_clip_weights_imports_no_torch(tmp_path: Path, tiny_clip: Path) -> None:
    from agent.brief import load_brief
    from agent.scoring import SCORING_MAX_SIDE, scoring_config
    from evaluators.scorecard import score_take
    from generators.media import read_frames, write_frames

    media = tmp_path / "take.mp4"
    rng = np.random.default_rng(0)
    write_frames(media, [np.roll(rng.integers(0, 255, (48, 64, 3), np.uint8), 3 * t, axis=1) for t in range(8)], 24)
    # 1. the default hub id, not in an empty cache: the take is scored without torch or transformers (nor
    #    huggingface_hub: the model's folder is not in the cache at all)
    lean = _score_in_fresh_process(tmp_path, "openai/clip-vit-base-patch32", tmp_path / "empty-hf", media)
    assert lean["heavy"] == []
    assert "clip-vit-base-patch32" in lean["score"]["not_computed"]["clip_score"]
    # ... and the weight-free metrics are what scoring the same frames with no embedder gives
    config = scoring_config(load_brief(Path(__file__).parents[1] / "briefs" / "bumper.yaml"))
    expected, _ = score_take(read_frames(media, max_side=SCORING_MAX_SIDE), prompt="earbuds on a desk",
                             palette=["#111111", "#FF3366", "#FFFFFF"], config=config)  # fmt: skip
    for name in ("temporal_flicker", "motion", "palette_adherence", "not_black", "not_frozen"):
        assert lean["score"]["metrics"][name] == expected.metrics[name], name
    # 2. the same hub id with its weights in the cache: CLIP loads and scores
    _cache_as_hub_id(tiny_clip, tmp_path / "full-hf", "openai/clip-vit-base-patch32")
    other = media.with_name("other.mp4")  # a file of its own: not the CLIP-less score kept beside `media`
    other.write_bytes(media.read_bytes())
    full = _score_in_fresh_process(tmp_path, "openai/clip-vit-base-patch32", tmp_path / "full-hf", other)
    assert full["heavy"] == ["huggingface_hub", "torch", "transformers"]
    assert full["score"]["metrics"]["clip_score"] is not None and "clip_score" not in full["score"]["not_computed"]
    # 3. the cache where HF_HUB_CACHE puts it (not under HF_HOME): found the same way
    moved = other.with_name("moved.mp4")
    moved.write_bytes(media.read_bytes())
    (tmp_path / "full-hf" / "hub").rename(tmp_path / "hub-elsewhere")
    found = _score_in_fresh_process(tmp_path, "openai/clip-vit-base-patch32", tmp_path / "no-hf", moved,
                                    HF_HUB_CACHE=str(tmp_path / "hub-elsewhere"))  # fmt: skip
    assert found["heavy"] == ["huggingface_hub", "torch", "transformers"]
    assert found["score"]["metrics"]["clip_score"] == full["score"]["metrics"]["clip_score"]
