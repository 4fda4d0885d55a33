"""The same frames encode to the same bytes on any machine: x264 sets its frame threads from the cores it may
use unless told, and its output (the decoded frames, not only the bytes) depends on that count. A machine
with fewer cores is simulated by running the encoder on one CPU (x264 counts the CPUs it is allowed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to compare with one")

ENCODE = """
import hashlib, json, sys
from pathlib import Path
import numpy as np
from agent.assembly.chunks import chunk_command
from generators.media import write_frames

out = Path(sys.argv[1])
rng = np.random.default_rng(7)
base = rng.integers(0, 255, (96, 160, 3), np.uint8)
frames = [np.roll(base, 5 * t, axis=1) // (1 + t % 3) for t in range(24)]  # motion: frame threads matter
write_frames(out / "take.mp4", frames, 24)  # a take (PyAV's libx264)

class Spec:  # what chunk_command reads of a cut's spec
    width, height, fps, preset, crf = 160, 96, 24, "veryfast", 20

import subprocess
yuv = b"".join(np.concatenate([f[..., 0].ravel(), f[::2, ::2, 1].ravel(), f[::2, ::2, 2].ravel()]).tobytes()
               for f in frames)
subprocess.run(chunk_command(Spec, out / "chunk.ts"), input=yuv, check=True)  # a cut's chunk (ffmpeg's)
print(json.dumps({name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in ("take.mp4", "chunk.ts")}))
"""


def _encode(tmp_path: Path, cpus: set[int]) -> dict[str, str]:
    out = tmp_path / f"cpus-{len(cpus)}"
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", ENCODE, str(out)], capture_output=True, text=True, env=env,
                          timeout=120, preexec_fn=lambda: os.sched_setaffinity(0, cpus))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_takes_and_chunks_encode_the_same_on_one_cpu_as_on_several(tmp_path: Path) -> None:
    allowed = sorted(os.sched_getaffinity(0))
    several = _encode(tmp_path, set(allowed))
    one = _encode(tmp_path, {allowed[0]})
    assert one == several


def test_the_cut_records_the_encoder_parameters() -> None:
    from agent.assembly.cut import encoder_record
    from generators.media import X264_PARAMS

    class Spec:
        preset, crf = "veryfast", 20

    record = encoder_record(Spec)  # type: ignore[arg-type]
    assert record["x264_params"] == X264_PARAMS and "threads=" in X264_PARAMS
