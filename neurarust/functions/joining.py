"""Public joining functions: cat, stack (and their aliases), and the view-returning splits
narrow, split, chunk and unbind.

The splits return tuples of views (``narrow``/``select``) that share the input's storage and
carry gradients, as in PyTorch; ``cat`` and ``stack`` copy.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..ops.indexing import FULL
from ..tensor import Tensor
from ..types.errors import ShapeError
from ._call import apply

__all__ = [
    "cat",
    "chunk",
    "concat",
    "concatenate",
    "hstack",
    "narrow",
    "split",
    "stack",
    "unbind",
    "vstack",
]


def _tensors(op: str, tensors: Sequence[Tensor]) -> tuple[Tensor, ...]:
    if isinstance(tensors, Tensor):
        raise TypeError(f"{op}: expects a sequence of tensors, got a single Tensor "
                        f"(hint: {op}([a, b]), not {op}(a, b))")
    out = tuple(tensors)
    if not out:
        raise ValueError(f"{op}: expected a non-empty list of tensors")
    for i, t in enumerate(out):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected a sequence of tensors, got {type(t).__name__} "
                            f"at position {i}")
    return out


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate along ``dim``; other dims must match, dtypes promote. A 1-d tensor of size
    0 among tensors of another rank is skipped, as PyTorch does."""
    return apply("cat", *_tensors("cat", tensors), dim=dim)


concat = cat
concatenate = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join equal-shaped tensors along a new dim ``dim`` (in ``[-ndim-1, ndim]``)."""
    return apply("stack", *_tensors("stack", tensors), dim=dim)


def hstack(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenate column-wise: along dim 1, or dim 0 for 1-d tensors."""
    ts = _tensors("hstack", tensors)
    ts = tuple(t.reshape(1) if t.ndim == 0 else t for t in ts)
    return apply("cat", *ts, dim=0 if ts[0].ndim == 1 else 1)


def vstack(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenate row-wise: along dim 0, after making 0-d and 1-d tensors 2-d rows."""
    ts = _tensors("vstack", tensors)
    ts = tuple(t.reshape(1, -1) if t.ndim < 2 else t for t in ts)
    return apply("cat", *ts, dim=0)


def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """The ``length`` entries from ``start`` along ``dim`` (a view; negative start counts
    from the end)."""
    return apply("narrow", input, dim=dim, start=int(start), length=int(length))


def _dim(op: str, input: Tensor, dim: int) -> int:
    n = input.ndim
    if n == 0:
        raise ShapeError(f"{op}: expects a tensor with at least one dimension, got a 0-d tensor")
    if not -n <= dim < n:
        raise IndexError(f"{op}: dimension out of range (expected to be in range of "
                         f"[{-n}, {n - 1}], but got {dim})")
    return dim % n


def split(tensor: Tensor, split_size_or_sections: int | Sequence[int],
          dim: int = 0) -> tuple[Tensor, ...]:
    """Views of consecutive pieces along ``dim``: of ``split_size`` each (the last may be
    smaller), or of the listed sizes (which must add up to the dim's size)."""
    d = _dim("split", tensor, dim)
    n = tensor.shape[d]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size < 0:
            raise ValueError(f"split: split_size must be non-negative, got {size}")
        if size == 0:
            if n != 0:
                raise ValueError(f"split: split_size can only be 0 if dimension size is 0, but "
                                 f"got dimension size of {n}")
            return (narrow(tensor, d, 0, 0),)
        sizes = [size] * (n // size) + ([n % size] if n % size else [])
        sizes = sizes or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if any(s < 0 for s in sizes) or sum(sizes) != n:
            raise ShapeError(f"split: split_sizes must be non-negative and sum exactly to {n} "
                             f"(the input's size at dimension {d}), but got split_sizes={sizes}"
                             f"\n  input: {list(tensor.shape)}")
    out = []
    start = 0
    for s in sizes:
        out.append(narrow(tensor, d, start, s))
        start += s
    return tuple(out)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Split into ``chunks`` views of ``ceil(size / chunks)`` entries along ``dim`` (fewer
    chunks when the size does not fill them, as PyTorch)."""
    if chunks <= 0:
        raise ValueError(f"chunk: expects `chunks` to be greater than 0, got: {chunks}")
    d = _dim("chunk", input, dim)
    n = input.shape[d]
    if n == 0:
        return tuple(narrow(input, d, 0, 0) for _ in range(chunks))
    return split(input, -(-n // chunks), d)


def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices along ``dim``, each a view with that dim removed."""
    d = _dim("unbind", input, dim)
    lead = (FULL,) * d
    return tuple(apply("getitem", input, index=lead + (i,)) for i in range(input.shape[d]))
