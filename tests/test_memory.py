"""Memory plans: chosen from free VRAM and model size (pure), the OOM fallback order, CPU placement."""

from __future__ import annotations

import pytest

from generators.memory import (
    PLANS,
    GiB,
    apply_plan,
    choose_plan,
    decode_bytes,
    device_job,
    lighter,
    oom_attributable,
)

# Wan2.1-T2V-1.3B in bf16: umT5-XXL encoder ~10.6 GiB, transformer ~2.6 GiB, VAE ~0.25 GiB.
WAN_TOTAL = int(13.5 * GiB)
WAN_LARGEST = int(10.6 * GiB)


@pytest.mark.parametrize(
    ("free_gib", "plan"),
    [(80, "none"), (24, "none"), (16, "model_offload"), (14, "model_offload"), (8, "group_offload"),
     (5, "group_offload"), (4, "sequential_offload"), (0, "sequential_offload")],
)
def test_wan_plan_for_vram(free_gib: float, plan: str) -> None:
    assert choose_plan(int(free_gib * GiB), WAN_TOTAL, "wan", WAN_LARGEST) == plan


def test_bigger_families_need_more_room() -> None:
    size = 30 * GiB
    assert choose_plan(36 * GiB, size, "animatediff") == "none"
    assert choose_plan(36 * GiB, size, "hunyuan") == "model_offload"


def test_largest_component_estimated_when_unknown() -> None:
    # 20 GiB of weights, largest assumed 12 GiB: 16 GiB free fits model offload with 3 GiB work.
    assert choose_plan(16 * GiB, 20 * GiB, "wan") == "model_offload"
    assert choose_plan(16 * GiB, 20 * GiB, "wan", largest_component_bytes=15 * GiB) == "group_offload"


def test_fallback_order_ends_at_sequential() -> None:
    chain, plan = [], "none"
    while plan is not None:
        chain.append(plan)
        plan = lighter(plan)  # type: ignore[arg-type]
    assert tuple(chain) == PLANS


def test_unknown_plan_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown memory plan 'bogus'; known: none, model_offload"):
        apply_plan(object(), "bogus", "cpu")  # type: ignore[arg-type]


def test_oom_attribution() -> None:
    assert oom_attributable(2 * GiB, 2 * GiB + 100 * 2**20)  # others barely moved: this job's OOM
    assert not oom_attributable(2 * GiB, 5 * GiB)  # another process took 3 GiB meanwhile


def test_decode_estimate_grows_with_frames_decoded_at_once() -> None:
    # Wan decodes one latent frame (4 output frames) at a time: 81 frames cost what 4 do.
    assert decode_bytes("wan", 81, 832, 480) == decode_bytes("wan", 4, 832, 480)
    # Hunyuan decodes every frame at once: 129 frames at 720p is far beyond an 80 GB card untiled.
    assert decode_bytes("hunyuan", 129, 1280, 720) > 80 * GiB > decode_bytes("wan", 81, 832, 480)


def test_device_job_runs_one_job_per_device() -> None:
    import threading
    import time

    inside, peak, lock = [0], [0], threading.Lock()

    def job() -> None:
        with device_job("cuda:0"):
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.02)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=job) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 1
