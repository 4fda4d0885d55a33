"""Every typed error briefcut raises; the CLI turns each into one line on stderr and an exit code."""

from __future__ import annotations

from generators.errors import (
    BackendOptionsError,
    BriefcutError,
    DiskFull,
    MissingDependency,
    ModelUnavailable,
    StorageError,
    TakeFailed,
    UnknownBackend,
    storage_error,
)

__all__ = [
    "BackendOptionsError",
    "BriefError",
    "BriefcutError",
    "CalibrationError",
    "DiskFull",
    "EndpointError",
    "LicenseRefused",
    "MissingDependency",
    "ModelUnavailable",
    "PlanError",
    "RunBusy",
    "RunInterrupted",
    "RunNotFound",
    "StorageError",
    "TakeFailed",
    "UnknownBackend",
    "WorkspaceError",
    "storage_error",
]


class BriefError(BriefcutError):
    """A brief that cannot be read or does not validate; the message names the file and where."""

    exit_code = 2


class MediaGone(BriefcutError):
    """Files a run's records name are not where they were made (deleted, or the workspace moved)."""


class PlanError(BriefcutError):
    """A plan that breaks the brief's constraints (durations, shot counts) and cannot be repaired."""


class EndpointError(BriefcutError):
    """An LLM endpoint that is down, answers with an unknown model, or answers unusably."""


class LicenseRefused(BriefcutError):
    """A run whose models' licenses forbid the brief's usage, refused before anything renders."""

    exit_code = 2


class RunNotFound(BriefcutError):
    """A run id that is not in the workspace's store (or a cut of it that has no scorecard)."""

    exit_code = 2


class WorkspaceError(BriefcutError):
    """A workspace file that cannot be used: a damaged database, a read-only or full workspace.
    The message names the file."""


class RunBusy(BriefcutError):
    """A run (or an output folder) that another process is working on right now."""

    exit_code = 2


class RunInterrupted(BriefcutError):
    """Ctrl-C (or SIGTERM) during a run: what was finished is kept, and the run can be resumed."""

    exit_code = 130


class CalibrationError(BriefcutError):
    """A results file for `audience calibrate` that cannot be read or matched to the run; names file and line."""

    exit_code = 2
