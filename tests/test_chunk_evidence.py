"""The ad checks' evidence read chunk by chunk, kept beside each chunk: the same as reading the delivered MP4,
and an edit decodes only the chunks it made.

Real components: assembly encodes and joins real chunks (ffmpeg), PyAV decodes them and the MP4 again.
"""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest
from fixtures.media import moving_take
from PIL import Image
from test_ad_checks import FPS, LOGO, logo_take, plan_for

from agent import ad_evidence, chunk_evidence
from agent.ad_checks import ad_checks
from agent.ad_evidence import read_evidence
from agent.assembly.chunks import pieces
from agent.assembly.cut import CutResult, CutSpec, assemble_cut, cut_segments, dimensions

WINDOW_S = 5.0
SECONDS = [1.5, 1.5, 1.5, 2.0]


def spec_for(tmp: Path, seconds: list[float] = SECONDS) -> CutSpec:
    """Four shots with captions, the second entering by crossfade and setting its caption itself, a logo in
    the first, and a 2 s end card."""
    plan = plan_for(seconds)
    plan.shots[1].transition = "crossfade"
    width, height = dimensions("16:9", 180)
    tmp.mkdir(parents=True, exist_ok=True)
    takes = [logo_take(tmp / "take0.mp4", (200, 40, 40), round(seconds[0] * FPS), width, height)]
    takes += [moving_take(tmp / f"take{i}.mp4", 60 * i, round(s * FPS), width, height, FPS)
              for i, s in enumerate(seconds) if i]  # fmt: skip
    return CutSpec(plan=plan, aspect_ratio="16:9", width=width, height=height, fps=FPS, shot_videos=takes,
                   shot_native=[True] * 4, shot_effects=[None] * 4, shot_voice=[None] * 4, music=None,
                   shot_draws_caption=[False, True, False, False],
                   shot_caption_boxes=[None, [0.05, 0.25, 0.6, 0.75], None, None],
                   brand_name="Lumen", palette=["#0B1F3A", "#F2C14E"], logo=LOGO)  # fmt: skip


def with_caption(spec: CutSpec, shot: int, text: str) -> CutSpec:
    shots = [s.model_copy(update={"caption": text}) if s.index == shot else s for s in spec.plan.shots]
    return spec.model_copy(update={"plan": spec.plan.model_copy(update={"shots": shots})})


def whole(result: CutResult) -> CutResult:
    """The same cut with no chunk list: its evidence read from the MP4 (a cut restored from the cut cache)."""
    return result.model_copy(update={"chunks": []})


def kept(parts: Path) -> dict[str, tuple[int, int]]:
    """The kept evidence files: name -> (inode, modification time)."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in parts.glob("*.ev-*.npz")}


def planes(path: Path) -> list[bytes]:
    """Every decoded frame's yuv420p planes, as bytes."""
    with av.open(str(path)) as c:
        return [f.to_ndarray().tobytes() for f in c.decode(video=0)]


def assert_same_evidence(a: ad_evidence.CutEvidence, b: ad_evidence.CutEvidence) -> None:
    assert a.frame_count == b.frame_count and a.static_tail == b.static_tail
    assert a.head.dtype == b.head.dtype and np.array_equal(a.head, b.head)
    assert sorted(a.searched) == sorted(b.searched)
    assert all(np.array_equal(a.searched[i], b.searched[i]) for i in a.searched)
    assert [(c.cue.start, c.box, c.score, c.match) for c in a.cues] == [(c.cue.start, c.box, c.score, c.match) for c in b.cues]
    assert np.array_equal(a.last, b.last)


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("chunk-evidence")
    spec = spec_for(tmp)
    result = assemble_cut(spec, tmp / "first" / "cut", parts=tmp / "parts")
    return {"spec": spec, "result": result, "parts": tmp / "parts", "tmp": tmp}


def test_each_chunk_decoded_alone_is_bit_for_bit_its_frames_of_the_cut(first: dict) -> None:
    result = first["result"]
    cut = planes(result.path)
    # a chunk per piece: shot 1's body and fade out, shot 2's fade in and body, shots 3 and 4, the end card
    assert [c.frames for c in result.chunks] == [p.frames for p in pieces(cut_segments(first["spec"]))]
    assert len(result.chunks) == 7 and len(cut) == result.frames
    for chunk in result.chunks:
        assert planes(chunk.path) == cut[chunk.start : chunk.start + chunk.frames], chunk.key


def test_evidence_read_by_chunk_equals_the_whole_mp4_read_and_so_do_the_checks(first: dict) -> None:
    spec, result = first["spec"], first["result"]
    from_mp4 = read_evidence(spec, whole(result), WINDOW_S)
    made = read_evidence(spec, result, WINDOW_S)  # every chunk decoded, its answer kept
    assert len(kept(first["parts"])) == len(result.chunks)
    again = read_evidence(spec, result, WINDOW_S)  # every answer read back
    for ev in (made, again):
        assert_same_evidence(ev, from_mp4)
    # the reads cover every part the checks use: the pacing window past a crossfade, the page the take set
    assert len(from_mp4.head) > 5 * FPS and from_mp4.static_tail >= 2 * FPS - 1
    assert [c.match for c in from_mp4.cues].count(ad_evidence.TAKE_TYPE_MATCH) >= 1 and all(c.seen for c in from_mp4.cues)
    assert ad_checks(spec, result) == ad_checks(spec, whole(result))


def test_a_still_ending_longer_than_the_tail_kept_is_counted_chunk_by_chunk(first: dict, monkeypatch) -> None:
    spec, result = first["spec"], first["result"]
    monkeypatch.setattr(ad_evidence, "TAIL_SLACK_S", -1.5)  # keep 12 thumbnails of a 48-frame end card
    from_mp4 = read_evidence(spec, whole(result), WINDOW_S)
    assert from_mp4.static_tail >= 2 * FPS - 1
    before = kept(first["parts"])
    assert_same_evidence(read_evidence(spec, result, WINDOW_S), from_mp4)
    assert len(kept(first["parts"])) > len(before)  # the end card's count kept: its own file
    assert_same_evidence(read_evidence(spec, result, WINDOW_S), from_mp4)


def test_a_caption_edit_decodes_only_the_chunk_it_made(first: dict, monkeypatch) -> None:
    spec, result, parts = first["spec"], first["result"], first["parts"]
    read_evidence(spec, result, WINDOW_S)
    before = kept(parts)
    edited = with_caption(spec, 2, "Built for the long haul")
    second = assemble_cut(edited, first["tmp"] / "second" / "cut", parts=parts)
    new_keys = {c.key for c in second.chunks} - {c.key for c in result.chunks}
    assert len(new_keys) == 1
    decoded: list[Path] = []
    real = chunk_evidence.decode
    monkeypatch.setattr(chunk_evidence, "decode", lambda path, wanted: decoded.append(path) or real(path, wanted))
    assert_same_evidence(read_evidence(edited, second, WINDOW_S), read_evidence(edited, whole(second), WINDOW_S))
    assert {p.stem for p in decoded} == new_keys
    after = kept(parts)
    assert {name: after[name] for name in before} == before  # the shared chunks' answers were read, not rewritten
    assert {name.split(".ev-")[0] for name in set(after) - set(before)} == new_keys


def test_a_damaged_or_stale_answer_is_decoded_again_not_trusted(first: dict, monkeypatch) -> None:
    spec, result, parts = first["spec"], first["result"], first["parts"]
    from_mp4 = read_evidence(spec, whole(result), WINDOW_S)
    for file in parts.glob("*.ev-*.npz"):  # only this cut's answers, one per chunk
        file.unlink()
    read_evidence(spec, result, WINDOW_S)
    files = {c.key: next(parts.glob(f"{c.key}.ev-*.npz")) for c in result.chunks}
    assert len(kept(parts)) == len(files) == len(result.chunks)
    head, last, end = result.chunks[0], result.chunks[3], result.chunks[-1]
    files[head.key].write_bytes(files[head.key].read_bytes()[:200])  # cut short by a crash
    data = bytearray(files[end.key].read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # damaged inside a stored array
    files[end.key].write_bytes(bytes(data))
    os.utime(last.path, ns=(last.path.stat().st_atime_ns, last.path.stat().st_mtime_ns + 10**9))  # chunk changed
    decoded: list[str] = []
    real = chunk_evidence.decode
    monkeypatch.setattr(chunk_evidence, "decode", lambda path, wanted: decoded.append(path.stem) or real(path, wanted))
    assert_same_evidence(read_evidence(spec, result, WINDOW_S), from_mp4)
    assert sorted(decoded) == sorted([head.key, last.key, end.key])
    decoded.clear()
    assert_same_evidence(read_evidence(spec, result, WINDOW_S), from_mp4)
    assert decoded == []  # the answers made again were kept whole


def test_chunks_that_do_not_make_the_cut_fall_back_to_the_mp4(first: dict) -> None:
    spec, result = first["spec"], first["result"]
    gone = result.chunks[1].model_copy(update={"path": first["tmp"] / "gone.ts"})
    broken = result.model_copy(update={"chunks": [result.chunks[0], gone, *result.chunks[2:]]})
    assert chunk_evidence.read_chunks(broken.chunks, ad_evidence.Wanted(1, 1, set(), {})) is None
    assert_same_evidence(read_evidence(spec, broken, WINDOW_S), read_evidence(spec, whole(result), WINDOW_S))


def test_a_cut_kept_in_the_cut_cache_does_not_persist_its_chunk_list(first: dict) -> None:
    result = first["result"]
    assert result.chunks and "chunks" not in result.model_dump(mode="json")
    scratch = assemble_cut(first["spec"], first["tmp"] / "scratch" / "cut")  # chunks in a scratch folder: none
    assert scratch.chunks == []


def test_the_logo_search_scores_are_kept_with_their_chunk_and_a_damaged_file_is_searched_again(first: dict) -> None:
    spec, result, parts = first["spec"], first["result"], first["parts"]
    # a logo the frames do not show (noise), a name no caption says: every second of the first five is searched
    noise = first["tmp"] / "noise-logo.png"
    rgba = np.random.default_rng(5).integers(0, 256, (40, 120, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    Image.fromarray(rgba, "RGBA").save(noise)
    no_name = spec.model_copy(update={"brand_name": "Nordwind", "logo": noise})
    expected = ad_checks(no_name, whole(result))
    assert next(c for c in expected if c.name == "brand_in_first_5s").passed is False
    for file in parts.glob("*.logo-*.json"):
        file.unlink()
    assert ad_checks(no_name, result) == expected
    files = sorted(parts.glob("*.logo-*.json"))
    searched = range(0, round(WINDOW_S * FPS) + 1, FPS)  # a frame a second over the first five
    assert {f.name.split(".logo-")[0] for f in files} == {
        c.key for c in result.chunks if any(c.start <= i < c.start + c.frames for i in searched)}
    assert ad_checks(no_name, result) == expected and sorted(parts.glob("*.logo-*.json")) == files
    files[0].write_text('{"stamp": [1, 2], "scores": {"0": 0.99', encoding="utf-8")  # cut short
    assert ad_checks(no_name, result) == expected
    assert files[0].read_text(encoding="utf-8").endswith("}")  # searched again and kept whole


def test_peak_memory_of_reading_a_cut_by_chunk_is_flat_in_its_length(tmp_path: Path) -> None:
    import tracemalloc

    cuts = {}
    for name, seconds in (("short", 1.5), ("long", 4.5)):  # 8 s and 20 s
        spec = spec_for(tmp_path / name, [seconds] * 4)
        cuts[name] = (spec, assemble_cut(spec, tmp_path / name / "cut", parts=tmp_path / name / "parts"))
    read_evidence(*cuts["short"], WINDOW_S)  # lazy imports and first-call caches are not the cut's cost
    peaks = {}
    for name, (spec, result) in cuts.items():
        for way in ("decoded", "kept"):  # each chunk decoded alone (its answers just removed), then read back
            if way == "decoded":
                for file in result.chunks[0].path.parent.glob("*.ev-*.npz"):
                    file.unlink()
            tracemalloc.start()
            try:
                read_evidence(spec, result, WINDOW_S)
                peaks[name, way] = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
    for way in ("decoded", "kept"):
        assert peaks["long", way] < 1.3 * peaks["short", way], peaks


def test_two_readers_answering_the_same_chunks_at_once_both_get_the_evidence(first: dict) -> None:
    from concurrent.futures import ThreadPoolExecutor

    spec, result, parts = first["spec"], first["result"], first["parts"]
    from_mp4 = read_evidence(spec, whole(result), WINDOW_S)
    for file in parts.glob("*.ev-*.npz"):
        file.unlink()
    with ThreadPoolExecutor(2) as pool:  # each writes through a file of its own, renamed over the answer
        both = list(pool.map(lambda _: read_evidence(spec, result, WINDOW_S), range(2)))
    for ev in both:
        assert_same_evidence(ev, from_mp4)
    assert len(kept(parts)) == len(result.chunks) and not list(parts.glob(".*.part*"))
    assert_same_evidence(read_evidence(spec, result, WINDOW_S), from_mp4)
