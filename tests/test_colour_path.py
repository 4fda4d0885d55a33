"""Assembly's colour path (agent.assembly.timeline.ShotSource) against the bicubic whole-frame conversion it
replaced: real motion and animatic takes, at the cut's size, scaled and reframed, stay within 45 dB PSNR; a
take at the cut's size goes in plane for plane; RGB, full-range, 10-bit and 4:4:4 takes come out at the levels
of the same picture in limited range.

Real components: the motion and animatic backends render the takes, PyAV decodes them, the ffmpeg binary
re-encodes one as RGB and as full range.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from agent.assembly.timeline import ShotSource
from generators.base import VIDEO, ShotRequest

ASSETS = Path(__file__).resolve().parents[1] / "briefs" / "assets"
PALETTE = ["#0B3C5D", "#F2C14E", "#F78154", "#4D9078"]
FRAMES, FPS = 12, 24
MIN_PSNR_DB = 45.0


def render(backend: str, path: Path, width: int, height: int, camera: str) -> Path:
    request = ShotRequest(prompt="a bottle on a kitchen table", seconds=FRAMES / FPS, fps=FPS, width=width,
                          height=height, seed=3, camera=camera, caption="Cold for 24 hours.", palette=PALETTE,
                          shot_index=0, role="product", shows_product=True, product_name="Lumen Bottle",
                          product_image=ASSETS / "lumen-bottle.png", brand_name="Lumen",
                          logo=ASSETS / "lumen-logo.png", title="Shot 1")  # fmt: skip
    VIDEO.create(backend).render(request, path)
    return path


@pytest.fixture(scope="module")
def takes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("colour")
    return {"motion_tall": render("motion", folder / "motion_tall.mp4", 144, 256, "slow push in"),
            "motion_wide": render("motion", folder / "motion_wide.mp4", 256, 144, "orbit"),
            "animatic_wide": render("animatic", folder / "animatic_wide.mp4", 256, 144, "pan left")}  # fmt: skip


def bicubic_reference(frame: av.VideoFrame, crop: tuple[int, int, int, int] | None, width: int,
                      height: int) -> np.ndarray:
    """The path before: the whole frame to yuv444p, cropped, then one bicubic swscale to yuv420p."""
    if crop is not None:
        x, y, w, h = crop
        planes = frame.reformat(format="yuv444p").to_ndarray()
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(planes[:, y : y + h, x : x + w]), format="yuv444p")
    return frame.reformat(width, height, "yuv420p", interpolation="BICUBIC").to_ndarray()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255**2 / mse))


def decoded(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


@pytest.mark.parametrize(("take", "width", "height", "native"), [
    ("motion_tall", 144, 256, True),     # rendered at the cut's size: chroma subsampling only
    ("motion_tall", 90, 160, True),      # scaled down
    ("animatic_wide", 384, 216, True),   # scaled up
    ("motion_wide", 144, 256, False),    # 16:9 take reframed for 9:16: cropped, then scaled up
    ("animatic_wide", 144, 144, False),  # 16:9 take reframed for 1:1: cropped only
    ("motion_tall", 256, 144, False),    # 9:16 take reframed for 16:9
])  # fmt: skip
def test_frames_match_the_bicubic_whole_frame_conversion(takes: dict, take: str, width: int, height: int,
                                                         native: bool) -> None:
    source = ShotSource(takes[take], FRAMES, FPS, width, height, native)
    try:
        ours = [source.frame(k) for k in range(FRAMES)]
    finally:
        source.close()
    refs = [bicubic_reference(f, source.crop, width, height) for f in decoded(takes[take])]
    assert len(refs) == FRAMES and all(o.shape == (height * 3 // 2, width) for o in ours)
    worst = min(psnr(o, r) for o, r in zip(ours, refs, strict=True))
    assert worst >= MIN_PSNR_DB, f"{take} -> {width}x{height}: {worst:.1f} dB"
    assert ours[0].std() > 10  # a picture, not a flat frame that would match anything flat


def test_a_take_at_the_cuts_size_goes_into_the_cut_plane_for_plane(takes: dict) -> None:
    """Takes are yuv420p, the cut's own layout: at the cut's size every plane is copied, none scaled."""
    frames = decoded(takes["motion_tall"])
    assert frames[0].format.name == "yuv420p"
    source = ShotSource(takes["motion_tall"], FRAMES, FPS, 144, 256, True)
    try:
        for k, frame in enumerate(frames):
            assert np.array_equal(source.frame(k), frame.to_ndarray(format="yuv420p")), k
    finally:
        source.close()


@pytest.mark.parametrize("args", [
    ["-vf", "scale=out_range=full", "-pix_fmt", "yuvj420p", "-c:v", "libx264"],  # full-range YUV
    ["-c:v", "libx264rgb", "-pix_fmt", "bgr24"],                                 # RGB (decodes as gbrp)
    ["-c:v", "libx264", "-pix_fmt", "yuv420p10le"],                              # 10 bits
    ["-c:v", "libx264", "-pix_fmt", "yuv444p"],                                  # 4:4:4 (takes made before)
])  # fmt: skip
def test_rgb_full_range_ten_bit_and_444_takes_come_out_at_limited_range_levels(takes: dict, tmp_path: Path,
                                                                           args: list[str]) -> None:
    import imageio_ffmpeg

    original = takes["motion_wide"]
    other = tmp_path / "other.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(original), *args, "-qp", "0", str(other)],
                   check=True)  # fmt: skip
    source = ShotSource(other, FRAMES, FPS, 256, 144, True)
    try:
        ours = [source.frame(k) for k in range(FRAMES)]
    finally:
        source.close()
    refs = [bicubic_reference(f, None, 256, 144) for f in decoded(original)]
    worst = min(psnr(o, r) for o, r in zip(ours, refs, strict=True))
    assert worst >= MIN_PSNR_DB, f"{args}: {worst:.1f} dB against the limited-range take"


def reference_planes(rgba: np.ndarray) -> np.ndarray:
    """The colour of an RGBA image as (3, h, w) int32 YUV 4:4:4, through swscale from "rgb24"."""
    rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba[..., :3]), format="rgb24")
    return rgb.reformat(format="yuv444p").to_ndarray().astype(np.int32)


def quarter(plane: np.ndarray) -> np.ndarray:
    return (plane[..., 0::2, 0::2] + plane[..., 1::2, 0::2] + plane[..., 0::2, 1::2] + plane[..., 1::2, 1::2]) >> 2


@pytest.mark.parametrize("seed", range(6))
def test_overlays_hold_the_colour_and_alpha_of_the_plain_int32_formulas(seed: int) -> None:
    """Captions (straight alpha) and kinetic type (premultiplied) become overlays through uint16 arithmetic and
    the frame's own planes: bit for bit what the plain formulas in int32 give, over a crop of a larger image
    (as the type track passes it), with hard and soft edges."""
    from agent.assembly.captions import Overlay

    rng = np.random.default_rng(seed)
    h, w = 2 * int(rng.integers(1, 120)), 2 * int(rng.integers(1, 160))
    alpha = rng.integers(0, 256, (h + 6, w + 8), dtype=np.uint8)
    if seed % 2:
        alpha = rng.choice(np.array([0, 255], np.uint8), alpha.shape)
    colour = rng.integers(0, 256, (h + 6, w + 8, 3), dtype=np.uint8)
    premultiplied = (colour * (alpha[..., None] / 255.0)).astype(np.uint8)
    a = (alpha[3 : 3 + h, 4 : 4 + w].astype(np.int32) * 256 + 127) // 255
    a2 = quarter(a)

    straight = np.dstack([colour, alpha])[3 : 3 + h, 4 : 4 + w]
    planes = reference_planes(straight)
    got = Overlay.from_rgba(straight, 2, 4)
    assert np.array_equal(got.y_pm, planes[0] * a) and np.array_equal(got.uv_pm, quarter(planes[1:]) * a2)
    assert np.array_equal(got.inv_a, 256 - a) and np.array_equal(got.inv_a2, 256 - a2)

    pm = np.dstack([premultiplied, alpha])[3 : 3 + h, 4 : 4 + w]
    planes = reference_planes(pm)
    got = Overlay.from_premultiplied(pm, 2, 4)
    assert np.array_equal(got.y_pm, np.clip((planes[0] - 16) * 256 + 16 * a, 0, 65535))
    assert np.array_equal(got.uv_pm, np.clip((quarter(planes[1:]) - 128) * 256 + 128 * a2, 0, 65535))
    assert np.array_equal(got.inv_a, 256 - a) and np.array_equal(got.inv_a2, 256 - a2)
    for plane in (got.y_pm, got.uv_pm, got.inv_a, got.inv_a2):
        assert plane.dtype == np.uint16
