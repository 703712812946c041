"""Elementwise ops: arithmetic with broadcasting, unary math, comparisons, logic, casts.

Families share their rules through small base classes (``Binary``, ``FloatUnary``, ...), so
each op below states only what is its own: its name, its dtype quirk and its gradient.

Gradients follow PyTorch's choices at kinks and ties, since users compare against it:
``relu`` and ``clamp`` pass the gradient where the input lies in the closed interval, ``abs``
has gradient ``sign(x)`` (0 at 0), ``maximum``/``minimum`` split it in half at ties, and the
piecewise-constant ops (``floor``, ``sign``, rounded division) have a zero gradient, not none.
"""

from __future__ import annotations

import math
from typing import Any

from ..types import dtype as dt
from ..types.algebra import DimAlgebra, Shape
from ..types.dtype import DType, promote_types, result_type_of_scalar
from ..types.errors import RuleViolation
from .registry import OpDef, has_values, register
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..onnx.builder import OnnxBuilder, OnnxValue

__all__ = [
    "Binary", "Comparison", "FloatBinary", "FloatUnary", "IntegerOnly", "Logical", "Unary",
    "masked_zero", "zero_grad",
]

Dims = DimAlgebra[Any, Any]


def zero_grad(g: Any) -> Any:
    """The zero gradient PyTorch gives piecewise-constant ops (a constant, shaped like g)."""
    return g.new_zeros(g.shape)


def masked_zero(x: Any, mask: Any) -> Any:
    """``x`` with zeros where ``mask`` holds (``x.masked_fill(mask, 0)`` in registered ops)."""
    return x.where(mask.logical_not(), 0.0)


def _is_tensor(x: Any) -> bool:
    return hasattr(x, "shape") and has_values(x)


# -- families -----------------------------------------------------------------------------------
class Binary(OpDef):
    """Broadcasting binary arithmetic; the result dtype is the promotion of the inputs'."""

    promote_inputs = True
    input_names = ("input", "other")

    def shape(self, dims: Dims, a: Shape, b: Shape, **attrs: Any) -> Shape:
        return dims.broadcast(a, b)

    def dtype(self, a: DType, b: DType, **attrs: Any) -> DType:
        return promote_types(a, b)


class FloatBinary(Binary):
    """Binary ops whose integer inputs promote to the default float dtype (true division)."""

    def dtype(self, a: DType, b: DType, **attrs: Any) -> DType:
        out = promote_types(a, b)
        return dt.get_default_dtype() if out.is_integer else out


class NoBoolBinary(Binary):
    """Arithmetic PyTorch does not define on two bool tensors (remainder, pow, ...)."""

    def dtype(self, a: DType, b: DType, **attrs: Any) -> DType:
        out = promote_types(a, b)
        if out.is_bool:
            raise self.dtype_error("is not supported for bool tensors; convert with .int() or "
                                   ".float() first", a, b)
        return out


class Unary(OpDef):
    """Same-shape, same-dtype unary ops."""

    promote_inputs = True
    input_names = ("input",)

    def shape(self, dims: Dims, a: Shape, **attrs: Any) -> Shape:
        return a

    def dtype(self, a: DType, **attrs: Any) -> DType:
        return a


class NoBoolUnary(Unary):
    """Unary ops PyTorch does not define on bool tensors (abs, relu, neg)."""

    def dtype(self, a: DType, **attrs: Any) -> DType:
        if a.is_bool:
            raise self.dtype_error("is not supported for bool tensors; convert with .int() or "
                                   ".float() first", a)
        return a


class FloatUnary(Unary):
    """Unary math whose integer inputs promote to the default float dtype (exp, log, ...)."""

    def dtype(self, a: DType, **attrs: Any) -> DType:
        return dt.get_default_dtype() if a.is_integer else a


class Rounding(NoBoolUnary):
    """Piecewise-constant float ops (floor, ceil, round, trunc): identity on integers, zero
    gradient (as PyTorch)."""

    save_inputs = False

    def backward(self, g: Any, a: Any, *, out: Any, **attrs: Any) -> tuple[Any, ...]:
        return (zero_grad(g),)


class Comparison(Binary):
    """Broadcasting comparisons: bool result, computed in the inputs' common dtype, no
    gradient."""

    differentiable = False

    def dtype(self, a: DType, b: DType, **attrs: Any) -> DType:
        promote_types(a, b)
        return dt.bool_


class Predicate(Unary):
    """Unary tests with a bool result (isnan, isinf, isfinite); no gradient."""

    differentiable = False
    promote_inputs = False

    def dtype(self, a: DType, **attrs: Any) -> DType:
        return dt.bool_


class Logical(Binary):
    """logical_and/or/xor: any dtypes (nonzero is true), bool result, no gradient."""

    differentiable = False
    promote_inputs = False

    def dtype(self, a: DType, b: DType, **attrs: Any) -> DType:
        return dt.bool_


def _onnx_bitwise(g: OnnxBuilder, bitwise: str, logical: str, *xs: OnnxValue) -> OnnxValue:
    """A bitwise op as ONNX: the logical node on bools, the bitwise one (opset 18) on ints."""
    if all(x.dtype.is_bool for x in xs):
        return g.node(logical, *xs)
    if g.opset < 18:
        raise NotImplementedError(f"{bitwise} on integers needs opset 18 or later (export "
                                  f"with opset=18), got opset {g.opset}")
    return g.node(bitwise, *xs)


class IntegerOnly(Binary):
    """Bitwise ops: integer or bool inputs only."""

    differentiable = False

    def dtype(self, a: DType, b: DType, **attrs: Any) -> DType:
        if a.is_floating_point or b.is_floating_point:
            raise self.dtype_error("expects integer or bool tensors", a, b)
        return promote_types(a, b)


# -- arithmetic ---------------------------------------------------------------------------------
@register
class Add(Binary):
    """``input + alpha * other`` (on two bool tensors: logical or, as PyTorch)."""

    name = "add"

    range_rule = "add"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, b: OnnxValue, *, alpha: Any = 1) -> OnnxValue:
        if a.dtype.is_bool:
            return g.node("Or", a, b)
        return g.node("Add", a, b if alpha == 1 else g.node("Mul", b, g.scalar(alpha, b)))

    onnx_import = ("Add",)
    save_inputs = False

    def dtype(self, a: DType, b: DType, *, alpha: Any = 1, **attrs: Any) -> DType:
        out = promote_types(a, b)
        if isinstance(alpha, float) and out.is_integer:
            raise self.dtype_error(f"alpha={alpha!r} must not be a float for integer inputs", a, b)
        return out

    def backward(self, g: Any, a: Any, b: Any, *, out: Any, alpha: Any = 1) -> tuple[Any, ...]:
        return g, (g if alpha == 1 else g * alpha)


@register
class Sub(Binary):
    """``input - alpha * other``."""

    name = "sub"

    range_rule = "sub"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, b: OnnxValue, *, alpha: Any = 1) -> OnnxValue:
        return g.node("Sub", a, b if alpha == 1 else g.node("Mul", b, g.scalar(alpha, b)))

    onnx_import = ("Sub",)
    save_inputs = False

    def dtype(self, a: DType, b: DType, *, alpha: Any = 1, **attrs: Any) -> DType:
        if a.is_bool or b.is_bool:
            raise self.dtype_error("subtraction of a bool tensor is not supported; use "
                                   "logical_xor, or ~mask to invert a mask", a, b)
        out = promote_types(a, b)
        if isinstance(alpha, float) and out.is_integer:
            raise self.dtype_error(f"alpha={alpha!r} must not be a float for integer inputs", a, b)
        return out

    def backward(self, g: Any, a: Any, b: Any, *, out: Any, alpha: Any = 1) -> tuple[Any, ...]:
        return g, -(g if alpha == 1 else g * alpha)


@register
class Mul(Binary):
    """``input * other`` (on two bool tensors: logical and)."""

    name = "mul"

    range_rule = "mul"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, b: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("And" if a.dtype.is_bool else "Mul", a, b)

    onnx_import = ("Mul",)

    def saves_for(self, needs_grad: tuple[bool, ...]) -> tuple[bool, ...]:
        need_a, need_b = needs_grad
        return need_b, need_a  # d/da reads b, d/db reads a

    def backward(self, g: Any, a: Any, b: Any, *, out: Any) -> tuple[Any, ...]:
        # An input is saved exactly when the other one needs its gradient (saves_for).
        return (g * b if has_values(b) else None), (g * a if has_values(a) else None)


@register
class Div(FloatBinary):
    """True division (``rounding_mode=None``, ints give floats), or division rounded with
    'trunc' / 'floor' (``floor_divide``, ``//``) in the inputs' dtype, with a zero gradient."""

    name = "div"

    range_rule = "div"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, b: OnnxValue, *, rounding_mode: str | None = None) -> OnnxValue:
        if rounding_mode is None:
            a, b = g.cast_ints_to_float(a, b)  # ONNX Div truncates integers
            return g.node("Div", a, b)
        if not a.dtype.is_floating_point:
            if rounding_mode == "trunc":
                return g.node("Div", a, b)
            raise NotImplementedError("integer floor division has no ONNX mapping yet")
        q = g.node("Div", a, b)
        if rounding_mode == "floor":
            return g.node("Floor", q)
        return g.node("Mul", g.node("Sign", q), g.node("Floor", g.node("Abs", q)))

    onnx_import = ("Div",)
    save_output = True

    def saves_for(self, needs_grad: tuple[bool, ...]) -> tuple[bool, ...]:
        return False, True  # both gradients read only b (and the output)

    def dtype(self, a: DType, b: DType, *, rounding_mode: str | None = None,
              **attrs: Any) -> DType:
        if rounding_mode is None:
            return super().dtype(a, b)
        if rounding_mode not in ("trunc", "floor"):
            raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got "
                             f"{rounding_mode!r}")
        out = promote_types(a, b)
        if out.is_bool:
            raise self.dtype_error(f"rounding_mode={rounding_mode!r} is not supported for bool "
                                   "tensors", a, b)
        return out

    def backward(self, g: Any, a: Any, b: Any, *, out: Any,
                 rounding_mode: str | None = None) -> tuple[Any, ...]:
        if rounding_mode is not None:
            return zero_grad(g), zero_grad(g)
        return g / b, -g * out / b


@register
class Remainder(NoBoolBinary):
    """``input - floor(input / other) * other``: the result takes the divisor's sign, as
    Python's ``%`` and ``torch.remainder``."""

    name = "remainder"
    range_rule = "remainder"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, b: OnnxValue) -> OnnxValue:
        if not a.dtype.is_floating_point:
            return g.node("Mod", a, b, fmod=0)  # integer Mod takes the divisor's sign
        # float Mod must be fmod (the dividend's sign); move nonzero results whose sign
        # differs from the divisor's by one divisor, as numpy's remainder does
        r = g.node("Mod", a, b, fmod=1)
        zero = g.scalar(0, a)
        flip = g.node("And", g.node("Not", g.node("Equal", r, zero, dtype=dt.bool_),
                                    dtype=dt.bool_),
                      g.node("Xor", g.node("Less", r, zero, dtype=dt.bool_),
                             g.node("Less", b, zero, dtype=dt.bool_), dtype=dt.bool_),
                      dtype=dt.bool_)
        return g.node("Where", flip, g.node("Add", r, b), r)

    def saves_for(self, needs_grad: tuple[bool, ...]) -> tuple[bool, ...]:
        return needs_grad[1], needs_grad[1]  # d/da = 1; d/db reads both

    def backward(self, g: Any, a: Any, b: Any, *, out: Any) -> tuple[Any, ...]:
        if not has_values(a):
            return g, None
        quotient = a.div(b, rounding_mode="floor") if _is_tensor(a) else (a / b).floor()
        return g, -g * quotient


@register
class Pow(NoBoolBinary):
    """``input ** exponent``; either side may be a Python scalar.

    Gradients as PyTorch: d/d(input) is 0 where the exponent is 0 (so ``0 ** 0`` gives 0, not
    nan), and d/d(exponent) is 0 where the base is 0 and the exponent >= 0.
    """

    name = "pow"

    range_rule = "pow_"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, b: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Pow", a, b)

    onnx_import = ("Pow",)
    save_output = True
    input_names = ("input", "exponent")

    def backward(self, g: Any, a: Any, b: Any, *, out: Any) -> tuple[Any, ...]:
        # (B) base gradient: b * a**(b-1), zeroed where b == 0.
        if not _is_tensor(a):
            ga = None
        elif _is_tensor(b):
            # The masked entries compute a**1 instead of a**-1: no inf * 0 = nan on the way.
            ga = masked_zero(g * b * a.pow((b - 1).where(b.ne(0), 1)), b.eq(0))
        else:
            ga = zero_grad(g) if b == 0 else g * b * a.pow(b - 1)
        if not _is_tensor(b):
            return ga, None
        # (E) exponent gradient: out * log(a), zeroed where a == 0 and b >= 0.
        if _is_tensor(a):
            zero = a.eq(0).logical_and(b.ge(0))
            gb = g * masked_zero(out * a.where(zero.logical_not(), 1.0).log(), zero)
        else:
            log_a = math.log(a) if a > 0 else (-math.inf if a == 0 else math.nan)
            gb = g * out * log_a
            if a == 0:
                gb = masked_zero(gb, b.ge(0))
        return ga, gb


@register
class Neg(NoBoolUnary):
    """``-input``; bool tensors are rejected (``~x`` is their negation), as in PyTorch."""

    name = "neg"

    range_rule = "neg"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Neg", a)

    onnx_import = ("Neg",)
    save_inputs = False

    def dtype(self, a: DType, **attrs: Any) -> DType:
        if a.is_bool:
            raise self.dtype_error("negation of a bool tensor is not supported; use ~x", a)
        return a

    def backward(self, g: Any, a: Any, *, out: Any) -> tuple[Any, ...]:
        return (-g,)


@register
class Abs(NoBoolUnary):
    """``|input|``; gradient ``sign(input)``, 0 at 0."""

    name = "abs"

    range_rule = "abs_"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Abs", a)

    onnx_import = ("Abs",)

    def backward(self, g: Any, a: Any, *, out: Any) -> tuple[Any, ...]:
        return (g * a.sign(),)


@register
class Sign(Unary):
    """-1, 0 or 1 by the sign of each element (0 for nan, as PyTorch on CPU); zero gradient."""

    name = "sign"
    range_rule = "sign"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Sign", a)

    onnx_import = ("Sign",)
    save_inputs = False

    def backward(self, g: Any, a: Any, *, out: Any) -> tuple[Any, ...]:
        return (zero_grad(g),)


# -- unary float math ---------------------------------------------------------------------------
@register
class Exp(FloatUnary):
    """``e ** input``."""

    name = "exp"

    range_rule = "exp"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Exp", a)

    onnx_import = ("Exp",)
    save_inputs = False
    save_output = True

    def backward(self, g: Any, a: Any, *, out: Any) -> tuple[Any, ...]:
        return (g * out,)


@register
class Exp2(FloatUnary):
    """``2 ** input``."""

    name = "exp2"
    range_rule = "exp2"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Pow", g.scalar(2, a), a)

    save_inputs = False
    save_output = True

    def backward(self, g: Any, a: Any, *, out: Any) -> tuple[Any, ...]:
        return (g * out * math.log(2.0),)


@register
class Expm1(FloatUnary):
    """``exp(input) - 1``, accurate near 0."""

    name = "expm1"
    range_rule = "expm1"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Sub", g.node("Exp", a), g.scalar(1, a))

    save_inputs = False
    save_output = True

    def backward(self, g: Any, a: Any, *, out: Any) -> tuple[Any, ...]:
        return (g * (out + 1),)


@register
class Log(FloatUnary):
    """Natural logarithm (-inf at 0, nan below)."""

    name = "log"

    range_rule = "log"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Log", a)

    onnx_import = ("Log",)

    def backward(self, g: Any, a: Any, *, out: Any) -> tuple[Any, ...]:
        return (g / a,)


@register
class Log2(FloatUnary):
    """Base-2 logarithm."""

    name = "log2"
    range_rule = "log2"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Div", g.node("Log", a), g.scalar(math.log(2), a))


    def backward(self, g: Any, a: Any, *, out: Any) -> tuple[Any, ...]:
        return (g / (a * math.log(2.0)),)


@register
class Log10(FloatUnary):
    """Base-10 logarithm."""

    name = "log10"
    range_rule = "log10"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Div", g.node("Log", a), g.scalar(math.log(10), a))


    def backward(self, g: Any, a: Any, *, out: Any) -> tuple[Any, ...]:
        return (g / (a * math.log(10.0)),)


@register
class Log1p(FloatUnary):
    """``log(1 + input)``, accurate near 0."""

    name = "log1p"

    range_rule = "log1p"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Log", g.node("Add", a, g.scalar(1, a)))


    def backward(self, g: Any, a: Any, *, out: Any) -> tuple[Any, ...]:
        return (g / (a + 1),)


@register
class Sqrt(FloatUnary):
    """Square root (nan below 0)."""

    name = "sqrt"

    range_rule = "sqrt"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Sqrt", a)

    onnx_import = ("Sqrt",)
    save_inputs = False
    save_output = True

    def backward(self, g: Any, a: Any, *, out: Any) -> tuple[Any, ...]:
        return (g / (out * 2),)


@register
class Rsqrt(FloatUnary):
    """``1 / sqrt(input)``."""

    name = "rsqrt"

    range_rule = "rsqrt"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Reciprocal", g.node("Sqrt", a))

    save_inputs = False
    save_output = True

    def backward(self, g: Any, a: Any, *, out: Any) -> tuple[Any, ...]:
        return (g * out.pow(3) * -0.5,)


@register
class Reciprocal(FloatUnary):
    """``1 / input`` (integers give floats)."""

    name = "reciprocal"
    range_rule = "reciprocal"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Reciprocal", a)

    onnx_import = ("Reciprocal",)
    save_inputs = False
    save_output = True

    def backward(self, g: Any, a: Any, *, out: Any) -> tuple[Any, ...]:
        return (-g * out * out,)


@register
class Sin(FloatUnary):
    """Sine."""

    name = "sin"
    range_rule = "sin"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Sin", a)

    onnx_import = ("Sin",)

    def backward(self, g: Any, a: Any, *, out: Any) -> tuple[Any, ...]:
        return (g * a.cos(),)


@register
class Cos(FloatUnary):
    """Cosine."""

    name = "cos"
    range_rule = "cos"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Cos", a)

    onnx_import = ("Cos",)

    def backward(self, g: Any, a: Any, *, out: Any) -> tuple[Any, ...]:
        return (-g * a.sin(),)


@register
class Tanh(FloatUnary):
    """Hyperbolic tangent."""

    name = "tanh"

    range_rule = "tanh"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Tanh", a)

    onnx_import = ("Tanh",)
    save_inputs = False
    save_output = True

    def backward(self, g: Any, a: Any, *, out: Any) -> tuple[Any, ...]:
        return (g * (1 - out * out),)


@register
class Sigmoid(FloatUnary):
    """``1 / (1 + exp(-input))``, computed without overflow for large ``|input|``."""

    name = "sigmoid"

    range_rule = "sigmoid"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Sigmoid", a)

    onnx_import = ("Sigmoid",)
    save_inputs = False
    save_output = True

    def backward(self, g: Any, a: Any, *, out: Any) -> tuple[Any, ...]:
        return (g * out * (1 - out),)


@register
class Relu(NoBoolUnary):
    """``max(input, 0)``; the gradient at 0 is 0, as PyTorch."""

    name = "relu"

    range_rule = "relu"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Relu", a)

    onnx_import = ("Relu",)
    save_inputs = False
    save_output = True

    def backward(self, g: Any, a: Any, *, out: Any) -> tuple[Any, ...]:
        # g where out > 0 (exactly where the input is > 0), else 0: one fused op
        return (g._apply("threshold_backward", out, threshold=0.0),)


# -- rounding -----------------------------------------------------------------------------------
@register
class Floor(Rounding):
    """Largest integer <= input."""

    name = "floor"
    range_rule = "floor"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Floor", a)

    onnx_import = ("Floor",)


@register
class Ceil(Rounding):
    """Smallest integer >= input."""

    name = "ceil"
    range_rule = "ceil"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Ceil", a)

    onnx_import = ("Ceil",)


@register
class Trunc(Rounding):
    """Round towards zero."""

    name = "trunc"
    range_rule = "trunc"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        if not a.dtype.is_floating_point:
            return g.node("Identity", a)
        return g.node("Mul", g.node("Sign", a), g.node("Floor", g.node("Abs", a)))



@register
class Round(Rounding):
    """Round half to even, to ``decimals`` places (negative: to tens, hundreds, ...)."""

    name = "round"
    range_rule = "round_"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, decimals: int = 0, **attrs: Any) -> OnnxValue:
        if not a.dtype.is_floating_point:
            return g.node("Identity", a)
        if decimals == 0:
            return g.node("Round", a)  # half to even, as PyTorch
        s = g.scalar(10.0 ** decimals, a)
        return g.node("Div", g.node("Round", g.node("Mul", a, s)), s)

    onnx_import = ("Round",)

    def dtype(self, a: DType, *, decimals: int = 0, **attrs: Any) -> DType:
        super().dtype(a)
        if decimals != 0 and not a.is_floating_point:
            raise self.dtype_error(f"decimals={decimals} needs a floating point input", a)
        return a


# -- clamping and selection ---------------------------------------------------------------------
@register
class Clamp(Unary):
    """``min(max(input, min), max)`` with scalar bounds (either may be None).

    Integer inputs with float bounds give floats, as PyTorch's promotion does. The gradient
    passes where ``min <= input <= max`` (bounds included) and is 0 elsewhere.
    """

    name = "clamp"

    range_rule = "clamp"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, min: Any = None, max: Any = None, **attrs: Any) -> OnnxValue:
        lo = None if min is None else g.scalar(min, a)
        hi = None if max is None else g.scalar(max, a)
        return g.node("Clip", a, lo, hi)

    onnx_import = ("Clip",)

    def shape(self, dims: Dims, a: Shape, *, min: Any = None, max: Any = None,
              **attrs: Any) -> Shape:
        if min is None and max is None:
            raise RuleViolation("at least one of 'min' or 'max' must not be None")
        return a

    def dtype(self, a: DType, *, min: Any = None, max: Any = None, **attrs: Any) -> DType:
        out = a
        for bound in (min, max):
            if bound is not None:
                out = promote_types(out, result_type_of_scalar(a, bound))
        if out.is_bool:
            raise self.dtype_error("is not supported for bool results; convert with .int() "
                                   "first", a)
        if not out.is_floating_point:  # PyTorch's range check; uint8 wraps negatives
            signed = out is not dt.uint8
            lo, hi = (-(2 ** (out.bits - 1)), 2 ** (out.bits - 1) - 1) if signed else (-255, 255)
            for which, bound in (("min", min), ("max", max)):
                if bound is not None and not lo <= bound <= hi:
                    raise self.dtype_error(f"{which}={bound} does not fit in {out.name} "
                                           f"([{lo}, {hi}])", a)
        return out

    def backward(self, g: Any, a: Any, *, out: Any, min: Any = None,
                 max: Any = None) -> tuple[Any, ...]:
        inside = a.ge(min) if min is not None else None
        if max is not None:
            inside = a.le(max) if inside is None else inside.logical_and(a.le(max))
        return (g.where(inside, 0.0),)


@register
class ClampTensor(OpDef):
    """``clamp`` with tensor bounds: ``min(max(input, min), max)``, broadcasting all three
    (a bound may be None). Where ``min > max`` the result is ``max``.

    Gradients as PyTorch: input where ``min <= input <= max``; ``min`` where
    ``input < min < max``; ``max`` where ``input > max`` or ``max < min``.
    """

    name = "clamp_tensor"
    range_rule = "clamp_tensor"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, lo: OnnxValue | None, hi: OnnxValue | None) -> OnnxValue:
        out = a
        if lo is not None:
            out = g.node("Max", out, g.cast(lo, g.out_dtype))
        if hi is not None:
            out = g.node("Min", out, g.cast(hi, g.out_dtype))
        return out

    promote_inputs = True
    input_names = ("input", "min", "max")

    def shape(self, dims: Dims, a: Shape, lo: Shape | None, hi: Shape | None) -> Shape:
        if lo is None and hi is None:
            raise RuleViolation("at least one of 'min' or 'max' must not be None")
        return dims.broadcast(*[s for s in (a, lo, hi) if s is not None])

    def dtype(self, a: DType, lo: DType | None, hi: DType | None) -> DType:
        out = a
        for bound in (lo, hi):
            if bound is not None:
                out = promote_types(out, bound)
        return out

    def backward(self, g: Any, a: Any, lo: Any, hi: Any, *, out: Any) -> tuple[Any, ...]:
        if lo is not None and hi is not None:
            # One bound may be a Python number: compare with a tensor on the left.
            lo_lt_hi = lo.lt(hi) if _is_tensor(lo) else hi.gt(lo)
            ga = g.where(a.ge(lo).logical_and(a.le(hi)), 0.0)
            g_lo = g.where(a.lt(lo).logical_and(lo_lt_hi), 0.0)
            g_hi = g.where(a.gt(hi).logical_or(lo.gt(hi) if _is_tensor(lo) else hi.lt(lo)), 0.0)
            return ga, g_lo, g_hi
        if lo is not None:
            return g.where(a.ge(lo), 0.0), g.where(a.lt(lo), 0.0), None
        return g.where(a.le(hi), 0.0), None, g.where(a.gt(hi), 0.0)


class _Extremum(Binary):
    """maximum / minimum: the gradient goes to the selected side, half to each at ties, and to
    both where an input is nan (which propagates), as PyTorch."""

    def _loses(self, a: Any, b: Any) -> Any:
        raise NotImplementedError

    def backward(self, g: Any, a: Any, b: Any, *, out: Any) -> tuple[Any, ...]:
        # A Python-number side becomes a constant tensor, so the comparisons read the same.
        if not _is_tensor(a):
            a = b.new_zeros(b.shape) + a
        if not _is_tensor(b):
            b = a.new_zeros(a.shape) + b
        half = (g / 2).where(a.eq(b), g)
        return masked_zero(half, self._loses(a, b)), masked_zero(half, self._loses(b, a))


@register
class Maximum(_Extremum):
    """Elementwise maximum of two tensors (nan propagates)."""

    name = "maximum"

    range_rule = "maximum"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, b: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Max", a, b)

    onnx_import = ("Max",)

    def _loses(self, a: Any, b: Any) -> Any:
        return a.lt(b)


@register
class Minimum(_Extremum):
    """Elementwise minimum of two tensors (nan propagates)."""

    name = "minimum"

    range_rule = "minimum"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, b: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Min", a, b)

    onnx_import = ("Min",)

    def _loses(self, a: Any, b: Any) -> Any:
        return a.gt(b)


@register
class Where(OpDef):
    """``input`` where ``condition`` holds, else ``other``; all three broadcast, and ``input``
    or ``other`` may be Python scalars. The result dtype promotes ``input`` with ``other``."""

    name = "where"
    range_rule = "where"

    def to_onnx(self, g: OnnxBuilder, c: OnnxValue, a: OnnxValue, b: OnnxValue) -> OnnxValue:
        return g.node("Where", g.cast(c, dt.bool_), g.cast(a, g.out_dtype), g.cast(b, g.out_dtype))

    onnx_import = ("Where",)
    nondiff_inputs = (0,)
    input_names = ("condition", "input", "other")

    def saves_for(self, needs_grad: tuple[bool, ...]) -> tuple[bool, ...]:
        return True, False, False  # the gradients read only the condition

    def shape(self, dims: Dims, c: Shape, a: Shape, b: Shape) -> Shape:
        return dims.broadcast(c, a, b)

    def dtype(self, c: DType, a: DType, b: DType) -> DType:
        if not c.is_bool:
            raise self.dtype_error(f"expects a bool condition, got {c.name}; compare first "
                                   "(x != 0) or use .bool()", c, a, b)
        return promote_types(a, b)

    def backward(self, g: Any, c: Any, a: Any, b: Any, *, out: Any) -> tuple[Any, ...]:
        return None, g.where(c, 0.0), masked_zero(g, c)


# -- comparisons and logic ----------------------------------------------------------------------
@register
class Eq(Comparison):
    """``input == other``."""

    name = "eq"
    range_rule = "eq"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, b: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Equal", a, b)

    onnx_import = ("Equal",)


@register
class Ne(Comparison):
    """``input != other``."""

    name = "ne"
    range_rule = "ne"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, b: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Not", g.node("Equal", a, b))



@register
class Lt(Comparison):
    """``input < other``."""

    name = "lt"
    range_rule = "lt"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, b: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Less", a, b)

    onnx_import = ("Less",)


@register
class Le(Comparison):
    """``input <= other``."""

    name = "le"
    range_rule = "le"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, b: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("LessOrEqual", a, b)

    onnx_import = ("LessOrEqual",)


@register
class Gt(Comparison):
    """``input > other``."""

    name = "gt"
    range_rule = "gt"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, b: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Greater", a, b)

    onnx_import = ("Greater",)


@register
class Ge(Comparison):
    """``input >= other``."""

    name = "ge"
    range_rule = "ge"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, b: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("GreaterOrEqual", a, b)

    onnx_import = ("GreaterOrEqual",)


@register
class IsNan(Predicate):
    """True where the element is nan."""

    name = "isnan"
    range_rule = "is_nan"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("IsNaN", a)

    onnx_import = ("IsNaN",)


@register
class IsInf(Predicate):
    """True where the element is +inf or -inf."""

    name = "isinf"
    range_rule = "is_inf"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("IsInf", a)

    onnx_import = ("IsInf",)


@register
class IsFinite(Predicate):
    """True where the element is neither inf nor nan."""

    name = "isfinite"
    range_rule = "is_finite"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Not", g.node("Or", g.node("IsNaN", a), g.node("IsInf", a)))



@register
class LogicalAnd(Logical):
    """Both nonzero."""

    name = "logical_and"
    range_rule = "logical_and"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, b: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("And", g.cast(a, dt.bool_), g.cast(b, dt.bool_))

    onnx_import = ("And",)


@register
class LogicalOr(Logical):
    """Either nonzero."""

    name = "logical_or"
    range_rule = "logical_or"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, b: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Or", g.cast(a, dt.bool_), g.cast(b, dt.bool_))

    onnx_import = ("Or",)


@register
class LogicalXor(Logical):
    """Exactly one nonzero."""

    name = "logical_xor"
    range_rule = "logical_xor"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, b: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Xor", g.cast(a, dt.bool_), g.cast(b, dt.bool_))

    onnx_import = ("Xor",)


@register
class LogicalNot(Predicate):
    """True where the element is zero (``~mask`` on bool tensors)."""

    name = "logical_not"
    range_rule = "logical_not"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Not", g.cast(a, dt.bool_))

    onnx_import = ("Not",)


@register
class BitwiseAnd(IntegerOnly):
    """``input & other`` on integers (logical and on bools)."""

    name = "bitwise_and"
    range_rule = "bitwise"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, b: OnnxValue) -> OnnxValue:
        return _onnx_bitwise(g, "BitwiseAnd", "And", a, b)


@register
class BitwiseOr(IntegerOnly):
    """``input | other`` on integers (logical or on bools)."""

    name = "bitwise_or"
    range_rule = "bitwise"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, b: OnnxValue) -> OnnxValue:
        return _onnx_bitwise(g, "BitwiseOr", "Or", a, b)


@register
class BitwiseXor(IntegerOnly):
    """``input ^ other`` on integers (logical xor on bools)."""

    name = "bitwise_xor"
    range_rule = "bitwise"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, b: OnnxValue) -> OnnxValue:
        return _onnx_bitwise(g, "BitwiseXor", "Xor", a, b)


@register
class BitwiseNot(Unary):
    """``~input`` on integers (two's complement), logical not on bools."""

    name = "bitwise_not"
    range_rule = "bitwise"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue) -> OnnxValue:
        return _onnx_bitwise(g, "BitwiseNot", "Not", a)
    differentiable = False

    def dtype(self, a: DType, **attrs: Any) -> DType:
        if a.is_floating_point:
            raise self.dtype_error("expects an integer or bool tensor", a)
        return a


# -- conversion and copies ----------------------------------------------------------------------
@register
class Cast(OpDef):
    """Convert to ``dtype``; the gradient converts back (only between float dtypes)."""

    name = "cast"

    range_rule = "cast"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, dtype: DType) -> OnnxValue:
        return g.cast(a, dtype) if a.dtype is not dtype else g.node("Identity", a)

    onnx_import = ("Cast",)
    save_inputs = False

    def shape(self, dims: Dims, a: Shape, *, dtype: DType) -> Shape:
        return a

    def dtype(self, a: DType, *, dtype: DType) -> DType:
        return dtype

    def backward(self, g: Any, a: Any, *, out: Any, dtype: DType) -> tuple[Any, ...]:
        return (g,)  # autograd casts it back to the input's dtype


@register
class Clone(Unary):
    """A copy with its own storage (contiguous)."""

    name = "clone"

    range_rule = "identity"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Identity", a)

    onnx_import = ("Identity",)
    save_inputs = False
    promote_inputs = False

    def backward(self, g: Any, a: Any, *, out: Any) -> tuple[Any, ...]:
        return (g,)


@register
class Copy(OpDef):
    """``dst.copy_(src)``: the values of src, broadcast to dst's shape, in dst's dtype."""

    name = "copy"
    range_rule = "copy"

    def to_onnx(self, g: OnnxBuilder, dst: OnnxValue, src: OnnxValue) -> OnnxValue:
        return g.node("Expand", g.cast(src, dst.dtype), g.node("Shape", dst, dtype=dt.int64))
    save_inputs = False
    input_names = ("self", "src")

    def shape(self, dims: Dims, dst: Shape, src: Shape) -> Shape:
        dims.require(len(src) <= len(dst), "src has more dims than the destination")
        for d, s in zip(dst[len(dst) - len(src):], src):
            dims.require(dims.or_(dims.eq(s, d), dims.eq(s, 1)),
                         "src must broadcast to the destination's shape")
        return dst

    def dtype(self, dst: DType, src: DType) -> DType:
        return dst

    def backward(self, g: Any, dst: Any, src: Any, *, out: Any) -> tuple[Any, ...]:
        return None, g
