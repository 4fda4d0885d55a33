"""A cut made of one encoded chunk per piece (shot bodies, crossfades, the end card): joined frame-exact, and
an edit re-encodes only what it changed.

Real components: the ffmpeg binary encodes and joins, PyAV decodes the cut and the chunks again.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from fixtures.media import FPS, decode_audio, decode_video, make_take
from test_assembly import BOUNDS, COUNTS, spec_for

from agent.assembly.chunks import _quoted, pieces
from agent.assembly.cut import CutSpec, assemble_cut, cut_segments

TOTAL = sum(COUNTS)


def with_caption(spec: CutSpec, shot: int, text: str) -> CutSpec:
    shots = [s.model_copy(update={"caption": text}) if s.index == shot else s for s in spec.plan.shots]
    return spec.model_copy(update={"plan": spec.plan.model_copy(update={"shots": shots})})


def made(parts: Path, before: set[str]) -> set[str]:
    """Chunk files in `parts` that were not there `before`."""
    return {p.name for p in parts.glob("*.ts")} - before


def packet_times(path: Path) -> list[int]:
    with av.open(str(path)) as c:
        return sorted(p.pts for p in c.demux(c.streams.video[0]) if p.pts is not None)


@pytest.fixture(scope="module")
def first(tiny_media: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    parts = tmp_path_factory.mktemp("parts")
    spec = spec_for(tiny_media, "16:9")
    result = assemble_cut(spec, parts.parent / "first" / "cut", parts=parts)
    return {"spec": spec, "result": result, "parts": parts, "frames": decode_video(result.path),
            "chunks": {p.name for p in parts.glob("*.ts")}}  # fmt: skip


def spans(spec: CutSpec) -> list[tuple[int, int]]:
    """The cut frames [start, end) of each chunk: a shot's fade in, body and fade out, the end card."""
    return [(p.seg.start + p.a, p.seg.start + p.b) for p in pieces(cut_segments(spec))]


def test_the_cut_is_its_chunks_joined_frame_exact_with_even_timestamps(first: dict) -> None:
    frames, parts = first["frames"], first["parts"]
    bounds = spans(first["spec"])
    assert len(bounds) == len(COUNTS) + 2  # shot 3 fades in from shot 2: two more pieces
    assert len(first["chunks"]) == len(bounds) and len(frames) == TOTAL
    chunk_frames = {name: decode_video(parts / name) for name in first["chunks"]}
    assert sorted(len(f) for f in chunk_frames.values()) == sorted(end - start for start, end in bounds)
    # every piece of the cut is, pixel for pixel, the chunk of that length decoded alone (stream copied)
    for start, end in bounds:
        assert any(len(f) == end - start and np.array_equal(f, frames[start:end]) for f in chunk_frames.values())
    steps = set(np.diff(packet_times(first["result"].path)).tolist())
    assert len(steps) == 1, f"uneven frame times {steps}"
    with av.open(str(first["result"].path)) as c:
        stream = c.streams.video[0]
        assert float(stream.duration * stream.time_base) == pytest.approx(TOTAL / FPS, abs=1e-6)


def test_a_caption_edit_encodes_one_chunk_and_keeps_every_other_frame_and_the_sound(first: dict) -> None:
    parts, old = first["parts"], first["frames"]
    spec = with_caption(first["spec"], 0, "Brand new words")
    sounds = set(parts.glob("sound-*"))
    result = assemble_cut(spec, parts.parent / "edit" / "cut", parts=parts)
    assert len(made(parts, first["chunks"])) == 1
    assert set(parts.glob("sound-*")) == sounds  # the sound did not change: its track was copied
    frames = decode_video(result.path)
    assert len(frames) == TOTAL
    shot0 = slice(BOUNDS[0], BOUNDS[1])
    assert np.array_equal(frames[BOUNDS[1]:], old[BOUNDS[1]:])  # untouched, byte for byte
    assert not np.array_equal(frames[shot0], old[shot0])  # the new caption is there
    (new_sound, rate), (old_sound, rate0) = decode_audio(result.path), decode_audio(first["result"].path)
    assert rate == rate0 and np.array_equal(new_sound, old_sound)
    assert result.loudness == first["result"].loudness


def test_a_new_take_remakes_its_chunks_and_the_fade_into_it(first: dict, tiny_media: dict) -> None:
    """Shot 3 crossfades in from shot 2: a new take for shot 3 makes its fade in and body and shot 2's fade
    out again; shot 1, shot 2's body and the end card stay."""
    parts = first["parts"]
    take = make_take(parts.parent / "other_take2.mp4", (200, 30, 30), COUNTS[2], 160, 90)
    spec = first["spec"].model_copy(update={"shot_videos": [*first["spec"].shot_videos[:2], take]})
    before = {p.name for p in parts.glob("*.ts")}
    result = assemble_cut(spec, parts.parent / "retake" / "cut", parts=parts)
    assert len(made(parts, before)) == 3
    frames = decode_video(result.path)
    fade = cut_segments(spec)[2].fade_in
    assert fade > 0 and np.array_equal(frames[: BOUNDS[2] - fade], first["frames"][: BOUNDS[2] - fade])
    assert np.array_equal(frames[BOUNDS[3]:], first["frames"][BOUNDS[3]:])


def test_a_changed_effect_makes_a_new_sound_track(first: dict, tiny_media: dict, tmp_path: Path) -> None:
    parts = first["parts"]
    sounds = set(parts.glob("sound-*.m4a"))
    spec = first["spec"].model_copy(update={"shot_effects": [None, *first["spec"].shot_effects[1:]]})
    assemble_cut(spec, tmp_path / "cut", parts=parts)
    assert len(set(parts.glob("sound-*.m4a")) - sounds) == 1


def test_a_chunk_left_without_its_still_by_a_crash_is_made_again(first: dict, tmp_path: Path) -> None:
    parts = first["parts"]
    spec = with_caption(first["spec"], 1, "Words for a crash")
    before = {p.name for p in parts.glob("*.ts")}
    assemble_cut(spec, tmp_path / "a" / "cut", parts=parts)
    (new,) = [name for name in made(parts, before) if (parts / name).with_suffix(".still.npy").is_file()]  # the body
    (parts / new).with_suffix(".still.npy").unlink()
    (parts / new).write_bytes(b"half a chunk")  # as a crash between the two writes would leave it
    result = assemble_cut(spec, tmp_path / "b" / "cut", parts=parts)
    assert len(decode_video(result.path)) == TOTAL and (parts / new).stat().st_size > 100


def test_an_ffconcat_line_survives_quotes_in_the_path() -> None:
    assert _quoted(Path("/tmp/it's here/a.ts")) == "/tmp/it'\\''s here/a.ts"
