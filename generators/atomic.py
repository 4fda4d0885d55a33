"""Atomic file writes, the one way every module writes a file.

A file is written under a temporary name beside its target, unique to this process and call (so two
processes or threads never write the same file), flushed to disk (fsync), then renamed over the
target and the folder synced: a reader sees the old file or the new one, never half of one, and a
crash or a full disk leaves no damaged file under the real name. A failure removes the temporary
file and names the target. Temporary names carry the writer's pid, so `sweep_leftovers` can remove
what a killed process left behind without touching what a live one is writing.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from generators.errors import NO_SPACE, DiskFull, StorageError, storage_error, storage_kind, storage_meaning

# .<name>.<pid>-<token>.part<suffix> for files, .<prefix>.<pid>-<token>.part for folders.
_TEMP = re.compile(r"^\..+\.(\d+)-[0-9a-f]{8}\.part(\.[A-Za-z0-9]+)?$")
LOW_SPACE_BYTES = 1 << 20
_MAKERS: dict[str, tuple[threading.RLock, int]] = {}  # a file being made -> its lock, and the threads after it
_MAKERS_LOCK = threading.Lock()


def temp_path(path: Path, suffix: str | None = None) -> Path:
    """A temporary name beside `path`, unique to this process and call; it keeps `path`'s suffix (or
    `suffix`) last, so writers that infer the format from the name still do."""
    path = Path(path)
    ending = path.suffix if suffix is None else suffix
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.part{ending}")


@contextmanager
def atomic_path(path: Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path to write `path` through; when the block ends without an error the file is
    synced and renamed over `path`, otherwise it is removed and the error names `path`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(exc, path) or exc from None
    tmp = temp_path(path, suffix)
    try:
        yield tmp
        fsync_file(tmp)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        error = write_error(exc, path) if isinstance(exc, Exception) else None
        if error is None:
            raise
        raise error from exc


@contextmanager
def one_maker(path: Path) -> Iterator[None]:
    """Held while a thread makes a file kept under a name of what it holds (a chunk, an answer beside one):
    another thread of this process after the same file waits, then finds it made, rather than making it
    again. (Other processes are kept apart by `atomic_path`.)"""
    name = str(path)
    with _MAKERS_LOCK:
        lock, users = _MAKERS.get(name) or (threading.RLock(), 0)
        _MAKERS[name] = (lock, users + 1)
    try:
        with lock:
            yield
    finally:
        with _MAKERS_LOCK:
            lock, users = _MAKERS[name]
            if users == 1:
                del _MAKERS[name]
            else:
                _MAKERS[name] = (lock, users - 1)


def write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 `text` to `path` atomically."""
    write_bytes(path, text.encode("utf-8"))


def copy_file(src: Path, dst: Path) -> None:
    """Copy `src` to `dst` atomically."""
    import shutil

    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def fsync_file(path: Path) -> None:
    """Flush a written file's data to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename in it) to the disk, where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_error(exc: BaseException, path: Path) -> StorageError | None:
    """A StorageError naming `path` when `exc` is about storage, or when a library's own error hides
    a full disk (the folder has no space left)."""
    if meaning := storage_meaning(exc):
        return storage_kind(exc)(f"cannot write {path}: {meaning}")
    try:
        full = shutil.disk_usage(path.parent).free < LOW_SPACE_BYTES
    except OSError:
        full = False
    if full:
        return DiskFull(f"cannot write {path}: {NO_SPACE} ({type(exc).__name__}: {exc})")
    return None


@contextmanager
def temp_dir(parent: Path, prefix: str) -> Iterator[Path]:
    """A scratch folder inside `parent`, named so `sweep_leftovers` knows whose it is; removed at the end."""
    folder = Path(parent) / f".{prefix}.{os.getpid()}-{secrets.token_hex(4)}.part"
    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        raise storage_error(exc, folder) or exc from None
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def is_leftover(path: Path) -> bool:
    """Whether `path` is a temporary file or folder whose writer is no longer running."""
    match = _TEMP.match(path.name)
    if not match:
        return False
    pid = int(match.group(1))
    return pid != os.getpid() and not _alive(pid)


def sweep_leftovers(folder: Path, recursive: bool = False) -> list[Path]:
    """Remove the temporary files and folders that dead processes left in `folder`; returns them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = folder.rglob(".*.part*") if recursive else folder.glob(".*.part*")
    removed = []
    for item in list(found):
        if is_leftover(item):
            if item.is_dir():
                shutil.rmtree(item, ignore_errors=True)
            else:
                item.unlink(missing_ok=True)
            removed.append(item)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True
