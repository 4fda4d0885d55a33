"""The ad checks' read of a delivered cut streams it: what it keeps equals what every frame held at once
gives, and its peak memory does not grow with the cut's length."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from test_ad_checks import build, plan_for

from agent import ad_evidence
from agent.ad_evidence import _luma_thumb, _seen, planned_cues, read_evidence
from agent.assembly.cut import cut_segments
from evaluators.detect import trailing_static
from generators.media import read_frames

WINDOW_S = 5.0


@pytest.fixture(scope="module")
def cuts(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """An 8 s cut and a 26 s one, assembled for real (captions, crossfade-free cuts, a 2 s end card)."""
    tmp = tmp_path_factory.mktemp("evidence")
    return {name: build(tmp, name, plan_for([seconds] * 4)) for name, seconds in (("short", 1.5), ("long", 6.0))}


def every_thumb(path: Path) -> np.ndarray:
    """Grey thumbnails of every frame, held at once (how the evidence was read before it streamed)."""
    import av

    with av.open(str(path)) as container:
        return np.stack([_luma_thumb(f, ad_evidence.SMALL_SIDE) for f in container.decode(video=0)])


@pytest.mark.parametrize("name", ["short", "long"])
def test_streamed_evidence_equals_every_frame_held(cuts: dict, name: str) -> None:
    spec, result = cuts[name]
    ev = read_evidence(spec, result, WINDOW_S)
    thumbs, frames = every_thumb(result.path), read_frames(result.path)
    assert ev.frame_count == len(thumbs) == result.frames
    window = min(round(WINDOW_S * spec.fps), cut_segments(spec)[-1].start)
    assert window + 2 <= len(ev.head) < len(thumbs) and np.array_equal(ev.head, thumbs[: len(ev.head)])
    assert ev.static_tail == trailing_static(thumbs) >= round(spec.plan.end_card.seconds * spec.fps) - 1
    drawn = [c for c in planned_cues(spec, cut_segments(spec)) if c.overlay is not None]
    assert [c.score for c in ev.cues] == [_seen(c, frames[(c.start + c.end - 1) // 2]).score for c in drawn]
    assert all(c.seen for c in ev.cues) and len(ev.cues) >= 4
    assert np.array_equal(ev.last, frames[-1])
    assert sorted(ev.searched) == list(range(0, min(round(WINDOW_S * spec.fps) + 1, len(frames)), spec.fps))


def test_a_still_ending_longer_than_the_tail_kept_is_counted_in_a_second_pass(cuts: dict, monkeypatch) -> None:
    spec, result = cuts["short"]
    monkeypatch.setattr(ad_evidence, "TAIL_SLACK_S", -1.5)  # keep 12 thumbnails of a 48-frame end card
    assert read_evidence(spec, result, WINDOW_S).static_tail == trailing_static(every_thumb(result.path)) >= 47


def test_peak_memory_of_reading_a_cut_is_flat_in_its_length(cuts: dict) -> None:
    read_evidence(*cuts["short"], WINDOW_S)  # lazy imports and first-call caches are not the cut's cost
    peaks = {}
    for name, (spec, result) in cuts.items():
        tracemalloc.start()
        try:
            read_evidence(spec, result, WINDOW_S)
            peaks[name] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    long_spec, long_result = cuts["long"]
    held = long_result.frames * every_thumb(long_result.path)[0].nbytes  # its thumbnails alone, held whole
    assert peaks["long"] < 1.3 * peaks["short"], peaks
    assert peaks["long"] < held, (peaks, held)
