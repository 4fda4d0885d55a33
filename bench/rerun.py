"""Bench: what a run costs when nothing (or only text) changed, as ratios of the first run, side by side.

Each round starts a fresh workspace and times, through the CLI as a person runs it (imports included):
  first   `briefcut run BRIEF`                      everything rendered, scored and assembled
  repeat  `briefcut run BRIEF` again                 answered by the finished run (nothing changed)
  fresh   `briefcut run BRIEF --fresh`              a new run: every take and cut from the caches
  caption `briefcut edit RUN -m "caption 1: ..."`   one shot's on-screen text
  cta     `briefcut edit RUN -m "change the cta to ..."`  the end card's call to action
  warm    a caption edit in a process that has made one edit already, as `briefcut chat` and the studio
          make every edit after their first: the edit without the start-up (Python, langgraph, the graph)
The repeat comes right after the first run (after an edit, the run holds other cuts than the brief
makes, so a repeat then is a new run); the other follow-ups run in a different order each round
(alternated), so no one of them always meets a warmer page cache. Reported: the median and spread
(min-max) over rounds of seconds and of each ratio to that round's first run. Targets (issue 19):
repeat <= 0.05, caption/CTA edit <= 0.15. Commands run with Python's bytecode cache on (as installed).

By default the brief `make run` makes (briefs/spring-launch.yaml) at its own resolution: the main job.

    .venv/bin/python bench/rerun.py [--brief briefs/bumper.yaml] [--resolution 240] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLLOW_UPS = {
    "repeat": lambda brief, run, res: ["run", brief, *res, "--json"],
    "fresh": lambda brief, run, res: ["run", brief, *res, "--fresh", "--json"],
    "caption": lambda brief, run, res: ["edit", run, "-m", "caption 1: Ready when you are", "--json"],
    "cta": lambda brief, run, res: ["edit", run, "-m", "change the cta to Get yours today", "--json"],
    "warm": lambda brief, run, res: ["warm", run],
}
TARGETS = {"repeat": 0.05, "fresh": None, "caption": 0.15, "cta": 0.15, "warm": 0.15}
WARM_EDIT = """
import sys, time
from agent.edit.session import apply_edit, prepare_edit
from agent.settings import Settings
from agent.workspace import Workspace
with Workspace.at(settings=Settings.from_env()) as ws:
    apply_edit(ws, prepare_edit(ws, sys.argv[1], "caption 2: Built for the long haul"))  # the process warms up
    start = time.perf_counter()
    apply_edit(ws, prepare_edit(ws, sys.argv[1], "caption 1: Ready when you are, again"))
    print(time.perf_counter() - start)
"""


def briefcut(args: list[str], home: Path) -> tuple[float, dict]:
    """Run the CLI once in workspace `home`: (wall seconds, the JSON summary it printed); for `warm`, the
    seconds of the second of two edits made in one process."""
    env = {**os.environ, "BRIEFCUT_HOME": str(home), "HF_HUB_OFFLINE": "1", "HF_HOME": str(home / "hf"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    env.pop("OPENAI_BASE_URL", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: modules compiled once, not on every command
    command = [sys.executable, "-c", WARM_EDIT, args[1]] if args[0] == "warm" else [sys.executable, "-m", "agent.cli", *args]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"briefcut {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    if args[0] == "warm":
        return float(proc.stdout.strip().splitlines()[-1]), {}
    return seconds, json.loads(proc.stdout.strip().splitlines()[-1])


def one_round(brief: str, resolution: list[str], order: list[str]) -> dict[str, float]:
    """Seconds of the first run and of each follow-up, in `order`, in a fresh workspace (`resolution`: the
    run's `--resolution` flag, or nothing for the brief's own)."""
    with tempfile.TemporaryDirectory(prefix="briefcut-rerun-") as tmp:
        home = Path(tmp)
        first, summary = briefcut(["run", brief, *resolution, "--json"], home)
        times = {"first": first}
        for name in order:
            times[name], _ = briefcut(FOLLOW_UPS[name](brief, summary["run_id"], resolution), home)
    return times


def spread(values: list[float], fmt: str) -> str:
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brief", default=str(ROOT / "briefs" / "spring-launch.yaml"))
    parser.add_argument("--resolution", help="short side in pixels (default: the brief's own)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    names = list(FOLLOW_UPS)
    rounds = []
    for r in range(args.rounds):
        rest = names[1:]  # the repeat comes first: after an edit the run holds other cuts, and a repeat is new
        order = ["repeat"] + rest[r % len(rest):] + rest[: r % len(rest)]  # the others rotate through each place
        rounds.append(one_round(args.brief, ["--resolution", args.resolution] if args.resolution else [], order))
        print(f"round {r + 1}: " + "  ".join(f"{k} {v:.2f} s" for k, v in rounds[-1].items()), flush=True)
    size = f"{args.resolution} px" if args.resolution else "its own resolution"
    print(f"\n{Path(args.brief).name} at {size}, {args.rounds} rounds: median (min-max)")
    print(f"{'':<9}{'seconds':>22}{'ratio to first':>26}{'target':>9}")
    print(f"{'first':<9}{spread([t['first'] for t in rounds], '.2f'):>22}")
    for name in names:
        ratios = [t[name] / t["first"] for t in rounds]
        target = f"{TARGETS[name]:.2f}" if TARGETS[name] else "-"
        print(f"{name:<9}{spread([t[name] for t in rounds], '.2f'):>22}{spread(ratios, '.3f'):>26}{target:>9}")


if __name__ == "__main__":
    main()
