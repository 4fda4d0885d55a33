"""What the ad checks read from a cut's frames, gathered chunk by chunk and kept beside each chunk.

A cut assembled from kept chunks (agent.assembly.chunks) shows each chunk's frames exactly as the chunk decodes
alone: every chunk is encoded on its own, starting on a key frame, and the chunks are joined with the streams
copied (tests/test_chunk_evidence.py checks it, bit for bit). So the evidence the checks gather in one pass over
the delivered cut (agent.ad_evidence) is gathered per chunk: each chunk is asked for its share (the grey
thumbnails of the cut's opening and ending that fall in it, the frames searched for the logo, the caption pages
judged on its frames against their references, the cut's last frame) and its answer is kept beside it as
`<chunk key>.ev-<digest of the question>.npz`. A later cut holding the same chunk and asking it the same (an
edit that changed another caption) reads that answer and decodes only the chunks not read before; everything is
still measured on the encoded frames, decoded. An answer is trusted only when it loads whole and was made from
the chunk file as it is now (its size and modification time); anything else is decoded again. Every answer is
written atomically (generators.atomic) under a name unique to the question, so two processes answering the
same question write the same bytes, each through a file of its own.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from agent.ad_evidence import SEARCH_SIDE, SMALL_SIDE, TYPE_CONTRAST, Read, Wanted, decode, judge, still_run
from agent.assembly.caption_track import Cue
from agent.assembly.chunks import ChunkRef, overlay_digest
from evaluators.detect import SEARCH_FORMAT, STATIC_MAD
from generators.atomic import atomic_path, one_maker, write_text
from generators.errors import StorageError
from generators.media import kept_sha256

# Raise when what an answer holds changes for the same question: older answers are then not read.
EVIDENCE_FORMAT = 2
Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class Ask:
    """What the checks want from one chunk's frames (frame numbers counted from the chunk's first)."""

    head: int  # grey thumbnails of its first frames
    tail: int  # grey thumbnails of its last frames
    search: tuple[int, ...]  # frames kept small for the logo search
    cues: tuple[tuple[int, str], ...]  # (frame, digest of the reference a caption page is judged against there)
    last: bool  # its last frame, RGB at full size (the cut's last chunk)

    def digest(self, chunk: ChunkRef) -> str:
        """The question's key: the chunk's key, what is asked, and how answers are made."""
        data = [EVIDENCE_FORMAT, SMALL_SIDE, SEARCH_SIDE, chunk.key, self.head, self.tail, list(self.search),
                [list(c) for c in self.cues], self.last]  # fmt: skip
        return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:24]


def read_chunks(chunks: list[ChunkRef], wanted: Wanted) -> Read | None:
    """What one pass over the whole cut keeps (`wanted`), read from each chunk's kept answer or by decoding
    that chunk alone; None when the chunks are unknown or do not make the cut (then the MP4 is read)."""
    if not _whole(chunks):
        return None
    import av

    total = sum(c.frames for c in chunks)
    refs = {k: _reference(k, cue, wanted) for pages in wanted.cues.values() for k, cue in pages}
    read = Read(tail=deque(maxlen=max(1, wanted.tail)))
    for chunk in chunks:
        try:
            local, ask, answer = chunk_answer(chunk, wanted, refs, total)
        except (OSError, av.FFmpegError):  # a chunk gone or damaged since the cut was joined: read the MP4
            return None
        if int(answer["count"]) != chunk.frames:
            return None  # the chunk decodes to other frames than the cut's timeline holds
        _add(read, chunk, local, ask, answer, refs, wanted)
    return read


def chunk_answer(chunk: ChunkRef, wanted: Wanted, refs: dict[int, str], total: int) -> tuple[Wanted, Ask, Arrays]:
    """One chunk's share of `wanted` (in a cut of `total` frames), the question it makes, and its answer:
    kept beside the chunk, else decoded now and kept."""
    local, ask = _share(chunk, wanted, refs, total)
    answer = _kept_or_made(chunk, ask.digest(chunk), lambda: _answer(chunk, local, ask, refs),
                           lambda arrays: _fits(arrays, ask))  # fmt: skip
    return local, ask, answer


def chunk_still_run(chunks: list[ChunkRef], last: np.ndarray) -> int | None:
    """How many frames at the end of the cut show the picture `last` (a grey thumbnail): each chunk's own
    count, from its end backwards, while a chunk shows it throughout (kept like the answers above); None
    when a chunk cannot be read (then the MP4 is)."""
    import av

    ref = hashlib.sha256(f"still {EVIDENCE_FORMAT} {SMALL_SIDE} {STATIC_MAD} {last.shape}".encode() + last.tobytes())
    run = 0
    for chunk in reversed(chunks):
        try:
            kept = _kept_or_made(chunk, _digest(chunk.key, ref.hexdigest()),
                                 lambda c=chunk: {"run": np.array(still_run(c.path, last))},
                                 lambda arrays: "run" in arrays and arrays["run"].shape == ())  # fmt: skip
        except (OSError, av.FFmpegError):
            return None
        run += int(kept["run"])
        if int(kept["run"]) < chunk.frames:
            break
    return run


def _digest(*parts: str) -> str:
    return hashlib.sha256(" ".join(parts).encode()).hexdigest()[:24]


def _whole(chunks: list[ChunkRef]) -> bool:
    """Whether the chunks follow each other from frame 0 and their files are there."""
    at = 0
    for chunk in chunks:
        if chunk.start != at or chunk.frames < 1 or not chunk.path.is_file():
            return False
        at += chunk.frames
    return bool(chunks)


def _reference(k: int, cue: Cue, wanted: Wanted) -> str:
    """The digest of what caption page k is judged against: the take's own picture where it set the type,
    else the caption as assembly drew it."""
    h = hashlib.sha256()
    if k in wanted.drawn_by_take:
        box, picture = wanted.drawn_by_take[k]
        h.update(f"take {box} {picture.digest} {TYPE_CONTRAST}".encode())
    else:
        h.update(f"caption {overlay_digest(cue.overlay)}".encode())
    return h.hexdigest()


def _share(chunk: ChunkRef, wanted: Wanted, refs: dict[int, str], total: int) -> tuple[Wanted, Ask]:
    """The part of `wanted` that falls in this chunk, in its own frame numbers, and the question it makes."""
    start, end = chunk.start, chunk.start + chunk.frames
    head = max(0, min(chunk.frames, wanted.head - start))
    tail = max(0, end - max(start, total - max(1, wanted.tail)))
    search = {i - start for i in wanted.search if start <= i < end}
    cues = {i - start: pages for i, pages in wanted.cues.items() if start <= i < end}
    local = Wanted(head, tail, search, cues, wanted.drawn_by_take, last=end == total)
    asked = sorted({(i, refs[k]) for i, pages in cues.items() for k, _ in pages})
    return local, Ask(head, tail, tuple(sorted(search)), tuple(asked), end == total)


def _answer(chunk: ChunkRef, local: Wanted, ask: Ask, refs: dict[int, str]) -> Arrays:
    """Decode the chunk alone and keep what `ask` wants, as arrays (thumbnails as the uint8 luma they are)."""
    read = decode(chunk.path, local)
    scores = {(i, refs[k]): read.seen[k].score for i, pages in local.cues.items() for k, _ in pages if k in read.seen}
    tail = list(read.tail)[len(read.tail) - ask.tail :] if ask.tail else []
    return {"head": _stack(read.head, np.uint8), "tail": _stack(tail, np.uint8),
            "search": _stack([read.searched[i] for i in ask.search if i in read.searched], np.uint8),
            "scores": np.array([scores.get(c, np.nan) for c in ask.cues], np.float64),
            "last": read.last if read.last is not None else np.zeros((0, 0, 3), np.uint8),
            "count": np.array(read.count)}  # fmt: skip


def _stack(frames: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.stack(frames).astype(dtype) if frames else np.zeros((0, 1, 1), dtype)


def _fits(arrays: Arrays, ask: Ask) -> bool:
    """Whether a kept answer holds what `ask` wants (a file cut short, or of another shape, is not read)."""
    if not all(n in arrays for n in ("head", "tail", "search", "scores", "last", "count")):
        return False
    count = int(arrays["count"])
    return (len(arrays["head"]) == min(ask.head, count) and len(arrays["tail"]) == min(ask.tail, count)
            and len(arrays["search"]) == sum(i < count for i in ask.search) and len(arrays["scores"]) == len(ask.cues)
            and (arrays["last"].size > 0) == (ask.last and count > 0))  # fmt: skip


def _add(read: Read, chunk: ChunkRef, local: Wanted, ask: Ask, answer: Arrays, refs: dict[int, str],
         wanted: Wanted) -> None:  # fmt: skip
    """Put one chunk's answer where one pass over the whole cut would have put it."""
    read.head.extend(t.astype(np.float32) for t in answer["head"])
    read.tail.extend(t.astype(np.float32) for t in answer["tail"])
    read.searched.update((chunk.start + i, f) for i, f in zip(ask.search, answer["search"], strict=False))
    scores = dict(zip(ask.cues, answer["scores"].tolist(), strict=True))
    for i, pages in local.cues.items():
        for k, cue in pages:
            if not np.isnan(scores[(i, refs[k])]):
                read.seen[k] = replace(judge(k, cue, None, wanted), score=scores[(i, refs[k])])
    if ask.last:
        read.last = answer["last"]
    read.count += int(answer["count"])


def _kept_or_made(chunk: ChunkRef, digest: str, make: Callable[[], Arrays], fits: Callable[[Arrays], bool]) -> Arrays:
    """The answer kept beside the chunk under `digest` when it is whole and made from the chunk as it is now;
    else made (the chunk decoded) and kept."""
    file = chunk.path.with_name(f"{chunk.key}.ev-{digest}.npz")
    with one_maker(file):
        stamp = _stamp(chunk)
        kept = _load(file)
        if kept is not None and np.array_equal(kept.get("stamp"), stamp) and fits(kept):
            return kept
        arrays = make() | {"stamp": stamp}
        try:
            with atomic_path(file) as tmp, open(tmp, "wb") as f:
                np.savez(f, **arrays)
        except (OSError, StorageError):  # not kept: the chunk is decoded again next time, nothing else is lost
            pass
        return arrays


def _stamp(chunk: ChunkRef) -> np.ndarray:
    """The chunk file as it is now (size, modification time): an answer made from another file is not read."""
    st = chunk.path.stat()
    return np.array([st.st_size, st.st_mtime_ns], np.int64)


def _load(file: Path) -> Arrays | None:
    """A kept answer's arrays, or None when there is none or it does not load whole."""
    try:
        with np.load(file, allow_pickle=False) as z:
            return {name: z[name] for name in z.files}
    except Exception:  # a damaged file fails in many ways (a bad CRC, a header numpy cannot parse)
        return None


class LogoScores:
    """The logo search's score at each searched frame of a cut, kept per chunk (`<key>.logo-<digest>.json`:
    frame -> score) and computed only for frames no earlier cut holding the chunk searched; what was searched
    now is kept when the search ends (`with LogoScores(...) as kept:`), one write per chunk."""

    def __init__(self, chunks: list[ChunkRef], logo: Path) -> None:
        self.chunks = chunks
        formats = map(str, (EVIDENCE_FORMAT, SEARCH_FORMAT, SEARCH_SIDE))
        self.logo = _digest("logo", *formats, kept_sha256(logo)) if chunks else ""
        self.kept: dict[str, tuple[Path, list[int], dict[str, float]]] = {}  # chunk key -> file, stamp, scores
        self.new: set[str] = set()  # chunks with scores not kept yet

    def __enter__(self) -> LogoScores:
        return self

    def __exit__(self, *exc: object) -> None:
        for key in self.new:
            file, stamp, scores = self.kept[key]
            try:
                write_text(file, json.dumps({"stamp": stamp, "scores": scores}, sort_keys=True))
            except (OSError, StorageError):  # not kept: searched again next time
                pass

    def score(self, frame: int, search: Callable[[], float]) -> float:
        """The score at cut frame `frame`: kept, or `search()` run now (kept on leaving the `with` block)."""
        chunk = next((c for c in self.chunks if c.start <= frame < c.start + c.frames), None)
        if chunk is None:
            return search()
        if chunk.key not in self.kept:
            file = chunk.path.with_name(f"{chunk.key}.logo-{_digest(chunk.key, self.logo)}.json")
            stamp = _stamp(chunk).tolist()
            self.kept[chunk.key] = (file, stamp, _load_scores(file, stamp))
        scores, local = self.kept[chunk.key][2], str(frame - chunk.start)
        if local not in scores:
            scores[local] = float(search())
            self.new.add(chunk.key)
        return scores[local]


def _load_scores(file: Path, stamp: list[int]) -> dict[str, float]:
    """Kept logo scores made from the chunk as it is now, or none (missing, damaged, or of another file)."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        if data["stamp"] == stamp and all(isinstance(v, float) for v in data["scores"].values()):
            return {str(k): v for k, v in data["scores"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return {}
