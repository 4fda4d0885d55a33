"""The brand's own footage: a folder of clips and stills, catalogued, and ranked for each shot.

Each file is described by words: its name and its folder's names ("city-run-dawn.mp4" in "running/"),
plus a sidecar caption beside it ("city-run-dawn.txt" or ".caption"). A shot's candidates are
ranked by CLIP similarity between its prompt and a few frames of each file when the run has a CLIP
model (the scorer's, loaded once), else by the words they share (weighted by how rare each word is
in the folder: a word every file has ranks nothing). Within one cut each shot takes the best file
no earlier shot took, so a cut does not repeat a clip while others are left. Ranking lives here, on
the agent's side, because generators never import evaluators: the footage backend receives the
ranked files in the shot request.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from generators.media import file_sha256

VIDEO_EXTS = {".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi"}
STILL_EXTS = {".png", ".jpg", ".jpeg", ".webp"}
CAPTION_EXTS = (".txt", ".caption")
MAX_FILES = 2000
STOP = {"a", "an", "the", "and", "or", "of", "in", "on", "at", "to", "for", "with", "by", "from", "its", "it",
        "is", "as", "that", "this", "their", "them", "they", "who", "what", "camera", "shot", "clip", "video",
        "mood", "brand", "colours", "colour", "image", "final", "copy", "img", "dsc", "mov", "mp4"}  # fmt: skip


@dataclass(frozen=True)
class Footage:
    """One file of the folder: its path, whether it moves, the words that describe it, its digest."""

    path: Path
    kind: str  # "video" | "still"
    words: frozenset[str]
    caption: str
    digest: str


def terms(text: str) -> list[str]:
    """Lower-case word stems of `text`, any script (English endings folded: bottles, bottle -> bottl;
    running, run -> run; hiking, hike -> hik), stop words out."""
    return [w for w in (_stem(word) for word in re.findall(r"[^\W\d_]+", text.lower())) if len(w) > 1 and w not in STOP]


def _stem(word: str) -> str:
    if word in STOP or len(word) <= 3:
        return word
    if word.endswith("sses"):
        word = word[:-2]
    elif word.endswith("ies"):
        word = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            word = word[: -len(suffix)]
            if word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # running -> run
            break
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def catalogue(folder: Path) -> list[Footage]:
    """Every clip and still under `folder` (sorted by path), described by name, folders and caption."""
    folder = Path(folder).resolve()
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_EXTS | STILL_EXTS and _inside(p, folder))
    out = []
    for path in files[:MAX_FILES]:
        caption = _sidecar(path)
        rel = path.relative_to(folder)
        words = terms(" ".join([*rel.parent.parts, path.stem, caption]))
        kind = "video" if path.suffix.lower() in VIDEO_EXTS else "still"
        out.append(Footage(path, kind, frozenset(words), caption, file_sha256(path)))
    return out


def _inside(path: Path, folder: Path) -> bool:
    """Whether `path` is a file that, links resolved, lies in `folder` (a link out of it is not footage)."""
    return path.is_file() and path.resolve().is_relative_to(folder)


def _sidecar(path: Path) -> str:
    for ext in CAPTION_EXTS:
        for side in (path.with_suffix(ext), path.with_name(path.name + ext)):
            if _inside(side, path.parent.resolve()):
                return side.read_text(encoding="utf-8", errors="replace")[:2000].strip()
    return ""




# 1. Ranking ---------------------------------------------------------------------------------------


def rank_by_words(query: str, files: list[Footage]) -> list[tuple[Footage, float]]:
    """Files sharing words with `query`, best first: the sum of each shared word's rarity (IDF) over
    the square root of the file's word count; files sharing none are left out."""
    wanted = set(terms(query))
    df = Counter(w for f in files for w in f.words)
    n = len(files)
    scored = []
    for f in files:
        shared = wanted & f.words
        if shared:
            idf = sum(math.log(1 + n / df[w]) for w in shared)
            scored.append((f, idf / math.sqrt(len(f.words))))
    return sorted(scored, key=lambda fs: (-fs[1], str(fs[0].path)))


def rank_by_embedding(query: np.ndarray, files: list[Footage], embed: Callable[[Footage], np.ndarray]) -> list[tuple[Footage, float]]:
    """Every file by cosine similarity of its embedding to the query's, best first."""
    scored = [(f, float(np.dot(embed(f), query))) for f in files]
    return sorted(scored, key=lambda fs: (-fs[1], str(fs[0].path)))


@dataclass
class FootageRanker:
    """Ranks a run's footage folder per shot: by CLIP when `embedder` is set, else by words.

    One per run (kept on the run's context): the catalogue, the files' embeddings and each plan's
    assignment are made once, under a lock, whichever render worker asks first."""

    folder: Path
    embedder: Any = None  # evaluators.clip.ClipEmbedder, or None
    model: str = ""
    _files: list[Footage] | None = None
    _embeds: dict[str, np.ndarray] = field(default_factory=dict)
    _plans: dict[tuple, list[list[Path]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def method(self) -> str:
        return f"clip:{self.model}" if self.embedder is not None else "words"

    def files(self) -> list[Footage]:
        if self._files is None:
            self._files = catalogue(self.folder)
        return self._files

    def rank(self, query: str) -> list[tuple[Footage, float]]:
        """The folder's files for one shot's text, best first."""
        files = self.files()
        if self.embedder is None:
            return rank_by_words(query, files)
        text = self.embedder.embed_text(query)[0]
        return rank_by_embedding(text, files, self._embed)

    def _embed(self, f: Footage) -> np.ndarray:
        if f.digest not in self._embeds:
            frames = sample_frames(f)
            vec = self.embedder.embed_images(frames).mean(axis=0)
            self._embeds[f.digest] = vec / max(1e-9, float(np.linalg.norm(vec)))
        return self._embeds[f.digest]

    def assign(self, queries: list[str]) -> list[list[Path]]:
        """Per shot (in cut order), its candidate files: ranked for its text, files earlier shots took
        moved to the back (so a cut repeats a clip only when it runs out of matching ones)."""
        key = tuple(queries)
        with self._lock:
            if key not in self._plans:
                taken: list[Path] = []
                out = []
                for query in queries:
                    ranked = [f.path for f, _ in self.rank(query)]
                    fresh = [p for p in ranked if p not in taken] + [p for p in ranked if p in taken]
                    out.append(fresh)
                    if fresh:
                        taken.append(fresh[0])
                self._plans[key] = out
            return self._plans[key]


def sample_frames(f: Footage, count: int = 3, side: int = 224) -> np.ndarray:
    """A few frames of a file as uint8 RGB [N,H,W,3] (a still is one frame), for embedding."""
    from PIL import Image

    if f.kind == "still":
        with Image.open(f.path) as img:
            img = img.convert("RGB")
            img.thumbnail((side, side))
            return np.asarray(img)[None]
    from generators.media import count_frames, read_frames

    total = count_frames(f.path)  # packets counted, then only the picked frames kept (not the whole file)
    picks = sorted({round(i * (total - 1) / max(1, count - 1)) for i in range(count)}) if total else []
    frames = read_frames(f.path, picks, max_side=side)
    if not len(frames):
        raise ValueError(f"{f.path}: no frames")
    return frames
