"""IEEE-complete accumulation: the one place that bounds a float sum of interval terms and a
dot product of interval factors, infinities, NaN and overflow included.

Every rule that adds many terms (``sum``, ``mean``, ``cumsum``, average pooling, ``var``,
``scatter_add``) or multiplies and adds (``matmul``, ``conv``, ``einsum``) asks these helpers
instead of writing its own, so that the IEEE cases are handled once:

- a sum whose terms may reach ``+inf`` and ``-inf`` (each from an infinite input, or from a
  partial sum that overflows) may be ``inf - inf`` = NaN;
- a product term ``0 * inf`` is NaN (a factor's interval contains 0 and the other may be
  infinite);
- a sum of finite terms whose partial sums may pass the dtype's largest finite value
  overflows (the result is ``+-inf``, or NaN when both signs overflow).

**The rounding model.** For ``n`` finite terms summed in any order (recursive or pairwise)
without overflow, ``|fl(S) - S| <= g * sum |x_i|`` with ``g = n u / (1 - n u)``. Splitting
each term into its positive and negative parts gives ``fl(S) <= (1 + g) sum x_i+ - (1 - g)
sum x_i-``, which increases with every ``x_i``: so ``sum (1 + g) hi_i+ - (1 - g) hi_i-`` bounds
the computed sum from above whatever the terms, the same for every partial sum, with no term
on the other side (``-inf`` lower bounds leave a finite upper bound finite). No partial sum
overflows when ``(1 + g) sum hi_i+`` and ``(1 + g) sum lo_i-`` stay below the largest finite
value, which is how overflow is decided here.

Pure numpy on float64 arrays (no :class:`Interval`), so that :mod:`neurarust.types.interval`
and its sibling modules can all import it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from .dtype import DType, float16, float64

__all__ = ["Accum", "accum_masks", "bilinear_masks", "max_finite", "sum_bounds"]

Array = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

SENTINEL = 1e300
"""An infinite magnitude, in sums of magnitudes where ``0 * inf`` must stay 0."""


def max_finite(dtype: DType | None) -> float:
    """The largest finite value of a float dtype (float32 when None)."""
    if dtype is float16:
        return 65504.0
    if dtype is float64:
        return float(np.finfo(np.float64).max)
    return float(np.finfo(np.float32).max)


def _u(dtype: DType | None) -> float:
    if dtype is float16:
        return 2.0 ** -11
    if dtype is float64:
        return 2.0 ** -53
    return 2.0 ** -24


def gamma(n: float, dtype: DType | None) -> float:
    """``n u / (1 - n u)`` for the dtype (plus float64's own rounding), inf when n u >= 1."""
    u = _u(dtype) + 2.0 ** -52
    return n * u / (1 - n * u) if n * u < 1 else float("inf")


class Accum(NamedTuple):
    """What may happen in one accumulation, per output element (boolean arrays)."""

    nan: BoolArray
    """inf - inf (or 0 * inf) may occur: the value may be NaN."""
    overflow: BoolArray
    """finite terms whose partial sums may overflow the dtype."""
    pos: BoolArray
    """the value may be +inf (an infinite term, or overflow)."""
    neg: BoolArray
    """the value may be -inf."""


def accum_masks(spos: Any, sneg: Any, pinf: Any, ninf: Any, g: float,
                dtype: DType | None) -> Accum:
    """From the sums of the terms' positive parts ``spos`` and negative parts ``sneg`` (upper
    bounds, SENTINEL-sized or inf where a term may be infinite) and whether a term may be
    ``+inf`` / ``-inf``: where the accumulation may give NaN, overflow, +inf or -inf."""
    big = max_finite(dtype)
    # past n u ~ 1 the relative model says nothing; each float addition of a nonnegative
    # term x to a partial sum s gives at most s + 3x, so partial sums stay below 4 * spos
    g = min(g, 3.0)
    with np.errstate(over="ignore", invalid="ignore"):
        po = np.asarray(spos * (1 + g) >= big) | np.asarray(pinf, dtype=bool)
        no = np.asarray(sneg * (1 + g) >= big) | np.asarray(ninf, dtype=bool)
    pinf_a, ninf_a = np.asarray(pinf, dtype=bool), np.asarray(ninf, dtype=bool)
    overflow = (po & ~pinf_a) | (no & ~ninf_a)
    return Accum(po & no, overflow, po, no)


def sum_bounds(lo_e: Array, hi_e: Array, axes: Sequence[int], n: float,
               dtype: DType | None) -> tuple[Array, Array, Accum]:
    """Bounds (keepdims along ``axes``) of the float sum of terms ``lo_e <= x <= hi_e`` along
    ``axes`` (n terms), by the rounding model of the module docstring: ``+inf`` where the sum
    may be +inf, ``-inf`` where it may be -inf, both where it may be NaN."""
    ax = tuple(axes)
    g = gamma(n, dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        lo_p, lo_n = np.maximum(lo_e, 0.0), np.maximum(-lo_e, 0.0)
        hi_p, hi_n = np.maximum(hi_e, 0.0), np.maximum(-hi_e, 0.0)
        lo = ((1 - g) * lo_p - (1 + g) * lo_n).sum(axis=ax, keepdims=True)
        hi = ((1 + g) * hi_p - (1 - g) * hi_n).sum(axis=ax, keepdims=True)
        spos = hi_p.sum(axis=ax, keepdims=True)
        sneg = lo_n.sum(axis=ax, keepdims=True)
    pinf = (hi_e == np.inf).any(axis=ax, keepdims=True)
    ninf = (lo_e == -np.inf).any(axis=ax, keepdims=True)
    m = accum_masks(spos, sneg, pinf, ninf, g, dtype)
    lo = np.where(m.neg, -np.inf, np.where(np.isnan(lo), -np.inf, lo))
    hi = np.where(m.pos, np.inf, np.where(np.isnan(hi), np.inf, hi))
    return np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64), m


def bilinear_masks(prod: Callable[[Array, Array], Array], alo: Array, ahi: Array, blo: Array,
                   bhi: Array, n: float, dtype: DType | None, mag: Array) -> Accum:
    """What may happen in ``prod(a, b)``, a bilinear map that sums products of one element of
    each (matmul, conv, einsum), given the elementwise bounds of ``a`` and ``b`` and
    ``mag = prod(|a|max, |b|max)``. Indicator arrays pushed through ``prod`` tell, per output
    element, whether some term may be +inf, -inf or ``0 * inf``; sums of positive and negative
    parts tell whether partial sums may overflow."""
    g = gamma(n + 2, dtype)
    big = max_finite(dtype)
    a_inf = np.isinf(alo) | np.isinf(ahi)
    b_inf = np.isinf(blo) | np.isinf(bhi)
    with np.errstate(over="ignore", invalid="ignore"):
        if not a_inf.any() and not b_inf.any() and not np.any(mag * (1 + g) >= big):
            none = np.zeros(np.shape(mag), dtype=bool)
            return Accum(none, none, none, none)

        def f(x: Any, y: Any) -> Array:
            return np.asarray(prod(np.asarray(x, dtype=np.float64),
                                   np.asarray(y, dtype=np.float64)), dtype=np.float64)

        pa, na = (ahi == np.inf), (alo == -np.inf)
        pb, nb = (bhi == np.inf), (blo == -np.inf)
        pos_a, neg_a, pos_b, neg_b = ahi > 0, alo < 0, bhi > 0, blo < 0
        za, zb = (alo <= 0) & (ahi >= 0), (blo <= 0) & (bhi >= 0)
        pinf = (f(pa, pos_b) + f(na, neg_b) + f(pos_a, pb) + f(neg_a, nb)) > 0
        ninf = (f(pa, neg_b) + f(na, pos_b) + f(pos_a, nb) + f(neg_a, pb)) > 0
        nan0 = (f(za, b_inf) + f(a_inf, zb)) > 0
        ap, an = np.minimum(np.maximum(ahi, 0.0), SENTINEL), np.minimum(np.maximum(-alo, 0.0),
                                                                        SENTINEL)
        bp, bn = np.minimum(np.maximum(bhi, 0.0), SENTINEL), np.minimum(np.maximum(-blo, 0.0),
                                                                        SENTINEL)
        spos = f(ap, bp) + f(an, bn)
        sneg = f(ap, bn) + f(an, bp)
    m = accum_masks(spos, sneg, pinf, ninf, g, dtype)
    return Accum(m.nan | nan0, m.overflow, m.pos | nan0, m.neg | nan0)
