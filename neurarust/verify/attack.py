"""Attacks on the verifier's claims about ReLU networks: try to break a 'holds', replay a
'violated', and push float32 runs outside a linear bound.

Every claim of :mod:`.bab`, :mod:`.relu_split` and :mod:`.linear_bounds` is about the float32
network as it really runs. This module looks for a float32 input of the box that refutes a
claim, with dense sampling, the box corners, projected sign-gradient descent with restarts
(on the float64 affine/ReLU form, which only guides the search), and ulp-level jitter around
the best points (where float32 rounding decides); every candidate is then run for real, by
each runner given (onnxruntime, the eager model, numpy float32), and judged with exact
rational arithmetic against the property's own decimal constants, never a float64 rounding
of them.

It proves nothing: it is the adversary of the fuzzer (``bench/soundness_vnnlib.py``,
``tests/verify/test_verdict_soundness.py``), where a claim it breaks is a soundness bug.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from .linear_bounds import AffineReLUNet

__all__ = [
    "ExactCase",
    "Runner",
    "attack_case",
    "exact_unsafe",
    "f32_box",
    "float32_runner",
    "inside_f32",
    "minimise_rows",
    "search_points",
]

Array = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
#: flat float32 inputs (N, n_in) -> outputs (N, n_out), as the real computation gives them
Runner = Callable[[F32], npt.NDArray[Any]]


@dataclass(frozen=True)
class ExactCase:
    """One disjunct of an unsafe region with its exact (rational) constants: unsafe when
    ``lo <= x <= hi`` and, for every row, ``sum_j coef[j] y_j <= d`` (``<`` if ``strict``)."""

    lo: tuple[Fraction, ...]
    hi: tuple[Fraction, ...]
    rows: tuple[tuple[tuple[Fraction, ...], Fraction, bool], ...]

    @property
    def c(self) -> Array:
        """The rows' coefficients, rounded to float64 (a guide for the search only)."""
        return np.array([[float(k) for k in r[0]] for r in self.rows],
                        dtype=np.float64).reshape(len(self.rows), -1)

    @property
    def d(self) -> Array:
        return np.array([float(r[1]) for r in self.rows], dtype=np.float64)

    def box(self) -> tuple[Array, Array]:
        return (np.array([float(v) for v in self.lo]), np.array([float(v) for v in self.hi]))


def _frac(v: float) -> Fraction:
    return Fraction(float(v))


def exact_unsafe(case: ExactCase, x: npt.NDArray[Any], y: npt.NDArray[Any]) -> bool:
    """Whether the float32 input ``x`` and the computed output ``y`` (flat; their values taken
    exactly) lie in the case's unsafe region: exact rational comparisons, so that neither the
    float64 rounding of the constants nor of ``C y`` can decide a near tie. A row over a NaN
    output is never met (every comparison with NaN is false)."""
    xs = np.asarray(x, dtype=np.float64).reshape(-1)
    ys = np.asarray(y, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(xs)):
        return False
    xf = [_frac(v) for v in xs]
    if not all(lo <= v <= hi for lo, v, hi in zip(case.lo, xf, case.hi)):
        return False
    for coef, d, strict in case.rows:
        if any(k != 0 and np.isnan(yj) for k, yj in zip(coef, ys)):
            return False  # a NaN in an output the row uses (other outputs do not matter)
        if any(k != 0 and not np.isfinite(yj) for k, yj in zip(coef, ys)):
            # an infinite output: the sign of the sum decides (inf - inf: NaN, not unsafe)
            with np.errstate(invalid="ignore"):
                v = float(sum(float(k) * yj for k, yj in zip(coef, ys) if k != 0))
            ok = v < float(d) if strict else v <= float(d)
            if not ok or np.isnan(v):
                return False
            continue
        s = sum((k * _frac(yj) for k, yj in zip(coef, ys) if k != 0), Fraction(0))
        if not (s < d if strict else s <= d):
            return False
    return True


def f32_box(lo: Sequence[Fraction], hi: Sequence[Fraction]) -> tuple[F32, F32] | None:
    """The float32 points of the box: per input the smallest float32 ``>= lo`` and the
    largest ``<= hi`` (exactly), or None where some input has no float32 value in range."""
    lo32 = np.empty(len(lo), np.float32)
    hi32 = np.empty(len(hi), np.float32)
    for i, (a, b) in enumerate(zip(lo, hi)):
        la = np.float32(float(a))
        while _frac(float(la)) < a:
            la = np.nextafter(la, np.float32(np.inf))
        while _frac(float(la)) > a and _frac(float(np.nextafter(la, np.float32(-np.inf)))) >= a:
            la = np.nextafter(la, np.float32(-np.inf))
        hb = np.float32(float(b))
        while _frac(float(hb)) > b:
            hb = np.nextafter(hb, np.float32(-np.inf))
        while _frac(float(hb)) < b and _frac(float(np.nextafter(hb, np.float32(np.inf)))) <= b:
            hb = np.nextafter(hb, np.float32(np.inf))
        if not (np.isfinite(la) and np.isfinite(hb)) or la > hb:
            return None
        lo32[i], hi32[i] = la, hb
    return lo32, hi32


def inside_f32(x: Array, lo32: F32, hi32: F32) -> F32:
    """Points as float32, clipped into the float32 box (``lo32``/``hi32`` from
    :func:`f32_box`), so that every one lies in the real box."""
    x32 = np.asarray(np.clip(np.nan_to_num(x), lo32.astype(np.float64), hi32.astype(np.float64)),
                     dtype=np.float32)
    return np.asarray(np.clip(x32, lo32, hi32), dtype=np.float32)


def float32_runner(net: AffineReLUNet) -> Runner:
    """The affine/ReLU form run in numpy float32 (a third, BLAS-ordered float32 computation;
    faithful only where the network's weights are float32 values, e.g. Linear/ReLU chains)."""
    ws = [w.astype(np.float32) for w in net.weights]
    bs = [b.astype(np.float32) for b in net.biases]

    def run(x: F32) -> npt.NDArray[Any]:
        a = np.asarray(x, np.float32)
        with np.errstate(over="ignore", invalid="ignore"):
            for k, (w, b) in enumerate(zip(ws, bs)):
                a = a @ w.T + b
                if k < len(ws) - 1:
                    a = np.maximum(a, np.float32(0))
        return np.asarray(a, dtype=np.float64)

    return run


def _grad_rows(net: AffineReLUNet, x: Array, c: Array) -> tuple[Array, Array]:
    """``C y(x)`` (N, m) on the float64 form and the gradient of each row's value (N, m, n)
    (through the ReLU masks of each point)."""
    a, masks = net.forward_with_masks(x)
    g = np.broadcast_to(c, (len(x), *c.shape)).copy()  # (N, m, n_out)
    return a @ c.T, net.pull_back(g, masks)


def search_points(net: AffineReLUNet, lo: Array, hi: Array, c: Array, d: Array | None,
                  rng: np.random.Generator, *, samples: int = 64, starts: int = 16,
                  steps: int = 30) -> tuple[Array, Array]:
    """Candidate inputs of the box ``[lo, hi]`` (float64, (N, n_in)): uniform samples, box
    corners (all of them up to 2**8, else random ones), and the end points of projected
    sign-gradient descent from random starts: with ``d`` on the margin ``max_r (C_r y - d_r)``
    (towards the region ``C y <= d``), without it on each row of ``C`` separately (towards
    its minimum); and separately the descent's end points (the best candidates)."""
    n = lo.size
    width = hi - lo
    pts = [lo + rng.random((samples, n)) * width, ((lo + hi) / 2)[None]]
    if n <= 8:
        bits = (np.arange(2 ** n)[:, None] >> np.arange(n)) & 1
    else:
        bits = rng.integers(0, 2, size=(256, n))
    pts.append(np.where(bits > 0, hi, lo))
    x0 = lo + rng.random((starts, n)) * width
    targets: list[tuple[Array, Array | None]] = (
        [(c[r:r + 1], None) for r in range(c.shape[0])] if d is None else [(c, d)])
    ends = []
    for cm, dm in targets:
        x = x0.copy()
        step = width / 3
        for _ in range(steps):
            v, g = _grad_rows(net, x, cm)
            if dm is None:
                gv = g[:, 0]
            else:
                marg = v - dm
                unmet = np.asarray(marg > 0, dtype=np.bool_)
                worst = np.argmax(marg, axis=1)
                gv = np.where(np.any(unmet, axis=1)[:, None],
                              np.einsum("nm,nmk->nk", unmet.astype(np.float64), g),
                              g[np.arange(len(x)), worst])
            x = np.clip(x - step * np.sign(gv), lo, hi)
            pts.append(x.copy())
            step = step * 0.8
        ends.append(x)
    return (np.asarray(np.concatenate(pts), dtype=np.float64),
            np.asarray(np.concatenate(ends), dtype=np.float64))


def _jitter(x32: F32, lo32: F32, hi32: F32, rng: np.random.Generator, copies: int) -> F32:
    """Each point moved by a few ulps per input (random sign), kept in the float32 box:
    where float32 rounding decides a near tie, the neighbours of the best point matter."""
    out = [x32]
    for _ in range(copies):
        k = rng.integers(-3, 4, size=x32.shape)
        y = x32.copy()
        for _s in range(3):
            y = np.where(k > 0, np.nextafter(y, np.float32(np.inf)),
                         np.where(k < 0, np.nextafter(y, np.float32(-np.inf)), y))
            k = k - np.sign(k)
        out.append(np.asarray(np.clip(y, lo32, hi32), np.float32))
    return np.asarray(np.concatenate(out), np.float32)


def attack_case(net: AffineReLUNet, runners: Sequence[Runner], case: ExactCase,
                rng: np.random.Generator, *, samples: int = 64, starts: int = 16,
                steps: int = 30) -> tuple[F32, Array] | None:
    """A float32 input of the case's box that some runner shows unsafe (with that runner's
    output), or None: the attack on a 'holds'."""
    box = f32_box(case.lo, case.hi)
    if box is None or not case.rows:
        if box is not None:  # no output condition: any point of the box is unsafe
            x = box[0][None]
            return x, np.asarray(runners[0](x), np.float64)[0]
        return None
    lo32, hi32 = box
    lo, hi = lo32.astype(np.float64), hi32.astype(np.float64)
    c, d = case.c, case.d
    pts, _ = search_points(net, lo, hi, c, d, rng, samples=samples, starts=starts,
                           steps=steps)
    x32 = inside_f32(pts, lo32, hi32)
    # the points closest to the region get ulp-level neighbours
    with np.errstate(over="ignore", invalid="ignore"):
        marg = np.max(net.forward(x32.astype(np.float64)) @ c.T - d, axis=1)
    best = x32[np.argsort(np.nan_to_num(marg, nan=np.inf))[:16]]
    x32 = np.concatenate([x32, _jitter(best, lo32, hi32, rng, 8)])
    for run in runners:
        ys = np.asarray(run(x32), dtype=np.float64).reshape(len(x32), -1)
        with np.errstate(over="ignore", invalid="ignore"):
            v = ys @ c.T - d
        tol = 1e-6 * (1.0 + np.abs(ys) @ np.abs(c).T + np.abs(d))
        maybe = np.flatnonzero(np.all((v <= tol) | np.isnan(v), axis=1))
        for i in maybe[:256]:
            if exact_unsafe(case, x32[i], ys[i]):
                return x32[i], ys[i]
    return None


def minimise_rows(net: AffineReLUNet, runners: Sequence[Runner], lo32: F32, hi32: F32,
                  c: Array, rng: np.random.Generator, *, samples: int = 64, starts: int = 8,
                  steps: int = 25) -> tuple[F32, list[Array]]:
    """Float32 points of the box aimed at the minimum and the maximum of each row of ``C``
    (sampling, corners, descent, ulp jitter) and each runner's outputs on them: what a linear
    bound on ``C y`` must contain."""
    lo, hi = lo32.astype(np.float64), hi32.astype(np.float64)
    pts, ends = search_points(net, lo, hi, np.concatenate([c, -c]), None, rng,
                              samples=samples, starts=starts, steps=steps)
    x32 = inside_f32(pts, lo32, hi32)
    x32 = np.concatenate([x32, _jitter(inside_f32(ends, lo32, hi32), lo32, hi32, rng, 2)])
    return x32, [np.asarray(r(x32), dtype=np.float64).reshape(len(x32), -1) for r in runners]
