"""Work a cut's parts share is kept per process (assembly and its ad checks lay out the same captions and draw
the same end card): the kept answer equals a fresh one, callers cannot spoil it, and a file replaced at the
same path (a logo, in a long-running studio) is not answered from work on the old one."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from agent.assembly.caption_track import CaptionFormat, _caption_cues, caption_cues
from agent.assembly.captions import _end_card, end_card_image
from generators.kinetic import _set_caption, set_caption
from generators.text import _break_units, break_units

CAPTIONS = ["Cold for 24 hours.", "Cold for 24 hours.", " ".join(["Light enough for every run, every day of the week, "
            "in every season of the year and all the way home."] * 4), "", "Shop now"]  # fmt: skip
BOUNDS = [(0, 30), (30, 60), (60, 80), (80, 100), (100, 130)]


def test_caption_cues_kept_equal_a_fresh_layout_and_callers_cannot_spoil_them():
    fmt = CaptionFormat("9:16", 360, 640, 24)
    _caption_cues.cache_clear()
    cues, warnings = caption_cues(CAPTIONS, BOUNDS, fmt)
    assert [c.text for c in cues][:1] == ["Cold for 24 hours."] and cues[0].end == 60  # the two shots share one cue
    assert warnings and warnings[0]["shot"] == 2  # the long caption was cut to fit its 20 frames
    cues.clear()
    warnings[0]["shot"] = 99
    again, warned = caption_cues(CAPTIONS, BOUNDS, fmt)
    assert _caption_cues.cache_info().hits == 1
    assert warned[0]["shot"] == 2 and len(again) > 2
    _caption_cues.cache_clear()
    fresh, _ = caption_cues(CAPTIONS, BOUNDS, fmt)
    assert [(c.start, c.end, c.text, c.shot) for c in fresh] == [(c.start, c.end, c.text, c.shot) for c in again]
    assert all(np.array_equal(a.overlay.y, b.overlay.y) for a, b in zip(fresh, again, strict=True))
    other, _ = caption_cues(CAPTIONS, BOUNDS, CaptionFormat("9:16", 360, 640, 24, lang="de"))
    assert _caption_cues.cache_info().misses == 2  # another language is laid out anew


def test_end_card_kept_is_read_only_still_reports_missing_glyphs_and_follows_a_replaced_logo(tmp_path):
    logo = tmp_path / "logo.png"
    Image.new("RGBA", (64, 64), (255, 0, 0, 255)).save(logo)
    args = ("Lumen", "Cold for 24 hours", "Shop 春 \ue000", ["#0B1F3A", "#F2C14E"], "9:16", 360, 640, logo)  # U+E000: no font
    _end_card.cache_clear()
    first_missing: set[str] = set()
    red = end_card_image(*args, missing=first_missing)
    again_missing: set[str] = set()
    again = end_card_image(*args, missing=again_missing)
    assert again is red and _end_card.cache_info().hits == 1
    assert again_missing == first_missing == {"\ue000"}  # a kept card still says which glyphs no font has
    assert not red.flags.writeable
    Image.new("RGBA", (64, 64), (0, 0, 255, 255)).save(logo)  # the same path, another logo
    st = logo.stat()
    os.utime(logo, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    blue = end_card_image(*args)
    assert _end_card.cache_info().misses == 2
    assert not np.array_equal(blue, red)
    red_px, blue_px = (np.all(img == c, axis=-1).sum() for img, c in ((red, (255, 0, 0)), (blue, (0, 0, 255))))
    assert red_px > 1000 and blue_px > 1000


def test_set_caption_and_break_units_kept_per_process():
    args = ("Cold for 24 hours. Light enough.", (20, 300, 340, 500), "left", 40.0, (255, 255, 255),
            (242, 193, 78), "rise")  # fmt: skip
    _set_caption.cache_clear()
    a = set_caption(*args)
    b = set_caption(args[0], list(args[1]), *args[2:4], list(args[4]), list(args[5]), args[6])  # lists as a record has
    assert a is b and _set_caption.cache_info().hits == 1
    assert set_caption(*args[:6], "wipe") is not a
    units = break_units("one two three")
    units.append("spoiled")
    assert break_units("one two three") == ["one ", "two ", "three"] and _break_units.cache_info().hits >= 1


def test_a_file_digest_kept_per_process_follows_the_file_as_it_is_now(tmp_path):
    """kept_sha256 hashes a take once while it stays as it is; a file rewritten at the same path with the
    same size (an atomic write: a new inode) is hashed anew; a missing file still fails as file_sha256 does."""
    import pytest

    from generators.atomic import atomic_path
    from generators.media import _kept_sha256, file_sha256, kept_sha256

    take = tmp_path / "take.mp4"
    take.write_bytes(b"a" * 4096)
    _kept_sha256.cache_clear()
    first = kept_sha256(take)
    assert first == file_sha256(take) and kept_sha256(str(take)) == first
    assert _kept_sha256.cache_info().hits == 1
    st = take.stat()
    with atomic_path(take) as tmp:
        tmp.write_bytes(b"b" * 4096)
    os.utime(take, ns=(st.st_atime_ns, st.st_mtime_ns))  # even with the old modification time
    assert kept_sha256(take) == file_sha256(take) != first
    with pytest.raises(OSError):
        kept_sha256(tmp_path / "gone.mp4")
