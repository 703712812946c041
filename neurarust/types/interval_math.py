"""Interval rules of the remaining arithmetic ops: more unary math, comparisons and logic,
reductions (prod, cumsum, var/std, norms, arg-reductions) and the matmul family.

Same conventions as :mod:`neurarust.types.interval` (bounds in float64, rounded outward for
the dtype, hazards for unproven numeric preconditions); re-exported from there, where ops'
``range_rule`` names them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .dtype import DType, bool_, float32, int64
from .interval import (
    MAX_ELEMENTS,
    TRANSCENDENTAL_ULPS,
    Array,
    Hazard,
    Interval,
    RangeResult,
    _affine,
    _align,
    _axes,
    _bshape,
    _count,
    _dt,
    _finish,
    _hz,
    _max_finite,
    _monotone,
    _mul_bounds,
    _out,
    _reduced_shape,
    _subnormal,
    accum_hazards,
    amax,
    amin,
    div,
    int_overflow,
    log,
    matmul,
    maximum,
    minimum,
    mul,
    round_out,
    sum_,
    unit_roundoff,
)
from .interval_accum import accum_masks, gamma

__all__ = [
    "argmax",
    "argmin",
    "bitwise",
    "bool_all",
    "bool_any",
    "ceil",
    "clamp_tensor",
    "compare",
    "copy",
    "cos",
    "cumsum",
    "dot",
    "einsum",
    "eq",
    "exp2",
    "expm1",
    "floor",
    "ge",
    "gt",
    "is_finite",
    "is_inf",
    "is_nan",
    "le",
    "log2",
    "log10",
    "logical",
    "logical_and",
    "logical_not",
    "logical_or",
    "logical_xor",
    "lt",
    "max_",
    "min_",
    "ne",
    "norm",
    "outer",
    "pool_indices",
    "prod",
    "reciprocal",
    "remainder",
    "round_",
    "sign",
    "sin",
    "std",
    "trunc",
    "var",
]


def _bool(lo: Any, hi: Any, shape: Sequence[int | None]) -> RangeResult:
    return RangeResult(Interval(np.asarray(lo, dtype=np.float64), np.asarray(hi, np.float64),
                                tuple(shape), bool_), [])


# -- unary ---------------------------------------------------------------------------------------
def exp2(a: Interval, **_: Any) -> RangeResult:
    """``2 ** x`` = ``exp(x ln 2)``: overflow as exp's, scaled."""
    dtype = a.dtype or float32
    limit = math.log2(_max_finite(dtype))
    r = _monotone(a, np.exp2)
    if a.max > limit:
        r.hazards.append(_hz("overflow", f"exp2 overflows {dtype.name} for inputs above "
                                         f"{limit:.4g}", a.lo, a.hi))
    return r


def expm1(a: Interval, **_: Any) -> RangeResult:
    """``exp(x) - 1``; exported to ONNX as ``Exp(x) - 1``, whose absolute error is a few
    ulps of ``exp(x)`` (not of the small result): the bounds allow both."""
    dtype = a.dtype or float32
    limit = math.log(_max_finite(dtype))
    with np.errstate(over="ignore", invalid="ignore"):
        lo, hi = np.expm1(a.lo), np.expm1(a.hi)
        err = 4 * unit_roundoff(dtype) * np.exp(np.maximum(a.lo, a.hi))
    r = _out(lo, hi, a.dtype, a.shape, ulps=TRANSCENDENTAL_ULPS,
             abs_err=np.where(np.isnan(err), np.inf, err))
    if a.max > limit:
        r.hazards.append(_hz("overflow", f"expm1 overflows {dtype.name} for inputs above "
                                         f"{limit:.4g}", a.lo, a.hi))
    return r


def _log_base(a: Interval, f: Callable[[Array], Array], name: str) -> RangeResult:
    r = log(a)  # the same domain hazard, reworded
    out = _monotone(a, f)
    hazards = [Hazard(h.kind, h.message.replace("log of", f"{name} of"), h.lo, h.hi)
               for h in r.hazards]
    lo = np.where(a.lo <= 0, -np.inf, out.out.lo)
    return RangeResult(Interval(lo, out.out.hi, a.shape, out.out.dtype), hazards)


def log2(a: Interval, **_: Any) -> RangeResult:
    return _log_base(a, np.log2, "log2")


def log10(a: Interval, **_: Any) -> RangeResult:
    return _log_base(a, np.log10, "log10")


def reciprocal(a: Interval, **_: Any) -> RangeResult:
    """``1 / x``: division's rule and hazard."""
    return div(Interval.exact(1.0), a)


def _periodic(a: Interval, f: Callable[[Array], Array], name: str) -> RangeResult:
    """sin / cos: within [-1, 1]; tight where the interval is narrower than a quarter
    period and has no extremum inside (checked on a grid of the extrema)."""
    lo = np.full(a.lo.shape, -1.0)
    hi = np.full(a.hi.shape, 1.0)
    hazards = []
    if not a.finite:
        hazards.append(_hz("nan", f"{name} of an infinite value (gives nan)", a.lo, a.hi))
    with np.errstate(invalid="ignore", over="ignore"):
        narrow = np.isfinite(a.lo) & np.isfinite(a.hi) & (a.hi - a.lo < 1.0)
        shift = 0.0 if name == "sin" else math.pi / 2  # cos x = sin(x + pi/2)
        k_lo = np.ceil((a.lo + shift - math.pi / 2) / math.pi)  # extrema at pi/2 + k pi
        k_hi = np.floor((a.hi + shift - math.pi / 2) / math.pi)
        no_extremum = narrow & (k_lo > k_hi)
        v1, v2 = f(a.lo), f(a.hi)
    lo = np.where(no_extremum, np.minimum(v1, v2), lo)
    hi = np.where(no_extremum, np.maximum(v1, v2), hi)
    r = _out(lo, hi, a.dtype, a.shape, ulps=TRANSCENDENTAL_ULPS)
    return RangeResult(Interval(np.clip(r.out.lo, -1, 1), np.clip(r.out.hi, -1, 1), a.shape,
                                a.dtype), hazards)


def sin(a: Interval, **_: Any) -> RangeResult:
    return _periodic(a, np.sin, "sin")


def cos(a: Interval, **_: Any) -> RangeResult:
    return _periodic(a, np.cos, "cos")


def _step(a: Interval, f: Callable[[Array], Array]) -> RangeResult:
    """Monotone and exact on the grid (floor, ceil, trunc, round): f(lo), f(hi)."""
    return RangeResult(Interval(f(a.lo), f(a.hi), a.shape, a.dtype, a.point), [])


def floor(a: Interval, **_: Any) -> RangeResult:
    return _step(a, np.floor)


def ceil(a: Interval, **_: Any) -> RangeResult:
    return _step(a, np.ceil)


def trunc(a: Interval, **_: Any) -> RangeResult:
    return _step(a, np.trunc)


def round_(a: Interval, decimals: int = 0, **_: Any) -> RangeResult:
    if decimals:
        s = 10.0 ** decimals
        return _out(np.round(a.lo * s) / s, np.round(a.hi * s) / s, a.dtype, a.shape, ulps=1)
    return _step(a, np.round)


def sign(a: Interval, **_: Any) -> RangeResult:
    return _step(a, np.sign)


def remainder(a: Interval, b: Interval, **_: Any) -> RangeResult:
    """``a - floor(a / b) * b``, with the sign of ``b``: in ``[0, b]`` for ``b > 0`` (the
    closed end: float rounding can give ``b`` itself), ``a`` unchanged when already inside."""
    shape = _bshape(a, b)
    nd = len(shape)
    (alo, ahi), (blo, bhi) = _align(a, nd), _align(b, nd)
    hazards = []
    zero = (blo <= 0) & (bhi >= 0)
    if np.any(zero):
        hazards.append(_hz("div-by-zero", "remainder by an interval that contains 0 (gives "
                                          "nan)", blo, bhi))
    if not (np.all(np.isfinite(alo) & np.isfinite(ahi))
            and np.all(np.isfinite(blo) & np.isfinite(bhi))):
        hazards.append(_hz("nan", "remainder of an infinite value, or by an infinite divisor "
                                  "(gives nan or inf)", np.minimum(alo, blo),
                           np.maximum(ahi, bhi)))
    inside = (blo > 0) & (alo >= 0) & (ahi < blo)
    lo = np.where(blo > 0, np.where(inside, alo, 0.0), np.where(bhi < 0, blo, -np.inf))
    hi = np.where(blo > 0, np.where(inside, ahi, bhi), np.where(bhi < 0, 0.0, np.inf))
    lo = np.where(zero, np.minimum(blo, 0.0), lo)
    hi = np.where(zero, np.maximum(bhi, 0.0), hi)
    return _out(lo, hi, _dt(a, b), shape, hazards=hazards)


def clamp_tensor(a: Interval, lo: Interval | None = None, hi: Interval | None = None,
                 **_: Any) -> RangeResult:
    r = a
    if lo is not None:
        r = maximum(r, lo).out
    if hi is not None:
        r = minimum(r, hi).out
    return RangeResult(r, [])


def copy(dst: Interval, src: Interval, **_: Any) -> RangeResult:
    """``dst`` overwritten by ``src`` (broadcast): src's bounds."""
    shape = _bshape(dst, src)
    lo, hi = _align(src, len(shape))
    return _out(lo, hi, dst.dtype, shape)


# -- comparisons and logic -------------------------------------------------------------------------
def compare(a: Interval, b: Interval, *, kind: str, **_: Any) -> RangeResult:
    """A comparison is 0 or 1, decided where the bounds do not overlap."""
    shape = _bshape(a, b)
    (alo, ahi), (blo, bhi) = _align(a, len(shape)), _align(b, len(shape))
    true = {"lt": ahi < blo, "le": ahi <= blo, "gt": alo > bhi, "ge": alo >= bhi,
            "eq": (alo == ahi) & (blo == bhi) & (alo == blo),
            "ne": (ahi < blo) | (alo > bhi)}[kind]
    false = {"lt": alo >= bhi, "le": alo > bhi, "gt": ahi <= blo, "ge": ahi < blo,
             "eq": (ahi < blo) | (alo > bhi),
             "ne": (alo == ahi) & (blo == bhi) & (alo == blo)}[kind]
    return _bool(np.where(true, 1.0, 0.0), np.where(false, 0.0, 1.0), shape)


def eq(a: Interval, b: Interval, **_: Any) -> RangeResult:
    return compare(a, b, kind="eq")


def ne(a: Interval, b: Interval, **_: Any) -> RangeResult:
    return compare(a, b, kind="ne")


def lt(a: Interval, b: Interval, **_: Any) -> RangeResult:
    return compare(a, b, kind="lt")


def le(a: Interval, b: Interval, **_: Any) -> RangeResult:
    return compare(a, b, kind="le")


def gt(a: Interval, b: Interval, **_: Any) -> RangeResult:
    return compare(a, b, kind="gt")


def ge(a: Interval, b: Interval, **_: Any) -> RangeResult:
    return compare(a, b, kind="ge")


def is_nan(a: Interval, **_: Any) -> RangeResult:
    """Finite bounds exclude nan (the verifier's bounds hold for every value computed)."""
    return _bool(np.zeros(a.lo.shape), np.where(np.isfinite(a.lo) & np.isfinite(a.hi), 0.0,
                                                1.0), a.shape)


def is_inf(a: Interval, **_: Any) -> RangeResult:
    return is_nan(a)


def is_finite(a: Interval, **_: Any) -> RangeResult:
    fin = np.isfinite(a.lo) & np.isfinite(a.hi)
    return _bool(np.where(fin, 1.0, 0.0), np.ones(a.lo.shape), a.shape)


def logical(a: Interval, b: Interval | None = None, *, kind: str, **_: Any) -> RangeResult:
    """and / or / xor / not of "nonzero": decided where each side is known zero or known
    nonzero."""
    def truth(x: Interval, nd: int) -> tuple[Array, Array]:
        lo, hi = _align(x, nd)
        nonzero = (lo > 0) | (hi < 0)
        zero = (lo == 0) & (hi == 0)
        return np.where(nonzero, 1.0, 0.0), np.where(zero, 0.0, 1.0)

    if b is None:
        t_lo, t_hi = truth(a, a.ndim)
        return _bool(1 - t_hi, 1 - t_lo, a.shape)
    shape = _bshape(a, b)
    (p_lo, p_hi), (q_lo, q_hi) = truth(a, len(shape)), truth(b, len(shape))
    if kind == "and":
        return _bool(p_lo * q_lo, p_hi * q_hi, shape)
    if kind == "or":
        return _bool(np.maximum(p_lo, q_lo), np.maximum(p_hi, q_hi), shape)
    known = (p_lo == p_hi) & (q_lo == q_hi)
    x = np.abs(p_lo - q_lo)
    return _bool(np.where(known, x, 0.0), np.where(known, x, 1.0), shape)


def logical_and(a: Interval, b: Interval, **_: Any) -> RangeResult:
    return logical(a, b, kind="and")


def logical_or(a: Interval, b: Interval, **_: Any) -> RangeResult:
    return logical(a, b, kind="or")


def logical_xor(a: Interval, b: Interval, **_: Any) -> RangeResult:
    return logical(a, b, kind="xor")


def logical_not(a: Interval, **_: Any) -> RangeResult:
    return logical(a, kind="not")


def bitwise(a: Interval, b: Interval | None = None, **_: Any) -> RangeResult:
    """Bitwise ops: any value of the integer dtype ([0, 1] for bool)."""
    dtype = _dt(a, b) if b is not None else a.dtype
    shape = _bshape(a, b) if b is not None else a.shape
    one = (1,) * len(shape)
    if dtype is None or dtype.is_bool:
        return _bool(np.zeros(one), np.ones(one), shape)
    info = np.iinfo(dtype.np_dtype)
    return RangeResult(Interval(np.full(one, float(info.min)), np.full(one, float(info.max)),
                                shape, dtype), [])


def bool_all(a: Interval, dim: Sequence[int] | int | None = None, keepdim: bool = False,
             **_: Any) -> RangeResult:
    axes = _axes(a, dim)
    nonzero = ((a.lo > 0) | (a.hi < 0)).astype(np.float64)
    maybe = 1.0 - ((a.lo == 0) & (a.hi == 0))
    lo, hi = _finish(nonzero.min(axis=axes, keepdims=True), maybe.min(axis=axes, keepdims=True),
                     axes, keepdim)
    return _bool(lo, hi, _reduced_shape(a, axes, keepdim))


def bool_any(a: Interval, dim: Sequence[int] | int | None = None, keepdim: bool = False,
             **_: Any) -> RangeResult:
    axes = _axes(a, dim)
    nonzero = ((a.lo > 0) | (a.hi < 0)).astype(np.float64)
    maybe = 1.0 - ((a.lo == 0) & (a.hi == 0))
    lo, hi = _finish(nonzero.max(axis=axes, keepdims=True), maybe.max(axis=axes, keepdims=True),
                     axes, keepdim)
    return _bool(lo, hi, _reduced_shape(a, axes, keepdim))


# -- reductions ----------------------------------------------------------------------------------
def max_(a: Interval, dim: Sequence[int] | int | None = None, keepdim: bool = False,
         **_: Any) -> RangeResult:
    """``max`` (values): as ``amax``."""
    return amax(a, dim, keepdim)


def min_(a: Interval, dim: Sequence[int] | int | None = None, keepdim: bool = False,
         **_: Any) -> RangeResult:
    return amin(a, dim, keepdim)


def pool_indices(x: Interval, **_: Any) -> RangeResult:
    """``max_pool(..., return_indices=True)``'s indices: flat positions in one channel's
    spatial plane, ``[0, H * W - 1]``."""
    n_hi = x.count(range(2, x.ndim))[1] if x.ndim > 2 else 1.0
    shape = (*x.shape[:2], *([None] * (x.ndim - 2)))
    one = (1,) * len(shape)
    return RangeResult(Interval(np.zeros(one), np.full(one, max(0.0, n_hi - 1)), shape, int64),
                       [])


def _arg(a: Interval, dim: Sequence[int] | int | None, keepdim: bool) -> RangeResult:
    axes = _axes(a, dim)
    n_hi = a.count(axes)[1]
    shape = _reduced_shape(a, axes, keepdim)
    one = (1,) * len(shape)
    return RangeResult(Interval(np.zeros(one), np.full(one, max(0.0, n_hi - 1)), shape, int64),
                       [])


def argmax(a: Interval, dim: Sequence[int] | int | None = None, keepdim: bool = False,
           **_: Any) -> RangeResult:
    """An index in ``[0, n - 1]`` (n the reduced count, its greatest value if symbolic)."""
    return _arg(a, dim, keepdim)


def argmin(a: Interval, dim: Sequence[int] | int | None = None, keepdim: bool = False,
           **_: Any) -> RangeResult:
    return _arg(a, dim, keepdim)


def prod(a: Interval, dim: Sequence[int] | int | None = None, keepdim: bool = False,
         dtype: DType | None = None, **_: Any) -> RangeResult:
    """Products of intervals term by term (concrete counts up to 4096), one ulp per
    product; larger or symbolic counts: [-1, 1] when every |x| <= 1, else unbounded."""
    axes = _axes(a, dim)
    shape = _reduced_shape(a, axes, keepdim)
    out_dtype = dtype or (int64 if a.dtype is not None and not a.dtype.is_floating_point
                          else a.dtype)
    n = _count(a, axes)
    floating = out_dtype is not None and out_dtype.is_floating_point
    if n is None or n > 4096:
        mag = max(abs(a.min), abs(a.max))
        one = np.ones((1,) * len(shape))
        if mag <= 1:
            lo = -one if a.min < 0 else np.zeros_like(one)
            return _out(lo, one, out_dtype, shape)
        hz = [_hz("nan", "prod: 0 * inf may occur (gives nan): a factor may be 0 while "
                         "another, or a partial product, may be infinite", a.lo, a.hi)] if (
            floating and a.min <= 0 <= a.max) else []
        return RangeResult(Interval.top(shape, out_dtype), hz)
    lo_e, hi_e = a.expanded(axes)
    keep = tuple(i for i in range(a.ndim) if i not in axes)
    kept = [int(lo_e.shape[i]) for i in keep]
    lo_m = np.moveaxis(lo_e, axes, range(len(keep), a.ndim)).reshape((*kept, -1))
    hi_m = np.moveaxis(hi_e, axes, range(len(keep), a.ndim)).reshape((*kept, -1))
    p_lo, p_hi = np.ones(kept), np.ones(kept)
    for k in range(int(lo_m.shape[-1])):
        p_lo, p_hi = _mul_bounds(p_lo, p_hi, lo_m[..., k], hi_m[..., k])
        if out_dtype is not None and out_dtype.is_floating_point:
            p_lo, p_hi = round_out(p_lo, p_hi, out_dtype)  # one rounding per product
    kshape = tuple(1 if i in axes else lo_e.shape[i] for i in range(a.ndim))
    lo, hi = _finish(p_lo.reshape(kshape), p_hi.reshape(kshape), axes, keepdim)
    r = _out(lo, hi, out_dtype, shape)
    hazards = int_overflow("prod", lo, hi, out_dtype, f"a product of {n} terms")
    if floating:
        # 0 * inf: a factor may be 0 while another, or a partial product that overflows,
        # may be infinite
        with np.errstate(over="ignore", invalid="ignore"):
            zero = ((lo_m <= 0) & (hi_m >= 0)).any(axis=-1)
            inf = (np.isinf(lo_m) | np.isinf(hi_m)).any(axis=-1)
            # every partial product is at most the product of max(1, |x|)
            mags = np.prod(np.maximum(1.0, np.maximum(np.abs(lo_m), np.abs(hi_m))), axis=-1)
            big = mags * (1 + 2 * n * unit_roundoff(out_dtype)) >= _max_finite(out_dtype)
        if np.any(zero & (inf | big)):
            hazards.append(_hz("nan", f"prod: 0 * inf may occur in a product of {n} terms "
                                      f"(gives nan): a factor may be 0 while another, or a "
                                      f"partial product that overflows, may be infinite",
                               a.lo, a.hi))
    return RangeResult(r.out, hazards)


def cumsum(a: Interval, dim: int, dtype: DType | None = None, **_: Any) -> RangeResult:
    """Running sums along ``dim``: per element when the bounds are (each prefix a sum of
    :func:`~neurarust.types.interval_accum.sum_bounds`, with its NaN and overflow hazards);
    else, with n the size's greatest value, ``[min(lo, n lo), max(hi, n hi)]``."""
    d = dim % a.ndim if a.ndim else 0
    out_dtype = dtype or (int64 if a.dtype is not None and not a.dtype.is_floating_point
                          else a.dtype)
    exact = out_dtype is not None and not out_dtype.is_floating_point
    n_hi = a.size(d).hi if a.ndim else 1.0
    what = f"a running sum of up to {n_hi:.0f} terms"
    with np.errstate(invalid="ignore", over="ignore"):
        if exact:
            if a.ndim and a.lo.shape[d] == a.shape[d]:
                lo, hi = np.cumsum(a.lo, axis=d), np.cumsum(a.hi, axis=d)
            else:
                lo = np.minimum(a.lo, a.lo * n_hi) if math.isfinite(n_hi) else np.where(
                    a.lo < 0, -np.inf, a.lo)
                hi = np.maximum(a.hi, a.hi * n_hi) if math.isfinite(n_hi) else np.where(
                    a.hi > 0, np.inf, a.hi)
            r = _out(lo, hi, out_dtype, a.shape)
            return RangeResult(r.out, int_overflow("cumsum", lo, hi, out_dtype, what))
        g = gamma(n_hi, out_dtype)
        if a.ndim and a.lo.shape[d] == a.shape[d]:
            lo_p, lo_n = np.maximum(a.lo, 0.0), np.maximum(-a.lo, 0.0)
            hi_p, hi_n = np.maximum(a.hi, 0.0), np.maximum(-a.hi, 0.0)
            lo = np.cumsum((1 - g) * lo_p - (1 + g) * lo_n, axis=d)
            hi = np.cumsum((1 + g) * hi_p - (1 - g) * hi_n, axis=d)
            spos, sneg = np.cumsum(hi_p, axis=d), np.cumsum(lo_n, axis=d)
            pinf = np.maximum.accumulate(a.hi == np.inf, axis=d)
            ninf = np.maximum.accumulate(a.lo == -np.inf, axis=d)
        else:
            n_m = min(n_hi, MAX_ELEMENTS)
            lo = np.where(a.lo < 0, a.lo * n_m * (1 + g), a.lo * (1 - g))
            hi = np.where(a.hi > 0, a.hi * n_m * (1 + g), a.hi * (1 - g))
            spos, sneg = np.maximum(a.hi, 0.0) * n_m, np.maximum(-a.lo, 0.0) * n_m
            pinf, ninf = a.hi == np.inf, a.lo == -np.inf
        m = accum_masks(spos, sneg, pinf, ninf, g, out_dtype)
    lo = np.where(m.neg | np.isnan(lo), -np.inf, lo)
    hi = np.where(m.pos | np.isnan(hi), np.inf, hi)
    return _out(lo, hi, out_dtype, a.shape,
                hazards=accum_hazards("cumsum", what, m, out_dtype, a.lo, a.hi))


def var(a: Interval, dim: Sequence[int] | int | None = None, keepdim: bool = False,
        correction: float = 1, **_: Any) -> RangeResult:
    """``sum((x - mean)^2) / (n - correction)`` lies in ``[0, n W^2 / (4 (n - c))]`` with W the
    width of the hull of the terms (Popoviciu's inequality); ``n <= correction`` divides by
    zero (a hazard)."""
    axes = _axes(a, dim)
    shape = _reduced_shape(a, axes, keepdim)
    n_lo, n_hi = a.count(axes)
    hazards: list[Hazard] = []
    if n_lo <= correction:
        hazards.append(_hz("div-by-zero", f"var/std with correction={correction:g} over "
                                          f"{n_lo:g} element(s) divides by n - correction <= 0",
                           n_lo, n_hi))
    if not a.finite:
        hazards.append(_hz("nan", "var/std of values that may be infinite: x - mean is "
                                  "inf - inf (gives nan)", a.lo, a.hi))
    # the kernel's mean: a sum first (its overflow is the sum's)
    hazards += [h for h in sum_(a, dim=dim, keepdim=keepdim).hazards
                if h.kind in ("overflow", "nan")]
    lo, hi = a.lo.min(axis=axes, keepdims=True), a.hi.max(axis=axes, keepdims=True)
    lo, hi = _finish(lo, hi, axes, keepdim)
    width = hi - lo
    with np.errstate(invalid="ignore", over="ignore"):
        # the sum of squares before the division: at most n W^2 / 4 (Popoviciu)
        n_sq = min(n_hi, MAX_ELEMENTS)
        sq = n_sq * width * width / 4 * min(4.0, 1 + 4 * (n_sq + 4) * unit_roundoff(a.dtype))
    if a.finite and np.any(sq >= _max_finite(a.dtype)):
        hazards.append(_hz("overflow", f"var/std: the sum of squared deviations may overflow "
                                       f"{(a.dtype or float32).name}", a.lo, a.hi))
    n_eff = max(n_lo, correction + 1)  # n / (n - c) decreases in n: its largest at n_lo
    factor = n_eff / (n_eff - correction) if not hazards else math.inf
    with np.errstate(invalid="ignore", over="ignore"):
        top = width * width / 4 * factor
    # float evaluation: squares and sums of nonnegative terms; relative error of the sum
    n_r = n_hi if math.isfinite(n_hi) else 1e12
    u = unit_roundoff(a.dtype)
    top = top * (1 + 4 * (n_r + 4) * u) + 4 * u * np.maximum(np.abs(lo), np.abs(hi)) ** 2
    if hazards:
        top = np.full_like(top, np.inf)
    r = _out(np.zeros_like(top), top, a.dtype, shape, ulps=2, hazards=hazards)
    # a mean of squares is never negative in floating point either
    return RangeResult(Interval(np.zeros_like(r.out.lo), r.out.hi, shape, a.dtype), hazards)


def std(a: Interval, dim: Sequence[int] | int | None = None, keepdim: bool = False,
        correction: float = 1, **_: Any) -> RangeResult:
    r = var(a, dim, keepdim, correction)
    s = _out(np.sqrt(r.out.lo), np.sqrt(r.out.hi), a.dtype, r.out.shape, ulps=1)
    return RangeResult(Interval(np.zeros_like(s.out.lo), s.out.hi, s.out.shape, a.dtype),
                       r.hazards)


def norm(a: Interval, p: float = 2.0, dim: Sequence[int] | int | None = None,
         keepdim: bool = False, **_: Any) -> RangeResult:
    """p-norm: between the largest least |x| (the inf-norm's lower bound) and
    ``n^(1/p)`` times the largest |x|; exact sums of |x|^p for p = 1, 2 on concrete counts.
    The kernel sums ``|x|^p`` in the dtype: a sum past its largest finite value overflows
    (a hazard, and an infinite bound), and powers below its smallest normal may underflow to
    0 (the lower bound then drops to 0)."""
    axes = _axes(a, dim)
    shape = _reduced_shape(a, axes, keepdim)
    alo = np.where(a.lo >= 0, a.lo, np.where(a.hi <= 0, -a.hi, 0.0))
    ahi = np.maximum(np.abs(a.lo), np.abs(a.hi))
    n_hi = a.count(axes)[1]
    n = _count(a, axes)
    u = unit_roundoff(a.dtype)
    tiny = float(np.finfo((a.dtype or float32).np_dtype).tiny) if (
        a.dtype is not None and a.dtype.is_floating_point) else float(np.finfo(np.float32).tiny)
    big = _max_finite(a.dtype)
    sums = p not in (math.inf, -math.inf, 0.0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if n is not None and p in (1.0, 2.0):
            lo_e = np.broadcast_to(alo, a.expanded(axes)[0].shape)
            hi_e = np.broadcast_to(ahi, lo_e.shape)
            # a power that underflows loses up to a subnormal: 2 per term
            s_lo = (lo_e ** p).sum(axis=axes, keepdims=True) - (
                0.0 if p == 1 else n * 2 * _subnormal(a.dtype))
            s_hi = (hi_e ** p).sum(axis=axes, keepdims=True)
            rel = (n + 4) * u
            lo = np.maximum(s_lo, 0.0) ** (1 / p) * (1 - rel)
            hi = s_hi ** (1 / p) * (1 + rel)
            s_top = s_hi * (1 + rel)
        else:
            top = ahi.max(axis=axes, keepdims=True)
            lo = alo.max(axis=axes, keepdims=True) if p >= 1 else np.zeros_like(top)
            if p == math.inf:
                hi = top
                s_top = np.zeros_like(top)
            else:
                scale = n_hi ** (1 / p) if math.isfinite(n_hi) and p >= 1 else math.inf
                hi = top * scale * (1 + 64 * u)
                hi = np.where(np.isnan(hi), np.inf, hi)
                s_top = top ** p * (n_hi if math.isfinite(n_hi) else math.inf) * (1 + 64 * u)
                if sums:  # |x|^p below the smallest normal: may underflow to 0
                    lo = np.where(lo ** p * (1 - 64 * u) > 2 * tiny, lo, 0.0)
            lo = lo * (1 - 8 * u)
        s_top = np.where(np.isnan(s_top), np.inf, s_top)
    hazards: list[Hazard] = []
    over = sums & (s_top >= big) if sums else np.zeros(np.shape(hi), dtype=bool)
    if np.any(over):
        hi = np.where(over, np.inf, hi)
        if a.finite:
            hazards.append(_hz("overflow", f"norm: the sum of |x|^{p:g} may overflow "
                                           f"{(a.dtype or float32).name}", a.lo, a.hi))
    lo, hi = _finish(lo, hi, axes, keepdim)
    return _out(np.maximum(lo, 0.0), hi, a.dtype, shape, ulps=TRANSCENDENTAL_ULPS,
                hazards=hazards)


# -- the matmul family -----------------------------------------------------------------------------
def dot(a: Interval, b: Interval, **_: Any) -> RangeResult | None:
    r = matmul(Interval(a.lo[None, :], a.hi[None, :], (1, a.shape[0]), a.dtype, a.point),
               Interval(b.lo[:, None], b.hi[:, None], (b.shape[0], 1), b.dtype, b.point))
    if r is None:
        return None
    return RangeResult(Interval(r.out.lo.reshape(()), r.out.hi.reshape(()), (), r.out.dtype),
                       r.hazards)


def outer(a: Interval, b: Interval, **_: Any) -> RangeResult:
    return mul(Interval(a.lo[:, None], a.hi[:, None], (a.shape[0], 1), a.dtype, a.point),
               Interval(b.lo[None, :], b.hi[None, :], (1, b.shape[0]), b.dtype, b.point))


def einsum(*xs: Interval, equation: str, **_: Any) -> RangeResult | None:
    """Two operands with concrete sizes: the center/radius product through ``np.einsum``
    (bilinear, as matmul); other cases have no rule."""
    if len(xs) != 2 or any(s is None for x in xs for s in x.shape):
        return None
    a, b = xs
    alo, ahi = a.expanded(range(a.ndim))
    blo, bhi = b.expanded(range(b.ndim))
    lhs = equation.replace(" ", "").split("->")[0].split(",")
    out_letters = equation.replace(" ", "").split("->")[1] if "->" in equation else None
    sizes = {c: int(s) for part, x in zip(lhs, xs) for c, s in zip(part, x.shape)
             if s is not None}
    summed = set("".join(lhs)) - set(out_letters if out_letters is not None else
                                     "".join(c for c in "".join(lhs)
                                             if "".join(lhs).count(c) == 1))
    n = math.prod(sizes[c] for c in summed) if summed else 1

    def prod_(x: Array, y: Array) -> Array:
        return np.asarray(np.einsum(equation, x, y), dtype=np.float64)

    probe = prod_(alo, blo)
    return _affine(prod_, a, b, n, _dt(a, b), tuple(int(s) for s in probe.shape), alo, ahi,
                   blo, bhi, op="einsum")

