"""Progress on stderr: a rich bar per stage when attached to a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import threading

from agent.context import Progress


class RichProgress(Progress):
    """Shows each stage (plan, render, score, assemble) as a bar on a terminal; thread-safe for
    render workers. Off a terminal (logs, pipes) it stays quiet, so an error is the one stderr line."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._lock = threading.Lock()
        self._tasks: dict[str, int] = {}
        self._bar = None
        if enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("{task.description:<9}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=Console(stderr=True),
            )  # fmt: skip

    def __enter__(self) -> RichProgress:
        if self._bar:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar:
            self._bar.stop()

    def begin(self, stage: str, total: int) -> None:
        with self._lock:
            if self._bar:
                if stage in self._tasks:
                    self._bar.update(self._tasks[stage], total=total, completed=0)
                else:
                    self._tasks[stage] = self._bar.add_task(stage, total=total)

    def advance(self, stage: str, n: int = 1) -> None:
        with self._lock:
            if self._bar and stage in self._tasks:
                self._bar.advance(self._tasks[stage], n)

    def note(self, text: str) -> None:
        if self.enabled:
            print(f"[briefcut] {text}", file=sys.stderr, flush=True)

    def warn(self, text: str) -> None:
        if self._bar:  # through the live display, so the bar is not torn
            self._bar.console.print(f"briefcut: warning: {text}", markup=False, highlight=False)
        else:
            super().warn(text)
