"""Profiles pick the backends a run uses: preview (offline, CPU), smoke (tiny models), gpu (CUDA).

Precedence, lowest to highest: the profile's defaults (the environment's default models among them),
the brief's `render` section, command-line flags (written into the brief by `apply_overrides`).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator

from agent.assembly.encoder import BEFORE_SETTING, Encoder, profile_encoder
from agent.brief import BackendChoice, Brief, ClipDtype
from agent.default_models import default_clip_model
from agent.settings import Profile, Settings

FAMILY_HINTS = [
    ("wan", "wan"), ("ltx", "ltx"), ("cogvideo", "cogvideox"), ("mochi", "mochi"),
    ("hunyuan", "hunyuan"), ("animatediff", "animatediff"), ("animate-diff", "animatediff"),
]  # fmt: skip


class ClipChoice(BaseModel):
    """The CLIP model scoring uses and the precision it runs in: one choice, one loaded embedder."""

    model: str | None = None  # a hub id or a local path; None: CLIP metrics are not computed
    dtype: ClipDtype = "auto"


class Choices(BaseModel):
    """The backends one run uses, resolved once and stored with the run."""

    profile: Profile
    planner: BackendChoice
    video: BackendChoice
    audio: BackendChoice
    # Tried in order when `audio` fails (then the offline synth): model -> next model -> synth.
    audio_fallbacks: list[BackendChoice] = Field(default_factory=list)
    voice: BackendChoice | None = None
    clip: ClipChoice = Field(default_factory=ClipChoice)
    family: str = "animatic"
    # The cuts' encoder; a run stored before this was a setting was encoded as BEFORE_SETTING says.
    encoder: Encoder = Field(default_factory=lambda: Encoder(**BEFORE_SETTING))
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _stored_before_clip_choice(cls, data: Any) -> Any:
        """Runs stored before the CLIP choice was one field name only the model."""
        if isinstance(data, dict) and "clip_model" in data:
            data = dict(data)
            data.setdefault("clip", {"model": data.pop("clip_model")})
        return data


def detect_profile() -> Profile:
    """`gpu` where a CUDA GPU answers, else `preview`. Imports torch only if a driver is present."""
    if not shutil.which("nvidia-smi"):
        return "preview"
    try:
        import torch

        return "gpu" if torch.cuda.is_available() else "preview"
    except ImportError:
        return "preview"


def resolve_choices(brief: Brief, settings: Settings, models_dir: Path | None = None) -> Choices:
    """The profile's defaults (the environment's models among them), then the brief's render section.

    Command-line choices reach this already written into the brief (`agent.settings.apply_overrides`).
    """
    name: Profile = brief.render.profile or detect_profile()
    base = profile_defaults(name, brief, settings, models_dir)
    for key in ("planner", "video", "audio", "voice"):
        choice = getattr(brief.render, key)
        if choice is not None:
            base[key] = choice
    if brief.assets.footage is not None and brief.render.video is None and name == "preview":
        base["video"] = BackendChoice(backend="footage")  # the brand's own clips, ranked per shot
    if brief.render.audio is not None:
        base["audio_fallbacks"] = []  # a sound chosen by name: its own failure goes straight to synth
    if brief.render.clip_model:
        base["clip_model"] = brief.render.clip_model
    base["family"] = video_family(base["video"])
    base["clip"] = ClipChoice(model=base.pop("clip_model", None), dtype=brief.scoring.clip_dtype)
    base["encoder"] = profile_encoder(name, brief.render.encoder.preset, brief.render.encoder.crf)
    return Choices(profile=name, **base)


def profile_defaults(name: str, brief: Brief, settings: Settings, models_dir: Path | None) -> dict[str, Any]:
    """The default backend choices of one profile."""
    planner = default_planner(settings)
    notes: list[str] = []
    voice = None
    if brief.audio.voice_over:
        if shutil.which("espeak-ng"):
            voice = BackendChoice(backend="espeak-ng")
        else:
            notes.append("voice-over skipped: espeak-ng is not installed (apt-get install espeak-ng)")
    if name == "preview":
        # Motion graphics from the brand's own assets; the storyboard (`animatic`) is the draft mode.
        return {
            "planner": planner, "video": BackendChoice(backend="motion"),
            "audio": BackendChoice(backend="synth"), "voice": voice,
            "clip_model": default_clip_model(settings), "notes": notes,
        }  # fmt: skip
    if name == "smoke":
        from agent.smoke import smoke_profile_choices

        # BRIEFCUT_SMOKE_DIR shares one set of tiny models between workspaces (tests, CI).
        cache = settings.smoke_dir or (models_dir or settings.home / "models") / "smoke"
        smoke = smoke_profile_choices(Path(cache))
        return {"planner": planner, "voice": voice, "notes": notes, **smoke}
    if name == "gpu":
        from agent.default_models import gpu_profile_choices

        return {"planner": planner, "voice": voice, "notes": notes, **gpu_profile_choices(settings)}
    raise ValueError(f"unknown profile '{name}'; known: preview, smoke, gpu")


def default_planner(settings: Settings) -> BackendChoice:
    """The LLM planner when an endpoint is configured, else the template planner."""
    if settings.llm_configured:
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
