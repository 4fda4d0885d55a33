"""Where a model comes from: a local folder or a hub id in the local HF cache, and its revision.

Backends load by `from_pretrained(id_or_path)`. Before that, `resolve` turns a hub id that is not
cached while the hub is off (HF_HUB_OFFLINE=1) into one clear ModelUnavailable line, and
`loading` does the same for a hub that cannot be reached. `access_problem` finds a gated or
missing repo before any work starts and says in one line what to do. `revision_of` names exactly
which weights were used: a hash of a local folder's index file, or the commit hash of a cached
snapshot (`fetch_marker` brings that one small file first, so even the first take of a model not yet
downloaded records its revision and family).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from generators.errors import ModelUnavailable


def is_local(model: str) -> bool:
    """Whether `model` names an existing folder rather than a hub id."""
    return Path(model).expanduser().is_dir()


def looks_like_path(model: str) -> bool:
    """A filesystem path rather than an 'org/name' hub id (absolute, ~, ./ or ../, or 3+ parts)."""
    return model.startswith(("/", "~", "./", "../")) or model.count("/") > 1 or "\\" in model


def hub_offline() -> bool:
    """Whether the hub is switched off (HF_HUB_OFFLINE)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def cached_file(model: str, filename: str, revision: str | None = None) -> Path | None:
    """The cached copy of `filename` of hub repo `model`, or None."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(model, filename, revision=revision)
    except Exception:  # an id that is not a valid repo name is simply not cached
        return None
    return Path(found) if isinstance(found, str) else None


def local_folder(model: str, marker: str, revision: str | None = None) -> Path | None:
    """The folder holding `model`'s files: the path itself or its cached snapshot, or None."""
    if is_local(model):
        return Path(model).expanduser()
    found = cached_file(model, marker, revision)
    return found.parent if found else None


def revision_of(model: str, marker: str, revision: str | None = None) -> str | None:
    """A local folder's marker-file hash ("sha256:...") or a cached snapshot's commit hash."""
    if is_local(model):
        path = Path(model).expanduser() / marker
        return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.exists() else None
    found = cached_file(model, marker, revision)
    return found.parent.name if found else revision


def gated_message(model: str, backend: str) -> str:
    """One line saying what to do about a gated repo."""
    return (f"{backend}: model '{model}' is gated: accept its terms at https://huggingface.co/{model} "
            f"and log in (`hf auth login`, or set HF_TOKEN)")


def access_problem(model: str, marker: str, backend: str, revision: str | None = None) -> str | None:
    """Why `model` cannot be loaded, asked before any work starts, or None when it can (or the hub is
    out of reach, where loading says why). Local folders and cached snapshots are always fine."""
    if is_local(model) or cached_file(model, marker, revision) is not None:
        return None
    if looks_like_path(model):
        return f"{backend}: model folder '{model}' does not exist"
    if hub_offline():
        return f"{backend}: model '{model}' is not in the local HF cache and HF_HUB_OFFLINE=1"
    from huggingface_hub import auth_check
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        auth_check(model)
    except GatedRepoError:
        return gated_message(model, backend)
    except RepositoryNotFoundError:
        return f"{backend}: model '{model}' does not exist on the hub (or is private: log in with `hf auth login`)"
    except Exception:  # no network, a timeout: leave it to the load, which names the failure
        return None
    return None


def fetch_marker(model: str, marker: str, revision: str | None = None) -> Path | None:
    """Download just `marker` of an uncached hub model (a few bytes), so its revision and family are known
    before the weights arrive; None when the hub is off or out of reach."""
    if is_local(model) or looks_like_path(model) or hub_offline():
        return None
    found = cached_file(model, marker, revision)
    if found is not None:
        return found
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(model, marker, revision=revision))
    except Exception:  # offline, gated, missing: the load reports it
        return None


def resolve(model: str, marker: str, backend: str, revision: str | None = None) -> str:
    """`model` as given, after checking it can be loaded without the hub when the hub is off."""
    if is_local(model):
        return str(Path(model).expanduser())
    if looks_like_path(model):
        raise ModelUnavailable(f"{backend}: model folder '{model}' does not exist")
    if hub_offline() and cached_file(model, marker, revision) is None:
        raise ModelUnavailable(
            f"{backend}: model '{model}' is not in the local HF cache and HF_HUB_OFFLINE=1; "
            f"download it first (huggingface-cli download {model}) or pass a local path"
        )
    return model


def quiet_libraries() -> None:
    """Silence diffusers/transformers load bars and advisory warnings (BRIEFCUT_VERBOSE=1 keeps them).

    briefcut shows its own progress; the libraries' per-component bars and type warnings (a tiny
    T5 standing in for umT5, say) would bury it.
    """
    import os

    if os.environ.get("BRIEFCUT_VERBOSE") == "1":
        return
    for name in ("diffusers", "transformers"):
        try:
            logging = __import__(f"{name}.utils.logging", fromlist=["logging"])
        except ImportError:
            continue
        logging.set_verbosity_error()
        logging.disable_progress_bar()


@contextmanager
def loading(model: str, backend: str) -> Iterator[None]:
    """Turn 'cannot reach the hub / not found' errors from from_pretrained into ModelUnavailable."""
    quiet_libraries()
    try:
        yield
    except (OSError, ConnectionError, ValueError) as exc:
        if is_local(model) or not _looks_like_hub_failure(exc):
            raise
        if any(type(e).__name__ == "GatedRepoError" for e in _chain(exc)):
            raise ModelUnavailable(gated_message(model, backend)) from exc
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelUnavailable(
            f"{backend}: model '{model}' is not cached and the hub cannot be reached ({first[:160]})"
        ) from exc


def _looks_like_hub_failure(exc: BaseException) -> bool:
    names = {type(e).__name__ for e in _chain(exc)}
    hub_errors = {"LocalEntryNotFoundError", "RepositoryNotFoundError", "HfHubHTTPError", "ConnectError",
                  "ConnectionError", "OfflineModeIsEnabled", "GatedRepoError", "EntryNotFoundError"}
    text = " ".join(str(e) for e in _chain(exc)).lower()
    return bool(names & hub_errors) or "huggingface.co" in text or "offline" in text or "is not a local folder" in text


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen = 0
    while exc is not None and seen < 8:
        yield exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1


def dtype_kwargs(library: str, dtype: object) -> dict[str, object]:
    """The dtype keyword `from_pretrained` takes: `dtype` on current releases, `torch_dtype` before."""
    import importlib

    from packaging.version import Version

    version = Version(importlib.import_module(library).__version__)
    new = Version("0.36.0.dev0") if library == "diffusers" else Version("4.56.0")
    return {"dtype": dtype} if version >= new else {"torch_dtype": dtype}
