"""Z3Algebra: rules as z3 terms, obligations, proofs and counterexamples."""

from __future__ import annotations

from typing import Any

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from neurarust.types.algebra import DimAlgebra, Shape
from neurarust.types.dim import Dim
from neurarust.types.errors import RuleViolation, UndecidedShape
from neurarust.types.symbolic import SymbolicAlgebra
from neurarust.types.z3_algebra import ProofResult, Z3Algebra


def matmul_rule(dims: DimAlgebra[Any, Any], a: Shape, b: Shape) -> Shape:
    """A matmul-like rule: batch dims broadcast, inner dims match."""
    dims.require(len(a) >= 2 and len(b) >= 2, "expects inputs with at least 2 dims")
    dims.require(dims.eq(a[-1], b[-2]), "inner dimensions must match", hint="transpose?")
    return dims.broadcast(a[:-2], b[:-2]) + (a[-2], b[-1])


def test_named_dims_are_remembered_with_their_assumption() -> None:
    z = Z3Algebra()
    assert z.dim("B").eq(z.dim("B")) and list(z.symbols) == ["B"]
    assert [str(a) for a in z.assumptions] == ["B >= 1"]
    empty = Z3Algebra(min_size=0)
    empty.dim("B")
    assert [str(a) for a in empty.assumptions] == ["B >= 0"]
    free = Z3Algebra(min_size=None)
    free.dim("B")
    assert free.assumptions == []


def test_proves_associativity_and_reshape_numel() -> None:
    z = Z3Algebra()
    B, T, C = z.shape("B", "T", "C")
    assert z.prove(z.eq(B * T * C, (B * T) * C)).proven
    result = z.prove(z.eq(z.numel([B, T, C]), z.numel([B * T, C])))
    assert result == ProofResult(True, None, "proven")


def test_refutes_a_false_claim_with_a_checked_counterexample() -> None:
    z = Z3Algebra()
    out = Dim.parse("(H - 3)//2 + 1")
    result = z.prove(z.ge(z.from_dim(out), 1))
    assert not result.proven and result.status == "refuted"
    assert result.counterexample is not None and result.counterexample["H"] in (1, 2)
    assert out.evaluate(result.counterexample) < 1  # checked concretely
    assert z.prove(z.ge(z.from_dim(out), 1), [z.ge(z.dim("H"), 3)]).proven


def test_ints_dims_and_terms_mix_everywhere() -> None:
    z = Z3Algebra()
    B = z.dim("B")
    assert z.prove(z.eq(Dim.sym("B") * 2, B + B)).proven
    assert z.prove(z.eq(z.select(z.eq(B, 1), 1, Dim.sym("B")), B)).proven
    assert z.prove(z.eq(z.numel([2, Dim.parse("B*3"), B]), 6 * B * B)).proven
    assert z.prove(z.and_(True, z.le(1, B))).proven
    assert not z.prove(z.or_(False, z.eq(B, 1))).proven
    first, second = z.broadcast((B, 1), (1, 3))
    assert z.prove(z.and_(z.eq(first, B), z.eq(second, 3))).proven
    with pytest.raises(TypeError, match="expected a z3 Int term, a Dim or an int"):
        z.term(1.5)  # type: ignore[arg-type]


def test_require_records_obligations_and_prove_all_reports_each() -> None:
    z = Z3Algebra()
    N, M = z.shape("N", "M")
    z.require(True, "trivial")
    z.require(z.eq(N, N), "literally true")
    z.require(z.le(1, N), "holds under N >= 1")
    z.require(z.eq(N, M), "must match", hint="transpose?")
    assert [o.message for o in z.obligations] == ["holds under N >= 1", "must match"]
    proven, refuted = z.prove_all()
    assert proven.proven and not refuted.proven
    assert refuted.obligation is not None and refuted.obligation.hint == "transpose?"
    cex = refuted.counterexample
    assert cex is not None and set(cex) == {"N", "M"} and cex["N"] != cex["M"]
    assert "refuted: must match" in str(refuted) and "counterexample" in str(refuted)
    assert all(r.proven for r in z.prove_all([z.eq(N, M)]))
    with pytest.raises(RuleViolation, match="expects 2-D"):
        z.require(False, "expects 2-D")


def test_decide_uses_the_assumptions() -> None:
    z = Z3Algebra()
    B = z.dim("B")
    assert z.decide(z.ge(B, 1), "size") is True
    assert z.decide(z.eq(B, 0), "size") is False
    with pytest.raises(UndecidedShape, match="squeeze"):
        z.decide(z.eq(B, 1), "squeeze")


def test_floordiv_and_mod_record_a_nonzero_divisor() -> None:
    z = Z3Algebra()
    H, K = z.shape("H", "K")
    z.floordiv(H, 2)
    assert z.obligations == []
    z.mod(H, K)
    assert [o.message for o in z.obligations] == ["modulo of a dim by zero"]
    assert z.prove_all()[0].proven  # K >= 1 is assumed
    z.floordiv(H, 0)
    assert not z.prove_all()[-1].proven


@settings(max_examples=150, deadline=None)
@given(st.integers(-20, 20), st.integers(-6, 6).filter(bool), st.booleans())
def test_floordiv_and_mod_follow_python(a: int, b: int, literal: bool) -> None:
    z = Z3Algebra(min_size=None)
    x, y = z.dim("x"), z.dim("y")
    divisor = z3.IntVal(b) if literal else y
    facts = [x == a, y == b]
    assert z.prove(z.eq(z.floordiv(x, divisor), a // b), facts).proven
    assert z.prove(z.eq(z.mod(x, divisor), a % b), facts).proven


def test_from_dim_and_from_cond_agree_with_evaluation() -> None:
    z = Z3Algebra()
    d = Dim.parse("(H - 3)//2 + 1 + max(B, 4) + T % 3")
    env = {"H": 10, "B": 2, "T": 8}
    facts = [z.dim(n) == v for n, v in env.items()]
    assert z.prove(z.eq(z.from_dim(d), d.evaluate(env)), facts).proven
    assert z.prove(z.eq(z.from_dim(Dim.parse("(B*T)//T")), z.dim("B"))).proven


def test_symbolic_pending_conditions_become_z3_obligations() -> None:
    symbolic = SymbolicAlgebra()
    N, M = Dim.sym("N"), Dim.sym("M")
    symbolic.broadcast((N,), (M,))
    (pending,) = symbolic.pending
    z = Z3Algebra()
    result = z.prove(z.from_cond(pending.condition))
    assert not result.proven and result.counterexample is not None
    assert pending.condition.evaluate(result.counterexample) is False
    assert z.prove(z.from_cond(pending.condition), [z.eq(N, M)]).proven


def test_matmul_rule_in_the_z3_algebra() -> None:
    z = Z3Algebra()
    B, T, C, N, K = z.shape("B", "T", "C", "N", "K")
    out = matmul_rule(z, (B, T, C), (C, 4))
    assert len(out) == 3 and z.prove(z.and_(z.eq(out[0], B), z.eq(out[2], 4))).proven
    assert all(r.proven for r in z.prove_all())
    matmul_rule(z, (B, N, K), z.shape("M", 4))
    failed = [r for r in z.prove_all() if not r.proven]
    assert [r.obligation.message for r in failed if r.obligation] == [
        "inner dimensions must match"
    ]
    assert failed[0].counterexample is not None
    assert failed[0].counterexample["K"] != failed[0].counterexample["M"]
