"""Host-side helpers shared by the kernel families: argument checks and typed launches."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..array import DeviceArray, upload
from ..contract import KernelContract

__all__ = ["FLOATS", "I64", "Unsupported", "as_device", "launch", "padded_strides"]

FLOATS = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}
"""The float dtypes the native kernels cover, with their kernel-name suffix."""
I64 = np.int64
"""The type of every integer kernel argument (``long long``)."""


class Unsupported(Exception):
    """The native kernel does not cover these arguments; the host fallback runs instead."""


def padded_strides(x: DeviceArray, out_shape: tuple[int, ...]) -> list[int]:
    """Element strides of contiguous ``x`` broadcast to ``out_shape`` padded to rank 4."""
    shape = (1,) * (4 - x.ndim) + x.shape
    strides = (0,) * (4 - x.ndim) + tuple(s // x.itemsize for s in x.strides)
    full = (1,) * (4 - len(out_shape)) + out_shape
    return [0 if n == 1 and m != 1 else s for n, m, s in zip(shape, full, strides)]


def as_device(x: Any, dtype: np.dtype[Any], driver: Any) -> DeviceArray:
    """``x`` as a device array of ``dtype`` (a scalar is uploaded); Unsupported otherwise."""
    if isinstance(x, DeviceArray):
        if x.dtype != dtype:
            raise Unsupported
        return x
    if isinstance(x, (int, float, np.number, np.bool_)):
        out: DeviceArray = upload(np.asarray(x, dtype), driver)
        return out
    raise Unsupported


def launch(contract: KernelContract, function: str, driver: Any, args: list[Any],
           **shape: int) -> None:
    """Launch ``function`` of ``contract``'s source with the launch configuration the
    contract computes from ``shape`` (the one its proof covers)."""
    if function not in contract.functions:
        raise RuntimeError(f"internal: {function} is not a kernel of contract {contract.name}")
    cfg = contract.launch(**shape)
    driver.launch(contract.source, function, cfg.grid, cfg.block, args)
