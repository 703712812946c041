"""IEEE-complete numeric bounds: infinities, NaN and float32 overflow inside reductions, dot
products, convolutions and pooling are hazards, never a silent 'proven'; input ranges outside
the dtype are errors, never clamped.

Each case that the verifier once proved wrongly is replayed on the real float32 model (the
eager kernels, and onnxruntime for the MLP) to show the NaN it now reports.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

import neurarust as nr
import neurarust.nn.functional as F
from neurarust import nn
from neurarust.types import interval
from neurarust.types.interval import Interval, sum_
from neurarust.verify.numeric import parse_range, verify_ranges

INF = math.inf


def kinds(report: object) -> set[tuple[str, str]]:
    return {(h.node.op, h.hazard.kind) for h in report.found}  # type: ignore[attr-defined]


def _eager(fn: object, x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.asarray(fn(nr.tensor(x)).detach().numpy())  # type: ignore[operator]


# -- finding 2: NaN proven absent ------------------------------------------------------------
def total(x: nr.Tensor) -> nr.Tensor:
    return x.sum(1)


def test_sum_over_both_infinities_is_a_nan_hazard() -> None:
    g = nr.trace(total, {"x": "f32[B, 8]"})
    r = verify_ranges(g, {"x": (-INF, INF)})
    assert ("sum", "nan") in kinds(r) and not r.ok
    x = np.zeros((1, 8), np.float32)
    x[0, 0], x[0, 1] = np.inf, -np.inf
    assert np.isnan(_eager(total, x)).all()  # the hazard is real


def test_sum_of_one_signed_infinity_is_proven_with_an_infinite_bound() -> None:
    g = nr.trace(total, {"x": "f32[B, 8]"})
    r = verify_ranges(g, {"x": (0.0, INF)})
    assert r.ok
    out = next(iter(r.outputs.values()))
    assert -1e-40 < out.min <= 0.0 and out.max == INF


def test_matmul_of_infinite_input_is_a_nan_hazard() -> None:
    nr.manual_seed(0)
    w = nr.randn(8, 4)
    g = nr.trace(lambda x: x @ w, {"x": "f32[B, 8]"})
    r = verify_ranges(g, {"x": (INF, INF)})
    assert ("matmul", "nan") in kinds(r)
    x = np.full((1, 8), np.inf, np.float32)
    assert np.isnan(_eager(lambda t: t @ w, x)).any()


def _mlp() -> nn.Module:
    nr.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))


def test_mlp_on_infinite_input_is_not_proven_and_onnxruntime_gives_nan(tmp_path: object) -> None:
    import onnxruntime as ort

    model = _mlp()
    g = nr.trace(model, {"x": "f32[B, 8]"})
    r = verify_ranges(g, {"x": (INF, INF)})
    assert not r.ok and {k for _, k in kinds(r)} == {"nan"}
    path = os.path.join(str(tmp_path), "mlp.onnx")
    nr.onnx.export(model, {"x": "f32[B, 8]"}, path)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    y = sess.run(None, {sess.get_inputs()[0].name: np.full((1, 8), np.inf, np.float32)})[0]
    assert np.isnan(y).all()


def test_mlp_on_a_finite_box_is_still_proven() -> None:
    g = nr.trace(_mlp(), {"x": "f32[B, 8]"})
    assert verify_ranges(g, {"x": (-1.0, 1.0)}).ok


# -- input ranges: never silently clamped ---------------------------------------------------
@pytest.mark.parametrize("lo,hi,words", [
    (0.0, 1e39, "beyond the largest finite float32"),
    (-1e39, 0.0, "beyond the largest finite float32"),
    (0.0, float("nan"), "nan is not a bound"),
    (2.0, 1.0, "lower bound exceeds"),
])
def test_input_range_outside_the_dtype_is_an_error(lo: float, hi: float, words: str) -> None:
    g = nr.trace(total, {"x": "f32[B, 8]"})
    with pytest.raises(ValueError, match=words) as err:
        verify_ranges(g, {"x": (lo, hi)})
    assert "'x'" in str(err.value)


def test_float16_input_range_is_checked_against_float16() -> None:
    g = nr.trace(total, {"x": "f16[B, 8]"})
    with pytest.raises(ValueError, match="largest finite float16 .65504"):
        verify_ranges(g, {"x": (0.0, 70000.0)})
    assert verify_ranges(g, {"x": (0.0, 65504.0)}).found  # a sum of 8 may overflow float16


def test_parse_range_rejects_nan_and_keeps_inf() -> None:
    assert parse_range("x in [-inf, inf]") == ("x", -INF, INF)
    with pytest.raises(ValueError, match="nan"):
        parse_range("x in [nan, 1]")


def test_cli_range_beyond_float32_exits_2_with_one_line(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "m.py")
    with open(path, "w") as f:
        f.write("def total(x):\n    return x.sum(1)\n")
    code = "import sys; from neurarust.cli import main; sys.exit(main())"
    p = subprocess.run([sys.executable, "-c", code, "verify", f"{path}:total", "--input",
                        "x: f32[B, 8]", "--range", "x in [0, 1e39]"], capture_output=True,
                       text=True, timeout=60, check=False)
    assert p.returncode == 2
    assert "1e+39" in p.stderr and "float32" in p.stderr and "Traceback" not in p.stderr


# -- every family that adds or multiplies ----------------------------------------------------
BIG = 3.0e38


@pytest.mark.parametrize("fn,spec,lo,hi,kind", [
    (lambda x: x.mean(1), "f32[2, 8]", -INF, INF, "nan"),
    (lambda x: x.cumsum(1), "f32[2, 8]", -INF, INF, "nan"),
    (lambda x: x.var(1), "f32[2, 8]", 0.0, INF, "nan"),
    (lambda x: x.std(1), "f32[2, 8]", 0.0, INF, "nan"),
    (lambda x: x.prod(1), "f32[2, 8]", 0.0, INF, "nan"),
    (lambda x: F.log_softmax(x, 1), "f32[2, 8]", 0.0, INF, "nan"),
    (lambda x: F.softmax(x, 1), "f32[2, 8]", 0.0, INF, "nan"),
    (lambda x: F.layer_norm(x, (8,)), "f32[2, 8]", 0.0, INF, "nan"),
    (lambda x: F.avg_pool2d(x, 2), "f32[1, 1, 4, 4]", -INF, INF, "nan"),
    (lambda x: x / x, "f32[2, 8]", 1.0, INF, "nan"),
    (lambda x: x.sum(1), "f32[2, 8]", -BIG, BIG, "overflow"),
    (lambda x: x.cumsum(1), "f32[2, 8]", -BIG, BIG, "overflow"),
    (lambda x: F.avg_pool2d(x, 2), "f32[1, 1, 4, 4]", -BIG, BIG, "overflow"),
    (lambda x: x.norm(), "f32[2, 8]", -1e20, 1e20, "overflow"),
    (lambda x: x.var(1), "f32[2, 8]", -1e19, 1e19, "overflow"),
])
def test_ieee_cases_are_hazards(fn: object, spec: str, lo: float, hi: float,
                                kind: str) -> None:
    g = nr.trace(fn, {"x": spec})
    r = verify_ranges(g, {"x": (lo, hi)})
    assert kind in {k for _, k in kinds(r)}, str(r)


def test_sum_of_huge_terms_that_cancel_overflows_in_float32() -> None:
    """[3e38, 3e38, -3e38, -3e38] sums to 0 over the reals and to inf or nan in float32: a
    finite bound here would be a false proof."""
    x = np.array([[BIG, BIG, -BIG, -BIG]], np.float32)
    assert not np.isfinite(_eager(total, x)).all()
    lo, hi = x.astype(np.float64), x.astype(np.float64)
    r = sum_(Interval(lo, hi, (1, 4)), dim=1)
    assert r.hazards and r.out.min == -INF and r.out.max == INF


def test_conv_with_infinite_input_and_a_zero_weight_is_0_times_inf() -> None:
    conv = nn.Conv2d(1, 1, 2, bias=False)
    with nr.no_grad():
        conv.weight.copy_(nr.tensor([[[[1.0, 0.0], [2.0, 3.0]]]]))
    g = nr.trace(conv, {"x": "f32[1, 1, 3, 3]"})
    r = verify_ranges(g, {"x": (0.0, INF)})
    assert ("conv2d", "nan") in kinds(r)
    x = np.zeros((1, 1, 3, 3), np.float32)
    x[0, 0, 0, 1] = np.inf
    assert np.isnan(_eager(conv, x)).any()


def test_products_that_underflow_keep_a_sound_lower_bound() -> None:
    """Products below float32's smallest subnormal round to 0: the bound must reach 0."""
    w = nr.full((64, 1), 1e-30)
    g = nr.trace(lambda x: x @ w, {"x": "f32[1, 64]"})
    r = verify_ranges(g, {"x": (1e-20, 1e-20)})
    out = next(iter(r.outputs.values()))
    y = _eager(lambda t: t @ w, np.full((1, 64), 1e-20, np.float32))
    assert out.contains(y)


def test_cast_of_huge_floats_to_int64_is_an_int_overflow_hazard() -> None:
    """Found by the soundness fuzzer: numpy casts 3e38 to int64 as -2**63, below the bound
    that truncating the float bounds gave."""
    def f(x: nr.Tensor) -> nr.Tensor:
        return x.to(nr.int64)

    g = nr.trace(f, {"x": "f32[1, 2]"})
    r = verify_ranges(g, {"x": (1e38, 3e38)})
    assert ("cast", "int-overflow") in kinds(r)
    y = _eager(f, np.array([[3e38, 2e38]], np.float32))
    assert next(iter(r.outputs.values())).contains(y)
    assert verify_ranges(g, {"x": (-1e9, 1e9)}).ok


# -- found by the property tests (tests/types/test_interval_ieee_props.py) --------------------
def test_rsqrt_of_an_interval_reaching_zero_may_be_minus_inf() -> None:
    """-0.0 lies in every interval that reaches 0, and rsqrt(-0.0) = -inf."""
    r = interval.rsqrt(Interval.of(0.0, 0.0, (1,)))
    y = _eager(nr.rsqrt, np.array([-0.0], np.float32))
    assert r.hazards and r.out.contains(y)


def test_logsumexp_of_inf_keeps_an_infinite_bound_not_nan() -> None:
    r = interval.logsumexp(Interval.of([0.0, np.inf], [0.0, np.inf], (2,)), 0)
    y = _eager(lambda t: t.logsumexp(0), np.array([0.0, np.inf], np.float32))
    assert not np.isnan(r.out.lo).any() and r.out.contains(y)


def test_prod_whose_partial_product_overflows_before_a_zero_is_nan() -> None:
    """2 * 3.4e38 overflows to inf before the factor 0: inf * 0 = nan."""
    x = np.array([[2.0, 3.4e38, 0.0]], np.float32)
    r = interval.prod(Interval.of([[0.0, 0.0, 0.0]], [[2.0, 3.4e38, 0.0]], (1, 3)), 1)
    assert np.isnan(_eager(lambda t: t.prod(1), x)).all()
    assert any(h.kind == "nan" for h in r.hazards)


def test_var_whose_mean_overflows_both_ways_is_nan() -> None:
    """Found by the soundness fuzzer: the kernel's sum for the mean overflows to +inf in one
    of numpy's pairwise accumulators and to -inf in another (nan) on huge values of both
    signs; an overflow hazard alone claimed no nan."""
    x = np.zeros((4, 8), np.float32)
    x[:, 0], x[:, 1] = 3e38, -3e38
    g = nr.trace(lambda t: t.var(), {"x": "f32[4, 8]"})
    r = verify_ranges(g, {"x": (-3e38, 3e38)})
    assert ("var", "nan") in kinds(r)
    assert np.isnan(_eager(lambda t: t.var(), x)).all()


def test_std_exports_to_onnx_with_its_square_root() -> None:
    """Found by the soundness fuzzer on onnxruntime: std was exported as var, so the verified
    bounds of std did not hold on the exported model."""
    import onnxruntime as ort

    g = nr.trace(lambda t: t.std(1), {"x": "f32[2, 6]"})
    proto = nr.onnx.export(g)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.arange(12, dtype=np.float32).reshape(2, 6) * 3.0
    y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    assert np.allclose(y, _eager(lambda t: t.std(1), x), rtol=1e-5)
    out = next(iter(verify_ranges(g, {"x": (0.0, 33.0)}).outputs.values()))
    assert out.contains(y)


@pytest.mark.parametrize("fn,lo,hi", [
    (lambda t: t.log1p(), 1e-38, 2e-38),
    (lambda t: t.expm1(), 1e-30, 1e-20),
    (lambda t: t.tanh(), 8.25, 9.0),
    (lambda t: t.sigmoid(), -17.9623, -17.9),
    (lambda t: t.tanh(), 4.7034e-40, 4.54e-38),  # subnormals: off by ~100 subnormal ulps
])
def test_bounds_hold_on_onnxruntime_too(fn: object, lo: float, hi: float) -> None:
    """Found by the soundness fuzzer on onnxruntime: its Tanh reaches 1.00000024 (and loses
    its relative accuracy on subnormals), its Sigmoid has an absolute error of 1.7e-7, and
    log1p / expm1 export as Log(1 + x) /
    Exp(x) - 1 (a tiny x gives 0): the verified bounds must hold there as well."""
    import onnxruntime as ort

    g = nr.trace(fn, {"x": "f32[64]"})
    out = next(iter(verify_ranges(g, {"x": (lo, hi)}).outputs.values()))
    proto = nr.onnx.export(g)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.linspace(lo, hi, 64).astype(np.float32)
    y = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    assert out.contains(y) and out.contains(_eager(fn, x))
