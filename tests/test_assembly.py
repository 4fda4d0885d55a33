"""Assembly of a finished cut: timing, sync, loudness, captions, formats, subtitles, provenance.

Real components throughout: PyAV and the ffmpeg binary encode, the checks decode the MP4 again.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from fixtures.media import END_SECONDS, FPS, SHOT_COLOURS, SHOT_SECONDS, decode_audio, decode_video, tiny_plan

from agent.assembly.audio_mix import SAMPLE_RATE, fit_voice
from agent.assembly.cut import AssemblyError, CutSpec, assemble_cut, dimensions, probe
from agent.plan import frame_counts

COUNTS = frame_counts(SHOT_SECONDS + [END_SECONDS], FPS)
BOUNDS = list(np.cumsum([0] + COUNTS))


def spec_for(media: dict, aspect: str, *, music: bool = True, voice: list | None = None, captions: bool = True,
             effects: bool = True, native: bool | None = None) -> CutSpec:
    width, height = dimensions(aspect, 90)
    return CutSpec(
        plan=tiny_plan(captions=captions), aspect_ratio=aspect, width=width, height=height, fps=FPS,
        shot_videos=media["takes"], shot_native=[aspect == "16:9" if native is None else native] * 3,
        shot_effects=media["clicks"] if effects else [None] * 3, shot_voice=voice or [None] * 3,
        music=media["music"] if music else None, brand_name="Fizzo", palette=["#0B3C5D", "#F2C14E"],
        provenance={"models": {"video": "test"}, "seeds": [1, 2, 3], "brief_hash": "cafe1234"},
        shot_scores=[{"clip": 0.3, "flicker": 0.01}] * 3,
    )  # fmt: skip


@pytest.fixture(scope="module")
def cut169(tiny_media: dict, tmp_path_factory: pytest.TempPathFactory):
    ticks: list[float] = []
    spec = spec_for(tiny_media, "16:9", voice=[tiny_media["voice_short"], None, None])
    result = assemble_cut(spec, tmp_path_factory.mktemp("cut") / "test_v0_16x9", ticks.append)
    return spec, result, ticks


@pytest.fixture(scope="module")
def other_formats(tiny_media: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("formats")
    return {a: assemble_cut(spec_for(tiny_media, a, music=False, effects=False), out / a.replace(":", "x"))
            for a in ("9:16", "1:1")}


def test_dimensions_per_format():
    assert dimensions("16:9", 720) == (1280, 720)
    assert dimensions("9:16", 720) == (720, 1280)
    assert dimensions("1:1", 720) == (720, 720)
    assert dimensions("4:5", 720) == (720, 900)
    assert all(v % 2 == 0 for a in ("16:9", "9:16", "4:5") for v in dimensions(a, 91))
    with pytest.raises(AssemblyError):
        dimensions("2:1", 720)


def test_cut_streams_length_and_format(cut169):
    spec, result, _ = cut169
    info = probe(result.path)
    assert result.frames == sum(COUNTS) == info["video_frames"] == len(decode_video(result.path))
    assert (info["width"], info["height"], info["fps"]) == (160, 90, 24.0)
    assert info["codecs"] == {"video": "h264", "audio": "aac"} and info["pix_fmt"] == "yuv420p"
    assert info["has_audio"] and info["sample_rate"] == 48000
    audio, rate = decode_audio(result.path)
    assert abs(len(audio) / rate - result.frames / FPS) <= 1 / FPS
    assert abs(info["audio_duration_s"] - info["video_duration_s"]) <= 1 / FPS
    assert not list(result.path.parent.glob("*.part*"))
    with open(result.path, "rb") as f:  # +faststart: the index (moov) comes before the media (mdat)
        head = f.read(4096)
    assert head.find(b"moov") != -1 and (head.find(b"mdat") == -1 or head.find(b"moov") < head.find(b"mdat"))


def test_loudness_and_peaks(cut169):
    import pyloudnorm
    from scipy.signal import resample_poly

    spec, result, _ = cut169
    audio, rate = decode_audio(result.path)
    lufs = pyloudnorm.Meter(rate).integrated_loudness(audio.astype(np.float64))
    assert abs(lufs - spec.loudness_lufs) <= 1.0
    assert 20 * np.log10(np.abs(audio).max()) <= -1.0
    assert 20 * np.log10(np.abs(resample_poly(audio, 4, 1, axis=0)).max()) <= -1.0


def test_shot_effects_start_on_their_first_frame(tiny_media, tmp_path):
    result = assemble_cut(spec_for(tiny_media, "16:9", music=False), tmp_path / "clicks")
    audio, rate = decode_audio(result.path)
    env = np.abs(audio).max(axis=1)
    onsets = np.flatnonzero((env[1:] > 0.1 * env.max()) & (env[:-1] <= 0.1 * env.max())) + 1
    # Keep the first crossing of each click (a click spans ~3 ms).
    onsets = [o for i, o in enumerate(onsets) if i == 0 or o - onsets[i - 1] > 0.05 * rate]
    expected = [b / FPS for b in BOUNDS[:3]]
    assert len(onsets) == 3
    assert np.allclose(np.array(onsets) / rate, expected, atol=1 / FPS)


def test_captions_drawn_in_the_safe_box(cut169, tiny_media):
    _, result, _ = cut169
    frames = decode_video(result.path)
    take = decode_video(tiny_media["takes"][0])[5].astype(int)
    diff = np.abs(frames[5].astype(int) - take).sum(axis=2)
    changed = np.argwhere(diff > 60)
    assert len(changed) > 100  # a caption is there
    ys, xs = changed[:, 0], changed[:, 1]
    assert ys.min() >= 0.05 * 90 - 1 and ys.max() <= 0.95 * 90 and xs.min() >= 0.05 * 160 - 1 and xs.max() <= 0.95 * 160
    assert ys.mean() > 90 / 2  # the caption sits in the lower part of the frame


def test_cuts_and_crossfade_keep_planned_boundaries(cut169):
    _, result, _ = cut169
    frames = decode_video(result.path).astype(int)
    corner = frames[:, 2:10, 150:158].mean(axis=(1, 2))  # a patch no caption or subject covers

    def near(frame: int, colour: tuple) -> bool:
        return np.abs(corner[frame] - colour).max() < 25

    b1, b2 = BOUNDS[1], BOUNDS[2]
    assert near(b1 - 1, SHOT_COLOURS[0]) and near(b1, SHOT_COLOURS[1])  # hard cut into shot 1
    assert not near(b2 - 1, SHOT_COLOURS[1]) and not near(b2, SHOT_COLOURS[2])  # crossfade into shot 2
    mid = (np.array(SHOT_COLOURS[1]) + SHOT_COLOURS[2]) / 2
    assert np.abs(corner[b2] - mid).max() < 40
    assert near(b2 + 8, SHOT_COLOURS[2]) and near(b1 + 8, SHOT_COLOURS[1])


def test_end_card_on_palette(cut169):
    _, result, _ = cut169
    last = decode_video(result.path)[-1].astype(int)
    top = last[2:8, 2:20].reshape(-1, 3).mean(axis=0)
    assert np.abs(top - (0x0B, 0x3C, 0x5D)).max() < 20
    assert (last.sum(axis=2) > 600).sum() > 50  # light text (brand, headline) drawn on the card


def test_srt_timings_equal_planned_frames(cut169):
    spec, result, _ = cut169
    stamps = re.findall(r"(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)", result.srt.read_text())
    to_s = lambda h, m, s, ms: int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000  # noqa: E731
    got = [(to_s(*t[:4]), to_s(*t[4:])) for t in stamps]
    want = [(BOUNDS[i] / FPS, BOUNDS[i + 1] / FPS) for i in range(3)]
    assert np.allclose(got, want, atol=0.0005)
    assert "Zero sugar, all sparkle" in result.srt.read_text()


def test_provenance_tags_in_mp4(cut169):
    _, result, _ = cut169
    tags = probe(result.path)["metadata"]
    record = json.loads(tags["comment"])
    assert record["tool"] == "briefcut" and record["version"] and record["brief_hash"] == "cafe1234"
    assert record["seeds"] == [1, 2, 3] and record["models"] == {"video": "test"}
    assert "AI-generated" in tags["description"]


def test_poster_contact_sheet_and_progress(cut169):
    from PIL import Image

    _, result, ticks = cut169
    poster, sheet = Image.open(result.poster), Image.open(result.contact_sheet)
    assert poster.size == (160, 90)
    assert sheet.width >= 3 * 160 and sheet.height > 90
    assert ticks and ticks[-1] == 1.0 and ticks == sorted(ticks)


def test_vertical_and_square_reframe_keeps_the_subject(other_formats):
    for aspect, size in (("9:16", (90, 160)), ("1:1", (90, 90))):
        result = other_formats[aspect]
        info = probe(result.path)
        assert (info["width"], info["height"]) == size and info["video_frames"] == sum(COUNTS)
        frame = decode_video(result.path)[BOUNDS[1] + 2]
        white = (frame.min(axis=2) > 220).sum()
        assert white > 0.5 * (90 // 4) ** 2, f"{aspect}: subject cropped out"
        # Reframed, not letterboxed: the shot colour reaches the top and bottom rows.
        assert np.abs(frame[1, :, :].mean(axis=0) - SHOT_COLOURS[1]).max() < 30


def test_voice_overflow_is_flagged_and_contained(tiny_media, tmp_path):
    # Shot 2 has a line of its own: shot 1's long line may not run into it.
    voice = [None, tiny_media["voice_long"], tiny_media["voice_short"]]
    result = assemble_cut(spec_for(tiny_media, "16:9", music=False, effects=False, voice=voice), tmp_path / "vo")
    flags = [w for w in result.warnings if w["kind"] == "voice_overflow"]
    assert [w["shot"] for w in flags] == [1]
    audio, rate = decode_audio(result.path)
    gap = audio[int((BOUNDS[2] / FPS + 0.01) * rate) : int((BOUNDS[2] / FPS + 0.07) * rate)]
    assert np.abs(gap).max() < 0.01  # nothing of shot 1's line spills past its shot: shot 2's lead is quiet


def test_a_voice_line_runs_on_under_shots_without_one(tiny_media, tmp_path):
    voice = [None, tiny_media["voice_long"], None]
    result = assemble_cut(spec_for(tiny_media, "16:9", music=False, effects=False, voice=voice), tmp_path / "vo")
    audio, rate = decode_audio(result.path)
    assert np.abs(audio[int((BOUNDS[2] / FPS + 0.2) * rate) : int((BOUNDS[3] / FPS - 0.3) * rate)]).max() > 0.05
    assert np.abs(audio[int((BOUNDS[3] / FPS + 0.05) * rate) :]).max() < 0.01  # never into the end card


def test_fit_voice_speeds_up_then_trims():
    room = SAMPLE_RATE  # one second
    t = np.arange(int(1.1 * SAMPLE_RATE)) / SAMPLE_RATE
    line = (0.5 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)[:, None]
    fitted, notes = fit_voice(line, room, 0, FPS)
    assert len(fitted) == room and notes[0]["kind"] == "voice_sped_up"
    assert np.abs(fitted[: room // 2]).max() > 0.3  # sped up, not cut: the sound is still there
    fitted, notes = fit_voice(np.concatenate([line, line]), room, 4, FPS)
    assert len(fitted) == room and notes == [{**notes[0], "shot": 4, "kind": "voice_overflow"}]
    assert fit_voice(line[:room], room, 0, FPS)[1] == []


def test_missing_media_is_a_clear_error(tiny_media, tmp_path):
    spec = spec_for(tiny_media, "16:9")
    spec.shot_videos = [tmp_path / "nope.mp4", *spec.shot_videos[1:]]
    with pytest.raises(AssemblyError, match="nope.mp4"):
        assemble_cut(spec, tmp_path / "x")


def test_cut_cache_keeps_a_cut_and_restores_it_frame_exact_with_new_tags(cut169, tiny_media, tmp_path):
    from agent.assembly.cut_cache import cut_key, keep, restore

    spec, result, _ = cut169
    run2 = spec.model_copy(update={"provenance": {**spec.provenance, "video": [{"shot": 0, "take": "run2-take"}]}})
    first = spec.model_copy(update={"provenance": {**spec.provenance, "video": [{"shot": 0, "take": "run1-take"}]}})
    # 1. the key: the same cut made in another run (other take ids) is the same key; its text or files are not
    assert cut_key(run2) == cut_key(first)
    shots = [s.model_copy(update={"caption": "Other words"}) if s.index == 0 else s for s in spec.plan.shots]
    assert cut_key(spec.model_copy(update={"plan": spec.plan.model_copy(update={"shots": shots})})) != cut_key(spec)
    swapped = list(reversed(tiny_media["takes"]))
    assert cut_key(spec.model_copy(update={"shot_videos": swapped})) != cut_key(spec)
    assert cut_key(spec.model_copy(update={"crf": 23})) != cut_key(spec)
    # 2. nothing kept yet: no entry; kept, the copy has the same frames and sound and this run's tags
    entry = tmp_path / "cuts" / cut_key(spec)
    assert restore(run2, entry, tmp_path / "run2" / "cut") is None
    keep(result, entry)
    again = restore(run2, entry, tmp_path / "run2" / "cut")
    assert again is not None and again.path == tmp_path / "run2" / "cut.mp4"
    assert np.array_equal(decode_video(again.path), decode_video(result.path))
    (samples, rate), (samples0, rate0) = decode_audio(again.path), decode_audio(result.path)
    assert rate == rate0 and np.array_equal(samples, samples0)
    assert json.loads(probe(again.path)["metadata"]["comment"])["video"] == [{"shot": 0, "take": "run2-take"}]
    assert again.srt.read_bytes() == result.srt.read_bytes() and again.poster.exists() and again.contact_sheet.exists()
    assert (again.duration_s, again.frames, again.loudness, again.warnings) == \
        (result.duration_s, result.frames, result.loudness, result.warnings)  # fmt: skip
    # 3. the ad checks (they decode the cut) are kept too: read back, they need no cut file at all
    from agent.assembly.cut_cache import kept_ad_checks

    checks = kept_ad_checks(run2, again, [None] * 3, entry)
    again.path.unlink()
    assert kept_ad_checks(run2, again, [None] * 3, entry) == checks and len(checks) >= 5
    # 4. an entry cut short (no result.json) is not read
    (entry / "result.json").unlink()
    assert restore(run2, entry, tmp_path / "run3" / "cut") is None
