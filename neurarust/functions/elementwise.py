"""Public elementwise functions: arithmetic, unary math, comparisons, logic, where, clamp.

Names, argument order and dtype results follow PyTorch: binary ops broadcast and promote
(``int32 + int64 -> int64``, ``uint8 + int8 -> int16``, ``int_tensor * 2.5 -> float32``,
``f16 + 2.5 -> f16``), true division and float math turn integers into the default float
dtype, comparisons give bool.
"""

from __future__ import annotations

from ..tensor import Tensor
from ..types.dtype import DType
from ..types.errors import DTypeError
from ._call import apply

__all__ = [
    "abs", "absolute", "add", "bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor", "cast",
    "ceil", "clamp", "clip", "clone", "cos", "div", "divide", "eq", "exp", "exp2", "expm1",
    "floor", "floor_divide", "ge", "greater", "greater_equal", "gt", "isfinite", "isinf", "isnan",
    "le", "less", "less_equal", "log", "log1p", "log2", "log10", "logical_and", "logical_not",
    "logical_or", "logical_xor", "lt", "maximum", "minimum", "mul", "multiply", "ne", "neg",
    "negative", "not_equal", "pow", "reciprocal", "relu", "remainder", "round", "rsqrt", "sigmoid",
    "sign", "sin", "sqrt", "square", "sub", "subtract", "tanh", "true_divide", "trunc", "where",
]

Scalar = int | float | bool
TensorOrScalar = Tensor | int | float | bool


# -- arithmetic ---------------------------------------------------------------------------------
def add(input: TensorOrScalar, other: TensorOrScalar, *, alpha: float = 1) -> Tensor:
    """``input + alpha * other``, broadcasting (logical or on two bool tensors)."""
    if alpha == 1:
        return apply("add", input, other)
    return apply("add", input, other, alpha=alpha)


def sub(input: TensorOrScalar, other: TensorOrScalar, *, alpha: float = 1) -> Tensor:
    """``input - alpha * other``, broadcasting (an error for bool operands: use
    ``logical_xor``, or ``~mask`` to invert a mask)."""
    if isinstance(input, bool) or isinstance(other, bool):
        raise DTypeError("sub: subtraction of a bool is not supported; use logical_xor, or "
                         f"~mask to invert a mask\n  got {input!r} - {other!r}")
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
    """True division (ints promote to float), or rounded with 'trunc' / 'floor' (in the
    inputs' dtype; integer division by zero raises ZeroDivisionError)."""
    return apply("div", input, other, rounding_mode=rounding_mode)


divide = div


def true_divide(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """``input / other`` with integers promoted to float (``div`` without rounding)."""
    return apply("div", input, other, rounding_mode=None)


def floor_divide(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """``input // other``: division rounded down, in the inputs' promoted dtype."""
    return apply("div", input, other, rounding_mode="floor")


def remainder(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """``input % other`` with the divisor's sign (Python's ``%``), broadcasting."""
    return apply("remainder", input, other)


def pow(input: TensorOrScalar, exponent: TensorOrScalar) -> Tensor:
    """``input ** exponent``; either may be a Python number (``2 ** t``, ``t ** 0.5``)."""
    return apply("pow", input, exponent)


def square(input: Tensor) -> Tensor:
    """``input ** 2`` (integers stay integers; bool gives int64, as PyTorch)."""
    return apply("pow", input, 2)


def neg(input: Tensor) -> Tensor:
    """``-input`` (an error for bool tensors: use ``~x``)."""
    return apply("neg", input)


negative = neg


def abs(input: Tensor) -> Tensor:
    """``|input|``; the gradient at 0 is 0."""
    return apply("abs", input)


absolute = abs


def sign(input: Tensor) -> Tensor:
    """-1, 0 or 1 by sign (0 for nan); zero gradient."""
    return apply("sign", input)


# -- unary float math (integers give the default float dtype) -----------------------------------
def exp(input: Tensor) -> Tensor:
    """``e ** input``."""
    return apply("exp", input)


def exp2(input: Tensor) -> Tensor:
    """``2 ** input``."""
    return apply("exp2", input)


def expm1(input: Tensor) -> Tensor:
    """``exp(input) - 1``, accurate for small inputs."""
    return apply("expm1", input)


def log(input: Tensor) -> Tensor:
    """Natural logarithm (-inf at 0, nan for negative inputs)."""
    return apply("log", input)


def log2(input: Tensor) -> Tensor:
    """Base-2 logarithm."""
    return apply("log2", input)


def log10(input: Tensor) -> Tensor:
    """Base-10 logarithm."""
    return apply("log10", input)


def log1p(input: Tensor) -> Tensor:
    """``log(1 + input)``, accurate for small inputs."""
    return apply("log1p", input)


def sqrt(input: Tensor) -> Tensor:
    """Square root (nan for negative inputs)."""
    return apply("sqrt", input)


def rsqrt(input: Tensor) -> Tensor:
    """``1 / sqrt(input)``."""
    return apply("rsqrt", input)


def reciprocal(input: Tensor) -> Tensor:
    """``1 / input``."""
    return apply("reciprocal", input)


def sin(input: Tensor) -> Tensor:
    """Sine."""
    return apply("sin", input)


def cos(input: Tensor) -> Tensor:
    """Cosine."""
    return apply("cos", input)


def tanh(input: Tensor) -> Tensor:
    """Hyperbolic tangent."""
    return apply("tanh", input)


def sigmoid(input: Tensor) -> Tensor:
    """Logistic function ``1 / (1 + exp(-input))``, stable for large ``|input|``."""
    return apply("sigmoid", input)


def relu(input: Tensor) -> Tensor:
    """``max(input, 0)``, keeping the dtype; the gradient at 0 is 0."""
    return apply("relu", input)


# -- rounding (identity on integers, zero gradient) ---------------------------------------------
def floor(input: Tensor) -> Tensor:
    """Round down."""
    return apply("floor", input)


def ceil(input: Tensor) -> Tensor:
    """Round up."""
    return apply("ceil", input)


def trunc(input: Tensor) -> Tensor:
    """Round towards zero."""
    return apply("trunc", input)


def round(input: Tensor, *, decimals: int = 0) -> Tensor:
    """Round half to even, to ``decimals`` decimal places."""
    if decimals == 0:
        return apply("round", input)
    return apply("round", input, decimals=decimals)


# -- clamping and selection ---------------------------------------------------------------------
def clamp(input: Tensor, min: TensorOrScalar | None = None,
          max: TensorOrScalar | None = None) -> Tensor:
    """``min(max(input, min), max)``; bounds are numbers or tensors (broadcast), either may be
    None. The gradient passes where ``min <= input <= max``."""
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        return apply("clamp_tensor", input, min, max)
    if min is None and max is None:
        raise ValueError("clamp: at least one of 'min' or 'max' must not be None")
    return apply("clamp", input, min=min, max=max)


clip = clamp


def maximum(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise maximum (nan propagates); at ties each side gets half the gradient."""
    return apply("maximum", input, other)


def minimum(input: Tensor, other: Tensor) -> Tensor:
    """Elementwise minimum (nan propagates); at ties each side gets half the gradient."""
    return apply("minimum", input, other)


def where(condition: Tensor, input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """``input`` where the bool ``condition`` holds, else ``other`` (all broadcast)."""
    return apply("where", condition, input, other)


# -- comparisons (bool results, computed in the promoted dtype) ---------------------------------
def eq(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """``input == other``."""
    return apply("eq", input, other)


def ne(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """``input != other``."""
    return apply("ne", input, other)


def lt(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """``input < other``."""
    return apply("lt", input, other)


def le(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """``input <= other``."""
    return apply("le", input, other)


def gt(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """``input > other``."""
    return apply("gt", input, other)


def ge(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """``input >= other``."""
    return apply("ge", input, other)


greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne


def isnan(input: Tensor) -> Tensor:
    """True where nan."""
    return apply("isnan", input)


def isinf(input: Tensor) -> Tensor:
    """True where +inf or -inf."""
    return apply("isinf", input)


def isfinite(input: Tensor) -> Tensor:
    """True where neither inf nor nan."""
    return apply("isfinite", input)


# -- logic (any dtype, nonzero is true) and bitwise (integers and bool) -------------------------
def logical_and(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """Both nonzero (bool result)."""
    return apply("logical_and", input, other)


def logical_or(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """Either nonzero (bool result)."""
    return apply("logical_or", input, other)


def logical_xor(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """Exactly one nonzero (bool result)."""
    return apply("logical_xor", input, other)


def logical_not(input: Tensor) -> Tensor:
    """True where zero (bool result)."""
    return apply("logical_not", input)


def bitwise_and(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """``input & other`` for integer and bool tensors."""
    return apply("bitwise_and", input, other)


def bitwise_or(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """``input | other`` for integer and bool tensors."""
    return apply("bitwise_or", input, other)


def bitwise_xor(input: TensorOrScalar, other: TensorOrScalar) -> Tensor:
    """``input ^ other`` for integer and bool tensors."""
    return apply("bitwise_xor", input, other)


def bitwise_not(input: Tensor) -> Tensor:
    """``~input`` for integer and bool tensors."""
    return apply("bitwise_not", input)


# -- conversion ---------------------------------------------------------------------------------
def cast(input: Tensor, *, dtype: DType) -> Tensor:
    """``input`` converted to ``dtype`` (differentiable between float dtypes)."""
    return apply("cast", input, dtype=dtype)


def clone(input: Tensor) -> Tensor:
    """A contiguous copy with its own storage; gradients flow through."""
    return apply("clone", input)
