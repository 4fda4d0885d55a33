"""The cuts' encoder setting: per-profile defaults, brief and CLI overrides, one clear error for an unknown
preset, and its flow into the chunk keys and the provenance; a real small cut of motion takes encoded with the
preview profile's preset is whole and as good as the veryfast cut against the lossless one.

Real components: the motion backend renders the takes, the ffmpeg binary encodes, PyAV decodes.
"""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from fixtures.media import FPS, tiny_plan
from pydantic import ValidationError
from typer.testing import CliRunner

from agent.assembly.chunks import pieces
from agent.assembly.cut import CutSpec, assemble_cut, cut_segments, probe
from agent.assembly.encoder import BEFORE_SETTING, X264_PRESETS, Encoder, profile_encoder
from agent.brief import load_brief
from agent.cli import app
from agent.errors import BriefError
from agent.profiles import Choices, resolve_choices
from agent.provenance.watermark import cut_key
from agent.settings import Overrides, Settings, apply_overrides, cli_overrides
from generators.media import X264_PARAMS

ROOT = Path(__file__).parents[1]
BRIEF = ROOT / "briefs" / "bumper.yaml"  # has no render section
ASSETS = ROOT / "briefs" / "assets"
KNOWN = "known: " + ", ".join(X264_PRESETS)
WIDTH, HEIGHT = 144, 256


def encoder_of(overrides: Overrides, brief_encoder: dict | None = None) -> Encoder:
    brief = load_brief(BRIEF)
    if brief_encoder:
        brief = brief.model_copy(update={"render": brief.render.model_copy(
            update={"encoder": brief.render.encoder.model_copy(update=brief_encoder)})})
    return resolve_choices(apply_overrides(brief, overrides), Settings.from_env({})).encoder


def test_each_profile_has_its_encoder_the_brief_beats_it_and_the_cli_beats_the_brief() -> None:
    assert encoder_of(Overrides(profile="preview")) == Encoder(preset="ultrafast", crf=20)
    assert profile_encoder("smoke") == Encoder(preset="veryfast", crf=20)  # (its choices build tiny models)
    assert encoder_of(Overrides(profile="gpu")) == Encoder(preset="veryfast", crf=20)
    assert encoder_of(Overrides(profile="preview"), {"preset": "superfast", "crf": 23}) == Encoder(preset="superfast", crf=23)
    assert encoder_of(Overrides(profile="preview", preset="veryfast"), {"preset": "superfast", "crf": 23}) == \
        Encoder(preset="veryfast", crf=23)  # fmt: skip


def test_a_run_stored_before_the_setting_keeps_the_encoder_it_was_made_with() -> None:
    stored = resolve_choices(load_brief(BRIEF), Settings.from_env({})).model_dump(mode="json")
    del stored["encoder"]
    assert Choices.model_validate(stored).encoder == Encoder(**BEFORE_SETTING) == Encoder(preset="veryfast")


def test_an_unknown_preset_is_one_error_listing_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(BriefError, match=f"^--preset: unknown x264 preset 'fastest'; {KNOWN}$"):
        cli_overrides(preset="fastest")
    brief = tmp_path / "brief.yaml"
    brief.write_text(BRIEF.read_text(encoding="utf-8") + "render:\n  encoder: {preset: Medium}\n", encoding="utf-8")
    with pytest.raises(BriefError, match=f"render.encoder.preset: unknown x264 preset 'Medium'; {KNOWN}"):
        load_brief(brief)
    result = CliRunner().invoke(app, ["--workdir", str(tmp_path / "ws"), "run", str(BRIEF), "--preset", "fastest"])
    assert result.exit_code == 2 and f"--preset: unknown x264 preset 'fastest'; {KNOWN}" in result.stderr
    assert not (tmp_path / "ws").exists()  # refused before anything was made
    with pytest.raises(ValidationError, match="unknown x264 preset 'fast-ish'"):
        profile_encoder("preview", "fast-ish")
    with pytest.raises(ValidationError, match="less than or equal to 51"):
        Encoder(preset="veryfast", crf=52)


# A real small cut -----------------------------------------------------------------------------------------


def motion_take(path: Path, index: int, seconds: float) -> Path:
    from generators.base import VIDEO, ShotRequest

    VIDEO.create("motion").render(ShotRequest(
        prompt="sparkling water on a kitchen counter", seconds=seconds, fps=FPS, width=WIDTH, height=HEIGHT,
        seed=index, camera=["push in", "orbit", "pan left"][index], title=f"shot {index}", shot_index=index,
        palette=["#0B3C5D", "#F2C14E", "#F78154"], role="product" if index == 1 else "scene", caption="Zero sugar",
        shows_product=index == 1, product_name="Fizzo", product_image=ASSETS / "lumen-bottle.png",
        brand_name="Fizzo", logo=ASSETS / "lumen-logo.png"), path)  # fmt: skip
    return path


@pytest.fixture(scope="module")
def cuts(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The same cut of three motion takes (watermarked, as the preview profile makes it) encoded losslessly,
    veryfast and with the preview profile's encoder; the last two keep their chunks in one folder."""
    folder = tmp_path_factory.mktemp("encoder")
    plan = tiny_plan(captions=True)
    takes = [motion_take(folder / f"take{s.index}.mp4", s.index, s.seconds) for s in plan.shots]
    spec = CutSpec(plan=plan, aspect_ratio="9:16", width=WIDTH, height=HEIGHT, fps=FPS, shot_videos=takes,
                   shot_native=[True] * 3, shot_effects=[None] * 3, shot_voice=[None] * 3,
                   shot_draws_caption=[True] * 3, music=None, brand_name="Fizzo", palette=["#0B3C5D", "#F2C14E"],
                   watermark=cut_key("encoder-test"))  # fmt: skip
    parts = folder / "parts"
    made: dict = {"spec": spec, "parts": parts, "chunks": {}}
    sides = {"lossless": Encoder(preset="ultrafast", crf=0), "veryfast": Encoder(preset="veryfast"),
             "preview": profile_encoder("preview")}  # fmt: skip
    for name, enc in sides.items():
        before = set(parts.glob("*.ts"))
        made[name] = assemble_cut(spec.model_copy(update=enc.model_dump()), folder / name,
                                  parts=parts if name != "lossless" else None)  # fmt: skip
        made["chunks"][name] = set(parts.glob("*.ts")) - before
    return made


def yuv_frames(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="yuv420p") for f in c.decode(video=0)])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


def ssim_luma(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of luma planes (Wang et al. 2004), over 7x7 windows."""
    from scipy.ndimage import uniform_filter

    x, y = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    win = (1, 7, 7)
    mx, my = uniform_filter(x, win), uniform_filter(y, win)
    vx, vy = uniform_filter(x * x, win) - mx**2, uniform_filter(y * y, win) - my**2
    cov = uniform_filter(x * y, win) - mx * my
    return float(np.mean((2 * mx * my + c1) * (2 * cov + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))))


def test_the_preview_encoder_makes_a_whole_cut_as_good_as_veryfast(cuts: dict) -> None:
    total = cuts["preview"].frames
    reference = yuv_frames(cuts["lossless"].path)
    assert len(reference) == total
    quality = {}
    for name in ("veryfast", "preview"):
        info = probe(cuts[name].path)
        assert info["video_frames"] == total and info["pix_fmt"] == "yuv420p"
        assert info["video_duration_s"] == pytest.approx(total / FPS, abs=1e-6)
        frames = yuv_frames(cuts[name].path)
        assert frames.shape == reference.shape
        luma = (frames[:, :HEIGHT], reference[:, :HEIGHT])
        quality[name] = (psnr(frames, reference), ssim_luma(*luma))
    # At 720p the preview's ultrafast CRF 20 measured 49.8 dB / SSIM 0.994 against veryfast's 46.3 / 0.991
    # (bench/assembly.py --preview); the stated bound here: no worse than veryfast by 0.5 dB or 0.005 SSIM.
    (vf_psnr, vf_ssim), (pv_psnr, pv_ssim) = quality["veryfast"], quality["preview"]
    assert pv_psnr >= vf_psnr - 0.5 and pv_ssim >= vf_ssim - 0.005, quality
    assert pv_psnr > 38, quality


def test_the_preset_is_in_the_chunk_keys_and_the_cuts_provenance(cuts: dict) -> None:
    spec, parts = cuts["spec"], cuts["parts"]
    segments = len(pieces(cut_segments(spec)))  # a chunk per piece: shot bodies, crossfades, the end card
    assert len(cuts["chunks"]["veryfast"]) == len(cuts["chunks"]["preview"]) == segments  # none shared
    again = assemble_cut(spec.model_copy(update={"preset": "veryfast"}), parts.parent / "again", parts=parts)
    assert len(list(parts.glob("*.ts"))) == 2 * segments  # the veryfast chunks were reused, none made
    for result, preset in ((cuts["preview"], "ultrafast"), (again, "veryfast")):
        record = json.loads(probe(result.path)["metadata"]["comment"])
        assert record["encoder"] == {"codec": "libx264", "preset": preset, "crf": 20, "x264_params": X264_PARAMS}


def test_the_cut_and_its_chunks_say_their_colour_in_the_bitstream(cuts: dict) -> None:
    """BT.601 limited range (what swscale's RGB<->YUV matrix assumes) in the H.264 stream itself, where a
    player reads it: the frames decode tagged with all three (primaries, transfer, matrix), not only the
    matrix. Untagged raw input left ffmpeg's scaler to tag the frames, and it left two unspecified."""
    bt601, limited = 6, 1  # AVCOL_PRI/TRC/SPC_SMPTE170M, AVCOL_RANGE_MPEG
    chunk = sorted(cuts["chunks"]["preview"])[0]
    for path in (cuts["veryfast"].path, cuts["preview"].path, chunk):
        with av.open(str(path)) as c:
            frame = next(c.decode(video=0))
        assert (frame.color_primaries, frame.color_trc, frame.colorspace, frame.color_range) == (
            bt601, bt601, bt601, limited), path  # fmt: skip
