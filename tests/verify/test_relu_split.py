"""ReLU-split branch and bound with LP leaves: verdicts against an exact MILP (scipy's HiGHS,
big-M encoding of every ReLU, float64), violations re-run on the float32 network, a property
the linear relaxation alone cannot prove, and ACAS Xu agreement with input splitting."""

from __future__ import annotations

import os

import numpy as np
import pytest

import neurarust as nr
from neurarust import nn
from neurarust.trace import trace
from neurarust.verify.bab import verify_property
from neurarust.verify.linear_bounds import crown_bounds, extract, ibp_bounds
from neurarust.verify.vnnlib import Case, Property, read_vnnlib

from .acasxu_helpers import load_acas, need_acas

pytest.importorskip("scipy")

Weights = list[tuple[np.ndarray, np.ndarray]]


def _net(sizes: list[int], seed: int) -> tuple[nn.Sequential, Weights]:
    rng = np.random.default_rng(seed)
    layers: list[nn.Module] = []
    ws: Weights = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(a, b)
        w = (rng.standard_normal((b, a)) / np.sqrt(a)).astype(np.float32)
        bias = (0.3 * rng.standard_normal(b)).astype(np.float32)
        with nr.no_grad():
            lin.weight.copy_(nr.tensor(w))
            lin.bias.copy_(nr.tensor(bias))
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
        ws.append((w.astype(np.float64), bias.astype(np.float64)))
    return nn.Sequential(*layers), ws


def _milp_min(ws: Weights, lo: np.ndarray, hi: np.ndarray, c: np.ndarray) -> float:
    """The exact minimum of ``c . y`` over the box (float64 network): a MILP with one binary
    per ReLU (``a >= z``, ``a <= M d``, ``a <= z - m (1 - d)``, interval bounds ``m``, ``M``)."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    n_in = len(lo)
    lb, ub, integ = list(lo), list(hi), [0] * n_in
    rows: list[dict[int, float]] = []
    rlo: list[float] = []
    rhi: list[float] = []
    prev, pl, pu = list(range(n_in)), lo, hi
    nvar = n_in
    for w, b in ws[:-1]:
        n = w.shape[0]
        mid, rad = (pl + pu) / 2, (pu - pl) / 2
        zl = w @ mid + b - np.abs(w) @ rad - 1e-6
        zu = w @ mid + b + np.abs(w) @ rad + 1e-6
        z, a, dl = (list(range(nvar + i * n, nvar + (i + 1) * n)) for i in range(3))
        nvar += 3 * n
        lb += [*zl, *([0.0] * n), *([0.0] * n)]
        ub += [*zu, *np.maximum(zu, 0), *([1.0] * n)]
        integ += [0] * (2 * n) + [1] * n
        for i in range(n):
            row = {z[i]: 1.0}
            for j, p in enumerate(prev):
                row[p] = row.get(p, 0.0) - w[i, j]
            rows += [row, {a[i]: 1.0, z[i]: -1.0}, {a[i]: 1.0, dl[i]: -max(zu[i], 0.0)},
                     {a[i]: 1.0, z[i]: -1.0, dl[i]: -min(zl[i], 0.0)}]
            rlo += [b[i], 0.0, -np.inf, -np.inf]
            rhi += [b[i], np.inf, 0.0, -min(zl[i], 0.0)]
        prev, pl, pu = a, np.maximum(zl, 0), np.maximum(zu, 0)
    w, b = ws[-1]
    obj = np.zeros(nvar)
    obj[prev] += c @ w
    mat = np.zeros((len(rows), nvar))
    for r, row in enumerate(rows):
        for k, v in row.items():
            mat[r, k] = v
    res = milp(obj, constraints=LinearConstraint(mat, rlo, rhi), integrality=integ,
               bounds=Bounds(lb, ub), options={"mip_rel_gap": 1e-9})
    assert res.status == 0, res.message
    return float(res.fun + c @ b)


def _instance(sizes: list[int], seed: int) -> tuple[nn.Sequential, np.ndarray, np.ndarray,
                                                   np.ndarray, float, float]:
    """A random net, box and row ``c`` (y0 - y1), the MILP minimum and the output spread."""
    m, ws = _net(sizes, seed)
    rng = np.random.default_rng(1000 + seed)
    centre, radius = rng.uniform(-1, 1, sizes[0]), rng.uniform(0.05, 0.35, sizes[0])
    lo = (centre - radius).astype(np.float32).astype(np.float64)
    hi = (centre + radius).astype(np.float32).astype(np.float64)
    c = np.zeros((1, sizes[-1]))
    c[0, 0], c[0, 1] = 1.0, -1.0
    ys = m(nr.tensor(rng.uniform(lo, hi, (200, sizes[0])).astype(np.float32))).detach()
    spread = float(np.ptp(ys.numpy().astype(np.float64) @ c[0])) + 1e-3
    return m, lo, hi, c, _milp_min(ws, lo, hi, c[0]), spread


def _prop(lo: np.ndarray, hi: np.ndarray, c: np.ndarray, d: float) -> Property:
    return Property(len(lo), c.shape[1], (Case(lo, hi, c, np.array([d]), (False,)),))


@pytest.mark.parametrize("sizes, seeds", [([6, 16, 16, 3], range(4)),
                                          ([20, 12, 12, 2], range(4))])
def test_verdicts_agree_with_an_exact_milp(sizes: list[int], seeds: range) -> None:
    for seed in seeds:
        m, lo, hi, c, exact, spread = _instance(sizes, seed)
        for side in (1.0, -1.0):  # d above the minimum: violated; below: holds
            d = exact + side * (0.01 + 0.01 * seed) * spread
            r = verify_property(m, (1, sizes[0]), _prop(lo, hi, c, d), timeout=20,
                                split="relu")
            expected = "violated" if side > 0 else "holds"
            assert r.verdict == expected, (sizes, seed, side, exact, d, r)
            if r.verdict == "violated":
                assert r.counterexample is not None
                x, _ = r.counterexample
                assert np.all(x >= lo) and np.all(x <= hi)
                y = m(nr.tensor(x.reshape(1, -1))).detach().numpy().reshape(-1)
                assert float(c[0] @ y.astype(np.float64)) <= d  # the float32 network


def test_a_property_the_relaxation_alone_cannot_prove() -> None:
    sizes = [20, 12, 12, 2]
    m, lo, hi, c, exact, spread = _instance(sizes, 1)
    d = exact - 0.01 * spread
    net = extract(trace(m, {"x": "f32[1, 20]"}))
    assert crown_bounds(net, lo, hi, c)[0][0, 0] <= d  # neither CROWN nor intervals prove it
    assert float((ibp_bounds(net, lo, hi)[0] @ np.maximum(c[0], 0))[0]
                 + (ibp_bounds(net, lo, hi)[1] @ np.minimum(c[0], 0))[0]) <= d
    r = verify_property(m, (1, 20), _prop(lo, hi, c, d), timeout=20, split="relu")
    assert r.verdict == "holds" and r.boxes > 1, r


def test_split_is_checked() -> None:
    m, lo, hi, c, exact, _ = _instance([6, 16, 16, 3], 0)
    with pytest.raises(ValueError, match="split must be"):
        verify_property(m, (1, 6), _prop(lo, hi, c, exact - 1), split="neuron")


def test_acasxu_relu_split_agrees_with_input_split() -> None:
    d = need_acas()
    m = load_acas(os.path.join(d, "ACASXU_run2a_1_7_batch_2000.onnx"))
    p = read_vnnlib(os.path.join(d, "prop_3.vnnlib"))
    relu = verify_property(m, (1, 5), p, timeout=20, split="relu")
    inp = verify_property(m, (1, 5), p, timeout=20, split="input")
    assert relu.verdict == inp.verdict == "violated", (relu, inp)


def test_the_search_alone_finds_checked_violations_and_proofs() -> None:
    """Without the attack that runs first in verify_net: the LP minimisers and bound corners of
    the ReLU-split search itself decide the property, every violation run in float32."""
    from neurarust.verify.relu_split import ReluSplitSearch

    sizes = [6, 16, 16, 3]
    for seed in range(3):
        m, lo, hi, c, exact, spread = _instance(sizes, seed)
        net = extract(trace(m, {"x": "f32[1, 6]"}))

        def run(x: np.ndarray) -> np.ndarray:
            return np.asarray(m(nr.tensor(x.astype(np.float32))).detach().numpy(), np.float64)

        for side in (1.0, -1.0):
            d = exact + side * 0.02 * spread
            case = _prop(lo, hi, c, d).cases[0]
            search = ReluSplitSearch(net, [run], [case], 64, "hybrid", 0)
            result = None
            for _ in range(2000):
                result = search.step()
                if result is not None or not search.stack:
                    break
            if side > 0:
                assert result is not None and result.verdict == "violated", (seed, result)
                assert result.counterexample is not None
                x, _ = result.counterexample
                y = run(x.reshape(1, -1))[0]
                assert case.unsafe(x, y)
            else:
                assert result is None and not search.stack, (seed, result)
                assert search.lps > 0 or search.count > 0


def test_cli_split_option(tmp_path: os.PathLike[str]) -> None:
    pytest.importorskip("onnx")
    from neurarust.cli import main

    m, lo, hi, c, exact, spread = _instance([20, 12, 12, 2], 1)
    net = os.path.join(str(tmp_path), "net.onnx")
    nr.onnx.export(m, {"x": "f32[1, 20]"}, net)
    decl = "".join(f"(declare-const X_{i} Real)" for i in range(20))
    decl += "(declare-const Y_0 Real)(declare-const Y_1 Real)"
    box = "".join(f"(assert (>= X_{i} {float(lo[i])!r}))(assert (<= X_{i} {float(hi[i])!r}))"
                  for i in range(20))
    for d, code in ((exact - 0.01 * spread, 0), (exact + 0.02 * spread, 1)):
        prop = os.path.join(str(tmp_path), "prop.vnnlib")
        with open(prop, "w") as f:
            f.write(decl + box + f"(assert (<= (- Y_0 Y_1) {float(d)!r}))")
        assert main(["verify", net, "--vnnlib", prop, "--split", "relu", "--timeout",
                     "20"]) == code
