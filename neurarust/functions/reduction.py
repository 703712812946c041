"""Public reductions: sum, mean, ... and sum_to_size (autograd's un-broadcast)."""

from __future__ import annotations

from typing import Sequence

from ..tensor import Tensor
from ..types.dtype import DType
from ..types.errors import ShapeError
from ._call import apply

__all__ = ["sum", "mean", "sum_to_size"]

DimArg = int | Sequence[int] | None


def _dims(dim: DimArg) -> tuple[int, ...] | None:
    if dim is None:
        return None
    return (dim,) if isinstance(dim, int) else tuple(dim)


def sum(input: Tensor, dim: DimArg = None, keepdim: bool = False, *,
        dtype: DType | None = None) -> Tensor:
    """Sum over ``dim`` (all dims when None); ints sum in int64 unless ``dtype`` is given."""
    return apply("sum", input, dim=_dims(dim), keepdim=keepdim, dtype=dtype)


def mean(input: Tensor, dim: DimArg = None, keepdim: bool = False) -> Tensor:
    """Mean over ``dim`` (all dims when None)."""
    return apply("mean", input, dim=_dims(dim), keepdim=keepdim)


def sum_to_size(input: Tensor, size: Sequence[int]) -> Tensor:
    """Sum broadcast dims away so the result has ``size`` (which must broadcast to input)."""
    size = tuple(size)
    if input.shape == size:
        return input
    lead = input.ndim - len(size)
    if lead < 0:
        raise ShapeError(f"sum_to_size: size {list(size)} has more dims than the input "
                         f"{list(input.shape)}")
    axes = list(range(lead))
    for i, s in enumerate(size):
        if s == 1 and input.shape[lead + i] != 1:
            axes.append(lead + i)
        elif s != input.shape[lead + i]:
            raise ShapeError(f"sum_to_size: size {list(size)} is not expandable to the input's "
                             f"size {list(input.shape)}")
    out = apply("sum", input, dim=tuple(axes), keepdim=True, dtype=None) if axes else input
    return apply("view", out, shape=size) if out.shape != size else out
