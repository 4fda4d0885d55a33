"""A repeat run that would change nothing: the finished run that already holds its answer.

A run's key digests what decides its cuts: the brief as run (the command line's overrides written
in, and its own path), the files it names (by content; a footage folder by its files' names, sizes
and times), the backends resolved for it (and scoring's CLIP weights as this machine has them), the
fonts captions may be set in, the certificate that signs its cuts, and the code that makes them
(briefcut's sources, the versions of the libraries that shape pixels and sound, the ffmpeg, espeak-ng
and fontconfig binaries). `briefcut run` asks for the newest finished run with the same key; where
its cuts are the ones it delivered (never edited, every file present with the hash it was delivered
with), that run is the answer and nothing is made again. `--fresh` makes a new run anyway (which
still takes every take from the media cache).

A run that asks an LLM (to plan, or for the audience panel) has no key: the model answers
differently each time, so running it again is asking again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from agent.brief import Brief
from agent.errors import RunBusy
from agent.profiles import Choices
from agent.run_lock import run_locks
from agent.settings import Settings
from agent.store import Store
from generators.media import file_sha256

CODE_PACKAGES = ("agent", "generators", "evaluators")
SOURCE_SUFFIXES = (".py", ".j2", ".jinja", ".json", ".yaml", ".txt", ".md")
# Libraries whose version can change a frame or a sample of the same inputs.
MEDIA_LIBRARIES = ("numpy", "av", "pillow", "scipy", "torch", "diffusers", "transformers", "piper-tts",
                   "imageio-ffmpeg", "soundfile", "fonttools")  # fmt: skip
TOOLS = ("ffmpeg", "espeak-ng", "fc-match")  # binaries on the PATH that make media


def run_key(brief: Brief, brief_path: Path, choices: Choices, settings: Settings) -> str | None:
    """The digest of what decides this run's cuts, or None where an LLM takes part (no two answers alike)."""
    if asks_llm(brief, choices, settings):
        return None
    payload = {
        "brief": brief.model_dump(mode="json"), "brief_path": str(Path(brief_path).resolve()),
        "files": {name: file_digest(path) for name, path in brief_files(brief)},
        "choices": choices.model_dump(mode="json", exclude={"notes"}), "code": code_digest(),
        "signing": [file_digest(Path(settings.sign_cert)), settings.sign_tsa] if settings.sign_cert else None,
        "clip": clip_weights(choices.clip.model), "fonts": font_files(),
    }  # fmt: skip
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def asks_llm(brief: Brief, choices: Choices, settings: Settings) -> bool:
    """Whether the run plans with an LLM or lets one rank its cuts (the audience panel)."""
    panel = brief.audience.panel == "on" or (brief.audience.panel == "auto" and settings.llm_configured)
    return choices.planner.backend == "openai" or panel


def clip_weights(model: str | None) -> Any:
    """What scoring's CLIP model is here: a local folder's files, or the Hugging Face cache's files of a hub
    id (weights fetched since a run change every score)."""
    if not model:
        return None
    folder = Path(model).expanduser()
    if folder.is_dir():
        return file_digest(folder)
    from huggingface_hub import constants  # (the module alone: the hub client is not imported)

    cached = Path(constants.HF_HUB_CACHE) / ("models--" + model.replace("/", "--"))
    return file_digest(cached) if cached.is_dir() else None


def font_files() -> Any:
    """The font files captions and the end card may be set in (fontconfig's folders, BRIEFCUT_FONT_DIRS),
    by name, size and time: a font installed since changes every caption that needed it."""
    from generators.fonts import FONT_SUFFIXES, font_dirs

    found = []
    for folder in font_dirs():
        for root, _, names in os.walk(folder):
            found += [(os.path.join(root, n), *_stat(os.path.join(root, n)))
                      for n in names if n.lower().endswith(FONT_SUFFIXES)]  # fmt: skip
    return [os.environ.get("BRIEFCUT_FONTCONFIG", "1"), sorted(found)]


def _stat(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (-1, -1)
    return (st.st_size, st.st_mtime_ns)


def brief_files(brief: Brief) -> list[tuple[str, Path]]:
    """The files and folders the brief names, each with where it is named."""
    named = {"brand.logo": brief.brand.logo, "brand.font": brief.brand.font,
             "product.reference_image": brief.product.reference_image, "assets.footage": brief.assets.footage}  # fmt: skip
    return [(name, Path(path)) for name, path in named.items() if path is not None]


def file_digest(path: Path) -> Any:
    """A file by content; a folder by its files' names, sizes and modification times."""
    if path.is_dir():
        return sorted((str(p.relative_to(path)), st.st_size, st.st_mtime_ns)
                      for p in path.rglob("*") if p.is_file() for st in [p.stat()])  # fmt: skip
    return file_sha256(path) if path.is_file() else None


@lru_cache(maxsize=4)
def code_digest(root: Path = Path(__file__).resolve().parents[1]) -> str:
    """briefcut's own sources (under `root`), the media libraries' versions and the media tools' binaries,
    as one digest."""
    h = hashlib.sha256()
    for package in CODE_PACKAGES:
        for path in sorted((root / package).rglob("*")):
            if path.suffix in SOURCE_SUFFIXES and path.is_file() and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(json.dumps([_version(name) for name in MEDIA_LIBRARIES]).encode())
    for tool in TOOLS:
        found = shutil.which(tool)
        if found:
            h.update(f"{os.path.realpath(found)}:{_stat(os.path.realpath(found))}".encode())
    return h.hexdigest()


def _version(name: str) -> str | None:
    """A library's installed version, or None: its metadata's Version header, read without the email parser
    `metadata.version` runs over the whole file (a long description of 100 kB and more: most of the digest)."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    for line in text.partition("\n\n")[0].splitlines():  # the headers come first
        if line.startswith("Version:"):
            return line.removeprefix("Version:").strip()
    return dist.version


def settled_run(store: Store, key: str | None, out_dir: Path | None, locks_dir: Path) -> str | None:
    """The newest finished run with this key whose cuts stand as delivered (in `out_dir` when one is
    asked for), or None. A run another process is working on is not one."""
    if key is None:
        return None
    for run in store.rows("runs", "run_key = ? AND status = 'done'", [key], order_by="created_at desc"):
        folder = Path(run["out_dir"])
        if (out_dir is not None and folder != Path(out_dir).resolve()) or not folder.is_dir():
            continue  # (a folder that is gone is not made again by taking its lock)
        try:
            with run_locks(locks_dir, run["id"], folder, "repeat"):  # read as it stands: no edit half-applied
                if store.run(run["id"])["status"] == "done" and delivered_intact(store.cuts(run["id"])):
                    return run["id"]
        except RunBusy:
            continue
    return None


def delivered_intact(cuts: Iterable[dict]) -> bool:
    """Whether a run's cuts are all first versions (never edited) and every file is as it was delivered."""
    cuts = list(cuts)
    if not cuts or any(c["version"] != 1 for c in cuts):
        return False
    for cut in cuts:
        delivered = (cut.get("provenance") or {}).get("delivered") or {}
        path = Path(cut["path"])
        files = [path.with_suffix(".scorecard.json"), *(Path(cut[k]) for k in ("srt", "poster", "contact_sheet") if cut.get(k))]
        if not path.is_file() or not all(f.is_file() for f in files):
            return False
        if not delivered.get("sha256") or file_sha256(path) != delivered["sha256"]:
            return False
    return True
