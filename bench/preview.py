"""Preview-profile benchmark: wall time per stage (plan, render, score, assemble) for each example
brief, and assembly's realtime factor (seconds of cut per second of assembly work).

    python bench/preview.py            # the briefs at their own resolution
    python bench/preview.py --quick    # 240 px drafts
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.context import Progress  # noqa: E402
from agent.runner import start_run  # noqa: E402
from agent.settings import Overrides  # noqa: E402
from agent.workspace import Workspace  # noqa: E402

STAGES = ("plan", "render", "score", "assemble")


class StageClock(Progress):
    """Adds up wall time per stage: a stage runs from its `begin` to the next stage's `begin`."""

    def __init__(self) -> None:
        self.totals = dict.fromkeys(STAGES, 0.0)
        self._current: tuple[str, float] | None = None

    def begin(self, stage: str, total: int) -> None:
        self._close()
        self._current = (stage, time.perf_counter())

    def _close(self) -> None:
        if self._current:
            stage, started = self._current
            self.totals[stage] = self.totals.get(stage, 0.0) + time.perf_counter() - started
            self._current = None

    def finish(self) -> None:
        self._close()


def bench_brief(path: Path, resolution: int | None) -> dict:
    overrides = Overrides(profile="preview", resolution=resolution)
    clock = StageClock()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        with Workspace.at(tmp) as ws:
            result = start_run(path, ws, overrides=overrides, progress=clock)
        clock.finish()
        wall = time.perf_counter() - started
    cut_seconds = sum(c["duration_s"] for c in result["cuts"])
    return {"brief": path.stem, "cuts": len(result["cuts"]), "cut_s": cut_seconds, "wall": wall,
            **clock.totals, "assembly_rtf": cut_seconds / clock.totals["assemble"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="240 px drafts")
    parser.add_argument("--resolution", type=int, default=None)
    parser.add_argument("briefs", nargs="*", type=Path)
    args = parser.parse_args()
    resolution = args.resolution or (240 if args.quick else None)
    briefs = args.briefs or sorted((ROOT / "briefs").glob("*.yaml"))
    print(f"{'brief':<16}{'cuts':>5}{'cut s':>7}{'plan':>8}{'render':>8}{'score':>8}{'assemble':>9}"
          f"{'wall':>8}{'asm RTF':>9}")  # fmt: skip
    for path in briefs:
        r = bench_brief(path, resolution)
        print(f"{r['brief']:<16}{r['cuts']:>5}{r['cut_s']:>7.1f}{r['plan']:>8.2f}{r['render']:>8.2f}"
              f"{r['score']:>8.2f}{r['assemble']:>9.2f}{r['wall']:>8.2f}{r['assembly_rtf']:>8.2f}x", flush=True)
    print("seconds of wall time per stage; asm RTF = seconds of cut per second of assembly (higher is faster)")


if __name__ == "__main__":
    main()
