"""Profiles pick the backends a run uses: preview (offline, CPU), smoke (tiny models), gpu (CUDA).

Precedence, lowest to highest: the profile's defaults, the brief's `render` section, CLI flags.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from agent.brief import BackendChoice, Brief

Profile = Literal["preview", "smoke", "gpu"]
DEFAULT_CLIP = "openai/clip-vit-base-patch32"
FAMILY_HINTS = [
    ("wan", "wan"), ("ltx", "ltx"), ("cogvideo", "cogvideox"), ("mochi", "mochi"),
    ("hunyuan", "hunyuan"), ("animatediff", "animatediff"), ("animate-diff", "animatediff"),
]  # fmt: skip


class Choices(BaseModel):
    """The backends one run uses, resolved once and stored with the run."""

    profile: Profile
    planner: BackendChoice
    video: BackendChoice
    audio: BackendChoice
    # Tried in order when `audio` fails (then the offline synth): model -> next model -> synth.
    audio_fallbacks: list[BackendChoice] = Field(default_factory=list)
    voice: BackendChoice | None = None
    clip_model: str | None = None
    family: str = "animatic"
    notes: list[str] = Field(default_factory=list)


def detect_profile() -> Profile:
    """`gpu` where a CUDA GPU answers, else `preview`. Imports torch only if a driver is present."""
    if not shutil.which("nvidia-smi"):
        return "preview"
    try:
        import torch

        return "gpu" if torch.cuda.is_available() else "preview"
    except ImportError:
        return "preview"


def resolve_choices(
    brief: Brief,
    profile: str | None = None,
    overrides: Mapping[str, BackendChoice | None] | None = None,
    env: Mapping[str, str] | None = None,
    models_dir: Path | None = None,
) -> Choices:
    """Resolve profile defaults, then the brief's render settings, then explicit overrides."""
    env = os.environ if env is None else env
    name: Profile = (profile or brief.render.profile or detect_profile())  # type: ignore[assignment]
    base = profile_defaults(name, brief, env, models_dir)
    for key in ("planner", "video", "audio", "voice"):
        choice = getattr(brief.render, key)
        if choice is not None:
            base[key] = choice
    for key, choice in (overrides or {}).items():
        if choice is not None:
            base[key] = choice
    if brief.render.audio is not None or (overrides or {}).get("audio") is not None:
        base["audio_fallbacks"] = []  # a sound chosen by name: its own failure goes straight to synth
    if brief.render.clip_model:
        base["clip_model"] = brief.render.clip_model
    if env.get("BRIEFCUT_CLIP_MODEL") and name != "smoke":
        base["clip_model"] = env["BRIEFCUT_CLIP_MODEL"]
    base["family"] = video_family(base["video"])
    return Choices(profile=name, **base)


def profile_defaults(name: str, brief: Brief, env: Mapping[str, str], models_dir: Path | None) -> dict[str, Any]:
    """The default backend choices of one profile."""
    planner = default_planner(env)
    notes: list[str] = []
    voice = None
    if brief.audio.voice_over:
        if shutil.which("espeak-ng"):
            voice = BackendChoice(backend="espeak-ng")
        else:
            notes.append("voice-over skipped: espeak-ng is not installed (apt-get install espeak-ng)")
    if name == "preview":
        return {
            "planner": planner, "video": BackendChoice(backend="animatic"),
            "audio": BackendChoice(backend="synth"), "voice": voice,
            "clip_model": env.get("BRIEFCUT_CLIP_MODEL", DEFAULT_CLIP), "notes": notes,
        }  # fmt: skip
    if name == "smoke":
        from agent.smoke import smoke_profile_choices

        # BRIEFCUT_SMOKE_DIR shares one set of tiny models between workspaces (tests, CI).
        cache = env.get("BRIEFCUT_SMOKE_DIR") or (models_dir or Path(".briefcut/models")) / "smoke"
        smoke = smoke_profile_choices(Path(cache))
        return {"planner": planner, "voice": voice, "notes": notes, **smoke}
    if name == "gpu":
        from agent.models import gpu_profile_choices

        return {"planner": planner, "voice": voice, "notes": notes, **gpu_profile_choices(env)}
    raise ValueError(f"unknown profile '{name}'; known: preview, smoke, gpu")


def default_planner(env: Mapping[str, str]) -> BackendChoice:
    """The LLM planner when an endpoint is configured, else the template planner."""
    if env.get("OPENAI_BASE_URL") or env.get("BRIEFCUT_LLM_MODEL"):
        return BackendChoice(backend="openai")
    return BackendChoice(backend="template")


def video_family(choice: BackendChoice) -> str:
    """The model family a video choice renders with, for prompt style and snapping."""
    if choice.backend != "diffusers":
        return choice.backend
    if choice.options.get("family"):
        return str(choice.options["family"])
    model = str(choice.options.get("model", "")).lower()
    for hint, family in FAMILY_HINTS:
        if re.search(hint, model):
            return family
    return "wan"


def check_choices(choices: Choices) -> None:
    """Fail before any work when a backend name is unknown or its options do not validate."""
    from agent.planners import PLANNERS
    from generators.base import REGISTRIES

    PLANNERS.create(choices.planner.backend, choices.planner.options)
    for kind in ("video", "audio", "voice"):
        choice = getattr(choices, kind)
        if choice is not None:
            REGISTRIES[kind].create(choice.backend, choice.options)
