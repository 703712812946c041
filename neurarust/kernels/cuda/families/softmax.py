"""Softmax over the last dim (``softmax.cu``, one block per row, shared-memory reductions)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..array import DeviceArray
from ..contract import Access, Ctx, Expr, KernelContract, LoopVar
from .common import I64, Unsupported, launch
from .reduce import ROWS_COLS, rows_cols_assume

__all__ = ["CONTRACTS", "NATIVE", "SOFTMAX", "SOFTMAX_BLOCK", "softmax_lastdim"]

SOFTMAX_BLOCK = 256  # must equal NR_SOFTMAX_BLOCK in softmax.cu


def _row_j(c: Ctx) -> list[Any]:
    # blockIdx.x < rows (grid == rows) and the strided loop guard j < cols
    return [c.v["j"] < c.p["cols"]]


def _rowj(c: Ctx) -> Expr:
    return c.bx * c.p["cols"] + c.v["j"]


SOFTMAX = KernelContract(
    name="softmax",
    source="softmax.cu",
    functions=("nr_softmax_f32",),
    params=ROWS_COLS,
    assume=rows_cols_assume,
    grid=lambda c: c.p["rows"],
    block=lambda c: SOFTMAX_BLOCK,
    buffers=lambda c: {"x": c.p["rows"] * c.p["cols"], "y": c.p["rows"] * c.p["cols"],
                       "buf (shared)": SOFTMAX_BLOCK},
    loops=(
        # for (j = tid; j < cols; j += blockDim.x)
        LoopVar("j", lambda c: [c.v["j"] >= c.tx]),
        # for (s = blockDim.x / 2; s > 0; s >>= 1): s only halves, so 1 <= s <= blockDim.x / 2
        LoopVar("s", lambda c: [c.v["s"] >= 1, c.v["s"] <= c.ops.div(c.block, 2)]),
    ),
    lemmas=(),
    accesses=(
        Access("x", "read", _rowj, _row_j, "x[row * cols + j]"),
        Access("y", "write", _rowj, _row_j, "y[row * cols + j]"),
        Access("buf (shared)", "write", lambda c: c.tx, lambda c: [], "buf[tid]"),
        Access("buf (shared)", "read", lambda c: c.tx + c.v["s"],
               lambda c: [c.tx < c.v["s"]], "buf[tid + s]"),
        Access("buf (shared)", "read", lambda c: 0, lambda c: [], "buf[0]"),
    ),
)

CONTRACTS = (SOFTMAX,)


def softmax_lastdim(a: DeviceArray, dim: int = -1) -> DeviceArray:
    """Softmax over the last dim (float32) by ``softmax.cu``; the registry's ``softmax`` is a
    composite of primitives, so this kernel is called directly (GPU parity and bench)."""
    if not isinstance(a, DeviceArray) or a.dtype != np.float32 or a.ndim == 0 or int(dim) % a.ndim != a.ndim - 1 \
            or a.size == 0:
        raise Unsupported
    cols = a.shape[-1]
    rows = a.size // cols
    out = DeviceArray.empty(a.shape, a.dtype, a.driver)
    launch(SOFTMAX, "nr_softmax_f32", a.driver, [a.buffer, out.buffer, I64(rows), I64(cols)],
           rows=rows, cols=cols)
    return out


NATIVE: dict[str, Any] = {}
