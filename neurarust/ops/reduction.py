"""Reductions over dims (sum, mean, ...): one shape rule for all, in :class:`Reduction`."""

from __future__ import annotations

from typing import Any, Sequence

from ..types import dtype as dt
from ..types.algebra import DimAlgebra, Shape
from ..types.dtype import DType
from .registry import OpDef, register

__all__ = ["Reduction", "reduced_dims", "expand_reduced"]

Dims = DimAlgebra[Any, Any]


def reduced_dims(dims: Dims, ndim: int, dim: Sequence[int] | None) -> tuple[int, ...]:
    """The normalised, sorted dims a reduction runs over (all when ``dim`` is None or empty)."""
    if dim is None or len(dim) == 0:
        return tuple(range(ndim))
    out = sorted({dims.check_dim(d, ndim) for d in dim})
    if len(out) != len(dim):
        from ..types.errors import RuleViolation

        raise RuleViolation("dim appears multiple times in the list of dims",
                            detail=f"dim={list(dim)}")
    return tuple(out)


def expand_reduced(g: Any, input_shape: tuple[int, ...], dim: Sequence[int] | None,
                   keepdim: bool) -> Any:
    """Broadcast a reduction's output gradient back to the input's shape (a view)."""
    from ..types.algebra import CONCRETE

    axes = reduced_dims(CONCRETE, len(input_shape), dim)
    if not keepdim:
        kept = list(input_shape)
        for a in axes:
            kept[a] = 1
        g = g.reshape(kept)
    return g.expand(input_shape)


class Reduction(OpDef):
    """Reduce over ``dim`` (a tuple, or None for all dims), keeping size-1 dims if ``keepdim``."""

    input_names = ("input",)

    def shape(self, dims: Dims, a: Shape, *, dim: Sequence[int] | None = None,
              keepdim: bool = False, **attrs: Any) -> Shape:
        axes = reduced_dims(dims, len(a), dim)
        if keepdim:
            return tuple(1 if i in axes else s for i, s in enumerate(a))
        return tuple(s for i, s in enumerate(a) if i not in axes)

    def dtype(self, a: DType, **attrs: Any) -> DType:
        return a


@register
class Sum(Reduction):
    """Sum of elements; integer and bool inputs sum in int64 (as PyTorch), unless ``dtype``."""

    name = "sum"
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
    """Arithmetic mean; defined for float inputs only (as PyTorch)."""

    name = "mean"
    save_inputs = False

    def dtype(self, a: DType, **attrs: Any) -> DType:
        if not a.is_floating_point:
            raise self.dtype_error("expects a floating point input; use .float() first, or "
                                   "sum(dtype=...)", a)
        return a

    def backward(self, g: Any, a: Any, *, out: Any, dim: Any = None,
                 keepdim: bool = False) -> tuple[Any, ...]:
        from ..types.algebra import CONCRETE

        axes = reduced_dims(CONCRETE, len(a.shape), dim)
        count = 1
        for i in axes:
            count *= a.shape[i]
        return (expand_reduced(g, a.shape, dim, keepdim) / max(count, 1),)
