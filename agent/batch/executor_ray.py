"""The Ray executor: renders on Ray actors that keep their model loaded, one per (kind, backend, options).

An actor runs `agent.batch.executors.run_backend` with its own BackendPool, renders into its own
scratch folder and returns the take with the file's bytes; the driver writes them to `out`, so
the cluster's nodes share no file system. The driver (the graph) still writes the store. A
TakeFailed (or any briefcut error) raised on an actor reaches the caller as itself, not wrapped.

GPUs: an actor whose backend needs the `ml` extra (torch) asks for `num_gpus` GPUs: by default
1 where the cluster has two GPUs or more, half of one on a single-GPU cluster (so the video and
the audio model can share it), none without GPUs. Other backends' actors ask for none.
"""

from __future__ import annotations

import json
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any, ClassVar

from agent.batch.executors import run_backend
from generators.atomic import write_bytes
from generators.base import REGISTRIES, BackendPool
from generators.errors import BriefcutError, MissingDependency


def import_ray() -> Any:
    """The ray module, or MissingDependency naming the extra that brings it."""
    try:
        import ray
    except ImportError as exc:
        raise MissingDependency(
            f"the ray executor needs 'ray' ({exc}); install it with: pip install 'briefcut[ray]'"
        ) from None
    return ray


class RenderActor:
    """Lives on a Ray worker: one backend, loaded once, rendering take after take."""

    def __init__(self, kind: str, name: str, cls: type) -> None:
        # The driver's class, so backends registered in-process (plugins, tests) exist here too.
        REGISTRIES[kind].register(cls, name)
        self.pool = BackendPool()
        self.scratch = Path(tempfile.mkdtemp(prefix="briefcut-actor-"))

    def render(self, kind: str, backend: str, options: dict, request: dict, suffix: str) -> tuple[dict, bytes]:
        """Render one take; returns its fields and the file's bytes (the scratch file is removed)."""
        out = self.scratch / f"{uuid.uuid4().hex}{suffix}"
        take = run_backend(self.pool, kind, backend, options, request, out)
        path = Path(take["path"])
        data = path.read_bytes()
        path.unlink(missing_ok=True)
        return take, data

    def loads(self) -> dict[str, int]:
        return dict(self.pool.loads)


class RayExecutor:
    """Renders on Ray actors (a local cluster, or the one at `address`); the driver writes the files."""

    name: ClassVar[str] = "ray"

    def __init__(self, pool: BackendPool | None = None, address: str | None = None,
                 num_gpus: float | None = None, **_: Any) -> None:  # fmt: skip
        self.ray = import_ray()
        self.pool = pool or BackendPool()
        self._owns_ray = not self.ray.is_initialized()
        if self._owns_ray:
            self.ray.init(address=address, include_dashboard=False, log_to_driver=False)
        gpus = float(self.ray.cluster_resources().get("GPU", 0))
        self.num_gpus = num_gpus if num_gpus is not None else (1.0 if gpus >= 2 else gpus / 2)
        self._actor_class = self.ray.remote(RenderActor)
        self._actors: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _actor(self, kind: str, backend: str, options: dict[str, Any]) -> Any:
        key = json.dumps([kind, backend, options], sort_keys=True, default=str)
        with self._lock:
            if key not in self._actors:
                cls = REGISTRIES[kind].get(backend)  # an unknown name fails here, in the driver
                gpus = self.num_gpus if getattr(cls, "extra", None) == "ml" else 0
                self._actors[key] = self._actor_class.options(num_cpus=0, num_gpus=gpus).remote(kind, backend, cls)
            return self._actors[key]

    def render(self, kind: str, backend: str, options: dict[str, Any], request: dict[str, Any], out: Path) -> dict:
        """Render one take on the backend's actor and write the file to `out` here."""
        actor = self._actor(kind, backend, options)
        try:
            take, data = self.ray.get(actor.render.remote(kind, backend, options, request, Path(out).suffix))
        except self.ray.exceptions.RayTaskError as exc:
            raise unwrap(exc) from None
        write_bytes(Path(out), data)
        return {**take, "path": str(out)}

    def loads(self) -> dict[str, int]:
        """Model loads on every actor, added up by kind:backend."""
        counts: dict[str, int] = {}
        with self._lock:
            actors = list(self._actors.values())
        for per_actor in self.ray.get([a.loads.remote() for a in actors]):
            for key, n in per_actor.items():
                counts[key] = counts.get(key, 0) + n
        return counts

    def close(self) -> None:
        """Stop the actors, and the local Ray instance if this executor started it."""
        with self._lock:
            actors, self._actors = list(self._actors.values()), {}
        for actor in actors:
            self.ray.kill(actor)
        if self._owns_ray:
            self.ray.shutdown()


def unwrap(exc: BaseException) -> BaseException:
    """The error raised on the actor: briefcut's typed errors come back as themselves."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BriefcutError):
        return cause
    return cause if isinstance(cause, Exception) else exc

