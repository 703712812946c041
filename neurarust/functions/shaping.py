"""Public shape functions: reshape, view, permute, transpose, expand, squeeze, ... cat, split."""

from __future__ import annotations

from typing import Any, Sequence

from ..tensor import Tensor
from ..types.dim import Dim
from ..types.errors import ShapeError
from ._call import apply

__all__ = [
    "reshape", "view", "permute", "transpose", "t", "expand", "broadcast_to", "unsqueeze",
    "squeeze", "flatten", "unflatten", "flip", "repeat", "swapaxes", "movedim",
]


def _ints(shape: Sequence[Any]) -> tuple[int, ...]:
    # A symbolic Dim (while tracing) stays as it is: the shape rule reads it with its algebra.
    return tuple(s if isinstance(s, Dim) and not s.is_constant else int(s)  # type: ignore[misc]
                 for s in shape)


def reshape(input: Tensor, shape: Sequence[int]) -> Tensor:
    """Same elements in a new shape (one entry may be -1); a view when the strides allow."""
    shape = _ints(shape)
    if shape == input.shape:
        return apply("view", input, shape=shape)
    return apply("reshape", input, shape=shape)


def view(input: Tensor, shape: Sequence[int]) -> Tensor:
    """As reshape, but always a view: an error when the input's strides do not allow one."""
    return apply("view", input, shape=_ints(shape))


def permute(input: Tensor, dims: Sequence[int]) -> Tensor:
    """Reorder dims (a view): ``out.shape[i] == input.shape[dims[i]]``."""
    return apply("permute", input, dims_order=_ints(dims))


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dims (a view)."""
    n = input.ndim
    order = list(range(n))
    if n == 0:
        if dim0 in (0, -1) and dim1 in (0, -1):
            return apply("permute", input, dims_order=())
    else:
        for d in (dim0, dim1):
            if not -n <= d < n:
                raise IndexError(f"transpose: dimension out of range (expected to be in range of "
                                 f"[{-n}, {n - 1}], but got {d})")
        order[dim0], order[dim1] = order[dim1], order[dim0]
    return apply("permute", input, dims_order=tuple(order))


swapaxes = transpose


def t(input: Tensor) -> Tensor:
    """Transpose a matrix (a 0-d or 1-d tensor is returned as is)."""
    if input.ndim > 2:
        raise ShapeError(f"t: expects a tensor with <= 2 dims, got {input.ndim} dims "
                         f"(shape {list(input.shape)})\n  hint: use transpose(dim0, dim1) or .mT")
    return transpose(input, 0, 1) if input.ndim == 2 else apply("permute", input,
                                                                dims_order=tuple(range(input.ndim)))


def movedim(input: Tensor, source: int, destination: int) -> Tensor:
    n = input.ndim
    order = [d for d in range(n) if d != source % n]
    order.insert(destination % n, source % n)
    return apply("permute", input, dims_order=tuple(order))


def expand(input: Tensor, size: Sequence[int]) -> Tensor:
    """Broadcast to ``size`` without copying (-1 keeps a dim)."""
    return apply("expand", input, size=_ints(size))


def broadcast_to(input: Tensor, shape: Sequence[int]) -> Tensor:
    return apply("expand", input, size=_ints(shape))


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """Insert a size-1 dim at ``dim`` (a view)."""
    return apply("unsqueeze", input, dim=dim)


def squeeze(input: Tensor, dim: int | Sequence[int] | None = None) -> Tensor:
    """Remove size-1 dims: all, or those in ``dim`` that have size 1 (a view)."""
    dims = None if dim is None else ((dim,) if isinstance(dim, int) else tuple(dim))
    return apply("squeeze", input, dim=dims)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims ``start_dim..end_dim`` into one (a view when the strides allow)."""
    return apply("flatten", input, start_dim=start_dim, end_dim=end_dim)


def unflatten(input: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    """Split dim ``dim`` into ``sizes`` (one may be -1)."""
    n = input.ndim
    d = dim % n
    sizes = _ints(sizes)
    return reshape(input, input.shape[:d] + sizes + input.shape[d + 1:])


def flip(input: Tensor, dims: Sequence[int]) -> Tensor:
    """Reverse the order of elements along ``dims`` (a copy)."""
    return apply("flip", input, dims_to_flip=_ints(dims))


def repeat(input: Tensor, repeats: Sequence[int]) -> Tensor:
    """Tile ``repeats[i]`` times along each dim (``torch.Tensor.repeat``)."""
    return apply("repeat", input, repeats=_ints(repeats))
