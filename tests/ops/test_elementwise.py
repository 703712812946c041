"""Elementwise ops against numpy float64, finite differences and PyTorch (``check_op``), with
random broadcastable shapes, PyTorch's gradients at kinks and ties, errors and in-place ops."""

# ruff: noqa: B023  (each case's lambda runs within its own loop iteration)

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import neurarust as nr
from tests.reference import HAS_TORCH, _check_torch, check_op, random_array

torch = pytest.importorskip("torch") if HAS_TORCH else None
rng = np.random.default_rng(0)


def rand(*shape: int, low: float = -2.0, high: float = 2.0, dtype: Any = np.float64) -> np.ndarray:
    return random_array(rng, shape, dtype, low, high)


def torch_grads_agree(fn: Callable[..., Any], arrays: list[np.ndarray]) -> None:
    """Forward and gradients vs PyTorch only: at kinks and ties finite differences disagree
    by design, and PyTorch's choice is the reference."""
    arrays = [np.asarray(a) for a in arrays]
    float_pos = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    _check_torch(fn, arrays, float_pos, True, 1e-6, 1e-6)


# -- unary ops ----------------------------------------------------------------------------------
UNARY: list[tuple[str, Callable[..., Any], tuple[float, float]]] = [
    ("exp", np.exp, (-2, 2)), ("exp2", np.exp2, (-2, 2)), ("expm1", np.expm1, (-2, 2)),
    ("log", np.log, (0.1, 3)), ("log2", np.log2, (0.1, 3)), ("log10", np.log10, (0.1, 3)),
    ("log1p", np.log1p, (-0.9, 3)), ("sqrt", np.sqrt, (0.1, 3)),
    ("rsqrt", lambda a: 1 / np.sqrt(a), (0.1, 3)), ("reciprocal", np.reciprocal, (0.2, 3)),
    ("sin", np.sin, (-3, 3)), ("cos", np.cos, (-3, 3)), ("tanh", np.tanh, (-3, 3)),
    ("sigmoid", lambda a: 1 / (1 + np.exp(-a)), (-5, 5)), ("relu", lambda a: np.maximum(a, 0), (-2, 2)),
    ("abs", np.abs, (-2, 2)), ("neg", np.negative, (-2, 2)), ("square", np.square, (-2, 2)),
    ("floor", np.floor, (-3, 3)), ("ceil", np.ceil, (-3, 3)), ("trunc", np.trunc, (-3, 3)),
    ("round", np.round, (-3, 3)), ("sign", np.sign, (-2, 2)),
]


@pytest.mark.parametrize("name,ref,domain", UNARY, ids=[u[0] for u in UNARY])
def test_unary_float(name: str, ref: Callable[..., Any], domain: tuple[float, float]) -> None:
    check_op(lambda m, a: getattr(m, name)(a), [rand(3, 4, low=domain[0], high=domain[1])], ref)


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "sigmoid", "reciprocal", "sin", "tanh",
                                  "rsqrt", "log1p", "expm1", "exp2", "log2", "log10", "cos"])
def test_float_math_of_integers_gives_default_float(name: str) -> None:
    check_op(lambda m, a: getattr(m, name)(a), [np.array([1, 2, 3], np.int32)])
    check_op(lambda m, a: getattr(m, name)(a), [np.array([True, False])])


@pytest.mark.parametrize("name", ["abs", "neg", "relu", "floor", "ceil", "round", "trunc",
                                  "sign", "square"])
def test_integer_unary_keeps_dtype(name: str) -> None:
    check_op(lambda m, a: getattr(m, name)(a), [np.array([-3, 0, 2], np.int16)])


def test_float16_and_float32_keep_their_dtype() -> None:
    check_op(lambda m, a: (a.exp() + a.sigmoid() * a.tanh()) / 3, [rand(4, dtype=np.float16)],
             lambda a: (np.exp(a) + 1 / (1 + np.exp(-a)) * np.tanh(a)) / 3, atol=3e-3, rtol=3e-3,
             grad=False)
    check_op(lambda m, a: a.sqrt().log(), [rand(5, low=0.5, high=3, dtype=np.float32)],
             lambda a: np.log(np.sqrt(a)), atol=1e-6, rtol=1e-6)


def test_sigmoid_is_stable_for_large_inputs() -> None:
    check_op(lambda m, a: m.sigmoid(a), [np.array([-800.0, -40.0, 0.0, 40.0, 800.0])],
             lambda a: 0.5 * (1 + np.tanh(a / 2)), grad=False)


def test_special_values_match_torch() -> None:
    special = np.array([-np.inf, -2.0, -0.0, 0.0, 0.5, np.inf, np.nan])
    for name in ["exp", "log", "sqrt", "rsqrt", "reciprocal", "sigmoid", "tanh", "relu", "abs",
                 "sign", "floor", "round", "log1p", "expm1"]:
        check_op(lambda m, a: getattr(m, name)(a), [special], grad=False)


def test_round_decimals() -> None:
    check_op(lambda m, a: m.round(a, decimals=2), [np.array([0.125, 1.23456, -2.5551])],
             lambda a: np.round(a, 2), grad=False)


# -- binary arithmetic --------------------------------------------------------------------------
BINARY: list[tuple[str, Callable[..., Any], tuple[float, float]]] = [
    ("add", np.add, (-2, 2)), ("sub", np.subtract, (-2, 2)), ("mul", np.multiply, (-2, 2)),
    ("div", np.divide, (0.5, 2)), ("pow", np.power, (0.5, 2)), ("maximum", np.maximum, (-2, 2)),
    ("minimum", np.minimum, (-2, 2)), ("remainder", np.remainder, (0.3, 3)),
    ("div_floor", np.floor_divide, (0.3, 3)),
]


def binary(m: Any, name: str, a: Any, b: Any) -> Any:
    """``m.name(a, b)``; div_floor is ``div(rounding_mode='floor')`` (PyTorch's floor_divide
    has no derivative at all, rounded div has a zero one)."""
    if name == "div_floor":
        return m.div(a, b, rounding_mode="floor")
    return getattr(m, name)(a, b)


@pytest.mark.parametrize("name,ref,domain", BINARY, ids=[b[0] for b in BINARY])
def test_binary_broadcast(name: str, ref: Callable[..., Any], domain: tuple[float, float]) -> None:
    lo, hi = domain
    check_op(lambda m, a, b: binary(m, name, a, b),
             [rand(2, 1, 3, low=lo, high=hi), rand(4, 1, low=lo, high=hi)], ref)


@settings(max_examples=30, deadline=None)
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       name=st.sampled_from([b[0] for b in BINARY]))
def test_binary_random_broadcastable_shapes(shapes: Any, name: str) -> None:
    (sa, sb), out_shape = shapes
    ref, (lo, hi) = {b[0]: (b[1], b[2]) for b in BINARY}[name]
    a, b = rand(*sa, low=lo, high=hi), rand(*sb, low=lo, high=hi)
    out = binary(nr, name, nr.tensor(a), nr.tensor(b))
    assert out.shape == out_shape == np.broadcast_shapes(sa, sb)
    check_op(lambda m, x, y: binary(m, name, x, y), [a, b], ref)


@settings(max_examples=25, deadline=None)
@given(shapes=mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3))
def test_where_random_broadcastable_shapes(shapes: Any) -> None:
    (sc, sa, sb), out_shape = shapes
    c = rand(*sc, dtype=np.bool_)
    check_op(lambda m, c, a, b: m.where(c, a, b), [c, rand(*sa), rand(*sb)], np.where)
    assert nr.where(nr.tensor(c), nr.zeros(sa), nr.ones(sb)).shape == out_shape


def test_alpha_and_scalars() -> None:
    a, b = rand(2, 3), rand(3)
    check_op(lambda m, a, b: m.add(a, b, alpha=2.5), [a, b], lambda a, b: a + 2.5 * b)
    check_op(lambda m, a, b: m.sub(a, b, alpha=-3), [a, b], lambda a, b: a + 3 * b)
    check_op(lambda m, a: 3 - a * 2 + a / 4 - 1 / (a * a + 1), [a],
             lambda a: 3 - a * 2 + a / 4 - 1 / (a * a + 1))


def test_division_rounding_modes_and_python_sign_remainder() -> None:
    a = np.array([-7, -6, -1, 0, 1, 6, 7], np.int64)
    b = np.array([2, -2, 3, -3, 2, -4, 3], np.int64)
    check_op(lambda m, a, b: m.div(a, b, rounding_mode="trunc"), [a, b],
             lambda a, b: np.trunc(a / b).astype(np.int64))
    check_op(lambda m, a, b: m.div(a, b, rounding_mode="floor"), [a, b], np.floor_divide)
    check_op(lambda m, a, b: a // b, [a, b], np.floor_divide)
    check_op(lambda m, a, b: a % b, [a, b], np.remainder)
    fa, fb = a * 1.5 + 0.1, b * 0.7  # no quotient is an integer: away from the jumps
    check_op(lambda m, a, b: m.remainder(a, b), [fa, fb], lambda a, b: a - np.floor(a / b) * b)
    check_op(lambda m, a, b: m.div(a, b, rounding_mode="trunc"), [fa, fb],
             lambda a, b: np.trunc(a / b))
    check_op(lambda m, a: m.div(a, 2) + a % 3 - m.floor_divide(a, 4), [a])
    check_op(lambda m, b: 5.5 % b + m.remainder(b, 0.65), [fb], lambda b: 5.5 % b + b % 0.65,
             grad=False)  # PyTorch has no derivative for number % tensor; we do:
    assert nr.autograd.gradcheck(lambda b: 5.5 % b, [nr.tensor(fb, requires_grad=True)])
    check_op(lambda m, a: a / 0.0, [np.array([1.0, -1.0, 0.0])], grad=False)
    check_op(lambda m, a: m.remainder(a, 0.0), [np.array([1.0, -1.0])], grad=False)


def test_integer_division_by_zero_raises() -> None:
    a = nr.tensor([1, 2])
    for fn in (lambda: a // 0, lambda: a % 0, lambda: nr.div(a, nr.tensor([1, 0]),
                                                             rounding_mode="trunc")):
        with pytest.raises(ZeroDivisionError, match="integer division by zero"):
            fn()
    np.testing.assert_allclose((a / 0).numpy(), [np.inf, np.inf])


def test_pow_forms_and_gradients() -> None:
    base, exp = rand(2, 3, low=0.5, high=2), rand(3, low=-1.5, high=1.5)
    check_op(lambda m, a, b: m.pow(a, b), [base, exp], np.power)
    check_op(lambda m, a: a ** 3, [rand(4)], lambda a: a ** 3)
    check_op(lambda m, a: a ** 0.5, [base], np.sqrt)
    check_op(lambda m, a: 2.5 ** a, [exp], lambda a: 2.5 ** a)
    check_op(lambda m, a: m.pow(a, 2), [np.array([1, -2, 3], np.int32)])
    check_op(lambda m, a: 2 ** a, [np.array([0, 1, 5])])
    check_op(lambda m, a, b: m.pow(a, b), [np.array([1, -1, 2, -1, 0]), np.array([-2, -3, -1, 4, 3])])
    with pytest.raises(ValueError, match="negative integer powers"):
        nr.tensor([2, 3]) ** -1


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # 0 * -inf, masked
def test_pow_gradient_at_base_zero() -> None:
    torch_grads_agree(lambda m, a, b: m.pow(a, b),
                      [np.array([0.0, 0.0, 0.0, 2.0]), np.array([0.0, 2.0, 0.5, 0.0])])
    torch_grads_agree(lambda m, a: m.pow(a, 0.0) + m.pow(a, 2), [np.array([0.0, 1.5])])
    torch_grads_agree(lambda m, b: m.pow(0.0, b), [np.array([0.0, 2.0, 1.0])])


# -- kinks, ties and selection: PyTorch's gradients ---------------------------------------------
def test_gradients_at_kinks_match_torch() -> None:
    x = np.array([-1.0, 0.0, 0.0, 1.0, 2.0])
    torch_grads_agree(lambda m, a: m.relu(a), [x])
    torch_grads_agree(lambda m, a: m.abs(a), [x])
    torch_grads_agree(lambda m, a: m.clamp(a, 0.0, 1.0), [x])
    torch_grads_agree(lambda m, a: m.clamp(a, min=1.0), [x])
    torch_grads_agree(lambda m, a: m.clamp(a, max=0.0), [x])
    torch_grads_agree(lambda m, a: m.sign(a) + m.floor(a) + m.ceil(a) + m.round(a), [x])
    torch_grads_agree(lambda m, a, b: m.div(a, b, rounding_mode="floor"), [x, x + 3])


def test_maximum_minimum_split_ties_as_torch() -> None:
    a = np.array([1.0, 2.0, 3.0, np.nan, 0.0])
    b = np.array([1.0, 3.0, 2.0, 1.0, np.nan])
    torch_grads_agree(lambda m, a, b: m.maximum(a, b), [a, b])
    torch_grads_agree(lambda m, a, b: m.minimum(a, b), [a, b])
    check_op(lambda m, a, b: m.maximum(a, b) * m.minimum(a, b), [rand(3, 4), rand(4)],
             lambda a, b: np.maximum(a, b) * np.minimum(a, b))
    check_op(lambda m, a, b: m.max(a, b), [rand(3), rand(3)], np.maximum)


def test_clamp_with_tensor_bounds() -> None:
    x, lo, hi = rand(3, 4), rand(4, low=-1, high=0), rand(3, 1, low=0, high=1)
    check_op(lambda m, a, l, h: m.clamp(a, l, h), [x, lo, hi],
             lambda a, l, h: np.minimum(np.maximum(a, l), h))
    check_op(lambda m, a, l: m.clamp(a, min=l), [x, lo], np.maximum)
    check_op(lambda m, a, h: m.clip(a, max=h), [x, hi], np.minimum)
    mixed = (nr.clamp(t := nr.tensor(x, requires_grad=True), nr.tensor(lo), 0.5),
             nr.clamp(t, -0.5, nr.tensor(hi, requires_grad=True)))
    for out, expected in zip(mixed, (np.clip(x, lo, 0.5), np.minimum(np.maximum(x, -0.5), hi))):
        np.testing.assert_allclose(out.detach().numpy(), expected)
        out.sum().backward()
    # min > max gives max; ties at the bounds go to the input (PyTorch's subgradient).
    torch_grads_agree(lambda m, a, l, h: m.clamp(a, l, h),
                      [np.array([1.0, 2.0, 3.0, 1.0]), np.array([1.0, 3.0, 0.0, 0.0]),
                       np.array([0.5, 3.0, 2.0, 1.0])])


def test_clamp_dtypes_and_errors() -> None:
    check_op(lambda m, a: m.clamp(a, min=0.5), [np.array([0, 1, 2])])
    check_op(lambda m, a: m.clamp(a, -1, 1), [np.array([-3, 0, 3], np.int8)])
    check_op(lambda m, a: m.clamp(a, min=0), [np.array([True, False])])
    with pytest.raises(ValueError, match="at least one of 'min' or 'max'"):
        nr.clamp(nr.zeros(2))


def test_where_scalars_dtypes_and_gradient() -> None:
    c = np.array([[True, False, True]])
    check_op(lambda m, c, a, b: m.where(c, a, b), [c, rand(2, 3), rand(2, 1)], np.where)
    check_op(lambda m, c, a: m.where(c, a, 0.0), [c, rand(2, 3)], lambda c, a: np.where(c, a, 0))
    check_op(lambda m, c: m.where(c, 1.0, 0.0), [c], lambda c: np.where(c, 1.0, 0.0))
    check_op(lambda m, c: m.where(c, 1, 0), [c])
    check_op(lambda m, c, a: m.where(c, a, 2.5), [c, np.array([1, 2, 3], np.int32)])
    check_op(lambda m, c, a, b: m.where(c, a, b),
             [c, np.array([1, 2, 3], np.int8), np.array([1, 2, 3], np.uint8)])
    check_op(lambda m, c, a: a.where(c, -a), [c, rand(3)], lambda c, a: np.where(c, a, -a))


# -- comparisons and logic ----------------------------------------------------------------------
COMPARISONS = [("eq", np.equal), ("ne", np.not_equal), ("lt", np.less), ("le", np.less_equal),
               ("gt", np.greater), ("ge", np.greater_equal)]


@pytest.mark.parametrize("name,ref", COMPARISONS, ids=[c[0] for c in COMPARISONS])
def test_comparisons(name: str, ref: Callable[..., Any]) -> None:
    a = np.array([[1.0, 2.0, np.nan], [0.0, -1.0, 2.0]])
    b = np.array([1.0, 3.0, np.nan])
    check_op(lambda m, x, y: getattr(m, name)(x, y), [a, b], ref, grad=False)
    check_op(lambda m, x: getattr(m, name)(x, 2), [a], lambda x: ref(x, 2), grad=False)
    check_op(lambda m, x, y: getattr(m, name)(x, y),
             [np.array([1, 255, 3], np.uint8), np.array([1, -1, 4], np.int8)])
    check_op(lambda m, x: getattr(m, name)(x, 1.5), [np.array([1, 2, 3], np.int64)])
    check_op(lambda m, x: getattr(m, name)(x, -1), [np.array([255, 1], np.uint8)])


def test_comparison_operators_and_predicates() -> None:
    a, b = rand(3, 2), rand(2)
    check_op(lambda m, x, y: (x < y, x <= y, x > y, x >= y, x == y, x != y), [a, b],
             lambda x, y: (x < y, x <= y, x > y, x >= y, x == y, x != y), grad=False)
    special = np.array([1.0, np.nan, np.inf, -np.inf])
    check_op(lambda m, x: (m.isnan(x), m.isinf(x), m.isfinite(x)), [special],
             lambda x: (np.isnan(x), np.isinf(x), np.isfinite(x)), grad=False)


@pytest.mark.parametrize("name", ["logical_and", "logical_or", "logical_xor"])
def test_logical_any_dtype(name: str) -> None:
    ref = getattr(np, name)
    check_op(lambda m, a, b: getattr(m, name)(a, b),
             [np.array([0.0, 1.5, -2.0, 0.0]), np.array([3, 0, 1, 0])], ref, grad=False)
    check_op(lambda m, a, b: getattr(m, name)(a, b),
             [np.array([[True], [False]]), np.array([True, False])], ref)


def test_logical_not_and_invert() -> None:
    check_op(lambda m, a: m.logical_not(a), [np.array([0.0, 2.0])], np.logical_not, grad=False)
    check_op(lambda m, a: ~a, [np.array([True, False])], np.logical_not)
    check_op(lambda m, a: ~a, [np.array([0, 5, -3], np.int16)], np.invert)


@pytest.mark.parametrize("name", ["bitwise_and", "bitwise_or", "bitwise_xor"])
def test_bitwise(name: str) -> None:
    ref = getattr(np, name)
    check_op(lambda m, a, b: getattr(m, name)(a, b),
             [np.array([12, 10, -3], np.int32), np.array([10, 6, 5], np.int64)], ref)
    check_op(lambda m, a, b: getattr(m, name)(a, b),
             [np.array([True, False, True]), np.array([True, True, False])], ref)
    check_op(lambda m, a: getattr(m, name)(a, 6), [np.array([12, 10, 3], np.uint8)],
             lambda a: ref(a, 6))
    check_op(lambda m, a, b: (a & b, a | b, a ^ b),
             [np.array([12, 10], np.int16), np.array([10, 6], np.int16)],
             lambda a, b: (a & b, a | b, a ^ b))


# -- errors -------------------------------------------------------------------------------------
def test_non_broadcastable_shapes_message() -> None:
    with pytest.raises(nr.ShapeError) as info:
        nr.add(nr.zeros(3, 4), nr.zeros(5))
    message = str(info.value)
    assert message.startswith("add: shapes are not broadcastable")
    assert "input: f32[3, 4]" in message and "other: f32[5]" in message
    assert "dimension -1" in message
    with pytest.raises(nr.ShapeError, match="where: shapes are not broadcastable"):
        nr.where(nr.ones(2, dtype=nr.bool), nr.zeros(3), 0.0)
    with pytest.raises(nr.ShapeError, match="maximum: shapes are not broadcastable"):
        nr.maximum(nr.zeros(2, 3), nr.zeros(2))


def test_bad_dtypes_are_named() -> None:
    b = nr.tensor([True, False])
    f = nr.tensor([1.0, 2.0])
    cases: list[tuple[Callable[[], Any], str]] = [
        (lambda: b - b, "sub: subtraction of a bool tensor"),
        (lambda: -b, "neg: negation of a bool tensor"),
        (lambda: nr.abs(b), "abs: is not supported for bool tensors"),
        (lambda: nr.relu(b), "relu: is not supported for bool tensors"),
        (lambda: b % b, "remainder: is not supported for bool tensors"),
        (lambda: nr.pow(b, b), "pow: is not supported for bool tensors"),
        (lambda: f & f, "bitwise_and: expects integer or bool tensors"),
        (lambda: ~f, "bitwise_not: expects an integer or bool tensor"),
        (lambda: nr.where(nr.tensor([1, 0]), f, f), "where: expects a bool condition"),
        (lambda: nr.add(nr.tensor([1]), nr.tensor([2]), alpha=0.5), "add: alpha=0.5"),
    ]
    for fn, message in cases:
        with pytest.raises(nr.DTypeError, match=message.replace("(", "\\(")):
            fn()
    with pytest.raises(nr.DTypeError, match="got dtypes: float32, float32"):
        f & f


# -- in-place ops -------------------------------------------------------------------------------
def test_augmented_assignment_keeps_identity_and_dtype() -> None:
    x = nr.tensor([1, 2, 3])
    y = x
    x += 1
    x *= 2
    assert y is x and x.dtype is nr.int64
    np.testing.assert_array_equal(x.numpy(), [4, 6, 8])
    with pytest.raises(nr.DTypeError, match="result type float32 can't be cast"):
        x /= 2
    with pytest.raises(nr.DTypeError, match="can't be cast"):
        x.sqrt_()
    f = nr.tensor([1.0, 4.0])
    f.sqrt_()
    f.pow_(3)
    f.clamp_(max=2.0)
    np.testing.assert_allclose(f.numpy(), [1.0, 2.0])


def test_inplace_on_a_leaf_that_requires_grad_is_an_error() -> None:
    w = nr.ones(3, requires_grad=True)
    for fn in (lambda: w.add_(1), lambda: w.clamp_(0, 1), lambda: w.relu_()):
        with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
            fn()
    with nr.no_grad():
        w.mul_(2)
    np.testing.assert_allclose(w.detach().numpy(), [2.0, 2.0, 2.0])


@pytest.mark.parametrize("method,args", [
    ("add_", (1.5,)), ("sub_", (0.5,)), ("mul_", (3.0,)), ("div_", (2.0,)), ("pow_", (2,)),
    ("exp_", ()), ("neg_", ()), ("sqrt_", ()), ("relu_", ()), ("clamp_", (0.5, 1.5)),
])
def test_inplace_on_non_leaf_gives_torch_gradients(method: str, args: tuple[Any, ...]) -> None:
    def fn(m: Any, a: Any) -> Any:
        h = a * 1.0
        getattr(h, method)(*args)
        return h

    torch_grads_agree(fn, [np.array([0.2, 1.0, 2.0])])


def test_modified_saved_tensor_is_an_error_on_backward() -> None:
    x = nr.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1.0
    y = h.sin()  # saves h
    h.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    h = x * 1.0
    y = h.sigmoid()  # saves its output
    y.mul_(2.0)
    with pytest.raises(RuntimeError, match="the output of sigmoid"):
        y.sum().backward()
    h = x * 1.0
    h.mul_(h)  # the in-place op's own other input is the modified tensor, as in PyTorch
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        h.sum().backward()


def test_second_derivatives() -> None:
    x = nr.tensor([0.3, 0.7, 1.2], dtype=nr.float64, requires_grad=True)
    y = nr.tensor([1.1, 0.4, 2.0], dtype=nr.float64, requires_grad=True)
    gradgrad = nr.autograd.gradgradcheck
    assert gradgrad(lambda a, b: a ** b + a.sigmoid() * b.tanh(), [x, y])
    assert gradgrad(lambda a: a.log() + a.sqrt() + a.rsqrt() + a.reciprocal() + a.sin(), [x])
    assert gradgrad(lambda a, b: nr.maximum(a, b) * nr.where(a > 0.5, a, b) / b, [x, y])
    assert gradgrad(lambda a, b: nr.clamp(a, max=1.0) * a.abs() * b.relu(), [x, y])


def test_maximum_minimum_gradient_with_a_python_number() -> None:
    """The gradient of maximum/minimum against a scalar follows PyTorch (half at ties)."""
    for fn in (nr.maximum, nr.minimum):
        x = nr.tensor([0.0, 0.5, 1.0], dtype=nr.float64, requires_grad=True)
        fn(x, 0.5).sum().backward()
        expected = [0.0, 0.5, 1.0] if fn is nr.maximum else [1.0, 0.5, 0.0]
        np.testing.assert_allclose(x.grad.numpy(), expected)
        y = nr.tensor([0.0, 0.5, 1.0], dtype=nr.float64, requires_grad=True)
        fn(0.5, y).sum().backward()
        np.testing.assert_allclose(y.grad.numpy(), expected)
