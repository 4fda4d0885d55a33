"""The generator seams: request/take types, backend base classes and the registry by name.

A backend is a small class with a `name`, a nested pydantic `Options` (extra="forbid") and one
method. Heavy imports (torch, diffusers, transformers) happen inside a backend's `load()`, never
at module import, so listing backends stays instant.
"""

from __future__ import annotations

import importlib
import json
import threading
from abc import ABC, abstractmethod
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from generators.errors import (
    BackendOptionsError,
    BriefcutError,
    MissingDependency,
    ModelUnavailable,
    UnknownBackend,
)

# 1. Requests and takes -----------------------------------------------------------------------


class ShotRequest(BaseModel):
    """Everything a video backend needs to render one take of one shot."""

    model_config = ConfigDict(extra="forbid")

    prompt: str
    negative_prompt: str = ""
    seconds: float = Field(gt=0)
    fps: int = 24
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    seed: int = 0
    camera: str = "static"
    # Storyboard hints: diffusion models ignore them, the animatic draws them.
    title: str = ""
    caption: str = ""
    palette: list[str] = Field(default_factory=list)
    shot_index: int = 0
    lora: list[dict[str, Any]] = Field(default_factory=list)
    # The client's product and brand, for backends that put them on screen (motion graphics from the
    # brand's assets, keyframe-first image-to-video). Backends that don't use them list them in
    # `cache_ignores`; the render path hashes the files' contents, not their paths, into cache keys.
    role: str = "scene"
    shows_product: bool = False
    product_name: str = ""
    product_image: Path | None = None
    brand_name: str = ""
    logo: Path | None = None
    # The copy's language (BCP 47; picks regional glyphs and line breaking) and the brand's font file,
    # for backends that set type.
    language: str | None = None
    font: Path | None = None
    # False when the caption is the previous shot's, already on screen: a backend that sets type shows
    # it in place instead of animating it in again.
    caption_enters: bool = True
    # The brand's own clips and stills that match this shot, best first (ranked by the agent, by CLIP or
    # by their words: `footage_ranking` says which), for a backend that cuts footage.
    footage: list[Path] = Field(default_factory=list)
    footage_ranking: str = ""
    # Keyframe first: a still is made (the product composed into the scene), then animated by an
    # image-to-video model. Backends without that path ignore it (`cache_ignores`).
    keyframe: bool = False
    # Where a backend may keep intermediate media it can reuse, content-addressed (keyframes); never part
    # of a cache key. None: nothing is kept.
    media_dir: Path | None = None


class ImageRequest(BaseModel):
    """A still to make: a scene from a prompt, with the product image composed into it when given."""

    model_config = ConfigDict(extra="forbid")

    prompt: str
    negative_prompt: str = ""
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    seed: int = 0
    product_image: Path | None = None
    product_name: str = ""
    palette: list[str] = Field(default_factory=list)


class ImageTake(BaseModel):
    """A made still: a PNG file, plus how it was made."""

    path: Path
    width: int
    height: int
    metadata: dict[str, Any] = Field(default_factory=dict)


class VideoTake(BaseModel):
    """A rendered take: a visually lossless video file of frames, plus how it was made."""

    path: Path
    num_frames: int
    fps: float
    width: int
    height: int
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.num_frames / self.fps


class SoundRequest(BaseModel):
    """A sound to make: a cut-level music bed or a shot-level effect."""

    model_config = ConfigDict(extra="forbid")

    prompt: str
    seconds: float = Field(gt=0)
    seed: int = 0
    kind: Literal["music", "effect"] = "music"
    mood: str = ""
    # Seconds from the start where shots change: a music bed may accent them.
    cut_points: list[float] = Field(default_factory=list)
    sample_rate: int = 48000


class AudioTake(BaseModel):
    """A rendered sound: a WAV file (48 kHz unless asked otherwise) plus how it was made."""

    path: Path
    sample_rate: int
    channels: int
    seconds: float
    metadata: dict[str, Any] = Field(default_factory=dict)


# 2. Backends ---------------------------------------------------------------------------------

# Model loading is not thread-safe in the libraries underneath: accelerate's `init_empty_weights`
# (used by diffusers and transformers) patches `nn.Module.register_parameter` for the whole process
# while a model loads, so two loads in two threads can leave parameters on the meta device, or the
# patch in place for good. Every load in the process therefore takes this one lock (renders don't).
MODEL_LOAD_LOCK = threading.RLock()


class Backend(ABC):
    """Common base: a name, validated options, a lazy load, and a description for provenance."""

    name: ClassVar[str]
    kind: ClassVar[str]
    # Extra names a `pip install briefcut[extra]` brings, shown when a dependency is missing.
    extra: ClassVar[str | None] = None
    # True when one instance may render several takes at once from different threads (no shared mutable
    # state, no model whose calls must not overlap): the local executor then renders them in parallel.
    thread_safe: ClassVar[bool] = False

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def __init__(self, options: dict[str, Any] | BaseModel | None = None) -> None:
        try:
            self.options = self.Options.model_validate(
                options.model_dump() if isinstance(options, BaseModel) else (options or {})
            )
        except Exception as exc:  # pydantic.ValidationError, reworded with the backend's name
            raise BackendOptionsError(f"{self.kind} backend '{self.name}': bad options: {exc}") from exc
        self.loaded = False
        self.load_error: BriefcutError | None = None

    def load(self) -> None:
        """Load weights or tools; called once before the first render. Heavy imports go here."""
        self.loaded = True

    def ensure_loaded(self) -> None:
        """Load once; loads anywhere in the process take MODEL_LOAD_LOCK, one at a time. A model that
        is unavailable (gated, not cached offline) or a missing package fails the same way at once
        on later calls, instead of trying (and downloading) again for every take."""
        if self.loaded:
            return
        if self.load_error is not None:
            raise self.load_error
        with MODEL_LOAD_LOCK:
            if not self.loaded:
                try:
                    self.load()
                except (ModelUnavailable, MissingDependency) as exc:
                    self.load_error = exc
                    raise
                self.loaded = True

    def identity(self) -> dict[str, Any]:
        """What determines this backend's output besides the request (goes into cache keys)."""
        return {"backend": self.name, "options": self.options.model_dump(mode="json")}

    def describe(self) -> dict[str, Any]:
        """Provenance recorded with every take: backend, model, options."""
        return self.identity()

    def licenses(self, voices: list[str] | None = None) -> list[dict[str, Any]]:
        """The licenses of what this backend renders with, with these options (`generators.licenses.
        declared`): by default briefcut's own code and no weights. Backends with weights override it;
        a voice backend is told the voices a run will speak with."""
        from generators.licenses import BRIEFCUT_CODE, declared

        return [declared(f"briefcut {self.name}", "code", BRIEFCUT_CODE)]


class VideoGenerator(Backend):
    kind: ClassVar[str] = "video"
    # True when the backend renders any requested aspect ratio itself (no reframe needed).
    native_aspect: ClassVar[bool] = True
    # False when the prompt does not shape the picture (a storyboard draws its text, no more): an edit
    # asking for a different look then cannot change what the take shows, and the person is told so,
    # in words that say what does make the picture (`picture_note`).
    follows_prompt: ClassVar[bool] = True
    picture_note: ClassVar[str] = ""
    # True when the backend sets the shot's caption into the picture itself (assembly then does not burn
    # it in again, and a caption edit renders the shot again).
    draws_caption: ClassVar[bool] = False

    @classmethod
    def caption_changes_picture(cls, before: str, after: str) -> bool:
        """Whether a shot's take must be rendered again when its caption goes from `before` to `after`."""
        return cls.draws_caption and before != after
    # True when the backend cuts the brand's own footage (the agent then ranks it into `footage`).
    uses_footage: ClassVar[bool] = False

    @abstractmethod
    def render(self, request: ShotRequest, out: Path) -> VideoTake:
        """Render one take into the file `out` (an .mp4) and describe it."""

    def cache_identity(self, request: ShotRequest) -> tuple[dict[str, Any], set[str]]:
        """What decides a take of `request` besides the request (identity), and the request fields that
        do not (`cache_ignores`); a backend whose paths differ by request refines both."""
        return self.identity(), set(getattr(self, "cache_ignores", set()))


class ImageGenerator(Backend):
    kind: ClassVar[str] = "image"

    @abstractmethod
    def render(self, request: ImageRequest, out: Path) -> ImageTake:
        """Make one still into the PNG file `out` and describe it."""


class AudioGenerator(Backend):
    kind: ClassVar[str] = "audio"

    @abstractmethod
    def render(self, request: SoundRequest, out: Path) -> AudioTake:
        """Render one sound into the WAV file `out` and describe it."""


class Voice(Backend):
    kind: ClassVar[str] = "voice"

    @abstractmethod
    def speak(self, text: str, voice: str, out: Path) -> AudioTake:
        """Speak `text` with `voice` into the WAV file `out`."""


# 3. Registry ---------------------------------------------------------------------------------

B = TypeVar("B", bound=Backend)


class Registry(Generic[B]):
    """Backends of one kind by name: built-ins as lazy 'module:Class' paths, plugins via entry points."""

    def __init__(self, kind: str, builtins: dict[str, str]) -> None:
        self.kind = kind
        self._paths = dict(builtins)
        self._classes: dict[str, type[B]] = {}
        self._plugins_loaded = False

    def register(self, cls: type[B], name: str | None = None) -> type[B]:
        """Register a backend class (usable as a decorator); tests and plugins use this path."""
        self._classes[name or cls.name] = cls
        return cls

    def unregister(self, name: str) -> None:
        """Forget the backend called `name` (a registered class, a built-in or a plugin path); an
        unknown name lists the known ones. Tests undo their `register` this way."""
        if name not in self._classes and name not in self._paths:
            raise UnknownBackend(f"unknown {self.kind} backend '{name}'; known: {', '.join(self.names())}")
        self._classes.pop(name, None)
        self._paths.pop(name, None)

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=f"briefcut.{self.kind}"):
            self._paths.setdefault(ep.name, ep.value)

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(set(self._paths) | set(self._classes))

    def get(self, name: str) -> type[B]:
        """The backend class called `name`; an unknown name lists the known ones."""
        if name in self._classes:
            return self._classes[name]
        if name not in self._paths:  # a built-in needs no scan of the installed packages (built-ins win anyway)
            self._load_plugins()
        if name not in self._paths:
            raise UnknownBackend(
                f"unknown {self.kind} backend '{name}'; known: {', '.join(self.names())}"
            )
        module, _, attr = self._paths[name].partition(":")
        cls = getattr(importlib.import_module(module), attr)
        self._classes[name] = cls
        return cls

    def create(self, name: str, options: dict[str, Any] | None = None) -> B:
        return self.get(name)(options)


VIDEO: Registry[VideoGenerator] = Registry(
    "video",
    {
        "animatic": "generators.video_animatic:AnimaticVideo",
        "diffusers": "generators.video_diffusers:DiffusersVideo",
        "motion": "generators.video_motion:MotionVideo",
        "footage": "generators.video_footage:FootageVideo",
    },
)
AUDIO: Registry[AudioGenerator] = Registry(
    "audio",
    {
        "synth": "generators.audio_synth:SynthAudio",
        "audioldm2": "generators.audio_diffusers:AudioLDM2Audio",
        "stable-audio": "generators.audio_diffusers:StableAudio",
        "musicgen": "generators.audio_musicgen:MusicGenAudio",
        "audiogen": "generators.audio_audiogen:AudioGenAudio",
    },
)
VOICE: Registry[Voice] = Registry(
    "voice",
    {
        "espeak-ng": "generators.voice_espeak:EspeakVoice",
        "piper": "generators.voice_piper:PiperVoice",
    },
)
IMAGE: Registry[ImageGenerator] = Registry("image", {"diffusers": "generators.image_diffusers:DiffusersImage"})
REGISTRIES: dict[str, Registry[Any]] = {"video": VIDEO, "audio": AUDIO, "voice": VOICE, "image": IMAGE}


class BackendPool:
    """Loaded backends kept for the life of a process, so a model loads once across shots and runs.

    One pool is made by whoever drives the work (a run, a batch worker) and passed down; it is not
    a module global. `loads` counts real loads, for the run record and the tests.
    """

    def __init__(self) -> None:
        self._backends: dict[str, Backend] = {}
        self._shared: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.loads: dict[str, int] = {}

    def shared(self, key: str, load: Any) -> Any:
        """A process-wide object made once by `load()` (a CLIP embedder, say), counted in `loads`."""
        with self._lock, MODEL_LOAD_LOCK:
            if key not in self._shared:
                self._shared[key] = load()
                self.loads[key] = self.loads.get(key, 0) + 1
            return self._shared[key]

    def instance(self, kind: str, name: str, options: dict[str, Any] | None = None) -> Any:
        """The backend object (not loaded): enough for its identity and description."""
        key = json.dumps([kind, name, options or {}], sort_keys=True, default=str)
        with self._lock:
            backend = self._backends.get(key)
            if backend is None:
                backend = REGISTRIES[kind].create(name, options)
                self._backends[key] = backend
            return backend

    def get(self, kind: str, name: str, options: dict[str, Any] | None = None) -> Any:
        """The backend, loaded on first use (counted in `loads`)."""
        backend = self.instance(kind, name, options)
        with self._lock:
            if not backend.loaded:
                backend.ensure_loaded()
                self.loads[f"{kind}:{name}"] = self.loads.get(f"{kind}:{name}", 0) + 1
        return backend
