"""Ad-effectiveness checks on crafted cuts: real assembly (PyAV + ffmpeg), the checks decode the MP4 again.

Each check has a cut where it must fail: the logo only on the end card, no call to action, captions off,
slow opening pacing; and a cut made to pass them, so a check that cannot fail would show here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fixtures.media import make_take, tone_track
from PIL import Image

from agent.ad_checks import ad_checks, contains_words, unspaced, words
from agent.assembly.captions import SAFE_MARGINS
from agent.assembly.cut import CutSpec, assemble_cut, dimensions
from agent.plan import EndCard, Music, Plan, Shot
from evaluators.detect import Template, find_template, masked_ncc, trailing_static
from generators.media import write_frames

FPS = 24
LOGO = Path(__file__).parents[1] / "briefs" / "assets" / "lumen-logo.png"
COLOURS = [(200, 40, 40), (40, 160, 60), (40, 60, 200), (180, 160, 30)]


def plan_for(seconds: list[float], *, captions: bool = True, cta: str = "Shop now", voice_cta: bool = True) -> Plan:
    texts = ["Cold all day", "Light for every run", "Built to last", f"{cta or 'See you soon'} today"]
    shots = [Shot(index=i, role="product" if i else "hook", description=f"s{i}", prompt=f"p{i}", seconds=s,
                  shows_product=i > 0, caption=texts[i % 4] if captions else "",
                  voice_line=("Shop now" if voice_cta else "Stay cold") if i == len(seconds) - 1 else "")
             for i, s in enumerate(seconds)]  # fmt: skip
    return Plan(segment="t", shots=shots, music=Music(mood="calm"),
                end_card=EndCard(seconds=2.0, headline="Cold for 24 hours", call_to_action=cta))


def logo_take(path: Path, colour: tuple[int, int, int], frames: int, width: int, height: int) -> Path:
    """A solid take with the brand's logo pasted in its upper left quarter."""
    canvas = Image.new("RGB", (width, height), colour)
    logo = Image.open(LOGO).convert("RGBA")
    h = height // 5
    logo = logo.resize((round(logo.width * h / logo.height), h), Image.LANCZOS)
    canvas.paste(logo, (width // 10, height // 6), logo)
    frame = np.asarray(canvas)
    write_frames(path, (frame for _ in range(frames)), FPS)
    return path


def build(tmp: Path, name: str, plan: Plan, *, logo_in_shot: bool = False) -> tuple[CutSpec, object]:
    width, height = dimensions("16:9", 180)
    takes = []
    for i, shot in enumerate(plan.shots):
        n = round(shot.seconds * FPS)
        make = logo_take if (logo_in_shot and i == 0) else make_take
        takes.append(make(tmp / f"{name}-take{i}.mp4", COLOURS[i % 4], n, width, height))
    voice = [tone_track(tmp / f"{name}-voice{i}.wav", 1.0, 440.0, 0.5) if s.voice_line else None
             for i, s in enumerate(plan.shots)]  # fmt: skip
    spec = CutSpec(plan=plan, aspect_ratio="16:9", width=width, height=height, fps=FPS, shot_videos=takes,
                   shot_native=[True] * len(takes), shot_effects=[None] * len(takes), shot_voice=voice, music=None,
                   brand_name="Lumen", palette=["#0B1F3A", "#F2C14E"], logo=LOGO)  # fmt: skip
    return spec, assemble_cut(spec, tmp / name)


def by_name(spec: CutSpec, result) -> dict:
    return {c.name: c for c in ad_checks(spec, result)}


@pytest.fixture(scope="module")
def cuts(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("adcuts")
    quick = [1.5, 1.5, 1.5, 2.0]
    return {
        "good": by_name(*build(tmp, "good", plan_for(quick), logo_in_shot=True)),
        "logo_end": by_name(*build(tmp, "logo_end", plan_for([3.5, 3.5]))),
        "bare": by_name(*build(tmp, "bare", plan_for(quick, captions=False, cta="", voice_cta=False), logo_in_shot=True)),
    }


def test_a_cut_made_to_pass_passes_every_check(cuts):
    good = cuts["good"]
    assert {n: c.passed for n, c in good.items()} == {n: True for n in good}, {n: c.detail for n, c in good.items()}
    assert good["brand_in_first_5s"].value == 0.0 and "logo found at 0.0 s" in good["brand_in_first_5s"].detail
    assert good["shots_in_first_5s"].value == 4
    assert abs(good["end_card_seconds"].value - 2.0) < 0.05
    assert good["product_on_screen"].value == pytest.approx(5.0 / 6.5, abs=0.01)
    assert good["captions_on_screen"].value > 0.95
    assert 1.5 <= good["voice_words_per_second"].value <= 2.5  # 2 words over ~1 s of tone
    for check in good.values():  # every check names its threshold and source
        assert check.source and check.threshold is not None and check.op in ("<=", ">=") and check.kind == "ad"


def test_logo_only_on_the_end_card_fails_brand_early(cuts):
    check = cuts["logo_end"]["brand_in_first_5s"]
    assert check.passed is False and check.value is None and "not found" in check.detail
    assert cuts["logo_end"]["shots_in_first_5s"].passed is False and cuts["logo_end"]["shots_in_first_5s"].value == 2
    # the end card (at 7 s) does show the logo: the search itself finds it there
    assert cuts["logo_end"]["cta_on_screen"].passed is True


def test_no_call_to_action_fails_on_screen_and_in_voice(cuts):
    no_cta = cuts["bare"]
    assert no_cta["cta_on_screen"].passed is False and "no call to action" in no_cta["cta_on_screen"].detail
    assert no_cta["cta_in_voice_over"].passed is False and no_cta["cta_in_voice_over"].value == 0.0
    assert cuts["good"]["cta_in_voice_over"].value == 1.0


def test_captions_off_fails_sound_off_viewing(cuts):
    off = cuts["bare"]["captions_on_screen"]
    assert off.passed is False and off.value == 0.0
    assert cuts["bare"]["brand_in_first_5s"].passed is True  # the logo in shot 1 still counts


def test_the_9x16_safe_zone_and_a_missing_voice_over(tmp_path, monkeypatch):
    plan = plan_for([1.5, 1.5, 1.5, 2.0], voice_cta=False).model_copy()
    plan.shots[-1].voice_line = ""
    width, height = dimensions("9:16", 160)
    takes = [make_take(tmp_path / f"t{i}.mp4", COLOURS[i], round(s.seconds * FPS), width, height)
             for i, s in enumerate(plan.shots)]  # fmt: skip
    spec = CutSpec(plan=plan, aspect_ratio="9:16", width=width, height=height, fps=FPS, shot_videos=takes,
                   shot_native=[True] * 4, shot_effects=[None] * 4, shot_voice=[None] * 4, music=None,
                   brand_name="Lumen", palette=["#0B1F3A", "#F2C14E"])  # fmt: skip
    checks = by_name(spec, assemble_cut(spec, tmp_path / "vertical"))
    # 9:16 captions and the end card are laid out inside Meta's Reels zone (not in the bottom 35%)
    safe = checks["text_in_safe_area"]
    assert safe.passed is True and "Reels" in safe.source and "inside" in safe.detail, safe.detail
    assert checks["captions_on_screen"].passed is True  # the captions were found, so they were checked
    # laid out with a 17% bottom margin instead (as briefcut did), the captions fall in the zone: refused
    monkeypatch.setitem(SAFE_MARGINS, "9:16", (0.06, 0.08, 0.06, 0.17))
    low = by_name(spec, assemble_cut(spec, tmp_path / "low"))["text_in_safe_area"]
    assert low.passed is False and "caption" in low.detail, low.detail
    assert checks["voice_words_per_second"].passed is None and "no voice-over" in checks["voice_words_per_second"].detail
    assert checks["brand_in_first_5s"].passed is False and "no logo in the brief" in checks["brand_in_first_5s"].detail


def test_words_and_phrases_in_any_script():
    assert words("Shop the spring drop!") == ["shop", "the", "spring", "drop"]
    assert contains_words("Shop our spring drop today", "Shop the spring drop") == 0.75
    assert unspaced("今日は元気です") and not unspaced("Shop now")


def test_masked_ncc_finds_a_template_and_ignores_noise():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (60, 80)).astype(np.float64)
    scores = masked_ncc(image, image[10:30, 20:50])
    assert np.unravel_index(scores.argmax(), scores.shape) == (10, 20) and scores.max() == pytest.approx(1.0)
    other = rng.integers(0, 255, (20, 30)).astype(np.float64)
    assert masked_ncc(image, other).max() < 0.6
    frame = np.zeros((90, 160, 3), np.uint8)
    assert find_template(frame, np.asarray(Image.open(LOGO).convert("RGBA")))[0] == 0.0  # flat: no match
    square = np.full((90, 160, 3), (200, 40, 40), np.uint8)
    square[34:56, 21:43] = 255  # a bright blob matches the logo's grey shape; its colours veto it
    assert find_template(square, np.asarray(Image.open(LOGO).convert("RGBA")))[0] < 0.6
    canvas = Image.fromarray(square)
    logo = Image.open(LOGO).convert("RGBA")
    logo = logo.resize((round(logo.width * 17 / logo.height), 17), Image.LANCZOS)
    canvas.paste(logo, (90, 10), logo)
    score, where = find_template(np.asarray(canvas), np.asarray(Image.open(LOGO).convert("RGBA")))
    assert score > 0.9 and abs(where[0] - 90) <= 2 and abs(where[1] - 10) <= 2
    clip = np.concatenate([np.full((5, 4, 4, 3), v, np.uint8) for v in (10, 200)])
    assert trailing_static(clip) == 5


def test_a_template_searched_in_many_frames_is_prepared_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import evaluators.detect as detect

    rng = np.random.default_rng(3)
    logo = Image.open(LOGO).convert("RGBA")
    frames = []
    for i, height in enumerate((14, 17, 22, 0)):
        canvas = Image.fromarray((np.array([60, 90, 160]) + rng.integers(-12, 12, (90, 160, 3))).astype(np.uint8))
        if height:
            small = logo.resize((round(logo.width * height / logo.height), height), Image.LANCZOS)
            canvas.paste(small, (10 + 20 * i, 8 + 15 * i), small)
        frames.append(np.asarray(canvas))
    template = Template(np.asarray(logo))
    found = [template.find(f) for f in frames]
    # the same answers as a template made for each frame alone (the logo where it was pasted; none in the last)
    assert found == [find_template(f, np.asarray(logo)) for f in frames]
    assert all(score > 0.9 for score, _ in found[:3]) and found[3][0] < 0.6
    resized = []
    monkeypatch.setattr(detect, "resize", lambda *a: resized.append(a) or pytest.fail("resized again"))
    assert template.find(frames[1]) == found[1]  # every size it needs was made for an earlier frame
    assert resized == []


def test_plain_areas_do_not_match_the_logo() -> None:
    """A frame of plain areas and gold discs like the logo's (no word): float32 correlation rounding made the
    plain background look textured, and the logo "matched" at 1.0 on the blue one."""
    from PIL import ImageDraw

    from agent.ad_evidence import LOGO_MATCH

    logo = np.asarray(Image.open(LOGO).convert("RGBA"))
    for background in ((51, 65, 90), (30, 30, 30)):
        canvas = Image.new("RGB", (90, 160), background)
        draw = ImageDraw.Draw(canvas)
        draw.ellipse((10, 110, 50, 150), fill=(160, 140, 80))
        draw.ellipse((50, 40, 70, 60), fill=(242, 193, 78))
        assert Template(logo).find(np.asarray(canvas))[0] < LOGO_MATCH
    flat = np.full((64, 80), 137.0)  # and a template over plain areas
    flat[40:, :] = 90.0  # two plain areas: only the edge between them has texture
    scores = masked_ncc(flat, np.random.default_rng(1).integers(0, 255, (12, 20)).astype(np.float64))
    assert np.abs(scores[:20]).max() == 0.0  # patches wholly inside a plain area are not matched at all


def test_the_logo_search_imports_no_scipy() -> None:
    """Finding the logo is numpy's FFT and a numpy blur: an edit that checks a new opening imports no scipy."""
    import os
    import subprocess
    import sys

    code = (f"import sys, numpy as np; from PIL import Image; from evaluators.detect import Template; "
            f"t = Template(np.asarray(Image.open({str(LOGO)!r}).convert('RGBA'))); "
            f"t.find(np.random.default_rng(0).integers(0, 255, (160, 90, 3), np.uint8)); "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))")  # fmt: skip
    root = Path(__file__).parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(root)})  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def motion_takes(tmp: Path, plan: Plan, width: int, height: int, seed: int = 4) -> list:
    """Real motion-backend takes (each records the type layer assembly sets its shot's caption in)."""
    from generators.base import VIDEO, ShotRequest

    backend = VIDEO.create("motion")
    return [backend.render(ShotRequest(prompt=s.prompt, seconds=s.seconds, fps=FPS, width=width, height=height,
                                       seed=seed + i, camera="static", caption=s.caption, palette=["#0B1F3A", "#F2C14E", "#F7F4EA"],
                                       shot_index=i, role="hook" if i == 0 else "benefit", shows_product=False,
                                       product_name="Bottle", brand_name="Lumen"), tmp / f"motion{seed}-{i}.mp4")
            for i, s in enumerate(plan.shots)]  # fmt: skip


def test_captions_set_in_a_takes_type_layer_are_found_and_kept_in_the_9x16_zone(tmp_path):
    """The motion backend's takes record a type layer; assembly sets each caption in it as kinetic type (not
    a plain overlay): the checks find the type where assembly drew it, inside Meta's Reels zone. Checked
    against other takes and other words than the cut was made of, the same places show something else."""
    plan = plan_for([1.5, 1.5], voice_cta=False)
    plan.shots[-1].voice_line = ""
    width, height = dimensions("9:16", 180)
    takes = motion_takes(tmp_path, plan, width, height)
    spec = CutSpec(plan=plan, aspect_ratio="9:16", width=width, height=height, fps=FPS,
                   shot_videos=[t.path for t in takes], shot_native=[True] * 2, shot_effects=[None] * 2,
                   shot_voice=[None] * 2, music=None, brand_name="Lumen", palette=["#0B1F3A", "#F2C14E"],
                   shot_type_layers=[t.metadata["type_layer"] for t in takes])  # fmt: skip
    result = assemble_cut(spec, tmp_path / "motion")
    checks = by_name(spec, result)
    assert checks["captions_on_screen"].passed is True, checks["captions_on_screen"].detail
    assert checks["text_in_safe_area"].passed is True, checks["text_in_safe_area"].detail
    other = plan.model_copy(update={"shots": [s.model_copy(update={"caption": words}) for s, words in
                                              zip(plan.shots, ["Nothing like it", "Ask for it by name"], strict=True)]})
    others = motion_takes(tmp_path, other, width, height, seed=40)  # other words, set by other takes
    wrong = spec.model_copy(update={"plan": other, "shot_videos": [t.path for t in others],
                                    "shot_type_layers": [t.metadata["type_layer"] for t in others]})
    assert by_name(wrong, result)["captions_on_screen"].passed is False
    reworded = spec.model_copy(update={"plan": other})  # the same takes: only the words set in them differ
    assert by_name(reworded, result)["captions_on_screen"].passed is False
