"""The product cutout: a PNG's own alpha, a matte computed from a plain or lit backdrop, or a card."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from generators.matte import cutout, load_cutout

PRODUCT = (200, 40, 160)
LABEL = (20, 90, 40)


def packshot(size: tuple[int, int] = (240, 320), backdrop: tuple[int, int, int] = LABEL) -> tuple[Image.Image, np.ndarray]:
    """A rounded product on a flat backdrop, with a label printed in the backdrop's own colour; and the
    product's true mask."""
    w, h = size
    img = Image.new("RGB", size, backdrop)
    mask = Image.new("L", size, 0)
    box = (w * 0.3, h * 0.15, w * 0.7, h * 0.9)
    ImageDraw.Draw(img).rounded_rectangle(box, radius=w * 0.06, fill=PRODUCT)
    ImageDraw.Draw(mask).rounded_rectangle(box, radius=w * 0.06, fill=255)
    ImageDraw.Draw(img).rectangle((w * 0.4, h * 0.45, w * 0.6, h * 0.55), fill=backdrop)  # the label
    return img, np.asarray(mask) > 127


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def full_alpha(cut, size: tuple[int, int]) -> np.ndarray:
    """The cutout's alpha placed back on the source canvas (it was cropped to the product)."""
    ys, xs = np.nonzero(np.asarray(cut.image)[..., 3] > 0)
    return ys, xs


def test_a_flat_backdrop_is_matted_and_a_label_in_its_colour_stays() -> None:
    img, truth = packshot()
    cut = cutout(img)
    assert cut.method == "matte"
    alpha = np.asarray(cut.image)[..., 3]
    # the crop holds the product with a small margin; put it back where it was to compare with the truth
    ys, xs = np.nonzero(truth)
    placed = np.zeros(truth.shape, bool)
    pad_y, pad_x = (alpha.shape[0] - (ys.max() - ys.min() + 1)) // 2, (alpha.shape[1] - (xs.max() - xs.min() + 1)) // 2
    crop = alpha[pad_y : pad_y + ys.max() - ys.min() + 1, pad_x : pad_x + xs.max() - xs.min() + 1] > 127
    placed[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] = crop
    assert iou(placed, truth) > 0.95
    label = np.asarray(cut.image)[alpha.shape[0] // 2, alpha.shape[1] // 2]
    assert label[3] == 255 and tuple(label[:3]) == LABEL  # enclosed by the product: part of it
    assert abs(cut.coverage - truth.mean()) < 0.03


def test_edges_lose_the_old_backdrop() -> None:
    img, _ = packshot((480, 640), backdrop=(30, 220, 30))
    img = img.resize((240, 320), Image.LANCZOS)  # anti-aliased edges mix product and green
    rgba = np.asarray(cutout(img).image).astype(int)
    rim = (rgba[..., 3] > 40) & (rgba[..., 3] < 215)
    assert rim.sum() > 20
    # over a new backdrop the rim must not carry the green: its green stays near the product's own
    assert rgba[rim][:, 1].mean() < 110


def test_a_lit_backdrop_is_matted_too(tmp_path: Path) -> None:
    w, h = 320, 240
    yy, xx = np.mgrid[0:h, 0:w]
    light = 150 + 60 * (xx / w) - 40 * (yy / h) ** 2  # a studio sweep: brighter to one side, falling off
    img = np.stack([light, light, light * 0.95], axis=-1).clip(0, 255).astype(np.uint8)
    img[60:200, 120:200] = PRODUCT
    path = tmp_path / "lit.jpg"
    Image.fromarray(img).save(path, quality=92)
    cut = load_cutout(path)
    assert cut.method == "matte"
    assert abs(cut.coverage - (140 * 80) / (w * h)) < 0.02


def test_a_png_with_alpha_keeps_it_and_is_cropped() -> None:
    img = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    ImageDraw.Draw(img).ellipse((20, 20, 80, 80), fill=(250, 200, 0, 255))
    cut = cutout(img)
    assert cut.method == "alpha"
    assert cut.image.width < 100 and cut.image.height < 100  # cropped to the visible pixels


def test_a_photo_of_a_scene_is_a_card_not_a_bad_cutout() -> None:
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 255, (180, 240, 3), dtype=np.uint8)
    cut = cutout(Image.fromarray(scene))
    assert cut.method == "card" and cut.coverage == 1.0


def test_a_large_packshot_is_estimated_small_and_matted_at_full_size() -> None:
    img, truth = packshot((1600, 2000))
    cut = cutout(img)
    assert cut.method == "matte"
    assert cut.image.height > 1400  # full resolution kept
    assert abs(cut.coverage - truth.mean()) < 0.03


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "briefs" / "assets").glob("*.png")))
def test_example_assets_cut_out(path: Path) -> None:
    cut = load_cutout(path)
    assert cut.method in ("alpha", "matte") and 0.05 < cut.coverage < 0.9


def test_feather_softens_the_edge_inward_only() -> None:
    from generators.matte import feather

    img = Image.new("RGBA", (80, 80), (200, 40, 160, 0))
    ImageDraw.Draw(img).polygon([(10, 60), (40, 8), (70, 60)], fill=PRODUCT + (255,))  # hard, stair-stepped
    before = np.asarray(img)[..., 3].astype(int)
    after = np.asarray(feather(img, 1.0))[..., 3].astype(int)
    assert set(np.unique(before)) == {0, 255}
    assert (after <= before).all()  # never outward: no pixel of the old backdrop shows
    assert ((after > 10) & (after < 245)).sum() > 0.8 * (before > 0).sum() ** 0.5 * 3  # a ramp all round
    assert (after[30:50, 35:45] == 255).all()  # the inside stays solid
    assert np.array_equal(np.asarray(feather(img, 0.0)), np.asarray(img))
