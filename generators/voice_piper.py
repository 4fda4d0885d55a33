"""The piper voice backend: neural speech from a local piper ONNX voice model (`pip install piper-tts`)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import wave
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from generators.base import AudioTake, Voice
from generators.errors import MissingDependency, ModelUnavailable, TakeFailed
from generators.media import read_wav, resample, write_wav

SAMPLE_RATE = 48000
INSTALL_HINT = "install it with: pip install piper-tts, and download a voice (.onnx + .onnx.json)"


class PiperVoice(Voice):
    """Piper text-to-speech: the python package when installed, else the `piper` binary."""

    name: ClassVar[str] = "piper"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

        model: Path | None = None  # a piper voice .onnx file; the `voice` argument may name one instead
        binary: str = "piper"

    def load(self) -> None:
        """Find the piper package or binary; neither is a MissingDependency with an install hint."""
        try:
            import piper

            self.module: Any = piper
            self.exe = None
        except ImportError:
            self.module, self.exe = None, shutil.which(self.options.binary)
            if self.exe is None:
                raise MissingDependency(f"voice backend 'piper' needs the piper package or binary; {INSTALL_HINT}") from None
        self.voices: dict[Path, Any] = {}
        self.loaded = True

    def speak(self, text: str, voice: str, out: Path) -> AudioTake:
        """Speak `text` with the piper model `voice` (a .onnx path) or the `model` option, at 48 kHz mono."""
        self.ensure_loaded()
        model = Path(voice) if voice.endswith(".onnx") else self.options.model
        if model is None or not model.is_file():
            raise ModelUnavailable(f"piper voice model not found: {model or '(none set: options.model)'}")
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "piper.wav"
            self._synthesize(text, model, raw)
            samples, rate = read_wav(raw)
        mono = resample(samples.mean(axis=1), rate, SAMPLE_RATE)
        write_wav(out, mono, SAMPLE_RATE)
        return AudioTake(
            path=Path(out), sample_rate=SAMPLE_RATE, channels=1, seconds=len(mono) / SAMPLE_RATE,
            metadata={"backend": self.name, "model": str(model), "voice": voice,
                      "parameters": {"source_rate": rate},
                      "timings": {"total_s": round(time.perf_counter() - started, 4)}},
        )

    def _synthesize(self, text: str, model: Path, raw: Path) -> None:
        if self.module is None:
            proc = subprocess.run([self.exe, "--model", str(model), "--output_file", str(raw)],
                                  input=text.encode(), capture_output=True, timeout=300)
            if proc.returncode != 0:
                raise TakeFailed(f"piper failed: {proc.stderr.decode(errors='replace').strip()[-500:]}")
            return
        if model not in self.voices:
            self.voices[model] = self.module.PiperVoice.load(str(model))
        engine = self.voices[model]
        with wave.open(str(raw), "wb") as wav:
            # piper-tts >= 1.3 names it synthesize_wav; earlier releases wrote WAVs from synthesize.
            (getattr(engine, "synthesize_wav", None) or engine.synthesize)(text, wav)
