"""Every typed error briefcut raises; the CLI turns each into one line on stderr and an exit code."""

from __future__ import annotations

from generators.errors import (
    BackendOptionsError,
    BriefcutError,
    MissingDependency,
    ModelUnavailable,
    TakeFailed,
    UnknownBackend,
)

__all__ = [
    "BackendOptionsError",
    "BriefError",
    "BriefcutError",
    "EndpointError",
    "LicenseRefused",
    "MissingDependency",
    "ModelUnavailable",
    "PlanError",
    "RunNotFound",
    "TakeFailed",
    "UnknownBackend",
]


class BriefError(BriefcutError):
    """A brief that cannot be read or does not validate; the message names the file and where."""

    exit_code = 2


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
