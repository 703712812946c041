"""Numeric-range safety: hazards found or proven absent, output bounds checked by sampling."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

import neurarust as nr
import neurarust.nn.functional as F
from neurarust.cli import main
from neurarust.examples.mnist import MEAN, STD, SmallCNN
from neurarust.verify.numeric import parse_range, verify_ranges


def _naive_log_softmax(x: nr.Tensor) -> nr.Tensor:
    e = (x - x.amax(1, keepdim=True)).exp()
    return (e / e.sum(1, keepdim=True)).log()


def test_stable_log_softmax_is_proven_while_the_naive_form_is_flagged() -> None:
    spec = {"x": "f32[B, 10]"}
    stable = verify_ranges(nr.trace(lambda x: F.log_softmax(x, dim=1), inputs=spec),
                           {"x": (-40.0, 40.0)})
    assert stable.ok and stable.exit_code == 0, stable
    out = next(iter(stable.outputs.values()))
    assert out.max <= 0 and np.isfinite(out.min)
    naive = verify_ranges(nr.trace(_naive_log_softmax, inputs=spec), {"x": (-40.0, 40.0)})
    kinds = {(h.node.op, h.hazard.kind) for h in naive.found}
    assert ("log", "log-domain") in kinds, naive
    assert naive.exit_code == 1
    assert "log of values <= 0" in str(naive)


def test_exp_overflow_is_flagged_for_inputs_in_0_100() -> None:
    g = nr.trace(lambda x: x.exp(), inputs={"x": "f32[B, 3]"})
    r = verify_ranges(g, {"x": (0.0, 100.0)})
    (h,) = r.found
    assert h.node.op == "exp" and h.hazard.kind == "overflow" and h.hazard.hi == 100.0
    assert "test_numeric.py" in h.node.source
    assert verify_ranges(g, {"x": (0.0, 88.0)}).ok


def test_exp_overflow_threshold_for_float16() -> None:
    g = nr.trace(lambda x: x.exp(), inputs={"x": "f16[4]"})
    assert not verify_ranges(g, {"x": (0.0, 12.0)}).ok
    assert verify_ranges(g, {"x": (0.0, 11.0)}).ok


def test_division_by_an_interval_containing_zero_is_flagged() -> None:
    g = nr.trace(lambda x, y: x / y, inputs={"x": "f32[3]", "y": "f32[3]"})
    r = verify_ranges(g, {"x": (1.0, 2.0), "y": (-1.0, 1.0)})
    assert [h.hazard.kind for h in r.found] == ["div-by-zero"]
    assert verify_ranges(g, {"x": (1.0, 2.0), "y": (0.5, 1.0)}).ok


@pytest.mark.parametrize("fn,lo,kind", [
    (lambda x: x.log(), 0.0, "log-domain"), (lambda x: x.log1p(), -1.0, "log-domain"),
    (lambda x: x.sqrt(), -0.5, "sqrt-domain"), (lambda x: x.rsqrt(), 0.0, "rsqrt-domain"),
    (lambda x: (x * 1e3).to(nr.float16), 0.0, "overflow")])
def test_domain_hazards(fn: object, lo: float, kind: str) -> None:
    g = nr.trace(fn, inputs={"x": "f32[2]"})
    r = verify_ranges(g, {"x": (lo, 100.0)})
    assert kind in {h.hazard.kind for h in r.found}, r


def test_generic_overflow_in_a_product() -> None:
    g = nr.trace(lambda x: x * x, inputs={"x": "f32[2]"})
    r = verify_ranges(g, {"x": (0.0, 1e30)})
    assert [h.hazard.kind for h in r.found] == ["overflow"]


def test_op_without_a_range_rule_is_unknown_not_a_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from neurarust.ops.registry import get

    monkeypatch.setattr(type(get("sin")), "range_rule", None)
    g = nr.trace(lambda x: x.sin(), inputs={"x": "f32[2]"})
    r = verify_ranges(g, {"x": (0.0, 1.0)})
    assert r.exit_code == 3 and "no range rule for op 'sin'" in str(r)


def test_unknown_input_name_is_an_error() -> None:
    g = nr.trace(lambda x: x.exp(), inputs={"x": "f32[2]"})
    with pytest.raises(ValueError, match="not an input"):
        verify_ranges(g, {"y": (0.0, 1.0)})


def test_parse_range() -> None:
    assert parse_range("x in [0, 1]") == ("x", 0.0, 1.0)
    assert parse_range("ids in [-inf, 3.5]") == ("ids", float("-inf"), 3.5)
    for bad in ("x [0, 1]", "x in [1, 0]", "x in [a, b]"):
        with pytest.raises(ValueError):
            parse_range(bad)


@pytest.mark.parametrize("spec", ["f32[B, 1, 28, 28]", "f32[2, 1, 28, 28]"])
def test_small_cnn_is_proven_safe_with_finite_bounds_that_hold_on_samples(spec: str) -> None:
    model = SmallCNN()
    g = nr.trace(model, inputs={"x": spec})
    lo, hi = (0.0 - MEAN) / STD, (1.0 - MEAN) / STD
    r = verify_ranges(g, {"x": (lo, hi)})
    assert r.ok, r
    out = r.outputs[g.outputs[0]]
    assert out.finite and out.lo.shape[-1] == 10
    rng = np.random.default_rng(0)
    x = rng.random((16, 1, 28, 28))
    x[:4] = rng.integers(0, 2, (4, 1, 28, 28))  # corners of the box
    x = ((x - MEAN) / STD).astype(np.float32)
    with nr.no_grad():
        y = model(nr.tensor(x)).numpy()
    assert out.contains(y)


def test_per_element_input_ranges() -> None:
    w = np.array([[1.0, -2.0], [0.5, 3.0]], dtype=np.float32)
    g = nr.trace(lambda x: x @ nr.tensor(w), inputs={"x": "f32[1, 2]"})
    r = verify_ranges(g, {"x": (np.array([0.0, -1.0]), np.array([1.0, 1.0]))})
    out = next(iter(r.outputs.values()))
    # exact: column 0 in [-0.5, 1.5], column 1 in [-5, 3]
    np.testing.assert_allclose(out.lo.ravel(), [-0.5, -5.0], rtol=1e-6)
    np.testing.assert_allclose(out.hi.ravel(), [1.5, 3.0], rtol=1e-6)


def test_cli_range_adds_the_numeric_report(capsys: pytest.CaptureFixture[str]) -> None:
    src = "import neurarust as nr\nclass Net(nr.nn.Module):\n    def forward(self, x):\n" \
          "        return x.exp()\n"
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "net.py")
        with open(path, "w") as f:
            f.write(src)
        base = ["verify", f"{path}:Net", "--input", "x: f32[B, 4]"]
        assert main([*base, "--range", "x in [0, 100]"]) == 1
        assert "exp overflows float32" in capsys.readouterr().out
        assert main([*base, "--range", "x in [0, 10]"]) == 0
        assert "proven: no hazard" in capsys.readouterr().out
        assert main([*base, "--range", "y in [0, 10]"]) == 2
