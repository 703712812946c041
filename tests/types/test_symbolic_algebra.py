"""SymbolicAlgebra: rules written against DimAlgebra, evaluated on Dims.

The rules here are small inline rules (matmul-like, conv-like); the registry's own ops are
checked in all three algebras by the op tests.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurarust.types.algebra import CONCRETE, DimAlgebra, Shape
from neurarust.types.cond import Cond
from neurarust.types.dim import Dim
from neurarust.types.errors import RuleViolation, UndecidedShape
from neurarust.types.symbolic import Obligation, SymbolicAlgebra

B, T, C, H, N, M, K = (Dim.sym(name) for name in ("B", "T", "C", "H", "N", "M", "K"))


def matmul_rule(dims: DimAlgebra[Any, Any], a: Shape, b: Shape) -> Shape:
    """A matmul-like rule: batch dims broadcast, inner dims match."""
    dims.require(len(a) >= 2 and len(b) >= 2, "expects inputs with at least 2 dims")
    dims.require(dims.eq(a[-1], b[-2]), "inner dimensions must match", hint="transpose?")
    return dims.broadcast(a[:-2], b[:-2]) + (a[-2], b[-1])


def conv_rule(dims: DimAlgebra[Any, Any], x: Shape, kernel: int, stride: int, pad: int) -> Shape:
    """A conv1d-like rule on (B, C, L): output length floor((L + 2p - k) / s) + 1."""
    (b, c, length) = x
    out = dims.floordiv(length + 2 * pad - kernel, stride) + 1
    dims.require(dims.ge(out, 1), "input is too short for the kernel", hint=f"kernel {kernel}")
    return (b, c, out)


# -- broadcasting ---------------------------------------------------------------------------------
def test_broadcast_of_unrelated_dims_leaves_an_obligation() -> None:
    dims = SymbolicAlgebra()
    (out,) = dims.broadcast((N,), (M,))
    assert [str(o.condition) for o in dims.pending] == ["N == M or N == 1 or M == 1"]
    assert dims.pending[0].message == "shapes are not broadcastable"
    assert out.evaluate({"N": 5, "M": 1}) == 5 and out.evaluate({"N": 1, "M": 7}) == 7


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ((B,), (1,), (B,)),
        ((1,), (B,), (B,)),
        ((B,), (B,), (B,)),
        ((B, T, C), (C,), (B, T, C)),
        ((B, 1, C), (T, 1), (B, T, C)),
        ((3, 1), (4,), (3, 4)),
        ((), (B, 2), (B, 2)),
    ],
)
def test_broadcast_decided_cases(a: Shape, b: Shape, expected: Shape) -> None:
    dims = SymbolicAlgebra()
    assert dims.broadcast(a, b) == expected
    assert dims.pending == []


def test_broadcast_of_mismatched_constants_raises_with_the_condition() -> None:
    with pytest.raises(RuleViolation, match="shapes are not broadcastable") as info:
        SymbolicAlgebra().broadcast((B, 3), (4,))
    assert info.value.detail == "expected 3 == 4 or 3 == 1 or 4 == 1"
    assert info.value.hint == "dimension -1 must be equal on both sides or 1 on one side"


# -- require / decide / select ----------------------------------------------------------------------
def test_require_raises_keeps_or_drops() -> None:
    dims = SymbolicAlgebra()
    dims.require(True, "fine")
    dims.require(dims.eq(B * T, T * B), "fine too")
    dims.require(dims.eq(N, M), "must match", hint="try .T")
    assert dims.pending == [Obligation(N.eq(M), "must match", "try .T")]
    with pytest.raises(RuleViolation, match="expects 2-D") as info:
        dims.require(False, "expects 2-D", hint="use matmul")
    assert info.value.hint == "use matmul" and info.value.detail is None
    with pytest.raises(RuleViolation) as info:
        dims.require(dims.eq(B + 1, B), "off by one")
    assert info.value.detail == "expected B + 1 == B"


def test_decide_answers_or_raises_undecided() -> None:
    dims = SymbolicAlgebra()
    assert dims.decide(dims.eq(Dim.const(1), 1), "squeeze") is True
    assert dims.decide(dims.lt(B, 0), "sign") is False
    with pytest.raises(UndecidedShape, match="squeeze: is dim 0 of size 1.*B == 1"):
        dims.decide(dims.eq(B, 1), "squeeze: is dim 0 of size 1?")


def test_select_decides_simplifies_or_stays_opaque() -> None:
    dims = SymbolicAlgebra()
    assert dims.select(True, B, 3) == B and dims.select(dims.eq(3, 4), B, 3) == 3
    assert dims.select(dims.eq(N, M), B, B) == B
    assert dims.select(dims.eq(B, 1), 1, B) == B  # both branches agree where B == 1
    assert dims.select(dims.ne(B, 1), B, 1) == B
    opaque = dims.select(dims.eq(N, 1), M, N)
    assert str(opaque) == "select(N == 1, M, N)"
    assert opaque == dims.select(dims.ne(N, 1), N, M)
    assert opaque.evaluate({"N": 1, "M": 6}) == 6 and opaque.evaluate({"N": 2, "M": 6}) == 2


def test_min_max_and_numel() -> None:
    dims = SymbolicAlgebra()
    assert dims.min(B, B + 1) == B and dims.max(B, B + 1) == B + 1
    assert dims.min(B, 0) == 0 and dims.max(0, B) == B
    assert str(dims.min(N, M)) == "min(M, N)" and dims.min(N, M) == dims.min(M, N)
    assert dims.numel([B, 3, T]) == 3 * B * T and dims.numel([]) == 1


def test_division_by_zero_is_an_error_or_an_obligation() -> None:
    dims = SymbolicAlgebra()
    assert dims.floordiv(2 * H + 4, 2) == H + 2 and dims.mod(2 * H + 5, 2) == 1
    assert dims.pending == []
    with pytest.raises(RuleViolation, match="division of a dim by zero") as info:
        dims.floordiv(H, B - B)
    assert info.value.detail == "H // 0"
    with pytest.raises(RuleViolation, match="modulo of a dim by zero"):
        dims.mod(H, 0)
    assert str(dims.floordiv(H, K)) == "H//K"
    assert [str(o) for o in dims.pending] == ["division of a dim by zero: requires K != 0"]
    sized = SymbolicAlgebra(facts=[K.ge(1)])
    sized.mod(H, K)
    assert sized.pending == []


def test_facts_settle_requirements() -> None:
    dims = SymbolicAlgebra(facts=[H.ge(3), N.eq(M)])
    assert conv_rule(dims, (B, C, H), kernel=3, stride=2, pad=0) == (B, C, (H - 3) // 2 + 1)
    dims.broadcast((N,), (M,))
    assert dims.pending == []


def test_shape_helper_parses() -> None:
    assert SymbolicAlgebra().shape("B", "T*C", 784) == (B, T * C, Dim.const(784))


# -- inline rules ------------------------------------------------------------------------------------
def test_matmul_rule_in_the_symbolic_algebra() -> None:
    dims = SymbolicAlgebra()
    assert matmul_rule(dims, (B, T, C), (C, 4)) == (B, T, 4)
    assert dims.pending == []
    assert matmul_rule(dims, (B, N, K), (M, 4)) == (B, N, 4)
    assert [str(o.condition) for o in dims.pending] == ["K == M"]
    with pytest.raises(RuleViolation, match="inner dimensions must match") as info:
        matmul_rule(dims, (B, 784), (100, 10))
    assert info.value.detail == "expected 784 == 100" and info.value.hint == "transpose?"
    with pytest.raises(RuleViolation, match="at least 2 dims"):
        matmul_rule(dims, (B,), (B, 3))


def test_conv_rule_in_the_symbolic_algebra() -> None:
    dims = SymbolicAlgebra()
    assert conv_rule(dims, (B, C, H), kernel=3, stride=2, pad=1) == (B, C, (H - 1) // 2 + 1)
    assert [str(o.condition) for o in dims.pending] == ["(H - 1)//2 + 1 >= 1"]
    with pytest.raises(RuleViolation, match="too short"):
        conv_rule(dims, (B, C, 2), kernel=5, stride=1, pad=0)


# -- agreement with the concrete algebra at random sizes -------------------------------------------
POOL = ("B", "T", "N", "M")
sym_dims = st.one_of(st.integers(1, 4), st.sampled_from(POOL).map(Dim.sym))
sym_shapes = st.lists(sym_dims, max_size=4).map(tuple)
sizes = st.fixed_dictionaries({n: st.integers(1, 4) for n in POOL})


def _concrete(shape: Shape, env: dict[str, int]) -> tuple[int, ...]:
    return tuple(Dim.of(d).evaluate(env) for d in shape)


def _agree(rule: Any, shapes: tuple[Shape, ...], env: dict[str, int]) -> None:
    """The symbolic run, evaluated at ``env``, agrees with the concrete run at those sizes."""
    dims = SymbolicAlgebra()
    try:
        symbolic_out: Shape | None = rule(dims, *shapes)
    except RuleViolation:
        symbolic_out = None
    try:
        concrete_out: Shape | None = rule(CONCRETE, *(_concrete(s, env) for s in shapes))
    except RuleViolation:
        concrete_out = None
    if symbolic_out is None:  # a static error must be an error at every size
        assert concrete_out is None
        return
    holds = all(o.condition.evaluate(env) for o in dims.pending)
    assert holds == (concrete_out is not None)
    if concrete_out is not None:
        assert _concrete(symbolic_out, env) == concrete_out


@settings(max_examples=300, deadline=None)
@given(sym_shapes, sym_shapes, sizes)
def test_symbolic_broadcast_agrees_with_concrete(a: Shape, b: Shape, env: dict[str, int]) -> None:
    _agree(lambda dims, x, y: dims.broadcast(x, y), (a, b), env)


@settings(max_examples=300, deadline=None)
@given(sym_shapes, sym_shapes, sizes)
def test_symbolic_matmul_rule_agrees_with_concrete(
    a: Shape, b: Shape, env: dict[str, int]
) -> None:
    _agree(matmul_rule, (a, b), env)


@settings(max_examples=200, deadline=None)
@given(sym_dims, st.integers(1, 5), st.integers(1, 3), st.integers(0, 2), sizes)
def test_symbolic_conv_rule_agrees_with_concrete(
    length: Any, kernel: int, stride: int, pad: int, env: dict[str, int]
) -> None:
    _agree(lambda dims, x: conv_rule(dims, x, kernel, stride, pad), ((B, 3, length),), env)


def test_pending_conditions_are_conds() -> None:
    dims = SymbolicAlgebra()
    dims.broadcast((N, T), (M, 1))
    assert all(isinstance(o.condition, Cond) for o in dims.pending)
