"""Intervals: the numeric verifier's abstract domain, and the transfer functions op rules use.

An :class:`Interval` bounds every element of one tensor value: ``lo`` and ``hi`` are float64
numpy arrays with one axis per dim of the value, each axis either the dim's size (bounds per
element) or 1 (one bound shared along that dim: a symbolic dim, or a per-tensor range). So a
``f32[B, 784]`` input with a per-pixel range has bounds of shape ``(1, 784)``, and elementwise
transfer functions are numpy broadcasting.

Soundness under rounding: each transfer function computes real bounds in float64, then
:func:`round_out` moves them outward (``np.nextafter`` in float64 for the float64 step, then
onto the value dtype's grid, toward -inf / +inf), widened further by ``ulps`` for functions
numpy does not round correctly (``exp``, ``tanh``, ...) and by an absolute error term for
accumulations (sums, matmul, conv: ``gamma_n * sum |terms|`` with ``gamma_n = n u / (1 - n u)``).
A 'proven' verdict therefore holds for the float32 (or float16) computation, not only over the
reals.

Transfer functions return a :class:`RangeResult`: the output interval and the hazards (the
numeric preconditions that the input intervals do not prove: ``log`` of values <= 0, division
by an interval containing 0, ``exp`` overflow for the dtype, ...).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from .dtype import DType, float16, float32, float64, int64, promote_types
from .interval_accum import (
    SENTINEL,
    Accum,
    accum_masks,
    bilinear_masks,
    gamma,
    max_finite,
    sum_bounds,
)

__all__ = ["Hazard", "Interval", "RangeResult", "SizeRange", "round_out", "unit_roundoff"]

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Hazard:
    """A numeric precondition not proven: ``kind`` (``log-domain``, ``div-by-zero``,
    ``overflow``, ...), a message, and the (hull of the) interval that reaches it."""

    kind: str
    message: str
    lo: float
    hi: float
    value: Any = None
    """For a bound that depends on sizes (``arange(T)`` into a table): the dim expression of
    the offending value's upper bound, which must stay <= ``limit``; the verifier then looks
    for the smallest sizes under the assumptions that break it (a counterexample)."""
    limit: int | None = None
    counterexample: dict[str, int] | None = None


@dataclass(frozen=True)
class SizeRange:
    """A size as the numeric verifier sees it: its dim expression (``expr``, a Dim) and its
    least and greatest value under the assumptions (``hi`` inf when nothing bounds it)."""

    expr: Any
    lo: float
    hi: float


class RangeResult(NamedTuple):
    """What an op's ``ranges`` rule returns."""

    out: Interval
    hazards: list[Hazard]


def unit_roundoff(dtype: DType | None) -> float:
    """Half an ulp of 1: 2**-24 for float32, 2**-11 for float16, 2**-53 for float64."""
    if dtype is float16:
        return 2.0 ** -11
    if dtype is float64:
        return 2.0 ** -53
    return 2.0 ** -24


def _grid(dtype: DType | None) -> Any:
    if dtype is float16:
        return np.float16
    if dtype is None or dtype is float32 or not dtype.is_floating_point:
        return np.float32 if dtype is None or dtype is float32 else None
    if dtype is float64:
        return None
    return np.float32  # bfloat16 etc.: bounded by the float32 grid plus ulps below


def round_out(lo: Any, hi: Any, dtype: DType | None, *, ulps: int = 0,
              abs_err: Any = 0.0) -> tuple[Array, Array]:
    """Real bounds ``lo <= x <= hi`` (computed in float64) -> bounds that also hold for the
    value computed in ``dtype``: the float64 error, ``abs_err``, ``ulps`` extra ulps of the
    dtype, then outward onto the dtype's grid. NaN bounds become -inf / +inf."""
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    lo = np.where(np.isnan(lo), -np.inf, lo)
    hi = np.where(np.isnan(hi), np.inf, hi)
    with np.errstate(over="ignore", invalid="ignore"):
        if dtype is not None and (dtype.is_integer or dtype.is_bool):
            # integer results: exact in float64 below 2**53, so only non-integers move out
            big = 2.0 ** 53
            lo, hi = lo - abs_err, hi + abs_err
            lo, hi = np.where(np.isnan(lo), -np.inf, lo), np.where(np.isnan(hi), np.inf, hi)
            lo = np.where(np.abs(lo) < big, lo, np.nextafter(lo, -np.inf))
            hi = np.where(np.abs(hi) < big, hi, np.nextafter(hi, np.inf))
            return np.floor(lo), np.ceil(hi)
        # inf - inf (an infinite bound widened by an infinite error) is no bound at all
        lo, hi = lo - abs_err, hi + abs_err
        lo = np.nextafter(np.where(np.isnan(lo), -np.inf, lo), -np.inf)
        hi = np.nextafter(np.where(np.isnan(hi), np.inf, hi), np.inf)
        grid = _grid(dtype)
        if grid is None:
            return lo, hi
        lo_g = lo.astype(grid).astype(np.float64)
        hi_g = hi.astype(grid).astype(np.float64)
        lo_g = np.where(lo_g > lo, np.nextafter(lo_g.astype(grid), grid(-np.inf)).astype(np.float64),
                        lo_g)
        hi_g = np.where(hi_g < hi, np.nextafter(hi_g.astype(grid), grid(np.inf)).astype(np.float64),
                        hi_g)
        for _ in range(ulps):
            lo_g = np.nextafter(lo_g.astype(grid), grid(-np.inf)).astype(np.float64)
            hi_g = np.nextafter(hi_g.astype(grid), grid(np.inf)).astype(np.float64)
    return lo_g, hi_g


@dataclass(frozen=True)
class Interval:
    """Bounds of one tensor value; see the module docstring. ``shape`` holds the value's
    sizes (None for a symbolic dim); ``dtype`` None for a Python scalar operand."""

    lo: Array
    hi: Array
    shape: tuple[int | None, ...] = ()
    dtype: DType | None = None
    point: bool = field(default=False, compare=False)
    """lo == hi exactly (a constant: a weight), so products need no radius term."""
    sizes: tuple[SizeRange, ...] | None = field(default=None, compare=False, repr=False)
    """The range of each dim's size under the assumptions (set by the verifier on every
    value; None in rules' own intermediate results)."""
    sym_hi: Any = field(default=None, compare=False, repr=False)
    """A dim expression bounding every element from above, when the values come from sizes
    (``arange(T)``: ``T - 1``); used to find counterexample sizes."""

    # -- building -------------------------------------------------------------------------------
    @staticmethod
    def of(lo: Any, hi: Any, shape: Sequence[int | None] = (), dtype: DType | None = float32,
           ) -> Interval:
        """Bounds broadcast to ``shape`` (leading axes added; an axis of size 1 is shared)."""
        shape = tuple(shape)
        lo_a = np.asarray(lo, dtype=np.float64)
        hi_a = np.asarray(hi, dtype=np.float64)
        lo_a, hi_a = np.broadcast_arrays(lo_a, hi_a)
        nd = len(shape)
        if lo_a.ndim > nd:
            raise ValueError(f"bounds of shape {lo_a.shape} do not fit a value of shape {shape}")
        lo_a = lo_a.reshape((1,) * (nd - lo_a.ndim) + lo_a.shape)
        hi_a = hi_a.reshape(lo_a.shape)
        for i, (b, s) in enumerate(zip(lo_a.shape, shape)):
            if b != 1 and b != s:
                raise ValueError(f"bounds of shape {lo_a.shape} do not fit a value of shape "
                                 f"{shape} (axis {i})")
        if np.any(lo_a > hi_a):
            raise ValueError("an interval's lower bound exceeds its upper bound")
        return Interval(np.array(lo_a), np.array(hi_a), shape, dtype)

    @staticmethod
    def exact(data: Any, dtype: DType | None = None) -> Interval:
        """The point interval of a constant array (a parameter) or a Python scalar."""
        a = np.asarray(data, dtype=np.float64)
        return Interval(a, a, tuple(int(s) for s in a.shape), dtype, point=True)

    @staticmethod
    def top(shape: Sequence[int | None] = (), dtype: DType | None = float32) -> Interval:
        """No knowledge: (-inf, +inf), one bound per tensor."""
        one = np.full((1,) * len(tuple(shape)), np.inf)
        return Interval(-one, one.copy(), tuple(shape), dtype)

    # -- reading --------------------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def min(self) -> float:
        return float(np.min(self.lo)) if self.lo.size else math.inf

    @property
    def max(self) -> float:
        return float(np.max(self.hi)) if self.hi.size else -math.inf

    @property
    def finite(self) -> bool:
        return bool(np.all(np.isfinite(self.lo)) and np.all(np.isfinite(self.hi)))

    @property
    def per_element(self) -> bool:
        return all(s is not None and b == s for b, s in zip(self.lo.shape, self.shape))

    def contains(self, x: Any) -> bool:
        """True when every element of the array ``x`` (of this value's shape) lies inside."""
        x = np.asarray(x, dtype=np.float64)
        return bool(np.all((x >= self.lo) & (x <= self.hi)))

    def expanded(self, axes: Sequence[int]) -> tuple[Array, Array]:
        """lo, hi with the shared axes among ``axes`` expanded to their sizes (which must be
        concrete; a ValueError otherwise)."""
        target = list(self.lo.shape)
        for a in axes:
            s = self.shape[a]
            if s is None:
                raise ValueError(f"axis {a} has a symbolic size")
            target[a] = s
        return np.broadcast_to(self.lo, target), np.broadcast_to(self.hi, target)

    def size(self, axis: int) -> SizeRange:
        """The size of dim ``axis``: exact when concrete, else its range under the
        assumptions when the verifier knows it, else ``[0, inf]``."""
        s = self.shape[axis]
        if s is not None:
            return SizeRange(s, float(s), float(s))
        if self.sizes is not None:
            return self.sizes[axis]
        return SizeRange(None, 0.0, math.inf)

    def count(self, axes: Sequence[int]) -> tuple[float, float]:
        """Least and greatest number of elements along ``axes`` (a product of sizes)."""
        lo, hi = 1.0, 1.0
        for a in axes:
            r = self.size(a)
            lo, hi = lo * r.lo, (hi * r.hi if r.hi and hi else 0.0)
        return lo, hi

    def __str__(self) -> str:
        if self.lo.size == 1:
            return f"[{self.min:.6g}, {self.max:.6g}]"
        return f"[{self.min:.6g}, {self.max:.6g}] (per element, {self.lo.size} bounds)"


# -- helpers for the rules ----------------------------------------------------------------------
def _dt(*xs: Interval | None) -> DType | None:
    out: DType | None = None
    for x in xs:
        if x is not None and x.dtype is not None:
            out = x.dtype if out is None else promote_types(out, x.dtype)
    return out


def _align(x: Interval, nd: int) -> tuple[Array, Array]:
    pad = (1,) * (nd - x.lo.ndim)
    return x.lo.reshape(pad + x.lo.shape), x.hi.reshape(pad + x.hi.shape)


def _out(lo: Any, hi: Any, dtype: DType | None, shape: Sequence[int | None], *,
         ulps: int = 0, abs_err: Any = 0.0, hazards: list[Hazard] | None = None) -> RangeResult:
    if ulps >= TRANSCENDENTAL_ULPS:
        # libm-style approximations lose their relative accuracy on subnormal results
        # (onnxruntime's Tanh is off by ~100 subnormal ulps there): an absolute floor
        abs_err = np.asarray(abs_err) + SUBNORMAL_FLOOR
    lo_r, hi_r = round_out(lo, hi, dtype, ulps=ulps, abs_err=abs_err)
    return RangeResult(Interval(lo_r, hi_r, tuple(shape), dtype), hazards or [])


def _bshape(*xs: Interval) -> tuple[int | None, ...]:
    nd = max(x.ndim for x in xs)
    out: list[int | None] = []
    for i in range(nd):
        sizes = [x.shape[i - nd + x.ndim] for x in xs if i - nd + x.ndim >= 0]
        known = [s for s in sizes if s is not None and s != 1]
        if any(s is None for s in sizes) and not known:
            out.append(None)
        else:
            out.append(known[0] if known else 1)
    return tuple(out)


def _hz(kind: str, message: str, lo: Any, hi: Any) -> Hazard:
    return Hazard(kind, message, float(np.min(lo)), float(np.max(hi)))


def _max_finite(dtype: DType | None) -> float:
    return max_finite(dtype)


def accum_hazards(op: str, what: str, m: Accum, dtype: DType | None, lo: Any, hi: Any,
                  ) -> list[Hazard]:
    """The hazards of one accumulation (:mod:`neurarust.types.interval_accum`): NaN where
    inf - inf or 0 * inf may occur, overflow where finite partial sums may pass the dtype's
    largest finite value; ``lo``/``hi`` the hull of the terms, for the message."""
    out: list[Hazard] = []
    name = (dtype or float32).name
    if np.any(m.nan):
        out.append(_hz("nan", f"{op}: inf - inf (or 0 * inf) may occur inside {what} (gives "
                              f"nan): terms may be infinite with opposite signs, or overflow",
                       lo, hi))
    if np.any(m.overflow):
        out.append(_hz("overflow", f"{op}: partial sums of {what} may overflow {name} "
                                   f"(largest finite {max_finite(dtype):g})", lo, hi))
    return out


MAX_ELEMENTS = 2.0 ** 63
"""No tensor has more elements than an int64 counts: the count of a sum over a size that no
assumption bounds."""

TRANSCENDENTAL_ULPS = 8
"""Extra ulps allowed for functions numpy's float32 libm does not round correctly."""

SUBNORMAL_FLOOR = 2.0 ** -126
"""An absolute error allowed on top of those ulps: float32's smallest normal."""


# -- elementwise arithmetic ---------------------------------------------------------------------
def _mul_bounds(alo: Any, ahi: Any, blo: Any, bhi: Any) -> tuple[Array, Array]:
    with np.errstate(invalid="ignore", over="ignore"):
        c = np.stack(np.broadcast_arrays(alo * blo, alo * bhi, ahi * blo, ahi * bhi))
    lo = np.where(np.isnan(c), np.inf, c).min(axis=0)
    hi = np.where(np.isnan(c), -np.inf, c).max(axis=0)
    if np.isnan(c).any():  # 0 * inf: the value may be nan
        bad = np.isnan(c).any(axis=0)
        lo, hi = np.where(bad, -np.inf, lo), np.where(bad, np.inf, hi)
    return lo, hi


def add(a: Interval, b: Interval, alpha: float = 1.0, **_: Any) -> RangeResult:
    shape = _bshape(a, b)
    nd = len(shape)
    (alo, ahi), (blo, bhi) = _align(a, nd), _align(b, nd)
    if alpha != 1:
        blo, bhi = _mul_bounds(blo, bhi, np.float64(alpha), np.float64(alpha))
    hazards = []
    with np.errstate(invalid="ignore"):
        lo, hi = alo + blo, ahi + bhi
    # inf + (-inf): both infinities of opposite signs reachable at one element
    clash = ((alo == -np.inf) & (bhi == np.inf)) | ((ahi == np.inf) & (blo == -np.inf))
    if np.any(clash):
        hazards.append(_hz("nan", "inf - inf may occur (gives nan): both operands may be "
                                  "infinite with opposite signs", np.minimum(alo, blo),
                           np.maximum(ahi, bhi)))
        lo, hi = np.where(clash, -np.inf, lo), np.where(clash, np.inf, hi)
    return _out(lo, hi, _dt(a, b), shape, ulps=1 if alpha != 1 else 0, hazards=hazards)


def sub(a: Interval, b: Interval, alpha: float = 1.0, **_: Any) -> RangeResult:
    return add(a, neg(b).out, alpha)


def neg(a: Interval, **_: Any) -> RangeResult:
    return RangeResult(Interval(-a.hi, -a.lo, a.shape, a.dtype, a.point), [])


def mul(a: Interval, b: Interval, **_: Any) -> RangeResult:
    shape = _bshape(a, b)
    nd = len(shape)
    (alo, ahi), (blo, bhi) = _align(a, nd), _align(b, nd)
    lo, hi = _mul_bounds(alo, ahi, blo, bhi)
    hazards = []
    inf_a, inf_b = ~np.isfinite(alo) | ~np.isfinite(ahi), ~np.isfinite(blo) | ~np.isfinite(bhi)
    zero_a, zero_b = (alo <= 0) & (ahi >= 0), (blo <= 0) & (bhi >= 0)
    if np.any((inf_a & zero_b) | (inf_b & zero_a)):
        hazards.append(_hz("nan", "0 * inf may occur (gives nan): one factor may be 0 while "
                                  "the other may be infinite", np.minimum(alo, blo),
                           np.maximum(ahi, bhi)))
    return _out(lo, hi, _dt(a, b), shape, hazards=hazards)


def div(a: Interval, b: Interval, rounding_mode: str | None = None, **_: Any,
        ) -> RangeResult:
    shape = _bshape(a, b)
    nd = len(shape)
    (alo, ahi), (blo, bhi) = _align(a, nd), _align(b, nd)
    zero = (blo <= 0) & (bhi >= 0)
    hazards = []
    if np.any(zero):
        hazards.append(_hz("div-by-zero", "division by an interval that contains 0", blo, bhi))
    both_inf = (np.isinf(alo) | np.isinf(ahi)) & (np.isinf(blo) | np.isinf(bhi))
    if np.any(both_inf):
        hazards.append(_hz("nan", "inf / inf may occur (gives nan): numerator and denominator "
                                  "may both be infinite", np.minimum(alo, blo),
                           np.maximum(ahi, bhi)))
    with np.errstate(divide="ignore", invalid="ignore"):
        rlo, rhi = 1.0 / bhi, 1.0 / blo
    lo, hi = _mul_bounds(alo, ahi, rlo, rhi)
    # 1/b rounded in float64 first: widen by one float64 ulp on each side of the product
    lo, hi = np.nextafter(lo, -np.inf), np.nextafter(hi, np.inf)
    z = np.broadcast_to(zero | both_inf, lo.shape)
    lo, hi = np.where(z, -np.inf, lo), np.where(z, np.inf, hi)
    if rounding_mode is not None:  # floor / trunc of the quotient: monotone, exact on the grid
        r = _out(lo, hi, _dt(a, b), shape)
        f = np.floor if rounding_mode == "floor" else np.trunc
        return RangeResult(Interval(f(r.out.lo), f(r.out.hi), r.out.shape, r.out.dtype), hazards)
    return _out(lo, hi, _dt(a, b), shape, hazards=hazards)


def _monotone(a: Interval, f: Callable[[Array], Array], *, ulps: int = TRANSCENDENTAL_ULPS,
              dtype: DType | None = None) -> RangeResult:
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        lo, hi = f(a.lo), f(a.hi)
    return _out(lo, hi, dtype or a.dtype, a.shape, ulps=ulps)


def exp(a: Interval, **_: Any) -> RangeResult:
    dtype = a.dtype or float32
    limit = math.log(_max_finite(dtype))
    r = _monotone(a, np.exp)
    if a.max > limit:
        r.hazards.append(_hz("overflow", f"exp overflows {dtype.name} for inputs above "
                                         f"{limit:.4g}", a.lo, a.hi))
    return r


def log(a: Interval, **_: Any) -> RangeResult:
    r = _monotone(a, np.log)
    if a.min <= 0:
        r.hazards.append(_hz("log-domain", "log of values <= 0 (gives -inf or nan)", a.lo, a.hi))
        lo = np.where(a.lo <= 0, -np.inf, r.out.lo)
        return RangeResult(Interval(lo, r.out.hi, a.shape, r.out.dtype), r.hazards)
    return r


def log1p(a: Interval, **_: Any) -> RangeResult:
    """``log(1 + x)``; exported to ONNX as ``Log(1 + x)``, where rounding ``1 + x`` costs an
    absolute error of about one ulp of 1 (a tiny ``x`` gives 0): the bounds allow both."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        lo, hi = np.log1p(a.lo), np.log1p(a.hi)
    r = _out(lo, hi, a.dtype, a.shape, ulps=TRANSCENDENTAL_ULPS,
             abs_err=4 * unit_roundoff(a.dtype or float32))
    if a.min <= -1:
        r.hazards.append(_hz("log-domain", "log1p of values <= -1 (gives -inf or nan)",
                             a.lo, a.hi))
        lo = np.where(a.lo <= -1, -np.inf, r.out.lo)
        return RangeResult(Interval(lo, r.out.hi, a.shape, r.out.dtype), r.hazards)
    return r


def sqrt(a: Interval, **_: Any) -> RangeResult:
    r = _monotone(a, lambda x: np.sqrt(np.maximum(x, 0.0)), ulps=0)
    if a.min < 0:
        r.hazards.append(_hz("sqrt-domain", "sqrt of negative values (gives nan)", a.lo, a.hi))
    return r


def rsqrt(a: Interval, **_: Any) -> RangeResult:
    with np.errstate(divide="ignore"):
        lo = 1.0 / np.sqrt(np.maximum(a.hi, 0.0))
        hi = 1.0 / np.sqrt(np.maximum(a.lo, 0.0))
    r = _out(lo, hi, a.dtype, a.shape, ulps=2)
    if a.min <= 0:
        r.hazards.append(_hz("rsqrt-domain", "rsqrt of values <= 0 (gives inf or nan)",
                             a.lo, a.hi))
        # an interval that reaches 0 holds -0.0 too, and rsqrt(-0.0) = -inf
        return RangeResult(Interval(np.where(a.lo <= 0, -np.inf, r.out.lo), r.out.hi,
                                    a.shape, r.out.dtype), r.hazards)
    return r


SATURATION_SLACK = 2.0 ** -21
"""How far past its limit a saturating function may go when computed for real: onnxruntime's
float32 ``Tanh`` reaches 1.00000024 and its ``Sigmoid`` (computed through tanh, with an
absolute error up to 1.7e-7) 1.00000012; four float32 ulps of 1 cover both."""


def tanh(a: Interval, **_: Any) -> RangeResult:
    r = _monotone(a, np.tanh)
    lim = 1.0 + SATURATION_SLACK
    return RangeResult(_clip(r.out, -lim, lim), r.hazards)


def sigmoid(a: Interval, **_: Any) -> RangeResult:
    """``1 / (1 + exp(-x))`` rounded outward, plus an absolute error of 4 float32 ulps of 1:
    onnxruntime computes it as ``0.5 tanh(x / 2) + 0.5``, whose error does not scale with a
    small result."""
    def f(x: Array) -> Array:
        e = np.exp(-np.abs(x))  # no cancellation on either side
        return np.asarray(np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)), dtype=np.float64)

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        lo, hi = f(a.lo), f(a.hi)
    r = _out(lo, hi, a.dtype, a.shape, ulps=TRANSCENDENTAL_ULPS, abs_err=SATURATION_SLACK)
    return RangeResult(_clip(r.out, 0.0, 1.0 + SATURATION_SLACK), r.hazards)


def erf(a: Interval, **_: Any) -> RangeResult:
    from math import erf as _erf

    r = _monotone(a, np.vectorize(_erf, otypes=[np.float64]))
    lim = 1.0 + SATURATION_SLACK
    return RangeResult(_clip(r.out, -lim, lim), r.hazards)


def _clip(x: Interval, lo: float, hi: float) -> Interval:
    return Interval(np.clip(x.lo, lo, hi), np.clip(x.hi, lo, hi), x.shape, x.dtype)


def relu(a: Interval, **_: Any) -> RangeResult:
    return RangeResult(Interval(np.maximum(a.lo, 0.0), np.maximum(a.hi, 0.0), a.shape, a.dtype,
                                a.point), [])


def abs_(a: Interval, **_: Any) -> RangeResult:
    lo = np.where(a.lo >= 0, a.lo, np.where(a.hi <= 0, -a.hi, 0.0))
    hi = np.maximum(np.abs(a.lo), np.abs(a.hi))
    return RangeResult(Interval(lo, hi, a.shape, a.dtype, a.point), [])


def clamp(a: Interval, min: float | None = None, max: float | None = None, **_: Any) -> RangeResult:
    lo, hi = a.lo, a.hi
    if min is not None:
        lo, hi = np.maximum(lo, min), np.maximum(hi, min)
    if max is not None:
        lo, hi = np.minimum(lo, max), np.minimum(hi, max)
    return _out(lo, hi, a.dtype, a.shape)


def maximum(a: Interval, b: Interval, **_: Any) -> RangeResult:
    shape = _bshape(a, b)
    (alo, ahi), (blo, bhi) = _align(a, len(shape)), _align(b, len(shape))
    return _out(np.maximum(alo, blo), np.maximum(ahi, bhi), _dt(a, b), shape)


def minimum(a: Interval, b: Interval, **_: Any) -> RangeResult:
    shape = _bshape(a, b)
    (alo, ahi), (blo, bhi) = _align(a, len(shape)), _align(b, len(shape))
    return _out(np.minimum(alo, blo), np.minimum(ahi, bhi), _dt(a, b), shape)


def pow_(a: Interval, b: Interval, **_: Any) -> RangeResult | None:
    """``a ** p`` for a scalar exponent ``p``; None (no rule) for a tensor exponent."""
    if not b.point or b.lo.size != 1:
        return None
    p = float(b.lo.reshape(()))
    dtype = _dt(a, b)
    hazards: list[Hazard] = []
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if p == 0:
            return _out(np.ones_like(a.lo), np.ones_like(a.hi), dtype, a.shape)
        if p.is_integer():
            c1, c2 = np.power(a.lo, p), np.power(a.hi, p)
            lo, hi = np.minimum(c1, c2), np.maximum(c1, c2)
            if p % 2 == 0 and p > 0:
                lo = np.where((a.lo <= 0) & (a.hi >= 0), 0.0, lo)
            if p < 0 and a.min <= 0 <= a.max:
                hazards.append(_hz("div-by-zero", f"x ** {p:g} of an interval containing 0",
                                   a.lo, a.hi))
                lo, hi = np.full_like(lo, -np.inf), np.full_like(hi, np.inf)
        else:
            if a.min < 0:
                hazards.append(_hz("pow-domain", f"x ** {p:g} of negative values (gives nan)",
                                   a.lo, a.hi))
            base_lo, base_hi = np.maximum(a.lo, 0.0), np.maximum(a.hi, 0.0)
            c1, c2 = np.power(base_lo, p), np.power(base_hi, p)
            lo, hi = np.minimum(c1, c2), np.maximum(c1, c2)
            if p < 0 and a.min <= 0:
                hazards.append(_hz("div-by-zero", f"x ** {p:g} of values <= 0", a.lo, a.hi))
    r = _out(lo, hi, dtype, a.shape, ulps=TRANSCENDENTAL_ULPS, hazards=hazards)
    if not hazards and a.finite and not r.out.finite:
        r.hazards.append(_hz("overflow", f"x ** {p:g} overflows {(dtype or float32).name}",
                             a.lo, a.hi))
    return r


def cast(a: Interval, dtype: DType, **_: Any) -> RangeResult:
    hazards: list[Hazard] = []
    if dtype.is_floating_point and a.finite and max(-a.min, a.max) > _max_finite(dtype):
        hazards.append(_hz("overflow", f"cast to {dtype.name} overflows (largest finite "
                                       f"{_max_finite(dtype):g})", a.lo, a.hi))
    lo, hi = a.lo, a.hi
    if dtype.is_integer and not dtype.is_bool:
        lo, hi = np.trunc(lo), np.trunc(hi)
        info = np.iinfo(dtype.np_dtype)
        # a float cast to an integer outside its range (or inf) is undefined: numpy gives
        # the smallest integer; an integer narrowed wraps around
        if a.min < float(info.min) or a.max >= float(info.max) + 1:
            hazards.append(_hz("int-overflow", f"cast to {dtype.name} of values outside "
                                               f"[{info.min}, {info.max}] (or infinite) is "
                                               f"undefined", a.lo, a.hi))
            lo, hi = np.full_like(lo, float(info.min)), np.full_like(hi, float(info.max))
    if dtype.is_bool:
        zero = (a.lo <= 0) & (a.hi >= 0)
        lo = np.where(zero, 0.0, 1.0)
        hi = np.where((a.lo == 0) & (a.hi == 0), 0.0, 1.0)
    return _out(lo, hi, dtype, a.shape, hazards=hazards)


# -- moving bounds ------------------------------------------------------------------------------
def _hull(a: Interval, shape: Sequence[int | None]) -> Interval:
    one = (1,) * len(tuple(shape))
    return Interval(np.full(one, a.min), np.full(one, a.max), tuple(shape), a.dtype)


def _target(a: Interval, shape: Sequence[Any]) -> tuple[int | None, ...]:
    """A reshape's target sizes: ints kept, symbolic sizes None, one -1 inferred when the
    input's size is concrete."""
    out: list[int | None] = [s if isinstance(s, int) else None for s in shape]
    if -1 in out:
        known = [s for s in out if s is not None and s != -1]
        total = None if any(s is None for s in a.shape) else math.prod(
            int(s) for s in a.shape if s is not None)
        fill = None if total is None or None in out else total // max(1, math.prod(known))
        out[out.index(-1)] = fill
    return tuple(out)


def reshape(a: Interval, shape: Sequence[Any], **_: Any) -> RangeResult:
    """Bounds of a reshaped value: moved element-wise when both sides are per element (or
    shared on every axis), else the hull."""
    shape = _target(a, shape)
    if a.lo.size == 1:
        return RangeResult(Interval(a.lo.reshape((1,) * len(shape)),
                                    a.hi.reshape((1,) * len(shape)), shape, a.dtype, a.point), [])
    if a.per_element and all(s is not None for s in shape):
        sizes = tuple(int(s) for s in shape if s is not None)
        return RangeResult(Interval(a.lo.reshape(sizes), a.hi.reshape(sizes), shape, a.dtype,
                                    a.point), [])
    # dims kept at the end, everything before them shared: the bounds of the kept dims stay
    k = 0
    while (k < min(len(a.shape), len(shape)) and a.shape[-1 - k] is not None
           and a.shape[-1 - k] == shape[-1 - k]):
        k += 1
    if k and all(b == 1 for b in a.lo.shape[:a.ndim - k]):
        new_b = (1,) * (len(shape) - k) + a.lo.shape[a.ndim - k:]
        return RangeResult(Interval(a.lo.reshape(new_b), a.hi.reshape(new_b), shape, a.dtype,
                                    a.point), [])
    # a leading symbolic (batch) dim shared by both sides: keep the rest per element
    if (a.shape and shape and a.shape[0] is None and shape[0] is None and a.lo.shape[0] == 1
            and all(s is not None and b == s for b, s in zip(a.lo.shape[1:], a.shape[1:]))
            and all(s is not None for s in shape[1:])):
        new = (1, *[int(s) for s in shape[1:] if s is not None])
        return RangeResult(Interval(a.lo.reshape(new), a.hi.reshape(new), shape, a.dtype,
                                    a.point), [])
    return RangeResult(_hull(a, shape), [])


def permute(a: Interval, dims_order: Sequence[int], **_: Any) -> RangeResult:
    order = [d % a.ndim for d in dims_order] if a.ndim else []
    return RangeResult(Interval(a.lo.transpose(order), a.hi.transpose(order),
                                tuple(a.shape[i] for i in order), a.dtype, a.point), [])


def unsqueeze(a: Interval, dim: int, **_: Any) -> RangeResult:
    d = dim % (a.ndim + 1)
    shape = (*a.shape[:d], 1, *a.shape[d:])
    return RangeResult(Interval(np.expand_dims(a.lo, d), np.expand_dims(a.hi, d), shape,
                                a.dtype, a.point), [])


def squeeze(a: Interval, dim: tuple[int, ...] | int | None = None, **_: Any) -> RangeResult:
    dims = range(a.ndim) if dim is None else ([dim] if isinstance(dim, int) else list(dim))
    axes = tuple(d % a.ndim for d in dims if a.ndim and a.shape[d % a.ndim] == 1)
    shape = tuple(s for i, s in enumerate(a.shape) if i not in axes)
    return RangeResult(Interval(a.lo.squeeze(axes), a.hi.squeeze(axes), shape, a.dtype,
                                a.point), [])


def expand(a: Interval, size: Sequence[Any], **_: Any) -> RangeResult:
    shape = tuple(s if isinstance(s, int) else None for s in size)
    nd = len(shape)
    lo, hi = _align(a, nd)
    full = tuple(a.shape[i - nd + a.ndim] if s in (-1,) and i - nd + a.ndim >= 0 else s
                 for i, s in enumerate(shape))
    return RangeResult(Interval(lo, hi, full, a.dtype, a.point), [])


def flatten(a: Interval, start_dim: int, end_dim: int, **_: Any) -> RangeResult:
    if not a.ndim:
        return RangeResult(reshape(a, (1,)).out, [])
    s, e = start_dim % a.ndim, end_dim % a.ndim
    mid = a.shape[s:e + 1]
    n: int | None = None if any(x is None for x in mid) else math.prod(int(x) for x in mid
                                                                        if x is not None)
    return reshape(a, (*a.shape[:s], n, *a.shape[e + 1:]))


# -- reductions ---------------------------------------------------------------------------------
def _axes(a: Interval, dim: Sequence[int] | int | None) -> tuple[int, ...]:
    if dim is None:
        return tuple(range(a.ndim))
    ds = [dim] if isinstance(dim, int) else list(dim)
    return tuple(sorted({d % a.ndim for d in ds})) if a.ndim else ()


def _reduced_shape(a: Interval, axes: tuple[int, ...], keepdim: bool) -> tuple[int | None, ...]:
    return tuple(1 if i in axes else s for i, s in enumerate(a.shape)) if keepdim else \
        tuple(s for i, s in enumerate(a.shape) if i not in axes)


def _count(a: Interval, axes: tuple[int, ...]) -> int | None:
    n = 1
    for i in axes:
        s = a.shape[i]
        if s is None:
            return None
        n *= s
    return n


def _finish(lo: Any, hi: Any, axes: tuple[int, ...], keepdim: bool) -> tuple[Array, Array]:
    if not keepdim:
        lo, hi = lo.squeeze(axes), hi.squeeze(axes)
    return lo, hi


def _int_max(dtype: DType | None) -> float | None:
    """The largest value of an integer dtype (None for floats and bool)."""
    if dtype is None or not dtype.is_integer or dtype.is_bool:
        return None
    return float(np.iinfo(dtype.np_dtype).max)


def int_overflow(op: str, lo: Any, hi: Any, dtype: DType | None, what: str) -> list[Hazard]:
    """The hazard of an integer result outside its dtype (numpy and PyTorch wrap around)."""
    top = _int_max(dtype)
    assert top is None or dtype is not None
    if top is None or (float(np.min(lo)) >= -top - 1 and float(np.max(hi)) <= top):
        return []
    return [_hz("int-overflow", f"{op}: {what} may overflow {dtype.name if dtype else ''} "
                                f"(largest {top:.0f})", lo, hi)]


def sum_(a: Interval, dim: Sequence[int] | int | None = None, keepdim: bool = False,
         dtype: DType | None = None, **_: Any) -> RangeResult:
    """Per element over concrete sizes; over a symbolic size, n copies of the shared bounds
    for n in the size's range under the assumptions. Float sums are bounded, with their NaN
    and overflow hazards, by :func:`~neurarust.types.interval_accum.sum_bounds`; integer sums
    (int64 unless ``dtype``, as PyTorch) are exact and checked against the dtype."""
    axes = _axes(a, dim)
    shape = _reduced_shape(a, axes, keepdim)
    out_dtype = dtype or (int64 if a.dtype is not None and (a.dtype.is_integer or a.dtype.is_bool)
                          else a.dtype)
    n = _count(a, axes)
    exact = out_dtype is not None and not out_dtype.is_floating_point
    if n is None:
        n_lo, n_hi = a.count(axes)
        lo = a.lo.min(axis=axes, keepdims=True)
        hi = a.hi.max(axis=axes, keepdims=True)
        lo, hi = _finish(lo, hi, axes, keepdim)
        what = f"a sum of up to {n_hi:.0f} terms" if math.isfinite(n_hi) else \
            "a sum over a size that no assumption bounds"
        with np.errstate(invalid="ignore", over="ignore"):
            s_lo = np.minimum(lo * n_lo, np.where(lo < 0, lo * n_hi, lo * n_lo))
            s_hi = np.maximum(hi * n_lo, np.where(hi > 0, hi * n_hi, hi * n_lo))
            s_lo, s_hi = np.where(np.isnan(s_lo), -np.inf, s_lo), np.where(np.isnan(s_hi),
                                                                          np.inf, s_hi)
        if exact:
            r = _out(s_lo, s_hi, out_dtype, shape)
            return RangeResult(r.out, int_overflow("sum", s_lo, s_hi, out_dtype, what))
        g = gamma(n_hi, out_dtype)
        with np.errstate(invalid="ignore", over="ignore"):
            # a size no assumption bounds is still an int64: at most 2**63 terms
            n_m = min(n_hi, MAX_ELEMENTS)
            spos = np.maximum(hi, 0.0) * n_m
            sneg = np.maximum(-lo, 0.0) * n_m
            m = accum_masks(spos, sneg, hi == np.inf, lo == -np.inf, min(g, 3.0), out_dtype)
            # terms of one sign: |fl(s) - s| <= g |s|
            s_lo = np.where(s_lo >= 0, s_lo * (1 - g), s_lo * (1 + g))
            s_hi = np.where(s_hi >= 0, s_hi * (1 + g), s_hi * (1 - g))
        s_lo = np.where(m.neg | np.isnan(s_lo), -np.inf, s_lo)
        s_hi = np.where(m.pos | np.isnan(s_hi), np.inf, s_hi)
        return _out(s_lo, s_hi, out_dtype, shape,
                    hazards=accum_hazards("sum", what, m, out_dtype, lo, hi))
    lo_e, hi_e = a.expanded(axes)
    if exact:
        with np.errstate(invalid="ignore", over="ignore"):
            lo, hi = lo_e.sum(axis=axes, keepdims=True), hi_e.sum(axis=axes, keepdims=True)
        lo, hi = _finish(lo, hi, axes, keepdim)
        r = _out(lo, hi, out_dtype, shape)
        return RangeResult(r.out, int_overflow("sum", lo, hi, out_dtype, f"a sum of {n} terms"))
    lo, hi, m = sum_bounds(lo_e, hi_e, axes, n, out_dtype)
    lo, hi = _finish(lo, hi, axes, keepdim)
    return _out(lo, hi, out_dtype, shape,
                hazards=accum_hazards("sum", f"a sum of {n} terms", m, out_dtype, a.lo, a.hi))


def mean(a: Interval, dim: Sequence[int] | int | None = None, keepdim: bool = False,
         **_: Any) -> RangeResult:
    """The sum's bounds (and hazards: the kernel sums, then divides) divided by n; over a
    symbolic count, the hull of the terms up to rounding, with the sum's hazards for the
    count's greatest value."""
    axes = _axes(a, dim)
    shape = _reduced_shape(a, axes, keepdim)
    n = _count(a, axes)
    s = sum_(a, dim=dim, keepdim=keepdim)
    if n is None:  # a mean lies in the hull of its terms, up to rounding
        lo = a.lo.min(axis=axes, keepdims=True)
        hi = a.hi.max(axis=axes, keepdims=True)
        lo, hi = _finish(lo, hi, axes, keepdim)
        with np.errstate(invalid="ignore", over="ignore"):
            mag = np.maximum(np.abs(lo), np.abs(hi))
            lo, hi = lo - mag * 1e-3, hi + mag * 1e-3  # n unknown: coarse
        hazards = s.hazards
        if not math.isfinite(a.count(axes)[1]):
            # no bound on the count: the mean stays in the hull (pairwise summation); only
            # infinite terms of both signs make nan
            hazards = [h for h in s.hazards if h.kind == "nan"] if (
                a.max == math.inf and a.min == -math.inf) else []
        else:
            lo = np.where(np.isinf(s.out.lo) & (s.out.lo < 0), -np.inf, lo)
            hi = np.where(np.isinf(s.out.hi) & (s.out.hi > 0), np.inf, hi)
        return _out(lo, hi, a.dtype, shape, ulps=4, hazards=hazards)
    if n == 0:
        return _out(np.full(s.out.lo.shape, -np.inf), np.full(s.out.hi.shape, np.inf), a.dtype,
                    shape, hazards=[_hz("nan", "mean over an empty dim is 0 / 0 (gives nan)",
                                        0.0, 0.0)])
    return _out(s.out.lo / n, s.out.hi / n, a.dtype, shape, ulps=1, hazards=s.hazards)


def amax(a: Interval, dim: Sequence[int] | int | None = None, keepdim: bool = False,
         **_: Any) -> RangeResult:
    axes = _axes(a, dim)
    lo = a.lo.max(axis=axes, keepdims=True)
    hi = a.hi.max(axis=axes, keepdims=True)
    lo, hi = _finish(lo, hi, axes, keepdim)
    return RangeResult(Interval(lo, hi, _reduced_shape(a, axes, keepdim), a.dtype), [])


def amin(a: Interval, dim: Sequence[int] | int | None = None, keepdim: bool = False,
         **_: Any) -> RangeResult:
    n = neg(a).out
    r = amax(n, dim, keepdim).out
    return neg(r)


def _lse(v: Array, axis: int) -> Array:
    m = np.max(v, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(over="ignore", divide="ignore"):
        return np.asarray(m + np.log(np.sum(np.exp(v - m), axis=axis, keepdims=True)),
                          dtype=np.float64)


def logsumexp(a: Interval, dim: Sequence[int] | int | None = None, keepdim: bool = False,
              **_: Any) -> RangeResult:
    """Stable ``log(sum(exp(x)))``: monotone in every element, so lse(lo) <= . <= lse(hi)."""
    axes = _axes(a, dim)
    shape = _reduced_shape(a, axes, keepdim)
    n = _count(a, axes)
    if n is None:
        return RangeResult(Interval.top(shape, a.dtype), [])
    lo_e, hi_e = a.expanded(axes)
    flat_lo = np.moveaxis(lo_e, axes, range(-len(axes), 0)) if axes else lo_e
    flat_hi = np.moveaxis(hi_e, axes, range(-len(axes), 0)) if axes else hi_e
    keep_shape = flat_lo.shape[:flat_lo.ndim - len(axes)]
    flat_lo = flat_lo.reshape(keep_shape + (-1,))
    flat_hi = flat_hi.reshape(keep_shape + (-1,))
    lo, hi = _lse(flat_lo, -1)[..., 0], _lse(flat_hi, -1)[..., 0]
    kshape = tuple(1 if i in axes else b for i, b in enumerate(lo_e.shape))
    lo, hi = lo.reshape(kshape), hi.reshape(kshape)
    lo, hi = _finish(lo, hi, axes, keepdim)
    mag = np.maximum(np.abs(lo), np.abs(hi)) + math.log(max(n, 1)) + 1
    return _out(lo, hi, a.dtype, shape, ulps=TRANSCENDENTAL_ULPS,
                abs_err=mag * 8 * unit_roundoff(a.dtype))


def log_softmax(a: Interval, dim: int, **_: Any) -> RangeResult:
    """Stable ``x_i - logsumexp(x)``: per element, ``out_i = -log(1 + sum_{j != i}
    exp(x_j - x_i))``, bounded with the opposite corners; always <= 0 and no hazard."""
    if not a.ndim:
        return _out(np.zeros(()), np.zeros(()), a.dtype, ())
    d = dim % a.ndim
    n = a.shape[d]
    if not a.finite:  # the kernel subtracts the row's max: inf - inf
        return _out(np.full(a.lo.shape, -np.inf), np.zeros(a.lo.shape), a.dtype, a.shape,
                    hazards=[_hz("nan", "log_softmax of values that may be infinite: x - max "
                                        "or x - logsumexp is inf - inf (gives nan)",
                                 a.lo, a.hi)])
    if n is None:
        return _out(np.full(a.lo.shape, -np.inf), np.zeros(a.lo.shape), a.dtype, a.shape)
    lo_x = np.moveaxis(a.lo, d, -1)
    hi_x = np.moveaxis(a.hi, d, -1)
    if lo_x.shape[-1] == 1:  # one shared bound along dim: n - 1 others in the same range
        width = hi_x - lo_x
        with np.errstate(over="ignore"):
            lo = -np.logaddexp(0.0, math.log(n - 1) + width) if n > 1 else np.zeros_like(width)
            hi = -np.logaddexp(0.0, math.log(n - 1) - width) if n > 1 else np.zeros_like(width)
    elif n <= 2048:
        # D[..., i, j] = hi_j - lo_i, with the j == i term exp(0) = 1
        dlo = hi_x[..., None, :] - lo_x[..., :, None]
        dhi = lo_x[..., None, :] - hi_x[..., :, None]
        eye = np.eye(n, dtype=bool)
        lo = -_lse(np.where(eye, 0.0, dlo), -1)[..., 0]
        hi = -_lse(np.where(eye, 0.0, dhi), -1)[..., 0]
    else:
        lse_lo, lse_hi = _lse(lo_x, -1), _lse(hi_x, -1)
        lo, hi = lo_x - lse_hi, np.minimum(hi_x - lse_lo, 0.0)
    lo, hi = np.moveaxis(lo, -1, d), np.moveaxis(hi, -1, d)
    mag = 2 * np.maximum(np.abs(a.lo), np.abs(a.hi)).max() + math.log(max(n, 1)) + 2
    r = _out(lo, hi, a.dtype, a.shape, ulps=TRANSCENDENTAL_ULPS,
             abs_err=mag * 8 * unit_roundoff(a.dtype))
    return RangeResult(Interval(r.out.lo, np.minimum(r.out.hi, 0.0), a.shape, a.dtype), [])


def nll_loss(x: Interval, t: Interval | None, w: Interval | None = None, *,
             reduction: str = "mean", **_: Any) -> RangeResult:
    """``-x[i, t_i] * w[t_i]``: whatever the targets, each term lies in minus the hull of
    its row (times the hull of the weights); a (weighted) mean stays in that hull."""
    if not x.finite or (w is not None and not w.finite):
        return RangeResult(Interval.top(() if reduction != "none" else tuple(
            s for i, s in enumerate(x.shape) if i != (1 if x.ndim > 1 else 0)), x.dtype), [
            _hz("nan", "nll_loss of values that may be infinite: a sum of terms of both "
                       "signs, or 0 * inf with a zero weight (gives nan)", x.lo, x.hi)])
    cls = 1 if x.ndim > 1 else 0
    lo = -x.hi.max(axis=cls, keepdims=True)
    hi = -x.lo.min(axis=cls, keepdims=True)
    if w is not None:
        lo, hi = _mul_bounds(lo, hi, np.float64(w.min), np.float64(w.max))
    lo, hi = lo.squeeze(cls), hi.squeeze(cls)
    per = Interval(lo, hi, tuple(s for i, s in enumerate(x.shape) if i != cls), x.dtype)
    if reduction == "none":
        return _out(per.lo, per.hi, x.dtype, per.shape, ulps=1)
    if reduction == "sum":
        return sum_(per)
    lo_m, hi_m = np.float64(per.min), np.float64(per.max)
    if w is not None and w.min < 0:
        return RangeResult(Interval.top((), x.dtype), [])
    n = _count(per, tuple(range(per.ndim))) or 1 << 20
    mag = max(abs(float(lo_m)), abs(float(hi_m)))
    return _out(lo_m, hi_m, x.dtype, (), ulps=2,
                abs_err=mag * 4 * n * unit_roundoff(x.dtype))


# -- linear layers ------------------------------------------------------------------------------
def _center_radius(x: Interval) -> tuple[Array, Array]:
    if x.point:
        return np.clip(x.lo, -SENTINEL, SENTINEL), np.zeros_like(x.lo)
    with np.errstate(invalid="ignore", over="ignore"):
        lo, hi = np.clip(x.lo, -SENTINEL, SENTINEL), np.clip(x.hi, -SENTINEL, SENTINEL)
        c = 0.5 * lo + 0.5 * hi
        r = np.nextafter(np.maximum(hi - c, c - lo), np.inf)
    return c, r


def _subnormal(dtype: DType | None) -> float:
    """Half the smallest subnormal of the dtype: the absolute error of a product that
    underflows (the relative error model does not cover it)."""
    if dtype is float16:
        return 2.0 ** -25
    if dtype is float64:
        return 2.0 ** -1075
    return 2.0 ** -150


def _affine(prod: Callable[[Array, Array], Array], a: Interval, b: Interval, n: int,
            dtype: DType | None, shape: Sequence[int | None], alo: Array, ahi: Array,
            blo: Array, bhi: Array, op: str = "matmul") -> RangeResult:
    """``prod`` bilinear (matmul, conv, einsum) over bounds given as arrays, center/radius
    form: ``prod(ca, cb) +- (|ca| rb + ra |cb| + ra rb)``, plus float rounding of n-term sums
    (and products that underflow). Where a term may be infinite, ``0 * inf``, or partial sums
    may overflow (:func:`~neurarust.types.interval_accum.bilinear_masks`), the bound is
    infinite on that side and the hazard reported."""
    ca, ra = _center_radius(Interval(alo, ahi, a.shape, a.dtype, a.point))
    cb, rb = _center_radius(Interval(blo, bhi, b.shape, b.dtype, b.point))
    with np.errstate(invalid="ignore", over="ignore"):
        c = prod(ca, cb)
        r = np.zeros_like(c)
        if not a.point:
            r = r + prod(ra, np.abs(cb))
        if not b.point:
            r = r + prod(np.abs(ca), rb)
        if not (a.point or b.point):
            r = r + prod(ra, rb)
        mag = prod(np.maximum(np.abs(alo), np.abs(ahi)), np.maximum(np.abs(blo), np.abs(bhi)))
    m = bilinear_masks(prod, alo, ahi, blo, bhi, n, dtype, mag)
    u = unit_roundoff(dtype) + 2.0 ** -52
    gamma_ = (n + 2) * u / (1 - (n + 2) * u)
    # c and r were themselves computed in float64: a relative 2**-50 on mag covers them
    with np.errstate(invalid="ignore", over="ignore"):
        err = r + mag * (gamma_ + 2.0 ** -50) + n * _subnormal(dtype)
        lo, hi = c - err, c + err
    lo = np.where(m.neg | np.isnan(lo), -np.inf, lo)
    hi = np.where(m.pos | np.isnan(hi), np.inf, hi)
    hull_lo = min(float(np.min(alo, initial=0.0)), float(np.min(blo, initial=0.0)))
    hull_hi = max(float(np.max(ahi, initial=0.0)), float(np.max(bhi, initial=0.0)))
    return _out(lo, hi, dtype, shape, hazards=accum_hazards(
        op, f"a dot product of {n} terms", m, dtype, hull_lo, hull_hi))


def matmul(a: Interval, b: Interval, **_: Any) -> RangeResult | None:
    """Interval matrix product, sound and tight for a constant weight (``W c +- |W| r``)."""
    if a.ndim < 2 or b.ndim < 2:
        return None
    k = a.shape[-1]
    if k is None:
        return None
    alo, ahi = a.expanded([a.ndim - 1])
    blo, bhi = b.expanded([b.ndim - 2])
    batch = _bshape(Interval(alo[..., 0, 0], alo[..., 0, 0], a.shape[:-2]),
                    Interval(blo[..., 0, 0], blo[..., 0, 0], b.shape[:-2]))
    shape = (*batch, a.shape[-2], b.shape[-1])
    return _affine(np.matmul, a, b, k, _dt(a, b), shape, alo, ahi, blo, bhi)


def conv(x: Interval, w: Interval, b: Interval | None = None, *, kernel: Callable[..., Any],
         **attrs: Any) -> RangeResult | None:
    """Convolution (and transposed convolution) through the op's own kernel on float64
    center/radius arrays: the map is linear in ``x`` for a constant weight ``w``."""
    if any(s is None for s in x.shape[1:]) or not w.point:
        return None
    xlo, xhi = x.expanded(range(1, x.ndim))
    # terms per output element: at most (input channels) * (kernel elements)
    n = int(x.shape[1] or 1) * math.prod(int(s or 1) for s in w.shape[2:])

    def prod(xa: Array, wa: Array) -> Array:
        return np.asarray(kernel(np.ascontiguousarray(xa), np.ascontiguousarray(wa), None,
                                 **attrs), dtype=np.float64)

    with np.errstate(invalid="ignore", over="ignore"):
        probe = prod(xlo[:1], w.lo)
    shape = (x.shape[0], *probe.shape[1:])
    r = _affine(prod, x, w, n, _dt(x, w), shape, xlo, xhi, w.lo, w.hi, op="conv")
    if b is None:
        return r
    nd = x.ndim - 2
    bias = Interval(b.lo.reshape(-1, *([1] * nd)), b.hi.reshape(-1, *([1] * nd)),
                    (b.shape[0], *([1] * nd)), b.dtype)
    rb = add(r.out, bias)
    return RangeResult(rb.out, r.hazards + rb.hazards)


def _pool(x: Interval, kernel: Callable[..., Any], average: bool, **attrs: Any,
          ) -> RangeResult | None:
    if any(s is None for s in x.shape[1:]):
        return None
    xlo, xhi = x.expanded(range(1, x.ndim))

    def k(v: Array) -> Array:
        with np.errstate(invalid="ignore", over="ignore"):
            return np.asarray(kernel(np.ascontiguousarray(v), **attrs), dtype=np.float64)

    if not average:
        lo, hi = k(xlo), k(xhi)
        return RangeResult(Interval(lo, hi, (x.shape[0], *lo.shape[1:]), x.dtype), [])
    # a positive linear map (window sums over a divisor): the rounding model of
    # interval_accum on each window, pushed through the kernel itself
    ks = attrs.get("kernel_size") or x.shape[2:]
    n = math.prod(int(s or 1) for s in ks)
    g = gamma(n + 1, x.dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        lo_p, lo_n = np.maximum(xlo, 0.0), np.maximum(-xlo, 0.0)
        hi_p, hi_n = np.maximum(xhi, 0.0), np.maximum(-xhi, 0.0)
        lo = k((1 - g) * lo_p - (1 + g) * lo_n)
        hi = k((1 + g) * hi_p - (1 - g) * hi_n)
        # window sums of the positive / negative parts (mean times at most n terms)
        spos = k(np.minimum(hi_p, SENTINEL)) * n
        sneg = k(np.minimum(lo_n, SENTINEL)) * n
        pinf = k((xhi == np.inf).astype(np.float64)) > 0
        ninf = k((xlo == -np.inf).astype(np.float64)) > 0
    m = accum_masks(spos, sneg, pinf, ninf, g, x.dtype)
    lo = np.where(m.neg | np.isnan(lo), -np.inf, lo)
    hi = np.where(m.pos | np.isnan(hi), np.inf, hi)
    return _out(lo, hi, x.dtype, (x.shape[0], *lo.shape[1:]), ulps=1,
                abs_err=n * _subnormal(x.dtype), hazards=accum_hazards(
        "avg_pool", f"a window sum of up to {n} terms", m, x.dtype, x.lo, x.hi))


def max_pool(x: Interval, *, kernel: Callable[..., Any], **attrs: Any) -> RangeResult | None:
    """Max pooling is monotone in every element: the bounds pool through the kernel."""
    return _pool(x, kernel, False, **attrs)


def avg_pool(x: Interval, *, kernel: Callable[..., Any], **attrs: Any) -> RangeResult | None:
    """Average pooling (and adaptive average pooling) is a positive linear map, so monotone
    too; plus a rounding term for the n-term sums."""
    return _pool(x, kernel, True, **attrs)


def identity(a: Interval, **_: Any) -> RangeResult:
    """A copy: the same bounds."""
    return RangeResult(a, [])


# The rules of the other op families live in their own modules; re-exported here, where each
# op's ``range_rule`` names its function.
from .interval_indexing import *
from .interval_math import *
