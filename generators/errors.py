"""Typed errors raised by generator backends. `agent.errors` re-exports them for the CLI edge."""

from __future__ import annotations


class BriefcutError(Exception):
    """Base of every error briefcut turns into one clear line. `exit_code` is what the CLI returns."""

    exit_code = 1


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
