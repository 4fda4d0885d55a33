"""Fault injection for crash tests: inert unless BRIEFCUT_FAULT is set.

`BRIEFCUT_FAULT=<point>` makes this process SIGKILL itself when it reaches `fault_point("<point>")`
(no cleanup runs, as in a power cut); `<point>:stop` makes it SIGSTOP itself instead, the first time only, so a test can
change the world (fill the disk, send SIGINT) before sending SIGCONT. Points are named where the crash matters:
after a step's writes are committed and before the graph checkpoints them.
"""

from __future__ import annotations

import os
import signal

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
