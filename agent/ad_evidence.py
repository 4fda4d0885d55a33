"""What the ad checks read from a delivered cut: its frames, where its captions are, its end card.

The cut is decoded once, one frame at a time, keeping bounded samples (its opening, a frame a second for
the logo, its ending); a long cut costs the same memory as a short one. A cut assembled from kept chunks is
read chunk by chunk instead, each chunk's share kept beside it (agent.chunk_evidence), so an edit decodes
only the chunks it made; the evidence is the same either way.

Everything here is measured on the encoded MP4 (decoded again), against what assembly meant to draw:
the timeline and caption layout are rebuilt with assembly's own functions from the same CutSpec, so
"the caption is on screen" means the drawn caption was found at its place in the delivered frame. A take
that sets its caption itself says where, and a take's type layer (the motion backend's kinetic type, drawn
by assembly) is placed by assembly's own code; there the frame as assembly composes it, type and all, must
be found in place (nothing covered or cropped it away).
"""

from __future__ import annotations

import functools
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agent.assembly.caption_track import CaptionFormat, Cue, caption_cues
from agent.assembly.chunks import ChunkRef
from agent.assembly.cut import CutResult, CutSpec, cut_segments, end_card_rgb
from agent.assembly.timeline import Segment, ShotSource, frame_name
from evaluators.detect import STATIC_MAD, Template, gray, region_ncc, trailing_static
from generators.media import kept_sha256

SMALL_SIDE = 96  # grey thumbnails of every frame (pacing, the end card's length)
SEARCH_SIDE = 160  # frames searched for the logo are scaled to this long side (logos under ~9% of the short side are not searched)
LOGO_MATCH = 0.85  # masked NCC at or over this: the logo is on screen
CAPTION_MATCH = 0.5  # NCC of the drawn caption against the delivered frame: the caption is on screen
TAKE_TYPE_MATCH = 0.8  # NCC of a take's own picture where it set its type against the delivered frame
END_CARD_MATCH = 0.9  # NCC of the drawn end card against the delivered last frame
SEARCH_FPS = 1.0  # frames per second searched for the logo
TAIL_SLACK_S = 1.0  # thumbnails kept before the end card for its length (a longer still ending is read again)


@dataclass
class SeenCue:
    """A caption page on the timeline, and whether the delivered frames show it (NCC at its place)."""

    cue: Cue
    box: tuple[int, int, int, int]  # x, y, w, h in cut pixels
    score: float
    match: float = CAPTION_MATCH  # the score at which it counts as seen

    @property
    def seen(self) -> bool:
        return self.score >= self.match


@dataclass
class CutEvidence:
    """The delivered cut, read once: grey thumbnails of its opening, what was seen at chosen frames, and how
    long its ending stays still; never every frame, so memory does not grow with the cut's length."""

    spec: CutSpec
    fps: int
    segments: list[Segment]
    cues: list[SeenCue]
    head: np.ndarray  # [n, h, w] float32 grey thumbnails of the opening frames (pacing in the first seconds)
    frame_count: int  # frames in the delivered cut
    static_tail: int  # frames at the end that show the same picture as the last one (the end card's time)
    searched: dict[int, np.ndarray]  # frame index -> RGB at SEARCH_SIDE (the logo search)
    last: np.ndarray  # the last frame, RGB at full size
    end_card: np.ndarray  # the end card assembly draws for this cut, RGB at full size
    voice: list[Path | None] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    # the chunks it was read from (agent.chunk_evidence); empty: it was read from the MP4
    chunks: list[ChunkRef] = field(default_factory=list)

    @property
    def body_frames(self) -> int:
        return self.segments[-1].start

    def seconds(self, frame: int) -> float:
        return frame / self.fps


@dataclass
class Wanted:
    """What one pass over the cut keeps: thumbnails at its start and end, and frames by index."""

    head: int  # grey thumbnails kept from the first frame
    tail: int  # grey thumbnails kept up to the last frame
    search: set[int]  # frames kept small for the logo search
    cues: dict[int, list[tuple[int, Cue]]]  # frame -> the caption pages judged on it (by position)
    # caption page -> (box, the take's own frame there) where the take drew the caption itself
    drawn_by_take: dict[int, tuple[tuple[int, int, int, int], Composed]] = field(default_factory=dict)
    last: bool = True  # keep the last frame (RGB, full size)


@dataclass
class Read:
    """What one pass over frames kept (`Wanted`), as the checks read it."""

    head: list[np.ndarray] = field(default_factory=list)
    tail: deque = field(default_factory=deque)
    searched: dict[int, np.ndarray] = field(default_factory=dict)
    seen: dict[int, SeenCue] = field(default_factory=dict)
    last: np.ndarray | None = None
    count: int = 0


def planned_cues(spec: CutSpec, segments: list[Segment]) -> list[Cue]:
    """The caption pages assembly draws (same layout code, same inputs)."""
    fmt = CaptionFormat(spec.aspect_ratio, spec.width, spec.height, spec.fps, spec.font, spec.language)
    cues, _ = caption_cues([s.caption for s in spec.plan.shots], [(s.start, s.end) for s in segments[:-1]], fmt)
    return cues


def read_evidence(spec: CutSpec, result: CutResult, window_s: float) -> CutEvidence:
    """Decode the delivered cut once, keeping what the checks need (bounded: the first `window_s` seconds
    and the end card's, a frame a second for the logo search, one frame at a time for the captions)."""
    # what to keep: the opening, the ending, and each caption page's middle frame
    segments = cut_segments(spec)
    wanted = frames_wanted(spec, segments, result.frames, window_s)
    drawn = [c for c in planned_cues(spec, segments) if c.overlay is not None]
    for k, cue in enumerate(drawn):
        wanted.cues.setdefault(cue.middle, []).append((k, cue))
    wanted.drawn_by_take = _drawn_by_takes(spec, segments, drawn, result.composed)
    # one pass over the cut: chunk by chunk where assembly says which (each chunk's share kept beside it,
    #    so only chunks not read before are decoded), else over the MP4
    from agent.chunk_evidence import chunk_still_run, read_chunks  # it builds on this module's pass

    chunked = read_chunks(result.chunks, wanted)
    read = chunked if chunked is not None else decode(result.path, wanted)
    # the still ending: read again only when it is longer than the thumbnails kept
    tail_thumbs = np.stack(read.tail) if read.tail else np.zeros((0, 1, 1), np.float32)
    still = trailing_static(tail_thumbs)
    if still == len(tail_thumbs) < read.count:
        last = tail_thumbs[-1]
        still = chunk_still_run(result.chunks, last) if chunked is not None else None
        still = still_run(result.path, last) if still is None else still
    return CutEvidence(spec=spec, fps=spec.fps, segments=segments,
                       cues=[read.seen.get(k) or judge(k, cue, None, wanted) for k, cue in enumerate(drawn)],
                       head=np.stack(read.head) if read.head else np.zeros((0, 1, 1), np.float32),
                       frame_count=read.count, static_tail=still, searched=read.searched,
                       last=read.last if read.last is not None else np.zeros((spec.height, spec.width, 3), np.uint8),
                       end_card=end_card_rgb(spec), voice=list(spec.shot_voice), warnings=result.warnings,
                       chunks=result.chunks if chunked is not None else [])  # fmt: skip


def frames_wanted(spec: CutSpec, segments: list[Segment], frames: int, window_s: float) -> Wanted:
    """The frames one pass over a cut of `frames` frames keeps for the checks, but for the caption pages:
    the opening (pacing, the logo search at a frame a second) and the ending (the end card's stillness)."""
    window, step, end = round(window_s * spec.fps), max(1, round(spec.fps / SEARCH_FPS)), segments[-1]
    head = min(window, end.start) + max(s.fade_in for s in segments) + 2  # the pacing check's frames, a cut's fade
    tail = end.frames + end.fade_in + round(TAIL_SLACK_S * spec.fps)
    return Wanted(head, tail, set(range(0, min(window + 1, frames), step)), {})


def decode(path: Path, wanted: Wanted) -> Read:
    """One pass over the MP4, one frame in memory at a time: grey thumbnails of the first and last frames,
    RGB frames for the logo search (small), caption pages judged on their frame as it passes, the last frame."""
    import av

    read, last = Read(tail=deque(maxlen=max(1, wanted.tail))), None
    with av.open(str(path)) as container:
        container.streams.video[0].thread_type = "AUTO"
        for i, frame in enumerate(container.decode(video=0)):
            thumb = _luma_thumb(frame, SMALL_SIDE)
            if i < wanted.head:
                read.head.append(thumb)
            read.tail.append(thumb)
            if i in wanted.search:
                read.searched[i] = _scaled(frame, SEARCH_SIDE)
            if i in wanted.cues:
                rgb = frame.to_ndarray(format="rgb24")
                read.seen.update((k, judge(k, cue, rgb, wanted)) for k, cue in wanted.cues[i])
            last, read.count = frame, i + 1
    if last is not None and wanted.last:
        read.last = last.to_ndarray(format="rgb24")
    return read


def still_run(path: Path, last: np.ndarray) -> int:
    """How many frames at the end of the MP4 show the picture `last` (a grey thumbnail), in a second pass:
    `trailing_static` over every frame, one frame in memory at a time."""
    import av

    run = 0
    with av.open(str(path)) as container:
        container.streams.video[0].thread_type = "AUTO"
        for frame in container.decode(video=0):
            same = float(np.abs(_luma_thumb(frame, SMALL_SIDE) - last).mean()) <= STATIC_MAD
            run = run + 1 if same else 0
    return run


def _luma_thumb(frame, side: int) -> np.ndarray:
    """Every k-th pixel of the frame's luma plane (no colour conversion, no scaling: ~free per frame)."""
    plane = frame.planes[0]
    y = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[: frame.height, : frame.width]
    k = max(1, -(-max(frame.width, frame.height) // side))
    return y[::k, ::k].astype(np.float32)


def _scaled(frame, side: int) -> np.ndarray:
    scale = min(1.0, side / max(frame.width, frame.height))
    return frame.to_ndarray(format="rgb24", width=max(2, round(frame.width * scale)),
                            height=max(2, round(frame.height * scale)))  # fmt: skip


def judge(k: int, cue: Cue, frame: np.ndarray | None, wanted: Wanted) -> SeenCue:
    """Caption page k on the delivered frame: where its take drew it, against the take's own picture;
    else against the caption assembly drew."""
    if k in wanted.drawn_by_take:
        box, reference = wanted.drawn_by_take[k]
        return _seen_drawn(cue, box, reference, frame)
    return _seen(cue, frame)


class Composed:
    """A shot's frame as assembly composes it (its take, crop and kinetic type), decoded only when its pixels
    are asked for: its digest names it by what makes it, so a judgment kept beside a chunk needs no decoding."""

    def __init__(self, source: ShotSource, shot: str, k: int, given: dict[str, np.ndarray] | None = None) -> None:
        self.source, self.k = source, k
        self.digest = frame_name(shot, k)
        self._given = (given or {}).get(self.digest)  # the frame as assembly composed it (yuv420p), if it did
        self._array: np.ndarray | None = None

    @property
    def array(self) -> np.ndarray:
        """The frame, RGB at the cut's size."""
        if self._array is None:
            from agent.assembly.stills import yuv420_to_rgb

            if self._given is not None:
                self._array = yuv420_to_rgb(self._given)
                return self._array
            try:
                self._array = yuv420_to_rgb(self.source.frame(self.k))
            finally:
                self.source.close()
        return self._array


def _drawn_by_takes(spec: CutSpec, segments: list[Segment], cues: list[Cue], composed: dict[str, np.ndarray] | None = None,
                    ) -> dict[int, tuple[tuple[int, int, int, int], Composed]]:  # fmt: skip
    """For each caption page whose take set the caption itself and says where, or whose type assembly draws
    from the take's type layer: its place in cut pixels and the shot's frame at the page's middle, as
    assembly composes it (`composed`: the frames assembly handed over, by name; any other is decoded, and only
    if the page must be judged again)."""
    from agent.assembly.type_track import shot_types

    out, sources = {}, {}
    boxes = list(spec.shot_caption_boxes) + [None] * (len(spec.plan.shots) - len(spec.shot_caption_boxes))
    types = shot_types(spec)
    for k, cue in enumerate(cues):
        i = cue.shot
        drawn = i < len(spec.shot_draws_caption) and spec.shot_draws_caption[i] and boxes[i]
        if not (drawn or types[i] is not None):
            continue
        seg = segments[i]
        if i not in sources:  # one source per shot (its take hashed and its type laid out once)
            source = ShotSource(Path(spec.shot_videos[i]), seg.frames, spec.fps, spec.width, spec.height,
                                spec.shot_native[i], types[i])  # fmt: skip
            sources[i] = (source, source.digest())
        source, shot = sources[i]
        box = source.type.box() if source.type is not None else _cut_box(boxes[i], source)
        if box is not None:
            out[k] = (box, Composed(source, shot, cue.middle - seg.start, composed))
    return out


def _cut_box(fractions: list[float], source: ShotSource) -> tuple[int, int, int, int] | None:
    """A box given in fractions of the take's frame, in cut pixels (x, y, w, h) through the shot's crop."""
    info = source.info
    x0, y0, x1, y1 = (fractions[0] * info.width, fractions[1] * info.height,
                      fractions[2] * info.width, fractions[3] * info.height)  # fmt: skip
    cx, cy, cw, ch = source.crop if source.crop is not None else (0, 0, info.width, info.height)
    sx, sy = source.width / cw, source.height / ch
    left, top = max(0, int((x0 - cx) * sx)), max(0, int((y0 - cy) * sy))
    right, bottom = min(source.width, int(np.ceil((x1 - cx) * sx))), min(source.height, int(np.ceil((y1 - cy) * sy)))
    return (left, top, right - left, bottom - top) if right - left > 1 and bottom - top > 1 else None


TYPE_CONTRAST = 12.0  # grey levels (std): a box with set type in it is never this flat


def _seen_drawn(cue: Cue, box: tuple[int, int, int, int], reference: Composed, frame: np.ndarray | None) -> SeenCue:
    """A caption set as type in the picture (by its take, or by assembly from the take's type layer): the frame
    as assembly composes it, in the box where the type is, found at the same place in the delivered frame
    (NCC); a flat box (no type there after all) is not seen. No frame to judge: nothing is composed."""
    if frame is None:
        return SeenCue(cue, box, 0.0, TAKE_TYPE_MATCH)
    x, y, w, h = box
    want = gray(reference.array)[y : y + h, x : x + w]
    if want.size == 0 or float(want.std()) < TYPE_CONTRAST:
        return SeenCue(cue, box, 0.0, TAKE_TYPE_MATCH)
    return SeenCue(cue, box, region_ncc(frame, want, box), TAKE_TYPE_MATCH)


def _seen(cue: Cue, frame: np.ndarray | None) -> SeenCue:
    """Compare the caption's drawn luma (where it is opaque) with the delivered frame at its place."""
    overlay = cue.overlay
    h, w = overlay.y_pm.shape
    box = (overlay.x, overlay.y, w, h)
    if frame is None:
        return SeenCue(cue, box, 0.0)
    alpha = 256 - overlay.inv_a.astype(np.float32)
    drawn = overlay.y_pm.astype(np.float32) / np.maximum(alpha, 1.0)
    return SeenCue(cue, box, region_ncc(frame, drawn, box, mask=alpha > 128))


def logo_first_seen(evidence: CutEvidence, logo: Path | None, before_s: float | None = None) -> tuple[float | None, float]:
    """The first searched second (before `before_s`, when given) at which the brand's logo is on screen
    (None: not found), and the best match score seen."""
    if logo is None or not Path(logo).is_file():
        return None, 0.0
    from agent.chunk_evidence import LogoScores

    template = _logo_template(str(logo), kept_sha256(Path(logo)))
    best = 0.0
    with LogoScores(evidence.chunks, Path(logo)) as kept:  # a frame's score is kept with its chunk
        for index in sorted(evidence.searched):
            if before_s is not None and evidence.seconds(index) >= before_s:
                break
            score = kept.score(index, lambda i=index: template.find(evidence.searched[i])[0])
            best = max(best, score)
            if score >= LOGO_MATCH:
                return evidence.seconds(index), best
    return None, best


@functools.lru_cache(maxsize=4)
def _logo_template(logo: str, digest: str) -> Template:
    """The logo made ready for the search (per size, at the first frame that needs it), shared by every cut
    a process checks; `digest`, its content's, makes a changed file a new template."""
    from PIL import Image

    return Template(np.asarray(Image.open(logo).convert("RGBA")))


def end_card_shown(evidence: CutEvidence) -> float:
    """NCC between the end card assembly draws and the delivered last frame (1.0: the same picture)."""
    h, w = evidence.end_card.shape[:2]
    return region_ncc(evidence.last, evidence.end_card, (0, 0, w, h))


def end_card_box(evidence: CutEvidence, tolerance: float = 40.0) -> tuple[int, int, int, int] | None:
    """The box (x, y, w, h) around everything drawn on the delivered end card over its background."""
    from agent.assembly.captions import _gradient, hex_rgb

    palette = evidence.spec.palette
    bg = hex_rgb(palette[0]) if palette else (17, 17, 17)
    plain = _gradient(bg, evidence.spec.width, evidence.spec.height)
    ink = np.abs(gray(evidence.last) - gray(plain)) > tolerance
    rows, cols = np.flatnonzero(ink.sum(axis=1) >= 2), np.flatnonzero(ink.sum(axis=0) >= 2)
    if not len(rows) or not len(cols):
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)
