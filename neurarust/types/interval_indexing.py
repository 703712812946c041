"""Interval rules of the ops that move or select elements: indexing, gather/scatter, joining.

Every output element of these ops is some input element (or a fill value), so its bounds are
the input's bounds moved the same way: numpy's own indexing applied to the ``lo``/``hi``
arrays along the dims that have bounds per element, and the hull (min of ``lo``, max of
``hi``) along a dim whose selected positions are data (index tensors). No rounding happens.

Index tensors are checked here too: every index value must lie in ``[0, size)`` (``[-size,
size)`` for ``x[idx]``) of the dim it indexes. An index whose bound depends on a size
(``arange(T)`` into a 64-row table) carries that size expression, so the verifier can name
the smallest sizes that break it. The functions are re-exported by
:mod:`neurarust.types.interval`, where ops' ``range_rule`` names them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .dtype import int64
from .interval import (
    Array,
    Hazard,
    Interval,
    RangeResult,
    SizeRange,
    _align,
    _bshape,
    _dt,
    _hz,
    _out,
    add,
)

__all__ = ["arange", "cat", "check_index", "flip", "gather", "getitem", "index",
           "index_put", "index_select", "masked_fill", "narrow", "nonzero_static", "repeat",
           "scatter", "scatter_add", "stack", "where"]


def _hull_along(x: Interval, axes: Sequence[int]) -> tuple[Array, Array]:
    axes = tuple(a % x.ndim for a in axes) if x.ndim else ()
    return x.lo.min(axis=axes, keepdims=True), x.hi.max(axis=axes, keepdims=True)


def check_index(op: str, idx: Interval, table: Interval, dim: int, *,
                negative: bool = False) -> list[Hazard]:
    """The hazard of an index outside dim ``dim`` of ``table`` (none when proven inside)."""
    if table.ndim == 0:
        return []
    size = table.size(dim % table.ndim)
    n_lo = size.lo  # the smallest size the table may have: every index must fit it
    lo_ok = idx.min >= (-n_lo if negative else 0)
    hi_ok = idx.max <= n_lo - 1
    if lo_ok and hi_ok:
        return []
    valid = f"{-n_lo:g}..{n_lo - 1:g}" if negative else f"0..{n_lo - 1:g}"
    shown = size.expr if size.expr is not None else "?"
    h = _hz("index-range", f"{op}: indices may fall outside dim {dim} of size {shown} "
                           f"(valid {valid})", idx.lo, idx.hi)
    if idx.sym_hi is not None and lo_ok and isinstance(size.expr, int):
        h = Hazard(h.kind, h.message, h.lo, h.hi, idx.sym_hi, size.expr - 1)
    return [h]


def arange(start: Interval, *, end: Any, step: int, **_: Any) -> RangeResult:
    """``start, start + step, ... < end``: in ``[start, end - 1]`` (step 1; end's greatest
    value under the assumptions when it is a symbolic size)."""
    first = start.min
    if isinstance(end, SizeRange):
        last, sym = end.hi - 1, end.expr - 1 if step == 1 and first == 0 else None
    else:
        last, sym = float(end) - 1, None
    hi = max(first, first + step * math.floor((last - first) / step)) if math.isfinite(
        last) else math.inf
    r = _out(np.full((1,), first), np.full((1,), hi), start.dtype, (None,))
    return RangeResult(Interval(r.out.lo, r.out.hi, r.out.shape, r.out.dtype, sym_hi=sym), [])


def getitem(a: Interval, *, index: Sequence[Any], **_: Any) -> RangeResult:
    """Basic indexing (ints, slices, None) applied to the bounds; a dim with one shared
    bound keeps it whatever is selected."""
    items: list[Any] = []
    shape: list[int | None] = []
    lo, hi = a.lo, a.hi
    p = 0
    for item in index:
        if item is None:
            items.append(np.newaxis)
            shape.append(1)
            continue
        shared = lo.shape[p] == 1 and a.shape[p] != 1
        n = a.shape[p]
        if isinstance(item, int) and not isinstance(item, bool):
            items.append(0 if shared else item)
        elif not all(v is None or isinstance(v, int) for v in (item.start, item.stop)):
            # a symbolic slice end (x[:, :T]): which elements is a size, so the hull
            lo, hi = lo.min(axis=p, keepdims=True), hi.max(axis=p, keepdims=True)
            items.append(slice(None))
            shape.append(None)
        else:
            sl = item.to_slice()
            items.append(slice(None) if shared else sl)
            shape.append(len(range(*sl.indices(n))) if n is not None else None)
        p += 1
    shape.extend(a.shape[p:])
    key = tuple(items)
    return RangeResult(Interval(lo[key], hi[key], tuple(shape), a.dtype, a.point), [])


def index(a: Interval, *indices: Interval, index: Sequence[Any], indexed_dims: Sequence[int],
          **_: Any) -> RangeResult:
    """``x[..., idx, ...]``: the basic part moves the bounds; index tensors select data, so
    the result is the hull; each index tensor is checked against its dim (negative indices
    count from the end, as in PyTorch)."""
    base = getitem(a, index=index).out
    hazards: list[Hazard] = []
    for idx, d in zip(indices, indexed_dims):
        if idx.dtype is not None and idx.dtype.is_bool:
            continue
        hazards += check_index("index", idx, base, d, negative=True)
    one = (1,)
    return RangeResult(Interval(np.full(one, base.min), np.full(one, base.max), (None,),
                                a.dtype), hazards)


def index_select(a: Interval, idx: Interval, *, dim: int, **_: Any) -> RangeResult:
    """Rows of ``a`` along ``dim`` chosen by ``idx`` (``embedding`` is this on dim 0): the
    hull along ``dim``, per element elsewhere; every index in ``[0, size)``."""
    d = dim % a.ndim if a.ndim else 0
    hazards = check_index("index_select", idx, a, d)
    if a.ndim == 0:
        return RangeResult(a, hazards)
    shape = (*a.shape[:d], idx.shape[0] if idx.shape else 1, *a.shape[d + 1:])
    if idx.point and not hazards and a.lo.shape[d] == a.shape[d]:  # constant indices: exact
        rows = idx.lo.reshape(-1).astype(np.int64)
        return RangeResult(Interval(np.take(a.lo, rows, axis=d), np.take(a.hi, rows, axis=d),
                                    shape, a.dtype, a.point), hazards)
    lo, hi = _hull_along(a, [d])
    return RangeResult(Interval(lo, hi, shape, a.dtype), hazards)


def gather(a: Interval, idx: Interval, *, dim: int, **_: Any) -> RangeResult:
    """``out[i][j] = a[idx[i][j]][j]`` (dim 0): the hull along ``dim``; per element elsewhere
    when the index covers ``a``'s other dims exactly."""
    d = dim % a.ndim if a.ndim else 0
    hazards = check_index("gather", idx, a, d)
    lo, hi = _hull_along(a, [d])
    same = all(i == d or s == t for i, (s, t) in enumerate(zip(a.shape, idx.shape)))
    if not same:
        lo, hi = np.full((1,) * idx.ndim, a.min), np.full((1,) * idx.ndim, a.max)
    return RangeResult(Interval(lo, hi, idx.shape, a.dtype), hazards)


def _hull2(a: Interval, b: Interval) -> tuple[Array, Array, tuple[int | None, ...]]:
    shape = _bshape(a, b)
    (alo, ahi), (blo, bhi) = _align(a, len(shape)), _align(b, len(shape))
    return np.minimum(alo, blo), np.maximum(ahi, bhi), shape


def scatter(a: Interval, idx: Interval, src: Interval | None = None, *, dim: int,
            value: Any = None, reduce: str | None = None, **_: Any) -> RangeResult:
    """Elements of ``a`` replaced by elements of ``src`` (or ``value``): the hull of both;
    with ``reduce="add"`` as :func:`scatter_add`, other reductions unbounded."""
    d = dim % a.ndim if a.ndim else 0
    hazards = check_index("scatter", idx, a, d)
    other = src if src is not None else Interval.exact(0.0 if value is None else float(value))
    if reduce in ("add", "sum"):
        return scatter_add(a, idx, other, dim=dim)
    if reduce is not None:
        return RangeResult(Interval.top(a.shape, a.dtype), hazards)
    lo, hi = np.minimum(a.lo, other.min), np.maximum(a.hi, other.max)
    return RangeResult(Interval(lo, hi, a.shape, a.dtype), hazards)


def scatter_add(a: Interval, idx: Interval, src: Interval | None = None, *, dim: int,
                **_: Any) -> RangeResult:
    """``a`` plus, at each position, at most ``idx.shape[dim]`` elements of ``src``."""
    d = dim % a.ndim if a.ndim else 0
    hazards = check_index("scatter_add", idx, a, d)
    assert src is not None
    k = idx.size(d % idx.ndim).hi if idx.ndim else 1.0
    with np.errstate(invalid="ignore", over="ignore"):
        lo = min(0.0, k * src.min) if math.isfinite(k) else (-math.inf if src.min < 0 else 0.0)
        hi = max(0.0, k * src.max) if math.isfinite(k) else (math.inf if src.max > 0 else 0.0)
    extra = Interval(np.full((1,) * a.ndim, lo), np.full((1,) * a.ndim, hi), a.shape, src.dtype)
    r = add(a, extra)  # one rounding per added term: k ulps of the magnitude
    # several src terms (and a) may be +inf and -inf at one position
    if max(a.max, src.max) == math.inf and min(a.min, src.min) == -math.inf:
        hazards = hazards + [Hazard("nan", "scatter_add: inf - inf may occur among the "
                                           "added terms (gives nan)",
                                    min(a.min, src.min), max(a.max, src.max))]
    n = k if math.isfinite(k) else 1.0
    mag = max(abs(r.out.min), abs(r.out.max))
    wid = _out(r.out.lo, r.out.hi, a.dtype, a.shape,
               abs_err=mag * n * 2.0 ** -23 if math.isfinite(mag) else 0.0)
    return RangeResult(wid.out, hazards)


def index_put(a: Interval, values: Interval, *indices: Interval, index: Sequence[Any],
              indexed_dims: Sequence[int], accumulate: bool = False, **_: Any) -> RangeResult:
    """``out = a; out[index] = values`` (``+=`` when ``accumulate``): the hull of both, or
    ``a`` plus up to ``numel(values)`` terms; index tensors checked."""
    base = getitem(a, index=index).out
    hazards: list[Hazard] = []
    for idx, d in zip(indices, indexed_dims):
        if idx.dtype is None or not idx.dtype.is_bool:
            hazards += check_index("index_put", idx, base, d, negative=True)
    if not accumulate:
        return RangeResult(Interval(np.minimum(a.lo, values.min), np.maximum(a.hi, values.max),
                                    a.shape, a.dtype), hazards)
    k = values.count(range(values.ndim))[1] * max(
        1.0, *(i.count(range(i.ndim))[1] for i in indices)) if indices else 1.0
    k = min(k, math.inf)
    with np.errstate(invalid="ignore", over="ignore"):
        lo = min(0.0, k * values.min) if values.min < 0 else 0.0
        hi = max(0.0, k * values.max) if values.max > 0 else 0.0
    extra = Interval(np.full((1,) * a.ndim, lo), np.full((1,) * a.ndim, hi), a.shape,
                     values.dtype)
    r = add(a, extra)
    mag = max(abs(r.out.min), abs(r.out.max))
    wid = _out(r.out.lo, r.out.hi, a.dtype, a.shape,
               abs_err=mag * k * 2.0 ** -23 if math.isfinite(mag * k) else 0.0)
    return RangeResult(wid.out, hazards)


def masked_fill(a: Interval, mask: Interval, *value_tensor: Interval, value: Any = None,
                **_: Any) -> RangeResult:
    """``value`` where the mask holds: elementwise hull of ``a`` and the value (``a`` alone
    where the mask is known false, the value alone where known true)."""
    v = value_tensor[0] if value_tensor else Interval.exact(float(value))
    shape = _bshape(a, mask)
    (alo, ahi), (mlo, mhi) = _align(a, len(shape)), _align(mask, len(shape))
    lo = np.where(mlo >= 1, v.min, np.where(mhi <= 0, alo, np.minimum(alo, v.min)))
    hi = np.where(mlo >= 1, v.max, np.where(mhi <= 0, ahi, np.maximum(ahi, v.max)))
    return _out(lo, hi, _dt(a), shape)


def where(c: Interval, a: Interval, b: Interval, **_: Any) -> RangeResult:
    """``a`` where ``c``, else ``b``: ``a``'s bounds where ``c`` is known true, ``b``'s where
    known false, the hull of both elsewhere."""
    shape = _bshape(c, a, b)
    nd = len(shape)
    (clo, chi), (alo, ahi), (blo, bhi) = _align(c, nd), _align(a, nd), _align(b, nd)
    lo = np.where(clo >= 1, alo, np.where(chi <= 0, blo, np.minimum(alo, blo)))
    hi = np.where(clo >= 1, ahi, np.where(chi <= 0, bhi, np.maximum(ahi, bhi)))
    return _out(lo, hi, _dt(a, b), shape)


def cat(*xs: Interval, dim: int, **_: Any) -> RangeResult:
    """Bounds concatenated along ``dim`` when every part has them per element there; else
    one shared bound along ``dim`` (the hull of the parts, per element elsewhere)."""
    nd = max(x.ndim for x in xs)
    d = dim % nd
    parts = [x for x in xs if not (x.ndim == 1 and x.shape[0] == 0)]
    sizes = [x.shape[d] for x in parts]
    total = None if any(s is None for s in sizes) else sum(int(s) for s in sizes if s is not None)
    shape = tuple(total if i == d else next((x.shape[i] for x in parts
                                             if x.shape[i] not in (1,)), parts[0].shape[i])
                  for i in range(nd))
    others = [max(x.lo.shape[i] for x in parts) if i != d else 1 for i in range(nd)]
    if all(x.lo.shape[d] == x.shape[d] for x in parts) and total is not None:
        los, his = [], []
        for x in parts:
            target = [int(x.lo.shape[d]) if i == d else others[i] for i in range(nd)]
            los.append(np.broadcast_to(x.lo, target))
            his.append(np.broadcast_to(x.hi, target))
        return RangeResult(Interval(np.concatenate(los, d), np.concatenate(his, d), shape,
                                    _dt(*parts)), [])
    lo = np.full(others, np.inf)
    hi = np.full(others, -np.inf)
    for x in parts:
        xlo, xhi = _hull_along(x, [d])
        lo, hi = np.minimum(lo, xlo), np.maximum(hi, xhi)
    return RangeResult(Interval(lo, hi, shape, _dt(*parts)), [])


def stack(*xs: Interval, dim: int, **_: Any) -> RangeResult:
    """:func:`cat` of the parts, each with a new size-1 dim at ``dim``."""
    d = dim % (xs[0].ndim + 1)
    ups = [Interval(np.expand_dims(x.lo, d), np.expand_dims(x.hi, d),
                    (*x.shape[:d], 1, *x.shape[d:]), x.dtype) for x in xs]
    return cat(*ups, dim=d)


def narrow(a: Interval, *, dim: int, start: int, length: int, **_: Any) -> RangeResult:
    """``a`` sliced to ``start:start+length`` along ``dim``."""
    d = dim % a.ndim
    shape = (*a.shape[:d], length if isinstance(length, int) else None, *a.shape[d + 1:])
    if a.lo.shape[d] == 1 or not isinstance(start, int) or not isinstance(length, int):
        return RangeResult(Interval(a.lo, a.hi, shape, a.dtype, a.point), [])
    key = (slice(None),) * d + (slice(start % a.lo.shape[d] if start < 0 else start,
                                      (start % a.lo.shape[d] if start < 0 else start) + length),)
    return RangeResult(Interval(a.lo[key], a.hi[key], shape, a.dtype, a.point), [])


def flip(a: Interval, *, dims_to_flip: Sequence[int], **_: Any) -> RangeResult:
    axes = tuple(d % a.ndim for d in dims_to_flip) if a.ndim else ()
    return RangeResult(Interval(np.flip(a.lo, axes), np.flip(a.hi, axes), a.shape, a.dtype,
                                a.point), [])


def repeat(a: Interval, *, repeats: Sequence[Any], **_: Any) -> RangeResult:
    """``a`` tiled ``repeats`` times per dim (new dims in front): bounds tiled along dims
    with per-element bounds, shared ones stay shared."""
    nd = len(repeats)
    lo, hi = _align(a, nd)
    base = (1,) * (nd - a.ndim) + tuple(a.shape)
    reps: list[int] = []
    shape: list[int | None] = []
    for i, (r, s) in enumerate(zip(repeats, base)):
        concrete = isinstance(r, int) and s is not None
        shape.append(r * s if concrete else None)
        if lo.shape[i] == 1 or not concrete:
            reps.append(1)
            if lo.shape[i] != 1:  # a symbolic repeat of per-element bounds: their hull
                lo = lo.min(axis=i, keepdims=True)
                hi = hi.max(axis=i, keepdims=True)
        else:
            reps.append(int(r))
    return RangeResult(Interval(np.tile(lo, reps), np.tile(hi, reps), tuple(shape), a.dtype,
                                a.point), [])


def nonzero_static(a: Interval, *, size: Any, fill_value: int = -1, **_: Any) -> RangeResult:
    """Coordinates of nonzero elements: in ``[0, largest size - 1]``, or ``fill_value``."""
    top = max((a.size(i).hi for i in range(a.ndim)), default=1.0) - 1
    lo, hi = min(0.0, float(fill_value)), max(top, float(fill_value))
    return RangeResult(Interval(np.full((1, 1), lo), np.full((1, 1), hi),
                                (size if isinstance(size, int) else None, a.ndim), int64), [])

