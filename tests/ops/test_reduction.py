"""Reductions against numpy float64, finite differences and PyTorch (``check_op``): dims as
ints, tuples and negatives, keepdim, empty and 0-d inputs, and PyTorch's gradients at ties."""

# ruff: noqa: B023  (each case's lambda runs within its own loop iteration)

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import neurarust as nr
from tests.reference import _check_torch, check_op, random_array

rng = np.random.default_rng(1)


def rand(*shape: int, low: float = -2.0, high: float = 2.0, dtype: Any = np.float64) -> np.ndarray:
    return random_array(rng, shape, dtype, low, high)


def torch_grads_agree(fn: Callable[..., Any], arrays: list[np.ndarray]) -> None:
    """Forward and gradients vs PyTorch only (ties: finite differences disagree by design)."""
    float_pos = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    _check_torch(fn, arrays, float_pos, True, 1e-6, 1e-6)


def np_logsumexp(a: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    top = np.max(a, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(a - top), axis=axis, keepdims=True)) + top
    return out if keepdims else np.squeeze(out, axis=axis)


def np_norm(p: float) -> Callable[..., np.ndarray]:
    def ref(a: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
        x = np.abs(a)
        if p == np.inf:
            return np.max(x, axis=axis, keepdims=keepdims)
        if p == -np.inf:
            return np.min(x, axis=axis, keepdims=keepdims)
        return np.sum(x ** p, axis=axis, keepdims=keepdims) ** (1 / p)

    return ref


# name -> (call with lib, input, dim, keepdim), numpy reference (a, axis, keepdims)
REDUCTIONS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "sum": (lambda m, a, d, k: m.sum(a, d, k), np.sum),
    "mean": (lambda m, a, d, k: m.mean(a, d, k), np.mean),
    "amax": (lambda m, a, d, k: m.amax(a, d, k), np.max),
    "amin": (lambda m, a, d, k: m.amin(a, d, k), np.min),
    "var": (lambda m, a, d, k: m.var(a, d, keepdim=k), lambda a, axis, keepdims:
            np.var(a, axis=axis, keepdims=keepdims, ddof=1)),
    "std0": (lambda m, a, d, k: m.std(a, d, correction=0, keepdim=k), np.std),
    "logsumexp": (lambda m, a, d, k: m.logsumexp(a, d, k), np_logsumexp),
    "norm2": (lambda m, a, d, k: m.norm(a, 2, d, k), np_norm(2)),
    "norm1": (lambda m, a, d, k: m.norm(a, 1, d, k), np_norm(1)),
    "norm3": (lambda m, a, d, k: m.norm(a, 3, d, k), np_norm(3)),
    "norm_inf": (lambda m, a, d, k: m.norm(a, float("inf"), d, k), np_norm(np.inf)),
    "norm_-inf": (lambda m, a, d, k: m.norm(a, -float("inf"), d, k), np_norm(-np.inf)),
}


@pytest.mark.parametrize("name", list(REDUCTIONS))
@pytest.mark.parametrize("dim,keepdim", [(None, False), (1, False), (-1, True), ((0, 2), False),
                                         ((-3, 1), True)])
def test_reduction(name: str, dim: Any, keepdim: bool) -> None:
    call, ref = REDUCTIONS[name]
    if dim is None and keepdim is False and name.startswith("logsumexp"):
        dim = (0, 1, 2)  # PyTorch's logsumexp needs a dim
    check_op(lambda m, a: call(m, a, dim, keepdim), [rand(2, 3, 4)],
             lambda a: ref(a, axis=dim, keepdims=keepdim))


@pytest.mark.filterwarnings("ignore:var\\(\\)")  # PyTorch's "degrees of freedom <= 0"
@settings(max_examples=40, deadline=None)
@given(data=st.data(), shape=st.lists(st.integers(1, 3), min_size=1, max_size=3),
       name=st.sampled_from(list(REDUCTIONS)), keepdim=st.booleans())
def test_reduction_random_dims(data: Any, shape: list[int], name: str, keepdim: bool) -> None:
    n = len(shape)
    dims = data.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=n,
                              unique_by=lambda d: d % n))
    dim = dims[0] if len(dims) == 1 and data.draw(st.booleans()) else tuple(dims)
    call, ref = REDUCTIONS[name]
    a = rand(*shape)
    axis = dim if isinstance(dim, int) else tuple(d % n for d in dim)
    count = int(np.prod([shape[d] for d in np.atleast_1d(axis)]))
    if name == "var" and count == 1:  # N - correction = 0: nan, as PyTorch
        check_op(lambda m, x: call(m, x, dim, keepdim), [a], grad=False)
        return
    expected = ref(a, axis=axis, keepdims=keepdim)
    assert call(nr, nr.tensor(a), dim, keepdim).shape == np.shape(expected)
    check_op(lambda m, x: call(m, x, dim, keepdim), [a], lambda x: expected)


def test_integer_and_bool_sums_and_products() -> None:
    ints = np.array([[1, -2, 3], [4, 5, -6]], np.int32)
    check_op(lambda m, a: m.sum(a), [ints], np.sum)
    check_op(lambda m, a: m.sum(a, 0), [np.array([[True, False], [True, True]])],
             lambda a: np.sum(a, 0))
    check_op(lambda m, a: m.prod(a, 1), [ints], lambda a: np.prod(a, 1))
    check_op(lambda m, a: m.sum(a, 1, dtype=m.float64), [ints], lambda a: np.sum(a, 1))
    check_op(lambda m, a: m.mean(a, dtype=m.float64), [ints], np.mean)
    check_op(lambda m, a: m.cumsum(a, 1), [ints.astype(np.int8)], lambda a: np.cumsum(a, 1))
    check_op(lambda m, a: m.sum(a), [rand(3, 5, dtype=np.float16)], np.sum, atol=1e-2, rtol=1e-3,
             grad=False)


def test_prod_gradient_with_zeros() -> None:
    check_op(lambda m, a: m.prod(a), [rand(2, 3)], np.prod)
    a = np.array([[0.0, 2.0, 3.0, 0.5], [0.0, 0.0, 1.5, 2.0], [1.0, 2.0, -1.0, 0.5]])
    check_op(lambda m, x: m.prod(x, 1), [a], lambda x: np.prod(x, 1))
    check_op(lambda m, x: m.prod(x, 0, keepdim=True), [a], lambda x: np.prod(x, 0, keepdims=True))
    check_op(lambda m, x: m.prod(x), [np.array([0.0, 2.0, 3.0])], np.prod)
    assert nr.autograd.gradgradcheck(lambda x: x.prod(1), [nr.tensor(a[2:] + 0.1, requires_grad=True)])


def test_max_min_along_a_dim_route_the_gradient_to_the_index() -> None:
    a = np.array([[3.0, 1.0, 3.0], [2.0, 5.0, 5.0]])
    for name in ("max", "min"):
        for keepdim in (False, True):
            torch_grads_agree(lambda m, x: getattr(m, name)(x, 1, keepdim).values, [a])
            torch_grads_agree(lambda m, x: getattr(x, name)(dim=0, keepdim=keepdim)[0], [a])
            check_op(lambda m, x: getattr(m, name)(x, -1, keepdim).indices, [a], grad=False)
    check_op(lambda m, x: m.max(x, 1).values, [rand(3, 4)], lambda x: np.max(x, 1))
    out = nr.max(nr.tensor(a), 1)
    values, indices = out
    assert out.values is values and out.indices is indices
    np.testing.assert_array_equal(indices.numpy(), [0, 1])
    assert indices.dtype is nr.int64


def test_max_of_everything_and_amax_split_ties_evenly() -> None:
    a = np.array([[3.0, 1.0, 3.0], [2.0, 3.0, 0.0]])
    torch_grads_agree(lambda m, x: m.max(x), [a])
    torch_grads_agree(lambda m, x: x.min(), [a])
    torch_grads_agree(lambda m, x: m.amax(x, 1), [a])
    torch_grads_agree(lambda m, x: m.amin(x, (0, 1), keepdim=True), [a])


def test_argmax_argmin_first_occurrence() -> None:
    a = np.array([[1.0, 4.0, 4.0], [np.nan, 0.0, np.nan], [2.0, 2.0, -1.0]])
    for name in ("argmax", "argmin"):
        check_op(lambda m, x: getattr(m, name)(x), [a], grad=False)
        check_op(lambda m, x: getattr(m, name)(x, keepdim=True), [a], grad=False)
        check_op(lambda m, x: getattr(m, name)(x, 1), [a], grad=False)
        check_op(lambda m, x: getattr(m, name)(x, 0, keepdim=True), [a], grad=False)
        check_op(lambda m, x: getattr(m, name)(x, 1), [np.array([[3, 3, 1]], np.int16)],
                 grad=False)
    assert nr.tensor([1.0, 3.0], requires_grad=True).argmax().requires_grad is False


@pytest.mark.filterwarnings("ignore:var\\(\\)")  # PyTorch's "degrees of freedom <= 0"
def test_var_std_corrections() -> None:
    a = rand(3, 5)
    for correction in (0, 1, 2, 0.5):
        check_op(lambda m, x: m.var(x, 1, correction=correction), [a],
                 lambda x: np.var(x, 1, ddof=correction))
        check_op(lambda m, x: m.std(x, 0, correction=correction, keepdim=True), [a],
                 lambda x: np.std(x, 0, ddof=correction, keepdims=True))
    check_op(lambda m, x: m.var(x, 0), [rand(1, 3)], grad=False)  # N - correction = 0: nan
    check_op(lambda m, x: m.var(x), [np.array([1.0, 2.0])], lambda x: np.var(x, ddof=1))
    torch_grads_agree(lambda m, x: m.std(x, 1), [np.array([[1.0, 1.0], [0.0, 2.0]])])


def test_logsumexp_is_stable_and_handles_infinities() -> None:
    big = np.array([[1000.0, 1000.0, -1000.0], [-1e4, 0.0, 1.0]])
    check_op(lambda m, x: m.logsumexp(x, 1), [big], lambda x: np_logsumexp(x, 1))
    masked = np.array([[-np.inf, 1.0, 2.0], [-np.inf, -np.inf, 0.5]])
    check_op(lambda m, x: m.logsumexp(x, 1), [masked], lambda x: np_logsumexp(x, 1), grad=False)
    torch_grads_agree(lambda m, x: m.logsumexp(x, 1), [masked])
    special = np.array([[-np.inf, -np.inf], [np.inf, 1.0], [np.nan, 1.0]])
    check_op(lambda m, x: m.logsumexp(x, 1), [special], grad=False)
    check_op(lambda m, x: m.logsumexp(x, 0), [np.array([1, 2, 3])], grad=False)  # int -> f32
    check_op(lambda m, x: m.logsumexp(x, (0, 1), keepdim=True), [rand(2, 3)],
             lambda x: np_logsumexp(x, (0, 1), True))


def test_cumsum() -> None:
    a = rand(3, 4)
    for dim in (0, 1, -1):
        check_op(lambda m, x: m.cumsum(x, dim), [a], lambda x: np.cumsum(x, dim))
    check_op(lambda m, x: x.cumsum(0), [np.array(2.5)], lambda x: x)
    check_op(lambda m, x: m.cumsum(x, 0), [np.zeros((0, 2))], grad=False)
    check_op(lambda m, x: m.cumsum(x, 1, dtype=m.float64), [np.array([[1, 2]], np.int16)])


def test_norm_variants_and_gradient_at_zero() -> None:
    a = rand(3, 4)
    check_op(lambda m, x: m.norm(x), [a], np.linalg.norm)
    check_op(lambda m, x: x.norm(), [a], np.linalg.norm)
    check_op(lambda m, x: m.norm(x, "fro", (0, 1)), [a], np.linalg.norm)
    check_op(lambda m, x: m.norm(x, 0.5, 1), [a], lambda x: np_norm(0.5)(x, 1))
    check_op(lambda m, x: m.norm(x, 1.5, 0, True), [a], lambda x: np_norm(1.5)(x, 0, True))
    check_op(lambda m, x: m.norm(x, 0, 1), [np.array([[0.0, 1.0, -2.0], [0.0, 0.0, 3.0]])],
             lambda x: np.count_nonzero(x, 1).astype(np.float64))
    zeros = np.array([[0.0, 0.0], [0.0, 1.0]])
    for p in (2, 1, 3, 1.5, 0.5, float("inf"), 0):
        torch_grads_agree(lambda m, x: m.norm(x, p, 1), [zeros])
    with pytest.raises(NotImplementedError, match="p='nuc'"):
        nr.norm(nr.ones(2, 2), "nuc")


def test_all_any() -> None:
    a = np.array([[0.0, 1.0, 2.0], [3.0, -1.0, 4.0]])
    for name in ("all", "any"):
        ref = getattr(np, name)
        check_op(lambda m, x: getattr(m, name)(x), [a], ref, grad=False)
        check_op(lambda m, x: getattr(m, name)(x, 1), [a], lambda x: ref(x, 1), grad=False)
        check_op(lambda m, x: getattr(m, name)(x, 0, True), [a > 0], lambda x: ref(x, 0, keepdims=True))
        check_op(lambda m, x: getattr(m, name)(x), [np.zeros((0, 3))], ref, grad=False)
        check_op(lambda m, x: getattr(m, name)(x, 1), [np.array([[0, 3]], np.uint8)],
                 lambda x: ref(x, 1).astype(np.uint8))


def test_empty_and_zero_dim_inputs() -> None:
    empty = np.zeros((0, 3))
    check_op(lambda m, x: m.sum(x, 0), [empty], lambda x: np.zeros(3))
    check_op(lambda m, x: m.mean(x, 0), [empty], grad=False)  # nan, as PyTorch
    check_op(lambda m, x: m.prod(x, 0), [empty], lambda x: np.ones(3))
    check_op(lambda m, x: m.amax(x, 1), [empty], lambda x: np.zeros(0))
    check_op(lambda m, x: m.logsumexp(x, 0), [empty], grad=False)
    check_op(lambda m, x: m.norm(x), [empty], lambda x: np.array(0.0))
    scalar = np.array(1.5)
    for fn in (lambda m, x: m.sum(x, 0), lambda m, x: m.sum(x, -1, True), lambda m, x: m.mean(x),
               lambda m, x: m.amax(x, 0), lambda m, x: m.prod(x, 0), lambda m, x: m.norm(x),
               lambda m, x: m.logsumexp(x, 0), lambda m, x: m.max(x, 0).values,
               lambda m, x: m.cumsum(x, -1)):
        check_op(fn, [scalar])
    check_op(lambda m, x: m.argmax(x, 0), [scalar], grad=False)


def test_reduction_errors() -> None:
    x = nr.zeros(2, 3)
    with pytest.raises(nr.ShapeError, match="(?s)sum: dim out of range.*input: f32\\[2, 3\\]"):
        x.sum(2)
    with pytest.raises(nr.ShapeError, match="dim appears multiple times"):
        x.sum((0, -2))
    with pytest.raises(nr.ShapeError, match="amax: cannot reduce over dim 0, which has size 0"):
        nr.amax(nr.zeros(0, 3), 0)
    with pytest.raises(nr.ShapeError, match="max: cannot reduce over dim 0"):
        nr.max(nr.zeros(0))
    with pytest.raises(nr.ShapeError, match="argmax: cannot reduce"):
        nr.argmax(nr.zeros(2, 0))
    with pytest.raises(nr.ShapeError, match="norm: cannot take the inf norm"):
        nr.norm(nr.zeros(0), float("inf"))
    for fn in (lambda: nr.mean(nr.tensor([1, 2])), lambda: nr.var(nr.tensor([1, 2])),
               lambda: nr.norm(nr.tensor([1, 2]))):
        with pytest.raises(nr.DTypeError, match="expects a floating point input.*\n  got dtypes: int64"):
            fn()
    with pytest.raises(TypeError, match="dim must be an int"):
        nr.max(x, (0, 1))  # type: ignore[call-overload]


def test_second_derivatives() -> None:
    a = nr.tensor(rand(2, 3), requires_grad=True)
    gradgrad = nr.autograd.gradgradcheck
    assert gradgrad(lambda x: x.logsumexp(1), [a])
    assert gradgrad(lambda x: x.var(0) + x.std(1, keepdim=True).sum(), [a])
    assert gradgrad(lambda x: x.norm() + x.norm(p=3, dim=1).sum(), [a])
    assert gradgrad(lambda x: x.amax(1) * x.max(0).values.sum() + x.cumsum(1).mean(), [a])
