"""matmul (every PyTorch broadcasting case), mm, bmm, dot, outer and einsum: forward vs numpy
float64 and PyTorch, gradients vs finite differences and PyTorch, double backward, errors,
and the shape rules under the symbolic algebra."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import neurarust as nr
from neurarust.ops.registry import get
from neurarust.types.algebra import CONCRETE
from neurarust.types.errors import DTypeError, ShapeError
from tests.reference import check_op, random_array, to_nr

rng = np.random.default_rng(0)


def _pair(sa: tuple[int, ...], sb: tuple[int, ...]) -> list[np.ndarray]:
    return [random_array(rng, sa), random_array(rng, sb)]


def _gradgrad(fn: Any, arrays: list[np.ndarray]) -> None:
    inputs = [to_nr(a.astype(np.float64), requires_grad=True) for a in arrays]
    assert nr.autograd.gradgradcheck(fn, inputs)


# -- matmul -------------------------------------------------------------------------------------
MATMUL_CASES = [
    ((3,), (3,)),  # dot -> 0-d
    ((3,), (3, 4)),  # vector @ matrix
    ((2, 3), (3,)),  # matrix @ vector
    ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)),  # batch @ matrix (the Linear case)
    ((2, 3), (5, 3, 4)),  # matrix @ batch
    ((5, 1, 2, 3), (4, 3, 2)),  # batch dims broadcast
    ((1, 2, 3), (5, 3, 2)),
    ((3,), (5, 3, 4)),  # vector @ batch
    ((5, 2, 3), (3,)),  # batch @ vector
    ((2, 1, 2, 3), (3,)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_CASES)
def test_matmul_cases(sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    check_op(lambda m, a, b: m.matmul(a, b), _pair(sa, sb), np.matmul)


@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((3,), (2, 3, 4)), ((2, 2, 3), (3,)),
                                   ((2, 3), (2, 3, 2)), ((2, 1, 2, 3), (2, 3, 2))])
def test_matmul_double_backward(sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    _gradgrad(lambda a, b: a @ b, _pair(sa, sb))


@st.composite
def matmul_shapes(draw: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    k = draw(st.integers(1, 3))
    rank_a, rank_b = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    batch = draw(st.lists(st.integers(1, 3), min_size=2, max_size=2))

    def batch_of(rank: int) -> tuple[int, ...]:
        dims = batch[len(batch) - max(rank - 2, 0):] if rank > 2 else []
        return tuple(1 if draw(st.booleans()) else d for d in dims)  # broadcast some to 1

    a = (k,) if rank_a == 1 else batch_of(rank_a) + (draw(st.integers(1, 3)), k)
    b = (k,) if rank_b == 1 else batch_of(rank_b) + (k, draw(st.integers(1, 3)))
    return a, b


@settings(max_examples=40, deadline=None)
@given(matmul_shapes())
def test_matmul_broadcasting_property(shapes: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
    sa, sb = shapes
    check_op(lambda m, a, b: m.matmul(a, b), _pair(sa, sb), np.matmul)


def test_matmul_operator_and_method() -> None:
    a, b = _pair((2, 3), (3, 4))
    check_op(lambda m, x, y: x @ y, [a, b], np.matmul)
    check_op(lambda m, x, y: x.matmul(y), [a, b], np.matmul)


def test_matmul_keeps_float32_and_ints() -> None:
    a, b = _pair((4, 8), (8, 3))
    out = nr.matmul(to_nr(a.astype(np.float32)), to_nr(b.astype(np.float32)))
    assert out.dtype is nr.float32 and out.numpy().dtype == np.float32
    ai = random_array(rng, (2, 3), np.int64)
    bi = random_array(rng, (3, 2), np.int64)
    check_op(lambda m, x, y: x @ y, [ai, bi], np.matmul)


def test_matmul_large_batch_fold_matches_numpy() -> None:
    a, b = _pair((4, 5, 6), (6, 7))
    x = to_nr(a)
    np.testing.assert_allclose(nr.matmul(x.transpose(0, 1), to_nr(b)).numpy(),
                               np.matmul(a.transpose(1, 0, 2), b))


def test_matmul_inner_mismatch_message() -> None:
    x, w = nr.zeros(32, 784), nr.zeros(128, 784)
    with pytest.raises(ShapeError) as err:
        nr.matmul(x, w)
    text = str(err.value)
    assert text.splitlines()[0] == "matmul: inner dimensions must match"
    assert "input: f32[32, 784]   other: f32[128, 784]" in text
    assert "expected input.shape[-1] == other.shape[-2], got 784 != 128" in text
    assert "other.mT has shape [784, 128]" in text


@pytest.mark.parametrize("sa,sb,detail", [
    ((3,), (4,), "expected input.shape[0] == other.shape[0], got 3 != 4"),
    ((2, 3), (4,), "expected input.shape[-1] == other.shape[0], got 3 != 4"),
    ((3,), (4, 2), "expected input.shape[0] == other.shape[-2], got 3 != 4"),
])
def test_matmul_vector_mismatch_messages(sa: tuple[int, ...], sb: tuple[int, ...],
                                         detail: str) -> None:
    with pytest.raises(ShapeError, match="inner dimensions must match") as err:
        nr.matmul(nr.zeros(*sa), nr.zeros(*sb))
    assert detail in str(err.value)


def test_matmul_batch_and_rank_errors() -> None:
    with pytest.raises(ShapeError, match="batch dimensions must broadcast"):
        nr.matmul(nr.zeros(2, 3, 4), nr.zeros(5, 4, 2))
    with pytest.raises(ShapeError, match="at least 1-d"):
        nr.matmul(nr.zeros(()), nr.zeros(3))


def test_matmul_dtype_errors() -> None:
    with pytest.raises(DTypeError, match="same dtype"):
        nr.matmul(nr.zeros(2, 2), nr.zeros(2, 2, dtype=nr.float64))
    with pytest.raises(DTypeError, match="bool"):
        nr.matmul(nr.zeros(2, 2, dtype=nr.bool_), nr.zeros(2, 2, dtype=nr.bool_))


def test_matmul_grad_only_where_needed() -> None:
    a = nr.randn(3, 4, requires_grad=True)
    b = nr.randn(4, 2)
    (a @ b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), np.ones((3, 2)) @ b.numpy().T, rtol=1e-6)
    assert b.grad is None


# -- mm, bmm, dot, outer --------------------------------------------------------------------------
def test_mm_bmm_dot_outer() -> None:
    check_op(lambda m, a, b: m.mm(a, b), _pair((2, 3), (3, 4)), np.matmul)
    check_op(lambda m, a, b: a.mm(b), _pair((1, 1), (1, 5)), np.matmul)
    check_op(lambda m, a, b: m.bmm(a, b), _pair((2, 2, 3), (2, 3, 4)), np.matmul)
    check_op(lambda m, a, b: a.bmm(b), _pair((1, 2, 3), (1, 3, 1)), np.matmul)
    check_op(lambda m, a, b: m.dot(a, b), _pair((5,), (5,)), np.dot)
    check_op(lambda m, a, b: m.outer(a, b), _pair((3,), (4,)), np.outer)


def test_mm_bmm_dot_double_backward() -> None:
    _gradgrad(lambda a, b: nr.mm(a, b), _pair((2, 3), (3, 2)))
    _gradgrad(lambda a, b: nr.bmm(a, b), _pair((2, 2, 3), (2, 3, 2)))
    _gradgrad(lambda a, b: nr.dot(a, b) * nr.dot(a, b), _pair((3,), (3,)))
    _gradgrad(lambda a, b: nr.outer(a, b), _pair((3,), (2,)))


@pytest.mark.parametrize("fn,sa,sb,message", [
    (nr.mm, (2, 3, 4), (4, 2), "mm: expects 2-d inputs"),
    (nr.mm, (2, 3), (4, 2), "mm: inner dimensions must match"),
    (nr.bmm, (2, 3), (3, 2), "bmm: expects 3-d inputs"),
    (nr.bmm, (2, 2, 3), (3, 3, 2), "bmm: batch sizes must match"),
    (nr.bmm, (2, 2, 3), (2, 4, 2), "bmm: inner dimensions must match"),
    (nr.dot, (3,), (4,), "dot: inconsistent tensor size"),
    (nr.dot, (3, 1), (3,), "dot: expects 1-d inputs"),
    (nr.outer, (3, 1), (3,), "outer: expects 1-d inputs"),
])
def test_mm_family_errors(fn: Any, sa: tuple[int, ...], sb: tuple[int, ...],
                          message: str) -> None:
    with pytest.raises(ShapeError) as err:
        fn(nr.zeros(*sa), nr.zeros(*sb))
    assert str(err.value).splitlines()[0] == message


# -- einsum ---------------------------------------------------------------------------------------
def _np_einsum(equation: str) -> Any:
    """numpy's einsum, plus torch's rule that an output without '...' sums those dims."""
    lhs, arrow, rhs = equation.partition("->")
    if arrow and "..." in lhs and "..." not in rhs:
        def ref(*arrays: np.ndarray) -> np.ndarray:
            out = np.einsum(lhs + "->..." + rhs, *arrays)
            return out.sum(axis=tuple(range(out.ndim - len(rhs.replace(" ", "")))))
        return ref
    return lambda *arrays: np.einsum(equation, *arrays)


EINSUM_CASES: list[tuple[str, list[tuple[int, ...]]]] = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),  # implicit output
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("ij", [(2, 3)]),  # implicit: 'ij'
    ("ii->i", [(3, 3)]),  # diagonal
    ("ii", [(3, 3)]),  # trace
    ("iij->ji", [(2, 2, 3)]),
    ("i,i->", [(4,), (4,)]),
    ("i,j->ij", [(2,), (3,)]),
    ("i,i->i", [(1,), (3,)]),  # a size-1 label broadcasts
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("bhqd,bhkd->bhqk", [(1, 2, 3, 2), (1, 2, 4, 2)]),  # attention scores
    ("...ij,...jk->...ik", [(2, 1, 2, 3), (3, 3, 2)]),  # ellipsis broadcasting
    ("i...,...j", [(2, 3), (3, 4)]),
    ("...i->...", [(2, 3, 4)]),
    ("...i->i", [(2, 3, 4)]),  # explicit output without '...': summed (torch)
    ("...ii->...i", [(2, 3, 3)]),
    ("ij,ij,ij->i", [(2, 3), (2, 3), (2, 3)]),
    ("ij,jk,kl->il", [(2, 3), (3, 2), (2, 2)]),
    ("Ab,bC->AC", [(2, 3), (3, 2)]),
    ("aB,Ba", [(2, 3), (3, 2)]),  # implicit output in ASCII order: uppercase first
    (" i j , j k -> i k ", [(2, 3), (3, 4)]),  # spaces are ignored
]


@pytest.mark.parametrize("equation,shapes", EINSUM_CASES)
def test_einsum_cases(equation: str, shapes: list[tuple[int, ...]]) -> None:
    arrays = [random_array(rng, s) for s in shapes]
    check_op(lambda m, *xs: m.einsum(equation, *xs), arrays, _np_einsum(equation))


def test_einsum_list_operands() -> None:
    check_op(lambda m, a, b: m.einsum("ij,jk->ik", [a, b]), _pair((2, 3), (3, 2)), np.matmul)


@pytest.mark.parametrize("equation,shapes", [
    ("ij,jk->ik", [(2, 3), (3, 2)]),
    ("ii->i", [(3, 3)]),
    ("ij->", [(2, 2)]),
    ("...ij,...jk->...ik", [(2, 1, 2, 2), (2, 2, 2)]),
    ("i,i->i", [(1,), (3,)]),
])
def test_einsum_double_backward(equation: str, shapes: list[tuple[int, ...]]) -> None:
    def squared(*xs: nr.Tensor) -> nr.Tensor:  # squared, so linear equations too have a
        out = nr.einsum(equation, *xs)  # second derivative
        return out * out

    _gradgrad(squared, [random_array(rng, s) for s in shapes])


@st.composite
def einsum_contractions(draw: Any) -> tuple[str, list[tuple[int, ...]]]:
    """Two operands over random labels from 'abcd', with a random explicit output."""
    sizes = {c: draw(st.integers(1, 3)) for c in "abcd"}
    a = draw(st.lists(st.sampled_from("abcd"), min_size=1, max_size=3, unique=True))
    b = draw(st.lists(st.sampled_from("abcd"), min_size=1, max_size=3, unique=True))
    labels = sorted(set(a) | set(b))
    out = draw(st.permutations(labels).map(lambda p: p[:draw(st.integers(0, len(p)))]))
    eq = "".join(a) + "," + "".join(b) + "->" + "".join(out)
    return eq, [tuple(sizes[c] for c in a), tuple(sizes[c] for c in b)]


@settings(max_examples=40, deadline=None)
@given(einsum_contractions())
def test_einsum_property(case: tuple[str, list[tuple[int, ...]]]) -> None:
    equation, shapes = case
    arrays = [random_array(rng, s) for s in shapes]
    check_op(lambda m, *xs: m.einsum(equation, *xs), arrays, _np_einsum(equation))


def test_einsum_keeps_float32() -> None:
    out = nr.einsum("ij,jk->ik", nr.randn(3, 4), nr.randn(4, 2))
    assert out.dtype is nr.float32 and out.numpy().dtype == np.float32


def test_einsum_output_does_not_alias_input() -> None:
    x = nr.randn(3, 3)
    before = x.numpy().copy()
    nr.einsum("ii->i", x).add_(1.0)
    nr.einsum("ij->ji", x).add_(1.0)
    np.testing.assert_array_equal(x.numpy(), before)


@pytest.mark.parametrize("equation,shapes,message,detail", [
    ("ij,jk->ik", [(2, 3), (4, 5)], "operands disagree on the size of a subscript",
     "subscript 'j': operand 0 has 3, operand 1 has 4"),
    ("ii->i", [(2, 3)], "a subscript repeated within one operand must have one size",
     "subscript 'i' of operand 0: 2 != 3"),
    ("ij,jk->ik", [(2, 3)], "the number of operands does not match the equation", None),
    ("ij->i", [(2, 3, 4)], "an operand's number of dims does not match its subscripts",
     "operand 0 has 3 dims, subscripts 'ij' name 2"),
    ("ij->ii", [(2, 2)], "an output subscript appears more than once", None),
    ("ij->k", [(2, 2)], "an output subscript does not appear in the inputs", None),
    ("i1->i", [(2, 2)], "invalid subscript in the equation", None),
    ("...ij,...jk->...ik", [(2, 2, 3), (3, 3, 2)], "the operands' ellipsis dims must broadcast",
     None),
])
def test_einsum_errors(equation: str, shapes: list[tuple[int, ...]], message: str,
                       detail: str | None) -> None:
    with pytest.raises(ShapeError) as err:
        nr.einsum(equation, *[nr.zeros(*s) for s in shapes])
    text = str(err.value)
    assert text.splitlines()[0] == f"einsum: {message}"
    if detail is not None:
        assert detail in text


def test_einsum_dtype_error() -> None:
    with pytest.raises(DTypeError, match="same dtype"):
        nr.einsum("i,i->", nr.zeros(2), nr.zeros(2, dtype=nr.float64))


# -- the rules under the symbolic algebra ----------------------------------------------------------
def test_rules_under_the_symbolic_algebra() -> None:
    symbolic = pytest.importorskip("neurarust.types.symbolic")
    dims = symbolic.SymbolicAlgebra()
    B, T, K = dims.dim("B"), dims.dim("T"), dims.dim("K")
    out = get("matmul").shape(dims, (B, T, 784), (784, 128))
    assert out == (B, T, 128) and not dims.pending
    get("matmul").shape(dims, (B, T, K), (784, 128))
    assert "inner dimensions must match" in str(dims.pending[-1])
    out = get("einsum").shape(dims, (B, T, K), (B, K, 5), equation="bij,bjk->bik")
    assert out == (B, T, 5)
    for equation in ("ij,jk->ik", "...ij,...jk->...ik", "ii->i"):
        shapes = [(3, 3), (3, 3)] if equation.count(",") else [(3, 3)]
        assert get("einsum").shape(CONCRETE, *shapes, equation=equation) == \
            np.einsum(equation, *[np.zeros(s) for s in shapes]).shape
