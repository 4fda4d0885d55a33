"""Metric formulas on constructed inputs with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from evaluators import metrics

E1, E2, E3 = np.eye(3)


def frames_of(*levels: int, size: int = 8) -> np.ndarray:
    """Uniform grey frames, one per level."""
    return np.stack([np.full((size, size, 3), lv, np.uint8) for lv in levels])


# clip_score -------------------------------------------------------------------------------------


def test_clip_score_identical_is_w() -> None:
    assert metrics.clip_score(np.stack([E1, E1]), E1) == pytest.approx(2.5)


def test_clip_score_orthogonal_is_zero() -> None:
    assert metrics.clip_score(np.stack([E2, E3]), E1) == pytest.approx(0.0)


def test_clip_score_clamps_each_negative_frame() -> None:
    # frames: same, orthogonal, opposite -> (2.5 + 0 + 0) / 3, not (2.5 + 0 - 2.5) / 3
    assert metrics.clip_score(np.stack([E1, E2, -E1]), E1) == pytest.approx(2.5 / 3)


def test_clip_score_normalises_and_takes_torch() -> None:
    torch = pytest.importorskip("torch")
    image = np.array([[3.0, 4.0, 0.0]])  # cos to E1 = 0.6
    assert metrics.clip_score(torch.tensor(image), torch.tensor(7 * E1)) == pytest.approx(1.5)


# frame / vbench / cross-shot consistency --------------------------------------------------------


def test_frame_consistency_known_values() -> None:
    assert metrics.frame_consistency(np.stack([E1, E1, E1])) == pytest.approx(1.0)
    assert metrics.frame_consistency(np.stack([E1, E2])) == pytest.approx(0.0)
    assert metrics.frame_consistency(np.stack([E1, -E1])) == pytest.approx(-1.0)  # not clamped
    # pairs (E1,E1)=1, (E1,E2)=0 twice -> ordered pairs mean = 2*(1+0+0)/6
    assert metrics.frame_consistency(np.stack([E1, E1, E2])) == pytest.approx(1 / 3)


def test_frame_consistency_needs_two_frames() -> None:
    with pytest.raises(ValueError):
        metrics.frame_consistency(E1[None])


def test_vbench_consistency_known_values() -> None:
    assert metrics.vbench_consistency(np.stack([E1, E1, E1])) == pytest.approx(1.0)
    # t=2: 0.5*(cos(E1,E2)+cos(E1,E2)) = 0; t=3: 0.5*(cos(E1,E1)+cos(E2,E1)) = 0.5 -> 0.25
    assert metrics.vbench_consistency(np.stack([E1, E2, E1])) == pytest.approx(0.25)
    assert metrics.vbench_consistency(np.stack([E1, -E1])) == pytest.approx(0.0)  # clamped


def test_cross_shot_consistency_uses_boundary_frames() -> None:
    shot_a = np.stack([E3, E3, E1, E1])  # ends on E1
    shot_b = np.stack([E1, E2, E3, E3])  # starts E1, E2
    # n=2: last two of a (E1,E1) x first two of b (E1,E2) -> cos mean (1+0+1+0)/4
    assert metrics.cross_shot_consistency([shot_a, shot_b], n=2) == pytest.approx(0.5)
    # two cuts: a->b 0.5, b->a: last (E3,E3) x first (E3,E3) -> 1
    assert metrics.cross_shot_consistency([shot_a, shot_b, shot_a], n=2) == pytest.approx(0.75)
    with pytest.raises(ValueError):
        metrics.cross_shot_consistency([shot_a])


def test_product_consistency_clamps_negative() -> None:
    assert metrics.product_consistency(np.stack([E1, -E1, E2]), E1) == pytest.approx(1 / 3)


# pixel metrics ------------------------------------------------------------------------------------


def test_temporal_flicker_static_is_one_and_known_step() -> None:
    assert metrics.temporal_flicker(frames_of(90, 90, 90)) == pytest.approx(1.0)
    assert metrics.temporal_flicker(frames_of(0, 51)) == pytest.approx((255 - 51) / 255)
    assert metrics.temporal_flicker(frames_of(0, 255, 0)) == pytest.approx(0.0)
    assert metrics.temporal_flicker(frames_of(0, 0, 51)) == pytest.approx((255 - 25.5) / 255)  # mean of steps


def test_motion_static_zero_known_step_and_capped() -> None:
    assert metrics.motion(frames_of(40, 40, 40)) == pytest.approx(0.0)
    assert metrics.motion(frames_of(40, 50)) == pytest.approx(10 / 255 / metrics.MOTION_FULL_SCALE, rel=1e-5)
    assert metrics.motion(frames_of(0, 255)) == pytest.approx(1.0)


def test_motion_ignores_pixel_noise_that_flicker_sees() -> None:
    rng = np.random.default_rng(0)
    noisy = np.clip(128 + rng.normal(0, 20, (6, 256, 256, 3)), 0, 255).astype(np.uint8)
    assert metrics.temporal_flicker(noisy) < 0.95  # every pixel changes by ~20 levels
    assert metrics.motion(noisy) < 0.1  # but block means barely move


def test_motion_sees_a_moving_square() -> None:
    frames = np.zeros((4, 64, 64, 3), np.uint8)
    for t in range(4):
        frames[t, 16:48, 8 * t : 8 * t + 24] = 255
    assert metrics.motion(frames) > 0.5


def test_black_and_frozen_fractions() -> None:
    f = frames_of(0, 0, 200, 200)
    assert metrics.black_fraction(f) == pytest.approx(0.5)
    assert metrics.frozen_fraction(f) == pytest.approx(2 / 3)  # (0,0) and (200,200) of three steps
    assert metrics.defects(frames_of(30, 60)) == {"black_fraction": 0.0, "frozen_fraction": 0.0}


def test_srgb_to_lab_reference_values() -> None:
    lab = metrics.srgb_to_lab(np.array([[255, 0, 0], [255, 255, 255], [0, 0, 0]]))
    np.testing.assert_allclose(lab, [[53.24, 80.09, 67.20], [100, 0, 0], [0, 0, 0]], atol=0.02)


def test_palette_adherence_known_palette() -> None:
    red = frames_of(0)
    red[..., 0] = 255
    assert metrics.palette_adherence(red, ["#ff0000", "#00f"]) == pytest.approx(1.0)
    # grey 119 has L* = 50.0: Delta E 50 from black -> 0; exactly on "#777777" -> 1
    assert metrics.palette_adherence(frames_of(119), ["#000000"]) == pytest.approx(0.0, abs=1e-3)
    half = frames_of(119, 255)
    half[1] = 0x77
    half[0, :4] = 0  # a quarter of the pixels are black, far from grey (Delta E 50)
    assert metrics.palette_adherence(half, ["#777777"]) == pytest.approx(0.75, abs=1e-3)
    with pytest.raises(ValueError):
        metrics.palette_adherence(red, [])


def test_hex_to_rgb() -> None:
    assert metrics.hex_to_rgb("#abc") == (0xAA, 0xBB, 0xCC)
    assert metrics.hex_to_rgb("12aBff") == (0x12, 0xAB, 0xFF)
    with pytest.raises(ValueError):
        metrics.hex_to_rgb("#12345")
