"""The studio's doors: who may bind where, the access token, CSRF, and which files may be served.

Loopback is the default; any other address needs a token. State-changing requests carry the CSRF
token (a double-submit cookie read by the page's script and echoed in a header), unless they carry the
access token as a bearer header, which a cross-site page cannot send. Files are served only from the
workspace's output folders, after symlinks are resolved.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from pathlib import Path

from agent.errors import BriefcutError

CSRF_COOKIE = "briefcut_csrf"
CSRF_HEADER = "x-csrf-token"
TOKEN_COOKIE = "briefcut_token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# The workspace folders whose files the studio may serve (never the databases or the model cache).
SERVED_FOLDERS = ("runs", "media", "exports")


class StudioError(BriefcutError):
    """A studio that cannot start as asked (a public address without a token)."""

    exit_code = 2


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without an access token."""
    if not is_loopback(host) and not token:
        raise StudioError(f"--host {host} is reachable from other machines: give --token (or "
                          "BRIEFCUT_STUDIO_TOKEN) so only people with the token can use the studio")  # fmt: skip


def allowed_hosts(host: str) -> list[str]:
    """Host header values the studio answers (a guard against DNS rebinding on loopback)."""
    if is_loopback(host):
        return ["127.0.0.1", "localhost", "::1", "[::1]"]
    return ["*"]  # the token guards a public address


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two secrets (None never matches)."""
    return bool(a and b) and hmac.compare_digest(a.encode(), b.encode())


def new_secret() -> str:
    return secrets.token_urlsafe(24)


def confined(root: Path, relative: str, folders: tuple[str, ...] = SERVED_FOLDERS) -> Path | None:
    """The file `relative` names under `root` if it lies (after symlinks) inside one of `folders`, else None."""
    root = root.resolve()
    try:
        target = (root / relative).resolve()
        inside = target.relative_to(root)
    except (ValueError, OSError):
        return None
    if not inside.parts or inside.parts[0] not in folders or not target.is_file():
        return None
    return target


def media_url(root: Path, path: str | Path | None) -> str | None:
    """The /media URL of a workspace file, or None for a file the studio would not serve."""
    if not path:
        return None
    try:
        relative = Path(path).resolve().relative_to(root.resolve())
    except ValueError:
        return None
    return "/media/" + relative.as_posix() if relative.parts and relative.parts[0] in SERVED_FOLDERS else None
