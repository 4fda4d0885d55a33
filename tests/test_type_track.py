"""Kinetic type drawn at assembly from a take's type layer: as the motion backend would draw it, at the cut's
size, and a caption edit remakes only the chunks of its shot (real motion takes, real ffmpeg, PyAV)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fixtures.media import decode_video
from PIL import Image

from agent.assembly.captions import to_yuv420
from agent.assembly.cut import CutSpec, assemble_cut
from agent.assembly.type_track import ShotType, TypeTrack, YuvaSprite
from agent.plan import EndCard, Music, Plan, Shot
from generators.base import VIDEO, ShotRequest
from generators.type_layer import FULL_VIEW, TypeLayer, TypeLayerError
from generators.video_motion import Design

FPS = 12
PALETTE = ["#0B1F3A", "#F2C14E", "#F7F4EA"]


def request(caption: str, role: str = "benefit", **kw) -> ShotRequest:
    base = dict(prompt="x", seconds=2.0, fps=FPS, width=192, height=192, seed=7, camera="slow push in",
                caption=caption, palette=PALETTE, shot_index=1, role=role, shows_product=False,
                product_name="Bottle", brand_name="Brand")  # fmt: skip
    return ShotRequest(**{**base, **kw})


@pytest.mark.parametrize(("caption", "style", "plate"), [("Cold for 24 hours.", "rise", None),
                                                         ("Made for late nights and long drives.", "wipe", (20, 30, 40)),
                                                         ("ليلة طويلة، بلا أسلاك", "wipe", None),
                                                         ("Cold for 24 hours.", "pop", (230, 230, 230))])
def test_assembly_draws_the_type_as_the_backend_would(caption: str, style: str, plate: tuple | None) -> None:
    """Drawn on the yuv420p frame from a premultiplied canvas (the entrance) or premultiplied YUV planes
    resampled (the settled block, the big figure), the type matches the backend's own drawing on the RGB
    frame, converted, on every frame: each entrance style, a plate, right-to-left copy."""
    from dataclasses import replace

    req = request(caption)
    design = Design(req)
    total = round(req.seconds * FPS)
    layer = replace(design.type_layer, style=style, plate=plate)
    kinetic = layer.kinetic(caption, 192, 192, lang="ar" if caption.startswith("ل") else None)
    figure = layer.figure_sprite(caption, 192, 192)
    track = TypeTrack(ShotType(layer, caption, True, lang="ar" if caption.startswith("ل") else None), 192, 192,
                      FULL_VIEW, req.seconds)  # fmt: skip
    for i in range(total):
        img = Image.fromarray(design.frame(i, total))
        bare = to_yuv420(np.asarray(img))
        if figure is not None:  # as the backend drew it before type was a layer: behind the type
            from generators.camera import CameraPath, camera_move
            from generators.motion_layers import place, screen_rect

            pose = CameraPath(camera_move(req.camera), req.seed).pose(i / (total - 1)).at_depth(0.5)
            place(img, figure[0], screen_rect(figure[1], pose, 192, 192), min(1.0, (i / FPS) / 0.35))
        kinetic.draw(img, i / FPS, drift=layer.drift)
        want = to_yuv420(np.asarray(img)).astype(int)
        got = bare.copy()
        track.draw(got, i, total, FPS)
        diff = np.abs(got.astype(int) - want)
        # within a grey level on average (a translucent plate over much of the frame sits about one level
        # apart: drawn over a clear canvas, then blended) and no more than 12 levels but at a few edge pixels
        assert diff.mean() < 0.8 and np.percentile(diff, 99.9) <= 12, (i, float(diff.mean()), int(diff.max()))
    assert np.abs(bare.astype(int) - want).mean() > 1  # on the last frame the type is there at all


def test_a_sprite_placed_at_an_odd_place_lands_on_even_pixels_with_clear_edges() -> None:
    from generators.motion_layers import PAD

    sprite = Image.new("RGBA", (7 + 2 * PAD, 5 + 2 * PAD), (0, 0, 0, 0))
    sprite.paste((255, 0, 0, 255), (PAD, PAD, PAD + 7, PAD + 5))
    overlay = YuvaSprite(sprite).overlay((3.0, 5.0, 10.0, 10.0), 16, 16)
    assert overlay is not None and (overlay.x, overlay.y) == (2, 4) and overlay.y_pm.shape == (6, 8)
    assert overlay.inv_a[0, 0] == 256 and overlay.inv_a[2, 2] == 0  # clear outside the sprite, opaque inside
    frame = np.full((16 * 3 // 2, 16), 128, np.uint8)
    overlay.blend(frame, 16, 16)
    assert frame[6, 4] != 128 and frame[4, 3] == 128 and frame[6, 2] == 128
    assert YuvaSprite(sprite).overlay((3.0, 5.0, 10.0, 10.0), 16, 16, opacity=0.0) is None


def test_a_bad_type_layer_record_is_one_clear_error() -> None:
    good = Design(request("x")).type_layer.record()
    assert TypeLayer.from_record(good) == Design(request("x")).type_layer
    with pytest.raises(TypeLayerError, match="style 'spin'"):
        TypeLayer.from_record({**good, "style": "spin"})
    with pytest.raises(TypeLayerError, match="unreadable"):
        TypeLayer.from_record({**good, "box": [0, 1]})


def motion_cut(tmp: Path, captions: list[str], parts: Path, name: str) -> tuple[CutSpec, Path]:
    """A 9:16 cut of real motion takes (rendered once: their captions are not in them) with type layers."""
    backend = VIDEO.create("motion")
    shots = [Shot(index=i, role=role, description=f"shot {i}", prompt="x", seconds=1.0, caption=c,
                  transition="crossfade" if i else "cut", shows_product=False)
             for i, (role, c) in enumerate(zip(["hook", "benefit", "cta"], captions, strict=True))]  # fmt: skip
    plan = Plan(segment="s", variant=0, shots=shots, music=Music(mood="calm"),
                end_card=EndCard(headline="Brand", call_to_action="Buy", seconds=0.5))
    takes = []
    for s in shots:
        path = tmp / f"take{s.index}.mp4"
        if not path.exists():
            backend.render(request("ignored", role=s.role, width=108, height=192, seconds=1.0, shot_index=s.index,
                                   seed=3 + s.index), path)  # fmt: skip
        takes.append(path)
    layers = [Design(request("ignored", role=s.role, width=108, height=192, seconds=1.0, shot_index=s.index,
                             seed=3 + s.index)).type_layer.record() for s in shots]  # fmt: skip
    spec = CutSpec(plan=plan, aspect_ratio="9:16", width=108, height=192, fps=FPS, shot_videos=takes,
                   shot_native=[True] * 3, shot_effects=[None] * 3, shot_voice=[None] * 3, music=None,
                   brand_name="Brand", palette=PALETTE, shot_type_layers=layers)  # fmt: skip
    return spec, assemble_cut(spec, tmp / name / "cut", parts=parts).path


def test_a_caption_edit_remakes_only_its_shots_chunks(tmp_path: Path) -> None:
    """Shot 1's new caption: its pieces (fade in, body, fade out) and shot 2's fade in, which shows its frames,
    are encoded again (4 of 8 chunks); shot 0's fade out shows only shot 1's first frame, where the new words
    have not entered yet, so it is kept with both neighbours' bodies and the end card; every frame outside
    the new chunks is the same, byte for byte."""
    parts = tmp_path / "parts"
    captions = ["Cold for 24 hours.", "Ice stays ice", "Buy one today"]
    _, first = motion_cut(tmp_path, captions, parts, "a")
    before = {p.name for p in parts.glob("*.ts")}
    edited = ["Cold for 24 hours.", "Still ice at noon", "Buy one today"]
    spec, second = motion_cut(tmp_path, edited, parts, "b")
    assert len(before) == 8 and len({p.name for p in parts.glob("*.ts")} - before) == 4
    a, b = decode_video(first), decode_video(second)
    from agent.assembly.cut import cut_segments

    segments = cut_segments(spec)
    shot1, shot2 = segments[1], segments[2]
    changed = np.abs(a.astype(int) - b).reshape(len(a), -1).max(axis=1) > 0
    assert not changed[: shot1.start - shot1.fade_in].any()  # shot 0's body and fade out are untouched
    assert changed[shot1.start + shot1.fade_in : shot2.start].any()  # the new words are on screen
    assert not changed[shot2.start + shot2.fade_in :].any()  # shot 2's body and the end card are untouched


@pytest.mark.parametrize("kept", ["read back", "damaged"])
def test_a_fade_in_made_again_reads_the_run_on_frames_of_the_take_before(tmp_path: Path, monkeypatch, kept: str) -> None:
    """The take before a fade runs on under the next shot's first frames: its run-on frames are kept when they
    are first decoded, so new words on the next shot make its fade in again without decoding that take, and
    the cut is the one a fresh assembly makes, frame for frame. A damaged file is decoded around and kept again."""
    from agent.assembly.timeline import ShotSource

    parts = tmp_path / "parts"
    motion_cut(tmp_path, ["Cold for 24 hours.", "Ice stays ice", "Buy one today"], parts, "a")
    run_on = sorted(parts.glob("*.runon.npz"))
    assert len(run_on) == 2  # takes 0 and 1 run on under the fades into shots 1 and 2
    if kept == "damaged":
        for path in run_on:
            path.write_bytes(path.read_bytes()[:100])
    decoded: list[str] = []
    real = ShotSource._frames

    def spy(self: ShotSource):  # which takes are decoded
        if self._decoder is None:
            decoded.append(self.path.name)
        return real(self)

    monkeypatch.setattr(ShotSource, "_frames", spy)
    edited = ["Cold for 24 hours.", "Ice stays ice", "Buy two today"]
    _, second = motion_cut(tmp_path, edited, parts, "b")
    assert "take2.mp4" in decoded and ("take1.mp4" in decoded) == (kept == "damaged"), decoded
    monkeypatch.undo()
    _, fresh = motion_cut(tmp_path, edited, tmp_path / "fresh-parts", "c")
    assert np.array_equal(decode_video(second), decode_video(fresh))
    whole = [path.stat().st_size > 100 for path in parts.glob("*.runon.npz")]
    assert sorted(whole) == ([False, True] if kept == "damaged" else [True, True])  # take 1's kept again


def test_a_fade_out_is_keyed_by_the_type_on_the_next_takes_first_frame(tmp_path: Path) -> None:
    """A shot fading out shows the next take's first frame alone: its chunk's key holds the type drawn there.
    Words that enter with the shot are not on that frame (nothing keyed, nothing drawn); words that carry on
    from the shot before are already in, so the key changes with them."""
    from agent.assembly.chunks import _Sources
    from agent.assembly.cut import cut_segments

    spec, _ = motion_cut(tmp_path, ["Cold for 24 hours.", "Ice stays ice", "Ice stays ice"], tmp_path / "parts", "a")
    sources = _Sources(spec, cut_segments(spec))
    try:
        digests, openings = sources.type_digests()
        assert all(digests) and openings[:2] == [None, None] and openings[2] == digests[2]  # shot 2 carries on
        for j in range(3):
            first = sources[j].frame(0)
            bare = sources[j]._convert(sources[j]._raw)  # the same take frame without its type
            assert np.array_equal(first, bare) == (openings[j] is None), j
    finally:
        sources.close()


def test_assembly_hands_the_checks_the_frames_it_composed(tmp_path: Path, monkeypatch) -> None:
    """The frames a kinetic caption is judged against are composed by assembly anyway: a cut just assembled
    hands them over, so its checks decode no take, and they come out as checks that decode them."""
    from agent.ad_checks import ad_checks
    from agent.assembly.timeline import ShotSource

    captions = ["Cold for 24 hours.", "Ice stays ice", "Buy one today"]
    spec, _ = motion_cut(tmp_path, captions, tmp_path / "parts-a", "a")
    handed = assemble_cut(spec, tmp_path / "a2" / "cut", parts=tmp_path / "parts-handed")
    decoding = assemble_cut(spec, tmp_path / "b" / "cut", parts=tmp_path / "parts-decoding")
    assert len(handed.composed) >= len(captions)  # a page's middle frame per shot at least
    decoded: list[str] = []
    real = ShotSource._frames

    def spy(self: ShotSource):
        if self._decoder is None:
            decoded.append(self.path.name)
        return real(self)

    monkeypatch.setattr(ShotSource, "_frames", spy)
    checks = ad_checks(spec, handed)
    assert decoded == []
    assert ad_checks(spec, decoding.model_copy(update={"composed": {}})) == checks and decoded
    # what a cut hands over is bounded (a long cut's other pages are decoded by its checks)
    monkeypatch.setattr("agent.assembly.chunks.HANDED_BYTES", 1)
    one = assemble_cut(spec, tmp_path / "c" / "cut", parts=tmp_path / "parts-one")
    assert len(one.composed) == 1 and ad_checks(spec, one) == checks


def test_kept_caption_judgments_need_no_frame_composed_again(tmp_path: Path, monkeypatch) -> None:
    """The ad checks judge a kinetic caption against the frame as assembly composes it; once a chunk's
    judgment is kept, a second read of the cut composes no reference frame (they are named by what makes
    them), and the checks come out the same."""
    from agent import ad_evidence
    from agent.ad_checks import ad_checks

    spec, _ = motion_cut(tmp_path, ["Cold for 24 hours.", "Ice stays ice", "Buy one today"], tmp_path / "parts", "a")
    result = assemble_cut(spec, tmp_path / "b" / "cut", parts=tmp_path / "parts")
    composed = []
    real = ad_evidence.Composed.array

    def counted(self):  # a spy on the real property: it still composes the frame
        composed.append(self.k)
        return real.fget(self)

    monkeypatch.setattr(ad_evidence.Composed, "array", property(counted))
    first = ad_checks(spec, result)
    assert composed, "the first read judges the kinetic captions on composed frames"
    composed.clear()
    assert ad_checks(spec, result) == first and composed == []
