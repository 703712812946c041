"""log_softmax and its gradient over any dim (``log_softmax.cu``: the last dim, one block per
row with shared-memory reductions; ``log_softmax_dim.cu``: other dims, a thread per
(outer, inner) pair), and the float32 softmax over the last dim (``softmax.cu``, called
directly by the GPU check and bench: the registry's ``softmax`` is ``exp(log_softmax)``)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ..array import DeviceArray
from ..contract import (
    BLOCK,
    INT32_MAX,
    MAX_GRID,
    Access,
    Ctx,
    Expr,
    KernelContract,
    Lemma,
    LoopVar,
    Param,
    grid_stride,
)
from .common import FLOATS, I64, Unsupported, launch
from .reduce import ROWS_COLS, rows_cols_assume

__all__ = ["CONTRACTS", "LOG_SOFTMAX_BACKWARD_DIM", "LOG_SOFTMAX_BACKWARD_LAST",
           "LOG_SOFTMAX_BLOCK", "LOG_SOFTMAX_DIM", "LOG_SOFTMAX_LAST", "NATIVE", "SOFTMAX",
           "SOFTMAX_BLOCK", "log_softmax", "log_softmax_backward", "softmax_lastdim"]

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

LOG_SOFTMAX_BLOCK = 256  # must equal NR_LSM_BLOCK in log_softmax.cu (a power of two)

_ROW_LOOPS = (
    # for (row = blockIdx.x; row < rows; row += gridDim.x)
    LoopVar("row", lambda c: [c.v["row"] >= c.bx]),
    # for (j = tid; j < cols; j += blockDim.x)
    LoopVar("j", lambda c: [c.v["j"] >= c.tx]),
    # nr_lsm_block_reduce: for (s = blockDim.x / 2; s > 0; s >>= 1)
    LoopVar("s", lambda c: [c.v["s"] >= 1, c.v["s"] <= c.ops.div(c.block, 2)]),
)
_SHARED_REDUCE = (  # the block reduction, over tbuf or dbuf (both NR_LSM_BLOCK long)
    Access("buf (shared)", "write", lambda c: c.tx, lambda c: [], "buf[tid]"),
    Access("buf (shared)", "read", lambda c: c.tx + c.v["s"], lambda c: [c.tx < c.v["s"]],
           "buf[tid + s]"),
    Access("buf (shared)", "read", lambda c: 0, lambda c: [], "buf[0]"),
)


def _row_access(buffer: str, kind: Literal["read", "write"]) -> Access:
    return Access(buffer, kind, lambda c: c.v["row"] * c.p["cols"] + c.v["j"],
                  lambda c: [c.v["row"] < c.p["rows"], c.v["j"] < c.p["cols"]],
                  f"{buffer}[row * cols + j]")


def _last_contract(name: str, functions: tuple[str, ...], reads: tuple[str, ...],
                   writes: tuple[str, ...]) -> KernelContract:
    """A ``log_softmax.cu`` kernel: blocks over rows (grid-stride), threads over columns."""
    return KernelContract(
        name=name,
        source="log_softmax.cu",
        functions=functions,
        params=ROWS_COLS,
        assume=rows_cols_assume,
        grid=lambda c: c.ops.min(c.p["rows"], MAX_GRID),
        block=lambda c: LOG_SOFTMAX_BLOCK,
        buffers=lambda c: {**{b: c.p["rows"] * c.p["cols"] for b in reads + writes},
                           "buf (shared)": LOG_SOFTMAX_BLOCK},
        loops=_ROW_LOOPS,
        lemmas=(),
        accesses=(*(_row_access(b, "read") for b in reads),
                  *(_row_access(b, "write") for b in writes), *_SHARED_REDUCE),
    )


LOG_SOFTMAX_LAST = _last_contract(
    "log_softmax_last", ("nr_log_softmax_last_f32", "nr_log_softmax_last_f64"), ("x",), ("y",))
LOG_SOFTMAX_BACKWARD_LAST = _last_contract(
    "log_softmax_backward_last",
    ("nr_log_softmax_backward_last_f32", "nr_log_softmax_backward_last_f64"), ("g", "y"),
    ("out",))


def _pairs(c: Ctx) -> Expr:
    return c.p["outer"] * c.p["inner"]


def _dim_access(buffer: str, kind: Literal["read", "write"]) -> Access:
    return Access(buffer, kind,
                  lambda c: (c.v["o"] * c.p["dim"] + c.v["j"]) * c.p["inner"] + c.v["k"],
                  lambda c: [c.v["i"] < _pairs(c), c.v["j"] < c.p["dim"]],
                  f"{buffer}[(o * dim + j) * inner + k]")


def _dim_contract(name: str, functions: tuple[str, ...], reads: tuple[str, ...],
                  writes: tuple[str, ...]) -> KernelContract:
    """A ``log_softmax_dim.cu`` kernel: a thread per (outer, inner) pair, grid-stride."""
    return KernelContract(
        name=name,
        source="log_softmax_dim.cu",
        functions=functions,
        params=(Param("outer"), Param("dim"), Param("inner")),
        assume=lambda c: [c.p["outer"] * c.p["dim"] * c.p["inner"] <= INT32_MAX],
        grid=lambda c: c.ops.min(c.ops.cdiv(_pairs(c), BLOCK), MAX_GRID),
        block=lambda c: BLOCK,
        buffers=lambda c: {b: c.p["outer"] * c.p["dim"] * c.p["inner"] for b in reads + writes},
        # for (i = ...; i < outer * inner; grid-stride) for (j = 0; j < dim; ++j)
        loops=(grid_stride("i"), LoopVar("j", lambda c: [c.v["j"] >= 0])),
        # k = i % inner, o = (i / inner) % outer (the % outer is a no-op for i < outer * inner
        # and makes the range unconditional)
        lemmas=(Lemma("k", lambda c: c.ops.mod(c.v["i"], c.p["inner"]), lambda c: 0,
                      lambda c: c.p["inner"]),
                Lemma("o", lambda c: c.ops.mod(c.ops.div(c.v["i"], c.p["inner"]), c.p["outer"]),
                      lambda c: 0, lambda c: c.p["outer"])),
        accesses=(*(_dim_access(b, "read") for b in reads),
                  *(_dim_access(b, "write") for b in writes)),
    )


LOG_SOFTMAX_DIM = _dim_contract(
    "log_softmax_dim", ("nr_log_softmax_dim_f32", "nr_log_softmax_dim_f64"), ("x",), ("y",))
LOG_SOFTMAX_BACKWARD_DIM = _dim_contract(
    "log_softmax_backward_dim",
    ("nr_log_softmax_backward_dim_f32", "nr_log_softmax_backward_dim_f64"), ("g", "y"),
    ("out",))

CONTRACTS = (SOFTMAX, LOG_SOFTMAX_LAST, LOG_SOFTMAX_BACKWARD_LAST, LOG_SOFTMAX_DIM,
             LOG_SOFTMAX_BACKWARD_DIM)


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


def _split(shape: tuple[int, ...], dim: int) -> tuple[int, int, int]:
    """``shape`` as ``(outer, shape[dim], inner)``."""
    d = int(dim) % len(shape)
    return (int(np.prod(shape[:d], dtype=np.int64)), shape[d],
            int(np.prod(shape[d + 1:], dtype=np.int64)))


def _run(kind: str, inputs: list[DeviceArray], dim: int) -> DeviceArray:
    """``nr_{kind}_{last|dim}_{f32|f64}`` over ``dim`` of same-shape float ``inputs``."""
    ref = inputs[0]
    if any(not isinstance(a, DeviceArray) or a.dtype != ref.dtype or a.shape != ref.shape
           for a in inputs) or ref.dtype not in FLOATS:
        raise Unsupported
    out = DeviceArray.empty(ref.shape, ref.dtype, ref.driver)
    if ref.ndim == 0:  # a 0-d log_softmax is 0 and so is its gradient, as the CPU kernel
        out.fill(0)
        return out
    if out.size == 0:
        return out
    outer, size, inner = _split(ref.shape, dim)
    args = [a.buffer for a in inputs] + [out.buffer]
    suffix = FLOATS[ref.dtype]
    if inner == 1:  # the reduced dim is contiguous: a block per row
        contract = LOG_SOFTMAX_LAST if kind == "log_softmax" else LOG_SOFTMAX_BACKWARD_LAST
        launch(contract, f"nr_{kind}_last_{suffix}", ref.driver,
               [*args, I64(outer), I64(size)], rows=outer, cols=size)
    else:
        contract = LOG_SOFTMAX_DIM if kind == "log_softmax" else LOG_SOFTMAX_BACKWARD_DIM
        launch(contract, f"nr_{kind}_dim_{suffix}", ref.driver,
               [*args, I64(outer), I64(size), I64(inner)], outer=outer, dim=size, inner=inner)
    return out


def log_softmax(x: Any, *, dim: int) -> DeviceArray:
    """``x - logsumexp(x, dim)`` on the device (float32/float64, any dim)."""
    return _run("log_softmax", [x], dim)


def log_softmax_backward(g: Any, y: Any, *, dim: int) -> DeviceArray:
    """``g - exp(y) * sum(g, dim)``, the gradient of ``y = log_softmax(x, dim)``."""
    return _run("log_softmax_backward", [g, y], dim)


NATIVE: dict[str, Any] = {"log_softmax": log_softmax,
                          "log_softmax_backward": log_softmax_backward}
