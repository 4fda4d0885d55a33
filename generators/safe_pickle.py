"""Loading torch checkpoints that hold more than tensors, without running code from the file.

audiocraft writes its packages with `torch.save`; their `xp.cfg` may be an omegaconf `DictConfig`,
which torch >= 2.6's `weights_only=True` refuses (audiocraft's own tracker reports it). A pickle can
name any callable, so loading with `weights_only=False` would run whatever the file says. Here the
file is first read with `weights_only=True`; if it names other globals, it is read again by a
restricted unpickler whose `find_class` allows only: what torch's weights-only loader allows (tensor
rebuilders, storages), plain builtin types and containers, `typing` markers, and any `omegaconf.*`
name, which becomes an inert stand-in that only records its state (no omegaconf code runs, and
omegaconf need not be installed). Anything else (`os.system`, `builtins.eval`, ...) is refused.
`plain()` turns the stand-ins back into dicts, lists and values.
"""

from __future__ import annotations

import collections
import pathlib
import pickle
import types
from pathlib import Path
from typing import Any

SAFE_BUILTINS = {"dict", "list", "tuple", "set", "frozenset", "int", "float", "complex", "str", "bytes",
                 "bytearray", "bool", "NoneType", "slice", "range"}
SAFE_OTHER = {("collections", "OrderedDict"): collections.OrderedDict,
              ("collections", "defaultdict"): collections.defaultdict,
              ("pathlib", "PosixPath"): pathlib.PurePosixPath, ("pathlib", "WindowsPath"): pathlib.PureWindowsPath,
              ("pathlib", "PurePosixPath"): pathlib.PurePosixPath,
              ("pathlib", "PureWindowsPath"): pathlib.PureWindowsPath}


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a callable or class that is not on the allowlist."""


class OmegaStub:
    """Stands in for an omegaconf class: keeps the constructor arguments and the pickled state."""

    omega_name = "omegaconf"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.state = args, {}

    def __setstate__(self, state: Any) -> None:
        self.state = state if isinstance(state, dict) else {"state": state}


class TypingMarker:
    """Stands in for a `typing` object an omegaconf node records as its type (`typing.Any`)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"typing.{self.name}"


_STUBS: dict[str, type[OmegaStub]] = {}


def _stub(module: str, name: str) -> type[OmegaStub]:
    key = f"{module}.{name}"
    if key not in _STUBS:
        _STUBS[key] = type(name, (OmegaStub,), {"omega_name": key})
    return _STUBS[key]


def _torch_allowed() -> dict[str, Any]:
    """The globals torch's weights-only loader allows, by "module.name"."""
    try:
        from torch._weights_only_unpickler import _get_allowed_globals

        return dict(_get_allowed_globals())
    except (ImportError, AttributeError):  # a torch without it: the tensor rebuilders it always had
        import torch

        return {f"torch._utils.{n}": getattr(torch._utils, n) for n in ("_rebuild_tensor_v2", "_rebuild_parameter")}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only allowlisted globals (see the module docstring)."""

    def find_class(self, module: str, name: str) -> Any:
        import _compat_pickle

        # protocol-2 pickles (torch.save's) spell Python 2 names: __builtin__.dict is builtins.dict
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        full = f"{module}.{name}"
        allowed = _torch_allowed()
        if full in allowed:
            return allowed[full]
        if module == "builtins" and name in SAFE_BUILTINS:
            return type(None) if name == "NoneType" else getattr(__import__("builtins"), name)
        if (module, name) in SAFE_OTHER:
            return SAFE_OTHER[(module, name)]
        if module == "typing":
            return TypingMarker(name)
        if module == "omegaconf" or module.startswith("omegaconf."):
            return _stub(module, name)
        raise RefusedGlobal(f"it names '{full}', which a checkpoint has no business calling")


RESTRICTED = types.SimpleNamespace(
    __name__="briefcut_restricted_pickle", Unpickler=RestrictedUnpickler,
    load=lambda file, **kw: RestrictedUnpickler(file, **kw).load(), UnpicklingError=pickle.UnpicklingError,
)


def load_checkpoint(path: Path) -> Any:
    """`torch.load` of `path` on the CPU: weights-only when it can be, else through the restricted
    unpickler, with omegaconf objects turned into plain values. Raises pickle.UnpicklingError
    (RefusedGlobal for a forbidden global) when the file cannot be read safely."""
    import torch

    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass  # other globals than tensors: read again, restricted
    return plain(torch.load(str(path), map_location="cpu", weights_only=False, pickle_module=RESTRICTED))


def plain(obj: Any) -> Any:
    """`obj` with omegaconf stand-ins replaced by the dicts, lists and values they hold."""
    if isinstance(obj, OmegaStub):
        return _plain_omega(obj)
    if isinstance(obj, dict):
        items = {k: plain(v) for k, v in obj.items()}
        return collections.OrderedDict(items) if isinstance(obj, collections.OrderedDict) else items
    if isinstance(obj, list | tuple):
        return type(obj)(plain(v) for v in obj)
    return obj


def _plain_omega(stub: OmegaStub) -> Any:
    state = stub.state
    if stub.omega_name.endswith(("DictConfig", "ListConfig")):
        content = state.get("_content")
        if isinstance(content, dict):
            return {k: plain(v) for k, v in content.items()}
        if isinstance(content, list | tuple):
            return [plain(v) for v in content]
        return content  # None, "???" (missing) or a whole-node "${...}" interpolation
    if "_val" in state:  # a value node
        return plain(state["_val"])
    return state or (stub.args[0] if stub.args else None)
