"""Text in every script with the fonts the set-up installs: fallback per glyph, bidi, emoji, line breaks.

Nothing is mocked: faces come from fontconfig (or a scan of real font folders), coverage from the
fonts' own cmap tables, pixels from Pillow with raqm.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from generators import fonts
from generators.text import FontStack, bidi_levels, break_lines, clusters, fit_text, sentences

SAMPLES = {
    "ja": "24時間冷たいまま。どんなランにも軽い！",
    "zh": "保持冰爽二十四小时，轻便随行。",
    "es": "¡Fría 24 horas! Ligera para cada carrera.",
    "ar": "احصل على Lumen الآن بخصم 20%",
    "he": "קנו את Lumen עכשיו!",
    "hi": "24 घंटे ठंडा। हर दौड़ के लिए हल्का।",
    "th": "เย็นนาน 24 ชั่วโมง เบาสำหรับทุกการวิ่ง",
    "emoji": "Party 🎉 family 👩‍👩‍👧 flag 🇯🇵 thumbs 👍🏽",
}


def glyphs(cluster: str) -> set[int]:
    return {ord(c) for c in cluster if fonts.needs_glyph(c)}


@functools.lru_cache(maxsize=32)
def cmap_of(path: str, index: int) -> frozenset[int]:
    """A face's cmap, read here with fontTools (independently of the lookup's own cache)."""
    from fontTools.ttLib import TTFont

    with TTFont(path, fontNumber=index, lazy=True) as font:
        return frozenset(font.getBestCmap())


def assert_every_cluster_has_a_face(stack: FontStack, text: str) -> None:
    for run in stack.runs(text):
        for cl in clusters(run.text):
            assert glyphs(cl) <= cmap_of(run.face.path, run.face.index), f"{cl!r} drawn with {run.face.name}"
    assert not stack.missing


@pytest.mark.parametrize("lang", list(SAMPLES))
def test_every_script_finds_a_covering_face(lang: str) -> None:
    stack = FontStack(32, bold=True, lang=lang if lang != "emoji" else None)
    assert_every_cluster_has_a_face(stack, SAMPLES[lang])


def ink(text: str, stack: FontStack, size: tuple[int, int] = (900, 70)) -> np.ndarray:
    from PIL import Image

    img = Image.new("RGB", size, (0, 0, 0))
    stack.draw(img, (5, 5), text, (255, 255, 255))
    return np.asarray(img).astype(int)


def test_japanese_is_drawn_not_boxed() -> None:
    """Tofu boxes from a face without the glyphs are hollow rectangles of one shape; real kana differ."""
    stack = FontStack(40, lang="ja")
    a, b = ink("あ", stack, (60, 60)), ink("ね", stack, (60, 60))
    assert a.sum() > 0 and np.abs(a - b).sum() > 0.05 * a.sum()
    assert {r.face.family for r in stack.runs("あ")} & {"Noto Sans CJK JP"}


def test_colour_emoji_are_drawn_in_colour_at_the_text_size() -> None:
    stack = FontStack(40)
    face = stack.runs("🎉")[0].face
    assert face.color and face.strikes  # a bitmap colour font: drawn at its strike and scaled
    pixels = ink("🎉", stack, (120, 80))
    rows, cols = np.nonzero(pixels.sum(axis=2) > 30)
    assert 30 <= rows.max() - rows.min() <= 56 and 30 <= cols.max() - cols.min() <= 56  # about 40 px
    saturation = pixels.max(axis=2) - pixels.min(axis=2)
    assert (saturation > 80).sum() > 200  # colour, not a grey silhouette
    assert stack.getlength("🎉") == pytest.approx(40 * 1.2, rel=0.3)


def test_arabic_keeps_latin_and_numbers_in_reading_order() -> None:
    stack = FontStack(30)
    runs = stack.runs(SAMPLES["ar"])
    at = lambda word: next(i for i, r in enumerate(runs) if word in r.text)  # noqa: E731
    # display order, left to right: the last Arabic words first, the brand name in the middle, LTR
    assert at("الآن") < at("Lumen") < at("احصل")
    assert [r.rtl for r in runs if r.text.strip() == "Lumen"] == [False]
    levels, base = bidi_levels("קנו Lumen 2024!")
    assert base == 1 and levels[4] == 2 and levels[-1] == 1  # LTR name inside RTL, "!" takes the paragraph's


def test_hebrew_numbers_stay_european_and_arabic_letters_join() -> None:
    stack = FontStack(30)
    joined, isolated = ink("سلام", stack), ink("س ل ا م", stack)
    assert (joined.sum(axis=2) > 0).any(axis=0).sum() < (isolated.sum(axis=2) > 0).any(axis=0).sum()


def test_missing_glyph_is_reported_not_hidden() -> None:
    stack = FontStack(30)
    stack.runs("ok \U000f0001")
    assert stack.missing == {"\U000f0001"}


# Line breaking and sentences ----------------------------------------------------------------


def test_japanese_breaks_between_characters_but_not_before_closing_punctuation() -> None:
    stack = FontStack(28, lang="ja")
    text = "24時間冷たいまま。どんなランにも軽い。金色のキャップが目印です。"
    lines = break_lines(text, stack, 200)
    assert len(lines) > 2 and "".join(lines) == text
    assert all(stack.getlength(line) <= 200 for line in lines)
    assert not any(line[0] in "。、！？）" for line in lines)  # UAX #14: no break before these


def test_thai_and_long_words_break_inside_the_width() -> None:
    stack = FontStack(28)
    lines = break_lines(SAMPLES["th"], stack, 260)
    assert len(lines) >= 2 and all(stack.getlength(line) <= 260 for line in lines)
    word = "Supercalifragilisticexpialidocious" * 2
    long = break_lines(word, stack, 150)
    assert "".join(long) == word and all(stack.getlength(line) <= 150 for line in long)


def test_sentences_end_in_any_script() -> None:
    assert sentences("冷たい。軽い！金色？") == ["冷たい。", "軽い！", "金色？"]
    assert sentences("नमस्ते। दुनिया") == ["नमस्ते।", "दुनिया"]
    assert sentences("مرحبا؟ نعم.") == ["مرحبا؟", "نعم."]
    assert sentences("no end") == ["no end"]


def test_fit_shrinks_to_the_floor_then_stops() -> None:
    stack, lines = fit_text("Cold for twenty-four hours", 400, 1, 40, 12)
    assert len(lines) == 1 and stack.size < 40
    stack, lines = fit_text("word " * 60, 200, 2, 40, 20)
    assert stack.size == 20 and len(lines) > 2  # at the floor it still does not fit: the caller pages it


# Without fontconfig: a scan of the platform's font folders ------------------------------------


@pytest.fixture
def scanned_fonts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A font folder (links to installed fonts) found by scanning, as on macOS or Windows."""
    if not shutil.which("fc-match"):
        pytest.skip("needs fontconfig to locate the installed fonts to link")
    folder = tmp_path / "share" / "fonts"
    folder.mkdir(parents=True)
    for pattern in ("sans-serif:bold", "sans-serif:lang=ja", "emoji:color=true", "sans-serif:lang=ar",
                    "sans-serif:lang=th"):
        path = subprocess.run(["fc-match", "-f", "%{file}", pattern], capture_output=True, text=True).stdout
        target = folder / Path(path).name
        if not target.exists():
            target.symlink_to(path)
    monkeypatch.setenv("BRIEFCUT_FONTCONFIG", "0")
    monkeypatch.setenv("XDG_DATA_DIRS", str(tmp_path / "share"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for cached in (fonts.catalogue, fonts.default_face):
        cached.cache_clear()
    yield folder
    for cached in (fonts.catalogue, fonts.default_face):
        cached.cache_clear()


def test_without_fontconfig_the_folders_are_scanned(scanned_fonts: Path) -> None:
    assert fonts.fontconfig() is None
    assert all(Path(f.path).parent == scanned_fonts for f in fonts.catalogue())
    for lang in ("ja", "ar", "th", "emoji"):
        stack = FontStack(30, lang=None if lang == "emoji" else lang)
        assert_every_cluster_has_a_face(stack, SAMPLES[lang])
    assert FontStack(30).runs("🎉")[0].face.color


def test_a_brand_font_comes_first_and_falls_back_per_glyph(tmp_path: Path) -> None:
    brand = fonts.fallback_face("A", bold=False)
    assert brand is not None
    stack = FontStack(30, bold=False, brand=Path(brand.path), lang="ja")
    runs = stack.runs("Lumen ボトル")
    assert runs[0].face.path == brand.path and "CJK" in runs[-1].face.family
    assert FontStack(30, brand=tmp_path / "not-a-font.ttf").primary[0] == fonts.default_face(True)


def test_doctor_says_which_face_draws_each_script_and_which_voices_exist() -> None:
    from agent.doctor import _text_support

    text = _text_support()
    assert text["fonts"].startswith(("fontconfig", "scanned"))
    missing = [script for script, face in text["scripts"].items() if face is None]
    assert missing == [], f"no installed font for {missing}: run `make sysdeps`"
    assert "Color Emoji" in text["scripts"]["Emoji"] and "CJK" in text["scripts"]["Han"]
