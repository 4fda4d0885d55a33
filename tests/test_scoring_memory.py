"""Scoring streams a take: the same metric values as the whole-array formulas, with peak memory that
does not grow with the take's length (frames decoded one at a time, running totals, a bounded sample);
takes scored in threads score as one at a time."""

from __future__ import annotations

import math
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from agent.brief import load_brief
from agent.profiles import ClipChoice
from agent.scoring import SCORING_MAX_SIDE, Scorer
from agent.store import Store
from evaluators import metrics
from evaluators.frame_totals import FrameTotals
from evaluators.scorecard import THUMB_SIDE, FrameCountChanged, ScoringConfig, sample_indices, score_frames
from generators.base import VIDEO, BackendPool, ShotRequest
from generators.media import read_frames, write_frames

BRIEF = Path(__file__).parents[1] / "briefs" / "bumper.yaml"
PALETTE = ["#0B1F3A", "#F2C14E", "#F7F4EA"]


def scorer(tmp: Path, clip: str = "none") -> Scorer:
    return Scorer("run-1", load_brief(BRIEF), ClipChoice(model=clip, dtype="fp32"), Store(tmp / "s.db"), BackendPool())


def score_of(s: Scorer, path: Path, native: list[int] | None = None, name: str = "take-1"):
    take = {"id": name, "path": str(path), "metadata": {"native_frames": native} if native else {}}
    s.store.write("takes", take)
    return s.take_score(take, "a bottle on a counter")


def render(tmp: Path, backend: str) -> Path:
    """A real 2 s take, larger than the scoring size so it is scaled down and thinned."""
    request = ShotRequest(prompt="a bottle on a counter", seconds=2.0, fps=12, width=400, height=240, seed=3,
                          camera="pan left", caption="Cold for 24 hours.", palette=PALETTE, shot_index=1,
                          role="product", shows_product=True, product_name="Bottle", brand_name="Brand")  # fmt: skip
    return VIDEO.create(backend).render(request, tmp / f"{backend}.mp4").path


def reference(path: Path, config: ScoringConfig, palette: list[str], native: list[int] | None) -> dict[str, float]:
    """The weight-free metrics computed the way scoring did before it streamed: every frame held at once."""
    frames = read_frames(path, max_side=SCORING_MAX_SIDE)
    stride = max(1, math.ceil(max(frames.shape[1:3]) / THUMB_SIDE))
    thumbs = frames[:, ::stride, ::stride]
    sampled = thumbs[sample_indices(len(frames), config.frames_per_take)]
    # palette adherence in one piece (scoring converts it to CIELAB in chunks)
    lab = metrics.srgb_to_lab(sampled.reshape(-1, 3))
    colours = metrics.srgb_to_lab(np.array([metrics.hex_to_rgb(c) for c in palette], np.float64))
    nearest = np.sqrt(((lab[:, None] - colours[None]) ** 2).sum(-1)).min(axis=1)
    rendered = thumbs[native] if native else thumbs
    return {
        "temporal_flicker": metrics.temporal_flicker(thumbs), "motion": metrics.motion(thumbs),
        "not_black": 1 - metrics.black_fraction(thumbs), "not_frozen": 1 - metrics.frozen_fraction(rendered),
        "palette_adherence": float(np.mean(np.maximum(0, 1 - nearest / metrics.PALETTE_DELTA_E))),
    }  # fmt: skip


@pytest.mark.parametrize("backend", ["motion", "animatic"])
def test_a_streamed_take_scores_as_the_whole_array_formulas(tmp_path: Path, backend: str) -> None:
    path = render(tmp_path, backend)
    s = scorer(tmp_path)
    for native in (None, [0, 1, 2, 5, 9, 12, 13, 20, 23]):  # adjacent and spaced rendered frames
        copy = path.with_name(f"{path.stem}-{len(native or [])}.mp4")  # its own score file beside it
        copy.write_bytes(path.read_bytes())
        got = score_of(s, copy, native, name=copy.stem).metrics
        want = reference(copy, s.config, s.brief.brand.palette, native)
        for name, value in want.items():
            assert got[name] == pytest.approx(value, rel=1e-6, abs=1e-9), (backend, native, name)
    assert 0.02 < got["motion"] < 1 and got["temporal_flicker"] < 1  # a take that moves (its type is not in it): the sums matter


def test_streamed_clip_embeddings_are_those_of_the_sampled_frames(tmp_path: Path, tiny_clip: Path) -> None:
    from evaluators.clip import load_embedder

    path = render(tmp_path, "animatic")
    s = scorer(tmp_path, clip=str(tiny_clip))
    score = score_of(s, path)
    frames = read_frames(path, max_side=SCORING_MAX_SIDE)
    embedder, _ = load_embedder(tiny_clip, dtype="fp32")
    want = embedder.embed_images(frames[sample_indices(len(frames), s.config.frames_per_take)])
    got = np.load(next(tmp_path.glob("animatic.clip-*.npy")))
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert score.metrics["clip_score"] == pytest.approx(metrics.clip_score(want, embedder.embed_text("a bottle on a counter")[0]), rel=1e-5)


def test_frame_totals_match_the_formulas_for_any_rendered_frames() -> None:
    rng = np.random.default_rng(4)
    frames = rng.integers(0, 60, (10, 20, 36, 3), np.uint8)
    frames[3] = frames[2]  # one frozen step
    frames[6:] = 0  # black frames, frozen
    for native in (None, [], [4], [0, 2, 3, 4, 8], list(range(10))):
        totals = FrameTotals(native)
        for frame in frames:
            totals.add(frame)
        rendered = frames[native] if native and len(native) >= 2 else frames
        assert totals.temporal_flicker() == pytest.approx(metrics.temporal_flicker(frames), rel=1e-6)
        assert totals.motion() == pytest.approx(metrics.motion(frames), rel=1e-6)
        assert totals.black_fraction() == metrics.black_fraction(frames) == 0.4
        assert totals.frozen_fraction() == pytest.approx(metrics.frozen_fraction(rendered)), native


def test_a_stream_shorter_than_said_is_named_and_the_scorer_counts_again(tmp_path: Path, monkeypatch) -> None:
    frames = np.zeros((5, 8, 8, 3), np.uint8)
    with pytest.raises(FrameCountChanged, match="expected 7 frames, the take streamed 5") as caught:
        score_frames(iter(frames), 7, prompt="p", palette=[], config=ScoringConfig())
    assert caught.value.counted == 5
    path = render(tmp_path, "animatic")
    want = score_of(scorer(tmp_path), path).metrics
    for f in tmp_path.glob("animatic.score-*"):
        f.unlink()
    monkeypatch.setattr("agent.scoring.count_frames", lambda p: 30)  # a container that says 30, decodes 24
    (tmp_path / "again").mkdir()
    again = scorer(tmp_path / "again")
    assert score_of(again, path).metrics == want and again.stats["takes_scored"] == 1


def moving(n: int, side: int = 480):
    """Frames with a gradient that slides and a block that crosses it (what a take looks like to the metrics)."""
    y, x = np.mgrid[0:side, 0:side]
    for t in range(n):
        frame = np.empty((side, side, 3), np.uint8)
        frame[..., 0], frame[..., 1], frame[..., 2] = (x + 4 * t) % 256, (y + 2 * t) % 256, 128
        frame[100:200, (5 * t) % 300 :][:, :80] = (230, 40, 90)
        yield frame


def peak_of_scoring(s: Scorer, path: Path) -> int:
    tracemalloc.start()
    try:
        score_of(s, path, name=f"{path.stem}-{time.monotonic_ns()}")
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_of_scoring_is_flat_in_take_length(tmp_path: Path) -> None:
    fps = 24
    short, long_ = tmp_path / "short.mp4", tmp_path / "long.mp4"
    write_frames(short, moving(2 * fps), fps)
    write_frames(long_, moving(8 * fps), fps)
    s = scorer(tmp_path)
    warm = tmp_path / "warm.mp4"  # lazy imports and first-call caches are not the take's cost
    write_frames(warm, moving(4), fps)
    score_of(s, warm, name="warm")
    peaks = {p.stem: peak_of_scoring(s, p) for p in (short, long_)}
    held = 8 * fps * SCORING_MAX_SIDE**2 * 3  # the long take's frames at scoring size, held whole as before
    assert peaks["long"] < 1.3 * peaks["short"], peaks
    assert peaks["long"] < held / 8, peaks


def test_takes_scored_in_threads_score_as_one_at_a_time(tmp_path: Path, tiny_clip: Path, monkeypatch) -> None:
    from agent.plan import EndCard, Music, Plan, Shot

    shots = [Shot(index=i, uid=f"s{i}", description=f"s{i}", prompt=f"a bottle, view {i}", seconds=0.5,
                  shows_product=i % 2 == 0) for i in range(3)]  # fmt: skip
    plan = Plan(segment="t", shots=shots, music=Music(mood="calm"), end_card=EndCard(seconds=1, headline="h",
                call_to_action="c"))  # fmt: skip
    renders = {}
    for shot, take in [(s, k) for s in shots for k in range(2)]:  # two candidate takes per shot
        request = ShotRequest(prompt=shot.prompt, seconds=0.5, fps=12, width=64, height=48, seed=10 * shot.index + take,
                              camera="pan left", palette=PALETTE)  # fmt: skip
        renders[f"{shot.uid}-{take}"] = VIDEO.create("animatic").render(request, tmp_path / f"{shot.uid}-{take}.mp4").path
    cards, threads, stream = {}, set(), Scorer._stream_score

    def on_a_thread(self: Scorer, *args):  # which threads decoded takes
        threads.add(threading.current_thread().name)
        return stream(self, *args)

    monkeypatch.setattr(Scorer, "_stream_score", on_a_thread)
    for workers in ("1", "2"):
        threads.clear()
        monkeypatch.setenv("BRIEFCUT_RENDER_WORKERS", workers)
        folder = tmp_path / f"workers-{workers}"
        folder.mkdir()
        s = scorer(folder, clip=str(tiny_clip))
        for name, path in renders.items():  # each its own copy: no score kept beside the media is reused
            copy = folder / path.name
            copy.write_bytes(path.read_bytes())
            s.store.write("takes", {"id": name, "run_id": "run-1", "kind": "video", "plan_key": plan.key,
                                    "shot_uid": name.split("-")[0], "format": "1:1", "lineage": 0, "status": "done",
                                    "path": str(copy), "seed": 0, "backend": "animatic", "created_at": name})  # fmt: skip
        cards[workers] = s.score_cuts({plan.key: plan}, ["1:1"], 1)[(plan.key, "1:1")].model_dump(mode="json")
        assert s.stats["takes_scored"] == len(renders)
        assert len(threads) == int(workers) and (workers == "1") == (threads == {"MainThread"}), threads
    assert cards["1"] == cards["2"] and cards["1"]["shots"][0]["metrics"]["clip_score"] is not None


def test_a_take_with_a_type_layer_is_scored_as_delivered_with_its_caption(tmp_path: Path) -> None:
    """A motion take holds no words: it is scored with its shot's caption set in its type layer (what the cut
    shows), so the drifting type counts for its motion; another caption is another score, each kept."""
    request = ShotRequest(prompt="x", seconds=2.0, fps=12, width=160, height=288, seed=3, camera="static",
                          caption="", palette=PALETTE, shot_index=1, role="benefit", shows_product=False,
                          product_name="Bottle", brand_name="Brand")  # fmt: skip
    take = VIDEO.create("motion").render(request, tmp_path / "motion.mp4")
    s = scorer(tmp_path)
    row = {"id": "take-1", "path": str(take.path), "metadata": take.metadata}
    s.store.write("takes", row)
    bare = s.take_score(dict(row), "x", False)
    typed = s.take_score(dict(row), "x", False, ("Cold for 24 hours.", True, "gamers"))
    assert typed.metrics["motion"] > bare.metrics["motion"] and typed.metrics != bare.metrics
    other = s.take_score(dict(row), "x", False, ("Still cold at noon", True, "gamers"))
    assert other.metrics != typed.metrics  # not the stored score of another caption
    assert s.take_score(dict(row), "x", False, ("Cold for 24 hours.", True, "gamers")) == typed  # kept
    assert len(list(tmp_path.glob("motion.score-*-t*.json"))) == 2  # one kept score per caption
