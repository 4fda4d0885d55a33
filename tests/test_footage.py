"""The footage backend and its ranking: real clips made with ffmpeg, named and captioned files, stills,
CLIP ranking through a tiny CLIP, trimming, saliency reframing, and a whole run on a footage folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from agent.footage import FootageRanker, catalogue, rank_by_words, terms
from generators.base import ShotRequest
from generators.media import read_frames
from generators.saliency import crop_window, saliency_map
from generators.video_footage import FootageVideo

ROOT = Path(__file__).parents[1]


def ffmpeg(*args: str) -> None:
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", *args], check=True, timeout=120)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A brand's footage: a test pattern filed under running/, an anonymous clip with a caption file
    (a white square drifting on the left of a wide frame), a one-second clip, and a still."""
    root = tmp_path_factory.mktemp("footage")
    (root / "running").mkdir()
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x180:rate=25:duration=3", "-pix_fmt", "yuv420p",
           str(root / "running" / "city-run-dawn.mp4"))
    ffmpeg("-f", "lavfi", "-i", "color=c=0x203050:size=320x180:rate=30:duration=3[bg];"
           "color=c=white:size=60x60:rate=30:duration=3[sq];[bg][sq]overlay=x='30+t*8':y=60",
           "-pix_fmt", "yuv420p", str(root / "clip0042.mp4"))
    (root / "clip0042.txt").write_text("close-up of the insulated bottle and its gold cap on a desk")
    ffmpeg("-f", "lavfi", "-i", "color=c=0x508040:size=160x120:rate=24:duration=1", "-pix_fmt", "yuv420p",
           str(root / "forest-trail.mp4"))
    still = Image.new("RGB", (400, 300), (200, 180, 140))
    ImageDraw.Draw(still).ellipse((290, 110, 370, 190), fill=(20, 20, 20))
    still.save(root / "beach-sunset.jpg")
    (root / "notes.md").write_text("not footage")
    return root


def request(files: list[Path], **kw) -> ShotRequest:
    base = dict(prompt="x", seconds=1.0, fps=24, width=90, height=160, seed=3, camera="slow push in",
                palette=["#0B1F3A", "#F2C14E"], caption="Cold", footage=files, footage_ranking="words")
    return ShotRequest(**{**base, **kw})


def test_files_are_described_by_name_folders_and_captions(folder: Path) -> None:
    files = {f.path.name: f for f in catalogue(folder)}
    assert set(files) == {"city-run-dawn.mp4", "clip0042.mp4", "forest-trail.mp4", "beach-sunset.jpg"}
    assert {"run", "city", "dawn"} <= files["city-run-dawn.mp4"].words
    assert {"bottl", "gold", "cap"} <= files["clip0042.mp4"].words and files["beach-sunset.jpg"].kind == "still"
    assert terms("Running bottles") == terms("run bottle") == ["run", "bottl"]


def test_shots_rank_by_shared_words_and_a_cut_does_not_repeat_a_clip(folder: Path) -> None:
    files = catalogue(folder)
    assert [f.path.name for f, _ in rank_by_words("close detail of the bottle's gold cap", files)] == ["clip0042.mp4"]
    assert rank_by_words("an unrelated spaceship", files) == []
    ranker = FootageRanker(folder)
    picks = ranker.assign(["city runners at dawn", "a runner in the city", "the gold cap", "no match at all"])
    assert [p[0].name if p else None for p in picks] == ["city-run-dawn.mp4", "city-run-dawn.mp4", "clip0042.mp4", None]
    assert ranker.method == "words"


def test_clip_ranking_embeds_each_file_once(folder: Path, tiny_clip: Path) -> None:
    from evaluators.clip import load_embedder

    embedder, why = load_embedder(tiny_clip)
    assert embedder is not None, why
    ranker = FootageRanker(folder, embedder, "tiny")
    first = ranker.assign(["a bottle", "a beach", "a city"])
    assert all(len(p) == 4 for p in first)  # CLIP ranks every file
    assert len({p[0] for p in first}) == 3  # three shots, three different files
    assert len(ranker._embeds) == 4 and ranker.method == "clip:tiny"
    assert ranker.assign(["a bottle", "a beach", "a city"]) == first  # deterministic, and not embedded again


def test_a_clip_is_trimmed_to_the_shot_and_reframed_on_what_stands_out(folder: Path, tmp_path: Path) -> None:
    take = FootageVideo().render(request([folder / "clip0042.mp4"], seconds=1.5), tmp_path / "t.mp4")
    frames = read_frames(take.path)
    assert take.num_frames == len(frames) == 36 and frames.shape[1:3] == (160, 90)
    params = take.metadata["parameters"]
    x, _, w, _ = params["crop"]
    assert x < 60 and x + w > 90  # the 9:16 window over a 16:9 clip keeps the square on the left
    assert params["speed"] == 1.0 and params["trim_s"][1] - params["trim_s"][0] == pytest.approx(1.5)
    assert take.metadata["license"]["commercial"] and len(take.metadata["assets"]["footage_sha256"]) == 64
    assert (frames.astype(int).sum(axis=-1) > 600).mean() > 0.05  # the white square is in the picture


def test_a_short_clip_is_slowed_to_fill_and_a_too_short_one_is_skipped(folder: Path, tmp_path: Path) -> None:
    slowed = FootageVideo().render(request([folder / "forest-trail.mp4"], seconds=1.5), tmp_path / "a.mp4")
    assert slowed.num_frames == 36 and slowed.metadata["parameters"]["speed"] == pytest.approx(0.667, abs=0.01)
    both = [folder / "forest-trail.mp4", folder / "running" / "city-run-dawn.mp4"]
    take = FootageVideo().render(request(both, seconds=2.5), tmp_path / "b.mp4")
    assert take.metadata["parameters"]["source"] == "city-run-dawn.mp4"
    assert "too short" in take.metadata["skipped"][0]


def test_a_still_moves_with_the_shot_camera(folder: Path, tmp_path: Path) -> None:
    take = FootageVideo().render(request([folder / "beach-sunset.jpg"]), tmp_path / "s.mp4")
    frames = read_frames(take.path)
    assert take.metadata["parameters"]["kind"] == "still" and take.metadata["parameters"]["focus"][0] > 0.6
    assert np.abs(frames[0].astype(int) - frames[-1]).mean() > 1.0  # the push-in moves the picture


def test_no_matching_footage_composes_the_shot_from_the_brand_assets(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    for files in ([], [broken]):
        take = FootageVideo().render(request(files, product_image=ROOT / "briefs/assets/lumen-bottle.png",
                                             shows_product=True, role="product"), tmp_path / "c.mp4")
        assert take.num_frames == 24 and take.metadata["composed_by"] == "motion"
        assert "composed from the brand's assets" in take.metadata["footage_fallback"]
    assert not list(tmp_path.glob("*.part*"))  # the failed decode left nothing behind


def test_saliency_finds_the_object_and_the_crop_holds_it() -> None:
    frame = np.full((180, 320, 3), 40, np.uint8)
    frame[70:110, 250:290] = 240
    sal = saliency_map(frame)
    x, y, w, h = crop_window(sal, 320, 180, 9 / 16)
    assert (w, h) == (pytest.approx(101.25), 180) and x <= 250 and x + w >= 290


def test_a_run_cuts_the_brands_footage(folder: Path, tmp_path: Path) -> None:
    from fixtures.probe import probe_mp4
    from test_run import briefcut, last_json

    from agent.store import Store

    shutil.copytree(folder, tmp_path / "clips")
    brief = tmp_path / "brief.yaml"
    brief.write_text(json.dumps({
        "brand": {"name": "Lumen", "palette": ["#0B1F3A", "#F2C14E"]},
        "product": {"name": "Lumen Bottle", "description": "an insulated bottle with a gold cap"},
        "assets": {"footage": "clips"},
        "message": "Cold for 24 hours.", "call_to_action": "Shop now",
        "segments": [{"id": "runners", "description": "city runners at dawn"}],
        "formats": {"aspect_ratios": ["9:16"], "duration_s": 4, "fps": 24, "resolution": 96},
        "refine": {"max_rounds": 0},
    }))  # fmt: skip
    proc = briefcut("run", str(brief), "--json", workdir=tmp_path / "ws")
    assert proc.returncode == 0, proc.stderr
    cut = last_json(proc.stdout)["cuts"][0]
    assert probe_mp4(Path(cut["path"]))["frames"] == 96
    takes = [t for t in Store(tmp_path / "ws" / "briefcut.db").rows("takes", "kind = 'video'")]
    assert {t["backend"] for t in takes} == {"footage"}
    sources = [t["metadata"]["parameters"].get("source") for t in sorted(takes, key=lambda t: t["shot"])]
    # the product shot (the bottle, its gold cap) takes the captioned close-up; the end shot, for city
    # runners at dawn, the clip filed under running/ (and not the close-up again)
    assert sources == ["clip0042.mp4", "city-run-dawn.mp4"]


def test_the_footage_folder_must_exist(tmp_path: Path) -> None:
    from agent.brief import load_brief
    from agent.errors import BriefError

    text = (ROOT / "briefs" / "bumper.yaml").read_text().replace("message:", "assets: {footage: nowhere}\nmessage:")
    (tmp_path / "b.yaml").write_text(text)
    with pytest.raises(BriefError, match=r"assets\.footage: folder not found"):
        load_brief(tmp_path / "b.yaml")


def test_the_footage_folder_is_confined_to_the_briefs_folder_or_an_allowed_root(folder: Path, tmp_path: Path) -> None:
    from agent.brief import load_brief
    from agent.errors import BriefError

    text = (ROOT / "briefs" / "bumper.yaml").read_text()
    (tmp_path / "b.yaml").write_text(text.replace("message:", f"assets: {{footage: {folder}}}\nmessage:"))
    with pytest.raises(BriefError, match=r"b\.yaml:\d+:\d+: assets\.footage: .* is outside the brief's folder"):
        load_brief(tmp_path / "b.yaml")
    from agent.settings import Settings

    roots = Settings.from_env({"BRIEFCUT_ASSETS_ROOT": f"{folder.parent}{os.pathsep}/nowhere"}).assets_roots
    assert roots == (folder.parent, Path("/nowhere"))
    assert load_brief(tmp_path / "b.yaml", roots).assets.footage == folder.resolve()
    (tmp_path / "escape").symlink_to(folder)  # a link inside the brief's folder to a folder outside it
    (tmp_path / "c.yaml").write_text(text.replace("message:", "assets: {footage: escape}\nmessage:"))
    with pytest.raises(BriefError, match="outside the brief's folder"):
        load_brief(tmp_path / "c.yaml")
    inside = tmp_path / "inside"
    inside.mkdir()
    (inside / "own.jpg").write_bytes((folder / "beach-sunset.jpg").read_bytes())
    (inside / "linked.mp4").symlink_to(folder / "clip0042.mp4")  # a file linked from outside is not footage
    assert [f.path.name for f in catalogue(inside)] == ["own.jpg"]
