"""Locks that keep two processes off one run (and off one output folder) at once.

A lock is `flock` on a small file: the operating system drops it when the process ends, however it
ends (a crash, SIGKILL, a power cut), so a stale lock never blocks a later `resume`. The file keeps
who holds it (pid, host, what, since when) for the message the second process prints.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from agent.errors import RunBusy, storage_error


@contextmanager
def hold(path: Path, what: str, busy: str, advice: str) -> Iterator[None]:
    """Hold the lock at `path` for this block, or raise RunBusy at once: `busy`, who holds it, `advice`.
    The lock file is removed when the block ends."""
    fd = _locked(path, busy, advice)
    try:
        _write_holder(fd, what)
        yield
    finally:
        try:
            path.unlink()  # while still holding it: a process that opened the old file notices (below)
        except OSError:
            pass
        os.close(fd)  # closing drops the lock


def _locked(path: Path, busy: str, advice: str) -> int:
    """An open, flock-ed descriptor of the file now at `path` (a file removed meanwhile is retried)."""
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise storage_error(exc, path) or exc from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise RunBusy(f"{busy}{holder}; {advice}") from None
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # the holder removed this file as it let go: lock the new one


def _write_holder(fd: int, what: str) -> None:
    info = {"pid": os.getpid(), "host": socket.gethostname(), "what": what, "since": time.time()}
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
    except OSError:
        pass  # who holds it is a courtesy for the message; the lock itself is held


def _holder(fd: int) -> str:
    """' (pid 123 on host, resume since 10:42:07)' from the lock file, or ''."""
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        since = time.strftime("%H:%M:%S", time.localtime(info["since"]))
        return f" (pid {info['pid']} on {info['host']}, {info['what']} since {since})"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


@contextmanager
def run_locks(locks_dir: Path, run_id: str, out_dir: Path, what: str) -> Iterator[None]:
    """The run's lock and its output folder's lock, for one process's work on the run."""
    with ExitStack() as stack:
        stack.enter_context(hold(locks_dir / f"{run_id}.lock", what,
                                 f"run {run_id} is being worked on by another process",
                                 "wait for it to finish (or stop it), then try again"))  # fmt: skip
        stack.enter_context(hold(out_dir / ".briefcut.lock", f"{what} {run_id}",
                                 f"{out_dir} is being written by another run", "give this run another --out folder"))
        yield
