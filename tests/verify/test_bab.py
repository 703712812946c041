"""Branch and bound: holds / violated (with an input the real network shows unsafe) /
unknown, on small nets and a few ACAS Xu instances."""

from __future__ import annotations

import os

import numpy as np
import pytest

import neurarust as nr
from neurarust import nn
from neurarust.verify.bab import verify_property
from neurarust.verify.vnnlib import parse_vnnlib, read_vnnlib

from .acasxu_helpers import load_acas, need_acas


def _prop(lo: float, hi: float, cond: str) -> str:
    return ("(declare-const X_0 Real)(declare-const X_1 Real)(declare-const Y_0 Real)"
            f"(assert (>= X_0 {lo}))(assert (<= X_0 {hi}))(assert (>= X_1 {lo}))"
            f"(assert (<= X_1 {hi})){cond}")


def _abs_net() -> nn.Sequential:
    """y = relu(x0) + relu(-x0) + relu(x1) + relu(-x1) = |x0| + |x1|."""
    l1, l2 = nn.Linear(2, 4), nn.Linear(4, 1)
    with nr.no_grad():
        l1.weight.copy_(nr.tensor(np.array([[1, 0], [-1, 0], [0, 1], [0, -1]], np.float32)))
        l1.bias.copy_(nr.tensor(np.zeros(4, np.float32)))
        l2.weight.copy_(nr.tensor(np.ones((1, 4), np.float32)))
        l2.bias.copy_(nr.tensor(np.zeros(1, np.float32)))
    return nn.Sequential(l1, nn.ReLU(), l2)


def test_holds_violated_and_unknown_on_a_small_net() -> None:
    m = _abs_net()
    holds = verify_property(m, (1, 2), parse_vnnlib(_prop(-1, 1, "(assert (>= Y_0 2.001))")),
                            timeout=5)
    assert holds.verdict == "holds" and holds.exit_code == 0
    bad = verify_property(m, (1, 2), parse_vnnlib(_prop(-1, 1, "(assert (>= Y_0 1.9))")),
                          timeout=5)
    assert bad.verdict == "violated" and bad.exit_code == 1 and bad.counterexample
    x, y = bad.counterexample
    assert np.all(np.abs(x) <= 1) and float(np.abs(x).sum()) >= 1.9
    assert float(y[0]) >= 1.9
    # the maximum is exactly 2 at the corners: >= 2 is reached, > 2 is not
    edge = verify_property(m, (1, 2), parse_vnnlib(_prop(-1, 1, "(assert (>= Y_0 2))")),
                           timeout=5)
    assert edge.verdict == "violated"
    strict = verify_property(m, (1, 2), parse_vnnlib(_prop(-1, 1, "(assert (> Y_0 2))")),
                             timeout=0.5)
    assert strict.verdict in ("unknown", "holds")  # never 'violated'


def test_violated_inputs_are_confirmed_by_the_real_network() -> None:
    m = _abs_net()
    r = verify_property(m, (1, 2), parse_vnnlib(_prop(-1, 1, "(assert (<= Y_0 0.001))")),
                        timeout=5)
    assert r.verdict == "violated" and r.counterexample is not None
    x, _ = r.counterexample
    y = m(nr.tensor(x.reshape(1, 2))).detach().numpy()
    assert float(y.reshape(-1)[0]) <= 0.001


@pytest.mark.parametrize("net, prop, expected", [
    ("1_1", 1, "holds"),
    ("1_4", 4, "holds"),
    ("1_7", 3, "violated"),
    ("2_3", 2, "violated"),
])
def test_acasxu_instances(net: str, prop: int, expected: str) -> None:
    d = need_acas()
    path = os.path.join(d, f"ACASXU_run2a_{net}_batch_2000.onnx")
    m = load_acas(path)
    p = read_vnnlib(os.path.join(d, f"prop_{prop}.vnnlib"))
    r = verify_property(m, (1, 5), p, timeout=20)
    assert r.verdict == expected, r
    if expected == "violated":
        assert r.counterexample is not None
        x, _ = r.counterexample
        ort = pytest.importorskip("onnxruntime")
        sess = ort.InferenceSession(path)
        feeds = {sess.get_inputs()[0].name: x.reshape(1, 1, 1, 5).astype(np.float32)}
        for i in sess.get_inputs()[1:]:  # old files list initializers as inputs
            feeds.pop(i.name, None)
        y_ort = np.asarray(sess.run(None, feeds)[0], dtype=np.float64).reshape(-1)
        assert p.unsafe(x, y_ort)  # an independent runtime agrees


def test_cli_verify_onnx_with_vnnlib(capsys: pytest.CaptureFixture[str]) -> None:
    from neurarust.cli import main

    d = need_acas()
    pytest.importorskip("onnx")
    net = os.path.join(d, "ACASXU_run2a_1_1_batch_2000.onnx")
    assert main(["verify", net, "--vnnlib", os.path.join(d, "prop_1.vnnlib"),
                 "--timeout", "20"]) == 0
    assert "holds" in capsys.readouterr().out
    net9 = os.path.join(d, "ACASXU_run2a_1_9_batch_2000.onnx")
    assert main(["verify", net9, "--vnnlib", os.path.join(d, "prop_4.vnnlib")]) == 1
    assert "counterexample x =" in capsys.readouterr().out
    assert main(["verify", net, "--vnnlib", "/nonexistent.vnnlib"]) == 2


def test_a_violation_in_the_second_of_two_cases_is_found_and_checked() -> None:
    m = _abs_net()
    # unsafe: y <= -1 (never: y >= 0) or y >= 1.5 (near the corners)
    text = _prop(-1, 1, "(assert (or (<= Y_0 -1) (>= Y_0 1.5)))")
    r = verify_property(m, (1, 2), parse_vnnlib(text), timeout=5)
    assert r.verdict == "violated" and r.counterexample is not None
    assert float(np.abs(r.counterexample[0]).sum()) >= 1.5 - 1e-6


def test_a_disjunction_over_one_box_is_proven_by_one_search() -> None:
    m = _abs_net()
    text = _prop(-1, 1, "(assert (or (<= Y_0 -0.01) (>= Y_0 2.01)))")
    r = verify_property(m, (1, 2), parse_vnnlib(text), timeout=5)
    assert r.verdict == "holds"


def test_falsification_finds_the_unsafe_corner_of_a_box() -> None:
    from neurarust.verify.falsify import margins, search
    from neurarust.verify.linear_bounds import extract

    net = extract(nr.trace(_abs_net(), {"x": "f32[1, 2]"}))
    lo, hi = np.full(2, -1.0), np.full(2, 1.0)
    c, d = np.array([[-1.0]]), np.array([-1.99])  # unsafe: y >= 1.99, only near corners
    xs = search(net, lo, hi, c, d)
    assert len(xs) > 0 and np.all(margins(net, xs, c, d) <= 1e-6)
    assert np.all(np.abs(xs).sum(axis=1) >= 1.99 - 1e-6)
    assert len(search(net, lo, hi, c, np.array([-2.5]))) == 0  # y <= 2 everywhere
