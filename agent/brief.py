"""The creative brief: its schema (pydantic v2, extra="forbid") and a safe loader with clear errors."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic import (
    Strict as StrictType,
)
from pydantic_core import PydanticCustomError

from agent.assembly.encoder import Crf, X264Preset
from agent.brief_yaml import MAX_BRIEF_BYTES, Places, at, nearest_place, parse_brief_yaml, read_brief_bytes
from agent.errors import BriefError

AspectRatio = Literal["16:9", "9:16", "1:1", "4:5"]
ClipDtype = Literal["auto", "fp32", "bf16", "int8"]
HexColour = Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$")]
MIN_SHOT_SECONDS = 0.75
MAX_DURATION_S = 180.0


class Strict(BaseModel):
    """Brief sections: unknown keys refused, no type coercion (`true` is not 1), no NaN or infinity."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


# A path written as text in the brief (strict mode would want a Path object).
FilePath = Annotated[Path, StrictType(False)]


class FieldProblem(ValueError):
    """A check of the whole brief that fails at one field: the loader points at that field's line."""

    def __init__(self, loc: tuple, message: str) -> None:
        super().__init__(message)
        self.loc = loc


class Brand(Strict):
    name: str = Field(min_length=1)
    palette: list[HexColour] = Field(default_factory=lambda: ["#111111", "#F5F5F5"], min_length=1)
    logo: FilePath | None = None
    tone: list[str] = Field(default_factory=list)
    font: FilePath | None = None


class Product(Strict):
    name: str = Field(min_length=1)
    description: str = ""
    reference_image: FilePath | None = None


class Assets(Strict):
    """The brand's own media for the pictures: a folder of clips and stills (resolved like every path)."""

    footage: FilePath | None = None


class OnScreen(Strict):
    """A must-include item that is text every cut shows (a disclaimer, a legal line) and its subtitles carry."""

    on_screen: str = Field(min_length=1)


# A must-include item: a plain string is something the pictures show (it goes into prompts);
# `{on_screen: "..."}` is a line of text every cut shows on its end card and in its .srt.
Requirement = str | OnScreen


class SegmentOverrides(Strict):
    message: str | None = None
    call_to_action: str | None = None
    music_mood: str | None = None
    must_include: list[Requirement] | None = None
    must_avoid: list[str] | None = None


class Segment(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = ""
    # How the copy names this audience, in the segment's language ("corredores de Madrid"); the
    # description by default. Hooks and prompts speak to it.
    audience: str | None = None
    tone: str = ""
    # The language of the segment's copy (BCP 47, e.g. ja, es, pt-BR); unset means English unless the
    # brief's audio.voice says otherwise (see agent.voices for the precedence).
    language: str | None = None
    # This segment's voice-over voice (an espeak-ng language or voice, or a piper voice name or .onnx path).
    voice: str | None = None
    overrides: SegmentOverrides = Field(default_factory=SegmentOverrides)


VariantAxis = Literal["hook", "cta", "music", "camera", "order"]
# What a plain `variants: N` varies: the hook's angle, the call to action's wording, the camera moves
# and the order of the middle beats (the music keeps the brief's mood unless `music` is asked for).
DEFAULT_AXES: list[VariantAxis] = ["hook", "cta", "camera", "order"]


class Variants(Strict):
    """How many variants each segment gets and what makes them differ; copy given here is used as given."""

    count: int = Field(default=1, ge=1, le=20)
    vary: list[VariantAxis] = Field(default_factory=lambda: list(DEFAULT_AXES), min_length=1)
    hooks: list[str] = Field(default_factory=list)  # variant i opens with hooks[i % len]
    ctas: list[str] = Field(default_factory=list)  # variant i's call to action
    moods: list[str] = Field(default_factory=list)  # variant i's music mood

    @model_validator(mode="before")
    @classmethod
    def _plain_count(cls, data: Any) -> Any:
        """`variants: 3` means three variants on the default axes; another scalar (true, 2.5) is refused."""
        if isinstance(data, int) and not isinstance(data, bool):
            return {"count": data}
        if not isinstance(data, dict | Variants):
            raise PydanticCustomError("int_type", "Input should be a valid integer (a count), or a mapping with "
                                                  "count and vary")  # fmt: skip
        return data

    @field_validator("vary")
    @classmethod
    def _unique_axes(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))


class Formats(Strict):
    aspect_ratios: list[AspectRatio] = Field(default_factory=lambda: ["16:9"], min_length=1)
    duration_s: float = Field(gt=0, le=MAX_DURATION_S)
    fps: Literal[24, 25, 30] = 24
    # Height of a landscape cut (the short side); other ratios keep the same pixel count class.
    resolution: int = Field(default=720, ge=64, le=2160)

    @field_validator("aspect_ratios")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("aspect ratios repeat")
        return v


class Audio(Strict):
    music_mood: str = "uplifting"
    sound_notes: str = ""
    voice_over: bool = False
    # The voice for every segment without its own `voice` (see agent.voices for the precedence).
    voice: str | None = None
    loudness_lufs: float = Field(default=-14.0, ge=-31.0, le=-9.0)


class BackendChoice(Strict):
    backend: str
    options: dict[str, Any] = Field(default_factory=dict)


class Lora(Strict):
    path_or_id: str
    weight: float = 1.0


class EncoderChoice(Strict):
    """The cuts' x264 preset and CRF; what is unset comes from the profile (agent.assembly.encoder)."""

    preset: X264Preset | None = None
    crf: Crf | None = None


class Render(Strict):
    profile: Literal["preview", "smoke", "gpu"] | None = None
    planner: BackendChoice | None = None
    video: BackendChoice | None = None
    audio: BackendChoice | None = None
    voice: BackendChoice | None = None
    clip_model: str | None = None
    lora: list[Lora] = Field(default_factory=list)
    takes: int = Field(default=1, ge=1, le=8)
    max_failed_retries: int = Field(default=2, ge=0, le=10)
    # Keyframe first, then image-to-video (diffusers video): auto for the shots that show the product (the
    # product image composed into the keyframe), always for every shot, off for text-to-video only.
    keyframes: Literal["auto", "always", "off"] = "auto"
    encoder: EncoderChoice = Field(default_factory=EncoderChoice)


def _registered_metric(name: str) -> str:
    """A metric name the scorecard knows; else an error suggesting the closest registered name."""
    from evaluators.registry import METRICS

    if name not in METRICS.names():
        raise PydanticCustomError("unknown_metric", METRICS.unknown_message(name))
    return name


MetricName = Annotated[str, AfterValidator(_registered_metric)]


class Scoring(Strict):
    weights: dict[MetricName, float] = Field(default_factory=dict)
    thresholds: dict[MetricName, float] = Field(default_factory=dict)
    frames_per_take: int = Field(default=8, ge=2, le=64)
    # CLIP precision: auto (bf16 where the CPU has it natively, else fp32), or int8 on CPU (~1.7x faster
    # on AVX2, image embeddings within ~3e-4 cosine of fp32 on random weights; opt-in).
    clip_dtype: ClipDtype = "auto"


class Refine(Strict):
    max_rounds: int = Field(default=1, ge=0, le=10)
    max_rerenders: int = Field(default=4, ge=0, le=100)
    threshold: float = Field(default=0.6, ge=0.0, le=1.0)


class Persona(Strict):
    """One simulated viewer: a name and who they are (age, habits, what they care about)."""

    name: str = Field(min_length=1, max_length=80)
    description: str = Field(min_length=1, max_length=600)


class Audience(Strict):
    """The persona panel: simulated viewers per segment (an LLM heuristic) that rank the variants."""

    # auto: when an LLM endpoint is configured; on: always (no endpoint: "not computed", with why); off: never.
    panel: Literal["auto", "on", "off"] = "auto"
    # Given personas per segment id; a segment without any gets `personas_per_segment` written by the LLM.
    personas: dict[str, list[Persona]] = Field(default_factory=dict)
    personas_per_segment: int = Field(default=4, ge=1, le=20)
    samples: int = Field(default=2, ge=1, le=10)  # answers per persona and variant (temperature varies them)
    images: bool = False  # send each cut's contact sheet (one image per shot) to endpoints that accept images
    # LLM options for the panel (model, base_url, max_tokens, temperature, ...); the planner's when unset.
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("panel", mode="before")
    @classmethod
    def _yaml_switch(cls, v: Any) -> Any:
        """YAML reads a bare `off` / `on` as a boolean: take it as the word meant."""
        return {False: "off", True: "on"}.get(v, v) if isinstance(v, bool) else v

    @field_validator("options")
    @classmethod
    def _llm_options(cls, v: dict[str, Any]) -> dict[str, Any]:
        if v:
            from agent.llm import LLMSettings  # (only a brief that sets options pays for the import)

            LLMSettings.model_validate(v)
        return v


class Brief(Strict):
    """A creative brief. Paths are resolved relative to the brief file by `load_brief`."""

    brand: Brand
    product: Product
    assets: Assets = Field(default_factory=Assets)
    message: str = Field(min_length=1)
    call_to_action: str = Field(min_length=1)
    segments: list[Segment] = Field(min_length=1)
    formats: Formats
    variants: Variants = Field(default_factory=Variants)
    shots: int | None = Field(default=None, ge=1, le=40)
    must_include: list[Requirement] = Field(default_factory=list)
    must_avoid: list[str] = Field(default_factory=list)
    # strict: a must-avoid term in the brief's own copy refuses the brief; warn: it runs, with a note.
    compliance: Literal["strict", "warn"] = "strict"
    audio: Audio = Field(default_factory=Audio)
    render: Render = Field(default_factory=Render)
    scoring: Scoring = Field(default_factory=Scoring)
    refine: Refine = Field(default_factory=Refine)
    audience: Audience = Field(default_factory=Audience)
    seed: int = Field(default=0, ge=0, lt=2**31)
    # How the cuts will be used; a run whose models' licenses forbid it is refused before it renders.
    # commercial (the default: an ad tool's cuts are ads) | non-commercial | internal (inside an organisation).
    usage: Literal["commercial", "non-commercial", "internal"] = "commercial"
    # Models (hub ids or paths) whose license you accept for this usage anyway; recorded in the provenance.
    accept_licenses: list[str] = Field(default_factory=list)
    # An invisible watermark in every frame carrying the cut's key (`briefcut verify` reads it).
    watermark: bool = True

    @model_validator(mode="after")
    def _possible(self) -> Brief:
        ids = [s.id for s in self.segments]
        for i, sid in enumerate(ids):
            if sid in ids[:i]:
                raise FieldProblem(("segments", i, "id"), f"segment ids repeat: '{sid}' is also segment {ids.index(sid)}")
        if self.formats.duration_s < 2.0:
            raise FieldProblem(("formats", "duration_s"),
                               f"duration {self.formats.duration_s:g} s is too short for a cut (minimum 2 s)")
        if self.shots is not None:
            need = self.shots * MIN_SHOT_SECONDS + end_card_seconds(self.formats.duration_s)
            if need > self.formats.duration_s:
                raise FieldProblem(("shots",), f"{self.shots} shots cannot fit {self.formats.duration_s:g} s "
                                               f"(each shot needs at least {MIN_SHOT_SECONDS} s plus the end card)")
        unknown = sorted(set(self.audience.personas) - set(ids))
        if unknown:
            raise FieldProblem(("audience", "personas"), f"names segments the brief does not have: {unknown}; "
                                                         f"segments: {ids}")
        if self.formats.duration_s < 2.0:
            raise FieldProblem(("formats", "duration_s"), f"duration {self.formats.duration_s:g} s is too short "
                                                          "for a cut (minimum 2 s)")
        return self

    def segment(self, segment_id: str) -> Segment:
        for s in self.segments:
            if s.id == segment_id:
                return s
        raise BriefError(f"no segment '{segment_id}' in the brief; segments: {[s.id for s in self.segments]}")


def end_card_seconds(duration_s: float) -> float:
    """The end card's length: a fifth of the cut, between 1 and 3 seconds."""
    return round(min(3.0, max(1.0, duration_s / 5)), 2)


def brief_hash(brief: Brief) -> str:
    """A stable hash of the brief's content (for provenance and cache keys)."""
    return hashlib.sha256(brief.model_dump_json().encode()).hexdigest()[:16]


# Loading -------------------------------------------------------------------------------------

# Every field that names a file or folder on disk, and what it must be. Each is resolved relative to
# the brief, must lie (after symlinks) inside the brief's folder or an allowed assets root, and is
# verified as its kind when the brief loads (agent.assets: "image", "font" or "folder"). A new path
# field is one entry here.
ASSET_PATHS: dict[tuple[str, ...], str] = {
    ("brand", "logo"): "image",
    ("brand", "font"): "font",
    ("product", "reference_image"): "image",
    ("assets", "footage"): "folder",
}


def load_brief(path: str | Path, assets_roots: Sequence[Path] = ()) -> Brief:
    """Read, validate and resolve a brief file; every failure is a BriefError naming file and place.

    Asset paths must lie inside the brief's folder or one of `assets_roots`."""
    path = Path(path)
    data, places = parse_brief_yaml(path, read_brief_bytes(path))
    return validate_brief(data, path, places, assets_roots=assets_roots)



def load_brief_text(text: str, path: Path, assets_root: Path | None = None) -> Brief:
    """A brief given as text (an upload) that reads as the file at `path`: errors name `path`, and
    relative asset paths resolve beside it; with `assets_root`, asset paths may lie anywhere inside it."""
    raw = text.encode("utf-8")
    if len(raw) > MAX_BRIEF_BYTES:
        raise BriefError(f"{path}: the brief is over the limit of {MAX_BRIEF_BYTES} bytes")
    data, places = parse_brief_yaml(path, raw)
    return validate_brief(data, path, places, assets_roots=[assets_root] if assets_root else [])


def validate_brief(data: Any, path: Path, places: Places | None = None, *, assets_roots: Sequence[Path] = (),
                   confine: bool = True) -> Brief:  # fmt: skip
    """Validate parsed data as a brief and resolve its asset paths relative to `path`.

    `confine=False` is for a brief stored with a run (its paths were confined when it was loaded):
    they are still checked to exist and be what they claim."""
    from agent.assets import check_assets

    places = places or {}
    if not isinstance(data, dict):
        raise BriefError(f"{at(path, places.get(()))}: a brief is a mapping of fields, got {type(data).__name__}")
    try:
        brief = Brief.model_validate(data)
    except ValidationError as exc:
        raise BriefError(_first_error(exc, path, places)) from None
    check_assets(brief, path, places, assets_roots if confine else None)
    from agent.compliance import check_brief  # (imports this module)

    check_brief(brief, path, places)
    return brief


def _first_error(exc: ValidationError, path: Path, places: Places) -> str:
    """One line for the most telling error: an unknown key first (it explains the missing ones)."""
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    loc = tuple(p for p in err["loc"] if p != "[key]")  # a bad mapping key is located at the key
    message = err["msg"].removeprefix("Value error, ")
    problem = (err.get("ctx") or {}).get("error")
    if isinstance(problem, FieldProblem):  # a whole-brief check that names its field
        loc, message = (*loc, *problem.loc), str(problem)
    elif err["type"] == "extra_forbidden":
        message = f"unknown field{_did_you_mean(loc)}"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{at(path, nearest_place(places, loc))}: {_field_path(loc) or 'brief'}: {message}{more}"


def _did_you_mean(loc: tuple) -> str:
    """' (did you mean 'x'?); known: a, b, c' for an unknown key, from the model at its place."""
    import difflib

    model = _model_at(loc[:-1])
    if model is None:
        return ""
    known = list(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"{hint}; known: {', '.join(known)}"


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The schema model found at a field path of the brief (list indexes pass through)."""
    model: type[BaseModel] | None = Brief
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part)) if model else None
        model = _model_in(field.annotation) if field else None
        if model is None:
            return None
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation (Optional, list, union, Annotated), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if found := _model_in(arg):
            return found
    return None


def _field_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def slug(text: str) -> str:
    """A file-name-safe slug."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"
