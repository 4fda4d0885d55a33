"""Captions in any language: spread over the shots, shrunk then paged (never clipped), glyphs warned."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import yaml
from fixtures.media import FPS, decode_video
from test_assembly import BOUNDS, spec_for
from test_run import briefcut, last_json

from agent.assembly.caption_track import CaptionFormat, caption_cues, share, spans
from agent.assembly.captions import CAPTION_LINES, layout_caption
from agent.assembly.cut import assemble_cut
from agent.planners.template import caption_lines

JA = "24時間冷たいまま。どんなランにも軽い。金色のキャップが目印です。今すぐ手に入れよう🎉"


def test_a_japanese_message_spreads_one_sentence_per_shot() -> None:
    assert caption_lines(JA, 5, "春の新作") == ["24時間冷たいまま。", "どんなランにも軽い。", "金色のキャップが目印です。",
                                               "今すぐ手に入れよう🎉", "春の新作"]
    # fewer sentences than shots: each spans neighbouring shots, none is left bare, nothing repeats on screen
    two = caption_lines("Cold for 24 hours. Light enough for every run.", 5, "Shop")
    assert two == ["Cold for 24 hours."] * 2 + ["Light enough for every run."] * 2 + ["Shop"]
    assert spans(two, [(0, 10), (10, 20), (20, 30), (30, 40), (40, 50)]) == [
        (0, 20, "Cold for 24 hours.", 0), (20, 40, "Light enough for every run.", 2), (40, 50, "Shop", 4)]


def test_long_captions_shrink_to_the_floor_then_page_at_sentence_ends() -> None:
    short = layout_caption("Cold for 24 hours.", "9:16", 360, 640)
    assert len(short.pages) == 1 and short.font.size == int(0.052 * 360)
    text = " ".join(["Cold for twenty-four hours, light on every run."] * 4)
    layout = layout_caption(text, "9:16", 360, 640)
    assert len(layout.pages) > 1 and all(len(p) <= CAPTION_LINES for p in layout.pages)
    assert layout.font.size == int(0.036 * 360)  # shrunk to the floor first
    assert all(p[-1].endswith(".") for p in layout.pages)  # pages end where sentences end
    assert share(0, 30, [10, 20]) == [(0, 10), (10, 30)]


def test_a_caption_too_long_for_its_shot_is_cut_with_an_ellipsis_and_a_warning() -> None:
    fmt = CaptionFormat("16:9", 160, 90, FPS)
    cues, warnings = caption_cues(["word " * 80], [(0, 24)], fmt)  # one second holds one page
    assert len(cues) == 1 and cues[0].text.endswith("…")
    assert [w["kind"] for w in warnings] == ["caption_overflow"] and "shorten it" in warnings[0]["detail"]


def test_paged_captions_share_their_shot_in_the_cut_and_the_srt(tiny_media: dict, tmp_path: Path) -> None:
    spec = spec_for(tiny_media, "16:9", music=False, effects=False)
    last = spec.plan.shots[2]
    spec.plan.shots[2] = last.model_copy(update={"seconds": 2.4, "caption": "Grab one today. Zero sugar, all day. Fresh every single morning. Sparkle more, worry less. Made to last for years."})
    result = assemble_cut(spec, tmp_path / "paged")
    srt = result.srt.read_text(encoding="utf-8")
    stamps = re.findall(r"(\d\d:\d\d:\d\d,\d\d\d) --> (\d\d:\d\d:\d\d,\d\d\d)", srt)
    assert len(stamps) == 4 and stamps[2][0] == "00:00:01,792" and stamps[3][1] == "00:00:04,208"
    flat = " ".join(srt.split())
    assert "Grab one today. Zero sugar, all day. Fresh every single morning." in flat
    start, end = BOUNDS[2], BOUNDS[2] + round(2.4 * FPS)
    frames = decode_video(result.path)
    cap = lambda f: frames[f, 55:86, 10:150].astype(int)  # noqa: E731
    assert np.abs(cap(start + 3) - cap(end - 3)).sum() > 500  # the second page replaces the first
    assert not [w for w in result.warnings if w["kind"] in ("caption_overflow", "missing_glyph")]


def test_a_japanese_brief_with_emoji_end_to_end(tmp_path: Path) -> None:
    data = {"brand": {"name": "ルーメン", "palette": ["#0B1F3A", "#F2C14E"]}, "product": {"name": "ルーメン ボトル"},
            "message": JA + "\U000f0001", "call_to_action": "春の新作をチェック",
            "segments": [{"id": "runners", "language": "ja"}],
            "formats": {"aspect_ratios": ["9:16"], "duration_s": 15}, "must_avoid": ["プラスチック"]}
    path = tmp_path / "ja.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    proc = briefcut("run", str(path), "--resolution", "144", "--json", "--out", str(tmp_path / "out"),
                    workdir=tmp_path / "ws")
    assert proc.returncode == 0, proc.stderr
    cut = Path(last_json(proc.stdout)["cuts"][0]["path"])
    srt = cut.with_suffix(".srt").read_text(encoding="utf-8")
    texts = [block.split("\n", 2)[2].replace("\n", "") for block in srt.strip().split("\n\n")]
    assert texts[0] == "Runnersのために。"  # the hook speaks to the segment (named by its id: it has no description)
    # the message's sentences follow whole, in order (two may share a shot's caption: the hook took a shot)
    sentences = ["24時間冷たいまま。", "どんなランにも軽い。", "金色のキャップが目印です。"]
    assert "".join(texts[1:]).startswith("".join(sentences))
    assert all(any(t.startswith(s) or t.endswith(s) or t == s for s in sentences) for t in texts[1:3])
    assert texts[-1] == "春の新作をチェック"
    card = json.loads(cut.with_suffix(".scorecard.json").read_text())
    missing = [w for w in card["cut"]["warnings"] if w["kind"] == "missing_glyph"]
    # the one character no font has, no others: said for the captions, and for the picture that sets it too
    assert missing and all("U+F0001" in w["detail"] and "U+" not in w["detail"].replace("U+F0001", "") for w in missing)
    assert "warning:" in proc.stderr and "U+F0001" in proc.stderr
    assert card["compliance"]["status"] == "pass"
    assert card["provenance"] and card["cut"]["loudness"]["in_spec"]
