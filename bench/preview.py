"""Preview-profile benchmark: wall time per stage (plan, render, score, assemble) for each example
brief, and assembly's realtime factor (seconds of cut per second of assembly work).

Every brief runs --repeat times (default 3) in a fresh workspace, the briefs in a rotated order each round
(the cores are shared); printed: the median per stage, and the median and spread (min-max) of the wall
time and of assembly's realtime factor.

    python bench/preview.py            # the briefs at their own resolution
    python bench/preview.py --quick    # 240 px drafts
"""

from __future__ import annotations

import argparse
import os
import statistics
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


def spread(values: list[float], fmt: str) -> str:
    """'median (min-max)' of `values`."""
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="240 px drafts")
    parser.add_argument("--resolution", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3, help="rounds over the briefs, each in a rotated order")
    parser.add_argument("briefs", nargs="*", type=Path)
    args = parser.parse_args()
    resolution = args.resolution or (240 if args.quick else None)
    briefs = args.briefs or sorted((ROOT / "briefs").glob("*.yaml"))
    runs: dict[Path, list[dict]] = {path: [] for path in briefs}
    for r in range(args.repeat):
        for path in briefs[r % len(briefs):] + briefs[: r % len(briefs)]:  # rotated: no brief always first
            runs[path].append(bench_brief(path, resolution))
            print(f"round {r + 1}: {path.stem} {runs[path][-1]['wall']:.2f} s", flush=True)
    print(f"\nmedian of {args.repeat} rounds per stage; wall and asm RTF as median (min-max)")
    print(f"{'brief':<16}{'cuts':>5}{'cut s':>7}{'plan':>8}{'render':>8}{'score':>8}{'assemble':>9}"
          f"{'wall':>22}{'asm RTF':>22}")  # fmt: skip
    for path, rs in runs.items():
        med = {k: statistics.median(r[k] for r in rs) for k in (*STAGES, "wall")}
        print(f"{path.stem:<16}{rs[0]['cuts']:>5}{rs[0]['cut_s']:>7.1f}{med['plan']:>8.2f}{med['render']:>8.2f}"
              f"{med['score']:>8.2f}{med['assemble']:>9.2f}{spread([r['wall'] for r in rs], '.2f'):>22}"
              f"{spread([r['assembly_rtf'] for r in rs], '.2f'):>21}x")  # fmt: skip
    print("seconds of wall time per stage; asm RTF = seconds of cut per second of assembly (higher is faster)")
    print("load average " + " ".join(f"{v:.2f}" for v in os.getloadavg()) + f" on {os.cpu_count()} cpus")

if __name__ == "__main__":
    main()
