"""Reductions over dims (sum, mean, amax, var, norm, ...): one shape rule for all, in
:class:`Reduction`, plus ``cumsum`` (a scan, same shape as its input).

Every reduction takes ``dim`` as a tuple of ints (negative allowed; None or empty for all
dims) and ``keepdim``. Gradients follow PyTorch: ``amax``/``amin`` split the gradient evenly
among ties, ``max``/``min`` along a dim route it to the selected index only, ``prod`` is exact
where inputs are zero, and ``norm`` has gradient 0 at 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..types import dtype as dt
from ..types.algebra import DimAlgebra, Shape
from ..types.dtype import DType
from ..types.errors import RuleViolation
from .elementwise import masked_zero, zero_grad
from .registry import OpDef, register

if TYPE_CHECKING:
    from ..onnx.builder import OnnxBuilder, OnnxValue

__all__ = ["Reduction", "expand_reduced", "reduced_count", "reduced_dims", "restore_reduced"]

Dims = DimAlgebra[Any, Any]


def reduced_dims(dims: Dims, ndim: int, dim: Sequence[int] | None) -> tuple[int, ...]:
    """The normalised, sorted dims a reduction runs over (all when ``dim`` is None or empty)."""
    if dim is None or len(dim) == 0:
        return tuple(range(ndim))
    out = sorted({dims.check_dim(d, ndim) for d in dim})
    if len(out) != len(dim):
        raise RuleViolation("dim appears multiple times in the list of dims",
                            detail=f"dim={list(dim)}")
    return tuple(out)


def _concrete_axes(input_shape: Sequence[int], dim: Sequence[int] | None) -> tuple[int, ...]:
    from ..types.algebra import CONCRETE

    if len(input_shape) == 0:  # a 0-d input: dim 0 / -1 name the tensor itself
        return ()
    return reduced_dims(CONCRETE, len(input_shape), dim)


def restore_reduced(t: Any, input_shape: tuple[int, ...], dim: Sequence[int] | None,
                    keepdim: bool) -> Any:
    """A reduction's output (or its gradient) reshaped to the keepdim shape, so that it
    broadcasts against the input (a view)."""
    if keepdim or len(input_shape) == 0:
        return t
    kept = list(input_shape)
    for a in _concrete_axes(input_shape, dim):
        kept[a] = 1
    return t.reshape(kept)


def expand_reduced(g: Any, input_shape: tuple[int, ...], dim: Sequence[int] | None,
                   keepdim: bool) -> Any:
    """Broadcast a reduction's output gradient back to the input's shape (a view)."""
    return restore_reduced(g, input_shape, dim, keepdim).expand(input_shape)


def reduced_count(input_shape: Sequence[int], dim: Sequence[int] | None) -> int:
    """How many input elements each output element reduces."""
    count = 1
    for a in _concrete_axes(input_shape, dim):
        count *= input_shape[a]
    return count


class Reduction(OpDef):
    """Reduce over ``dim`` (a tuple, or None for all dims), keeping size-1 dims if ``keepdim``."""

    input_names = ("input",)

    def shape(self, dims: Dims, a: Shape, *, dim: Sequence[int] | None = None,
              keepdim: bool = False, **attrs: Any) -> Shape:
        if dim is None and not keepdim:
            return ()  # the common full reduction, without building the axis list
        axes = reduced_dims(dims, len(a), dim)
        if keepdim:
            return tuple(1 if i in axes else s for i, s in enumerate(a))
        return tuple(s for i, s in enumerate(a) if i not in axes)

    def dtype(self, a: DType, **attrs: Any) -> DType:
        return a

    def float_only(self, a: DType) -> None:
        """PyTorch defines mean, var, norm ... only for floating point inputs."""
        if not a.is_floating_point:
            raise self.dtype_error("expects a floating point input; convert with .float() "
                                   "first", a)


class SelectingReduction(Reduction):
    """Reductions with no identity element (max, argmax, ...): every reduced dim must be
    non-empty, as PyTorch requires."""

    def shape(self, dims: Dims, a: Shape, *, dim: Sequence[int] | None = None,
              keepdim: bool = False, **attrs: Any) -> Shape:
        out = super().shape(dims, a, dim=dim, keepdim=keepdim)
        for i in reduced_dims(dims, len(a), dim)[:len(a)]:  # none for a 0-d input
            dims.require(dims.ne(a[i], 0), f"cannot reduce over dim {i}, which has size 0",
                         hint="this reduction has no identity; pass a dim of non-zero size")
        return out


# -- sums and products --------------------------------------------------------------------------
@register
class Sum(Reduction):
    """Sum of elements; integer and bool inputs sum in int64 (as PyTorch), unless ``dtype``."""

    name = "sum"

    range_rule = "sum_"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, dim: Sequence[int] | None = None, keepdim: bool = False, **attrs: Any) -> OnnxValue:
        return g.reduce("ReduceSum", g.cast(a, g.out_dtype), dim, keepdim, len(a.shape or ()))

    onnx_import = ("ReduceSum",)
    save_inputs = False

    def dtype(self, a: DType, *, dtype: DType | None = None, **attrs: Any) -> DType:
        if dtype is not None:
            return dtype
        return dt.int64 if a.is_integer else a

    def backward(self, g: Any, a: Any, *, out: Any, dim: Any = None, keepdim: bool = False,
                 dtype: Any = None) -> tuple[Any, ...]:
        return (expand_reduced(g, a.shape, dim, keepdim),)


@register
class Mean(Reduction):
    """Arithmetic mean; float inputs only unless ``dtype`` is given (as PyTorch). The mean
    over an empty dim is nan."""

    name = "mean"

    range_rule = "mean"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, dim: Sequence[int] | None = None, keepdim: bool = False, **attrs: Any) -> OnnxValue:
        return g.reduce("ReduceMean", g.cast(a, g.out_dtype), dim, keepdim, len(a.shape or ()))

    onnx_import = ("ReduceMean",)
    save_inputs = False

    def dtype(self, a: DType, *, dtype: DType | None = None, **attrs: Any) -> DType:
        out = a if dtype is None else dtype
        self.float_only(out)
        return out

    def backward(self, g: Any, a: Any, *, out: Any, dim: Any = None, keepdim: bool = False,
                 dtype: Any = None) -> tuple[Any, ...]:
        count = reduced_count(a.shape, dim)
        return (expand_reduced(g, a.shape, dim, keepdim) / max(count, 1),)


@register
class Prod(Reduction):
    """Product of elements; integers multiply in int64 unless ``dtype`` is given.

    The gradient is the product of the *other* elements, computed without dividing by zero:
    with no zero in a slice it is ``prod / x``; with one zero, only that element gets the
    product of the rest; with two or more, all get 0.
    """

    name = "prod"
    range_rule = "prod"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, dim: Sequence[int] | None = None, keepdim: bool = False, **attrs: Any) -> OnnxValue:
        return g.reduce("ReduceProd", g.cast(a, g.out_dtype), dim, keepdim, len(a.shape or ()))

    onnx_import = ("ReduceProd",)

    def dtype(self, a: DType, *, dtype: DType | None = None, **attrs: Any) -> DType:
        if dtype is not None:
            return dtype
        return dt.int64 if a.is_integer else a

    def backward(self, g: Any, a: Any, *, out: Any, dim: Any = None, keepdim: bool = False,
                 dtype: Any = None) -> tuple[Any, ...]:
        zero = a.eq(0)
        zeros = zero.sum(dim, keepdim=True)  # (keepdim) zeros per slice
        nonzero = a.where(zero.logical_not(), 1.0)
        product = nonzero.prod(dim, keepdim=True)  # of the non-zero elements
        at_zero = masked_zero(product, zeros.ne(1))  # the one zero gets the rest's product
        elsewhere = masked_zero(product / nonzero, zeros.ne(0))
        return (expand_reduced(g, a.shape, dim, keepdim) * at_zero.where(zero, elsewhere),)


@register
class Cumsum(OpDef):
    """Running sum along ``dim``; integers accumulate in int64 unless ``dtype`` is given. The
    gradient is the reversed running sum of the output gradient."""

    name = "cumsum"
    range_rule = "cumsum"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, dim: int,
                dtype: DType | None = None) -> OnnxValue:
        if a.rank == 0:
            return g.cast(a, g.out_dtype)
        return g.node("CumSum", g.cast(a, g.out_dtype), g.ints([g.axes([dim], a.rank or 0)[0]]))
    save_inputs = False
    input_names = ("input",)

    def shape(self, dims: Dims, a: Shape, *, dim: int, dtype: DType | None = None) -> Shape:
        dims.check_dim(dim, len(a))
        return a

    def dtype(self, a: DType, *, dim: int, dtype: DType | None = None) -> DType:
        if dtype is not None:
            return dtype
        return dt.int64 if a.is_integer else a

    def backward(self, g: Any, a: Any, *, out: Any, dim: int,
                 dtype: Any = None) -> tuple[Any, ...]:
        if len(a.shape) == 0:
            return (g,)
        return (g.flip((dim,)).cumsum(dim).flip((dim,)),)


# -- extrema ------------------------------------------------------------------------------------
class _Amax(SelectingReduction):
    """amax / amin: the gradient is split evenly among the elements equal to the result."""

    save_output = True

    def backward(self, g: Any, a: Any, *, out: Any, dim: Any = None,
                 keepdim: bool = False) -> tuple[Any, ...]:
        hit = a.eq(restore_reduced(out, a.shape, dim, keepdim))
        count = hit.sum(dim, keepdim=True)
        return (restore_reduced(g, a.shape, dim, keepdim) / count * hit,)


@register
class Amax(_Amax):
    """Largest element over ``dim`` (nan if any is nan)."""

    name = "amax"

    range_rule = "amax"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, dim: Sequence[int] | None = None, keepdim: bool = False, **attrs: Any) -> OnnxValue:
        return g.reduce("ReduceMax", g.cast(a, g.out_dtype), dim, keepdim, len(a.shape or ()))

    onnx_import = ("ReduceMax",)


@register
class Amin(_Amax):
    """Smallest element over ``dim`` (nan if any is nan)."""

    name = "amin"

    range_rule = "amin"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, dim: Sequence[int] | None = None, keepdim: bool = False, **attrs: Any) -> OnnxValue:
        return g.reduce("ReduceMin", g.cast(a, g.out_dtype), dim, keepdim, len(a.shape or ()))

    onnx_import = ("ReduceMin",)


class _MaxDim(SelectingReduction):
    """max / min along one dim (the values of ``torch.max(x, dim)``): the gradient goes to the
    selected element only, the first of ties (as the index ``argmax`` returns)."""

    select = ""  # the index op that picks the element: "argmax" or "argmin"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, dim: Sequence[int] | None = None,
                keepdim: bool = False) -> OnnxValue:
        reduce = "ReduceMax" if self.select == "argmax" else "ReduceMin"
        if a.rank == 0:
            return g.node("Identity", a)
        return g.reduce(reduce, a, dim, keepdim, a.rank or 0)

    def shape(self, dims: Dims, a: Shape, *, dim: Sequence[int] | None = None,
              keepdim: bool = False, **attrs: Any) -> Shape:
        if dim is None or len(dim) != 1:
            raise RuleViolation("expects exactly one dim", detail=f"dim={dim!r}")
        return super().shape(dims, a, dim=dim, keepdim=keepdim)

    def backward(self, g: Any, a: Any, *, out: Any, dim: Any = None,
                 keepdim: bool = False) -> tuple[Any, ...]:
        if len(a.shape) == 0:
            return (g,)
        d = dim[0] % len(a.shape)
        index = getattr(a, self.select)(d, keepdim=True)
        position = a.new_ones(a.shape, dtype=dt.int64).cumsum(d) - 1  # 0, 1, ... along d
        return (restore_reduced(g, a.shape, dim, keepdim) * position.eq(index),)


@register
class Max(_MaxDim):
    """Largest element along one dim (first of ties; nan wins), as ``torch.max(x, dim)``."""

    name = "max"
    range_rule = "max_"
    select = "argmax"


@register
class Min(_MaxDim):
    """Smallest element along one dim (first of ties; nan wins), as ``torch.min(x, dim)``."""

    name = "min"
    range_rule = "min_"
    select = "argmin"


class _ArgIndex(SelectingReduction):
    """argmax / argmin: int64 index of the first extreme element (nan counts as extreme);
    over the flattened input when ``dim`` is None."""

    differentiable = False
    save_inputs = False

    def shape(self, dims: Dims, a: Shape, *, dim: Sequence[int] | None = None,
              keepdim: bool = False, **attrs: Any) -> Shape:
        if dim is not None and len(dim) != 1:
            raise RuleViolation("expects one dim or None", detail=f"dim={dim!r}")
        return super().shape(dims, a, dim=dim, keepdim=keepdim)

    def dtype(self, a: DType, **attrs: Any) -> DType:
        if a.is_bool:
            raise self.dtype_error("does not support bool input; convert with .int() first", a)
        return dt.int64

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, dim: Sequence[int] | None = None,
                keepdim: bool = False) -> OnnxValue:
        # select_last_index=0: the first extreme element, as PyTorch
        op = "ArgMax" if self.name == "argmax" else "ArgMin"
        rank = a.rank or 0
        if rank == 0:
            return g.const(0, dt.int64)
        if dim is None:
            flat = g.node("Reshape", a, g.ints([-1]), dtype=a.dtype)
            out = g.node(op, flat, axis=0, keepdims=0, select_last_index=0)
            return g.reshape(out, g.out_shape) if keepdim else out
        return g.node(op, a, axis=g.axes(dim, rank)[0], keepdims=int(keepdim),
                      select_last_index=0)


@register
class Argmax(_ArgIndex):
    """Index of the largest element."""

    name = "argmax"
    range_rule = "argmax"


@register
class Argmin(_ArgIndex):
    """Index of the smallest element."""

    name = "argmin"
    range_rule = "argmin"


# -- statistics ---------------------------------------------------------------------------------
@register
class Var(Reduction):
    """Variance ``sum((x - mean)^2) / (N - correction)`` (Bessel's correction by default).

    With ``N - correction <= 0`` the result is inf or nan, as PyTorch.
    """

    name = "var"
    range_rule = "var"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, dim: Sequence[int] | None = None,
                keepdim: bool = False, correction: float = 1, **attrs: Any) -> OnnxValue:
        # mean((a - mean(a))^2) * N / (N - correction), N from the (constant) reduced dims.
        assert a.shape is not None
        rank = len(a.shape)
        axes = list(range(rank)) if not dim else g.axes(dim, rank)
        n = 1
        for ax in axes:
            if not a.shape[ax].is_constant:
                raise NotImplementedError("var over a symbolic dim has no ONNX mapping yet")
            n *= a.shape[ax].as_int()
        d = g.node("Sub", a, g.reduce("ReduceMean", a, axes, True, rank))
        m = g.reduce("ReduceMean", g.node("Mul", d, d), axes, keepdim, rank)
        return g.node("Mul", m, g.scalar(n / (n - correction) if n != correction else float("inf"), a))

    def dtype(self, a: DType, **attrs: Any) -> DType:
        self.float_only(a)
        return a

    def backward(self, g: Any, a: Any, *, out: Any, dim: Any = None, correction: float = 1,
                 keepdim: bool = False) -> tuple[Any, ...]:
        dof = reduced_count(a.shape, dim) - correction
        scale = 2.0 / dof if dof != 0 else math.inf
        centred = a - a.mean(dim, keepdim=True)
        return (restore_reduced(g, a.shape, dim, keepdim) * scale * centred,)


@register
class Std(Var):
    """Standard deviation ``sqrt(var)``; its gradient is 0 where the deviation is 0 (constant
    slices), as PyTorch, where the composite ``sqrt(var)`` would give nan."""

    name = "std"
    range_rule = "std"
    save_output = True

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Sqrt", super().to_onnx(g, a, **attrs))

    def backward(self, g: Any, a: Any, *, out: Any, dim: Any = None, correction: float = 1,
                 keepdim: bool = False) -> tuple[Any, ...]:
        g_var = masked_zero(g / (out * 2), out.eq(0))
        return super().backward(g_var, a, out=None, dim=dim, correction=correction,
                                keepdim=keepdim)


@register
class Logsumexp(Reduction):
    """``log(sum(exp(x)))``, shifted by the max so that it neither overflows nor underflows;
    integer inputs give the default float dtype. Slices of only -inf give -inf."""

    name = "logsumexp"

    range_rule = "logsumexp"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, dim: Sequence[int] | None = None, keepdim: bool = False, **attrs: Any) -> OnnxValue:
        return g.reduce("ReduceLogSumExp", g.cast(a, g.out_dtype), dim, keepdim, len(a.shape or ()))

    onnx_import = ("ReduceLogSumExp",)
    promote_inputs = True  # integer inputs are cast to the float result before the kernel
    save_output = True

    def dtype(self, a: DType, **attrs: Any) -> DType:
        return dt.get_default_dtype() if a.is_integer else a

    def backward(self, g: Any, a: Any, *, out: Any, dim: Any = None,
                 keepdim: bool = False) -> tuple[Any, ...]:
        # softmax(x), shifted by the result itself: exp(x - lse) <= 1 never overflows.
        weights = (a - restore_reduced(out, a.shape, dim, keepdim)).exp()
        return (restore_reduced(g, a.shape, dim, keepdim) * weights,)


@register
class Norm(Reduction):
    """Vector p-norm over ``dim``: ``sum(|x|^p)^(1/p)``; ``p`` may be 0 (count of non-zeros),
    inf (max ``|x|``) or -inf (min ``|x|``). The gradient at 0 is 0 (PyTorch's subgradient)."""

    name = "norm"
    range_rule = "norm"
    save_output = True

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, p: float = 2.0,
                dim: Sequence[int] | None = None, keepdim: bool = False) -> OnnxValue:
        rank = a.rank or 0
        x = g.node("Abs", a)
        if p == 2:
            return g.reduce("ReduceL2", a, dim, keepdim, rank)
        if p == 1:
            return g.reduce("ReduceL1", a, dim, keepdim, rank)
        if math.isinf(p):
            return g.reduce("ReduceMax" if p > 0 else "ReduceMin", x, dim, keepdim, rank)
        if p == 0:
            nonzero = g.cast(g.node("Not", g.node("Equal", a, g.scalar(0, a), dtype=dt.bool_),
                                    dtype=dt.bool_), a.dtype)
            return g.reduce("ReduceSum", nonzero, dim, keepdim, rank)
        total = g.reduce("ReduceSum", g.node("Pow", x, g.scalar(p, a)), dim, keepdim, rank)
        return g.node("Pow", total, g.scalar(1.0 / p, a))

    def dtype(self, a: DType, **attrs: Any) -> DType:
        self.float_only(a)
        return a

    def shape(self, dims: Dims, a: Shape, *, p: float = 2.0, dim: Sequence[int] | None = None,
              keepdim: bool = False, **attrs: Any) -> Shape:
        if math.isinf(p):
            for i in reduced_dims(dims, len(a), dim)[:len(a)]:
                dims.require(dims.ne(a[i], 0), f"cannot take the {p} norm over dim {i}, "
                             "which has size 0", hint="max and min have no identity")
        return super().shape(dims, a, dim=dim, keepdim=keepdim)

    def backward(self, g: Any, a: Any, *, out: Any, p: float = 2.0, dim: Any = None,
                 keepdim: bool = False) -> tuple[Any, ...]:
        g = restore_reduced(g, a.shape, dim, keepdim)
        norm = restore_reduced(out, a.shape, dim, keepdim)
        if p == 0:
            return (zero_grad(a),)
        if p == 1:
            return (a.sign() * g,)
        if p == 2:
            return (a * masked_zero(g / norm, norm.eq(0)),)
        if math.isinf(p):
            size = a.abs()
            hit = size.eq(norm).logical_or(size.ne(size))  # the extreme elements, or nan
            return (a.sign() * (g / hit.sum(dim, keepdim=True)) * hit,)
        if p < 1:  # |x|^(p-1) is inf at 0; sign(0) = 0 zeroes it, on |x| := 1 to avoid nan
            scaled = a.sign() * a.abs().where(a.ne(0), 1.0).pow(p - 1)
            return (scaled * g * norm.pow(1 - p),)
        scaled = a.sign() * a.abs().pow(p - 1) if p < 2 else a * a.abs().pow(p - 2)
        return (scaled * masked_zero(g / norm.pow(p - 1), norm.eq(0)),)


# -- logic --------------------------------------------------------------------------------------
class _Logical(Reduction):
    """all / any: bool results (uint8 for uint8 inputs, as PyTorch); no gradient."""

    differentiable = False
    save_inputs = False

    def dtype(self, a: DType, **attrs: Any) -> DType:
        return dt.uint8 if a is dt.uint8 else dt.bool_

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, dim: Sequence[int] | None = None,
                keepdim: bool = False) -> OnnxValue:
        # ONNX has no boolean reduction: the min (all) or max (any) of the nonzero flags
        # as int32; an empty dim gives int32's max (all: True) or min (any: False).
        nonzero = g.node("Not", g.node("Equal", a, g.scalar(0, a), dtype=dt.bool_),
                         dtype=dt.bool_)
        flags = g.cast(nonzero, dt.int32)
        reduce = "ReduceMin" if self.name == "all" else "ReduceMax"
        out = g.reduce(reduce, flags, dim, keepdim, a.rank or 0)
        return g.cast(g.node("Greater", out, g.const(0, dt.int32), dtype=dt.bool_),
                      g.out_dtype)


@register
class All(_Logical):
    """True when every element is nonzero (True over an empty dim)."""

    name = "all"
    range_rule = "bool_all"


@register
class Any_(_Logical):
    """True when some element is nonzero (False over an empty dim)."""

    name = "any"
    range_rule = "bool_any"
