"""Soundness of the VNN-LIB verdicts and of the linear bounds, by attack: a seeded miniature
of ``bench/soundness_vnnlib.py``, and one regression test per unsoundness it found."""

from __future__ import annotations

import numpy as np
import pytest

import neurarust as nr
from neurarust import nn
from neurarust.verify.bab import verify_net, verify_property
from neurarust.verify.fuzz_vnnlib import Counts, FuzzNet, run_case
from neurarust.verify.linear_bounds import (
    crown_bounds,
    extract,
    ibp_bounds,
    lower_bound_with_corner,
    may_overflow,
)
from neurarust.verify.vnnlib import VnnlibError, parse_vnnlib

pytest.importorskip("onnxruntime")


def _one_layer(w: float, b: float = 0.0) -> nn.Linear:
    lin = nn.Linear(1, 1)
    with nr.no_grad():
        lin.weight.copy_(nr.tensor(np.array([[w]], np.float32)))
        assert lin.bias is not None
        lin.bias.copy_(nr.tensor(np.array([b], np.float32)))
    return lin


def _prop(lo: str, hi: str, cond: str, n_out: int = 1) -> str:
    ys = "".join(f"(declare-const Y_{j} Real)" for j in range(n_out))
    return (f"(declare-const X_0 Real){ys}(assert (>= X_0 {lo}))(assert (<= X_0 {hi}))"
            f"(assert {cond})")


def test_seeded_campaign_breaks_nothing() -> None:
    """Random networks and properties: every 'holds' survives the attack, every 'violated'
    replays in onnxruntime, every linear bound contains the float32 runs aimed at it."""
    total = Counts()
    for seed in range(30):
        total.add(run_case(seed, timeout=0.5))
    assert not total.broken, "\n\n".join(map(str, total.broken))
    kinds = {k.split(":")[1] for k in total.verdicts}
    assert {"holds", "violated"} <= kinds, total
    assert sum(total.verdicts.values()) >= 30 and total.bounds >= 1000, total


def test_a_threshold_equal_to_an_output_in_float64_only_is_not_violated() -> None:
    """``0.8999999761581421`` is the float64 repr of the float32 0.9-: equal in float64,
    above it exactly; the largest output of y = x on [0.8, 0.9] does not reach it."""
    f = float(np.float32(0.9)) if np.float32(0.9) <= 0.9 else float(
        np.nextafter(np.float32(0.9), np.float32(0)))
    d = repr(f)
    assert float(d) == f and len(d) < 25  # the shortest repr: not the exact value
    prop = parse_vnnlib(_prop("0.8", "0.9", f"(>= Y_0 {d})"))
    for split in ("input", "relu"):
        r = verify_property(_one_layer(1.0), (1, 1), prop, timeout=2, split=split)
        assert r.verdict != "violated", r
    # a threshold at or below the exact value is reached
    exact = format(f, ".30f")
    r = verify_property(_one_layer(1.0), (1, 1), parse_vnnlib(_prop("0.8", "0.9",
                        f"(>= Y_0 {exact})")), timeout=2)
    assert r.verdict == "violated"


@pytest.mark.parametrize("split", ["input", "relu"])
def test_a_network_without_hidden_layers_in_both_splits(split: str) -> None:
    m = nn.Sequential(_one_layer(2.0, 1.0))
    holds = verify_property(m, (1, 1), parse_vnnlib(_prop("0", "1", "(<= Y_0 0.5)")),
                            timeout=2, split=split)
    assert holds.verdict == "holds"
    bad = verify_property(m, (1, 1), parse_vnnlib(_prop("0", "1", "(>= Y_0 2.5)")),
                          timeout=2, split=split)
    assert bad.verdict == "violated"


def test_float32_overflow_gives_no_bound_and_no_holds() -> None:
    """relu(1e20 x) overflows float32 to inf for x >= 3.4e18; y = -h is then -inf, unsafe
    for 'Y_0 <= -1e300' although every real-valued bound says y >= -1e40."""
    m = nn.Sequential(_one_layer(1e20), nn.ReLU(), _one_layer(-1.0))
    net = extract(nr.trace(m, {"x": "f32[1, 1]"}))
    lo, hi = np.array([[1e19]]), np.array([[1e20]])
    assert may_overflow(net, lo, hi, [(lo * 1e20, hi * 1e20)]).all()
    for low, up in (crown_bounds(net, lo, hi), ibp_bounds(net, lo, hi)):
        assert low[0, 0] == -np.inf and up[0, 0] == np.inf
    lb, _, _ = lower_bound_with_corner(net, lo, hi, np.eye(1), intermediate="hybrid")
    assert lb[0, 0] == -np.inf
    y = m(nr.tensor(np.array([[1e19]], np.float32))).detach().numpy()
    assert y[0, 0] == -np.inf  # the float32 network really overflows
    prop = parse_vnnlib(_prop("1e19", "1e20", "(<= Y_0 -1e300)"))
    for split in ("input", "relu"):
        r = verify_property(m, (1, 1), prop, timeout=2, split=split)
        assert r.verdict != "holds", r
    # without hidden layers too: no LP leaf is trusted where the output may overflow
    lin = nn.Sequential(_one_layer(1e20))
    r = verify_property(lin, (1, 1), parse_vnnlib(_prop("1e19", "1e20", "(>= Y_0 1e300)")),
                        timeout=2, split="relu")
    assert r.verdict != "holds" and "overflow" in r.reason, r
    # on a small box nothing overflows and the bounds stay finite
    small = crown_bounds(net, np.array([[0.0]]), np.array([[1.0]]))
    assert np.isfinite(small[0]).all() and np.isfinite(small[1]).all()


def test_an_overflow_inside_a_layer_is_seen() -> None:
    """x * 1e30 * 1e-30 is x in the affine form, but its first product overflows float32."""

    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = _one_layer(1.0)

        def forward(self, x: nr.Tensor) -> nr.Tensor:
            return self.lin(x * 1e30 * 1e-30)

    net = extract(nr.trace(Scaled(), {"x": "f32[1, 1]"}))
    lo, hi = np.array([[1e9]]), np.array([[2e9]])
    low, up = crown_bounds(net, lo, hi)
    assert low[0, 0] == -np.inf and up[0, 0] == np.inf
    low, up = crown_bounds(net, np.array([[0.0]]), np.array([[1.0]]))
    assert np.isfinite(low).all() and np.isfinite(up).all()


def test_a_property_for_another_network_is_a_usage_error() -> None:
    m = FuzzNet([np.ones((2, 1))], [np.zeros(2)])
    prop = parse_vnnlib(_prop("0", "1", "(<= Y_0 0)"))  # one output; the network has two
    with pytest.raises(VnnlibError, match="1 inputs and 1 outputs, the network 1 and 2"):
        verify_property(m, (1, 1), prop, timeout=1)
    net = extract(nr.trace(m, {"x": "f32[1, 1]"}))
    with pytest.raises(VnnlibError):
        verify_net(net, lambda x: x, prop, timeout=1)


def test_inexact_coefficients_widen_the_proof_threshold() -> None:
    """(* 0.1 Y_0): 0.1 is no float64; proofs use d plus the coefficient's rounding times
    |y|, a counterexample is judged with the exact 0.1."""
    p = parse_vnnlib(_prop("0", "1", "(<= (* 0.1 Y_0) 0.05)"))
    (case,) = p.cases
    assert case.c_err[0, 0] > 0 and case.proof_d(np.array([10.0]))[0] > case.d[0]
    exact = parse_vnnlib(_prop("0", "1", "(<= (* 2 Y_0) 1)")).cases[0]
    assert not exact.c_err.any() and exact.proof_d(np.array([10.0]))[0] == exact.d[0]
    r = verify_property(nn.Sequential(_one_layer(1.0)), (1, 1), p, timeout=2)
    assert r.verdict == "violated" and r.counterexample is not None
    assert float(r.counterexample[0][0]) <= 0.5


@pytest.mark.parametrize("split", ["input", "relu"])
def test_a_timeout_is_unknown_never_holds(split: str) -> None:
    """A property that holds (y = |x| >= 0 on [-1, 1]) but takes branching to prove: out of
    time, the answer is 'unknown' (exit 3), whatever was proven so far."""
    m = FuzzNet([np.array([[1.0], [-1.0]]), np.array([[1.0, 1.0]])],
                [np.zeros(2), np.zeros(1)])
    prop = parse_vnnlib(_prop("-1", "1", "(<= Y_0 -0.001)"))
    r = verify_property(m, (1, 1), prop, timeout=0.0, split=split)
    assert r.verdict == "unknown" and r.exit_code == 3 and "timeout" in r.reason
    assert verify_property(m, (1, 1), prop, timeout=5, split=split).verdict == "holds"
