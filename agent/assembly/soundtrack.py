"""A cut's sound: mixed in numpy sample-exact against the frames (in blocks: agent.assembly.mixdown), encoded
to AAC once, and held in spec.

The encoded track is kept under a key of what it is made of (the effect, voice and music files by content,
where each shot's sound starts and how long it may run, the rate, the loudness target, the end card's
fade, the encoder settings), so a cut whose picture changed but whose sound did not (a caption edit, a
new end card) copies the track instead of mixing, measuring and encoding it again. The loudness checks
run on the encoded track itself, which is the delivered file's audio stream byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from agent.assembly.audio_mix import PEAK_CEILING_DB, SAMPLE_RATE, ShotAudio
from agent.assembly.loudness import (
    LOUDNESS_TOLERANCE_LU,
    MAX_PASSES,
    TRUE_PEAK_MAX_DBTP,
    SoundError,
    hold_after_encoding,
)
from agent.assembly.mixdown import mix_to_wav
from agent.assembly.timeline import Segment
from generators.atomic import atomic_path, write_text
from generators.media import kept_sha256

if TYPE_CHECKING:
    from agent.assembly.cut import CutSpec

# Raise when the mix or its encoding changes for the same inputs: older tracks are then not reused.
SOUND_FORMAT = 1
AUDIO_ARGS = ["-c:a", "aac", "-b:a", "192k", "-ar", str(SAMPLE_RATE)]


def shot_audio(spec: CutSpec, segments: list[Segment]) -> list[ShotAudio]:
    """Where each shot's effect and voice line sit, in samples; a line may run on under following shots
    that have none."""
    def at(frame: int) -> int:
        return round(frame * SAMPLE_RATE / spec.fps)

    shots = [ShotAudio(seg.index, at(seg.start), at(seg.end) - at(seg.start), fx, voice)
             for seg, fx, voice in zip(segments[:-1], spec.shot_effects, spec.shot_voice, strict=True)]  # fmt: skip
    for i, shot in enumerate(shots):
        nxt = next((s for s in shots[i + 1 :] if s.voice is not None), None)
        shot.voice_room = (nxt.start if nxt else at(segments[-1].start)) - shot.start
    return shots


def sound_key(spec: CutSpec, segments: list[Segment]) -> str:
    """The key of everything the encoded track is made of."""
    def digest(path: Path | None) -> str | None:
        return kept_sha256(path) if path else None

    shots = [[s.index, s.start, s.length, digest(s.effect), digest(s.voice), s.voice_room]
             for s in shot_audio(spec, segments)]  # fmt: skip
    made_of = [SOUND_FORMAT, shots, digest(spec.music), spec.fps, _samples(spec, segments), spec.loudness_lufs,
               _fade_out(spec), PEAK_CEILING_DB, TRUE_PEAK_MAX_DBTP, LOUDNESS_TOLERANCE_LU, MAX_PASSES, AUDIO_ARGS]
    return hashlib.sha256(json.dumps(made_of, default=str).encode()).hexdigest()[:32]


def sound_track(spec: CutSpec, segments: list[Segment], folder: Path, scratch: Path) -> tuple[Path, dict, list[dict]]:
    """The cut's encoded track (AAC in an M4A) from `folder` or made now and kept there; its loudness
    record (agent.assembly.loudness) and the warnings of mixing it."""
    key = sound_key(spec, segments)
    track, record = folder / f"sound-{key}.m4a", folder / f"sound-{key}.json"
    try:
        saved = json.loads(record.read_text(encoding="utf-8"))
        if track.is_file():
            return track, saved["loudness"], saved["warnings"]
    except (OSError, ValueError, KeyError):
        pass
    wav = scratch / "mix.wav"
    warnings = mix_to_wav(wav, _samples(spec, segments), shot_audio(spec, segments), spec.music, spec.fps,
                          spec.loudness_lufs, _fade_out(spec))  # fmt: skip
    with atomic_path(track) as part:
        encode_sound(wav, part)
        loud, notes = hold_after_encoding(part, wav, spec.loudness_lufs, PEAK_CEILING_DB,
                                          lambda mixed: encode_sound(mixed, part))  # fmt: skip
    write_text(record, json.dumps({"loudness": loud, "warnings": warnings + notes}, sort_keys=True))
    return track, loud, warnings + notes


def encode_sound(wav: Path, out: Path) -> None:
    """Encode a WAV to AAC in an M4A at `out`."""
    import imageio_ffmpeg

    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", "-nostdin",
               "-i", str(wav), "-map", "0:a:0", *AUDIO_ARGS, "-f", "mp4", str(out)]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise SoundError(f"ffmpeg failed encoding the cut's sound: {proc.stderr.decode(errors='replace')[-500:]}")


def _samples(spec: CutSpec, segments: list[Segment]) -> int:
    return round(segments[-1].end * SAMPLE_RATE / spec.fps)


def _fade_out(spec: CutSpec) -> float:
    return min(1.5, spec.plan.end_card.seconds * 0.6)
