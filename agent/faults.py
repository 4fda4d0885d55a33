"""Fault injection for crash tests: inert unless BRIEFCUT_FAULT is set.

`BRIEFCUT_FAULT=<point>` makes this process SIGKILL itself when it reaches `fault_point("<point>")`
(no cleanup runs, as in a power cut); `<point>:stop` makes it SIGSTOP itself instead, the first time only, so a test can
change the world (fill the disk, send SIGINT) before sending SIGCONT. Points are named where the crash matters:
after a step's writes are committed and before the graph checkpoints them.

Also here, as small as the fault hook: the process's Ctrl-C / SIGTERM handler, which remembers the request
before raising KeyboardInterrupt, so a stop that a library swallowed (a future's done-callback that catches
BaseException, run on the main thread) still stops the run (agent.runner.drive checks it).
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

ENV = "BRIEFCUT_FAULT"
_stopped: set[str] = set()  # points this process has stopped at: a continued process runs on


def fault_point(name: str) -> None:
    """Kill or stop this process here when BRIEFCUT_FAULT names this point; otherwise nothing."""
    spec = os.environ.get(ENV)  # read here, not at import: the hook costs one lookup
    if not spec:
        return
    point, _, action = spec.partition(":")
    if point != name or name in _stopped:
        return
    if action == "stop":
        _stopped.add(name)
        os.kill(os.getpid(), signal.SIGSTOP)
    else:
        os.kill(os.getpid(), signal.SIGKILL)


INTERRUPTED = threading.Event()  # Ctrl-C or SIGTERM arrived in this process


def interrupt(signum: int, frame: Any) -> None:
    """The SIGINT and SIGTERM handler: remember the request, then raise KeyboardInterrupt as Python's own does."""
    INTERRUPTED.set()
    raise KeyboardInterrupt
