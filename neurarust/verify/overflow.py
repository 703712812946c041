"""Where float32 may overflow: the linear bounds of :mod:`.linear_bounds` model float32
rounding as a bounded relative error, which holds only while every value stays finite. Past
the float32 range a value becomes inf, then NaN (inf - inf, 0 * inf): no bound holds, and a
box where that may happen gets none (-inf/inf), so 'holds' is never answered from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from .linear_bounds import AffineReLUNet

__all__ = ["masked", "may_overflow", "no_claim"]

Array = npt.NDArray[np.float64]
#: relative margin for the float64 evaluation of the magnitude sums below
_MARGIN = 2.0 ** -40

_F32_MAX = float(np.finfo(np.float32).max)
#: below this, a float32 result (and its rounding) stays finite
_F32_LIMIT = _F32_MAX * (1 - 2.0 ** -20)


def may_overflow(net: AffineReLUNet, lo: Array, hi: Array,
                 pre: list[tuple[Array, Array]]) -> npt.NDArray[np.bool_]:
    """Per box (B,): whether some float32 value of the network may overflow (or the box leave
    the finite float32 range), given hidden-layer bounds ``pre`` valid where no earlier layer
    overflows. There the rounding model does not hold (inf, then NaN from inf - inf or
    0 * inf), so no bound is claimed on such a box (-inf/inf)."""
    with np.errstate(over="ignore", invalid="ignore"):
        amag = np.maximum(np.abs(lo), np.abs(hi))
        bad = ~np.all(amag <= _F32_MAX, axis=1)
        for k in range(len(net.weights)):
            if k > 0:
                amag = np.maximum(pre[k - 1][1], 0.0)
                bad |= np.any(np.isnan(pre[k - 1][0]), axis=1)
            if net.mag_mat and net.mag_mat[k].shape[0]:  # every value the layer computes
                m, c = net.mag_mat[k], net.mag_const[k]
            else:  # the layer's result alone
                m = np.abs(net.weights[k]) + net.err_mat[k]
                c = np.abs(net.biases[k]) + net.err_const[k]
            v = amag @ m.T + c
            bad |= ~np.all(v * (1 + _MARGIN) < _F32_LIMIT, axis=1)
    return np.asarray(bad, dtype=np.bool_)


def no_claim(bad: npt.NDArray[np.bool_], low: Array, up: Array | None = None) -> None:
    """Boxes that may overflow get no bound (in place)."""
    if np.any(bad):
        low[bad] = -np.inf
        if up is not None:
            up[bad] = np.inf


def masked(pre: list[tuple[Array, Array]], bad: npt.NDArray[np.bool_],
            ) -> list[tuple[Array, Array]]:
    """Copies of the hidden-layer bounds with -inf/inf on the boxes that may overflow."""
    if not np.any(bad):
        return pre
    out = []
    for l, u in pre:
        l, u = l.copy(), u.copy()
        no_claim(bad, l, u)
        out.append((l, u))
    return out
