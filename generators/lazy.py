"""scipy, imported when first needed, by one thread at a time.

Two threads importing two scipy modules for the first time at once see one of them half-initialised:
scipy's modules import each other, and Python's per-module import locks then hand one thread a module
still being run ("cannot import name ... from partially initialized module"; 27 of 30 fresh processes
whose three threads imported scipy.ndimage, scipy.signal and scipy.fft at once). briefcut imports scipy
lazily, where it is needed (a caption edit needs none of it), from threads that run side by side (a cut's
sound, its frames, a backend's load), so every such import goes through `scipy_module` first, which
imports under one lock; the import that follows it then finds the module whole.
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType

_LOCK = threading.Lock()
_DONE: set[str] = set()


def scipy_module(name: str) -> ModuleType:
    """The scipy module `name` (e.g. "scipy.ndimage"), imported whole before any other thread's scipy import
    starts; the calling thread must not be in the middle of another import (call it before one)."""
    if name not in _DONE:
        with _LOCK:
            importlib.import_module(name)
            _DONE.add(name)
    return importlib.import_module(name)
