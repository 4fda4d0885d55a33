"""The animatic video backend: exact frame counts and sizes, seed determinism, camera moves."""

from __future__ import annotations

import numpy as np
import pytest

from generators.base import VIDEO, ShotRequest
from generators.media import read_frames
from generators.video_animatic import AnimaticVideo, camera_path


def request(**kw) -> ShotRequest:
    base = dict(prompt="a bottle of sparkling water on a sunlit kitchen counter", seconds=0.5, fps=24,
                width=160, height=90, seed=0, title="Morning", palette=["#0B3C5D", "#F2C14E", "#F78154"])
    return ShotRequest(**{**base, **kw})


@pytest.mark.parametrize(("seconds", "fps", "width", "height"),
                         [(0.5, 24, 160, 90), (0.77, 25, 90, 160), (0.4, 30, 96, 96)])
def test_frame_count_and_size_are_exact(tmp_path, seconds, fps, width, height):
    from agent.plan import frame_counts

    take = AnimaticVideo().render(request(seconds=seconds, fps=fps, width=width, height=height), tmp_path / "a.mp4")
    frames = read_frames(take.path)
    assert take.num_frames == len(frames) == frame_counts([seconds], fps)[0]
    assert frames.shape[1:] == (height, width, 3) and (take.width, take.height) == (width, height)


def test_same_seed_same_frames_other_seed_other_layout(tmp_path):
    backend = VIDEO.create("animatic")
    a = read_frames(backend.render(request(seed=7), tmp_path / "a.mp4").path).astype(int)
    b = read_frames(backend.render(request(seed=7), tmp_path / "b.mp4").path).astype(int)
    c = read_frames(backend.render(request(seed=8), tmp_path / "c.mp4").path).astype(int)
    assert np.array_equal(a, b)
    assert np.abs(a - c).mean() > 10


def test_camera_moves_follow_the_text(tmp_path):
    def motion(camera: str) -> float:
        frames = read_frames(AnimaticVideo().render(request(camera=camera), tmp_path / "m.mp4").path).astype(int)
        centre = slice(20, 70), slice(40, 120)  # away from the badge and the progress bar
        return float(np.abs(frames[0][centre] - frames[-1][centre]).mean())

    assert motion("static") < 1.5
    assert motion("slow push in") > 4 and motion("pan left") > 4
    assert camera_path("tilt down", 160, 90, 0)[0] == "tilt_down"
    assert camera_path("orbit right", 160, 90, 0)[0] == "orbit"
    assert camera_path("zoom out", 160, 90, 0)[0] == "pull_out"
    assert camera_path("something odd", 160, 90, 0)[0] == "static"


def test_metadata_describes_the_take(tmp_path):
    take = AnimaticVideo().render(request(seed=3, camera="pan right"), tmp_path / "a.mp4")
    meta = take.metadata
    assert meta["backend"] == "animatic" and meta["model"] == "animatic" and meta["seed"] == 3
    assert meta["parameters"]["move"] == "pan_right" and meta["timings"]["per_frame_ms"] > 0
