"""Public elementwise functions: arithmetic, unary math, comparisons, logic, where, clamp."""

from __future__ import annotations

from typing import Union

from ..tensor import Tensor
from ..types.dtype import DType
from ._call import apply

__all__ = ["add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "neg",
           "negative", "exp", "cast", "clone"]

TensorOrScalar = Union[Tensor, int, float, bool]


def add(input: TensorOrScalar, other: TensorOrScalar, *, alpha: int | float = 1) -> Tensor:
    """``input + alpha * other``, broadcasting."""
    if alpha == 1:
        return apply("add", input, other)
    return apply("add", input, other, alpha=alpha)


def sub(input: TensorOrScalar, other: TensorOrScalar, *, alpha: int | float = 1) -> Tensor:
    """``input - alpha * other``, broadcasting."""
    if alpha == 1:
        return apply("sub", input, other)
    return apply("sub", input, other, alpha=alpha)


subtract = sub


def mul(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """``input * other``, broadcasting."""
    return apply("mul", input, other)


multiply = mul


def div(input: TensorOrScalar, other: TensorOrScalar, *,
        rounding_mode: str | None = None) -> Tensor:
    """True division (ints promote to float), or rounded with 'trunc' / 'floor'."""
    return apply("div", input, other, rounding_mode=rounding_mode)


divide = div


def true_divide(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    return apply("div", input, other, rounding_mode=None)


def neg(input: Tensor) -> Tensor:
    return apply("neg", input)


negative = neg


def exp(input: Tensor) -> Tensor:
    return apply("exp", input)


def cast(input: Tensor, *, dtype: DType) -> Tensor:
    """``input`` converted to ``dtype`` (differentiable between float dtypes)."""
    return apply("cast", input, dtype=dtype)


def clone(input: Tensor) -> Tensor:
    """A contiguous copy with its own storage; gradients flow through."""
    return apply("clone", input)
