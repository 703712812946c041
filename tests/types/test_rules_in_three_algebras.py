"""One shape rule, three readers: the registry's real rules (matmul, broadcasting, reshape,
conv2d) evaluated with ints, with symbolic ``Dim``s and with z3 terms.

This is the design's central claim: a rule is written once against the dimension algebra,
and eager mode, the mypy plugin (symbolic) and the verifier (z3) all read the same rule.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import neurarust as nr
from neurarust.ops import get
from neurarust.types.algebra import CONCRETE
from neurarust.types.dim import Dim
from neurarust.types.errors import RuleViolation
from neurarust.types.symbolic import SymbolicAlgebra

z3 = pytest.importorskip("z3")
from neurarust.types.z3_algebra import Z3Algebra  # noqa: E402

CONV_ATTRS: dict[str, Any] = dict(stride=(2, 2), padding=((0, 0), (0, 0)), dilation=(1, 1),
                                  groups=1)


def _evaluate(shape: tuple[Any, ...], bindings: dict[str, int]) -> tuple[int, ...]:
    return tuple(Dim.of(d).evaluate(bindings) for d in shape)


# -- the same rule in all three algebras -------------------------------------------------------
def test_matmul_rule_in_three_algebras() -> None:
    rule = get("matmul").shape
    assert rule(CONCRETE, (32, 784), (784, 10)) == (32, 10)
    sym = SymbolicAlgebra()
    B = Dim.sym("B")
    assert rule(sym, (B, 784), (784, 10)) == (B, 10)
    assert sym.pending == []
    with pytest.raises(RuleViolation, match="inner dimensions must match"):
        rule(sym, (B, 784), (128, 10))  # provably false: a static error
    z = Z3Algebra()
    K, K2 = z.dim("K"), z.dim("K2")
    out = rule(z, (z.dim("B"), K), (K2, 10))
    assert len(out) == 2
    results = z.prove_all()
    assert any(not r.proven for r in results)  # K == K2 does not hold for all sizes
    cex = next(r.counterexample for r in results if not r.proven)
    assert cex is not None and cex["K"] != cex["K2"]
    with pytest.raises(nr.ShapeError):  # the counterexample reproduces at run time
        nr.zeros(cex["B"], cex["K"]) @ nr.zeros(cex["K2"], 10)


def test_broadcast_rule_in_three_algebras() -> None:
    rule = get("add").shape
    assert rule(CONCRETE, (8, 1, 5), (3, 1)) == (8, 3, 5)
    sym = SymbolicAlgebra()
    N, M = Dim.sym("N"), Dim.sym("M")
    assert rule(sym, (N, 1), (1, 5)) == (N, 5)
    rule(sym, (N,), (M,))  # undecided: a condition, not an error
    assert [str(p.condition) for p in sym.pending] == ["N == M or N == 1 or M == 1"]
    z = Z3Algebra()
    rule(z, (z.dim("N"),), (z.dim("M"),))
    (result,) = z.prove_all()
    assert not result.proven
    n, m = result.counterexample["N"], result.counterexample["M"]
    assert n != m and n != 1 and m != 1
    with pytest.raises(nr.ShapeError, match="add: shapes are not broadcastable"):
        nr.zeros(n) + nr.zeros(m)
    z2 = Z3Algebra()
    rule(z2, (z2.dim("N"), 1), (1, z2.dim("N")))
    assert all(r.proven for r in z2.prove_all())


def test_reshape_rule_proven_for_all_sizes_by_z3() -> None:
    rule = get("reshape").shape
    z = Z3Algebra()
    B, T, C = z.dim("B"), z.dim("T"), z.dim("C")
    out = rule(z, (B, T, C), shape=(B * T, C))
    assert len(out) == 2
    # z3 discharges the element-count requirement (trivial ones it simplifies away itself).
    assert all(r.proven for r in z.prove_all())
    claim = z.eq(z.numel((B, T, C)), z.numel(out))
    assert z.prove(claim).proven  # valid for all B, T, C >= 1
    z_inferred = Z3Algebra()
    B2, T2, C2 = z_inferred.dim("B"), z_inferred.dim("T"), z_inferred.dim("C")
    rule(z_inferred, (B2, T2, C2), shape=(-1, C2))
    assert all(r.proven for r in z_inferred.prove_all())
    sym = SymbolicAlgebra()
    Bs, Ts, Cs = Dim.sym("B"), Dim.sym("T"), Dim.sym("C")
    assert rule(sym, (Bs, Ts, Cs), shape=(-1, Cs)) == (Bs * Ts, Cs)


def test_reshape_rule_refuted_with_a_counterexample() -> None:
    rule = get("reshape").shape
    z = Z3Algebra()
    B, T = z.dim("B"), z.dim("T")
    rule(z, (B, T, 64), shape=(B, -1, 128))  # needs T*64 % 128 == 0: false for odd T
    bad = [r for r in z.prove_all() if not r.proven]
    assert bad
    cex = bad[0].counterexample
    assert cex is not None and (cex["T"] * 64) % 128 != 0
    with pytest.raises(nr.ShapeError, match="reshape: number of elements must be divisible"):
        nr.zeros(cex["B"], cex["T"], 64).reshape(cex["B"], -1, 128)


def test_conv2d_rule_in_three_algebras_with_counterexample() -> None:
    rule = get("conv2d").shape
    w = (16, 3, 3, 3)
    assert rule(CONCRETE, (8, 3, 28, 28), w, **CONV_ATTRS) == (8, 16, 13, 13)
    sym = SymbolicAlgebra()
    B, H, W = Dim.sym("B"), Dim.sym("H"), Dim.sym("W")
    out = rule(sym, (B, 3, H, W), w, **CONV_ATTRS)
    assert out[:2] == (B, 16)
    assert _evaluate(out, {"B": 8, "H": 28, "W": 28}) == (8, 16, 13, 13)
    z = Z3Algebra()
    zH = z.dim("H")
    rule(z, (z.dim("B"), 3, zH, zH), w, **CONV_ATTRS)
    refuted = [r for r in z.prove_all() if not r.proven]
    assert refuted, "a 3x3 kernel does not fit every H >= 1"
    h = refuted[0].counterexample["H"]
    assert h in (1, 2)
    with pytest.raises(nr.ShapeError, match="conv2d: the output size must be at least 1"):
        nr.conv2d(nr.zeros(1, 3, h, h), nr.zeros(*w), stride=2)
    proven = Z3Algebra()
    Hp = proven.dim("H")
    rule(proven, (1, 3, Hp, Hp), w, **CONV_ATTRS)
    assumptions = [Hp >= 3]
    assert all(r.proven for r in proven.prove_all(assumptions))


# -- properties: symbolic at random sizes == concrete == the kernel's real output ---------------
@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5), st.integers(1, 5),
       st.sampled_from([(2, 1), (1, 2), (2, 2), (3, 3)]))
def test_conv2d_symbolic_concrete_and_kernel_agree(
    b: int, c: int, h: int, w: int, ks: tuple[int, int]
) -> None:
    rule = get("conv2d").shape
    attrs: dict[str, Any] = dict(stride=(1, 1), padding=((1, 1), (0, 0)), dilation=(1, 1),
                                 groups=1)
    weight = (4, c) + ks
    sym_out = rule(SymbolicAlgebra(), (Dim.sym("B"), c, Dim.sym("H"), Dim.sym("W")), weight,
                   **attrs)
    try:
        concrete = rule(CONCRETE, (b, c, h, w), weight, **attrs)
    except RuleViolation:
        with pytest.raises(nr.ShapeError):
            nr.conv2d(nr.zeros(b, c, h, w), nr.zeros(*weight), padding=(1, 0))
        return
    assert _evaluate(sym_out, {"B": b, "H": h, "W": w}) == concrete
    assert nr.conv2d(nr.zeros(b, c, h, w), nr.zeros(*weight), padding=(1, 0)).shape == concrete


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=0, max_size=4),
       st.lists(st.integers(1, 4), min_size=0, max_size=4))
def test_broadcast_symbolic_concrete_and_kernel_agree(a: list[int], b: list[int]) -> None:
    rule = get("add").shape
    names_a = [Dim.sym(f"a{i}") for i in range(len(a))]
    names_b = [Dim.sym(f"b{i}") for i in range(len(b))]
    bindings = {f"a{i}": v for i, v in enumerate(a)} | {f"b{i}": v for i, v in enumerate(b)}
    sym = SymbolicAlgebra()
    sym_out = rule(sym, tuple(names_a), tuple(names_b))
    holds = all(p.condition.evaluate(bindings) for p in sym.pending)
    try:
        concrete = rule(CONCRETE, tuple(a), tuple(b))
    except RuleViolation:
        assert not holds
        with pytest.raises(nr.ShapeError):
            nr.zeros(*a) + nr.zeros(*b)
        return
    assert holds
    assert _evaluate(sym_out, bindings) == concrete
    assert (nr.zeros(*a) + nr.zeros(*b)).shape == concrete == np.broadcast_shapes(tuple(a), tuple(b))
