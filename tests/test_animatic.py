"""The animatic video backend: exact frame counts and sizes, seed determinism, camera moves."""

from __future__ import annotations

import numpy as np
import pytest

from generators.base import VIDEO, ShotRequest
from generators.media import read_frames
from generators.video_animatic import AnimaticVideo, camera_path


def request(**kw) -> ShotRequest:
    base = dict(prompt="a bottle of sparkling water on a sunlit kitchen counter", seconds=0.5, fps=24,
                width=160, height=90, seed=0, title="Morning", palette=["#0B3C5D", "#F2C14E", "#F78154"])
    return ShotRequest(**{**base, **kw})


@pytest.mark.parametrize(("seconds", "fps", "width", "height"),
                         [(0.5, 24, 160, 90), (0.77, 25, 90, 160), (0.4, 30, 96, 96)])
def test_frame_count_and_size_are_exact(tmp_path, seconds, fps, width, height):
    from agent.plan import frame_counts

    take = AnimaticVideo().render(request(seconds=seconds, fps=fps, width=width, height=height), tmp_path / "a.mp4")
    frames = read_frames(take.path)
    assert take.num_frames == len(frames) == frame_counts([seconds], fps)[0]
    assert frames.shape[1:] == (height, width, 3) and (take.width, take.height) == (width, height)


def test_same_seed_same_frames_other_seed_other_layout(tmp_path):
    backend = VIDEO.create("animatic")
    a = read_frames(backend.render(request(seed=7), tmp_path / "a.mp4").path).astype(int)
    b = read_frames(backend.render(request(seed=7), tmp_path / "b.mp4").path).astype(int)
    c = read_frames(backend.render(request(seed=8), tmp_path / "c.mp4").path).astype(int)
    assert np.array_equal(a, b)
    assert np.abs(a - c).mean() > 10


def test_camera_moves_follow_the_text(tmp_path):
    def motion(camera: str) -> float:
        frames = read_frames(AnimaticVideo().render(request(camera=camera), tmp_path / "m.mp4").path).astype(int)
        centre = slice(20, 70), slice(40, 120)  # away from the badge and the progress bar
        return float(np.abs(frames[0][centre] - frames[-1][centre]).mean())

    assert motion("static") < 1.5
    assert motion("slow push in") > 4 and motion("pan left") > 4
    assert camera_path("tilt down", 160, 90, 0)[0] == "tilt_down"
    assert camera_path("orbit right", 160, 90, 0)[0] == "orbit"
    assert camera_path("zoom out", 160, 90, 0)[0] == "pull_out"
    assert camera_path("something odd", 160, 90, 0)[0] == "static"


def test_metadata_describes_the_take(tmp_path):
    take = AnimaticVideo().render(request(seed=3, camera="pan right"), tmp_path / "a.mp4")
    meta = take.metadata
    assert meta["backend"] == "animatic" and meta["model"] == "animatic" and meta["seed"] == 3
    assert meta["parameters"]["move"] == "pan_right" and meta["timings"]["per_frame_ms"] > 0


def test_light_backends_render_in_parallel_with_the_serial_outputs(tmp_path):
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from agent.batch.executors import LocalExecutor
    from agent.render import cache_key
    from agent.runner import render_workers
    from generators.base import BackendPool, SoundRequest
    from generators.media import read_wav

    shots = [request(seed=s, seconds=0.5, camera=c).model_dump(mode="json")
             for s, c in zip(range(4), ["static", "push in", "pan left", "orbit"], strict=True)]  # fmt: skip
    sounds = [SoundRequest(prompt=p, seconds=1.0, kind=k, seed=s).model_dump(mode="json")
              for p, k, s in (("bed", "music", 1), ("whoosh", "effect", 2), ("click", "effect", 3))]  # fmt: skip
    jobs = [("video", "animatic", r, ".mp4") for r in shots] + [("audio", "synth", r, ".wav") for r in sounds]

    def render_all(folder, workers):
        executor, spans, guard = LocalExecutor(BackendPool()), [], threading.Lock()

        def one(i):
            kind, name, req, ext = jobs[i]
            start = time.perf_counter()
            executor.render(kind, name, {}, req, folder / f"{i}{ext}")
            with guard:
                spans.append((kind, start, time.perf_counter()))
            backend = executor.pool.instance(kind, name, {})
            identity = backend.cache_identity(ShotRequest.model_validate(req))[0] if kind == "video" else backend.identity()
            return cache_key(kind, identity, req)

        folder.mkdir()
        with ThreadPoolExecutor(workers) as pool:
            keys = list(pool.map(one, range(len(jobs))))
        return keys, spans, executor

    serial_keys, _, _ = render_all(tmp_path / "serial", 1)
    parallel_keys, spans, executor = render_all(tmp_path / "parallel", 4)
    # 1. no take waited for another: the executor took no per-backend lock; the graph runs a worker per core
    assert executor._locks == {} and len(spans) == len(jobs)
    assert render_workers(1) == 2 and render_workers(2) == 2 and render_workers(64) == 8
    # 2. the same cache keys, the same frames and samples as one at a time
    assert parallel_keys == serial_keys
    for i, (_, _, _, ext) in enumerate(jobs):
        a, b = tmp_path / "serial" / f"{i}{ext}", tmp_path / "parallel" / f"{i}{ext}"
        if ext == ".mp4":
            assert np.array_equal(read_frames(a), read_frames(b)), i
        else:
            assert np.array_equal(read_wav(a)[0], read_wav(b)[0]), i


def test_balanced_workers_let_the_last_round_share_the_cores(monkeypatch):
    """3 cuts on 2 cores run at once (1.5 cuts' time, not 2 then 1); 4 run as 2 and 2; never over two per
    core; the user's cap of one (BRIEFCUT_RENDER_WORKERS=1) stays one at a time."""
    from agent.runner import balanced_workers

    monkeypatch.delenv("BRIEFCUT_RENDER_WORKERS", raising=False)
    assert [balanced_workers(n, 2) for n in range(1, 10)] == [1, 2, 3, 2, 3, 2, 4, 2, 3]
    assert [balanced_workers(n, 4) for n in (4, 5, 8, 9, 20)] == [4, 5, 4, 5, 4]
    assert all(balanced_workers(n, c) <= 2 * max(2, c) for n in range(1, 40) for c in (1, 2, 3, 8))
    monkeypatch.setenv("BRIEFCUT_RENDER_WORKERS", "1")
    assert [balanced_workers(n) for n in (1, 2, 3, 5)] == [1, 1, 1, 1]
