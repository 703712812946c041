"""Reductions: the sum over the last dim or over all elements (``rowsum.cu``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..array import DeviceArray
from ..contract import (
    BLOCK,
    INT32_MAX,
    MAX_GRID,
    Access,
    Ctx,
    KernelContract,
    LoopVar,
    Param,
    grid_stride,
)
from .common import FLOATS, I64, Unsupported, launch

__all__ = ["CONTRACTS", "NATIVE", "ROWSUM", "ROWS_COLS", "rows_cols_assume"]

ROWS_COLS = (Param("rows"), Param("cols"))
"""The shape parameters of kernels over a contiguous ``[rows, cols]`` array."""


def rows_cols_assume(c: Ctx) -> list[Any]:
    """``rows * cols`` fits the launchable element count."""
    return [c.p["rows"] * c.p["cols"] <= INT32_MAX]


ROWSUM = KernelContract(
    name="rowsum",
    source="rowsum.cu",
    functions=("nr_rowsum_f32", "nr_rowsum_f64"),
    params=ROWS_COLS,
    assume=rows_cols_assume,
    grid=lambda c: c.ops.min(c.ops.cdiv(c.p["rows"], BLOCK), MAX_GRID),
    block=lambda c: BLOCK,
    buffers=lambda c: {"x": c.p["rows"] * c.p["cols"], "out": c.p["rows"]},
    loops=(grid_stride("r"), LoopVar("j", lambda c: [c.v["j"] >= 0])),
    lemmas=(),
    accesses=(
        Access("x", "read", lambda c: c.v["r"] * c.p["cols"] + c.v["j"],
               lambda c: [c.v["r"] < c.p["rows"], c.v["j"] < c.p["cols"]], "x[r * cols + j]"),
        Access("out", "write", lambda c: c.v["r"], lambda c: [c.v["r"] < c.p["rows"]], "out[r]"),
    ),
)

CONTRACTS = (ROWSUM,)


def _rowsum(x: DeviceArray, rows: int, cols: int, shape: tuple[int, ...]) -> DeviceArray:
    out = DeviceArray.empty(shape, x.dtype, x.driver)
    if rows:
        launch(ROWSUM, f"nr_rowsum_{FLOATS[x.dtype]}", x.driver,
               [x.buffer, out.buffer, I64(rows), I64(cols)], rows=rows, cols=max(cols, 1))
    return out


def _sum(a: Any, *, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> DeviceArray:
    if not isinstance(a, DeviceArray) or dtype is not None or a.dtype not in FLOATS \
            or a.size == 0:
        raise Unsupported
    if dim is None:
        return _rowsum(a, 1, a.size, (1,) * a.ndim if keepdim else ())
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    if len(dims) != 1 or a.ndim == 0 or int(dims[0]) % a.ndim != a.ndim - 1:
        raise Unsupported
    cols = a.shape[-1]
    shape = a.shape[:-1] + ((1,) if keepdim else ())
    return _rowsum(a, a.size // cols, cols, shape)


NATIVE: dict[str, Callable[..., DeviceArray]] = {"sum": _sum}
