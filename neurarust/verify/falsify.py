"""Falsification before proof: search an input box for points that reach an unsafe region.

The search runs on the affine/ReLU form of a network in float64 (random starts, then
projected gradient descent on the worst row's margin ``max_r (C_r y - d_r)``, which is
``<= 0`` exactly in the unsafe region). It proves nothing by itself: it only proposes
candidates, ranked by margin, that the caller runs through the real network before
reporting a violation. Most violated ACAS Xu properties fall to it in milliseconds, which
leaves branch and bound to the properties that hold.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .linear_bounds import AffineReLUNet

__all__ = ["descend", "margins", "search"]

Array = npt.NDArray[np.float64]


def margins(net: AffineReLUNet, x: Array, c: Array, d: Array) -> Array:
    """``max_r (C_r y(x) - d_r)`` per row of ``x`` (N, n_in), in float64 (<= 0: unsafe)."""
    return np.asarray((net.forward(x) @ c.T - d).max(axis=1), dtype=np.float64)


def _margin_and_grad(net: AffineReLUNet, x: Array, c: Array, d: Array,
                     ) -> tuple[Array, Array]:
    a, masks = net.forward_with_masks(x)
    v = a @ c.T - d                                   # (N, m)
    worst = np.argmax(v, axis=1)
    # descend on the sum of the rows still unmet (all rows at once, rather than zig-zagging
    # between the worst ones); the worst row where all are met
    unmet = np.asarray(v > 0, dtype=np.float64)
    g = np.where(unmet.max(axis=1)[:, None] > 0, unmet @ c, c[worst])
    return v[np.arange(len(x)), worst], net.pull_back(g, masks)


def search(net: AffineReLUNet, lo: Array, hi: Array, c: Array, d: Array, *,
           starts: int = 256, steps: int = 40, seed: int = 0, keep: int = 32) -> Array:
    """Up to ``keep`` candidate inputs in the box ``[lo, hi]``, best (lowest margin) first,
    from ``starts`` random points (plus the centre) improved by ``steps`` signed-gradient
    steps of shrinking size; only points whose float64 margin is <= a small tolerance are
    returned (the float32 run decides)."""
    rng = np.random.default_rng(seed)
    x = lo + rng.random((starts, lo.size)) * (hi - lo)
    x[0] = (lo + hi) / 2
    return descend(net, x, np.broadcast_to(lo, x.shape), np.broadcast_to(hi, x.shape), c, d,
                   steps=steps, keep=keep)


def descend(net: AffineReLUNet, x: Array, lo: Array, hi: Array, c: Array, d: Array, *,
            steps: int = 40, keep: int = 32) -> Array:
    """Signed-gradient descent of the margin from the points ``x`` (N, n_in), each kept in
    its own box ``[lo[i], hi[i]]``; the best points seen, as :func:`search` returns them."""
    width = hi - lo
    best_x = x.copy()
    best_v = np.full(len(x), np.inf)
    step = width / 4
    for _ in range(steps):
        v, g = _margin_and_grad(net, x, c, d)
        better = v < best_v
        best_v[better], best_x[better] = v[better], x[better]
        x = np.clip(x - step * np.sign(g), lo, hi)
        step = step * 0.85
    v = margins(net, x, c, d)
    better = v < best_v
    best_v[better], best_x[better] = v[better], x[better]
    tol = 1e-6 * (1.0 + np.abs(d).max(initial=0.0))
    order = np.argsort(best_v)
    order = order[best_v[order] <= tol][:keep]
    return np.asarray(best_x[order], dtype=np.float64)
