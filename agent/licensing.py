"""Licenses against the brief's `usage`: a run whose weights forbid that use is refused before anything
renders (exit 2, naming the backend, model and license), unless the brief or the command line accepts
that model's license by name (`--accept-license MODEL`); the acceptance is recorded in the provenance.

A license briefcut does not know is not a refusal (a team's own fine-tune has no card here): it is
said on stderr and recorded, so nobody mistakes it for a cleared one.
"""

from __future__ import annotations

from typing import Any

from agent.errors import LicenseRefused
from agent.voices import voice_for
from generators.licenses import declared, lookup


def run_licenses(brief: Any, choices: Any) -> list[dict[str, Any]]:
    """Every license a run's media could be made under: each backend's (the video and sound fallback chains and the
    voices the segments speak with included), and the LoRA adapters the brief names; deduplicated."""
    from agent.brief import BackendChoice
    from agent.render import FALLBACK_VIDEO
    from generators.base import REGISTRIES

    fallbacks = [("video", BackendChoice(backend=b)) for b in FALLBACK_VIDEO if b != choices.video.backend]
    picked = [("video", choices.video), *fallbacks, ("audio", choices.audio),
              *[("audio", c) for c in choices.audio_fallbacks]]  # fmt: skip
    if choices.voice is not None and brief.audio.voice_over:
        picked.append(("voice", choices.voice))
    voices = sorted({voice_for(brief, s)[0] for s in brief.segments})
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for kind, choice in picked:
        backend = REGISTRIES[kind].create(choice.backend, choice.options)
        extra = backend.keyframe_licenses() if kind == "video" and hasattr(backend, "keyframe_licenses") and \
            brief.render.keyframes != "off" else []  # fmt: skip
        for lic in [*backend.licenses(voices if kind == "voice" else None), *extra]:
            found.setdefault((lic["model"], lic["role"]), {"kind": kind, "backend": choice.backend, **lic})
    for lora in brief.render.lora:
        lic = declared(lora.path_or_id, "lora", lookup(lora.path_or_id))
        found.setdefault((lora.path_or_id, "lora"), {"kind": "video", "backend": choices.video.backend, **lic})
    return list(found.values())


def check_licenses(brief: Any, choices: Any) -> list[str]:
    """Refuse the run (LicenseRefused, exit 2) when a license forbids the brief's usage and is not accepted;
    returns notes to show: unknown licenses, accepted ones, and restrictions worth knowing (revenue caps,
    territories, gated access)."""
    usage, accepted = brief.usage, set(brief.accept_licenses)
    refused, models, notes = [], [], []
    for lic in run_licenses(brief, choices):
        allowed = _permits(lic, usage)
        where = f"{lic['kind']} backend '{lic['backend']}', {lic['role']} '{lic['model']}'"
        if allowed is False and lic["model"] not in accepted:
            refused.append(f"{where}: {lic['name']} does not allow {usage} use ({lic['url'] or lic['source']})")
            models.append(lic["model"])
        elif allowed is False:
            notes.append(f"license accepted by you (--accept-license): {where}: {lic['name']} does not allow "
                         f"{usage} use")
        elif allowed is None:
            notes.append(f"license unknown for {where}: {lic['note'] or lic['restrictions'][0]}; "
                         f"check it before {usage} use")
        elif usage != "non-commercial":
            notes += [f"license note, {where}: {lic['name']}: {r}" for r in lic["restrictions"]]
    if refused:
        fix = " ".join(f"--accept-license {m}" for m in dict.fromkeys(models))
        raise LicenseRefused(
            f"usage '{usage}' (the brief's `usage`) is not allowed: {'; '.join(refused)}. Choose other models, set "
            f"`usage:` to what the cuts are for, or accept the license yourself: {fix}")
    return notes


def _permits(lic: dict[str, Any], usage: str) -> bool | None:
    if usage == "non-commercial":
        return None if lic["commercial"] is None else True
    if usage == "internal":
        return lic["internal"] if lic["internal"] is not None else lic["commercial"]
    return lic["commercial"]


def provenance_licenses(brief: Any, choices: Any) -> dict[str, Any]:
    """What goes into every cut's provenance: the usage, each license used, and what was accepted."""
    return {"usage": brief.usage, "accepted": list(brief.accept_licenses),
            "licenses": [{k: lic[k] for k in ("kind", "backend", "model", "role", "name", "url", "commercial", "source")}
                         for lic in run_licenses(brief, choices)]}
