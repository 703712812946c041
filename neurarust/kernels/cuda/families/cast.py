"""Dtype conversion on the device (``cast.cu``) between float32, float64, int64, int32 and
bool: the ``cast`` op and :meth:`DeviceArray.astype <..array.DeviceArray.astype>` (through
:func:`..kernels.cast_array`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..array import DeviceArray
from ..contract import BLOCK, MAX_GRID, Access, KernelContract, Param, grid_stride
from .common import I64, Unsupported, launch

__all__ = ["CAST", "CAST_TYPES", "CONTRACTS", "NATIVE", "cast"]

CAST_TYPES: dict[np.dtype[Any], str] = {
    np.dtype(np.float32): "f32", np.dtype(np.float64): "f64", np.dtype(np.int64): "i64",
    np.dtype(np.int32): "i32", np.dtype(np.bool_): "b8"}
"""The dtypes ``cast.cu`` converts between, with their kernel-name suffix."""

CAST = KernelContract(
    name="cast",
    source="cast.cu",
    functions=tuple(f"nr_cast_{a}_{b}" for a in CAST_TYPES.values()
                    for b in CAST_TYPES.values() if a != b),
    params=(Param("n"),),
    assume=lambda c: [],
    grid=lambda c: c.ops.min(c.ops.cdiv(c.p["n"], BLOCK), MAX_GRID),
    block=lambda c: BLOCK,
    buffers=lambda c: {"x": c.p["n"], "out": c.p["n"]},
    loops=(grid_stride("i"),),
    lemmas=(),
    accesses=(
        Access("x", "read", lambda c: c.v["i"], lambda c: [c.v["i"] < c.p["n"]], "x[i]"),
        Access("out", "write", lambda c: c.v["i"], lambda c: [c.v["i"] < c.p["n"]], "out[i]"),
    ),
)

CONTRACTS = (CAST,)


def cast(a: Any, dtype: Any) -> DeviceArray:
    """``a.astype(dtype)`` by ``cast.cu`` (a copy when the dtype is already ``dtype``);
    Unsupported for other dtypes."""
    to = np.dtype(dtype)
    if not isinstance(a, DeviceArray) or a.dtype not in CAST_TYPES or to not in CAST_TYPES:
        raise Unsupported
    if to == a.dtype:
        return a.copy()
    out = DeviceArray.empty(a.shape, to, a.driver)
    if out.size:
        launch(CAST, f"nr_cast_{CAST_TYPES[a.dtype]}_{CAST_TYPES[to]}", a.driver,
               [a.buffer, out.buffer, I64(out.size)], n=out.size)
    return out


def _cast_op(a: Any, *, dtype: Any) -> DeviceArray:
    return cast(a, dtype.np_dtype)  # the op's dtype attribute is a neurarust DType


NATIVE: dict[str, Callable[..., DeviceArray]] = {"cast": _cast_op}
