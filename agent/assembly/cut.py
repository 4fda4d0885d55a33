"""Assembly: chosen takes, sounds and the plan in; one finished, synchronised cut per aspect ratio out.

Why not moviepy (DESIGN names it): its per-frame Python compositing measured 2.5-3.4x slower than
one ffmpeg filter graph for the same cut, past the issue's 2x budget. Instead frames stay yuv420p
buffers end to end: each take frame is decoded and scaled once by PyAV (swscale), captions and the
end card are drawn once with PIL and blended into a small region per frame in integer numpy,
crossfades are integer mixes, and the raw frames stream through a pipe into the imageio-ffmpeg
binary (libx264), which encodes in parallel with the compositing, one chunk per segment (shot or end
card) that is kept and reused while what it is made of stays the same (agent.assembly.chunks); the
chunks and the sound track are joined with every stream copied. Audio is mixed in numpy
(agent.assembly.soundtrack) so every sample's position is exact. Timing comes from agent.plan.frame_counts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

import agent
from agent.assembly import formats
from agent.assembly.caption_track import CaptionFormat, attach, caption_cues, missing_glyph_warning
from agent.assembly.captions import end_card_image, to_yuv420, write_srt
from agent.assembly.chunks import ChunkRef, chunk_refs, join, make_chunks
from agent.assembly.encoder import DEFAULT_CRF, Crf, X264Preset
from agent.assembly.formats import RATIOS
from agent.assembly.soundtrack import sound_track
from agent.assembly.stills import contact_sheet, save_png, save_poster
from agent.assembly.timeline import Segment, build_segments
from agent.faults import fault_point
from agent.plan import Plan, frame_counts
from generators.atomic import atomic_path, temp_dir
from generators.errors import BriefcutError
from generators.media import X264_PARAMS


class AssemblyError(BriefcutError):
    """A cut that cannot be assembled: inputs that disagree with the plan, or the encoder failing."""


class CutSpec(BaseModel):
    """Everything one cut is made of: the plan, its format, the chosen media and the brand."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    plan: Plan
    aspect_ratio: str
    width: int
    height: int
    fps: int
    shot_videos: list[Path]
    shot_native: list[bool]
    shot_effects: list[Path | None]
    shot_voice: list[Path | None]
    # Per shot: the take already shows its caption (the motion backend sets it as animated type), so
    # it is not burned in again; the .srt carries it all the same. Empty: no take does.
    shot_draws_caption: list[bool] = Field(default_factory=list)
    # Per shot, where a take that draws its caption put it (fractions of the take's frame: x0, y0, x1, y1,
    # from the take's metadata), for the ad checks to find it; None where unknown. Empty: no take says.
    shot_caption_boxes: list[list[float] | None] = Field(default_factory=list)
    # Per shot, the type layer its take records (generators.type_layer: the motion backend's kinetic type,
    # designed with the take but drawn here with the plan's caption, over the take's frames); None where
    # the take has none, and the caption is burned in as a plain overlay. Empty: no take has one.
    shot_type_layers: list[dict | None] = Field(default_factory=list)
    music: Path | None
    brand_name: str
    palette: list[str]
    logo: Path | None = None
    font: Path | None = None
    loudness_lufs: float = -14.0
    # The language of the copy (picks regional CJK glyphs and the disclosure's wording), lines of text
    # every cut must show (on the end card and in the .srt), and the AI disclosure on the end card.
    language: str | None = None
    screen_notes: list[str] = Field(default_factory=list)
    disclosure: str = "AI-generated"
    provenance: dict = Field(default_factory=dict)
    # The key the invisible watermark carries in every frame (agent.provenance.watermark); None: no mark.
    watermark: str | None = None
    shot_scores: list[dict] = Field(default_factory=list)
    # Encoder settings (agent.assembly.encoder: a run's come from its profile, brief or CLI).
    crf: Crf = DEFAULT_CRF
    preset: X264Preset = "veryfast"


class CutResult(BaseModel):
    """The files of a finished cut, its length, and anything a person should know about it."""

    path: Path
    srt: Path
    poster: Path
    contact_sheet: Path
    duration_s: float
    frames: int
    warnings: list[dict] = Field(default_factory=list)
    loudness: dict = Field(default_factory=dict)  # measured on the delivered file (agent.assembly.loudness)
    # The kept chunks the cut's picture was joined from (not when they lived in a scratch folder); the ad
    # checks read their evidence chunk by chunk (agent.chunk_evidence). Never persisted: it names files
    # of this workspace's cut-cache/parts/, which a cut restored from the cut cache need not have.
    chunks: list[ChunkRef] = Field(default_factory=list, exclude=True)
    # Shot frames composed now that the ad checks judge a caption set in the picture against (yuv420p, by
    # ShotSource.frame_name), so they need not decode the take again. Never persisted, like `chunks`.
    composed: dict[str, Any] = Field(default_factory=dict, exclude=True)


def dimensions(aspect_ratio: str, resolution: int) -> tuple[int, int]:
    """(width, height) with the short side `resolution`, both even: 16:9 @720 -> (1280, 720)."""
    if aspect_ratio not in RATIOS:
        raise AssemblyError(f"unknown aspect ratio '{aspect_ratio}'; known: {', '.join(RATIOS)}")
    return formats.dimensions(aspect_ratio, resolution)  # one rule for the whole spine


def assemble_cut(spec: CutSpec, out_base: Path, progress: Callable[[float], None] | None = None,
                 parts: Path | None = None) -> CutResult:
    """Render the cut to <base>.mp4 with <base>.srt, <base>.poster.png and <base>.contact.png.

    `parts`: a folder where the cut's encoded pieces (a chunk per segment, the sound track) are kept under
    keys of what they are made of, so a later cut that shares them copies them (agent.assembly.chunks);
    None: a scratch folder, nothing kept."""
    report = progress or (lambda _: None)
    # 1. check inputs and lay out the frame-exact timeline
    _check(spec)
    plan, fps = spec.plan, spec.fps
    segments = cut_segments(spec)
    total = segments[-1].end
    base = Path(out_base).with_suffix("")
    paths = cut_paths(base)
    base.parent.mkdir(parents=True, exist_ok=True)
    with temp_dir(base.parent, "briefcut-cut") as tmp, ThreadPoolExecutor(1, "briefcut-sound") as pool:
        folder = Path(parts) if parts is not None else tmp
        # 2. the sound: mixed in numpy sample-exact against the frames and encoded, in a thread while the
        #    picture is made (its numpy and its ffmpeg use the core the frame pump leaves idle)
        sound = pool.submit(sound_track, spec, segments, folder, tmp)
        # 3. lay out captions (shrunk, paged, timed) and draw them and the end card once
        fmt = CaptionFormat(spec.aspect_ratio, spec.width, spec.height, fps, spec.font, spec.language)
        cues, notes = caption_cues([s.caption for s in plan.shots], [(s.start, s.end) for s in segments[:-1]], fmt)
        attach(segments[:-1], cues)
        in_picture = []
        for seg, drawn, layer in zip(segments[:-1], _padded(spec.shot_draws_caption, len(plan.shots)),
                                     _padded(spec.shot_type_layers, len(plan.shots)), strict=True):  # fmt: skip
            if drawn or layer is not None:  # the take shows it, or its type layer sets it (over the take's frames)
                seg.captions = []
                in_picture.append(seg.index)
        missing: set[str] = set()
        end_card = to_yuv420(end_card_rgb(spec, missing))
        # 4. a chunk per segment (made, or reused where its key is kept), joined with the sound without
        #    re-encoding, under a name of this process's own renamed over the cut only when it is whole; the
        #    frames the ad checks judge a caption set in the picture against are handed over as composed
        handed = {j: {c.middle - segments[j].start for c in cues if c.shot == j} for j in in_picture}
        chunks, kept, typeless, composed = make_chunks(spec, segments, end_card, folder,
                                                       lambda f: report(0.95 * f / total), handed)  # fmt: skip
        audio, loud, warnings = sound.result()
        warnings += notes + ([missing_glyph_warning(missing, "end card")] if missing else [])
        warnings += [missing_glyph_warning(typeless, "captions set as kinetic type")] if typeless else []
        with atomic_path(paths["mp4"]) as part:
            join(chunks, audio, part, tmp, metadata_args(spec))
            fault_point("before_cut_rename")
    # 5. subtitles (the caption cues, then the on-screen lines over the end card) and stills
    end = segments[-1]
    screen = [(end.start, end.end, "\n".join(spec.screen_notes))] if spec.screen_notes else []
    _write_srt_atomic(paths["srt"], [(c.start, c.end, c.text) for c in cues] + screen, fps)
    stills = _still_frames(spec, segments)
    save_poster(paths["poster"], kept[stills["poster"]], parts)
    labels = [f"{s.index + 1}. {s.role}  {seg.start / fps:.2f}-{seg.end / fps:.2f}s" for s, seg in zip(plan.shots, segments[:-1], strict=True)]
    title = f"{spec.brand_name}  {plan.key}  {spec.aspect_ratio}  {spec.width}x{spec.height}@{fps}"
    save_png(paths["contact"], contact_sheet([kept[i] for i in stills["shots"]], labels, spec.shot_scores, title))
    report(1.0)
    return CutResult(path=paths["mp4"], srt=paths["srt"], poster=paths["poster"], contact_sheet=paths["contact"],
                     duration_s=total / fps, frames=total, warnings=warnings, loudness=loud,
                     chunks=chunk_refs(chunks, segments) if parts is not None else [], composed=composed)


def cut_segments(spec: CutSpec) -> list[Segment]:
    """The cut's frame-exact timeline: its shots, then the end card."""
    plan = spec.plan
    counts = frame_counts([s.seconds for s in plan.shots] + [plan.end_card.seconds], spec.fps)
    return build_segments(counts, [s.transition for s in plan.shots] + ["cut"], spec.fps)


def end_card_rgb(spec: CutSpec, missing: set[str] | None = None) -> np.ndarray:
    """The cut's end card (RGB, read-only), as assembly draws it and the ad checks compare against;
    `missing` gathers the characters no installed font covers."""
    card = spec.plan.end_card
    return end_card_image(spec.brand_name, card.headline, card.call_to_action, spec.palette, spec.aspect_ratio,
                          spec.width, spec.height, spec.logo, spec.font, spec.language, spec.disclosure,
                          spec.screen_notes, missing)  # fmt: skip


def cut_paths(out_base: Path) -> dict[str, Path]:
    """The files of a cut at `out_base`: the MP4, its subtitles, poster and contact sheet."""
    base = Path(out_base).with_suffix("")
    return {"mp4": base.with_suffix(".mp4"), "srt": base.with_suffix(".srt"),
            "poster": base.with_name(base.name + ".poster.png"), "contact": base.with_name(base.name + ".contact.png")}


def _check(spec: CutSpec) -> None:
    n = len(spec.plan.shots)
    for name in ("shot_videos", "shot_native", "shot_effects", "shot_voice"):
        if len(getattr(spec, name)) != n:
            raise AssemblyError(f"{name} has {len(getattr(spec, name))} entries for {n} shots")
    dimensions(spec.aspect_ratio, 64)  # raises on an unknown ratio
    if spec.width % 2 or spec.height % 2:
        raise AssemblyError(f"cut size {spec.width}x{spec.height} must be even for yuv420p")
    files = list(spec.shot_videos) + [p for p in [*spec.shot_effects, *spec.shot_voice, spec.music] if p]
    missing = [str(p) for p in files if not Path(p).is_file()]
    if missing:
        raise AssemblyError(f"missing media for the cut: {', '.join(missing)}")


def _padded(values: list, n: int) -> list:
    """A per-shot list (empty or short: nothing said for the rest) as n values."""
    return (list(values) + [None] * n)[:n]


def _still_frames(spec: CutSpec, segments: list[Segment]) -> dict:
    """Which frames to keep: the middle of each shot; the poster is the product shot's (else the first)."""
    mids = [seg.start + seg.frames // 2 for seg in segments if seg.kind == "shot"]
    roles = [s.role for s in spec.plan.shots]
    poster = mids[roles.index("product")] if "product" in roles else mids[0]
    return {"shots": mids, "poster": poster}


# Encoding -------------------------------------------------------------------------------------


def provenance_tags(spec: CutSpec) -> dict[str, str]:
    """MP4 tags: `comment` holds the provenance JSON, `description` the plain AI-generated notice."""
    record = {**spec.provenance, "tool": "briefcut", "version": agent.__version__, "label": "AI-generated",
              "aspect_ratio": spec.aspect_ratio, "plan": spec.plan.key, "encoder": encoder_record(spec)}
    return {"comment": json.dumps(record, sort_keys=True, default=str),
            "description": f"AI-generated with briefcut {agent.__version__}",
            "title": f"{spec.brand_name} {spec.plan.key} {spec.aspect_ratio}"}


def encoder_record(spec: CutSpec) -> dict[str, str | int]:
    """How the cut's picture was encoded, for its provenance."""
    return {"codec": "libx264", "preset": spec.preset, "crf": spec.crf, "x264_params": X264_PARAMS}


def metadata_args(spec: CutSpec) -> list[str]:
    """ffmpeg's -metadata arguments for the cut's tags (`provenance_tags`)."""
    return [arg for key, value in provenance_tags(spec).items() for arg in ("-metadata", f"{key}={value}")]


def _write_srt_atomic(path: Path, cues: list[tuple[int, int, str]], fps: int) -> None:
    with atomic_path(path) as tmp:
        write_srt(tmp, cues, fps)


# Probing --------------------------------------------------------------------------------------


def probe(path: Path) -> dict:
    """Facts about a media file via PyAV: durations, rate, size, frame count, codecs, pix_fmt, tags."""
    import av

    with av.open(str(path)) as c:
        video = c.streams.video[0] if c.streams.video else None
        audio = c.streams.audio[0] if c.streams.audio else None
        info: dict = {"duration_s": (c.duration or 0) / 1e6, "metadata": dict(c.metadata),
                      "has_video": video is not None, "has_audio": audio is not None, "codecs": {}}
        if video is not None:
            info.update(fps=float(video.average_rate), width=video.codec_context.width,
                        height=video.codec_context.height, video_frames=video.frames,
                        video_duration_s=float(video.duration * video.time_base) if video.duration else None,
                        pix_fmt=video.codec_context.pix_fmt)
            info["codecs"]["video"] = video.codec_context.name
        if audio is not None:
            info.update(audio_duration_s=float(audio.duration * audio.time_base) if audio.duration else None,
                        sample_rate=audio.codec_context.sample_rate, channels=audio.codec_context.channels)
            info["codecs"]["audio"] = audio.codec_context.name
        return info
