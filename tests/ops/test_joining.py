"""Joining: cat, stack (and aliases), narrow, split, chunk, unbind; vs numpy float64,
gradcheck and PyTorch; views share storage; error messages."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import neurarust as nr
from neurarust.ops import get
from tests.reference import check_op, random_array, to_nr

rng = np.random.default_rng(0)
A = random_array(rng, (2, 3))
B = random_array(rng, (2, 4))
C = random_array(rng, (1, 3))


# -- cat --------------------------------------------------------------------------------------------
def test_cat() -> None:
    check_op(lambda m, a, b: m.cat([a, b], 1), [A, B], lambda a, b: np.concatenate([a, b], 1))
    check_op(lambda m, a, c: m.cat((a, c, a)), [A, C], lambda a, c: np.concatenate([a, c, a]))
    check_op(lambda m, a, c: m.cat([a, c], dim=-2), [A, C], lambda a, c: np.concatenate([a, c]))
    check_op(lambda m, a: m.cat([a]), [A], lambda a: a)
    check_op(lambda m, a: m.concat([a, a[:0]]), [A], lambda a: a)
    check_op(lambda m, a: m.concatenate([a[:, :0], a], 1), [A], lambda a: a)


def test_cat_promotes_dtypes() -> None:
    ints = np.arange(3).reshape(1, 3)
    check_op(lambda m, a, i: m.cat([i, a]), [A.astype(np.float32), ints],
             lambda a, i: np.concatenate([i, a]))
    check_op(lambda m, i: m.cat([i, i.to(m.int32)]), [ints], lambda i: np.concatenate([i, i]))


def test_cat_skips_legacy_empty_tensors() -> None:
    check_op(lambda m, a, c: m.cat([a, m.tensor([]), c]), [A, C],
             lambda a, c: np.concatenate([a, c]))
    check_op(lambda m, e: m.cat([e, m.tensor([1.0])]), [np.zeros(0)], lambda e: np.ones(1))


@st.composite
def cat_cases(draw: Any) -> tuple[list[np.ndarray], int]:
    rank = draw(st.integers(1, 3))
    shape = [draw(st.integers(1, 3)) for _ in range(rank)]
    dim = draw(st.integers(-rank, rank - 1))
    arrays = []
    r = np.random.default_rng(draw(st.integers(0, 2**16)))
    for _ in range(draw(st.integers(1, 3))):
        s = list(shape)
        s[dim] = draw(st.integers(0, 3))
        arrays.append(r.uniform(-2, 2, s))
    return arrays, dim


@settings(max_examples=30, deadline=None)
@given(cat_cases())
def test_random_cat_and_split_round_trip(case: tuple[list[np.ndarray], int]) -> None:
    arrays, dim = case
    check_op(lambda m, *xs: m.cat(list(xs), dim), arrays,
             lambda *xs: np.concatenate(xs, dim))
    sizes = [a.shape[dim] for a in arrays]
    joined = np.concatenate(arrays, dim)
    check_op(lambda m, x: m.split(x, sizes, dim), [joined],
             lambda x: np.split(x, np.cumsum(sizes)[:-1], dim))


def test_cat_errors() -> None:
    a, b = nr.zeros(2, 3), nr.zeros(4, 5)
    with pytest.raises(nr.ShapeError) as err:
        nr.cat([a, b], 1)
    assert str(err.value).splitlines()[:2] == [
        ("cat: sizes of tensors must match except in dimension 1: expected size 2 but got size "
         "4 for tensor 1 at dimension 0"),
        "  tensor 0: f32[2, 3]   tensor 1: f32[4, 5]",
    ]
    with pytest.raises(nr.ShapeError, match="tensors must have the same number of dimensions: "
                                            "got 2 and 1"):
        nr.cat([a, nr.zeros(3)])
    with pytest.raises(nr.ShapeError, match="tensors must have the same number of dimensions: "
                                            "got 2 and 3"):
        nr.cat([a, nr.zeros(2, 3, 1)])
    with pytest.raises(nr.ShapeError, match=r"zero-dimensional tensor \(at position 1\) cannot "
                                            "be concatenated"):
        nr.cat([nr.zeros(1), nr.zeros(())])
    with pytest.raises(nr.ShapeError, match=r"(?s)dim out of range.*got 2"):
        nr.cat([a], 2)
    with pytest.raises(ValueError, match="cat: expected a non-empty list of tensors"):
        nr.cat([])
    with pytest.raises(TypeError, match=r"cat\(\[a, b\]\)"):
        nr.cat(a)  # type: ignore[arg-type]


def test_cat_rule_under_the_symbolic_algebra() -> None:
    from neurarust.types.symbolic import SymbolicAlgebra

    dims = SymbolicAlgebra()
    n, t = dims.dim("N"), dims.dim("T")
    out = get("cat").shape(dims, (n, t), (n, 3), (n, t), dim=1)
    assert str(out[1]) == "2*T + 3"
    get("cat").shape(dims, (n, t), (dims.dim("M"), t), dim=1)
    assert "must match except in dimension 1" in dims.pending[-1].message


# -- stack -----------------------------------------------------------------------------------------
def test_stack() -> None:
    check_op(lambda m, a, b: m.stack([a, b]), [A, B[:, :3]], lambda a, b: np.stack([a, b]))
    check_op(lambda m, a, b: m.stack([a, b, a], dim=-1), [A, B[:, 1:]],
             lambda a, b: np.stack([a, b, a], -1))
    check_op(lambda m, a: m.stack([a[0, 0], a[1, 1]]), [A], lambda a: np.array([a[0, 0], a[1, 1]]))
    check_op(lambda m, a: m.stack([a, m.ones(2, 3, dtype=m.int64)], 1), [A],
             lambda a: np.stack([a, np.ones((2, 3))], 1))


def test_hstack_vstack() -> None:
    check_op(lambda m, a, b: m.hstack([a, b]), [A, B], lambda a, b: np.hstack([a, b]))
    check_op(lambda m, a: m.hstack([a[0], a[1]]), [A], lambda a: np.hstack([a[0], a[1]]))
    check_op(lambda m, a, c: m.vstack([a, c, a[0]]), [A, C], lambda a, c: np.vstack([a, c, a[0]]))


def test_stack_errors() -> None:
    with pytest.raises(nr.ShapeError, match=r"stack: stack expects each tensor to be equal size, "
                                            r"but got \[2, 3\] at entry 0 and \[2, 4\] at entry 1"):
        nr.stack([nr.zeros(2, 3), nr.zeros(2, 4)])
    with pytest.raises(nr.ShapeError, match=r"but got \[2, 3\] at entry 0 and \[3\] at entry 1"):
        nr.stack([nr.zeros(2, 3), nr.zeros(3)])
    with pytest.raises(nr.ShapeError, match="dim out of range"):
        nr.stack([nr.zeros(2, 3)], 3)


# -- narrow / split / chunk / unbind ---------------------------------------------------------------
def test_narrow() -> None:
    check_op(lambda m, a: m.narrow(a, 1, 1, 2), [A], lambda a: a[:, 1:3])
    check_op(lambda m, a: m.narrow(a, -1, -2, 2), [A], lambda a: a[:, -2:])
    check_op(lambda m, a: m.narrow(a, 0, 2, 0), [A], lambda a: a[2:2])
    with pytest.raises(nr.ShapeError, match=r"narrow: start \(3\) \+ length \(4\) exceeds "
                                            r"dimension size \(5\)"):
        nr.narrow(nr.zeros(5), 0, 3, 4)
    with pytest.raises(nr.ShapeError, match=r"start out of range \(expected to be in range of "
                                            r"\[-5, 5\], but got -6\)"):
        nr.narrow(nr.zeros(5), 0, -6, 1)
    with pytest.raises(nr.ShapeError, match="narrow\\(\\) cannot be applied to a 0-dim tensor"):
        nr.narrow(nr.zeros(()), 0, 0, 1)


@pytest.mark.parametrize("size, dim", [(1, 0), (2, 1), (3, 1), (5, -1), ([1, 2], 1), ([0, 3], -1),
                                       ([2], 0)])
def test_split(size: Any, dim: int) -> None:
    n = A.shape[dim]
    cuts = (np.cumsum(size)[:-1] if isinstance(size, list) else np.arange(size, n, size))
    check_op(lambda m, a: m.split(a, size, dim), [A], lambda a: np.split(a, cuts, dim))
    check_op(lambda m, a: a.split(size, dim), [A], lambda a: np.split(a, cuts, dim))


@pytest.mark.parametrize("n, chunks", [(10, 4), (5, 4), (6, 4), (3, 3), (0, 3), (2, 5)])
def test_chunk(n: int, chunks: int) -> None:
    a = random_array(rng, (n, 2))
    step = -(-n // chunks)  # PyTorch: chunks of ceil(n / chunks), so maybe fewer of them
    sizes = [min(step, n - i) for i in range(0, n, step)] if n else []
    check_op(lambda m, x: m.chunk(x, chunks), [a],
             lambda x: np.split(x, np.cumsum(sizes)[:-1]) if n else [x] * chunks)
    check_op(lambda m, x: x.chunk(chunks, 0), [a],
             lambda x: np.split(x, np.cumsum(sizes)[:-1]) if n else [x] * chunks)


def test_unbind() -> None:
    check_op(lambda m, a: m.unbind(a), [A], lambda a: list(a))
    check_op(lambda m, a: m.unbind(a, -1), [A], lambda a: list(a.T))


def test_split_errors() -> None:
    x = nr.zeros(5)
    with pytest.raises(nr.ShapeError, match=r"split_sizes must be non-negative and sum exactly to "
                                            r"5 .* but got split_sizes=\[2, 2\]"):
        x.split([2, 2])
    with pytest.raises(ValueError, match="split_size can only be 0 if dimension size is 0"):
        x.split(0)
    with pytest.raises(ValueError, match="chunk: expects `chunks` to be greater than 0, got: 0"):
        x.chunk(0)
    with pytest.raises(IndexError, match="dimension out of range"):
        nr.unbind(x, 1)


@pytest.mark.cpu_only("strided views: device arrays are C-contiguous with no offset, so transposes, slices and splits are copies")
def test_splits_are_views_sharing_storage_with_gradients() -> None:
    x = nr.tensor(np.arange(12.0).reshape(3, 4))
    a, b = x.split([1, 3], dim=1)
    assert a._storage is x._storage and b.shape == (3, 3)
    b[0, 0] = -1.0
    assert x[0, 1].item() == -1.0
    c0, _ = x.chunk(2)
    c0.mul_(0.0)
    assert x[:2].tolist() == [[0.0] * 4] * 2
    row = nr.unbind(x)[2]
    row.add_(1.0)
    assert x[2].tolist() == [9.0, 10.0, 11.0, 12.0]
    n = nr.narrow(x, 0, 1, 1)
    assert n.storage_offset() == 4 and n._storage is x._storage
    # Gradients through several views of one tensor add up.
    w = to_nr(random_array(rng, (3, 4)), requires_grad=True)
    p, q = w.split(2, dim=1)
    (p * 2.0 + q * 3.0).sum().backward()
    assert w.grad is not None
    np.testing.assert_array_equal(w.grad.numpy(), [[2.0, 2.0, 3.0, 3.0]] * 3)


def test_cat_of_views_double_backward() -> None:
    x = to_nr(random_array(rng, (3, 4)), requires_grad=True)
    nr.autograd.gradgradcheck(lambda a: nr.cat([a[:, 2:], a * a], 1), [x])
    nr.autograd.gradgradcheck(lambda a: nr.stack(nr.unbind(a * a, 1)), [x])


def test_narrow_requirement_is_a_z3_obligation_with_a_counterexample() -> None:
    pytest.importorskip("z3")
    from neurarust.types.z3_algebra import Z3Algebra

    z = Z3Algebra()
    out = get("narrow").shape(z, (z.dim("N"), 4), dim=0, start=2, length=3)
    assert out[0] == 3
    failed = [r for r in z.prove_all() if not r.proven]
    assert failed and failed[0].counterexample is not None
    n = failed[0].counterexample["N"]
    assert n < 5
    with pytest.raises(nr.ShapeError, match="exceeds dimension size"):
        nr.narrow(nr.zeros(n, 4), 0, 2, 3)
