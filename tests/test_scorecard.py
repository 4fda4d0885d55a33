"""Scorecard: config merging, composite weights, weak-shot selection, and scoring without CLIP."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agent.runs_view import format_table
from agent.scoring import revise_feedback
from evaluators import scorecard as sc
from evaluators.registry import METRICS, UnknownMetric
from evaluators.scorecard import ScoringConfig, TakeScore, WeakShot

CONFIG = ScoringConfig(
    weights={"clip_score": 3.0, "temporal_flicker": 1.0, "not_black": 1.0, "cross_shot_consistency": 0.5},
    thresholds={"clip_score": 0.30, "not_black": 0.9, "temporal_flicker": 0.9},
    composite_threshold=0.5,
)


def take(composite: float, **values: float | None) -> TakeScore:
    missing = {k: "no CLIP model" for k, v in values.items() if v is None}
    return TakeScore(metrics=values, not_computed=missing, composite=composite)


def moving_frames(n: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frames = np.full((n, 48, 64, 3), 90, np.uint8)
    for t in range(n):
        frames[t, 8:40, 2 * t : 2 * t + 20] = rng.integers(100, 255, 3)
    return frames


def test_from_brief_parts_merges_over_defaults() -> None:
    cfg = ScoringConfig.from_brief_parts({"clip_score": 1.0}, {"motion": 0.2}, 12, 0.7)
    assert cfg.weights["clip_score"] == 1.0
    assert cfg.weights["vbench_consistency"] == METRICS.get("vbench_consistency").weight
    assert cfg.thresholds["motion"] == 0.2 and cfg.thresholds["clip_score"] == METRICS.get("clip_score").threshold
    assert (cfg.frames_per_take, cfg.composite_threshold) == (12, 0.7)
    assert ScoringConfig().weights == METRICS.default_weights()


def test_from_brief_parts_names_unknown_metrics() -> None:
    with pytest.raises(UnknownMetric, match="unknown metric 'clipscore' \\(did you mean 'clip_score'\\?\\)"):
        ScoringConfig.from_brief_parts({"clipscore": 1.0}, {}, 8, 0.6)
    with pytest.raises(UnknownMetric, match="known: clip_score, frame_consistency"):
        ScoringConfig.from_brief_parts({}, {"zzz": 0.5}, 8, 0.6)
    with pytest.raises(ValueError, match="clip_score"):
        ScoringConfig.from_brief_parts({"clip_score": -1.0}, {}, 8, 0.6)


def test_sample_indices_evenly_spaced() -> None:
    assert sc.sample_indices(9, 3) == [0, 4, 8]
    assert sc.sample_indices(100, 4) == [0, 33, 66, 99]
    assert sc.sample_indices(5, 8) == [0, 1, 2, 3, 4]
    assert sc.sample_indices(7, 1) == [3] and sc.sample_indices(0, 4) == []


def test_composite_renormalises_over_computed_metrics() -> None:
    weights = {"clip_score": 3.0, "palette_adherence": 1.0, "not_black": 1.0}
    full = {"clip_score": 0.5, "palette_adherence": 1.0, "not_black": 0.0}
    assert sc.composite(full, weights) == pytest.approx((3 * 0.5 + 1.0 + 0) / 5)
    no_clip = {**full, "clip_score": None}
    assert sc.composite(no_clip, weights) == pytest.approx(0.5)  # (1.0 + 0.0) / 2: clip left out, not 0
    assert sc.composite({"clip_score": 1.3}, weights) == pytest.approx(1.0)  # clipped to [0,1]


def test_flicker_weight_scales_with_stillness() -> None:
    weights = {"temporal_flicker": 1.0, "not_black": 1.0}
    still = {"temporal_flicker": 0.5, "motion": 0.0, "not_black": 1.0}
    moving = {**still, "motion": 0.8}
    assert sc.composite(still, weights) == pytest.approx(0.75)
    assert sc.composite(moving, weights) == pytest.approx((0.2 * 0.5 + 1.0) / 1.2)


def test_score_take_without_embedder_keeps_weight_free_metrics() -> None:
    score, embeds = sc.score_take(
        moving_frames(), prompt="a shoe", palette=["#5a5a5a"], config=ScoringConfig(),
        embedder=None, embedder_reason="CLIP model x could not be loaded offline",
    )
    assert embeds is None
    for name in ("clip_score", "frame_consistency", "vbench_consistency", "product_consistency"):
        assert score.metrics[name] is None and "could not be loaded" in score.not_computed[name]
    for name in ("temporal_flicker", "motion", "palette_adherence", "not_black", "not_frozen"):
        assert 0.0 <= score.metrics[name] <= 1.0, name
    assert score.metrics["not_frozen"] == 1.0 and score.metrics["not_black"] == 1.0
    assert score.composite == pytest.approx(sc.composite(score.metrics, ScoringConfig().weights))
    assert 0.0 < score.composite <= 1.0


def test_score_take_reports_missing_palette_and_reference() -> None:
    score, _ = sc.score_take(np.zeros((4, 8, 8, 3), np.uint8), prompt="p", palette=[], config=ScoringConfig())
    assert "palette" in score.not_computed["palette_adherence"]
    assert score.metrics["not_black"] == 0.0 and score.metrics["not_frozen"] == 0.0
    assert "no CLIP model" in score.not_computed["clip_score"]


def test_score_take_with_tiny_clip(tiny_clip: Path) -> None:
    from evaluators.clip import load_embedder

    embedder, _ = load_embedder(tiny_clip, dtype="fp32")
    frames = moving_frames(20)
    config = ScoringConfig(frames_per_take=5)
    reference = embedder.embed_images(frames[:1])[0]
    score, embeds = sc.score_take(frames, prompt="x x x", palette=["#5a5a5a"], config=config,
                                  embedder=embedder, reference_embed=reference)
    assert embeds.shape == (5, 16)
    np.testing.assert_allclose(embeds, embedder.embed_images(frames[sc.sample_indices(20, 5)]), atol=1e-6)
    assert score.not_computed == {} and all(v is not None for v in score.metrics.values())
    assert score.metrics["product_consistency"] > 0.9  # the reference is one of the frames' own look


def _card() -> sc.CutScorecard:
    shots = [
        take(0.9, clip_score=0.50, not_black=1.0, temporal_flicker=0.99, motion=0.1),  # fine
        take(0.4, clip_score=0.21, not_black=1.0, temporal_flicker=0.99, motion=0.1),  # clip under
        take(0.7, clip_score=0.40, not_black=0.5, temporal_flicker=0.50, motion=0.9),  # black; flicker ok (moving)
        take(0.3, clip_score=None, not_black=0.95, temporal_flicker=0.95, motion=0.0),  # composite under
    ]
    e = np.eye(4)
    embeds = [np.stack([e[0], e[0]]), np.stack([e[0], e[1]]), np.stack([e[1], e[1]]), np.stack([e[1], e[1]])]
    return sc.cut_scorecard(shots, embeds, CONFIG)


def test_cut_scorecard_flags_and_reasons() -> None:
    card = _card()
    assert sc.CutScorecard.model_validate(json.loads(card.model_dump_json())) == card  # JSON round trip
    assert card.weak_shots() == [1, 2, 3]
    assert card.shots[1].reasons == ["clip_score 0.21 is 0.09 under 0.30", "composite 0.40 is 0.10 under 0.50"]
    assert card.shots[2].reasons == ["not_black 0.50 is 0.40 under 0.90"]  # flicker waived: moving
    # cross-shot (n=2): shot0->1 mean cos 0.5, 1->2 0.5, 2->3 1.0 -> 2/3; blended 0.5 with mean composite 0.575
    assert card.cut.value("cross_shot_consistency") == pytest.approx(2 / 3)
    assert card.model_dump()["cut"]["cross_shot_consistency"] == pytest.approx(2 / 3)  # by name in the JSON
    assert card.cut.composite == pytest.approx(0.5 * 0.575 + 0.5 * 2 / 3)
    assert card.thresholds["composite"] == 0.5


def test_cut_scorecard_cross_shot_not_computed_without_embeddings() -> None:
    card = sc.cut_scorecard([take(0.8, clip_score=None), take(0.6, clip_score=None)], [None, None], CONFIG)
    assert card.cut.value("cross_shot_consistency") is None
    assert "CLIP" in card.cut.not_computed["cross_shot_consistency"]
    assert card.cut.composite == pytest.approx(0.7)


def test_weakest_shots_lowest_first_under_threshold_with_limit() -> None:
    card = _card()
    weak = sc.weakest_shots(card, CONFIG, limit=10)
    assert [w.shot for w in weak] == [3, 1, 2]  # composites 0.3, 0.4, 0.7; shot 0 passes
    assert weak[0].metric == "composite" and weak[0].reason == "composite 0.30 is 0.20 under 0.50"
    assert weak[1] == WeakShot(shot=1, metric="clip_score", value=0.21, threshold=0.30,
                               reason="clip_score 0.21 is 0.09 under 0.30")
    assert [w.shot for w in sc.weakest_shots(card, CONFIG, limit=2)] == [3, 1]
    assert sc.weakest_shots(card, CONFIG, limit=0) == []


def test_revise_feedback_is_plain_instruction() -> None:
    weak = sc.weakest_shots(_card(), CONFIG, limit=3)
    texts = [revise_feedback(w) for w in weak]
    assert "prompt" in texts[1] and "Shot 2" in texts[1] and "0.21" in texts[1]  # index 1, said as shot 2
    assert "black" in texts[2]


def test_format_table_shows_values_gaps_and_reasons() -> None:
    table = format_table(_card().model_dump(mode="json"))
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["shot", "score", "clip"]
    assert "clip_score 0.21 is 0.09 under 0.30" in lines[2]
    assert " - " in lines[4]  # shot 3 has no clip_score
    assert "cut: score" in table and "cross_shot_consistency 0.67" in table
    assert "not computed: clip_score: no CLIP model" in table


def test_frozen_is_judged_on_the_rendered_frames_of_a_retimed_take() -> None:
    """An 8 fps render retimed to 24 fps repeats each frame three times; that is not the model freezing."""
    rng = np.random.default_rng(1)
    rendered = rng.integers(0, 255, (8, 16, 16, 3), dtype=np.uint8)
    retimed = np.repeat(rendered, 3, axis=0)
    config = ScoringConfig()
    plain, _ = sc.score_take(retimed, prompt="p", palette=[], config=config)
    judged, _ = sc.score_take(retimed, prompt="p", palette=[], config=config, native_indices=list(range(0, 24, 3)))
    assert plain.metrics["not_frozen"] == pytest.approx(7 / 23)  # the refine loop used to chase this
    assert judged.metrics["not_frozen"] == 1.0
    frozen = np.repeat(rendered[:1], 24, axis=0)  # a model that really froze is still caught
    stuck, _ = sc.score_take(frozen, prompt="p", palette=[], config=config, native_indices=list(range(0, 24, 3)))
    assert stuck.metrics["not_frozen"] == 0.0


def test_frames_scaled_for_scoring_are_those_each_frame_scaled_alone_gives(tmp_path):
    """iter_frames scales with one swscale context for the whole file; the pixels are those a context made
    per frame (PyAV's to_ndarray with a size) gives, so no kept score changes."""
    import av
    from fixtures.media import moving_take

    from generators.media import iter_frames

    take = moving_take(tmp_path / "take.mp4", 90, 12, 200, 120)
    with av.open(str(take)) as container:
        alone = [f.to_ndarray(format="rgb24", width=64, height=38) for f in container.decode(video=0)]
    scaled = list(iter_frames(take, max_side=64))
    assert len(scaled) == len(alone) == 12 and scaled[0].shape == (38, 64, 3)
    assert all(np.array_equal(a, b) for a, b in zip(scaled, alone, strict=True))
    assert not np.array_equal(scaled[0], scaled[-1])  # the take moves: frames told apart
