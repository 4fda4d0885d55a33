"""Shared test set-up. Fixture modules under tests/fixtures/ are loaded as plugins by file name."""

from __future__ import annotations

import os
import pkgutil
import sys
from pathlib import Path

# One thread: two threads under load measured 3-4x slower for tiny models here (DESIGN.md).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))
pytest_plugins = [f"fixtures.{m.name}" for m in pkgutil.iter_modules([str(TESTS / "fixtures")])]


def pytest_configure(config) -> None:
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
