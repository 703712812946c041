"""Indexing kernels (``index.cu``): slices, ``cat``/``stack``, and gathers and scatters along
one dim by an index tensor (``index_select`` — embedding's forward —, ``gather``, ``x[idx]``,
``scatter``, ``scatter_add``, ``index_put`` — the backward of all of them).

Index values are data: the kernels wrap and range-check each one before using it and set a
flag in a one-element device buffer for a value out of range; the host reads the flag after
the launch and raises the CPU kernel's own ``IndexError`` (recomputed from a host copy of the
index, on that error path only). The contracts model a loaded index as a free value ``v``
whose guard is the kernel's range check, so their proofs hold for every index tensor.

Layouts: shapes are collapsed (size-1 dims dropped, dims merged where every stride allows)
and padded to rank 4; more than 4 dims after that is :class:`~.common.Unsupported` (host).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...cpu.indexing import _check_bounds
from ...cpu.indexing import getitem as _cpu_getitem
from ....ops.joining import cat_inputs
from ..array import DeviceArray, upload
from ..contract import (
    BLOCK,
    DIMS4,
    INT32_MAX,
    MAX_GRID,
    Access,
    Ctx,
    Expr,
    KernelContract,
    LoopVar,
    Param,
    coord,
    extent4,
    grid_stride,
    numel4,
    offset4,
)
from ....ops.indexing import FULL
from ....types.algebra import CONCRETE
from .common import FLOATS, I64, Unsupported, launch

__all__ = ["CONTRACTS", "COPY", "NATIVE", "NATIVE_FROM_CPU", "PUT", "SCATTER", "TAKE"]

_TYPES = {**FLOATS, np.dtype(np.int64): "i64"}
_INDEX_TYPES = {np.dtype(np.int64): "i64", np.dtype(np.int32): "i32"}


def _strides(name: str) -> tuple[Param, ...]:
    return tuple(Param(f"{name}{k}", 0, INT32_MAX) for k in range(4))


def _in_shape(c: Ctx) -> list[Any]:
    return [c.v["i"] < numel4(c)]


def _index_ok(c: Ctx) -> list[Any]:
    # the kernel's own check, after the optional wrap: if (v < 0 || v >= size) skip
    return [c.v["i"] < numel4(c), c.v["v"] >= 0, c.v["v"] < c.p["size"]]


def _indexed(c: Ctx) -> Expr:
    return offset4(c, "s") + c.v["v"] * c.p["sd"]


def _indexed_extent(c: Ctx) -> Expr:
    return extent4(c, "s") + (c.p["size"] - 1) * c.p["sd"]


_S = "c0 * s0 + c1 * s1 + c2 * s2 + c3 * s3"
_COMMON = dict(
    assume=lambda c: [numel4(c) <= INT32_MAX],
    grid=lambda c: c.ops.min(c.ops.cdiv(numel4(c), BLOCK), MAX_GRID),
    block=lambda c: BLOCK,
    lemmas=tuple(coord(k) for k in (3, 2, 1, 0)),
)
_LOADED = LoopVar("v", lambda c: [])
"""The loaded (and wrapped) index value: free, any integer at all."""
_INDEX_PARAMS = (Param("sd", 0, INT32_MAX), Param("size"), *_strides("t"))


def _functions(kind: str, indexed: bool) -> tuple[str, ...]:
    return tuple(f"nr_{kind}_{t}" + (f"_{i}" if indexed else "")
                 for t in ("f32", "f64", "i64") for i in (("i64", "i32") if indexed else ("",)))


COPY = KernelContract(
    name="index_copy", source="index.cu", functions=_functions("copy", False),
    params=(*(Param(d) for d in DIMS4), *_strides("s"), Param("off", 0, INT32_MAX)),
    buffers=lambda c: {"x": c.p["off"] + extent4(c, "s"), "out": numel4(c)},
    loops=(grid_stride("i"),),
    accesses=(
        Access("x", "read", lambda c: c.p["off"] + offset4(c, "s"), _in_shape, f"x[off + {_S}]"),
        Access("out", "write", lambda c: c.v["i"], _in_shape, "out[i]"),
    ),
    **_COMMON,  # type: ignore[arg-type]
)
"""``out[i] = x[off + c . s]``: a strided view with a base offset, copied (slices)."""

PUT = KernelContract(
    name="index_put_view", source="index.cu", functions=_functions("put", False),
    params=(*(Param(d) for d in DIMS4), *_strides("s"), Param("off", 0, INT32_MAX),
            *_strides("u")),
    buffers=lambda c: {"out": c.p["off"] + extent4(c, "s"), "src": extent4(c, "u")},
    loops=(grid_stride("i"),),
    accesses=(
        Access("src", "read", lambda c: offset4(c, "u"), _in_shape,
               "src[c0 * u0 + c1 * u1 + c2 * u2 + c3 * u3]"),
        Access("out", "read", lambda c: c.p["off"] + offset4(c, "s"), _in_shape,
               f"out[off + {_S}]"),
        Access("out", "write", lambda c: c.p["off"] + offset4(c, "s"), _in_shape,
               f"out[off + {_S}]"),
    ),
    **_COMMON,  # type: ignore[arg-type]
)
"""``out[off + c . s] = src[c . u]`` (or ``+=``): writes into a strided view (cat, stack,
``x[slices] = v``, getitem's backward)."""

TAKE = KernelContract(
    name="index_take", source="index.cu", functions=_functions("take", True),
    params=(*(Param(d) for d in DIMS4), *_strides("s"), *_INDEX_PARAMS),
    buffers=lambda c: {"x": _indexed_extent(c), "idx": extent4(c, "t"), "out": numel4(c),
                       "err": 1},
    loops=(grid_stride("i"), _LOADED),
    accesses=(
        Access("idx", "read", lambda c: offset4(c, "t"), _in_shape,
               "idx[c0 * t0 + c1 * t1 + c2 * t2 + c3 * t3]"),
        Access("err", "write", lambda c: 0, _in_shape, "err[0]"),
        Access("x", "read", _indexed, _index_ok, f"x[{_S} + v * sd]"),
        Access("out", "write", lambda c: c.v["i"], _index_ok, "out[i]"),
    ),
    **_COMMON,  # type: ignore[arg-type]
)
"""``out[i] = x[c . s + v * sd]`` with ``v = idx[c . t]`` checked in ``[0, size)``
(index_select, gather, ``x[idx]``)."""

SCATTER = KernelContract(
    name="index_scatter", source="index.cu", functions=_functions("scatter", True),
    params=(*(Param(d) for d in DIMS4), *_strides("s"), *_INDEX_PARAMS, *_strides("u")),
    buffers=lambda c: {"out": _indexed_extent(c), "idx": extent4(c, "t"),
                       "src": extent4(c, "u"), "err": 1},
    loops=(grid_stride("i"), _LOADED),
    accesses=(
        Access("idx", "read", lambda c: offset4(c, "t"), _in_shape,
               "idx[c0 * t0 + c1 * t1 + c2 * t2 + c3 * t3]"),
        Access("err", "write", lambda c: 0, _in_shape, "err[0]"),
        Access("src", "read", lambda c: offset4(c, "u"), _index_ok,
               "src[c0 * u0 + c1 * u1 + c2 * u2 + c3 * u3]"),
        Access("out", "read", _indexed, _index_ok, f"out[{_S} + v * sd]"),  # atomicAdd
        Access("out", "write", _indexed, _index_ok, f"out[{_S} + v * sd]"),
    ),
    **_COMMON,  # type: ignore[arg-type]
)
"""``out[c . s + v * sd] = src[c . u]`` (atomically ``+=`` with accumulate), ``v = idx[c . t]``
checked in ``[0, size)`` (scatter, scatter_add, index_put with an index tensor)."""

CONTRACTS = (COPY, PUT, TAKE, SCATTER)


# -- host side ------------------------------------------------------------------------------
def _elements(x: DeviceArray) -> list[int]:
    return [s // x.itemsize for s in x.strides]


def _layout(shape: Sequence[int], *strides: Sequence[int]) -> tuple[list[int], list[list[int]]]:
    """``shape`` and its stride lists collapsed (size-1 dims dropped, adjacent dims merged
    where every list allows) and padded to rank 4; Unsupported beyond 4 dims."""
    keep = [k for k, n in enumerate(shape) if n != 1]
    dims = [int(shape[k]) for k in keep]
    lists = [[int(s[k]) for k in keep] for s in strides]
    k = len(dims) - 2
    while k >= 0:
        if all(s[k] == s[k + 1] * dims[k + 1] for s in lists):
            dims[k:k + 2] = [dims[k] * dims[k + 1]]
            for s in lists:
                s[k:k + 2] = [s[k + 1]]
        k -= 1
    if len(dims) > 4:
        raise Unsupported
    pad = 4 - len(dims)
    return [1] * pad + dims, [[0] * pad + s for s in lists]


def _span(dims: Sequence[int], strides: Sequence[int]) -> int:
    """Elements a strided view spans (what the contracts' ``extent4`` gives)."""
    return 1 + sum((n - 1) * s for n, s in zip(dims, strides))


def _fits(what: str, need: int, x: DeviceArray) -> None:
    if need > max(x.size, 1):
        raise RuntimeError(f"internal: {what} spans {need} elements of a buffer of {x.size}")


def _broadcast_strides(v: DeviceArray, shape: Sequence[int]) -> list[int]:
    """Element strides of ``v`` broadcast to ``shape`` (right-aligned, 0 on broadcast dims);
    Unsupported where it does not broadcast (the CPU kernel then raises)."""
    if v.ndim > len(shape):
        raise Unsupported
    own = [0] * (len(shape) - v.ndim) + _elements(v)
    sizes = [1] * (len(shape) - v.ndim) + list(v.shape)
    if any(n != m and n != 1 for n, m in zip(sizes, shape)):
        raise Unsupported
    return [0 if n == 1 else s for n, s in zip(sizes, own)]


def _values(values: Any, like: DeviceArray) -> DeviceArray:
    """A device array of ``like``'s dtype for a put's values (a Python number is uploaded)."""
    if isinstance(values, DeviceArray):
        if values.dtype != like.dtype:
            raise Unsupported
        return values
    if isinstance(values, (bool, int, float, np.number)):
        out: DeviceArray = upload(np.asarray(values, like.dtype), like.driver)
        return out
    raise Unsupported


def _copy(x: DeviceArray, shape: tuple[int, ...], strides: Sequence[int],
          off: int) -> DeviceArray:
    """A contiguous copy of the view ``(shape, strides, off)`` of ``x`` (``nr_copy``)."""
    out = DeviceArray.empty(shape, x.dtype, x.driver)
    if out.size:
        d, (s,) = _layout(shape, strides)
        _fits("copy view", off + _span(d, s), x)
        launch(COPY, f"nr_copy_{_TYPES[x.dtype]}", x.driver,
               [x.buffer, out.buffer, I64(out.size), *map(I64, d), *map(I64, s), I64(off)],
               **dict(zip(DIMS4, d)))
    return out


def _put(out: DeviceArray, src: DeviceArray, shape: Sequence[int], strides: Sequence[int],
         off: int, src_strides: Sequence[int], accumulate: bool) -> None:
    """``out``'s view ``(shape, strides, off)`` set to (or, accumulating, incremented by)
    ``src`` read with ``src_strides`` (``nr_put``)."""
    if not int(np.prod(shape, dtype=np.int64)):
        return
    d, (s, u) = _layout(shape, strides, src_strides)
    _fits("put view", off + _span(d, s), out)
    _fits("put source", _span(d, u), src)
    launch(PUT, f"nr_put_{_TYPES[out.dtype]}", out.driver,
           [out.buffer, src.buffer, I64(int(np.prod(d))), *map(I64, d), *map(I64, s), I64(off),
            *map(I64, u), np.int32(accumulate)], **dict(zip(DIMS4, d)))


def _check_index(x: DeviceArray, index: Any) -> None:
    if not isinstance(index, DeviceArray) or index.dtype not in _INDEX_TYPES \
            or x.dtype not in _TYPES:
        raise Unsupported


def _raise_if_flagged(err: DeviceArray, on_error: Callable[[], None]) -> None:
    """After a launch: if a kernel flagged an index out of range, raise the CPU's IndexError
    (``on_error`` recomputes it from a host copy of the index)."""
    if err.get()[0]:
        on_error()
        raise RuntimeError("internal: an index kernel flagged an index the CPU check accepts")


def _indexed_launch(contract: KernelContract, kind: str, dest: DeviceArray, idx: DeviceArray,
                    shape: Sequence[int], strides: Sequence[int], dim_stride: int, size: int,
                    idx_strides: Sequence[int], wrap: bool, on_error: Callable[[], None],
                    src: tuple[DeviceArray, Sequence[int], bool] | None = None,
                    x: DeviceArray | None = None) -> None:
    """One TAKE (``x`` -> ``dest``) or SCATTER (``src`` -> ``dest``) launch over ``shape``."""
    n = int(np.prod(shape, dtype=np.int64))
    if n == 0:
        return
    if size == 0:  # every index is out of range of an empty dim
        on_error()
    lists = [strides, idx_strides] + ([src[1]] if src is not None else [])
    d, collapsed = _layout(shape, *lists)
    s, t = collapsed[0], collapsed[1]
    table = x if x is not None else dest
    _fits(f"{kind} view", _span(d, s) + (size - 1) * dim_stride, table)
    _fits(f"{kind} index", _span(d, t), idx)
    err: DeviceArray = upload(np.zeros(1, np.int32), dest.driver)
    name = f"nr_{kind}_{_TYPES[dest.dtype]}_{_INDEX_TYPES[idx.dtype]}"
    common = [I64(n), *map(I64, d), *map(I64, s), I64(dim_stride), I64(size), *map(I64, t)]
    if src is None:
        assert x is not None
        args = [x.buffer, idx.buffer, dest.buffer, err.buffer, *common, np.int32(wrap)]
    else:
        u = collapsed[2]
        _fits(f"{kind} source", _span(d, u), src[0])
        args = [dest.buffer, idx.buffer, src[0].buffer, err.buffer, *common, *map(I64, u),
                np.int32(wrap), np.int32(src[2])]
    launch(contract, name, dest.driver, args, **dict(zip(DIMS4, d)))
    _raise_if_flagged(err, on_error)


def _bounds_error(op: str, index: DeviceArray, size: int, dim: int,
                  negative: bool) -> Callable[[], None]:
    def raise_() -> None:
        _check_bounds(op, index.get().reshape(-1), size, dim, negative=negative)

    return raise_


def _without(strides: Sequence[int], dim: int) -> list[int]:
    return [0 if k == dim else s for k, s in enumerate(strides)]


def _take_along(op: str, a: DeviceArray, index: DeviceArray, dim: int,
                shape: tuple[int, ...], idx_strides: Sequence[int], wrap: bool) -> DeviceArray:
    """``out[c] = a[c with index[c . t] at dim]`` over ``shape`` (TAKE)."""
    out = DeviceArray.empty(shape, a.dtype, a.driver)
    es = _elements(a)
    _indexed_launch(TAKE, "take", out, index, shape, _without(es, dim), es[dim], a.shape[dim],
                    idx_strides, wrap, _bounds_error(op, index, a.shape[dim], dim, wrap), x=a)
    return out


def _scatter_into(op: str, a: DeviceArray, index: DeviceArray, src: DeviceArray, dim: int,
                  shape: tuple[int, ...], idx_strides: Sequence[int], src_strides: Sequence[int],
                  wrap: bool, accumulate: bool) -> DeviceArray:
    """``a.clone()`` with ``out[c with index[c . t] at dim] (+)= src[c . u]`` (SCATTER)."""
    out = a.copy()
    es = _elements(a)
    _indexed_launch(SCATTER, "scatter", out, index, shape, _without(es, dim), es[dim],
                    a.shape[dim], idx_strides, wrap,
                    _bounds_error(op, index, a.shape[dim], dim, wrap),
                    src=(src, src_strides, accumulate))
    return out


def _along(dim: int, ndim: int) -> list[int]:
    """Index strides of a 1-d index laid along ``dim`` of a rank-``ndim`` shape."""
    return [1 if k == dim else 0 for k in range(ndim)]


def _index_select(a: Any, index: Any, *, dim: int) -> DeviceArray:
    _check_index(a, index)
    if a.ndim == 0:
        raise Unsupported
    d = dim % a.ndim
    shape = a.shape[:d] + (index.size,) + a.shape[d + 1:]
    return _take_along("index_select", a, index, d, shape, _along(d, a.ndim), wrap=False)


def _gather(a: Any, index: Any, *, dim: int) -> DeviceArray:
    _check_index(a, index)
    if a.ndim == 0 or index.ndim != a.ndim:
        raise Unsupported
    d = dim % a.ndim
    return _take_along("gather", a, index, d, index.shape, _elements(index), wrap=False)


def _scatter_kernel(op: str, accumulate: bool) -> Callable[..., DeviceArray]:
    def run(a: Any, index: Any, *src: Any, dim: int, value: Any = None) -> DeviceArray:
        _check_index(a, index)
        if a.ndim == 0 or index.ndim != a.ndim:
            raise Unsupported
        values = _values(src[0] if src else value, a)
        if values.ndim not in (0, a.ndim):
            raise Unsupported
        u = _elements(values) if values.ndim else [0] * a.ndim
        return _scatter_into(op, a, index, values, dim % a.ndim, index.shape, _elements(index),
                             u, wrap=False, accumulate=accumulate)

    return run


def _one_index_tensor(a: DeviceArray, indices: Sequence[Any], index: Sequence[Any],
                      indexed_dims: Sequence[int]) -> tuple[DeviceArray, int]:
    """The index and its dim for ``a[:, ..., idx]`` with one 1-d index tensor after whole
    dims only (what embedding-style indexing and its gradient use); Unsupported otherwise."""
    if len(indices) != 1 or len(indexed_dims) != 1 or any(item != FULL for item in index) \
            or len(index) > a.ndim:
        raise Unsupported
    idx = indices[0]
    _check_index(a, idx)
    if idx.ndim != 1:
        raise Unsupported
    return idx, int(indexed_dims[0]) % a.ndim


def _index(a: Any, *indices: Any, index: Sequence[Any],
           indexed_dims: Sequence[int]) -> DeviceArray:
    if not isinstance(a, DeviceArray) or a.ndim == 0:
        raise Unsupported
    idx, d = _one_index_tensor(a, indices, index, indexed_dims)
    shape = a.shape[:d] + (idx.size,) + a.shape[d + 1:]
    return _take_along("index", a, idx, d, shape, _along(d, a.ndim), wrap=True)


def _view_of(a: DeviceArray, view: np.ndarray, stand: np.ndarray  # type: ignore[type-arg]
             ) -> tuple[tuple[int, ...], list[int], int]:
    """Shape, element strides and offset of ``view``, a numpy view of the one-byte stand-in
    ``stand`` for ``a`` (so byte strides and offsets are element ones)."""
    if view.size and not np.shares_memory(view, stand):
        raise Unsupported
    off = view.__array_interface__["data"][0] - stand.__array_interface__["data"][0] \
        if view.size else 0
    if off < 0 or any(s < 0 for s in view.strides):
        raise Unsupported
    return tuple(view.shape), list(view.strides), int(off)


def _index_put(a: Any, values: Any, *indices: Any, index: Sequence[Any],
               indexed_dims: Sequence[int], accumulate: bool) -> DeviceArray:
    if not isinstance(a, DeviceArray) or a.dtype not in _TYPES:
        raise Unsupported
    vals = _values(values, a)
    if not indices:  # x[slices] = v, getitem's backward: a strided put (distinct positions)
        stand = np.empty(a.shape, np.uint8)
        shape, strides, off = _view_of(a, _cpu_getitem(stand, index=index), stand)
        out = a.copy()
        _put(out, vals, shape, strides, off, _broadcast_strides(vals, shape), accumulate)
        return out
    if a.ndim == 0:
        raise Unsupported
    idx, d = _one_index_tensor(a, indices, index, indexed_dims)
    shape = a.shape[:d] + (idx.size,) + a.shape[d + 1:]
    return _scatter_into("index_put", a, idx, vals, d, shape, _along(d, a.ndim),
                         _broadcast_strides(vals, shape), wrap=True, accumulate=accumulate)


def _view_copy_kernel(cpu: Callable[..., Any]) -> Callable[..., DeviceArray]:
    """A basic-indexing view op (getitem, narrow): the CPU kernel applied to a one-byte host
    stand-in gives the view's shape, strides and offset; ``nr_copy`` copies it (a copy: an
    in-place write into it does not reach the base, see docs/cuda.md)."""

    def run(a: Any, **attrs: Any) -> DeviceArray:
        if not isinstance(a, DeviceArray) or a.dtype not in _TYPES:
            raise Unsupported
        stand = np.empty(a.shape, np.uint8)  # reserves, never touches, its pages
        shape, strides, off = _view_of(a, cpu(stand, **attrs), stand)
        return _copy(a, shape, strides, off)

    return run


def _same(arrays: Sequence[Any]) -> DeviceArray:
    if not arrays or not all(isinstance(x, DeviceArray) for x in arrays):
        raise Unsupported
    first: DeviceArray = arrays[0]
    if first.dtype not in _TYPES or any(x.dtype != first.dtype for x in arrays):
        raise Unsupported
    return first


def _cat(*arrays: Any, dim: int) -> DeviceArray:
    _same(arrays)
    rank, kept = cat_inputs(CONCRETE, tuple(x.shape for x in arrays))
    parts = [arrays[i] for i in kept]
    d = dim % rank
    shape = list(parts[0].shape)
    shape[d] = sum(x.shape[d] for x in parts)
    out = DeviceArray.empty(tuple(shape), parts[0].dtype, parts[0].driver)
    outer, inner = int(np.prod(shape[:d])), int(np.prod(shape[d + 1:]))
    start = 0
    for x in parts:  # each input is the block [:, start:start + n, :] of [outer, N, inner]
        n = x.shape[d]
        _put(out, x, (outer, n, inner), (shape[d] * inner, inner, 1), start * inner,
             (n * inner, inner, 1), accumulate=False)
        start += n
    return out


def _stack(*arrays: Any, dim: int) -> DeviceArray:
    first = _same(arrays)
    if any(x.shape != first.shape for x in arrays):
        raise Unsupported  # the CPU kernel names the mismatch
    d = dim % (first.ndim + 1)
    shape = first.shape[:d] + (len(arrays),) + first.shape[d:]
    out = DeviceArray.empty(shape, first.dtype, first.driver)
    outer, inner = int(np.prod(first.shape[:d])), int(np.prod(first.shape[d:]))
    for k, x in enumerate(arrays):  # input k is out[:, k, :] of [outer, K, inner]
        _put(out, x, (outer, inner), (len(arrays) * inner, 1), k * inner, (inner, 1),
             accumulate=False)
    return out


NATIVE: dict[str, Callable[..., DeviceArray]] = {
    "index_select": _index_select, "gather": _gather, "index": _index,
    "scatter": _scatter_kernel("scatter", accumulate=False),
    "scatter_add": _scatter_kernel("scatter_add", accumulate=True),
    "index_put": _index_put, "cat": _cat, "stack": _stack,
}

NATIVE_FROM_CPU: dict[str, Callable[[Callable[..., Any]], Callable[..., DeviceArray]]] = {
    "getitem": _view_copy_kernel, "narrow": _view_copy_kernel,
}
"""View ops whose view geometry comes from the op's CPU kernel on a host stand-in."""
