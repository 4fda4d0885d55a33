"""The motion backend: the brand's product and logo on screen, camera moves, kinetic type, determinism,
frames that pass the project's own quality checks, and assembly not burning its captions in again."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from evaluators.metrics import frozen_fraction, motion
from generators.base import VIDEO, ShotRequest
from generators.media import read_frames
from generators.type_layer import TypeLayer
from generators.video_motion import Design, MotionVideo

MAGENTA = (230, 20, 200)
CYAN = (20, 220, 230)
PALETTE = ["#0B1F3A", "#F2C14E", "#F7F4EA"]  # none of them near magenta, cyan or green


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A magenta product on a flat green packshot backdrop (no alpha), and a cyan logo with alpha."""
    folder = tmp_path_factory.mktemp("assets")
    shot = Image.new("RGB", (120, 200), (40, 200, 60))
    ImageDraw.Draw(shot).rounded_rectangle((35, 20, 85, 185), radius=10, fill=MAGENTA)
    shot.save(folder / "product.png")
    logo = Image.new("RGBA", (160, 50), (0, 0, 0, 0))
    ImageDraw.Draw(logo).rectangle((5, 5, 155, 45), fill=CYAN + (255,))
    logo.save(folder / "logo.png")
    return {"product": folder / "product.png", "logo": folder / "logo.png"}


def request(assets: dict, role: str = "product", shows: bool = True, **kw) -> ShotRequest:
    base = dict(prompt="a bottle", seconds=1.0, fps=12, width=96, height=160, seed=5, camera="slow push in",
                caption="Cold for 24 hours.", palette=PALETTE, shot_index=1, role=role, shows_product=shows,
                product_name="Bottle", product_image=assets["product"], brand_name="Brand", logo=assets["logo"])
    return ShotRequest(**{**base, **kw})


def frames_of(req: ShotRequest, typed: bool = True) -> np.ndarray:
    """The take's frames, with its caption set in its type layer (as assembly draws it) unless `typed` is False."""
    design = Design(req)
    total = round(req.seconds * req.fps)
    layer = design.type_layer
    kinetic = layer.kinetic(req.caption, req.width, req.height, req.font, req.language, req.caption_enters)
    frames = []
    for i in range(total):
        img = Image.fromarray(design.frame(i, total))
        if typed and kinetic is not None:
            kinetic.draw(img, i / req.fps, drift=layer.drift)
        frames.append(np.asarray(img))
    return np.stack(frames)


def share_near(frames: np.ndarray, colour: tuple[int, int, int], tol: int = 40) -> float:
    return float((np.abs(frames.astype(int) - colour).max(axis=-1) < tol).mean())


def test_take_has_its_frames_and_says_how_it_was_made(assets: dict, tmp_path: Path) -> None:
    backend = VIDEO.create("motion")
    assert backend.thread_safe and not backend.draws_caption and not backend.follows_prompt
    take = backend.render(request(assets), tmp_path / "take.mp4")
    frames = read_frames(take.path)
    assert take.num_frames == len(frames) == 12 and frames.shape[1:3] == (160, 96)
    meta = take.metadata
    assert meta["backend"] == "motion" and meta["license"]["commercial"]
    assert TypeLayer.from_record(meta["type_layer"]).style == meta["parameters"]["type_entrance"]
    assert meta["assets"]["product_image"] == hashlib.sha256(assets["product"].read_bytes()).hexdigest()
    assert meta["parameters"]["product_matte"] == "matte" and meta["parameters"]["camera_move"] == "push_in"


def test_product_shots_show_the_product_cut_out_and_others_do_not(assets: dict) -> None:
    product = frames_of(request(assets))
    assert share_near(product[-1], MAGENTA) > 0.04  # the product is on screen
    assert share_near(product, (40, 200, 60)) < 0.002  # without its packshot's green backdrop
    hook = frames_of(request(assets, role="hook", shows=False))
    assert share_near(hook, MAGENTA) < 0.001


def test_the_logo_is_on_the_call_to_action(assets: dict) -> None:
    cta = frames_of(request(assets, role="cta"))
    assert share_near(cta[-1], CYAN) > 0.005
    assert share_near(frames_of(request(assets, role="product")), CYAN) < 0.001  # not on the hero shot


def product_height(frame: np.ndarray) -> int:
    """Rows holding the magenta product (its hue, even where the light sweep brightens it)."""
    f = frame.astype(int)
    rows = np.nonzero(((f[..., 0] - f[..., 1] > 60) & (f[..., 2] - f[..., 1] > 40)).sum(axis=1) >= 3)[0]
    return int(rows.max() - rows.min() + 1) if len(rows) else 0


@pytest.mark.parametrize(("camera", "grows"), [("slow push in", True), ("pull out", False)])
def test_the_camera_move_is_the_plans(assets: dict, camera: str, grows: bool) -> None:
    frames = frames_of(request(assets, camera=camera, seconds=2.0))
    early, late = product_height(frames[8]), product_height(frames[-1])
    assert (late > early * 1.04) if grows else (late < early * 0.96)


def test_deterministic_per_seed_and_another_seed_is_another_design(assets: dict) -> None:
    a, b = frames_of(request(assets)), frames_of(request(assets))
    assert np.array_equal(a, b)
    c = frames_of(request(assets, seed=6))
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 5


def test_the_caption_is_set_as_type_and_a_continuing_one_is_already_there(assets: dict) -> None:
    line = "Made to last a lifetime."
    bare = frames_of(request(assets, role="hook", shows=False, caption=""))
    typed = frames_of(request(assets, role="hook", shows=False, caption=line))
    assert np.array_equal(bare[0], typed[0])  # the type has not entered yet
    assert np.abs(bare[-1].astype(int) - typed[-1].astype(int)).max(axis=-1).astype(bool).mean() > 0.03
    held = frames_of(request(assets, role="hook", shows=False, caption=line, caption_enters=False))
    assert not np.array_equal(bare[0], held[0])  # already in place on the first frame


@pytest.mark.parametrize(("lang", "caption"), [("ar", "بارد لمدة 24 ساعة"), ("ja", "24時間ずっと冷たい。"), ("en", "Cold 🧊 all day")])
def test_type_in_any_script(assets: dict, lang: str, caption: str) -> None:
    from generators.fonts import fallback_face

    if lang != "en" and fallback_face(caption[:3], True, lang) is None:
        pytest.skip(f"no font for {lang} on this machine (make sysdeps installs the Noto fonts)")
    req = request(assets, role="hook", shows=False, caption=caption, language=lang)
    kinetic = Design(req).type_layer.kinetic(caption, req.width, req.height, lang=lang)
    assert kinetic is not None and kinetic.missing == set()


def test_the_take_does_not_hold_its_captions_words(assets: dict) -> None:
    """Any caption is the same take (cache key and pixels): its words and big figure are assembly's layer."""
    from agent.render import cache_key, keyed_request

    backend = MotionVideo()

    def key(req: ShotRequest) -> str:
        identity, ignored = backend.cache_identity(req)
        return cache_key("video", identity, keyed_request(req, ignored))

    a = request(assets, role="benefit", shows=False, caption="Cold for 24 hours.")
    b = a.model_copy(update={"caption": "Still cold all day", "caption_enters": False})
    c = a.model_copy(update={"caption": "Cold for 36 hours."})
    assert key(a) == key(b) == key(c)
    assert np.array_equal(frames_of(a, typed=False), frames_of(b, typed=False))
    assert np.array_equal(frames_of(a, typed=False), frames_of(c, typed=False))
    assert not MotionVideo.caption_changes_picture(a.caption, b.caption)


def test_a_number_in_the_caption_is_set_big_beside_the_type(assets: dict) -> None:
    """A type-led shot's layer has a slot for a big figure: a caption with a number gets it (drawn in the
    slot, the type moved beside it), one without leaves the slot empty; a product shot has no slot."""
    from agent.assembly.captions import to_yuv420
    from agent.assembly.stills import yuv420_to_rgb
    from agent.assembly.type_track import ShotType, TypeTrack
    from generators.type_layer import FULL_VIEW

    req = request(assets, role="benefit", shows=False, seconds=1.0, width=160, height=288)
    design = Design(req)
    slot = design.type_layer.figure
    assert slot is not None and Design(request(assets)).type_layer.figure is None
    total = round(req.seconds * req.fps)
    bare = to_yuv420(design.frame(total - 1, total))
    x0, y0, x1, y1 = (int(slot.box[0] * 160), int(slot.box[1] * 288), int(slot.box[2] * 160), int(slot.box[3] * 288))
    in_slot = {}
    for words in ("Cold for 24 hours.", "Cold all day long."):
        track = TypeTrack(ShotType(design.type_layer, words, True), 160, 288, FULL_VIEW, req.seconds)
        buf = bare.copy()
        track.draw(buf, total - 1, total, req.fps)
        in_slot[words] = share_near(yuv420_to_rgb(buf)[y0:y1, x0:x1], slot.colour, tol=30)
    assert in_slot["Cold for 24 hours."] > 0.05 and in_slot["Cold all day long."] < 0.02, in_slot


@pytest.mark.parametrize("role", ["hook", "benefit", "product", "proof", "cta"])
def test_takes_pass_the_scorecards_motion_checks(assets: dict, role: str, tmp_path: Path) -> None:
    # a still camera is the hardest case: the shot must still move (not_frozen's threshold is 0.5)
    req = request(assets, role=role, shows=role in ("product", "proof", "cta"), camera="static", seconds=3.0,
                  fps=24, width=128, height=228)
    take = MotionVideo().render(req, tmp_path / f"{role}.mp4")
    frames = read_frames(take.path, max_side=320)
    assert 1 - frozen_fraction(frames) >= 0.5 and motion(frames) > 0.005


def test_a_shot_without_a_readable_product_image_is_still_designed(assets: dict, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    take = MotionVideo().render(request(assets, product_image=broken), tmp_path / "t.mp4")
    assert take.num_frames == 12 and take.metadata["parameters"]["product_matte"] is None


def test_assembly_does_not_burn_in_a_caption_the_take_already_shows(tiny_media: dict, tmp_path: Path) -> None:
    from fixtures.media import decode_video, tiny_plan

    from agent.assembly.cut import CutSpec, assemble_cut

    def cut(drawn: list[bool], name: str) -> tuple[np.ndarray, str]:
        spec = CutSpec(plan=tiny_plan(), aspect_ratio="16:9", width=160, height=90, fps=24,
                       shot_videos=tiny_media["takes"], shot_native=[True] * 3, shot_effects=[None] * 3,
                       shot_voice=[None] * 3, shot_draws_caption=drawn, music=None, brand_name="B",
                       palette=["#0B3C5D", "#F2C14E"])  # fmt: skip
        result = assemble_cut(spec, tmp_path / name)
        return decode_video(result.path), result.srt.read_text(encoding="utf-8")

    burnt, srt_a = cut([False, False, False], "a")
    clean, srt_b = cut([True, False, False], "b")
    take = decode_video(tiny_media["takes"][0])[12]  # the middle of shot 1, as the take has it
    assert np.abs(clean[12].astype(int) - take).mean() < 2.0 < np.abs(burnt[12].astype(int) - take).mean()
    assert np.abs(clean[36].astype(int) - burnt[36]).mean() < 1.5  # shot 2 has its caption burnt in both (encoder noise)
    assert srt_a == srt_b and "Fresh every morning" in srt_b  # the subtitles still carry it


def edge_steps(row: np.ndarray, ground: np.ndarray, ink: tuple[int, int, int]) -> np.ndarray:
    """How far (0: ground, 1: ink) each pixel of a row has gone from the ground towards the ink."""
    span = np.asarray(ink, float) - ground
    return np.clip(((row.astype(float) - ground) @ span) / (span @ span), 0, 1)


def test_edges_are_anti_aliased(tmp_path: Path) -> None:
    from generators.motion_layers import _card, _shape_sprite, logo_sprite

    # a product with a hard 1-bit alpha, upscaled a lot: its edge in the frame still ramps over pixels
    hard = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    ImageDraw.Draw(hard).ellipse((2, 2, 37, 37), fill=MAGENTA + (255,))
    hard.save(tmp_path / "disc.png")
    req = ShotRequest(prompt="x", seconds=1.0, fps=12, width=160, height=160, seed=2, camera="static", caption="",
                      palette=["#F7F4EA"], shot_index=0, role="product", shows_product=True,
                      product_image=tmp_path / "disc.png")  # fmt: skip
    frame = Design(req).frame(11, 12).astype(int)
    is_product = (frame[..., 0] - frame[..., 1] > 100)
    row = int(np.nonzero(is_product.sum(axis=1) == is_product.sum(axis=1).max())[0].mean())
    x0 = int(np.nonzero(is_product[row])[0][0])
    ramp = edge_steps(frame[row, x0 - 6 : x0 + 4], frame[row, x0 - 8].astype(float), MAGENTA)
    assert np.abs(np.diff(ramp)).max() < 0.7 and ((ramp > 0.05) & (ramp < 0.95)).sum() >= 2
    # drawn shapes, a photo card's corners and a logo's plate: more than two levels of alpha
    ring = np.asarray(_shape_sprite("ring", 60, CYAN, 200))[..., 3]
    card = np.asarray(_card(Image.new("RGBA", (400, 300), MAGENTA + (255,)), 400, 300))[..., 3]
    plate = np.asarray(logo_sprite(hard, (0, 0, 60, 20), (250, 250, 250), (20, 20, 20)))[..., 3]
    for alpha in (ring, card[:20, :20], plate):
        assert len(np.unique(alpha[(alpha > 0) & (alpha < 255)])) > 8


def test_the_end_card_shows_the_logo_in_place_of_the_brand_name(assets: dict) -> None:
    from agent.assembly.captions import end_card_image

    def card(logo: Path | None) -> tuple[np.ndarray, int]:
        img = end_card_image("Brand", "Bottle, for early runners", "Shop now", ["#0B1F3A", "#F2C14E"], "9:16",
                             180, 320, logo=logo).astype(int)  # fmt: skip
        ink = np.nonzero((np.abs(img - img[:, :4].mean(axis=1, keepdims=True)).max(axis=2) > 40).any(axis=1))[0]
        button = np.nonzero(((np.abs(img - (242, 193, 78)).max(axis=2) < 30).sum(axis=1)) > 20)[0]
        return img, int(button.min() - ink.min())  # from the top of the card's content to its button

    with_logo, tall = card(assets["logo"])
    without, short = card(None)
    assert share_near(with_logo, CYAN) > 0.02 and share_near(without, CYAN) == 0
    logo_h = int(min(180, 320) * 0.22)
    assert tall - short < logo_h * 0.8  # the logo took the brand line's place; the name is not set twice


@pytest.mark.parametrize(("width", "height"), [(96, 160), (90, 160), (160, 90)])
def test_assembly_knows_where_the_type_is_drawn(assets: dict, width: int, height: int) -> None:
    """Every pixel the type changes on assembly's frames, from the moment it settles to the end of the shot,
    lies inside the box assembly's type track gives the ad checks; a full-screen 9:16 frame keeps it out of
    the top 14% and bottom 35%."""
    from agent.assembly.captions import to_yuv420
    from agent.assembly.type_track import ShotType, TypeTrack
    from generators.type_layer import FULL_VIEW

    caption = "Made for late nights and long drives."
    req = request(assets, role="hook", shows=False, seconds=6.0, width=width, height=height, caption=caption)
    design = Design(req)
    track = TypeTrack(ShotType(design.type_layer, caption, True), width, height, FULL_VIEW, req.seconds)
    box = track.box()
    assert box is not None and TypeTrack(ShotType(design.type_layer, "", True), width, height, FULL_VIEW, 6.0).box() is None
    total = round(req.seconds * req.fps)
    settled = int(np.ceil(track.kinetic.settled_s * req.fps)) + 1
    changed = np.zeros((height, width), bool)
    for i in range(settled, total):
        bare = to_yuv420(design.frame(i, total))
        typed = bare.copy()
        track.draw(typed, i, total, req.fps)
        changed |= np.abs(typed[:height].astype(int) - bare[:height]) > 8
    ys, xs = np.nonzero(changed)
    assert len(xs) > 0.02 * width * height, "the caption drew almost nothing"
    x, y, w, h = box
    assert xs.min() >= x - 1 and xs.max() <= x + w + 1, (xs.min(), xs.max(), box)
    assert ys.min() >= y - 1 and ys.max() <= y + h + 1, (ys.min(), ys.max(), box)
    if width / height < 0.6:  # a full-screen 9:16 frame: clear of the top 14%, the bottom 35%, the sides' 6%
        assert y >= 0.14 * height and y + h <= 0.65 * height and x >= 0.06 * width and x + w <= 0.94 * width, box


@pytest.mark.parametrize("align", ["center", "left"])
@pytest.mark.parametrize("plate", [None, (230, 230, 230)])
@pytest.mark.parametrize("text", ["Shop the spring drop", "Made for busy commuters on trains and bikes, every day.",
                                  "Hecho para los que madrugan cada día", "ليلة طويلة، بلا أسلاك"])
def test_the_caption_with_its_bar_and_plate_stays_in_its_box(text: str, plate: tuple | None, align: str) -> None:
    """The type's box in a 9:16 layout (157 px above the product's): the lines' ink, the accent bar (under
    centred type, over flush type) and a plate all inside it, the type shrinking where it must; it used to
    draw the bar past the box, across the product's top."""
    from generators.kinetic import set_caption

    box = (50.0, 298.0, 670.0, 455.0)
    lang = "ar" if text.startswith("ل") else None
    k = set_caption(text, box, align, 61.0, (20, 20, 20), (200, 150, 0), "pop", lang=lang, plate=plate)
    assert k is not None and k.bar is not None
    for line in k.lines:
        ink = line.sprite.getchannel("A").point(lambda v: 255 if v > 128 else 0).getbbox()
        assert box[1] <= line.y + ink[1] and line.y + ink[3] <= box[3], (line.y, ink)
    (_, bar_top, _, bar_bottom), _ = k.bar
    assert box[1] <= bar_top and bar_bottom <= box[3]
    if plate is not None:
        (img, (_, y)) = k.plate
        assert box[1] <= y and y + img.height <= box[3] + 1


@pytest.mark.timeout(60)
def test_a_caption_in_a_box_too_small_even_for_the_smallest_type_is_still_set() -> None:
    """At a draft's size the type meets the smallest size there is before it fits: it is set at that size
    (overflowing), not shrunk forever (a 96 px run hung here)."""
    from generators.kinetic import set_caption
    from generators.text import MIN_SIZE

    k = set_caption("Made for busy commuters on trains and bikes.", (4.0, 20.0, 50.0, 30.0), "center", 8.0,
                    (20, 20, 20), (200, 150, 0), "pop")  # fmt: skip
    assert k is not None and k.lines and k.bar is not None
    assert all(line.sprite.height >= MIN_SIZE for line in k.lines)
