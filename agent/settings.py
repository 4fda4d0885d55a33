"""One settings path: the environment read once into `Settings`, and the command line's changes to a
brief as one typed `Overrides`, applied by one function, `apply_overrides`.

Precedence, lowest to highest, for every choice: the profile's defaults, the environment (the
`BRIEFCUT_*` model variables are defaults), the brief, the command line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.assembly.encoder import X264Preset
from agent.brief import AspectRatio, BackendChoice, Brief
from agent.errors import BriefError

Profile = Literal["preview", "smoke", "gpu"]
DEFAULT_HOME = ".briefcut"
TRUE = {"1", "true", "yes", "on"}
# Settings field -> the environment variable it is read from.
ENV_VARS = {
    "home": "BRIEFCUT_HOME",
    "llm_base_url": "OPENAI_BASE_URL",
    "llm_model": "BRIEFCUT_LLM_MODEL",
    "video_model": "BRIEFCUT_VIDEO_MODEL",
    "audio_model": "BRIEFCUT_AUDIO_MODEL",
    "audio_backend": "BRIEFCUT_AUDIO_BACKEND",
    "clip_model": "BRIEFCUT_CLIP_MODEL",
    "smoke_dir": "BRIEFCUT_SMOKE_DIR",
    "ray_address": "RAY_ADDRESS",
    "sign_cert": "BRIEFCUT_SIGN_CERT",
    "sign_key": "BRIEFCUT_SIGN_KEY",
    "sign_tsa": "BRIEFCUT_SIGN_TSA",
}


ASSETS_ROOT_ENV = "BRIEFCUT_ASSETS_ROOT"  # one folder, or several separated by os.pathsep


def path_list(value: str) -> tuple[Path, ...]:
    """Folders from an os.pathsep-separated value (empty parts dropped)."""
    return tuple(Path(p.strip()).expanduser() for p in value.split(os.pathsep) if p.strip())


class Settings(BaseModel):
    """What this process was told by its environment (and --workdir), read once by `from_env`.

    Agent code asks this object, not `os.environ`. API keys are not settings: they stay in the
    environment and are looked up by name (`environ`) only when a request is made.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: Path = Path(DEFAULT_HOME)
    hub_offline: bool = False
    llm_base_url: str | None = None
    llm_model: str | None = None
    video_model: str | None = None
    audio_model: str | None = None
    audio_backend: str | None = None
    clip_model: str | None = None
    smoke_dir: Path | None = None
    ray_address: str | None = None
    # Folders besides a brief's own that its asset paths (logo, images, font, footage) may point into.
    assets_roots: tuple[Path, ...] = ()
    # C2PA signing of delivered cuts: a PEM certificate chain and its PEM private key (paths; the key's
    # contents are read when a cut is signed and never stored), and an optional timestamp authority URL.
    sign_cert: Path | None = None
    sign_key: Path | None = None
    sign_tsa: str | None = None
    environ: dict[str, str] = Field(default_factory=dict, repr=False, exclude=True)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **given: Any) -> Settings:
        """Settings from `environ` (default: this process's), with `given` values (the CLI's) on top."""
        env = dict(os.environ if environ is None else environ)
        values: dict[str, Any] = {k: env[v].strip() for k, v in ENV_VARS.items() if env.get(v, "").strip()}
        values["hub_offline"] = env.get("HF_HUB_OFFLINE", "").strip().lower() in TRUE
        values["assets_roots"] = path_list(env.get(ASSETS_ROOT_ENV, ""))
        values.update({k: v for k, v in given.items() if v is not None})
        return cls(**values, environ=env)

    def with_assets_roots(self, roots: list[Path] | None) -> Settings:
        """These settings with more allowed assets roots (the command line's `--assets-root`)."""
        if not roots:
            return self
        return self.model_copy(update={"assets_roots": (*self.assets_roots, *(Path(r) for r in roots))})

    @property
    def llm_configured(self) -> bool:
        """Whether an LLM endpoint is named (a base URL or a model). An API key alone does not count:
        many people have OPENAI_API_KEY set for other tools, and briefcut should not start paid calls."""
        return bool(self.llm_base_url or self.llm_model)


class Overrides(BaseModel):
    """What the command line (or a batch) changes in a brief; `apply_overrides` writes it in."""

    model_config = ConfigDict(extra="forbid")

    profile: Profile | None = None
    planner: str | None = None
    llm_model: str | None = None
    video: str | None = None
    video_model: str | None = None
    audio: str | None = None
    audio_model: str | None = None
    clip_model: str | None = None
    resolution: int | None = Field(default=None, ge=64, le=2160)
    formats: list[AspectRatio] | None = Field(default=None, min_length=1)
    variants: int | None = Field(default=None, ge=1, le=20)
    segments: list[str] | None = Field(default=None, min_length=1)
    accept_licenses: list[str] | None = None
    preset: X264Preset | None = None  # the cuts' x264 preset (render.encoder.preset)


def cli_overrides(**values: Any) -> Overrides:
    """Overrides from command-line values; a bad one is a BriefError naming its flag (exit 2)."""
    try:
        return Overrides(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise BriefError(f"--{str(err['loc'][0]).replace('_', '-')}: {err['msg']}") from None


DRAFT_VIDEO = "animatic"


def draft_video(draft: bool, video: str | None) -> str | None:
    """The video backend for `--draft` (the storyboard) and `--video`; the two disagreeing is an error."""
    if draft and video not in (None, DRAFT_VIDEO):
        raise BriefError(f"--draft renders the storyboard ({DRAFT_VIDEO}); it cannot go with --video {video}")
    return DRAFT_VIDEO if draft else video


def apply_overrides(brief: Brief, overrides: Overrides | None) -> Brief:
    """A copy of `brief` with the overrides written into its render, formats, variants and segments.

    A backend named again keeps the brief's other options for it (`--video-model` swaps the model,
    not the steps); a new backend starts from its own defaults.
    """
    if overrides is None:
        return brief
    o = overrides
    data = brief.model_dump()
    render = data["render"]
    render["profile"] = o.profile or render["profile"]
    render["clip_model"] = o.clip_model or render["clip_model"]
    render["encoder"]["preset"] = o.preset or render["encoder"]["preset"]
    for key, backend, model in (("planner", o.planner, o.llm_model), ("video", o.video, o.video_model),
                                ("audio", o.audio, o.audio_model)):  # fmt: skip
        if backend or model:
            render[key] = _choice(render[key], backend or _backend_for(key, model or ""), model)
    data["formats"].update({k: v for k, v in (("resolution", o.resolution), ("aspect_ratios", o.formats)) if v})
    if o.variants:
        data["variants"]["count"] = o.variants
    if o.segments:
        data["segments"] = [brief.segment(s).model_dump() for s in dict.fromkeys(o.segments)]
    if o.accept_licenses:
        data["accept_licenses"] = list(dict.fromkeys([*data["accept_licenses"], *o.accept_licenses]))
    try:
        return Brief.model_validate(data)
    except ValidationError as exc:
        raise BriefError(f"the brief with {o.model_dump(exclude_none=True)}: {exc.errors()[0]['msg']}") from None


def _backend_for(key: str, model: str) -> str:
    """The backend a model named without one runs on."""
    if key == "audio":
        from agent.default_models import audio_backend_for

        return audio_backend_for(model)
    return {"planner": "openai", "video": "diffusers"}[key]


def _choice(current: dict | None, backend: str, model: str | None) -> dict:
    options = dict(current["options"]) if current and current["backend"] == backend else {}
    if model:
        options["model"] = model
    return BackendChoice(backend=backend, options=options).model_dump()
