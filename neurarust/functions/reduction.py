"""Public reductions: sum, mean, prod, max/min, amax/amin, argmax/argmin, var/std, logsumexp,
norm, all/any, the scan cumsum, and sum_to_size (autograd's un-broadcast).

``dim`` is an int or a tuple of ints (negative dims count from the end; None reduces all
dims), and ``keepdim`` keeps reduced dims with size 1, as in PyTorch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple, overload

from ..tensor import Tensor
from ..types.dtype import DType, bool_, uint8
from ..types.errors import ShapeError
from ._call import apply

__all__ = [
    "ValuesIndices", "all", "amax", "amin", "any", "argmax", "argmin", "cumsum", "logsumexp",
    "max", "mean", "min", "norm", "prod", "std", "sum", "sum_to_size", "var",
]

DimArg = int | Sequence[int] | None


class ValuesIndices(NamedTuple):
    """``(values, indices)`` of ``max``/``min`` along a dim, as ``torch.return_types.max``."""

    values: Tensor
    indices: Tensor


def _dims(dim: DimArg) -> tuple[int, ...] | None:
    if dim is None:
        return None
    return (dim,) if isinstance(dim, int) else tuple(dim)


def _one_dim(name: str, dim: object) -> tuple[int, ...]:
    if not isinstance(dim, int):
        raise TypeError(f"{name}: dim must be an int, got {dim!r}")
    return (dim,)


def _argable(input: Tensor) -> Tensor:
    """argmax rejects bool inputs (as PyTorch), but max(x, dim) of a bool tensor is fine."""
    return apply("cast", input, dtype=uint8) if input.dtype is bool_ else input


def sum(input: Tensor, dim: DimArg = None, keepdim: bool = False, *,
        dtype: DType | None = None) -> Tensor:
    """Sum over ``dim`` (all dims when None); ints sum in int64 unless ``dtype`` is given."""
    return apply("sum", input, dim=_dims(dim), keepdim=keepdim, dtype=dtype)


def mean(input: Tensor, dim: DimArg = None, keepdim: bool = False, *,
         dtype: DType | None = None) -> Tensor:
    """Mean over ``dim`` (all dims when None); float inputs only, unless ``dtype`` is given.
    Over an empty dim the mean is nan."""
    if dtype is None:
        return apply("mean", input, dim=_dims(dim), keepdim=keepdim)
    return apply("mean", input, dim=_dims(dim), keepdim=keepdim, dtype=dtype)


def prod(input: Tensor, dim: DimArg = None, keepdim: bool = False, *,
         dtype: DType | None = None) -> Tensor:
    """Product over ``dim`` (all when None); ints multiply in int64. The gradient is exact
    where elements are zero."""
    return apply("prod", input, dim=_dims(dim), keepdim=keepdim, dtype=dtype)


@overload
def max(input: Tensor) -> Tensor: ...
@overload
def max(input: Tensor, dim: int, keepdim: bool = False) -> ValuesIndices: ...
@overload
def max(input: Tensor, dim: Tensor) -> Tensor: ...
@overload
def max(input: Tensor, dim: int | Tensor | None = None,
        keepdim: bool = False) -> Tensor | ValuesIndices: ...
def max(input: Tensor, dim: int | Tensor | None = None,
        keepdim: bool = False) -> Tensor | ValuesIndices:
    """The largest element (``max(x)``, gradient shared evenly among ties), or
    ``(values, indices)`` along ``dim`` (gradient to the first maximal element only), or the
    elementwise ``maximum`` with another tensor. nan counts as the largest."""
    if isinstance(dim, Tensor):
        return apply("maximum", input, dim)
    if dim is None:
        return apply("amax", input, dim=None, keepdim=False)
    dims = _one_dim("max", dim)
    return ValuesIndices(apply("max", input, dim=dims, keepdim=keepdim),
                         apply("argmax", _argable(input), dim=dims, keepdim=keepdim))


@overload
def min(input: Tensor) -> Tensor: ...
@overload
def min(input: Tensor, dim: int, keepdim: bool = False) -> ValuesIndices: ...
@overload
def min(input: Tensor, dim: Tensor) -> Tensor: ...
@overload
def min(input: Tensor, dim: int | Tensor | None = None,
        keepdim: bool = False) -> Tensor | ValuesIndices: ...
def min(input: Tensor, dim: int | Tensor | None = None,
        keepdim: bool = False) -> Tensor | ValuesIndices:
    """The smallest element, ``(values, indices)`` along ``dim``, or the elementwise
    ``minimum`` with another tensor (see :func:`max`)."""
    if isinstance(dim, Tensor):
        return apply("minimum", input, dim)
    if dim is None:
        return apply("amin", input, dim=None, keepdim=False)
    dims = _one_dim("min", dim)
    return ValuesIndices(apply("min", input, dim=dims, keepdim=keepdim),
                         apply("argmin", _argable(input), dim=dims, keepdim=keepdim))


def amax(input: Tensor, dim: DimArg = (), keepdim: bool = False) -> Tensor:
    """Largest element over ``dim`` (all dims when empty); the gradient is split evenly among
    the elements equal to it."""
    return apply("amax", input, dim=_dims(dim), keepdim=keepdim)


def amin(input: Tensor, dim: DimArg = (), keepdim: bool = False) -> Tensor:
    """Smallest element over ``dim`` (all dims when empty); ties share the gradient."""
    return apply("amin", input, dim=_dims(dim), keepdim=keepdim)


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """int64 index of the first largest element along ``dim`` (of the flattened input when
    None)."""
    return apply("argmax", input, dim=None if dim is None else _one_dim("argmax", dim),
                 keepdim=keepdim)


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """int64 index of the first smallest element along ``dim`` (flattened when None)."""
    return apply("argmin", input, dim=None if dim is None else _one_dim("argmin", dim),
                 keepdim=keepdim)


def var(input: Tensor, dim: DimArg = None, *, correction: float = 1,
        keepdim: bool = False) -> Tensor:
    """Variance over ``dim``: ``sum((x - mean)^2) / (N - correction)``; ``correction=1`` is
    Bessel's unbiased estimate, 0 the population variance."""
    return apply("var", input, dim=_dims(dim), correction=correction, keepdim=keepdim)


def std(input: Tensor, dim: DimArg = None, *, correction: float = 1,
        keepdim: bool = False) -> Tensor:
    """Standard deviation: ``sqrt(var(input, dim, correction=correction))``; the gradient
    is 0 where the deviation is 0."""
    return apply("std", input, dim=_dims(dim), correction=correction, keepdim=keepdim)


def logsumexp(input: Tensor, dim: DimArg, keepdim: bool = False) -> Tensor:
    """``log(sum(exp(input)))`` over ``dim``, stable for large and -inf inputs."""
    return apply("logsumexp", input, dim=_dims(dim), keepdim=keepdim)


def cumsum(input: Tensor, dim: int, *, dtype: DType | None = None) -> Tensor:
    """Running sum along ``dim`` (ints accumulate in int64 unless ``dtype`` is given)."""
    return apply("cumsum", input, dim=dim, dtype=dtype)


def norm(input: Tensor, p: float | str | None = "fro", dim: DimArg = None,
         keepdim: bool = False, dtype: DType | None = None) -> Tensor:
    """Vector p-norm over ``dim`` (all elements when None): ``p`` = 2 (``'fro'``, the
    default), 1, inf, -inf, 0 (count of non-zeros) or any other number. The gradient at 0
    is 0."""
    if p is None or p == "fro":
        p = 2.0
    elif isinstance(p, str):
        raise NotImplementedError(f"norm: p={p!r} is not supported; use p='fro' or a number")
    if dtype is not None:
        input = apply("cast", input, dtype=dtype)
    return apply("norm", input, p=p if math.isinf(p) else float(p), dim=_dims(dim),
                 keepdim=keepdim)


def all(input: Tensor, dim: DimArg = None, keepdim: bool = False) -> Tensor:
    """True where every element over ``dim`` is nonzero (True for an empty dim)."""
    return apply("all", input, dim=_dims(dim), keepdim=keepdim)


def any(input: Tensor, dim: DimArg = None, keepdim: bool = False) -> Tensor:
    """True where some element over ``dim`` is nonzero (False for an empty dim)."""
    return apply("any", input, dim=_dims(dim), keepdim=keepdim)


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
