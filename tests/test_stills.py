"""A cut's stills (agent.assembly.stills): the poster kept by its frame and copied when the frame is the same,
the contact sheet's thumbnails scaled from yuv420p and its words drawn from glyphs rendered once; and the
per-process facts the pieces of a cut share (a take's size and length, the watermark's bounds)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

import agent.assembly.stills as stills
from agent.assembly.captions import load_font, to_yuv420
from agent.assembly.timeline import take_info
from agent.provenance.watermark import embed


def yuv_frame(rgb: tuple[int, int, int], width: int = 64, height: int = 96, noise: int = 0) -> np.ndarray:
    """A yuv420p buffer of one colour (plus seeded noise)."""
    img = np.full((height, width, 3), rgb, np.int16)
    if noise:
        img += np.random.default_rng(noise).integers(-20, 21, img.shape, dtype=np.int16)
    return to_yuv420(np.clip(img, 0, 255).astype(np.uint8))


def test_a_poster_is_kept_by_its_frame_and_copied_when_the_frame_is_the_same(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    keep = tmp_path / "parts"
    keep.mkdir()
    frame = yuv_frame((200, 80, 40), noise=1)
    stills.save_poster(tmp_path / "a.png", frame, keep)
    (kept,) = keep.iterdir()
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), stills.yuv420_to_rgb(frame))
    assert kept.read_bytes() == (tmp_path / "a.png").read_bytes()
    stamp = (kept.stat().st_ino, kept.stat().st_mtime_ns)

    def no_encoding(*args: object) -> None:
        raise AssertionError("the kept poster was encoded again")

    monkeypatch.setattr(stills, "save_png", no_encoding)
    stills.save_poster(tmp_path / "b.png", frame.copy(), keep)  # the same frame, another buffer
    assert (tmp_path / "b.png").read_bytes() == kept.read_bytes()
    assert (kept.stat().st_ino, kept.stat().st_mtime_ns) == stamp
    monkeypatch.undo()

    other = frame.copy()
    other[0, 0] ^= 1  # one luma level
    stills.save_poster(tmp_path / "c.png", other, keep)
    assert len(list(keep.iterdir())) == 2
    assert np.array_equal(np.asarray(Image.open(tmp_path / "c.png")), stills.yuv420_to_rgb(other))
    stills.save_poster(tmp_path / "d.png", frame)  # nowhere to keep it: written alone
    assert len(list(keep.iterdir())) == 2 and (tmp_path / "d.png").read_bytes() == kept.read_bytes()
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_a_contact_sheet_shows_each_frame_with_its_label_and_scores() -> None:
    colours = [(220, 30, 30), (30, 200, 40), (40, 60, 220)]
    frames = [yuv_frame(c, 90, 160) for c in colours]
    labels = ["1. hook  0.00-2.00s", "2. product  2.00-4.00s", "3. cta — día  4.00-6.00s"]
    scores = [{"clip_score": 0.5, "palette": None}, {"clip_score": 0.25}, {}]
    sheet = stills.contact_sheet(frames, labels, scores, "Brand  runners  9:16  90x160@24")
    th, tw = stills.THUMB_LONG_SIDE, stills.THUMB_LONG_SIDE * 90 // 160  # portrait: 320 high
    assert sheet.shape == (36 + th + 8 + 17 * 3 + 12, 3 * (tw + 12) + 12, 3)
    for i, colour in enumerate(colours):  # each thumbnail where it belongs, in its colour
        x = 12 + i * (tw + 12)
        cell = sheet[36:36 + th, x:x + tw].reshape(-1, 3).astype(int)
        assert np.abs(cell.mean(axis=0) - colour).max() < 8
        assert np.abs(cell.mean(axis=0) - stills.yuv420_to_rgb(frames[i]).reshape(-1, 3).mean(axis=0)).max() < 2
    ink = sheet.min(axis=2) < 120  # text on the light ground
    for i, lines in enumerate([3, 2, 1]):  # label, then a line per score
        x = 12 + i * (tw + 12)
        for j in range(3):
            strip = ink[36 + th + 4 + 17 * j:36 + th + 4 + 17 * (j + 1), x:x + tw]
            assert strip.any() == (j < lines), (i, j)
    assert ink[8:30, 12:300].any()  # the title


@pytest.mark.parametrize("text", ["clip_score: 0.532", "1. hook  0.00-2.00s", "Brand  runners  9:16  720x1280@24"])
def test_a_plain_line_from_glyphs_looks_like_the_line_drawn_whole(text: str) -> None:
    """Glyph by glyph (no kerning) against PIL's whole line: the same ink, in the same place."""
    font = load_font(13, bold=False)
    whole, glyphs = (Image.new("L", (320, 24), 0) for _ in range(2))
    font.draw(whole, (4, 2), text, 255)
    stills.draw_label(font, glyphs, (4, 2), text, 255)
    a, b = np.asarray(whole) > 96, np.asarray(glyphs) > 96
    rows, cols = (lambda m: (np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))))(a)
    rows_b, cols_b = (lambda m: (np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))))(b)
    assert (rows[0], rows[-1]) == (rows_b[0], rows_b[-1])  # the same baseline and height
    assert abs(cols[0] - cols_b[0]) <= 1 and abs(cols[-1] - cols_b[-1]) <= 2  # the same extent, within kerning
    assert abs(int(a.sum()) - int(b.sum())) <= 0.08 * a.sum()


def test_a_line_that_is_not_plain_is_drawn_by_its_font_stack() -> None:
    font = load_font(13, bold=False)
    for text in ("día — 2.00s", "مرحبا 2"):
        whole, glyphs = (Image.new("L", (200, 24), 0) for _ in range(2))
        font.draw(whole, (4, 2), text, 255)
        stills.draw_label(font, glyphs, (4, 2), text, 255)
        assert np.asarray(whole).any() and np.array_equal(np.asarray(whole), np.asarray(glyphs))


def write_take(path: Path, frames: int) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            img = np.full((48, 64, 3), i * 9 % 255, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def test_a_take_is_read_again_when_its_file_changes(tmp_path: Path) -> None:
    take = tmp_path / "take.mp4"
    write_take(take, 12)
    assert take_info(take).frames == 12 and take_info(take) is take_info(take)  # read once
    write_take(tmp_path / "other.mp4", 20)
    (tmp_path / "other.mp4").replace(take)  # a new take under the old name
    assert take_info(take).frames == 20


def test_the_watermark_of_several_pieces_is_the_one_mark() -> None:
    """The bounds are worked out once per key and size, read-only, and mark each piece as they did."""
    frame = np.random.default_rng(3).integers(0, 256, (48 * 3 // 2, 64), dtype=np.uint8)
    first = [f.copy() for f in embed([frame, frame.copy()], "0123abcd", 64, 48)]
    again = next(embed([frame], "0123abcd", 64, 48))
    other = next(embed([frame], "89abcdef", 64, 48))
    assert np.array_equal(first[0], again) and np.array_equal(first[1], again) and not np.array_equal(again, other)
    assert np.array_equal(again[48:], frame[48:]) and again[:48].min() >= 13 and again[:48].max() <= 238
