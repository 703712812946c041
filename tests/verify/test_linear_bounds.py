"""CROWN-style linear bounds: sound for the float32 network (sampled runs stay inside), and
tighter than interval bounds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import neurarust as nr
from neurarust import nn
from neurarust.verify.linear_bounds import UnsupportedGraph, crown_bounds, extract, ibp_bounds


def _net(seed: int, sizes: list[int]) -> nn.Sequential:
    nr.manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _run(m: nn.Module, xs: np.ndarray) -> np.ndarray:
    return np.asarray(m(nr.tensor(xs.astype(np.float32))).detach().numpy(), dtype=np.float64)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), width=st.sampled_from([0.0, 1e-3, 0.1, 1.0, 5.0]),
       depth=st.integers(1, 3))
def test_sampled_points_stay_inside_the_linear_bounds(seed: int, width: float,
                                                       depth: int) -> None:
    rng = np.random.default_rng(seed)
    m = _net(seed, [4] + [8] * depth + [3])
    net = extract(nr.trace(m, {"x": "f32[1, 4]"}))
    c = rng.normal(size=4)
    lo, hi = c - width, c + width
    lb, ub = crown_bounds(net, lo, hi)
    xs = rng.uniform(lo, hi, size=(200, 4)).astype(np.float32)
    xs = np.clip(xs, lo, hi).astype(np.float32)
    xs = xs[np.all((xs >= lo) & (xs <= hi), axis=1)]
    ys = _run(m, xs)
    assert np.all(ys >= lb) and np.all(ys <= ub)
    # a spec C y is bounded too
    cm = rng.normal(size=(2, 3))
    l2, u2 = crown_bounds(net, lo, hi, cm)
    v = ys @ cm.T
    assert np.all(v >= l2) and np.all(v <= u2)


def test_point_box_bounds_are_tight_but_cover_float32_rounding() -> None:
    m = _net(1, [4, 16, 16, 2])
    net = extract(nr.trace(m, {"x": "f32[1, 4]"}))
    x = np.array([0.3, -0.2, 0.7, 0.1], dtype=np.float32).astype(np.float64)
    lb, ub = crown_bounds(net, x, x)
    y = _run(m, x[None])
    assert np.all(lb <= y) and np.all(y <= ub)
    assert np.all(ub - lb < 1e-5)


def test_linear_bounds_are_tighter_than_interval_bounds_on_a_3_layer_relu_net() -> None:
    m = _net(7, [5, 32, 32, 32, 4])
    net = extract(nr.trace(m, {"x": "f32[1, 5]"}))
    lo, hi = -np.full(5, 0.5), np.full(5, 0.5)
    lb, ub = crown_bounds(net, lo, hi)
    li, ui = ibp_bounds(net, lo, hi)
    assert np.all(lb >= li - 1e-9) and np.all(ub <= ui + 1e-9)
    assert np.mean(ub - lb) < 0.7 * np.mean(ui - li)


def test_graphs_outside_the_affine_relu_fragment_are_rejected_with_the_op() -> None:
    g = nr.trace(lambda x: (x * x).relu(), {"x": "f32[1, 3]"})
    with pytest.raises(UnsupportedGraph, match="mul"):
        extract(g)


def test_alpha_gradient_matches_finite_differences() -> None:
    from neurarust.verify import linear_bounds as lbm

    m = _net(3, [4, 8, 8, 3])
    net = extract(nr.trace(m, {"x": "f32[1, 4]"}))
    rng = np.random.default_rng(0)
    lo = rng.normal(size=(3, 4))
    hi = lo + 1.0
    pre, eps = lbm._intermediate(net, lo, hi)
    c = rng.normal(size=(2, 3))
    alpha = [rng.uniform(size=(3, 2, 8)) for _ in range(2)]
    grad: list[np.ndarray] = []
    f0 = lbm._backward(net, c, 2, lo, hi, pre, eps, alpha, grad)
    h = 1e-6
    for k in range(2):
        num = np.zeros_like(alpha[k])
        for idx in np.ndindex(alpha[k].shape):
            a2 = [x.copy() for x in alpha]
            a2[k][idx] += h
            num[idx] = (lbm._backward(net, c, 2, lo, hi, pre, eps, a2) - f0)[idx[0], idx[1]] / h
        assert np.allclose(num, grad[k], atol=1e-7)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), width=st.sampled_from([0.1, 1.0, 3.0]))
def test_optimised_slopes_are_sound_and_no_looser(seed: int, width: float) -> None:
    from neurarust.verify.linear_bounds import lower_bound_with_corner

    rng = np.random.default_rng(seed)
    m = _net(seed, [4, 16, 16, 3])
    net = extract(nr.trace(m, {"x": "f32[1, 4]"}))
    lo = rng.normal(size=(2, 4))
    hi = lo + width
    c = rng.normal(size=(2, 3))
    lb0, _, _ = lower_bound_with_corner(net, lo, hi, c)
    lb1, _, _ = lower_bound_with_corner(net, lo, hi, c, alpha_steps=8)
    assert np.all(lb1 >= lb0)
    for b in range(2):
        xs = rng.uniform(lo[b], hi[b], size=(300, 4)).astype(np.float32)
        xs = xs[np.all((xs >= lo[b]) & (xs <= hi[b]), axis=1)]
        assert np.all(_run(m, xs) @ c.T >= lb1[b])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), width=st.sampled_from([0.0, 1e-3, 0.1, 1.0, 4.0]),
       mode=st.sampled_from(["forward", "hybrid"]), depth=st.integers(1, 4))
def test_forward_and_hybrid_bounds_hold_for_sampled_float32_runs(seed: int, width: float,
                                                                 mode: str,
                                                                 depth: int) -> None:
    from neurarust.verify.linear_bounds import lower_bound_with_corner

    rng = np.random.default_rng(seed)
    m = _net(seed, [5] + [12] * depth + [3])
    net = extract(nr.trace(m, {"x": "f32[1, 5]"}))
    lo = rng.normal(size=(3, 5))
    hi = lo + width * rng.uniform(0.2, 1.0, size=(3, 5))
    c = rng.normal(size=(2, 3))
    lb, coef, corner = lower_bound_with_corner(net, lo, hi, c, intermediate=mode)
    assert coef.shape == (3, 2, 5) and corner.shape == (3, 2, 5)
    for b in range(3):
        xs = rng.uniform(lo[b], hi[b], size=(300, 5)).astype(np.float32)
        xs = np.concatenate([xs, corner[b].astype(np.float32)])
        xs = xs[np.all((xs >= lo[b]) & (xs <= hi[b]), axis=1)]
        assert np.all(_run(m, xs) @ c.T >= lb[b])


def test_hybrid_bounds_are_at_least_as_tight_as_forward_ones() -> None:
    from neurarust.verify.linear_bounds import forward_intermediate

    m = _net(11, [5, 24, 24, 24, 24, 3])
    net = extract(nr.trace(m, {"x": "f32[1, 5]"}))
    rng = np.random.default_rng(1)
    lo = rng.normal(size=(4, 5))
    hi = lo + 0.3
    pre_f, _ = forward_intermediate(net, lo, hi)
    pre_h, _ = forward_intermediate(net, lo, hi, refine=True)
    for (lf, uf), (lh, uh) in zip(pre_f, pre_h):
        assert np.all(lh >= lf - 1e-9) and np.all(uh <= uf + 1e-9)
    assert sum(float(np.sum(u - lo_)) for lo_, u in pre_h) < \
        sum(float(np.sum(u - lo_)) for lo_, u in pre_f)


@settings(max_examples=300, deadline=None)
@given(u=st.floats(1e-3, 1e4), ratio=st.floats(-12.0, 1.0))
def test_relu_chord_lies_above_relu_in_exact_arithmetic(u: float, ratio: float) -> None:
    # l = -u * 10**ratio: from tiny (slope ~ 1, u - slope*u cancels) to larger than u. The
    # float slope and intercept, read as exact rationals, must give a line on or above relu
    # at both end points (so on the whole of [l, u]: relu is convex).
    from fractions import Fraction

    from neurarust.verify.linear_bounds import _relax

    l = -u * 10.0 ** ratio
    low, slope, inter = _relax(np.array([l]), np.array([u]))
    s, i = Fraction(float(slope[0])), Fraction(float(inter[0]))
    assert s * Fraction(l) + i >= 0
    assert s * Fraction(u) + i >= Fraction(u)
    assert float(low[0]) in (0.0, 1.0)
