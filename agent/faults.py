"""Fault injection for crash tests: inert unless BRIEFCUT_FAULT is set.

`BRIEFCUT_FAULT=<point>` makes this process SIGKILL itself when it reaches `fault_point("<point>")`
(no cleanup runs, as in a power cut); `<point>:stop` makes it SIGSTOP itself instead, so a test can
change the world (fill the disk) before sending SIGCONT. Points are named where the crash matters:
after a step's writes are committed and before the graph checkpoints them.
"""

from __future__ import annotations

import os
import signal

ENV = "BRIEFCUT_FAULT"


def fault_point(name: str) -> None:
    """Kill or stop this process here when BRIEFCUT_FAULT names this point; otherwise nothing."""
    spec = os.environ.get(ENV)  # read here, not at import: the hook costs one lookup and holds no state
    if not spec:
        return
    point, _, action = spec.partition(":")
    if point == name:
        os.kill(os.getpid(), signal.SIGSTOP if action == "stop" else signal.SIGKILL)
