"""Which voice speaks a segment, and in which language its copy is: one precedence, written down once.

Voice, most specific first: the segment's `voice`, the brief's `audio.voice`, the segment's
`language`, then English. A setting the brief states is never replaced by a default; when two
stated settings disagree (a segment in `ja` spoken by an `es` voice) the more specific one wins
and the run says so on stderr.

Language of the copy: the segment's `language`, else the language of `audio.voice` (a brief that
only says `voice: es` is a Spanish brief), else English.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

LANGUAGE_CODE = re.compile(r"^([a-z]{2,3})(?:[-_][A-Za-z0-9]{2,8})*(?:\+[\w-]+)?$")
PIPER_NAME = re.compile(r"^([a-z]{2,3})_[A-Z]{2}-[\w]+-(?:x_low|low|medium|high)$")


def language_of(voice: str | None) -> str | None:
    """The language a voice speaks, where its name says it: 'es', 'en-us+f3', 'de_DE-thorsten-high', a piper .onnx."""
    if not voice:
        return None
    if voice.endswith(".onnx"):
        config = Path(voice + ".json")
        try:
            data = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        code = (data.get("language") or {}).get("code") or (data.get("espeak") or {}).get("voice") or ""
        return language_of(code.replace("_", "-")) if code else None
    for pattern in (PIPER_NAME, LANGUAGE_CODE):
        match = pattern.match(voice)
        if match:
            return match.group(1).lower()
    return None


def segment_language(brief: Any, segment: Any) -> str:
    """The language of a segment's copy (see the module doc)."""
    return segment.language or language_of(brief.audio.voice) or "en"


def voice_for(brief: Any, segment: Any) -> tuple[str, str]:
    """(voice, which setting chose it) for a segment's voice-over."""
    index = brief.segments.index(segment)
    if segment.voice:
        return segment.voice, f"segments[{index}].voice"
    if brief.audio.voice:
        return brief.audio.voice, "audio.voice"
    if segment.language:
        return segment.language, f"segments[{index}].language"
    return "en", "the default"


def voice_notes(brief: Any) -> list[str]:
    """One line per segment whose stated language and stated voice disagree (the voice wins)."""
    notes = []
    if not brief.audio.voice_over:
        return notes
    for i, seg in enumerate(brief.segments):
        voice, source = voice_for(brief, seg)
        spoken = language_of(voice)
        if seg.language and spoken and spoken != seg.language.split("-")[0].split("_")[0].lower():
            notes.append(f"segment '{seg.id}' is in '{seg.language}' but its voice-over uses '{voice}' "
                         f"({source}); set segments[{i}].voice to choose the voice per segment")
    return notes
