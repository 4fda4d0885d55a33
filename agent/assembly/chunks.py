"""A cut's picture as one encoded chunk per segment (each shot, the end card), joined without re-encoding.

A shot is encoded as up to three chunks (pieces): its fade in, its body and its fade out, so only the
fades hold a neighbour's frames. A piece's frames depend only on what its key covers: its take (by
content, with the kinetic type drawn over it), the neighbour it crossfades with, its captions as drawn, the
end card as drawn, the size, rate, watermark and encoder settings. Each chunk is encoded alone (x264 starts it on a key frame) into an MPEG-TS file kept under its key; the cut's
video is the chunks joined by ffmpeg's concat demuxer with the streams copied, so every frame is the
chunk's frame and the timestamps run on evenly. An edit that changes one caption or the end card makes
new chunks for that shot's pieces and the next shot's fade in (where this take runs on under it); the shot
before fades out over this take's first frame alone, so its chunk is made again only where the type is
already on that frame (words carried on from the shot before); the others are reused byte for byte. The middle frame of every shot is kept beside its
chunk, for the poster and the contact sheet.

Chunks live in the folder the caller gives (the workspace's `cut-cache/parts/`), or in a scratch folder;
each file is written atomically and the frame file first, so a chunk without it (a crash) is made again.
"""

from __future__ import annotations

import hashlib
import json
import queue
import subprocess
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel

from agent.assembly.timeline import Segment, ShotSource, compose_segment
from generators.atomic import atomic_path, one_maker
from generators.errors import BriefcutError
from generators.media import X264_PARAMS, kept_sha256

if TYPE_CHECKING:
    from agent.assembly.cut import CutSpec

# Raise when what a chunk holds changes for the same key: older chunks are then not reused.
CHUNK_FORMAT = 4  # 4: the raw frames are tagged on input (primaries and transfer reach the bitstream)
RUN_ON_FORMAT = 1  # the same for a take's kept run-on frames (ChunkSource)
HANDED_BYTES = 32 << 20  # the composed frames a cut's assembly hands its checks hold at most this (ChunkSource)
# swscale's default RGB<->YUV matrix is BT.601: say so, so players decode the colours we encoded.
COLOUR_ARGS = ["-colorspace", "smpte170m", "-color_primaries", "smpte170m", "-color_trc", "smpte170m",
               "-color_range", "tv"]  # fmt: skip


class ChunkError(BriefcutError):
    """A chunk the encoder could not make, or chunks that would not join."""


class ChunkRef(BaseModel):
    """One chunk of a cut: its file, its key, and the cut frames it holds [start, start + frames)."""

    path: Path
    key: str
    start: int
    frames: int


def chunk_refs(chunks: list[Path], segments: list[Segment]) -> list[ChunkRef]:
    """The cut's chunks in order (one per piece), each with the cut frames it holds."""
    return [ChunkRef(path=p, key=p.stem, start=pc.seg.start + pc.a, frames=pc.frames)
            for p, pc in zip(chunks, pieces(segments), strict=True)]  # fmt: skip


@dataclass(frozen=True)
class Piece:
    """Frames [a, b) of a segment, encoded as one chunk: a shot's fade in, its body or its fade out (the
    fades hold a neighbour's frames too, so an edit to one shot leaves its neighbours' bodies alone), or
    the end card."""

    seg: Segment
    a: int
    b: int
    part: str  # "in" | "body" | "out" | "end"

    @property
    def frames(self) -> int:
        return self.b - self.a

    @property
    def middle(self) -> int | None:
        """The piece's frame that is its shot's middle frame (kept for the stills), or None."""
        m = self.seg.frames // 2
        return m - self.a if self.seg.kind == "shot" and self.a <= m < self.b else None


def pieces(segments: list[Segment]) -> list[Piece]:
    """Every segment's pieces, in cut order (a crossfade is at most a quarter of a shot: the body holds
    its shot's middle frame)."""
    out = []
    for seg in segments:
        if seg.kind == "end":
            out.append(Piece(seg, 0, seg.frames, "end"))
            continue
        nxt = segments[seg.index + 1]
        fades_out = nxt.fade_in if nxt.kind == "shot" else 0
        cuts = [0, seg.fade_in, seg.frames - fades_out, seg.frames]
        out += [Piece(seg, a, b, part) for a, b, part in zip(cuts, cuts[1:], ("in", "body", "out"), strict=False) if b > a]
    return out


def piece_keys(spec: CutSpec, segments: list[Segment], end_card: np.ndarray, types: list[str | None] | None = None,
               openings: list[str | None] | None = None) -> list[tuple[Piece, str]]:  # fmt: skip
    """Every piece with a key of everything that shapes its frames and their encoding (`types`: per shot, the
    digest of the kinetic type drawn over its take, or None; `openings`: the same for the take's first frame
    alone, None where the type draws nothing on it; by default `types`): its take, a neighbour's where it
    fades, the captions over its frames, the end card as drawn, and the size, rate, watermark and encoder
    settings. A shot fading out shows only the next take's first frame, so its key holds that frame's type
    (usually none: an edit to the next shot's words leaves the fade out alone)."""
    types = types or [None] * len(spec.shot_videos)
    openings = types if openings is None else openings

    def take(j: int, type_digests: list[str | None]) -> list[Any]:
        return [kept_sha256(spec.shot_videos[j]), spec.shot_native[j], segments[j].frames, type_digests[j]]

    out = []
    for piece in pieces(segments):
        seg = piece.seg
        if seg.kind == "end":
            out.append((piece, _end_key(spec, seg, end_card)))
            continue
        nxt = segments[seg.index + 1]
        neighbour = {"in": [seg.fade_in, take(seg.index - 1, types) if seg.fade_in else None],
                     "out": [nxt.fade_in, take(nxt.index, openings) if nxt.kind == "shot" else None]}.get(piece.part)
        lo, hi = seg.start + piece.a, seg.start + piece.b
        made_of = ["shot", piece.part, piece.a, piece.b, take(seg.index, types), neighbour,
                   [(max(a, lo) - lo, min(b, hi) - lo, overlay_digest(o)) for a, b, o in seg.captions
                    if a < hi and b > lo]]  # fmt: skip
        out.append((piece, _key(spec, made_of)))
    return out


def _end_key(spec: CutSpec, seg: Segment, end_card: np.ndarray) -> str:
    """The end card's key: its length and its frame as drawn (it depends on no take)."""
    return _key(spec, ["end", seg.frames, hashlib.sha256(end_card.tobytes()).hexdigest()])


def _key(spec: CutSpec, made_of: list[Any]) -> str:
    common = [CHUNK_FORMAT, spec.width, spec.height, spec.fps, spec.crf, spec.preset, X264_PARAMS, spec.watermark]
    return hashlib.sha256(json.dumps([common, made_of]).encode()).hexdigest()[:32]


def overlay_digest(overlay: Any) -> str:
    """The digest of a drawn caption: where it sits and its pixels."""
    h = hashlib.sha256(f"{overlay.x},{overlay.y},{overlay.y_pm.shape}".encode())
    for plane in (overlay.y_pm, overlay.uv_pm, overlay.inv_a, overlay.inv_a2):
        h.update(np.ascontiguousarray(plane).tobytes())
    return h.hexdigest()


class _Sources:
    """The shots' take sources, opened only when a segment that needs them is made (`folder`: where their
    run-on frames are kept, None: nowhere; `handed`: per shot, the frames to hand over as composed; see
    `ChunkSource`)."""

    def __init__(self, spec: CutSpec, segments: list[Segment], folder: Path | None = None,
                 handed: dict[int, set[int]] | None = None) -> None:  # fmt: skip
        from agent.assembly.type_track import shot_types

        self.spec, self.segments, self.folder, self.handed = spec, segments, folder, handed or {}
        # what the handed frames may hold: a long cut with many caption pages decodes the rest in its checks
        self.room = [max(1, HANDED_BYTES // (spec.width * spec.height * 3 // 2))]
        self.types = shot_types(spec)
        self.open: dict[int, ChunkSource] = {}

    def __getitem__(self, j: int) -> ChunkSource:
        if j not in self.open:
            s = self.spec
            self.open[j] = ChunkSource(Path(s.shot_videos[j]), self.segments[j].frames, s.fps, s.width, s.height,
                                       s.shot_native[j], self.types[j], self.folder,
                                       frozenset(self.handed.get(j, ())), self.room)  # fmt: skip
        return self.open[j]

    def composed(self) -> dict[str, np.ndarray]:
        """The frames handed over, by name (ShotSource.frame_name), as they were composed."""
        return {source.frame_name(k): buf for source in self.open.values() for k, buf in source.composed.items()}

    def type_digests(self) -> tuple[list[str | None], list[str | None]]:
        """Per shot, the digest of the type drawn over its take (its source made, not yet decoding), or None; and
        the same for its take's first frame alone, None where the type draws nothing there."""
        tracks = [self[j].type if t is not None else None for j, t in enumerate(self.types)]
        digests = [track.digest() if track is not None else None for track in tracks]
        openings = [d if d is not None and track.draws_at(0, self[j].info.fps) else None
                    for j, (track, d) in enumerate(zip(tracks, digests, strict=True))]  # fmt: skip
        return digests, openings

    def missing_glyphs(self) -> set[str]:
        """Characters of the shots' type that no installed font covers."""
        return {c for j, t in enumerate(self.types) if t is not None for c in (self[j].type.missing if self[j].type else ())}

    def close(self) -> None:
        for source in self.open.values():
            source.close()


@dataclass
class ChunkSource(ShotSource):
    """A take source as chunks are made from it, sparing later work two decodes:

    - its run-on frames (those past its shot's end, which the next shot's fade in shows under its first
      frames) are kept in `folder` once decoded and read from there after: that fade in is made again
      whenever the next shot changes (an edit to its words), and reaching the run-on frames otherwise means
      decoding this take from its first frame (the takes hold one key frame). They are kept as converted (cut
      size, crop, this shot's type drawn) under the source's digest, so they stand for exactly the frames
      decoding gives (deflated: ~1 MB for a 6-frame fade of motion takes at 720p, 50 ms to write once, 17 ms
      to read, against ~0.35 CPU-seconds decoding a 2.5-second take);
    - the frames in `handed` (shot frames) are kept in `composed` as they pass: the ad checks judge a caption
      set in the picture against its shot's frame as composed here, and decode the take to that frame
      otherwise (at most `room` frames among a cut's sources, HANDED_BYTES: memory does not grow with the
      cut's length)."""

    folder: Path | None = None
    handed: frozenset[int] = frozenset()
    room: list[int] = field(default_factory=lambda: [0])  # how many more frames may be handed (shared)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._run_on: dict[int, np.ndarray] = {}  # decoded now, kept at close
        self._kept: dict[int, np.ndarray] | None = None  # read from the folder
        self.composed: dict[int, np.ndarray] = {}

    def frame(self, k: int) -> np.ndarray:
        if k < self.frames or self.folder is None:
            buf = super().frame(k)
            if k in self.handed and k not in self.composed and self.room[0] > 0:
                self.room[0] -= 1
                self.composed[k] = buf  # never drawn on: a frame to draw on is copied (compose_segment)
            return buf
        j = self.take_index(k)
        if self._cache[0] != j and self._pos < j and (kept := self._kept_frames().get(k)) is not None:
            self._cache = (j, kept)  # not decoded this far: nothing to decode
            return kept
        buf = super().frame(k)
        self._run_on[k] = buf
        return buf

    def close(self) -> None:
        self._keep()
        super().close()

    def _path(self) -> Path:
        return self.folder / f"{hashlib.sha256(f'{RUN_ON_FORMAT} {self.digest()}'.encode()).hexdigest()[:32]}.runon.npz"

    def _kept_frames(self) -> dict[int, np.ndarray]:
        """The run-on frames kept in the folder, by shot frame ({} when none are, or they do not read back)."""
        if self._kept is None:
            self._kept = {}
            path = self._path()
            if path.is_file():
                try:
                    with zipfile.ZipFile(path) as zf, zf.open("frames.npy") as f:
                        frames = np.lib.format.read_array(f, allow_pickle=False)
                    if frames.ndim != 3 or frames.shape[1:] != (self.height * 3 // 2, self.width) or frames.dtype != np.uint8:
                        raise ValueError(f"frames of shape {frames.shape}")
                    self._kept = {self.frames + i: frame for i, frame in enumerate(frames)}
                except (OSError, ValueError, KeyError, zipfile.BadZipFile):
                    path.unlink(missing_ok=True)  # made again by decoding, and kept again
        return self._kept

    def _keep(self) -> None:
        """Keep the run-on frames decoded now (from the shot's end on, in order) unless as many are kept."""
        made, self._run_on = self._run_on, {}
        count = next((i for i in range(len(made)) if self.frames + i not in made), len(made))
        if self.folder is None or count == 0 or len(self._kept_frames()) >= count:
            return
        frames = np.stack([made[self.frames + i] for i in range(count)])
        try:
            with atomic_path(self._path()) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
                with zf.open("frames.npy", "w") as f:
                    np.lib.format.write_array(f, frames, allow_pickle=False)
        except (OSError, BriefcutError):
            return  # not kept: the next fade in decodes the take, as before
        self._kept = {self.frames + i: frame for i, frame in enumerate(frames)}


def make_chunks(spec: CutSpec, segments: list[Segment], end_card: np.ndarray, folder: Path,
                tick: Callable[[int], None], handed: dict[int, set[int]] | None = None,
                ) -> tuple[list[Path], dict[int, np.ndarray], set[str], dict[str, np.ndarray]]:  # fmt: skip
    """Every segment's chunk in `folder` (reused when its key is there, else made), the middle frame of
    each shot (by cut frame), the characters of the shots' kinetic type no installed font covers, and the
    shot frames in `handed` (per shot) that were composed now, by name (ShotSource.frame_name)."""
    sources = _Sources(spec, segments, folder, handed)
    keyed = piece_keys(spec, segments, end_card, *sources.type_digests())
    chunks, stills, done = [], {}, 0
    try:
        for piece, key in keyed:
            seg = piece.seg
            ts, still = _files(folder, key)
            _made(spec, piece, key, segments, sources, end_card, folder, lambda n, at=done: tick(at + n))
            if piece.middle is not None:
                stills[seg.start + seg.frames // 2] = _load_still(still)
            chunks.append(ts)
            done += piece.frames
            tick(done)
        missing = sources.missing_glyphs()
    finally:
        sources.close()
    return chunks, stills, missing, sources.composed()


def end_chunk(spec: CutSpec, segments: list[Segment], end_card: np.ndarray, folder: Path) -> ChunkRef:
    """The end card's chunk in `folder`, made unless it is kept there. It depends on no take and no score,
    so it can be made before a cut's takes are chosen (agent.edit.ahead); `make_chunks` then finds it."""
    piece = pieces(segments)[-1]
    key = _end_key(spec, piece.seg, end_card)
    _made(spec, piece, key, segments, [], end_card, folder, lambda n: None)
    return ChunkRef(path=_files(folder, key)[0], key=key, start=piece.seg.start, frames=piece.frames)


def _made(spec: CutSpec, piece: Piece, key: str, segments: list[Segment], sources: Any, end_card: np.ndarray,
          folder: Path, tick: Callable[[int], None]) -> bool:  # fmt: skip
    """Make a piece's chunk (and its shot's middle frame) under `key` in `folder` unless both are there;
    whether it was made now."""
    ts, still = _files(folder, key)
    with one_maker(ts):
        if ts.is_file() and (piece.middle is None or still.is_file()):
            return False
        frames = compose_segment(piece.seg, segments, sources, end_card, spec.width, spec.height, (piece.a, piece.b))
        _encode_chunk(spec, piece, _marked(spec, frames), ts, still, tick)
        return True


def _files(folder: Path, key: str) -> tuple[Path, Path]:
    """A piece's chunk and its shot's middle frame, kept in `folder` under the piece's key."""
    return folder / f"{key}.ts", folder / f"{key}.still.npy"


def _marked(spec: CutSpec, frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    if not spec.watermark:
        return frames
    from agent.provenance.watermark import embed

    return embed(frames, spec.watermark, spec.width, spec.height)


def chunk_command(spec: CutSpec, out: Path) -> list[str]:
    """ffmpeg reading raw yuv420p frames on stdin and writing one H.264 chunk (MPEG-TS, no sound).

    The raw frames are tagged with the cut's colour as they are read: untagged, ffmpeg inserts a scaler to
    "convert" them to the output's tags (a copy of every frame: ~8% of the chunk encoders' CPU in the preview
    bench), and the primaries and transfer it leaves unspecified never reach the bitstream."""
    import imageio_ffmpeg

    return [
        imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", "-nostdin",
        "-f", "rawvideo", "-pix_fmt", "yuv420p", "-video_size", f"{spec.width}x{spec.height}",
        "-framerate", str(spec.fps), *COLOUR_ARGS, "-i", "pipe:0", "-an",
        "-c:v", "libx264", "-preset", spec.preset, "-crf", str(spec.crf), "-x264-params", X264_PARAMS,
        "-pix_fmt", "yuv420p", *COLOUR_ARGS, "-f", "mpegts", str(out),
    ]  # fmt: skip


def _encode_chunk(spec: CutSpec, piece: Piece, frames: Iterator[np.ndarray], ts: Path, still: Path,
                  tick: Callable[[int], None]) -> None:
    """Encode a piece's frames into `ts` (atomically), keeping its shot's middle frame in `still` first."""
    seg, kept = piece.seg, {}
    with atomic_path(ts) as part, ExitStack() as stack:
        err = stack.enter_context(tempfile.TemporaryFile())
        proc = subprocess.Popen(chunk_command(spec, part), stdin=subprocess.PIPE, stderr=err)
        try:
            count = pump(proc, frames, {piece.middle} if piece.middle is not None else set(), kept, tick)
        finally:
            proc.stdin.close()
            code = proc.wait()
        if code != 0:
            err.seek(0)
            raise ChunkError(f"ffmpeg failed ({code}) encoding {seg.kind} {seg.index + 1} ({piece.part}): "
                             f"{err.read().decode(errors='replace').strip()[-800:]}")  # fmt: skip
        if count != piece.frames:
            raise ChunkError(f"composed {count} frames for {seg.kind} {seg.index + 1} ({piece.part}), the timeline "
                             f"has {piece.frames}")  # fmt: skip
        if piece.middle is not None:
            with atomic_path(still) as tmp, open(tmp, "wb") as f:
                np.save(f, kept[piece.middle])


def pump(proc: subprocess.Popen, frames: Iterable[np.ndarray], wanted: set[int], kept: dict,
          tick: Callable[[int], None]) -> int:
    """Feed frames to ffmpeg from a writer thread, so composing the next frame overlaps the pipe write."""
    q: queue.Queue = queue.Queue(maxsize=8)
    failed: list[BaseException] = []

    def writer() -> None:
        while (buf := q.get()) is not None:
            if not failed:
                try:
                    proc.stdin.write(memoryview(buf))
                except (BrokenPipeError, OSError) as exc:  # ffmpeg died: its stderr says why
                    failed.append(exc)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    count = 0
    try:
        for count, frame in enumerate(frames, start=1):
            if count - 1 in wanted:
                kept[count - 1] = frame.copy()
            q.put(frame)
            if count % 12 == 0:
                tick(count)
            if failed:
                break
    finally:
        q.put(None)
        thread.join()
    return count


def _load_still(path: Path) -> np.ndarray:
    with open(path, "rb") as f:
        return np.load(f)


def join_command(listing: Path, audio: Path, out: Path, metadata: list[str]) -> list[str]:
    """ffmpeg joining the chunks in `listing` and the encoded sound into one MP4, every stream copied."""
    import imageio_ffmpeg

    return [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", "-nostdin",
            "-f", "concat", "-safe", "0", "-i", str(listing), "-i", str(audio),
            "-map", "0:v:0", "-map", "1:a:0", "-c", "copy", *COLOUR_ARGS, "-movflags", "+faststart", *metadata,
            "-f", "mp4", str(out)]  # fmt: skip


def join(chunks: list[Path], audio: Path, out: Path, scratch: Path, metadata: list[str]) -> None:
    """Write `out`: the chunks' video, in order, and `audio`'s sound; nothing is encoded again."""
    listing = scratch / "chunks.ffconcat"
    lines = ["ffconcat version 1.0"] + [f"file '{_quoted(p)}'" for p in chunks]
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = subprocess.run(join_command(listing, audio, out, metadata), capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise ChunkError(f"ffmpeg failed joining the cut's chunks: {proc.stderr.decode(errors='replace')[-800:]}")


def _quoted(path: Path) -> str:
    """A path for an ffconcat `file` line (single-quoted; a quote in it closed, escaped and reopened)."""
    return str(Path(path).resolve()).replace("'", "'\\''")
