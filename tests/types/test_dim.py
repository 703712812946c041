"""Dim: normal form, printing, parsing, evaluation; Cond: printing and deciding."""

from __future__ import annotations

import operator
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from neurarust.types.cond import DIM_TERMS, Cond
from neurarust.types.dim import Dim

B, T, C, H, N, M = (Dim.sym(name) for name in ("B", "T", "C", "H", "N", "M"))
NAMES = ("B", "T", "C", "H")


# -- normal form -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "left, right",
    [
        (B * T, T * B),
        ((B + 1) * 2, 2 * B + 2),
        ((B * T) // T, B),
        ((2 * B) // 2, B),
        ((4 * B + 2) // 2, 2 * B + 1),
        ((2 * B) % 2, Dim.const(0)),
        ((B * T * 6) // (3 * T), 2 * B),
        (Dim.const(7) // 2 + Dim.const(7) % 2, Dim.const(4)),
        (B - B, Dim.const(0)),
        ((B + 1) ** 2, B * B + 2 * B + 1),
        ((2 * B + 2) // (B + 1), Dim.const(2)),
        ((2 * H) // 4, H // 2),
        ((B * T) // (B * H), T // H),
        (B // -2, (-B) // 2),
    ],
)
def test_normal_form_identifies_equal_expressions(left: Dim, right: Dim) -> None:
    assert left == right
    assert hash(left) == hash(right)


@pytest.mark.parametrize(
    "dim, text",
    [
        (B * T, "B*T"),
        (C // 2, "C//2"),
        (H + 2, "H + 2"),
        (2 * B + 1, "2*B + 1"),
        ((H - 3) // 2 + 1, "(H - 3)//2 + 1"),
        (1 - B, "-B + 1"),
        (2 * (H // 2), "2*(H//2)"),
        (H // (2 * T), "H//(2*T)"),
        (H % 3, "H % 3"),
        (B * B * 3, "3*B**2"),
        (DIM_TERMS.min(N, M), "min(M, N)"),
        (Dim.const(0), "0"),
        (Dim.const(-4), "-4"),
    ],
)
def test_str_is_readable_and_stable(dim: Dim, text: str) -> None:
    assert str(dim) == text
    assert Dim.parse(text) == dim


@pytest.mark.parametrize("text", ["B", "T*C", "C//2", "H+2", "2*B+1", "(H-3)//2+1", "max(B, 2)"])
def test_parse_round_trips_through_str(text: str) -> None:
    d = Dim.parse(text)
    assert Dim.parse(str(d)) == d
    assert Dim(text) == d


@pytest.mark.parametrize("text", ["B / 2", "B.shape", "f(B)", "1.5", "B +", "B < 2", "True"])
def test_parse_rejects_what_is_not_a_dim_expression(text: str) -> None:
    with pytest.raises(ValueError, match="cannot parse dim"):
        Dim.parse(text)


def test_ints_mix_with_dims_both_ways() -> None:
    assert 3 * B == B * 3
    assert str(B + 1) == "B + 1" and str(1 + B) == "B + 1"
    assert str(10 - B) == "-B + 10"
    assert (12 // Dim.const(5)) == 2 and (12 % Dim.const(5)) == 2
    assert str(7 // B) == "7//B"


def test_structural_identity_works_in_sets_dicts_and_in() -> None:
    shapes = {(B, T * C): "a", (B, C * T): "b"}
    assert len(shapes) == 1
    assert B * T in [T * B]
    assert Dim.const(3) == 3 and hash(Dim.const(3)) == hash(3)
    mixed: tuple[Dim | int, ...] = (3, B)
    assert mixed == (Dim.const(3), B)
    assert B != T  # structural: different expressions, whatever their values


def test_constant_and_symbolic_conversions() -> None:
    assert int(Dim.const(5)) == 5 and Dim.const(5).as_int() == 5 and Dim.const(5).is_constant
    assert list(range(Dim.const(3))) == [0, 1, 2]
    with pytest.raises(ValueError, match="dim B is not a constant"):
        B.as_int()
    with pytest.raises(TypeError, match="dims.require"):
        bool(B)
    with pytest.raises(ValueError, match="identifier"):
        Dim.sym("2B")
    with pytest.raises(ZeroDivisionError):
        B // 0


def test_free_symbols_evaluate_substitute() -> None:
    d = (H - 3) // T + DIM_TERMS.max(B, 2)
    assert d.free_symbols() == {"H", "T", "B"}
    assert d.evaluate({"H": 9, "T": 2, "B": 1}) == 3 + 2
    assert (B * T).substitute({"T": B + 1}) == B * B + B
    assert (B * T).substitute({"B": 2, "T": 3}) == 6
    with pytest.raises(KeyError, match="no value bound for dim 'T'"):
        (B * T).evaluate({"B": 1})


# -- conditions --------------------------------------------------------------------------------
def test_cond_prints_as_written() -> None:
    c = N.eq(M) | N.eq(1) | M.eq(1)
    assert str(c) == "N == M or N == 1 or M == 1"
    assert str(B.eq(1)) == "B == 1"
    assert str(~B.eq(1)) == "B != 1"
    assert str(~(N.lt(M) & B.eq(1))) == "N >= M or B != 1"
    assert str((N.eq(M) | B.eq(1)) & T.le(4)) == "(N == M or B == 1) and T <= 4"


def test_cond_identity_is_structural() -> None:
    assert N.eq(M) == M.eq(N) and hash(N.eq(M)) == hash(M.eq(N))
    assert B.lt(T) == T.gt(B) == (B + 1).le(T)
    assert (2 * B).eq(2 * T) == B.eq(T)
    assert len({B.eq(1), (B - 1).eq(0), Dim.const(1).eq(B)}) == 1


@pytest.mark.parametrize(
    "cond, verdict",
    [
        (B.eq(B), True),
        (B.ge(0), True),
        (B.lt(0), False),
        ((B * T + 1).eq(0), False),
        ((2 * B).eq(1), False),
        (Dim.const(3).eq(4), False),
        (B.eq(1), None),
        (N.eq(M), None),
        ((H - 3) // 2 + 1 >= 1 if False else ((H - 3) // 2 + 1).ge(1), None),
        ((H % 4).lt(4), True),
        ((H // 2).ge(0), True),
        (DIM_TERMS.min(B, 3).le(3), True),
        (N.eq(M) | B.ge(0), True),
        (N.eq(M) & B.lt(0), False),
    ],
)
def test_decide_from_structure(cond: Cond, verdict: bool | None) -> None:
    assert cond.decide() is verdict


def test_decide_uses_facts() -> None:
    facts = [B.ge(1), H.ge(3) & T.eq(4)]
    assert B.eq(0).decide(facts) is False
    assert ((H - 3) // 2 + 1).ge(1).decide(facts) is True
    assert (T * 2).eq(8).decide(facts) is True
    assert N.eq(M).decide([N.eq(M)]) is True
    assert N.ne(M).decide([N.eq(M)]) is False


def test_cond_evaluate_and_bool() -> None:
    c = N.eq(M) | N.eq(1) | M.eq(1)
    assert c.evaluate({"N": 3, "M": 1}) and not c.evaluate({"N": 3, "M": 2})
    with pytest.raises(TypeError, match="instead of branching"):
        bool(N.eq(M))
    assert bool(Cond.of(True)) and not Cond.all(True, False)
    assert str(Dim.const(3).eq(4) | Dim.const(3).eq(1)) == "3 == 4 or 3 == 1"


# -- properties ----------------------------------------------------------------------------------
_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "//": operator.floordiv,
    "%": operator.mod,
}


def _apply(op: str, x: Any, y: Any) -> Any:
    """``x op y`` for ints, Dims, or one of each (either way round)."""
    if op in _ARITHMETIC:
        return _ARITHMETIC[op](x, y)
    if isinstance(x, int) and isinstance(y, int):
        return min(x, y) if op == "min" else max(x, y)
    return DIM_TERMS.min(x, y) if op == "min" else DIM_TERMS.max(x, y)


Tree = Any
trees = st.recursive(
    st.one_of(st.sampled_from(NAMES), st.integers(-6, 6)),
    lambda kids: st.tuples(st.sampled_from(["+", "-", "*", "//", "%", "min", "max"]), kids, kids),
    max_leaves=8,
)
bindings = st.fixed_dictionaries({n: st.integers(0, 12) for n in NAMES})


def _build(tree: Tree, leaf: Callable[[Any], Any]) -> Any:
    if isinstance(tree, tuple):
        op, a, b = tree
        return _apply(op, _build(a, leaf), _build(b, leaf))
    return leaf(tree)


def _values(tree: Tree, env: dict[str, int]) -> int | None:
    """Plain-int evaluation; None where Python divides by zero."""
    try:
        return int(_build(tree, lambda x: env[x] if isinstance(x, str) else x))
    except ZeroDivisionError:
        return None


def _dim(tree: Tree) -> Dim:
    """The Dim built by the same operations; the example is dropped if a divisor is 0."""
    try:
        return Dim.of(_build(tree, lambda x: Dim.sym(x) if isinstance(x, str) else x))
    except ZeroDivisionError:
        assume(False)
        raise


@settings(max_examples=400, deadline=None)
@given(trees, bindings)
def test_dim_evaluation_matches_python_ints(tree: Tree, env: dict[str, int]) -> None:
    expected = _values(tree, env)
    if expected is not None:  # simplification may remove a division by zero, never add one
        assert _dim(tree).evaluate(env) == expected


@settings(max_examples=300, deadline=None)
@given(trees)
def test_str_parses_back_to_the_same_dim(tree: Tree) -> None:
    d = _dim(tree)
    assert Dim.parse(str(d)) == d


@settings(max_examples=300, deadline=None)
@given(trees, trees, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), bindings)
def test_decide_is_sound(left: Tree, right: Tree, op: str, env: dict[str, int]) -> None:
    cond = Cond.compare(op, _dim(left), _dim(right))
    verdict = cond.decide()
    a, b = _values(left, env), _values(right, env)
    if verdict is not None and a is not None and b is not None:
        assert cond.evaluate(env) == verdict
        assert Cond.compare(op, a, b).decide() is verdict


@settings(max_examples=300, deadline=None)
@given(trees, bindings, bindings)
def test_substitute_then_evaluate_composes(
    tree: Tree, inner: dict[str, int], outer: dict[str, int]
) -> None:
    d = _dim(tree)
    mapping = {"B": T + inner["B"], "H": Dim.const(inner["H"])}
    composed = dict(outer, B=outer["T"] + inner["B"], H=inner["H"])
    expected = _values(tree, composed)
    if expected is not None:
        assert d.substitute(mapping).evaluate(outer) == expected


polynomials = st.lists(
    st.tuples(
        st.integers(-5, 5).filter(bool),
        st.lists(st.tuples(st.sampled_from(NAMES), st.integers(1, 3)), max_size=3),
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(polynomials, st.randoms(use_true_random=False))
def test_normal_form_is_canonical(
    terms: list[tuple[int, list[tuple[str, int]]]], rng: random.Random
) -> None:
    def term(coef: int, factors: list[tuple[str, int]]) -> Dim:
        out = Dim.const(coef)
        for name, exp in factors:
            out = out * Dim.sym(name) ** exp
        return out

    first = sum((term(c, f) for c, f in terms), Dim.const(0))
    shuffled = [(c, rng.sample(f, len(f))) for c, f in rng.sample(terms, len(terms))]
    text = " + ".join(f"({c})" + "".join(f"*{n}" * e for n, e in f) for c, f in shuffled) or "0"
    half = len(shuffled) // 2
    second = sum((term(c, f) for c, f in shuffled[:half]), Dim.const(0)) + Dim.parse(
        " + ".join(f"{c}" + "".join(f"*{n}**{e}" for n, e in f) for c, f in shuffled[half:]) or "0"
    )
    for other in (Dim.parse(text), second):
        assert first == other and hash(first) == hash(other) and str(first) == str(other)
