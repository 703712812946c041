"""Soundness of every interval transfer function against real float32 eager runs.

Each case traces a small function at concrete sizes, propagates a random per-element box
through the registry's ``ranges`` rules (:func:`verify_ranges`), samples float32 points inside
the box, runs the function eagerly, and requires every output inside the computed bounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import neurarust as nr
import neurarust.nn.functional as F
from neurarust.types.dtype import float16, float32, float64
from neurarust.types.interval import Interval, round_out
from neurarust.verify.numeric import verify_ranges

Fn = Callable[..., Any]

W = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
K = np.random.default_rng(1).standard_normal((2, 2, 3, 3)).astype(np.float32)

# name -> (function, input shapes, domain (lo, hi) for the box)
CASES: dict[str, tuple[Fn, list[tuple[int, ...]], tuple[float, float]]] = {
    "add": (lambda a, b: a + b, [(3, 4), (4,)], (-50, 50)),
    "add_scalar": (lambda a: a + 0.1, [(3, 4)], (-50, 50)),
    "sub": (lambda a, b: a - b, [(3, 4), (3, 4)], (-50, 50)),
    "mul": (lambda a, b: a * b, [(3, 4), (3, 4)], (-50, 50)),
    "div": (lambda a, b: a / (b.abs() + 0.5), [(3, 4), (3, 4)], (-50, 50)),
    "neg": (lambda a: -a, [(3, 4)], (-50, 50)),
    "exp": (lambda a: a.exp(), [(3, 4)], (-80, 80)),
    "log": (lambda a: a.log(), [(3, 4)], (1e-3, 1e4)),
    "log1p": (lambda a: a.log1p(), [(3, 4)], (-0.99, 1e4)),
    "sqrt": (lambda a: a.sqrt(), [(3, 4)], (0, 1e4)),
    "rsqrt": (lambda a: a.rsqrt(), [(3, 4)], (1e-3, 1e4)),
    "tanh": (lambda a: a.tanh(), [(3, 4)], (-20, 20)),
    "sigmoid": (lambda a: a.sigmoid(), [(3, 4)], (-40, 40)),
    "relu": (lambda a: a.relu(), [(3, 4)], (-50, 50)),
    "abs": (lambda a: a.abs(), [(3, 4)], (-50, 50)),
    "clamp": (lambda a: a.clamp(-1.0, 2.0), [(3, 4)], (-50, 50)),
    "maximum": (lambda a, b: nr.maximum(a, b), [(3, 4), (3, 4)], (-50, 50)),
    "minimum": (lambda a, b: nr.minimum(a, b), [(3, 4), (3, 4)], (-50, 50)),
    "pow2": (lambda a: a ** 2, [(3, 4)], (-50, 50)),
    "pow3": (lambda a: a ** 3, [(3, 4)], (-50, 50)),
    "pow_half": (lambda a: a ** 0.5, [(3, 4)], (0, 100)),
    "pow_neg": (lambda a: a ** -1.5, [(3, 4)], (0.1, 100)),
    "matmul": (lambda a: a @ nr.tensor(W), [(2, 4)], (-10, 10)),
    "matmul_both": (lambda a, b: a @ b, [(2, 4), (4, 3)], (-10, 10)),
    "reshape": (lambda a: a.reshape(4, 3) * 2.0, [(3, 4)], (-10, 10)),
    "view_flatten": (lambda a: a.flatten(), [(3, 4)], (-10, 10)),
    "permute": (lambda a: a.permute(1, 0), [(3, 4)], (-10, 10)),
    "unsqueeze_squeeze": (lambda a: a.unsqueeze(0).squeeze(0), [(3, 4)], (-10, 10)),
    "expand": (lambda a: a.unsqueeze(0).expand(2, 3, 4), [(3, 4)], (-10, 10)),
    "sum": (lambda a: a.sum(1), [(3, 4)], (-50, 50)),
    "sum_all": (lambda a: a.sum(), [(3, 4)], (-50, 50)),
    "mean": (lambda a: a.mean(0), [(3, 4)], (-50, 50)),
    "amax": (lambda a: a.amax(1), [(3, 4)], (-50, 50)),
    "amin": (lambda a: a.amin(0), [(3, 4)], (-50, 50)),
    "logsumexp": (lambda a: a.logsumexp(1), [(3, 4)], (-50, 50)),
    "log_softmax": (lambda a: F.log_softmax(a, dim=1), [(3, 4)], (-50, 50)),
    "nll_loss": (lambda a: F.nll_loss(a, nr.tensor(np.array([0, 3, 1]))), [(3, 4)], (-50, 50)),
    "conv2d": (lambda a: F.conv2d(a, nr.tensor(K), padding=1), [(1, 2, 5, 5)], (-5, 5)),
    "max_pool2d": (lambda a: F.max_pool2d(a, 2), [(1, 2, 4, 4)], (-5, 5)),
    "avg_pool2d": (lambda a: F.avg_pool2d(a, 2), [(1, 2, 4, 4)], (-5, 5)),
    "erf": (lambda a: F.erf(a), [(3, 4)], (-4, 4)),
    "cast_f16": (lambda a: a.to(nr.float16), [(3, 4)], (-100, 100)),
    # indexing, selection and joining: bounds moved with the elements
    "getitem": (lambda a: a[1:, ::2] + a[0, 1:3], [(3, 4)], (-50, 50)),
    "getitem_none": (lambda a: a[:, None, 2], [(3, 4)], (-50, 50)),
    "index": (lambda a: a[nr.tensor(np.array([0, 2, -1]))], [(3, 4)], (-50, 50)),
    "index_select": (lambda a: a.index_select(1, nr.tensor(np.array([0, 3, 3]))), [(3, 4)],
                     (-50, 50)),
    "gather": (lambda a: a.gather(1, nr.tensor(np.array([[0, 1], [3, 2], [1, 1]]))), [(3, 4)],
               (-50, 50)),
    "embedding": (lambda a: F.embedding(nr.tensor(np.array([[1, 2], [0, 2]])), a), [(3, 4)],
                  (-50, 50)),
    "where": (lambda a, b: nr.where(a > 0, a, b), [(3, 4), (4,)], (-50, 50)),
    "masked_fill": (lambda a: a.masked_fill(a > 1, 0.5), [(3, 4)], (-50, 50)),
    "scatter": (lambda a, b: a.scatter(1, nr.tensor(np.array([[0, 1], [3, 2], [1, 1]])), b),
                [(3, 4), (3, 2)], (-50, 50)),
    "scatter_add": (lambda a, b: a.scatter_add(1, nr.tensor(np.array([[0, 1], [3, 2], [1, 1]])),
                                               b), [(3, 4), (3, 2)], (-50, 50)),
    "cat": (lambda a, b: nr.cat([a, b, a], dim=1), [(3, 4), (3, 2)], (-50, 50)),
    "stack": (lambda a, b: nr.stack([a, b], dim=1), [(3, 4), (3, 4)], (-50, 50)),
    "narrow": (lambda a: nr.narrow(a, 1, 1, 2), [(3, 4)], (-50, 50)),
    "flip": (lambda a: a.flip([0]), [(3, 4)], (-50, 50)),
    "repeat": (lambda a: a.repeat(2, 1, 2), [(3, 4)], (-50, 50)),
    # the matmul family
    "bmm": (lambda a, b: nr.bmm(a, b), [(2, 3, 4), (2, 4, 2)], (-10, 10)),
    "dot": (lambda a, b: nr.dot(a, b), [(5,), (5,)], (-10, 10)),
    "outer": (lambda a, b: nr.outer(a, b), [(3,), (4,)], (-10, 10)),
    "einsum": (lambda a, b: nr.einsum("ij,jk->ik", a, b), [(2, 4), (4, 3)], (-10, 10)),
    "conv_transpose2d": (lambda a: F.conv_transpose2d(a, nr.tensor(K), stride=2),
                         [(1, 2, 3, 3)], (-5, 5)),
    "adaptive_avg_pool2d": (lambda a: F.adaptive_avg_pool2d(a, (2, 3)), [(1, 2, 5, 5)],
                            (-5, 5)),
    "max_pool2d_indices": (lambda a: F.max_pool2d(a, 2, return_indices=True)[1],
                           [(1, 2, 4, 4)], (-5, 5)),
    # more elementwise math
    "remainder": (lambda a: a % 3.0, [(3, 4)], (-50, 50)),
    "sign": (lambda a: a.sign(), [(3, 4)], (-50, 50)),
    "exp2": (lambda a: nr.exp2(a), [(3, 4)], (-100, 100)),
    "expm1": (lambda a: a.expm1(), [(3, 4)], (-50, 50)),
    "log2": (lambda a: nr.log2(a), [(3, 4)], (1e-3, 1e4)),
    "log10": (lambda a: nr.log10(a), [(3, 4)], (1e-3, 1e4)),
    "reciprocal": (lambda a: (a.abs() + 0.5).reciprocal(), [(3, 4)], (-50, 50)),
    "sin": (lambda a: a.sin(), [(3, 4)], (-5, 5)),
    "cos": (lambda a: a.cos(), [(3, 4)], (-5, 5)),
    "floor_ceil": (lambda a: a.floor() + a.ceil(), [(3, 4)], (-50, 50)),
    "trunc_round": (lambda a: nr.trunc(a) - a.round(), [(3, 4)], (-50, 50)),
    "clamp_tensor": (lambda a, b: a.clamp(min=b), [(3, 4), (4,)], (-50, 50)),
    "compare": (lambda a, b: (a < b).float() + (a >= b).float() * 2 + (a == b).float(),
                [(3, 4), (3, 4)], (-2, 2)),
    "isfinite": (lambda a: nr.isfinite(a).float() + nr.isnan(a).float(), [(3, 4)], (-5, 5)),
    "logical": (lambda a, b: nr.logical_and(a > 0, b > 0).float()
                + nr.logical_not(a > b).float(), [(3, 4), (3, 4)], (-5, 5)),
    # reductions
    "prod": (lambda a: a.prod(1), [(3, 4)], (-3, 3)),
    "cumsum": (lambda a: a.cumsum(1), [(3, 4)], (-50, 50)),
    "max_dim": (lambda a: a.max(1)[0] + a.min(0)[0].sum(), [(3, 4)], (-50, 50)),
    "argmax": (lambda a: a.argmax(1) + a.argmin(), [(3, 4)], (-50, 50)),
    "var": (lambda a: a.var(1), [(3, 4)], (-50, 50)),
    "std": (lambda a: a.std(0, correction=0), [(3, 4)], (-50, 50)),
    "norm": (lambda a: a.norm(dim=1), [(3, 4)], (-50, 50)),
    "all_any": (lambda a: (a > 0).all(1).float() + (a > 0).any().float(), [(3, 4)], (-5, 5)),
}


def _box(data: st.DataObject, shape: tuple[int, ...], lo: float, hi: float,
         ) -> tuple[np.ndarray, np.ndarray]:
    n = math.prod(shape)
    f = st.floats(float(np.float32(lo)), float(np.float32(hi)), width=32, allow_nan=False,
                  allow_infinity=False, exclude_min=lo != float(np.float32(lo)),
                  exclude_max=hi != float(np.float32(hi)))
    a = np.array(data.draw(st.lists(f, min_size=n, max_size=n)), dtype=np.float64)
    b = np.array(data.draw(st.lists(f, min_size=n, max_size=n)), dtype=np.float64)
    return np.minimum(a, b).reshape(shape), np.maximum(a, b).reshape(shape)


def _points(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray, k: int) -> list[np.ndarray]:
    out = [lo.astype(np.float32), hi.astype(np.float32)]
    for _ in range(k):
        u = rng.random(lo.shape)
        p = np.clip((lo + u * (hi - lo)).astype(np.float32), lo, hi).astype(np.float32)
        out.append(p)
    return out


@pytest.mark.parametrize("case", sorted(CASES))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_transfer_function_is_sound(case: str, data: st.DataObject) -> None:
    fn, shapes, (dlo, dhi) = CASES[case]
    names = [f"x{i}" for i in range(len(shapes))]
    specs = {n: "f32[" + ", ".join(map(str, s)) + "]" for n, s in zip(names, shapes)}
    graph = nr.trace(fn, inputs=specs)
    boxes = {n: _box(data, s, dlo, dhi) for n, s in zip(names, shapes)}
    report = verify_ranges(graph, boxes)
    assert not report.unknown, report
    out = report.outputs[graph.outputs[0]]
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
    samples = [_points(rng, *boxes[n], 6) for n in names]
    for pts in zip(*samples):
        with nr.no_grad():
            y = fn(*(nr.tensor(p) for p in pts)).numpy().astype(np.float64)
        assert out.contains(y), (case, out, y, [p for p in pts])


@pytest.mark.parametrize("name,f", [("exp", np.exp), ("tanh", np.tanh), ("relu", None),
                                    ("sqrt", np.sqrt), ("log1p", np.log1p)])
@settings(max_examples=25, deadline=None)
@given(lo=st.floats(0, 20, width=32), width=st.floats(0, 20, width=32))
def test_monotone_unary_is_tight_on_scalars(name: str, f: Any, lo: float, width: float) -> None:
    """Exact up to the rounding allowance: a few float32 ulps of the true image."""
    hi = float(np.float32(lo + width))
    graph = nr.trace(lambda a: getattr(a, name)(), inputs={"x": "f32[]"})
    out = verify_ranges(graph, {"x": (lo, hi)}).outputs[graph.outputs[0]]
    fn = f or (lambda v: np.maximum(v, 0.0))
    tol = 16 * np.spacing(np.float32(max(abs(fn(lo)), abs(fn(hi)), 1e-30)))
    if name == "log1p":  # exported as Log(1 + x): an absolute allowance of 4 ulps of 1
        tol += 5 * 2.0 ** -24  # (and its outward rounding)
    assert out.min >= fn(lo) - tol and out.max <= fn(hi) + tol
    assert out.min <= fn(lo) and out.max >= fn(hi)


def test_round_out_moves_onto_the_grid_outward() -> None:
    lo, hi = round_out(0.1, 0.1, float32)
    assert lo <= 0.1 <= hi and np.float32(lo) == lo and np.float32(hi) == hi
    lo16, hi16 = round_out(1e5, 1e5, float16)
    assert np.isinf(hi16) and lo16 == 65504.0
    lo64, hi64 = round_out(1.0, 1.0, float64)
    assert lo64 < 1.0 < hi64


def test_interval_of_checks_shapes_and_order() -> None:
    iv = Interval.of(0.0, np.ones(4), (None, 4))
    assert iv.lo.shape == (1, 4) and not iv.per_element
    with pytest.raises(ValueError, match="do not fit"):
        Interval.of(np.zeros(3), 1.0, (2, 4))
    with pytest.raises(ValueError, match="exceeds"):
        Interval.of(1.0, 0.0, ())
