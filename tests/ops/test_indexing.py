"""Indexing: x[...] (basic views, advanced copies, bool masks), x[...] = v, gather/scatter,
index_select, masked_fill, nonzero, take_along_dim; vs numpy float64, gradcheck and PyTorch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import neurarust as nr
from neurarust.ops import get
from neurarust.ops.indexing import Slice
from neurarust.types.algebra import CONCRETE
from tests.reference import HAS_TORCH, check_op, random_array, to_nr

rng = np.random.default_rng(0)
X = random_array(rng, (3, 4, 5))


# -- basic indexing: views ----------------------------------------------------------------------
BASIC = [
    0, -1, (1, 2), (2, -1, 3), slice(1, None), slice(None, None, 2), (slice(None), slice(1, 4, 2)),
    (Ellipsis, 1), (None, 0, slice(1, 3)), (slice(-3, -1), None, Ellipsis), slice(5, 10),
    (slice(None), slice(3, 1)), (1, Ellipsis, None), (Ellipsis,), (None,), (slice(-10, 10, 3),),
    (0, None, slice(None), None, slice(None, None, 4)), (..., slice(2, None, 2), -2),
]


@pytest.mark.parametrize("index", BASIC, ids=repr)
def test_basic_index(index: Any) -> None:
    check_op(lambda m, a: a[index], [X], lambda a: a[index])


@pytest.mark.cpu_only("strided views: device arrays are C-contiguous with no offset, so transposes, slices and splits are copies")
def test_basic_index_is_a_view_sharing_storage() -> None:
    x = nr.tensor(np.arange(12.0).reshape(3, 4))
    y = x[1:, ::2]
    assert y.shape == (2, 2) and y.stride() == (4, 2) and y.storage_offset() == 4
    y[0, 1] = 100.0
    assert x[1, 2].item() == 100.0
    x[0].add_(1.0)
    assert x.tolist()[0] == [1.0, 2.0, 3.0, 4.0]
    z = x[2, 3]
    assert z.shape == () and z._storage is x._storage


def test_int_of_0d_and_iteration() -> None:
    x = nr.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert [r.tolist() for r in x] == [[1.0, 2.0], [3.0, 4.0]]
    assert x[1][0].item() == 3.0
    assert x[np.int64(1), 1].item() == 4.0
    assert nr.tensor(5.0)[None].shape == (1,)
    assert nr.tensor(5.0)[...].shape == ()


@st.composite
def basic_indices(draw: Any) -> tuple[tuple[int, ...], tuple[Any, ...]]:
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=1, max_size=3)))
    items: list[Any] = []
    for n in shape:
        if n and draw(st.booleans()):
            items.append(draw(st.integers(-n, n - 1)))
        else:
            bound = st.one_of(st.none(), st.integers(-7, 7))
            step = st.one_of(st.none(), st.integers(1, 3))
            items.append(slice(draw(bound), draw(bound), draw(step)))
    i = draw(st.integers(0, len(items)))
    j = draw(st.integers(i, len(items)))
    if draw(st.booleans()):
        items[i:j] = [Ellipsis]  # ... stands for dims i..j-1
    elif j == len(items):
        del items[i:]  # trailing dims kept whole
    for _ in range(draw(st.integers(0, 2))):
        items.insert(draw(st.integers(0, len(items))), None)
    return shape, tuple(items)


@settings(max_examples=40, deadline=None)
@given(basic_indices())
def test_random_slices_agree_with_numpy_torch_and_the_symbolic_rule(
        case: tuple[tuple[int, ...], tuple[Any, ...]]) -> None:
    shape, index = case
    a = random_array(np.random.default_rng(1), shape)
    check_op(lambda m, x: x[index], [a], lambda x: x[index])
    # The rule written with dims.min/max/floordiv gives the same sizes symbolically.
    from neurarust.types.symbolic import SymbolicAlgebra

    parsed = nr.functions.indexing._parse(to_nr(a), index)
    if parsed.tensors:
        return
    dims = SymbolicAlgebra()
    names = [f"n{i}" for i in range(len(shape))]
    out = get("getitem").shape(dims, tuple(dims.dim(n) for n in names), index=tuple(parsed.index))
    bindings = dict(zip(names, shape))
    sizes = [d.evaluate(bindings) if hasattr(d, "evaluate") else d for d in out]
    assert tuple(sizes) == a[index].shape


# -- advanced indexing --------------------------------------------------------------------------
ADVANCED = [
    # (index built from the library, numpy reference with PyTorch's semantics)
    (lambda m: [2, 0, 2], lambda a: a[[2, 0, 2]]),
    (lambda m: m.tensor([[0, 1], [2, -1]]), lambda a: a[[[0, 1], [2, -1]]]),
    (lambda m: m.tensor([1, 0], dtype=m.int32), lambda a: a[[1, 0]]),
    (lambda m: (slice(None), m.tensor([3, 0, 3])), lambda a: a[:, [3, 0, 3]]),
    (lambda m: (m.tensor([0, 2]), m.tensor([1, 3])), lambda a: a[[0, 2], [1, 3]]),
    (lambda m: (m.tensor([[0], [2]]), m.tensor([1, 3, 0])),  # broadcast to (2, 3)
     lambda a: a[[[0], [2]], [1, 3, 0]]),
    (lambda m: (slice(None), [0, 1], [4, 2]), lambda a: a[:, [0, 1], [4, 2]]),  # adjacent
    (lambda m: ([0, 1], slice(None), [4, 2]), lambda a: a[[0, 1], :, [4, 2]]),  # separated
    (lambda m: (0, slice(None), [0, 1]), lambda a: a[0][:, [0, 1]]),  # int first: a view
    (lambda m: (slice(1, None), [1, 2], slice(None, None, 2)), lambda a: a[1:, [1, 2], ::2]),
    (lambda m: (None, [0, 1], slice(None), [1, 2]),  # None separates: advanced dims first
     lambda a: a[None][:, [0, 1], :, [1, 2]]),
    (lambda m: (Ellipsis, [4, 4, 0]), lambda a: a[..., [4, 4, 0]]),
    (lambda m: [], lambda a: a[np.zeros(0, dtype=np.int64)]),
    (lambda m: m.tensor(1), lambda a: a[1]),
]


@pytest.mark.parametrize("case", range(len(ADVANCED)))
def test_advanced_index(case: int) -> None:
    make, reference = ADVANCED[case]
    check_op(lambda m, a: a[make(m)], [X], reference)


MASK2 = random_array(rng, (3, 4), dtype=np.bool_)
MASK1 = np.array([True, False, True, True, False])


@pytest.mark.parametrize("make, reference", [
    (lambda m, mask: mask, lambda a, mask: a[mask]),
    (lambda m, mask: (mask, slice(None, None, 2)), lambda a, mask: a[mask][:, ::2]),
    (lambda m, mask: (Ellipsis, m.tensor(MASK1)), lambda a, mask: a[..., MASK1]),
    (lambda m, mask: (1, slice(None), m.tensor(MASK1)), lambda a, mask: a[1][:, MASK1]),
    (lambda m, mask: (m.tensor([0, 2]), slice(None), m.tensor(MASK1[:2].tolist() + [False] * 3)
                      ), lambda a, mask: a[[0, 2], :, [0, 0]]),
    (lambda m, mask: m.tensor(np.zeros((3, 4), dtype=bool)), lambda a, mask: a[np.zeros((3, 4),
                                                                                    dtype=bool)]),
])
def test_bool_mask_index(make: Any, reference: Any) -> None:
    check_op(lambda m, a, mask: a[make(m, mask)], [X, MASK2], reference)


def test_python_bool_and_0d_mask_index() -> None:
    check_op(lambda m, a: a[True], [X], lambda a: a[None])
    check_op(lambda m, a: a[False], [X], lambda a: a[None][:0])
    check_op(lambda m, a: a[0, m.tensor(True)], [X], lambda a: a[0][None])


def test_duplicate_indices_accumulate_gradient() -> None:
    x = nr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    x[[0, 0, 1, 0], [1, 1, 2, 0]].sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), [[1.0, 2.0, 0.0], [0.0, 0.0, 1.0]])
    check_op(lambda m, a: a[m.tensor([[0, 2, 0], [0, 0, 1]])] * 2.0, [X],
             lambda a: a[[[0, 2, 0], [0, 0, 1]]] * 2.0)


def test_index_double_backward() -> None:
    x = to_nr(random_array(rng, (3, 4)), requires_grad=True)
    idx = nr.tensor([2, 0, 2])
    nr.autograd.gradgradcheck(lambda a: (a[idx, 1:] ** 2 if hasattr(nr, "pow") else
                                         a[idx, 1:] * a[idx, 1:]), [x])
    nr.autograd.gradgradcheck(lambda a: a[1:, ::2] * a[1:, ::2], [x])


def test_advanced_index_after_in_place_write_to_the_source() -> None:
    # index's backward reads only the index tensors: changing its input in place is fine.
    x = to_nr(random_array(rng, (3, 4)), requires_grad=True)
    h = x * 2.0
    y = h[[0, 2]]
    h.add_(1.0)
    y.sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), [[2.0] * 4, [0.0] * 4, [2.0] * 4])


# -- setitem ------------------------------------------------------------------------------------
def _set(m: Any, a: Any, index: Any, value: Any) -> Any:
    out = a * 1.0  # a non-leaf copy, so the write is recorded by autograd
    out[index] = value
    return out


SETITEM = [
    (lambda m: 1, lambda m, v: v, lambda a, v: (1, v)),
    (lambda m: (slice(None), 2), lambda m, v: v[0], lambda a, v: ((slice(None), 2), v[0])),
    (lambda m: (0, slice(1, None, 2)), lambda m, v: v[:2], lambda a, v: ((0, slice(1, None, 2)),
                                                                         v[:2])),
    (lambda m: (Ellipsis, 1), lambda m, v: v[0, :4], lambda a, v: ((Ellipsis, 1), v[0, :4])),
    (lambda m: [2, 0], lambda m, v: v[None], lambda a, v: ([2, 0], v[None])),
    (lambda m: (slice(None), m.tensor([1, 3]), 0), lambda m, v: v[0, :2],
     lambda a, v: ((slice(None), [1, 3], 0), v[0, :2])),
]


@pytest.mark.parametrize("case", range(len(SETITEM)))
def test_setitem(case: int) -> None:
    make, value, reference = SETITEM[case]
    v = random_array(rng, (4, 5))

    def numpy_ref(a: np.ndarray, vv: np.ndarray) -> np.ndarray:
        out = a.copy()
        index, val = reference(a, vv)
        out[index] = val
        return out

    check_op(lambda m, a, vv: _set(m, a, make(m), value(m, vv)), [X, v], numpy_ref)


def test_setitem_scalar_mask_and_version() -> None:
    x = nr.tensor(np.arange(6.0).reshape(2, 3))
    v0 = x._version
    x[x._wrap_like(x.numpy() > 2.0)] = -1.0
    assert x.tolist() == [[0.0, 1.0, 2.0], [-1.0, -1.0, -1.0]]
    assert x._version == v0 + 1
    x[0] = nr.tensor([[7.0, 8.0, 9.0]])  # extra leading size-1 dims are accepted
    assert x.tolist()[0] == [7.0, 8.0, 9.0]
    ints = nr.tensor([1, 2, 3])
    ints[1:] = 4.7  # cast to the target's dtype, as PyTorch
    assert ints.tolist() == [1, 4, 4] and ints.dtype is nr.int64
    x[:, [0, 2]] = nr.tensor([5, 6])
    assert x.tolist() == [[5.0, 8.0, 6.0], [5.0, -1.0, 6.0]]


def test_setitem_overlapping_source_reads_old_values() -> None:
    x = nr.tensor(np.arange(5.0))
    x[1:] = x[:-1]
    assert x.tolist() == [0.0, 0.0, 1.0, 2.0, 3.0]


def test_setitem_on_leaf_requiring_grad_is_an_error() -> None:
    x = nr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        x[0] = 3.0
    with nr.no_grad():
        x[0] = 3.0
    assert x.tolist() == [3.0, 2.0]


@pytest.mark.skipif(not HAS_TORCH, reason="needs torch")
def test_setitem_gradients_vs_torch() -> None:
    import torch

    a = random_array(rng, (3, 4))
    v = random_array(rng, (4,))
    grads = []
    for m in (nr, torch):
        x = m.tensor(a, requires_grad=True)
        val = m.tensor(v, requires_grad=True)
        h = x * 3.0
        h[1] = val
        h[[0, 0], [1, 1]] = val[:2] * 2.0
        (h * h).sum().backward()
        grads.append((x.grad.numpy(), val.grad.numpy()))
    np.testing.assert_allclose(grads[0][0], grads[1][0])
    np.testing.assert_allclose(grads[0][1], grads[1][1])


def test_setitem_invalidates_saved_output() -> None:
    x = nr.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()  # exp saves its output for backward
    h[0] = 0.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        h.sum().backward()


def test_index_put_function() -> None:
    v = random_array(rng, (3,))
    check_op(lambda m, a, vv: m.index_put(a, (m.tensor([0, 2, 0]), m.tensor([1, 1, 1])), vv,
                                          accumulate=True),
             [X[:, :, 0], v], lambda a, vv: _add_at(a, (np.array([0, 2, 0]), np.array([1, 1, 1])),
                                                    vv))
    check_op(lambda m, a, vv: m.index_put(a, (m.tensor([2, 1]),), vv[:1]),
             [X[:, :, 0], v], lambda a, vv: _put(a, [2, 1], vv[:1]))


def _add_at(a: np.ndarray, index: Any, values: np.ndarray) -> np.ndarray:
    out = a.copy()
    np.add.at(out, index, values)
    return out


def _put(a: np.ndarray, index: Any, values: np.ndarray) -> np.ndarray:
    out = a.copy()
    out[index] = values
    return out


# -- index errors -------------------------------------------------------------------------------
def test_index_errors() -> None:
    x = nr.zeros(2, 3)
    with pytest.raises(nr.ShapeError, match="getitem: index 5 is out of bounds for dimension 0 "
                                            "with size 2"):
        x[5]
    with pytest.raises(nr.ShapeError, match="index -4 is out of bounds for dimension 1 with "
                                            "size 3"):
        x[:, -4]
    with pytest.raises(nr.ShapeError, match="too many indices for tensor of dimension 2"):
        x[0, 0, 0]
    with pytest.raises(ValueError, match="(?s)step must be greater than zero.*flip"):
        x[::-1]
    with pytest.raises(ValueError, match="slice step cannot be zero"):
        x[::0]
    with pytest.raises(IndexError, match="index: index 7 is out of bounds for dim 0 with size 2"):
        x[[0, 7]]
    with pytest.raises(IndexError, match="index -3 is out of bounds for dim 0 with size 2"):
        x[nr.tensor([-3])]
    with pytest.raises(nr.ShapeError, match="indexing tensors could not be broadcast together "
                                            r"with shapes \[2\], \[3\]"):
        x[[0, 1], [0, 1, 2]]
    with pytest.raises(nr.DTypeError, match="tensors used as indices must be int64 or int32"):
        x[nr.tensor([0.0])]
    with pytest.raises(IndexError, match=r"shape of the mask \[3\] at index 0 does not match "
                                         r"the shape of the indexed tensor \[2, 3\] at index 0"):
        x[nr.tensor([True, False, True])]
    with pytest.raises(IndexError, match="single ellipsis"):
        x[..., ...]
    with pytest.raises(IndexError, match="valid indices"):
        x["a"]
    with pytest.raises(nr.ShapeError, match=r"value tensor of shape \[4\] cannot be broadcast "
                                            r"to indexing result of shape \[3\]"):
        x[0] = nr.zeros(4)


# -- gather / scatter ---------------------------------------------------------------------------
def _gather_ref(a: np.ndarray, dim: int, index: np.ndarray) -> np.ndarray:
    out = np.empty(index.shape)
    for pos in np.ndindex(index.shape):
        src = list(pos)
        src[dim] = index[pos]
        out[pos] = a[tuple(src)]
    return out


def _scatter_ref(a: np.ndarray, dim: int, index: np.ndarray, src: Any, add: bool) -> np.ndarray:
    out = a.copy()
    for pos in np.ndindex(index.shape):
        dst = list(pos)
        dst[dim] = index[pos]
        value = src[pos] if isinstance(src, np.ndarray) else src
        out[tuple(dst)] = out[tuple(dst)] + value if add else value
    return out


def test_gather() -> None:
    index = np.array([[0, 2, 2], [1, 1, 0]])
    check_op(lambda m, a, i: m.gather(a, 1, i), [X[:, :, 0], index],
             lambda a, i: _gather_ref(a, 1, i))
    check_op(lambda m, a, i: a.gather(0, i), [X[:, :, 0], index[:, :2]],
             lambda a, i: _gather_ref(a, 0, i))
    check_op(lambda m, a, i: a.gather(-1, i), [X, np.zeros((1, 2, 1), dtype=np.int32)],
             lambda a, i: _gather_ref(a, 2, i))


def test_scatter_and_scatter_add() -> None:
    a = X[:, :, 0]
    index = np.array([[2, 0, 1, 0]])  # one row: every column written once
    src = random_array(rng, (2, 5))
    check_op(lambda m, x, i, s: m.scatter(x, 0, i, s), [a, index, src[:1, :4]],
             lambda x, i, s: _scatter_ref(x, 0, i, s, add=False))
    check_op(lambda m, x, i: x.scatter(0, i, 1.5), [a, index],
             lambda x, i: _scatter_ref(x, 0, i, 1.5, add=False))
    dup = np.array([[0, 0, 1], [2, 0, 0]])  # repeated targets along dim 1
    check_op(lambda m, x, i, s: m.scatter_add(x, 1, i, s), [a, dup, src[:, :3]],
             lambda x, i, s: _scatter_ref(x, 1, i, s, add=True))
    check_op(lambda m, x, i, s: x.scatter_add(0, i, s), [a, dup[:, :2], src],
             lambda x, i, s: _scatter_ref(x, 0, i, s, add=True), torch_check=False)


def test_scatter_src_larger_than_index_gets_padded_gradient() -> None:
    # PyTorch raises on this backward (shape [2, 2] vs [5, 5]); the padded gradient is exact.
    a, src = random_array(rng, (3, 4)), random_array(rng, (3, 5))
    check_op(lambda m, x, s: m.scatter_add(x, 0, m.tensor([[0, 1], [2, 0]]), s), [a, src],
             lambda x, s: _scatter_ref(x, 0, np.array([[0, 1], [2, 0]]), s, add=True),
             torch_check=False)


@st.composite
def gather_cases(draw: Any) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    rank = draw(st.integers(1, 3))
    shape = [draw(st.integers(1, 4)) for _ in range(rank)]
    dim = draw(st.integers(0, rank - 1))
    index_shape = [draw(st.integers(1, s)) for s in shape]
    seed = draw(st.integers(0, 2**16))
    r = np.random.default_rng(seed)
    # Distinct indices along dim (scatter without repeats is deterministic): a permutation
    # prefix of each line.
    index_shape[dim] = draw(st.integers(1, shape[dim]))
    perm = np.argsort(r.random(shape), axis=dim)
    index = np.take(perm, np.arange(index_shape[dim]), axis=dim)
    index = index[tuple(slice(0, s) for s in index_shape)]
    src_shape = [s + draw(st.integers(0, 1)) for s in index_shape]
    return r.uniform(-2, 2, shape), dim, index, r.uniform(-2, 2, src_shape)


@settings(max_examples=30, deadline=None)
@given(gather_cases())
def test_random_gather_scatter(case: tuple[np.ndarray, int, np.ndarray, np.ndarray]) -> None:
    a, dim, index, src = case
    check_op(lambda m, x, i: m.gather(x, dim, i), [a, index], lambda x, i: _gather_ref(x, dim, i))
    same = src[tuple(slice(0, s) for s in index.shape)].copy()  # torch's backward needs it
    check_op(lambda m, x, i, s: m.scatter(x, dim, i, s), [a, index, same],
             lambda x, i, s: _scatter_ref(x, dim, i, s, add=False))
    check_op(lambda m, x, i, s: m.scatter_add(x, dim, i, s), [a, index, src],
             lambda x, i, s: _scatter_ref(x, dim, i, s, add=True), torch_check=False)
    check_op(lambda m, x, i, s: m.scatter_add(x, dim, i, s), [a, index, same],
             lambda x, i, s: _scatter_ref(x, dim, i, s, add=True))


def test_gather_scatter_errors() -> None:
    x = nr.zeros(2, 3)
    with pytest.raises(IndexError, match="gather: index 3 is out of bounds for dim 1 with size 3"):
        x.gather(1, nr.tensor([[3]]))
    with pytest.raises(IndexError, match="gather: index -1 is out of bounds"):
        x.gather(1, nr.tensor([[-1]]))
    with pytest.raises(nr.ShapeError, match="gather: index tensor must have the same number of "
                                            "dimensions as input"):
        x.gather(0, nr.tensor([0]))
    with pytest.raises(nr.ShapeError, match="index size 3 at dimension 0 exceeds the input's "
                                            "size 2"):
        x.gather(1, nr.zeros(3, 1, dtype=nr.int64))
    with pytest.raises(nr.DTypeError, match="scatter: expected self.dtype to be equal to "
                                            "src.dtype"):
        x.scatter(0, nr.tensor([[0]]), nr.ones(1, 1, dtype=nr.float64))
    with pytest.raises(IndexError, match="scatter_add: index 2 is out of bounds for dim 0 with "
                                         "size 2"):
        x.scatter_add(0, nr.tensor([[2]]), nr.ones(1, 1))
    with pytest.raises(nr.ShapeError, match="index size 2 at dimension 1 exceeds the src's"):
        x.scatter(0, nr.tensor([[0, 1]]), nr.ones(1, 1))


# -- index_select, take_along_dim ---------------------------------------------------------------
def test_index_select() -> None:
    check_op(lambda m, a, i: m.index_select(a, 1, i), [X, np.array([3, 0, 3, 1])],
             lambda a, i: a[:, i])
    check_op(lambda m, a, i: a.index_select(-1, i), [X, np.array([4], dtype=np.int32)],
             lambda a, i: a[..., i])
    check_op(lambda m, a, i: a.index_select(0, i), [X, np.array(2)], lambda a, i: a[[2]])
    check_op(lambda m, a, i: a.index_select(0, i), [X, np.zeros(0, dtype=np.int64)],
             lambda a, i: a[:0])


def test_index_select_errors() -> None:
    x = nr.zeros(5, 2)
    with pytest.raises(IndexError, match="index_select: index 7 is out of bounds for dim 0 with "
                                         "size 5"):
        x.index_select(0, nr.tensor([1, 7]))
    with pytest.raises(IndexError, match="index_select: index -1 is out of bounds"):
        x.index_select(0, nr.tensor([-1]))
    with pytest.raises(nr.ShapeError, match="index_select: index is supposed to be a vector"):
        x.index_select(0, nr.tensor([[1]]))
    with pytest.raises(nr.DTypeError, match="index_select: tensors used as indices"):
        x.index_select(0, nr.tensor([1.0]))


def test_take_along_dim() -> None:
    index = np.array([[0, 2], [1, 1], [3, 0]])
    check_op(lambda m, a, i: m.take_along_dim(a, i, 1), [X[:, :, 0], index],
             lambda a, i: np.take_along_axis(a, i, 1))
    check_op(lambda m, a, i: m.take_along_dim(a, i), [X[:, :, 0], index],
             lambda a, i: a.reshape(-1)[i.reshape(-1)])
    col = np.array([1, 0, 2, 4])[None, :, None]  # (1, 4, 1) broadcasts against (3, 4, 5)
    check_op(lambda m, a, i: m.take_along_dim(a, i, 2), [X, col],
             lambda a, i: np.take_along_axis(a, np.broadcast_to(i, (3, 4, 1)), 2))
    with pytest.raises(nr.ShapeError, match=r"take_along_dim: input f64\[3, 4, 5\] and indices "
                                            r"i64\[1, 3, 1\] must broadcast in every dim but 2"):
        nr.take_along_dim(to_nr(X), nr.zeros(1, 3, 1, dtype=nr.int64), 2)


# -- masks ----------------------------------------------------------------------------------------
def test_masked_fill() -> None:
    mask = random_array(rng, (4, 5), dtype=np.bool_)
    check_op(lambda m, a, k: m.masked_fill(a, k, -1.5), [X, mask],
             lambda a, k: np.where(k, -1.5, a))
    check_op(lambda m, a, k: a.masked_fill(k, 2), [X[0, 0], mask[:1]],  # input broadcasts
             lambda a, k: np.where(k, 2.0, a))
    check_op(lambda m, a, k, v: a.masked_fill(k, v), [X, mask[0], np.array(0.25)],
             lambda a, k, v: np.where(k, v, a))
    check_op(lambda m, a, k: a.masked_fill(k, 7.9), [np.arange(5), mask[0]],
             lambda a, k: np.where(k, 7, a))


def test_masked_fill_in_place_and_errors() -> None:
    x = nr.tensor(np.arange(6.0).reshape(2, 3))
    x.masked_fill_(nr.tensor([True, False, True]), 0.5)
    assert x.tolist() == [[0.5, 1.0, 0.5], [0.5, 4.0, 0.5]]
    with pytest.raises(nr.DTypeError, match="masked_fill: only bool masks are supported"):
        x.masked_fill(nr.tensor([1, 0, 1]), 1.0)
    with pytest.raises(nr.ShapeError, match="only a 0-dimensional value tensor"):
        nr.masked_fill(x, nr.tensor([True, False, True]), nr.tensor([1.0]))
    with pytest.raises(nr.ShapeError, match="masked_fill_: the result shape"):
        x.masked_fill_(nr.ones(4, 2, 3, dtype=nr.bool), 1.0)


def test_masked_select() -> None:
    mask = random_array(rng, (4, 5), dtype=np.bool_)
    check_op(lambda m, a, k: m.masked_select(a, k), [X, mask],
             lambda a, k: a[np.broadcast_to(k, a.shape)])


def test_nonzero() -> None:
    a = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])
    check_op(lambda m, x: m.nonzero(x), [a], np.argwhere, grad=False)
    check_op(lambda m, x: m.nonzero(x, as_tuple=True), [a], np.nonzero, grad=False)
    check_op(lambda m, x: m.nonzero(x), [np.array(3)], lambda x: np.zeros((1, 0), np.int64),
             grad=False)
    check_op(lambda m, x: m.nonzero_static(x, size=4, fill_value=-2), [a],
             lambda x: np.concatenate([np.argwhere(x), [[-2, -2]]]), grad=False)
    check_op(lambda m, x: m.nonzero_static(x, size=2), [a], lambda x: np.argwhere(x)[:2],
             grad=False)


def test_select_and_rules_under_the_symbolic_algebra() -> None:
    check_op(lambda m, a: m.select(a, 1, -2), [X], lambda a: a[:, -2])
    from neurarust.types.symbolic import SymbolicAlgebra

    dims = SymbolicAlgebra()
    n, m = dims.dim("N"), dims.dim("M")
    out = get("index").shape(dims, (n, m), (5,), (1,), index=(), indexed_dims=(0, 1))
    assert out == (5,)
    out = get("getitem").shape(dims, (n, m), index=(Slice(2, None, 3), -1))
    assert out[0].evaluate({"N": 10}) == len(range(10)[2::3])
    message = "index -1 is out of bounds for dimension 1 with size M"
    assert [o.message for o in dims.pending] == [message]
    assert get("gather").shape(CONCRETE, (2, 3), (2, 1), dim=1) == (2, 1)


@pytest.mark.skipif(not HAS_TORCH, reason="needs torch")
def test_tensor_methods_match_torch() -> None:
    check_op(lambda m, a, i: (a.gather(1, i), a.index_select(0, i[0])),
             [X[:, :, 0], np.array([[1, 0], [2, 2], [0, 3]])],
             lambda a, i: (_gather_ref(a, 1, i), a[i[0]]))
