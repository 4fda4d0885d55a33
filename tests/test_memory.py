"""Offloads (where weights live): chosen from free VRAM and model size (pure), the OOM fallback order, CPU placement."""

from __future__ import annotations

import pytest

from generators.memory import OFFLOADS, GiB, apply_offload, choose_offload, lighter

# Wan2.1-T2V-1.3B in bf16: umT5-XXL encoder ~10.6 GiB, transformer ~2.6 GiB, VAE ~0.25 GiB.
WAN_TOTAL = int(13.5 * GiB)
WAN_LARGEST = int(10.6 * GiB)


@pytest.mark.parametrize(
    ("free_gib", "plan"),
    [(80, "none"), (24, "none"), (16, "model_offload"), (14, "model_offload"), (8, "group_offload"),
     (5, "group_offload"), (4, "sequential_offload"), (0, "sequential_offload")],
)
def test_wan_plan_for_vram(free_gib: float, plan: str) -> None:
    assert choose_offload(int(free_gib * GiB), WAN_TOTAL, "wan", WAN_LARGEST) == plan


def test_bigger_families_need_more_room() -> None:
    size = 30 * GiB
    assert choose_offload(36 * GiB, size, "animatediff") == "none"
    assert choose_offload(36 * GiB, size, "hunyuan") == "model_offload"


def test_largest_component_estimated_when_unknown() -> None:
    # 20 GiB of weights, largest assumed 12 GiB: 16 GiB free fits model offload with 3 GiB work.
    assert choose_offload(16 * GiB, 20 * GiB, "wan") == "model_offload"
    assert choose_offload(16 * GiB, 20 * GiB, "wan", largest_component_bytes=15 * GiB) == "group_offload"


def test_fallback_order_ends_at_sequential() -> None:
    chain, plan = [], "none"
    while plan is not None:
        chain.append(plan)
        plan = lighter(plan)  # type: ignore[arg-type]
    assert tuple(chain) == OFFLOADS


def test_cpu_always_places_whole_pipeline() -> None:
    class Pipe:
        def __init__(self) -> None:
            self.moved_to: str | None = None

        def to(self, device: str) -> None:
            self.moved_to = device

        def enable_model_cpu_offload(self, device: str) -> None:
            raise AssertionError("no offload on CPU")

    pipe = Pipe()
    apply_offload(pipe, "model_offload", "cpu")
    assert pipe.moved_to == "cpu"
    with pytest.raises(ValueError, match="unknown offload"):
        apply_offload(Pipe(), "bogus", "cuda")  # type: ignore[arg-type]
