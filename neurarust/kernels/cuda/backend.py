"""Loading the cuda backend: the ``cuda`` device type, its kernels, and host<->device moves.

:func:`load` runs on the first ``nr.device("cuda")``. It needs either pycuda and a GPU or the
emulator (``NEURARUST_CUDA_EMULATE=1``); otherwise it raises a RuntimeError naming what to
install, and the CPU backend is untouched.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ops.registry import OpDef
from .array import DeviceArray, upload
from .driver import Driver, get_driver

__all__ = ["TO_DEVICE", "load", "move", "unload"]

_LOADED = False


def load() -> Driver:
    """Create the driver, register the ``cuda`` device type and the backend's kernels."""
    global _LOADED
    driver = get_driver()  # raises with the install hint when unusable
    if not _LOADED:
        from ...device import register_backend_device
        from .kernels import register_all

        register_all()
        register_backend_device("cuda", "cuda")
        _LOADED = True
    return driver


def unload() -> None:
    """Undo :func:`load` (tests use it to switch drivers): drop the cuda kernels, the device
    type and the driver. Existing cuda tensors become unusable."""
    global _LOADED
    from ...device import _KNOWN_TYPES
    from ...ops.registry import all_ops
    from . import driver

    for op in all_ops().values():
        op.kernels.pop("cuda", None)
    _KNOWN_TYPES.pop("cuda", None)
    driver._DRIVER = None
    _LOADED = False


class _ToDevice(OpDef):
    """``tensor.to(device)`` across backends, for autograd: the gradient moves back.
    Not in the registry (it has no shape algebra use, no ONNX node: export sees one device)."""

    name = "to_device"
    save_inputs = False

    def backward(self, grad: Any, x: Any, *, out: Any, source: str) -> tuple[Any, ...]:
        return (grad.to(source),)


TO_DEVICE = _ToDevice()


def move(t: Any, target: Any) -> Any:
    """A copy of tensor ``t`` on device ``target`` (cpu <-> cuda); differentiable."""
    from ..._dispatch import _record
    from ...autograd import grad_mode
    from ...tensor import Tensor, _Storage

    src = t.device
    if src.backend == "cpu" and target.backend == "cuda":
        data: Any = upload(np.asarray(t._data), load())
    elif src.backend == "cuda" and target.backend == "cpu":
        data = t._data.get() if isinstance(t._data, DeviceArray) else np.array(t._data)
    else:
        raise RuntimeError(f"to: no backend can move data from {src} to {target}")
    out = Tensor._from_parts(data, t.dtype, target, _Storage())
    if t.requires_grad and grad_mode.is_grad_enabled():
        _record(TO_DEVICE, (t,), {"source": str(src)}, out)
    return out
