"""Property tests of the range rules under IEEE arithmetic: for random intervals (finite,
huge, tiny, subnormal, infinite endpoints) every float32 value the eager kernel computes from
inputs inside lies inside the rule's bounds, and is never NaN unless the rule reported a
hazard."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import neurarust as nr
from neurarust.types import interval as iv
from neurarust.types.dtype import float32

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

TOP = float(np.finfo(np.float32).max)
ends = st.one_of(
    st.floats(-8.0, 8.0, width=32),
    st.floats(width=32, allow_nan=False, allow_infinity=False, allow_subnormal=True),
    st.sampled_from([np.inf, -np.inf, TOP, -TOP, 0.0, 1e-45, -1e-45, 1e38, -1e38]),
)


@st.composite
def intervals(draw: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    # endpoints on the float32 grid: the inputs are float32 values
    a = np.array([draw(ends) for _ in range(n)], dtype=np.float32).astype(np.float64)
    b = np.array([draw(ends) for _ in range(n)], dtype=np.float32).astype(np.float64)
    return np.minimum(a, b), np.maximum(a, b)


def _points(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray, k: int = 24,
            ) -> list[np.ndarray]:
    flo = np.where(np.isfinite(lo), lo, np.sign(lo) * TOP)
    fhi = np.where(np.isfinite(hi), hi, np.sign(hi) * TOP)
    out = [lo, hi]
    with np.errstate(all="ignore"):
        for _ in range(k):
            u = rng.random(lo.shape)
            pick = rng.integers(3, size=lo.shape)
            out.append(np.where(pick == 0, lo, np.where(pick == 1, hi, flo * (1 - u) + fhi * u)))
    return [np.clip(np.nan_to_num(p), lo, hi).astype(np.float32) for p in out]


def _check(r: iv.RangeResult, ys: list[np.ndarray]) -> None:
    nan_ok = any(h.kind in ("nan", "div-by-zero") for h in r.hazards)
    for y in ys:
        y = np.asarray(y, dtype=np.float64)
        lo, hi = np.broadcast_to(r.out.lo, y.shape), np.broadcast_to(r.out.hi, y.shape)
        nan = np.isnan(y)
        assert nan_ok or not nan.any(), (r, y)
        assert np.all(nan | ((y >= lo) & (y <= hi))), (r.out, y)


def _run(f: Callable[..., Any], *xs: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return np.asarray(f(*(nr.tensor(x) for x in xs)).numpy())


SETTINGS = settings(max_examples=int(os.environ.get("NEURARUST_PROP_EXAMPLES", "60")),
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(intervals(4), intervals(4), st.sampled_from(["add", "sub", "mul", "div", "maximum"]),
       st.integers(0, 2**32 - 1))
def test_binary_rules_contain_float32_results(a: Any, b: Any, op: str, seed: int) -> None:
    rule = {"add": iv.add, "sub": iv.sub, "mul": iv.mul, "div": iv.div,
            "maximum": iv.maximum}[op]
    r = rule(iv.Interval.of(*a, (4,)), iv.Interval.of(*b, (4,)))
    rng = np.random.default_rng(seed)
    ys = [_run(getattr(nr, op), x, y) for x, y in zip(_points(rng, *a), _points(rng, *b))]
    _check(r, ys)


@SETTINGS
@given(intervals(6), st.sampled_from(["sum", "mean", "cumsum", "prod", "logsumexp", "var"]),
       st.integers(0, 2**32 - 1))
def test_reductions_contain_float32_results(a: Any, op: str, seed: int) -> None:
    x = iv.Interval.of(a[0].reshape(2, 3), a[1].reshape(2, 3), (2, 3))
    rules: dict[str, Callable[[iv.Interval], iv.RangeResult]] = {
        "sum": lambda t: iv.sum_(t, 1), "mean": lambda t: iv.mean(t, 1),
        "cumsum": lambda t: iv.cumsum(t, 1), "prod": lambda t: iv.prod(t, 1),
        "logsumexp": lambda t: iv.logsumexp(t, 1), "var": lambda t: iv.var(t, 1)}
    calls: dict[str, Callable[[Any], Any]] = {
        "sum": lambda t: t.sum(1), "mean": lambda t: t.mean(1), "cumsum": lambda t: t.cumsum(1),
        "prod": lambda t: t.prod(1), "logsumexp": lambda t: t.logsumexp(1),
        "var": lambda t: t.var(1)}
    r = rules[op](x)
    rng = np.random.default_rng(seed)
    _check(r, [_run(calls[op], p.reshape(2, 3)) for p in _points(rng, *a)])


@SETTINGS
@given(intervals(6), st.integers(0, 2**32 - 1))
def test_matmul_by_a_constant_contains_float32_results(a: Any, seed: int) -> None:
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((3, 2)) * 10.0 ** rng.integers(-3, 4)).astype(np.float32)
    w[rng.random((3, 2)) < 0.2] = 0.0
    x = iv.Interval(a[0].reshape(2, 3), a[1].reshape(2, 3), (2, 3), float32)
    r = iv.matmul(x, iv.Interval.exact(w.astype(np.float64), float32))
    assert r is not None
    _check(r, [_run(lambda t: t @ nr.tensor(w), p.reshape(2, 3)) for p in _points(rng, *a)])


@SETTINGS
@given(intervals(4), st.sampled_from(["exp", "log", "sqrt", "tanh", "sigmoid", "rsqrt", "abs",
                                      "reciprocal", "sin"]), st.integers(0, 2**32 - 1))
def test_unary_rules_contain_float32_results(a: Any, op: str, seed: int) -> None:
    rule = getattr(iv, {"abs": "abs_"}.get(op, op))
    r = rule(iv.Interval.of(*a, (4,)))
    rng = np.random.default_rng(seed)
    nan_kinds = {"log-domain", "sqrt-domain", "rsqrt-domain", "nan", "div-by-zero"}
    ok_nan = any(h.kind in nan_kinds for h in r.hazards)
    for p in _points(rng, *a):
        y = _run(getattr(nr, op), p).astype(np.float64)
        nan = np.isnan(y)
        assert ok_nan or not nan.any(), (r, p, y)
        assert np.all(nan | ((y >= r.out.lo) & (y <= r.out.hi))), (r.out, p, y)


def _graph_ops() -> dict[str, tuple[str, Callable[[Any], Any]]]:
    import neurarust.nn.functional as F

    rng = np.random.default_rng(7)
    w = rng.standard_normal((2, 1, 2, 2)).astype(np.float32)
    w[0, 0, 0, 0] = 0.0
    wt = nr.tensor(w)
    b = nr.tensor(rng.standard_normal(2).astype(np.float32))
    e = nr.tensor(rng.standard_normal((4, 3)).astype(np.float32))
    return {
        "conv2d": ("f32[1, 1, 2, 3]", lambda x: F.conv2d(x, wt, b, padding=1)),
        "conv_transpose2d": ("f32[1, 1, 2, 3]", lambda x: F.conv_transpose2d(
            x, wt.permute(1, 0, 2, 3))),
        "avg_pool2d": ("f32[1, 1, 2, 3]", lambda x: F.avg_pool2d(x, 2, stride=1)),
        "max_pool2d": ("f32[1, 1, 2, 3]", lambda x: F.max_pool2d(x, 2, stride=1)),
        "norm2": ("f32[2, 3]", lambda x: x.norm(2.0, 1)),
        "norm3": ("f32[2, 3]", lambda x: x.norm(3.0, 1)),
        "log_softmax": ("f32[2, 3]", lambda x: F.log_softmax(x, 1)),
        "softmax": ("f32[2, 3]", lambda x: F.softmax(x, 1)),
        "layer_norm": ("f32[2, 3]", lambda x: F.layer_norm(x, (3,))),
        "pow": ("f32[2, 3]", lambda x: x ** 3.0),
        "remainder": ("f32[2, 3]", lambda x: nr.remainder(x, 1.5)),
        "einsum": ("f32[2, 3]", lambda x: nr.einsum("ij,kj->ik", x, e)),
        "sum16": ("f16[2, 3]", lambda x: x.sum(1)),
        "mean16": ("f16[2, 3]", lambda x: x.mean(1)),
        "cumsum16": ("f16[2, 3]", lambda x: x.cumsum(1)),
        "matmul16": ("f16[2, 3]", lambda x: x @ x.permute(1, 0)),
    }


GRAPH_OPS = _graph_ops()


@SETTINGS
@given(intervals(6), st.sampled_from(sorted(GRAPH_OPS)), st.integers(0, 2**32 - 1))
def test_traced_ops_contain_eager_results(a: Any, name: str, seed: int) -> None:
    """Through the verifier on a traced graph, float16 included: every non-NaN eager value in
    the output bounds, and no NaN unless a hazard was reported."""
    from neurarust.verify.numeric import verify_ranges

    spec, f = GRAPH_OPS[name]
    half = spec.startswith("f16")
    np_dt = np.float16 if half else np.float32
    lo, hi = (v.astype(np_dt).astype(np.float64) for v in a)
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    shape = tuple(int(s) for s in spec[4:-1].split(","))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = nr.trace(f, {"x": spec})
        r = verify_ranges(g, {"x": (lo.reshape(shape), hi.reshape(shape))})
    out = next(iter(r.outputs.values()))
    rng = np.random.default_rng(seed)
    for p in _points(rng, lo, hi):
        x = p.astype(np_dt).reshape(shape)
        y = _run(lambda t: f(t.to(nr.float16) if half else t), x).astype(np.float64)
        nan = np.isnan(y)
        assert r.found or not nan.any(), (str(r), x, y)
        assert np.all(nan | ((y >= out.lo) & (y <= out.hi))), (str(r), x, y)
