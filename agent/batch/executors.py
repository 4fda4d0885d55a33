"""Executors run render work: `local` in this process (one loaded model per backend), `ray` on actors.

The graph asks an executor for a take given a backend name, its options and a request; the
executor decides where the model lives. The driver (the graph) always writes the store.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, ClassVar, Protocol

from generators.base import AudioTake, BackendPool, Registry, ShotRequest, SoundRequest, VideoTake


class Executor(Protocol):
    name: ClassVar[str]

    def render(self, kind: str, backend: str, options: dict[str, Any], request: dict[str, Any], out: Path) -> dict:
        """Render one take and return the take's fields (VideoTake / AudioTake as a dict)."""
        ...

    def close(self) -> None: ...


def run_backend(pool: BackendPool, kind: str, backend: str, options: dict, request: dict, out: Path) -> dict:
    """Render with a pooled backend: the one code path both the local and the Ray executor use."""
    instance = pool.get(kind, backend, options)
    if kind == "video":
        take: VideoTake | AudioTake = instance.render(ShotRequest.model_validate(request), out)
    elif kind == "voice":
        take = instance.speak(request["text"], request["voice"], out)
    else:
        take = instance.render(SoundRequest.model_validate(request), out)
    return take.model_dump(mode="json")


class LocalExecutor:
    """Renders in this process; backends that are not thread-safe render one take at a time."""

    name: ClassVar[str] = "local"

    def __init__(self, pool: BackendPool | None = None, **_: Any) -> None:
        self.pool = pool or BackendPool()
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()

    def render(self, kind: str, backend: str, options: dict[str, Any], request: dict[str, Any], out: Path) -> dict:
        instance = self.pool.instance(kind, backend, options)
        if getattr(instance, "thread_safe", False):
            return run_backend(self.pool, kind, backend, options, request, out)
        with self._guard:
            lock = self._locks.setdefault(id(instance), threading.Lock())
        with lock:
            return run_backend(self.pool, kind, backend, options, request, out)

    def close(self) -> None:
        pass


EXECUTORS: Registry[Any] = Registry("executor", {"local": "agent.batch.executors:LocalExecutor",
                                                 "ray": "agent.batch.executor_ray:RayExecutor"})  # fmt: skip


def make_executor(name: str, pool: BackendPool, **options: Any) -> Executor:
    """An executor by name (an unknown name lists the known ones)."""
    return EXECUTORS.get(name)(pool=pool, **options)
