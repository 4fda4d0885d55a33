"""scipy imported for the first time by several threads at once (a cut's sound, its frames, the ad checks):
without one lock, one thread sees a scipy module half-initialised and fails (ImportError from a circular
import: 27 of 30 fresh processes failed so). Each fresh process here starts three threads at one moment,
each calling briefcut code that needs a different scipy module."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]

AT_ONCE = """
import sys, threading
import numpy as np
from agent.assembly.audio_mix import duck_gain
from agent.provenance.watermark import _templates_fft, TILE
from generators.media import resample

work = {
    "ndimage": lambda: duck_gain(np.full((4800, 2), 0.1, np.float32), 0.5),
    "fft": lambda: _templates_fft(TILE),
    "signal": lambda: resample(np.zeros(4800, np.float32), 48000, 44100),
}
start, failed = threading.Barrier(len(work)), []

def run(name):
    start.wait()
    try:
        work[name]()
    except Exception as exc:
        failed.append(f"{name}: {type(exc).__name__}: {exc}")

threads = [threading.Thread(target=run, args=(name,)) for name in work]
[t.start() for t in threads]
[t.join() for t in threads]
print("failed:", failed)
"""


def test_three_threads_importing_scipy_at_once_all_succeed() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(6):  # fresh processes: scipy is imported by the threads, not before
        proc = subprocess.run([sys.executable, "-c", AT_ONCE], capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip().splitlines()[-1] == "failed: []"
