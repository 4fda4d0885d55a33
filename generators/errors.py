"""Typed errors raised by generator backends. `agent.errors` re-exports them for the CLI edge."""

from __future__ import annotations


class BriefcutError(Exception):
    """Base of every error briefcut turns into one clear line. `exit_code` is what the CLI returns."""

    exit_code = 1


class StorageError(BriefcutError):
    """A file that cannot be written or read back (disk full, read-only, permission): the message names it."""


NO_SPACE = "no space left on the device"


class DiskFull(StorageError):
    """A write the disk (or the quota) had no room for, whether a media file or the database: the message
    names the file and says "no space left on the device"; freeing space and resuming finishes the run."""


class UnknownBackend(BriefcutError):
    """A backend name that no registry knows; the message lists the known ones."""

    exit_code = 2


class BackendOptionsError(BriefcutError):
    """A backend's options failed validation."""

    exit_code = 2


class MissingDependency(BriefcutError):
    """An optional dependency a backend needs is not installed; the message names the extra."""


class ModelUnavailable(BriefcutError):
    """A model is neither a local path nor in the local cache, and the hub cannot be reached."""


class TakeFailed(BriefcutError):
    """A take's output is unusable (NaN, all black, frozen): retried with a new seed within a budget.

    `retry` is False when another seed cannot help (out of memory even with the lightest plan):
    the run then goes straight to its fallback.
    """

    def __init__(self, reason: str, metadata: dict | None = None, retry: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.metadata = metadata or {}
        self.retry = retry


def require(module: str, extra: str, backend: str):
    """Import `module` or raise MissingDependency naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(
            f"backend '{backend}' needs '{module}' ({exc}); install it with: pip install 'briefcut[{extra}]'"
        ) from exc


# errno -> what it means to a person writing a file.
_STORAGE_ERRNOS = {28: NO_SPACE, 30: "the file system is read-only",
                   13: "permission denied", 1: "operation not permitted", 122: "disk quota exceeded"}

_FULL_ERRNOS = {28, 122}  # ENOSPC, EDQUOT: freeing space (or quota) and resuming finishes the run


def storage_meaning(exc: BaseException) -> str | None:
    """What an OSError about storage means ("no space left on the device"), else None."""
    return _STORAGE_ERRNOS.get(exc.errno) if isinstance(exc, OSError) else None  # type: ignore[arg-type]


def storage_error(exc: BaseException, path: object = None) -> StorageError | None:
    """A StorageError naming the file for an OSError that is about storage (disk full, read-only,
    permission), else None. `path` names the file when the error itself does not."""
    meaning = storage_meaning(exc)
    if meaning is None:
        return None
    name = getattr(exc, "filename", None) or path
    return storage_kind(exc)(f"cannot write {name}: {meaning}" if name else f"cannot write a file: {meaning}")


def storage_kind(exc: BaseException) -> type[StorageError]:
    """DiskFull for a full disk or quota, else StorageError."""
    return DiskFull if getattr(exc, "errno", None) in _FULL_ERRNOS else StorageError
