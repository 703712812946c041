"""Reductions over any dims: sum, mean, amax, amin, max/min (values, and their int64 indices
as argmax/argmin), var, std and logsumexp (``reduce.cu``, ``reduce_cols.cu``); and
``rowsum.cu``, the first last-dim sum, kept as the CPU shim's reference kernel.

The input is viewed as ``[outer, red, inner]`` with the reduced dims contiguous: size-1 dims
are dropped and adjacent dims of the same kind (reduced or kept) merge. Reduced dims that are
not adjacent (batch norm's ``(0, 2, 3)``) are first moved behind the kept ones by the gather
family's strided copy, giving ``[outer, red, 1]``. Then

* ``inner == 1``: ``reduce.cu``, one block per row, a shared-memory tree over the block's
  partials;
* ``inner > 1``: ``reduce_cols.cu``, one thread per output looping over ``red`` (coalesced
  across ``inner``); when that leaves too few threads for a long ``red`` (a column sum of a
  tall matrix), the gather copy transposes to ``[outer, inner, red]`` and ``reduce.cu`` runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Final

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
from .gather import gather

__all__ = ["ARGREDUCE_COLS", "ARGREDUCE_ROWS", "CONTRACTS", "NATIVE", "REDUCE_BLOCK",
           "REDUCE_COLS", "REDUCE_ROWS", "ROWSUM", "ROWS_COLS", "rows_cols_assume"]

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

# -- reduce.cu: one block per row ----------------------------------------------------------
REDUCE_BLOCK: Final = 256
"""Threads per block of ``reduce.cu`` (NR_REDUCE_BLOCK there; a power of two)."""

_TYPES = ("f32", "f64")
_OPS: Final = ("sum", "amax", "amin", "var", "logsumexp")
_ARG_OPS: Final = ("argmax", "argmin")
_IDENTITY: Final = ("sum", "var", "logsumexp")  # defined over an empty dim (0, nan, -inf)

_ROWS_PARAMS = (Param("rows"), Param("cols", 0))  # an empty row: sum 0, mean nan, ...


def _in_row(c: Ctx) -> list[Any]:
    # the row loop (row = blockIdx.x + k * gridDim.x < rows) and the strided j < cols
    return [c.v["row"] < c.p["rows"], c.v["j"] < c.p["cols"]]


def _row_loops() -> tuple[LoopVar, ...]:
    return (
        # for (row = blockIdx.x; row < rows; row += gridDim.x)
        LoopVar("row", lambda c: [c.v["row"] >= c.bx]),
        # for (j = threadIdx.x; j < cols; j += blockDim.x)
        LoopVar("j", lambda c: [c.v["j"] >= c.tx]),
        # for (s = blockDim.x / 2; s > 0; s >>= 1): s only halves, so 1 <= s <= blockDim.x / 2
        LoopVar("s", lambda c: [c.v["s"] >= 1, c.v["s"] <= c.ops.div(c.block, 2)]),
    )


def _tree(buffer: str) -> tuple[Access, ...]:
    """The accesses of a shared-memory tree reduction over ``buffer[REDUCE_BLOCK]``."""
    shared = f"{buffer} (shared)"
    return (
        Access(shared, "write", lambda c: c.tx, lambda c: [], f"{buffer}[tid]"),
        Access(shared, "read", lambda c: c.tx + c.v["s"], lambda c: [c.tx < c.v["s"]],
               f"{buffer}[tid + s]"),
        Access(shared, "read", lambda c: 0, lambda c: [], f"{buffer}[0]"),
    )


def _row_accesses(*outputs: str) -> tuple[Access, ...]:
    return (
        Access("x", "read", lambda c: c.v["row"] * c.p["cols"] + c.v["j"], _in_row,
               "x[row * cols + j]"),
        *(Access(o, "write", lambda c: c.v["row"], lambda c: [c.v["row"] < c.p["rows"]],
                 f"{o}[row]") for o in outputs),
    )


REDUCE_ROWS = KernelContract(
    name="reduce_rows",
    source="reduce.cu",
    functions=tuple(f"nr_{op}_rows_{t}" for t in _TYPES for op in _OPS),
    params=_ROWS_PARAMS,
    assume=rows_cols_assume,
    grid=lambda c: c.ops.min(c.p["rows"], MAX_GRID),
    block=lambda c: REDUCE_BLOCK,
    buffers=lambda c: {"x": c.p["rows"] * c.p["cols"], "out": c.p["rows"],
                       "sbuf (shared)": REDUCE_BLOCK},
    loops=_row_loops(),
    lemmas=(),
    accesses=(*_row_accesses("out"), *_tree("sbuf")),
)

ARGREDUCE_ROWS = KernelContract(
    name="argreduce_rows",
    source="reduce.cu",
    functions=tuple(f"nr_{op}_rows_{t}" for t in _TYPES for op in _ARG_OPS),
    params=(Param("rows"), Param("cols")),  # max/min have no identity: cols >= 1
    assume=rows_cols_assume,
    grid=lambda c: c.ops.min(c.p["rows"], MAX_GRID),
    block=lambda c: REDUCE_BLOCK,
    buffers=lambda c: {"x": c.p["rows"] * c.p["cols"], "out": c.p["rows"], "idx": c.p["rows"],
                       "sval (shared)": REDUCE_BLOCK, "sidx (shared)": REDUCE_BLOCK},
    loops=_row_loops(),
    lemmas=(),
    accesses=(*_row_accesses("out", "idx"), *_tree("sval"), *_tree("sidx")),
)


# -- reduce_cols.cu: one thread per output ---------------------------------------------------
def _outputs(c: Ctx) -> Expr:
    return c.p["outer"] * c.p["inner"]


def _cols_assume(c: Ctx) -> list[Any]:
    return [c.p["outer"] * c.p["red"] * c.p["inner"] <= INT32_MAX, _outputs(c) <= INT32_MAX]


def _cols_loops() -> tuple[LoopVar, ...]:
    return (
        # for (o = blockIdx.x * blockDim.x + threadIdx.x; o < outer * inner; o += ...): the
        # body, where every access is, sees only o < outer * inner
        LoopVar("o", lambda c: [c.v["o"] >= c.bx * c.block + c.tx, c.v["o"] < _outputs(c)]),
        # for (r = 0; r < red; ++r): likewise inside the body
        LoopVar("r", lambda c: [c.v["r"] >= 0, c.v["r"] < c.p["red"]]),
    )


_COLS_LEMMAS = (
    Lemma("a", lambda c: c.ops.div(c.v["o"], c.p["inner"]), lambda c: 0, lambda c: c.p["outer"]),
    Lemma("b", lambda c: c.ops.mod(c.v["o"], c.p["inner"]), lambda c: 0, lambda c: c.p["inner"]),
    # the row (a, r) of the [outer * red, inner] view
    Lemma("ar", lambda c: c.v["a"] * c.p["red"] + c.v["r"], lambda c: 0,
          lambda c: c.p["outer"] * c.p["red"]),
)


def _col_accesses(*outputs: str) -> tuple[Access, ...]:
    return (
        Access("x", "read", lambda c: c.v["ar"] * c.p["inner"] + c.v["b"],
               lambda c: [c.v["o"] < _outputs(c), c.v["r"] < c.p["red"]],
               "x[(a * red + r) * inner + b]"),
        *(Access(o, "write", lambda c: c.v["o"], lambda c: [c.v["o"] < _outputs(c)], f"{o}[o]")
          for o in outputs),
    )


def _cols_grid(c: Ctx) -> Expr:
    return c.ops.min(c.ops.cdiv(_outputs(c), BLOCK), MAX_GRID)


REDUCE_COLS = KernelContract(
    name="reduce_cols",
    source="reduce_cols.cu",
    functions=tuple(f"nr_{op}_cols_{t}" for t in _TYPES for op in _OPS),
    params=(Param("outer"), Param("red", 0), Param("inner")),
    assume=_cols_assume,
    grid=_cols_grid,
    block=lambda c: BLOCK,
    buffers=lambda c: {"x": c.p["outer"] * c.p["red"] * c.p["inner"], "out": _outputs(c)},
    loops=_cols_loops(),
    lemmas=_COLS_LEMMAS,
    accesses=_col_accesses("out"),
)

ARGREDUCE_COLS = KernelContract(
    name="argreduce_cols",
    source="reduce_cols.cu",
    functions=tuple(f"nr_{op}_cols_{t}" for t in _TYPES for op in _ARG_OPS),
    params=(Param("outer"), Param("red"), Param("inner")),
    assume=_cols_assume,
    grid=_cols_grid,
    block=lambda c: BLOCK,
    buffers=lambda c: {"x": c.p["outer"] * c.p["red"] * c.p["inner"], "out": _outputs(c),
                       "idx": _outputs(c)},
    loops=_cols_loops(),
    lemmas=_COLS_LEMMAS,
    accesses=_col_accesses("out", "idx"),
)

CONTRACTS = (ROWSUM, REDUCE_ROWS, ARGREDUCE_ROWS, REDUCE_COLS, ARGREDUCE_COLS)


# -- host side -----------------------------------------------------------------------------
TRANSPOSE_BELOW: Final = 16384
"""With ``inner > 1``, fewer outputs than this and ``red >= TRANSPOSE_RED`` transpose to rows
first: ``reduce_cols.cu`` would run fewer than 64 blocks of threads each looping over a long
``red``, while ``reduce.cu`` spreads every row over a block."""
TRANSPOSE_RED: Final = 256


def _axes(a: DeviceArray, dim: Sequence[int] | None) -> tuple[int, ...]:
    """The reduced axes, as the CPU kernels read ``dim`` (None, empty, or a 0-d input: all)."""
    if a.ndim == 0 or dim is None or len(dim) == 0:
        return tuple(range(a.ndim))
    return tuple(sorted({int(d) % a.ndim for d in dim}))


def _out_shape(a: DeviceArray, axes: tuple[int, ...], keepdim: bool) -> tuple[int, ...]:
    if keepdim:
        return tuple(1 if k in axes else n for k, n in enumerate(a.shape))
    return tuple(n for k, n in enumerate(a.shape) if k not in axes)


def _layout(a: DeviceArray, axes: tuple[int, ...]) -> tuple[DeviceArray, int, int, int]:
    """``(x, outer, red, inner)``: ``a`` (or a permuted contiguous copy) viewed as
    ``[outer, red, inner]`` with the reduced elements along ``red``."""
    groups: list[tuple[bool, int]] = []  # (reduced, size) of runs of adjacent dims
    for k, n in enumerate(a.shape):
        if n == 1:
            continue  # either kind; dropping it lets its neighbours merge
        reduced = k in axes
        if groups and groups[-1][0] == reduced:
            groups[-1] = (reduced, groups[-1][1] * n)
        else:
            groups.append((reduced, n))
    red = math.prod(n for r, n in groups if r)
    kinds = [r for r, _ in groups]
    if red == 0 or kinds.count(True) == 0:
        return a, math.prod(n for r, n in groups if not r), red, 1
    first = kinds.index(True)
    if kinds.count(True) == 1:
        outer = math.prod(n for _, n in groups[:first])
        inner = math.prod(n for _, n in groups[first + 1:])
        if inner == 1 or outer * inner >= TRANSPOSE_BELOW or red < TRANSPOSE_RED:
            return a, outer, red, inner
        groups = [(False, outer), (True, red), (False, inner)]
    if len(groups) > 4:
        raise Unsupported  # more than 4 alternating runs: beyond gather's rank
    sizes = [n for _, n in groups]
    strides = [math.prod(sizes[k + 1:]) for k in range(len(sizes))]
    order = [k for k, (r, _) in enumerate(groups) if not r] + \
        [k for k, (r, _) in enumerate(groups) if r]
    moved = gather(a, tuple(sizes[k] for k in order), [strides[k] for k in order])
    return moved, a.size // red, red, 1


def _run(kind: str, a: Any, dim: Sequence[int] | None, keepdim: bool,
         extra: Callable[[int], list[Any]] | None = None,
         index: bool = False) -> tuple[DeviceArray, DeviceArray | None]:
    """Launch reduction ``kind`` (a kernel name stem: sum, amax, var, argmax, ...) of ``a``
    over ``dim``; ``extra(red)`` gives the trailing scalar arguments. Returns the values and,
    with ``index``, the int64 indices along the reduced dim."""
    if not isinstance(a, DeviceArray) or a.dtype not in FLOATS or a.size > INT32_MAX:
        raise Unsupported
    axes = _axes(a, dim)
    shape = _out_shape(a, axes, keepdim)
    out = DeviceArray.empty(shape, a.dtype, a.driver)
    idx = DeviceArray.empty(shape, np.int64, a.driver) if index else None
    if out.size == 0:
        return out, idx
    x, outer, red, inner = _layout(a, axes)
    if red == 0 and kind not in _IDENTITY:
        raise Unsupported  # no identity (the op's shape rule rejects this first)
    args = [x.buffer, out.buffer] + ([idx.buffer] if idx is not None else [])
    tail = extra(red) if extra is not None else []
    t = FLOATS[a.dtype]
    arg = kind in _ARG_OPS
    if inner == 1:
        contract = ARGREDUCE_ROWS if arg else REDUCE_ROWS
        launch(contract, f"nr_{kind}_rows_{t}", a.driver, [*args, I64(outer), I64(red), *tail],
               rows=outer, cols=red)
    else:
        contract = ARGREDUCE_COLS if arg else REDUCE_COLS
        launch(contract, f"nr_{kind}_cols_{t}", a.driver,
               [*args, I64(outer), I64(red), I64(inner), *tail], outer=outer, red=red,
               inner=inner)
    return out, idx


def _same_dtype(a: Any, dtype: Any) -> None:
    """``dtype=`` is covered only when it is the input's own (no cast in the kernel)."""
    if dtype is not None and (not isinstance(a, DeviceArray) or dtype.np_dtype != a.dtype):
        raise Unsupported


def _sum(a: Any, *, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> DeviceArray:
    _same_dtype(a, dtype)
    return _run("sum", a, dim, keepdim, lambda red: [np.float64(1.0)])[0]


def _mean(a: Any, *, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> DeviceArray:
    _same_dtype(a, dtype)
    return _run("sum", a, dim, keepdim, lambda red: [np.float64(red)])[0]


def _variance(root: bool) -> Callable[..., DeviceArray]:
    def run(a: Any, *, dim: Any = None, correction: float = 1,
            keepdim: bool = False) -> DeviceArray:
        def tail(red: int) -> list[Any]:
            # the CPU's divisor: max(N - correction, 0), where 0 gives inf or nan
            return [np.float64(max(red - correction, 0)), np.int32(root)]

        return _run("var", a, dim, keepdim, tail)[0]

    return run


def _plain(kind: str) -> Callable[..., DeviceArray]:
    def run(a: Any, *, dim: Any = None, keepdim: bool = False) -> DeviceArray:
        return _run(kind, a, dim, keepdim)[0]

    return run


def _selected(kind: str, want_index: bool) -> Callable[..., DeviceArray]:
    """max/min (the values) or argmax/argmin (the int64 indices) along one dim, or, for the
    index ops with ``dim=None``, into the flattened input."""

    def run(a: Any, *, dim: Any = None, keepdim: bool = False) -> DeviceArray:
        values, index = _run(kind, a, dim, keepdim, index=True)
        assert index is not None
        return index if want_index else values

    return run


NATIVE: dict[str, Callable[..., DeviceArray]] = {
    "sum": _sum, "mean": _mean, "var": _variance(False), "std": _variance(True),
    "amax": _plain("amax"), "amin": _plain("amin"), "logsumexp": _plain("logsumexp"),
    "max": _selected("argmax", False), "min": _selected("argmin", False),
    "argmax": _selected("argmax", True), "argmin": _selected("argmin", True),
}
