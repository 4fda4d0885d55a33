"""The creative brief: its schema (pydantic v2, extra="forbid") and a safe loader with clear errors."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from agent.errors import BriefError

AspectRatio = Literal["16:9", "9:16", "1:1", "4:5"]
ClipDtype = Literal["auto", "fp32", "bf16", "int8"]
HexColour = Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$")]
MIN_SHOT_SECONDS = 0.75
MAX_DURATION_S = 180.0


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Brand(Strict):
    name: str = Field(min_length=1)
    palette: list[HexColour] = Field(default_factory=lambda: ["#111111", "#F5F5F5"], min_length=1)
    logo: Path | None = None
    tone: list[str] = Field(default_factory=list)
    font: Path | None = None


class Product(Strict):
    name: str = Field(min_length=1)
    description: str = ""
    reference_image: Path | None = None


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
    tone: str = ""
    # The language of the segment's copy (BCP 47, e.g. ja, es, pt-BR); unset means English unless the
    # brief's audio.voice says otherwise (see agent.voices for the precedence).
    language: str | None = None
    # This segment's voice-over voice (an espeak-ng language or voice, or a piper voice name or .onnx path).
    voice: str | None = None
    overrides: SegmentOverrides = Field(default_factory=SegmentOverrides)


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


class Brief(Strict):
    """A creative brief. Paths are resolved relative to the brief file by `load_brief`."""

    brand: Brand
    product: Product
    message: str = Field(min_length=1)
    call_to_action: str = Field(min_length=1)
    segments: list[Segment] = Field(min_length=1)
    formats: Formats
    variants: int = Field(default=1, ge=1, le=20)
    shots: int | None = Field(default=None, ge=1, le=40)
    must_include: list[Requirement] = Field(default_factory=list)
    must_avoid: list[str] = Field(default_factory=list)
    # strict: a must-avoid term in the brief's own copy refuses the brief; warn: it runs, with a note.
    compliance: Literal["strict", "warn"] = "strict"
    audio: Audio = Field(default_factory=Audio)
    render: Render = Field(default_factory=Render)
    scoring: Scoring = Field(default_factory=Scoring)
    refine: Refine = Field(default_factory=Refine)
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
        if len(set(ids)) != len(ids):
            raise ValueError(f"segment ids repeat: {ids}")
        if self.shots is not None:
            need = self.shots * MIN_SHOT_SECONDS + end_card_seconds(self.formats.duration_s)
            if need > self.formats.duration_s:
                raise ValueError(
                    f"{self.shots} shots cannot fit {self.formats.duration_s:g} s "
                    f"(each shot needs at least {MIN_SHOT_SECONDS} s plus the end card)"
                )
        if self.formats.duration_s < 2.0:
            raise ValueError(f"duration {self.formats.duration_s:g} s is too short for a cut (minimum 2 s)")
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

MAX_BRIEF_BYTES = 1_000_000


MAX_EXPANDED_NODES = 100_000


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes in the document once aliases are expanded (memoised, so a bomb is measured cheaply)."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1  # guards recursive anchors
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(v, memo) for v in node.value)
    else:
        size = 1
    memo[id(node)] = size
    return size


def load_brief(path: str | Path) -> Brief:
    """Read, validate and resolve a brief file; every failure is a BriefError naming file and place."""
    path = Path(path)
    if not path.is_file():
        raise BriefError(f"{path}: no such brief file")
    text = path.read_text(encoding="utf-8", errors="replace")
    if len(text) > MAX_BRIEF_BYTES:
        raise BriefError(f"{path}: brief is larger than {MAX_BRIEF_BYTES} bytes")
    data, lines = _parse_yaml(path, text)
    return validate_brief(data, path, lines)


def validate_brief(data: Any, path: Path, lines: dict[tuple, int] | None = None) -> Brief:
    """Validate parsed data as a brief and resolve its file paths relative to `path`."""
    if not isinstance(data, dict):
        raise BriefError(f"{path}: a brief is a mapping of fields, got {type(data).__name__}")
    try:
        brief = Brief.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(p for p in err["loc"] if p != "[key]")  # a bad mapping key is located at the key
        where = _field_path(loc)
        line = _nearest_line(lines or {}, loc)
        at = f"{path}:{line}" if line else str(path)
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise BriefError(f"{at}: {where or 'brief'}: {err['msg']}{more}") from None
    brief = _resolve_paths(brief, path, lines or {})
    from agent.compliance import check_brief  # (imports this module)

    check_brief(brief, path, lines or {})
    return brief


def _parse_yaml(path: Path, text: str) -> tuple[Any, dict[tuple, int]]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise BriefError(f"{path}: the brief is empty")
        if _expanded_size(node, {}) > MAX_EXPANDED_NODES:
            raise BriefError(
                f"{path}: too many aliases: the brief expands to over {MAX_EXPANDED_NODES} values (an alias bomb?)"
            )
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = (exc.problem or str(exc)).strip()
        if "could not determine a constructor" in problem:
            problem = f"tag not allowed (briefs are plain YAML): {problem.split('tag')[-1].strip()}"
        raise BriefError(f"{path}{line}: YAML syntax: {problem}") from None
    except yaml.YAMLError as exc:
        raise BriefError(f"{path}: YAML: {exc}") from None
    finally:
        loader.dispose()
    return data, _line_index(node)


def _line_index(node: yaml.Node, prefix: tuple = ()) -> dict[tuple, int]:
    """Map each field path in the document to its 1-based line, for validation messages."""
    index = {prefix: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            index[prefix + (key.value,)] = key.start_mark.line + 1
            index.update({k: v for k, v in _line_index(value, prefix + (key.value,)).items() if k != prefix + (key.value,)})
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            index.update(_line_index(item, prefix + (i,)))
    return index


def _nearest_line(lines: dict[tuple, int], loc: tuple) -> int | None:
    loc = tuple(str(x) if not isinstance(x, int) else x for x in loc)
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def _field_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _resolve_paths(brief: Brief, path: Path, lines: dict[tuple, int]) -> Brief:
    base = path.resolve().parent
    fields = [
        (("brand", "logo"), brief.brand, "logo"),
        (("brand", "font"), brief.brand, "font"),
        (("product", "reference_image"), brief.product, "reference_image"),
    ]
    for loc, owner, attr in fields:
        value = getattr(owner, attr)
        if value is None:
            continue
        resolved = value if value.is_absolute() else (base / value)
        if not resolved.is_file():
            line = _nearest_line(lines, loc)
            at = f"{path}:{line}" if line else str(path)
            raise BriefError(f"{at}: {'.'.join(loc)}: file not found: {resolved}")
        setattr(owner, attr, resolved)
    return brief


def slug(text: str) -> str:
    """A file-name-safe slug."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"
