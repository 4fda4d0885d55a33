"""The CLIP embedder on a tiny local CLIP, checked against torchmetrics' CLIPScore."""

from __future__ import annotations

import sys
from itertools import permutations
from pathlib import Path

import numpy as np
import pytest

from evaluators import metrics
from evaluators.clip import ClipEmbedder, cpu_has_fast_bf16, load_embedder, resolve_dtype

torch = pytest.importorskip("torch")
PROMPTS = ["a red running shoe on wet asphalt", "a bowl of ramen steaming at night"]
# With the seed-0 tiny CLIP and `frames` below: "x x x" is positive on every frame, "a cat" and "ok"
# change sign across frames (so per-frame clamping matters), "shoe" is negative everywhere.
SCORED = ["x x x", "a cat", "ok", "shoe"]


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
