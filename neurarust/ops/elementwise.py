"""Elementwise ops: arithmetic with broadcasting, unary math, comparisons, logic, casts.

Families share their rules through small base classes (``Binary``, ``FloatUnary``, ...), so
each op below states only what is its own: its name, its dtype quirk and its gradient.
"""

from __future__ import annotations

from typing import Any

from ..types import dtype as dt
from ..types.algebra import DimAlgebra, Shape
from ..types.dtype import DType, promote_types
from .registry import OpDef, has_values, register

__all__ = ["Binary", "FloatUnary", "Comparison"]

Dims = DimAlgebra[Any, Any]


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


class Unary(OpDef):
    """Same-shape, same-dtype unary ops."""

    promote_inputs = True

    def shape(self, dims: Dims, a: Shape, **attrs: Any) -> Shape:
        return a

    def dtype(self, a: DType, **attrs: Any) -> DType:
        return a


class FloatUnary(Unary):
    """Unary math whose integer inputs promote to the default float dtype (exp, log, ...)."""

    def dtype(self, a: DType, **attrs: Any) -> DType:
        return dt.get_default_dtype() if a.is_integer else a


class Comparison(Binary):
    """Broadcasting comparisons: bool result, no gradient."""

    differentiable = False

    def dtype(self, a: DType, b: DType, **attrs: Any) -> DType:
        promote_types(a, b)
        return dt.bool_


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
    """``input + alpha * other``."""

    name = "add"
    save_inputs = False

    def backward(self, g: Any, a: Any, b: Any, *, out: Any, alpha: Any = 1) -> tuple[Any, ...]:
        return g, (g if alpha == 1 else g * alpha)


@register
class Sub(Binary):
    """``input - alpha * other``."""

    name = "sub"
    save_inputs = False

    def dtype(self, a: DType, b: DType, **attrs: Any) -> DType:
        if a.is_bool and b.is_bool:
            raise self.dtype_error("subtraction of two bool tensors is not supported; use "
                                   "logical_xor", a, b)
        return promote_types(a, b)

    def backward(self, g: Any, a: Any, b: Any, *, out: Any, alpha: Any = 1) -> tuple[Any, ...]:
        return g, -(g if alpha == 1 else g * alpha)


@register
class Mul(Binary):
    """``input * other``."""

    name = "mul"

    def saves_for(self, needs_grad: tuple[bool, ...]) -> tuple[bool, ...]:
        need_a, need_b = needs_grad
        return need_b, need_a  # d/da reads b, d/db reads a

    def backward(self, g: Any, a: Any, b: Any, *, out: Any) -> tuple[Any, ...]:
        # An input is saved exactly when the other one needs its gradient (saves_for).
        return (g * b if has_values(b) else None), (g * a if has_values(a) else None)


@register
class Div(FloatBinary):
    """True division (``rounding_mode=None``), or 'trunc'/'floor' rounding (no gradient)."""

    name = "div"
    save_output = True

    def saves_for(self, needs_grad: tuple[bool, ...]) -> tuple[bool, ...]:
        return False, True  # both gradients read only b (and the output)

    def dtype(self, a: DType, b: DType, *, rounding_mode: str | None = None) -> DType:
        if rounding_mode is None:
            return super().dtype(a, b)
        if rounding_mode not in ("trunc", "floor"):
            raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got "
                             f"{rounding_mode!r}")
        return promote_types(a, b)

    def backward(self, g: Any, a: Any, b: Any, *, out: Any,
                 rounding_mode: str | None = None) -> tuple[Any, ...]:
        if rounding_mode is not None:
            return None, None
        return g / b, -g * out / b


@register
class Neg(Unary):
    name = "neg"
    save_inputs = False

    def dtype(self, a: DType, **attrs: Any) -> DType:
        if a.is_bool:
            raise self.dtype_error("negation of a bool tensor is not supported; use ~x", a)
        return a

    def backward(self, g: Any, a: Any, *, out: Any) -> tuple[Any, ...]:
        return (-g,)


@register
class Exp(FloatUnary):
    name = "exp"
    save_inputs = False
    save_output = True

    def backward(self, g: Any, a: Any, *, out: Any) -> tuple[Any, ...]:
        return (g * out,)


@register
class Cast(OpDef):
    """Convert to ``dtype``; the gradient converts back (only between float dtypes)."""

    name = "cast"
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
    save_inputs = False
    promote_inputs = False

    def backward(self, g: Any, a: Any, *, out: Any) -> tuple[Any, ...]:
        return (g,)


@register
class Copy(OpDef):
    """``dst.copy_(src)``: the values of src, broadcast to dst's shape, in dst's dtype."""

    name = "copy"
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
