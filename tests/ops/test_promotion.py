"""PyTorch's type promotion, pair by pair: ``nr.promote_types`` and the result dtype (and
values) of binary ops, Python scalars, unary float math and reductions, against torch."""

# ruff: noqa: B023  (each case's lambda runs within its own loop iteration)

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import neurarust as nr
from neurarust.types.dtype import ALL_DTYPES, DType

torch = pytest.importorskip("torch")

PAIRS = list(itertools.product(ALL_DTYPES, ALL_DTYPES))
IDS = [f"{a.name}-{b.name}" for a, b in PAIRS]
ERRORS = (TypeError, ValueError, RuntimeError, NotImplementedError, ZeroDivisionError)


def values(dtype: DType, data: list[int]) -> np.ndarray:
    return np.array(data).astype(dtype.np_dtype)


def same_result(fn: Callable[[Any, list[Any]], Any], arrays: list[Any]) -> None:
    """``fn(lib, inputs)`` gives the same dtype and values in both libraries, or both raise.
    Inputs that are numpy arrays become tensors; anything else passes through (scalars)."""
    def run(lib: Any) -> Any:
        make = (lambda a: nr.tensor(a, dtype=nr.types.dtype.from_numpy_dtype(a.dtype))) \
            if lib is nr else torch.tensor
        args = [make(a) if isinstance(a, np.ndarray) else a for a in arrays]
        try:
            return fn(lib, args)
        except ERRORS as err:
            return err

    mine, theirs = run(nr), run(torch)
    if isinstance(theirs, Exception) or isinstance(mine, Exception):
        assert isinstance(mine, Exception) and isinstance(theirs, Exception), \
            f"neurarust gave {mine!r}, torch gave {theirs!r}"
        return
    assert mine.dtype.name == str(theirs.dtype).removeprefix("torch."), \
        f"dtype {mine.dtype.name} != torch {theirs.dtype}"
    expected = theirs.numpy()
    got = mine.numpy()
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got, expected, rtol=1e-3 if got.dtype == np.float16 else 1e-6)
    else:
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("a,b", PAIRS, ids=IDS)
def test_promote_types_table(a: DType, b: DType) -> None:
    expected = torch.promote_types(getattr(torch, a.name), getattr(torch, b.name))
    assert nr.promote_types(a, b).name == str(expected).removeprefix("torch.")


BINARY_OPS: dict[str, Callable[[Any, list[Any]], Any]] = {
    "add": lambda m, xs: xs[0] + xs[1],
    "sub": lambda m, xs: xs[0] - xs[1],
    "mul": lambda m, xs: xs[0] * xs[1],
    "div": lambda m, xs: xs[0] / xs[1],
    "floor_divide": lambda m, xs: m.div(xs[0], xs[1], rounding_mode="floor"),
    "remainder": lambda m, xs: xs[0] % xs[1],
    "maximum": lambda m, xs: m.maximum(xs[0], xs[1]),
    "lt": lambda m, xs: xs[0] < xs[1],
    "eq": lambda m, xs: xs[0] == xs[1],
    "where": lambda m, xs: m.where(xs[0] > 1, xs[0], xs[1]),
}


@pytest.mark.parametrize("op", list(BINARY_OPS))
def test_binary_result_dtype_for_every_pair(op: str) -> None:
    for a, b in PAIRS:
        same_result(BINARY_OPS[op], [values(a, [1, 2, 3]), values(b, [1, 1, 2])])


SCALARS = [True, False, 2, -3, 1000, 2.5, -0.5]


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "lt", "eq", "maximum_scalar"])
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=[d.name for d in ALL_DTYPES])
def test_python_scalars_raise_the_category_never_the_width(op: str, dtype: DType) -> None:
    fns: dict[str, Callable[[Any, Any, Any], Any]] = {
        "add": lambda m, t, s: (t + s, s + t),
        "sub": lambda m, t, s: (t - s, s - t),
        "mul": lambda m, t, s: (t * s, s * t),
        "div": lambda m, t, s: (t / s, s / t),
        "lt": lambda m, t, s: (t < s, s < t),
        "eq": lambda m, t, s: (t == s, t != s),
        "maximum_scalar": lambda m, t, s: (m.clamp(t, min=s), m.clamp(t, max=s)),
    }
    for scalar in SCALARS:
        for k in range(2):
            same_result(lambda m, xs: fns[op](m, xs[0], xs[1])[k],
                        [values(dtype, [0, 1, 3]), scalar])


def test_examples_from_the_docs() -> None:
    i32, i64 = nr.tensor([1, 2], dtype=nr.int32), nr.tensor([1, 2])
    u8, s8 = nr.tensor([200], dtype=nr.uint8), nr.tensor([-1], dtype=nr.int8)
    assert (i32 / i32).dtype is nr.float32
    assert (i32 * 2.5).dtype is nr.float32
    assert (nr.ones(2, dtype=nr.float16) + 2.5).dtype is nr.float16
    assert (i32 + i64).dtype is nr.int64
    assert (u8 + s8).dtype is nr.int16 and (u8 + s8).item() == 199
    b = nr.tensor([True, False])
    assert (b + b).dtype is nr.bool and (b + b).tolist() == [True, False]
    assert (b + 1).dtype is nr.int64 and (i32 < 2.5).dtype is nr.bool
    assert (nr.tensor([100], dtype=nr.int8) + 1000).item() == 76  # wraps, as PyTorch
    assert (nr.tensor([255], dtype=nr.uint8) == -1).item() is True
    with pytest.raises(nr.DTypeError, match="sub: subtraction of a bool tensor"):
        b - b


UNARY = ["exp", "log", "sqrt", "sigmoid", "tanh", "reciprocal", "sin", "floor", "round", "abs",
         "neg", "relu", "sign", "square", "logical_not", "bitwise_not", "isnan"]


@pytest.mark.parametrize("name", UNARY)
def test_unary_result_dtype_for_every_dtype(name: str) -> None:
    for dtype in ALL_DTYPES:
        same_result(lambda m, xs: getattr(m, name)(xs[0]), [values(dtype, [1, 0, 3])])


REDUCTIONS: dict[str, Callable[[Any, list[Any]], Any]] = {
    "sum": lambda m, xs: m.sum(xs[0]),
    "sum_dim": lambda m, xs: m.sum(xs[0], 0),
    "prod": lambda m, xs: m.prod(xs[0]),
    "mean": lambda m, xs: m.mean(xs[0]),
    "amax": lambda m, xs: m.amax(xs[0], 0),
    "max": lambda m, xs: m.max(xs[0]),
    "max_dim": lambda m, xs: m.max(xs[0], 0).values,
    "argmax": lambda m, xs: m.argmax(xs[0]),
    "var": lambda m, xs: m.var(xs[0]),
    "logsumexp": lambda m, xs: m.logsumexp(xs[0], 0),
    "norm": lambda m, xs: m.norm(xs[0]),
    "cumsum": lambda m, xs: m.cumsum(xs[0], 0),
    "all": lambda m, xs: m.all(xs[0]),
    "any": lambda m, xs: m.any(xs[0], 0),
}


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction_result_dtype_for_every_dtype(name: str) -> None:
    for dtype in ALL_DTYPES:
        same_result(REDUCTIONS[name], [values(dtype, [1, 0, 3])])
