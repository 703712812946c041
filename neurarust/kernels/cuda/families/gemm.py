"""Matrix products through the driver's GEMM (cuBLAS on a GPU, numpy in emulation)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..array import DeviceArray
from ..contract import KernelContract
from .common import FLOATS, Unsupported

__all__ = ["CONTRACTS", "NATIVE"]

CONTRACTS: tuple[KernelContract, ...] = ()  # cuBLAS: no kernel source of ours


def _matmul(a: Any, b: Any) -> DeviceArray:
    """2-D operands or ``(..., n, k) @ (k, m)``."""
    if not (isinstance(a, DeviceArray) and isinstance(b, DeviceArray)) or a.dtype != b.dtype \
            or a.dtype not in FLOATS or b.ndim != 2 or a.ndim < 2:
        raise Unsupported
    k, n = b.shape
    m = a.size // k if k else 0
    out = DeviceArray.empty(a.shape[:-1] + (n,), a.dtype, a.driver)
    if m and n and k:
        a.driver.gemm(a.buffer, b.buffer, out.buffer, m, n, k, a.dtype)
    elif out.size:
        out.set(np.zeros(out.shape, out.dtype))
    return out


NATIVE: dict[str, Callable[..., DeviceArray]] = {"matmul": _matmul}
