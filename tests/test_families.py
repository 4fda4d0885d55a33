"""Family rules: frame counts, sizes, fps, aspect, detection, and retiming to the request's fps."""

from __future__ import annotations

import numpy as np
import pytest

from generators.base import ShotRequest
from generators.families import (
    FAMILIES,
    detect_family,
    get_family,
    native_indices,
    output_frames,
    retime,
    snap,
)


def shot(seconds: float = 2.0, width: int = 1920, height: int = 1080, fps: int = 24) -> ShotRequest:
    return ShotRequest(prompt="p", seconds=seconds, fps=fps, width=width, height=height)


@pytest.mark.parametrize(
    ("family", "seconds", "frames"),
    [("wan", 2.0, 33), ("wan", 5.0, 81), ("wan", 9.0, 81), ("ltx", 2.0, 49), ("cogvideox", 1.0, 49),
     ("cogvideox1.5", 2.0, 33), ("mochi", 1.0, 31), ("hunyuan", 2.0, 49), ("animatediff", 1.0, 16),
     ("wan2.2-ti2v", 2.0, 49)],
)
def test_frame_rules(family: str, seconds: float, frames: int) -> None:
    snapped = snap(family, shot(seconds))
    assert snapped.frames == frames
    fam = get_family(family)
    assert fam.valid_frames(snapped.frames) or fam.fixed_frames == snapped.frames
    assert snapped.fps == fam.fps


def test_every_family_snaps_to_valid_multiples() -> None:
    for fam in FAMILIES.values():
        s = snap(fam, shot(1.3, 1000, 700))
        assert s.width % fam.size_multiple == 0 and s.height % fam.size_multiple == 0, fam.name
        assert max(s.width, s.height) <= max(fam.native_size), fam.name


def test_native_fps_per_family() -> None:
    fps = {n: f.fps for n, f in FAMILIES.items()}
    assert (fps["wan"], fps["ltx"], fps["cogvideox"], fps["cogvideox1.5"]) == (16, 24, 8, 16)
    assert (fps["mochi"], fps["hunyuan"], fps["animatediff"]) == (30, 24, 8)


def test_aspect_kept_where_supported() -> None:
    portrait = snap("wan", shot(width=1080, height=1920))
    assert portrait.height > portrait.width
    assert abs(portrait.width / portrait.height - 9 / 16) < 0.08
    assert (832 * 480) * 0.8 < portrait.width * portrait.height < (832 * 480) * 1.2


def test_fixed_aspect_family_records_reframe() -> None:
    s = snap("cogvideox", shot(width=1080, height=1920))
    assert (s.width, s.height) == (720, 480)
    assert any("reframe needed" in c for c in s.changes)


def test_max_side_caps_and_changes_are_recorded() -> None:
    s = snap("wan", shot(seconds=0.5, width=64, height=36), max_side=32, max_frames=9)
    assert (s.width, s.height, s.frames) == (32, 16, 9)
    assert any("4k+1" in c for c in s.changes) and any("size 64x36" in c for c in s.changes)
    assert snap("wan", shot(seconds=2.0, width=832, height=480, fps=16)).changes == ["frames 32 -> 33 (wan: 4k+1)"]


def test_frame_cap_records_stretch() -> None:
    s = snap("ltx", shot(seconds=2.0), max_frames=9)
    assert s.frames == 9
    assert any("stretched" in c for c in s.changes)


def test_unknown_family_lists_known() -> None:
    with pytest.raises(KeyError, match="known: wan"):
        get_family("sora")


def test_detect_family_from_model_index() -> None:
    assert detect_family({"_class_name": "WanPipeline", "transformer_2": [None, None]}) == "wan"
    assert detect_family({"_class_name": "WanPipeline", "transformer_2": ["diffusers", "WanTransformer3DModel"],
                          "boundary_ratio": 0.875}) == "wan2.2"
    assert detect_family({"_class_name": "WanPipeline", "expand_timesteps": True}) == "wan2.2-ti2v"
    assert detect_family({"_class_name": "CogVideoXPipeline"}, {"patch_size_t": None}) == "cogvideox"
    assert detect_family({"_class_name": "CogVideoXPipeline"}, {"patch_size_t": 2}) == "cogvideox1.5"
    assert detect_family({"_class_name": "AnimateDiffPipeline"}) == "animatediff"
    with pytest.raises(KeyError, match="not a supported video family"):
        detect_family({"_class_name": "FluxPipeline"})


@pytest.mark.parametrize("mode", ["nearest", "blend"])
def test_retime_gives_exact_frame_count(mode: str) -> None:
    clip = np.arange(33, dtype=np.float32).reshape(33, 1, 1, 1)  # frame i has value i
    out = retime(clip, 16, 2.0, 24, mode)  # type: ignore[arg-type]
    assert len(out) == output_frames(2.0, 24) == 48
    assert out[0, 0, 0, 0] == 0
    assert abs(out[24, 0, 0, 0] - 16) < 1e-6  # 1 s in: source frame 16
    assert np.all(np.diff(out[:, 0, 0, 0]) >= 0)


def test_retime_trims_long_clip_and_stretches_short_one() -> None:
    clip = np.arange(49, dtype=np.float32).reshape(49, 1, 1, 1)
    trimmed = retime(clip, 8, 1.0, 24)  # 49 frames at 8 fps = 6.1 s; keep the first second
    assert len(trimmed) == 24 and trimmed[-1, 0, 0, 0] <= 8
    short = np.arange(9, dtype=np.float32).reshape(9, 1, 1, 1)
    stretched = retime(short, 16, 2.0, 24)  # 0.56 s clip fills 2 s
    assert len(stretched) == 48 and stretched[-1, 0, 0, 0] == 8


def test_a_low_resolution_request_renders_small() -> None:
    """--resolution 240 used to render at the family's full native size anyway."""
    assert snap("wan", shot(width=426, height=240))[1:3] == (432, 240)
    assert snap("wan", shot(width=1920, height=1080))[1:3] == (832, 464)  # never above native pixels
    fixed = snap("cogvideox", shot(width=240, height=240))  # keeps 3:2, still covers the 1:1 request
    assert fixed.height == 240 and fixed.width >= 240 and any("reframe" in c for c in fixed.changes)


def moving_square(n: int, side: int = 48) -> np.ndarray:
    frames = np.zeros((n, side, side, 3), np.uint8)
    for i in range(n):
        frames[i, 16:32, 2 * i:2 * i + 12] = 255
    return frames


def test_motion_retime_interpolates_instead_of_repeating() -> None:
    from evaluators.metrics import frozen_fraction

    clip = moving_square(9)  # 8 fps, as CogVideoX and AnimateDiff render
    nearest = retime(clip, 8, 1.0, 24, "nearest")
    motion = retime(clip, 8, 1.0, 24, "motion")
    assert len(nearest) == len(motion) == 24
    assert frozen_fraction(nearest) > 0.6  # two of three steps repeat a frame: reads as frozen
    assert frozen_fraction(motion) == 0.0  # every output frame moves
    natives = native_indices(9, 8, 1.0, 24)
    assert natives == [0, 3, 6, 9, 12, 15, 18, 21, 23]  # the last frame's nearest is a third short of it
    np.testing.assert_array_equal(motion[natives[:8]], clip[:8])  # rendered frames come back unchanged
    # the square sits between its neighbours in the frame interpolated a third of the way along

    def centre(frame: np.ndarray) -> float:
        row = frame[24, :, 0].astype(float)
        return float((row * np.arange(len(row))).sum() / row.sum())

    assert centre(clip[0]) < centre(motion[1]) < centre(motion[2]) < centre(clip[1])


def test_native_indices_for_other_rates() -> None:
    assert native_indices(33, 16, 2.0, 24)[:4] == [0, 2, 3, 4]  # 16 -> 24: every source frame once
    assert native_indices(5, 24, 5 / 24, 24) == [0, 1, 2, 3, 4]  # same rate: all of them
    assert len(native_indices(9, 16, 2.0, 24)) == 9  # stretched: each rendered frame still found once
