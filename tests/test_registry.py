"""Registries by name: backends and metrics register and unregister through their public methods, and
a new metric is one function plus one registration (scorecard, config, brief check and table follow)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from agent.brief import load_brief
from agent.errors import BriefError, UnknownBackend
from agent.runs_view import format_table
from evaluators import scorecard as sc
from evaluators.registry import METRICS, Metric, TakeInputs, UnknownMetric
from generators.base import VIDEO, ShotRequest, VideoGenerator, VideoTake

BRIEF = Path(__file__).parents[1] / "briefs" / "bumper.yaml"


class NullVideo(VideoGenerator):
    name: ClassVar[str] = "null-video"

    def render(self, request: ShotRequest, out: Path) -> VideoTake:
        raise NotImplementedError


def test_a_backend_registers_and_unregisters() -> None:
    VIDEO.register(NullVideo)
    try:
        assert "null-video" in VIDEO.names() and VIDEO.get("null-video") is NullVideo
    finally:
        VIDEO.unregister("null-video")
    assert "null-video" not in VIDEO.names()
    with pytest.raises(UnknownBackend, match="unknown video backend 'null-video'; known: animatic"):
        VIDEO.get("null-video")
    with pytest.raises(UnknownBackend, match="known: animatic"):
        VIDEO.unregister("null-video")


@pytest.fixture
def sharpness():
    """A metric added the way a plugin would: one function, one registration; removed afterwards."""

    @METRICS.metric("sharpness", needs=("frames",), weight=1.0, threshold=0.99, label="sharp")
    def _sharpness(take: TakeInputs) -> float:
        gray = take.sampled.astype(np.float32).mean(-1)
        return float(min(1.0, np.abs(np.diff(gray, axis=-1)).mean() / 32))

    yield METRICS.get("sharpness")
    METRICS.unregister("sharpness")


def frames() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 40, (6, 32, 32, 3), dtype=np.uint8)


def test_a_registered_metric_reaches_the_score_config_card_and_table(sharpness: Metric) -> None:
    config = sc.ScoringConfig.from_brief_parts({"sharpness": 2.0}, {}, 4, 0.0)
    assert config.weights["sharpness"] == 2.0 and config.thresholds["sharpness"] == 0.99
    score, _ = sc.score_take(frames(), prompt="p", palette=["#000000"], config=config)
    assert 0 < score.metrics["sharpness"] < 0.99
    assert score.composite == pytest.approx(sc.composite(score.metrics, config.weights))
    card = sc.cut_scorecard([score], [None], config)
    assert any(r.startswith("sharpness ") for r in card.shots[0].reasons)  # under its threshold: weak
    table = format_table(card.model_dump(mode="json"))
    assert table.splitlines()[0].split()[-2:] == ["sharp", "weak"]  # its column, by its label


def test_an_unregistered_metric_is_gone_and_briefs_naming_it_fail_to_load(tmp_path: Path, sharpness: Metric) -> None:
    brief = tmp_path / "b.yaml"
    brief.write_text(BRIEF.read_text() + "scoring:\n  weights:\n    sharpness: 1.0\n")
    assert load_brief(brief).scoring.weights == {"sharpness": 1.0}
    METRICS.unregister("sharpness")
    try:
        with pytest.raises(BriefError, match=r"b.yaml:\d+:\d+: scoring.weights.sharpness: unknown metric 'sharpness'"):
            load_brief(brief)
        with pytest.raises(UnknownMetric, match="unknown metric 'sharpness'; known: clip_score"):
            METRICS.get("sharpness")
    finally:
        METRICS.register(sharpness)  # for the fixture to unregister


def test_a_metric_name_is_registered_once_and_needs_are_known() -> None:
    with pytest.raises(ValueError, match="registered already"):
        METRICS.register(METRICS.get("motion"))
    with pytest.raises(ValueError, match="unknown needs"):
        METRICS.register(Metric(name="x", fn=lambda t: 0.0, needs=("telepathy",), weight=0.0))


def test_a_brief_with_a_misspelt_metric_stops_at_load_with_its_line_and_a_suggestion(tmp_path: Path) -> None:
    text = BRIEF.read_text() + "scoring:\n  thresholds:\n    not_frozen: 0.5\n    flickr: 0.8\n"
    (tmp_path / "b.yaml").write_text(text)
    line = text.splitlines().index("    flickr: 0.8") + 1
    with pytest.raises(BriefError) as err:
        load_brief(tmp_path / "b.yaml")
    assert str(err.value).startswith(f"{tmp_path / 'b.yaml'}:{line}:5: scoring.thresholds.flickr: unknown metric 'flickr'")
    assert "(did you mean 'temporal_flicker'?)" in str(err.value) and err.value.exit_code == 2
