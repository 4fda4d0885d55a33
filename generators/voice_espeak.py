"""The espeak-ng voice backend: runs the `espeak-ng` binary and resamples its speech to 48 kHz mono."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from generators.base import AudioTake, Voice
from generators.errors import MissingDependency, TakeFailed
from generators.media import read_wav, resample, write_wav

SAMPLE_RATE = 48000
INSTALL_HINT = "install it with: apt-get install espeak-ng (Debian/Ubuntu) or brew install espeak-ng (macOS)"


class EspeakVoice(Voice):
    """Formant speech from espeak-ng: robotic but offline, instant and in a hundred languages."""

    name: ClassVar[str] = "espeak-ng"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        speed: int = Field(default=165, ge=80, le=450, description="words per minute")
        pitch: int = Field(default=50, ge=0, le=99)
        binary: str = "espeak-ng"

    def licenses(self, voices: list[str] | None = None) -> list[dict[str, Any]]:
        """The engine's license (a separate program; its voices are rules in its data, same license)."""
        from generators.licenses import ESPEAK_NG, declared

        return [declared("espeak-ng", "engine", ESPEAK_NG)]

    def load(self) -> None:
        """Find the binary; a missing one is a MissingDependency with an install hint."""
        self.exe = shutil.which(self.options.binary)
        if self.exe is None:
            raise MissingDependency(f"voice backend 'espeak-ng' needs the '{self.options.binary}' binary; {INSTALL_HINT}")
        self.version = _version(self.exe)
        self.voices = _voices(self.exe)
        self.loaded = True

    def speak(self, text: str, voice: str, out: Path) -> AudioTake:
        """Speak `text` with espeak voice `voice` (e.g. 'en', 'en-us', 'de') into a 48 kHz mono WAV."""
        self.ensure_loaded()
        if not text.strip():
            raise TakeFailed("espeak-ng: nothing to say (empty text)")
        # espeak-ng reading stdin falls back to its default voice without a word: check first.
        if self.voices and (voice or "en").split("+")[0].lower() not in self.voices:
            raise TakeFailed(f"espeak-ng has no voice '{voice}'; see `espeak-ng --voices`")
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "espeak.wav"
            # Text goes through stdin so a line starting with '-' is never read as an option.
            cmd = [self.exe, "--stdin", "-v", voice or "en", "-s", str(self.options.speed),
                   "-p", str(self.options.pitch), "-w", str(raw)]
            proc = subprocess.run(cmd, input=text.encode(), capture_output=True, timeout=120)
            if proc.returncode != 0 or not raw.exists():
                raise TakeFailed(f"espeak-ng failed for voice '{voice}': {proc.stderr.decode(errors='replace').strip()}")
            samples, rate = read_wav(raw)
        mono = resample(samples.mean(axis=1), rate, SAMPLE_RATE)
        write_wav(out, mono, SAMPLE_RATE)
        return AudioTake(
            path=Path(out), sample_rate=SAMPLE_RATE, channels=1, seconds=len(mono) / SAMPLE_RATE,
            metadata={
                "backend": self.name, "model": f"espeak-ng {self.version}", "voice": voice,
                "parameters": {"speed": self.options.speed, "pitch": self.options.pitch, "source_rate": rate},
                "timings": {"total_s": round(time.perf_counter() - started, 4)},
            },
        )


def _version(exe: str) -> str:
    proc = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    words = proc.stdout.replace(":", " ").split()
    return next((w for w in words if w[:1].isdigit()), "unknown")


def _voices(exe: str) -> set[str]:
    """Every name `-v` accepts: languages, voice names, voice files and their other languages."""
    proc = subprocess.run([exe, "--voices"], capture_output=True, text=True, timeout=30)
    names: set[str] = set()
    for line in proc.stdout.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5:
            names |= {cols[1].lower(), cols[3].lower(), cols[4].lower(), cols[4].rsplit("/", 1)[-1].lower()}
            names |= {m.lower() for m in re.findall(r"\(([^ )]+) \d+\)", line)}
    return names
