"""Public indexing functions: ``x[...]`` and ``x[...] = v``, gather/scatter, index_select,
masked_fill, nonzero, take_along_dim.

``getitem`` turns a Python index into ops (see :mod:`neurarust.ops.indexing`): ints, slices
and None become one ``getitem`` view; integer tensors and lists add an ``index`` op (a copy)
over that view; a bool mask is first turned into integer coordinates by ``nonzero`` (whose
length is data, counted before the op runs). ``setitem`` writes through ``index_put`` in
place, so autograd sees it as any other in-place op.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..ops.arguments import parse_index
from ..ops.indexing import FULL, IndexItem, Slice
from ..tensor import Tensor
from ..types import dtype as dt
from ..types.algebra import CONCRETE
from ..types.dim import Dim
from ..types.errors import RuleViolation, ShapeError
from ..types.format import format_value
from ._call import apply, inplace
from .reduction import sum as _sum

__all__ = [
    "gather",
    "getitem",
    "index_put",
    "index_select",
    "masked_fill",
    "masked_select",
    "nonzero",
    "nonzero_static",
    "scatter",
    "scatter_add",
    "select",
    "setitem",
    "take_along_dim",
]

Scalar = int | float | bool
TensorOrScalar = Tensor | int | float | bool


# -- parsing a Python index ----------------------------------------------------------------------
class _Parsed:
    """A Python index as ops see it: a basic index, then index tensors at some of its dims."""

    __slots__ = ("index", "indexed_dims", "tensors")

    def __init__(self) -> None:
        self.index: list[IndexItem] = []
        self.tensors: list[Tensor] = []
        self.indexed_dims: list[int] = []


def _as_index_tensor(item: Any, like: Tensor) -> Tensor:
    """A list/array index as a tensor: int64 for ints, bool for bools (``[]`` is int64)."""
    array = np.asarray(item)
    if array.size == 0 and array.dtype.kind == "f":
        array = array.astype(np.int64)
    if array.dtype.kind == "b":
        array = array.astype(np.bool_)
    elif array.dtype.kind in "iu":
        array = array.astype(np.int64)
    else:
        raise IndexError(f"getitem: tensors used as indices must be integer or bool, got a "
                         f"sequence of {array.dtype}")
    return like._wrap_like(np.ascontiguousarray(array))


def _parse(x: Tensor, index: Any) -> _Parsed:
    """The index as ops see it (:func:`~neurarust.ops.arguments.parse_index`, which the mypy
    plugin calls too), with the tensors and masks of advanced indexing collected here."""
    items = [_normalise(item, x) for item in (index if isinstance(index, tuple) else (index,))]
    parsed = _Parsed()

    def advanced(item: Any, in_dim: int, out_dim: int) -> tuple[list[IndexItem], int]:
        if isinstance(item, Tensor) and item.dtype is not dt.bool_:
            parsed.tensors.append(item)
            parsed.indexed_dims.append(out_dim)
            return [FULL], 1
        mask = item if isinstance(item, Tensor) else x._wrap_like(np.array(False))
        _check_mask(x, mask, in_dim)
        if mask.ndim == 0:  # x[True] / x[False]: a new dim of size 1 / 0
            produced: list[IndexItem] = [None]
            coords = [nonzero(apply("view", mask, shape=(1,)), as_tuple=True)[0]]
        else:
            produced = [FULL] * mask.ndim
            coords = list(nonzero(mask, as_tuple=True))
        parsed.tensors.extend(coords)
        parsed.indexed_dims.extend(range(out_dim, out_dim + len(coords)))
        return produced, mask.ndim

    parsed.index = parse_index(items, x.ndim, advanced, _advanced_dims)
    return parsed


def _normalise(item: Any, x: Tensor) -> Any:
    """An index item as int, slice, None, Ellipsis, bool or Tensor."""
    if item is None or item is Ellipsis or isinstance(item, (bool, slice, Tensor)):
        return item
    if isinstance(item, (list, tuple, range, np.ndarray)):  # a nested sequence: an index tensor
        return _as_index_tensor(item, x)
    if isinstance(item, np.bool_):
        return bool(item)
    try:
        return operator.index(item)
    except TypeError:
        raise IndexError(
            "getitem: only integers, slices (`:`), ellipsis (`...`), None and integer or bool "
            f"tensors are valid indices, got {type(item).__name__}"
        ) from None


def _advanced_dims(item: Any) -> int:
    """How many input dims an index tensor or mask indexes (to expand the Ellipsis)."""
    if isinstance(item, Tensor):
        return item.ndim if item.dtype is dt.bool_ else 1
    return 0  # False


def _check_mask(x: Tensor, mask: Tensor, in_dim: int) -> None:
    """A bool mask must have the shape of the dims it indexes (PyTorch's IndexError)."""
    sizes = x.shape[in_dim:in_dim + mask.ndim]
    if len(sizes) < mask.ndim:
        raise IndexError(f"getitem: too many indices for tensor of dimension {x.ndim} "
                         f"(a {mask.ndim}-d mask from dim {in_dim})")
    for k, (m, s) in enumerate(zip(mask.shape, sizes)):
        if m != s:
            raise IndexError(f"getitem: the shape of the mask {list(mask.shape)} at index {k} "
                             f"does not match the shape of the indexed tensor {list(x.shape)} "
                             f"at index {in_dim + k}")


# -- x[...] and x[...] = v -----------------------------------------------------------------------
def getitem(input: Tensor, index: Any) -> Tensor:
    """``input[index]`` with PyTorch's semantics.

    Ints, slices (positive steps), None and ``...`` give a view that shares storage; integer
    tensors/lists and bool masks give a copy (advanced indexing: several index tensors
    broadcast together; their dims go where the indexed dims were when those are adjacent,
    first otherwise). Gradients flow to ``input`` in every case (repeated indices add up).
    """
    if type(index) is int:  # the fast path: x[i], for i in range(len(x))
        return apply("getitem", input, index=(index,))
    parsed = _parse(input, index)
    if not parsed.tensors:
        if any(isinstance(i, Slice) and (isinstance(i.start, Dim) or isinstance(i.stop, Dim))
               for i in parsed.index):
            # a symbolic bound (tracing): the general path, which records the op even when
            # ``input`` is a real tensor (the one-tensor fast path would run its rule on ints)
            from .. import _dispatch
            from ..ops.registry import get

            return _dispatch._call_general(get("getitem"), (input,),  # type: ignore[no-any-return]
                                           {"index": tuple(parsed.index)})
        return apply("getitem", input, index=tuple(parsed.index))
    return apply("index", input, *parsed.tensors, index=tuple(parsed.index),
                 indexed_dims=tuple(parsed.indexed_dims))


def setitem(input: Tensor, index: Any, value: TensorOrScalar) -> None:
    """``input[index] = value`` in place (value broadcast to the indexed shape and cast to
    input's dtype); bumps the storage version. An error on a leaf that requires grad, as in
    PyTorch; on a non-leaf, autograd records it (the overwritten part gets no gradient)."""
    parsed = _parse(input, index)
    attrs: dict[str, Any] = {"index": tuple(parsed.index),
                             "indexed_dims": tuple(parsed.indexed_dims), "accumulate": False}
    if isinstance(value, (list, tuple, np.ndarray)):
        value = input._wrap_like(np.asarray(value))
    if isinstance(value, Tensor):
        if value.dtype is not input.dtype:
            value = value.to(input.dtype)
        value = _drop_leading_ones(value, _target_shape(input, parsed))
    inplace(input, "index_put", value, *parsed.tensors, **attrs)


def _target_shape(x: Tensor, parsed: _Parsed) -> tuple[int, ...]:
    """The shape ``x[index]`` would have, from the ops' own rules."""
    from ..ops.indexing import advanced_shape, basic_shape

    base = basic_shape(CONCRETE, x.shape, parsed.index)
    return advanced_shape(CONCRETE, base, [t.shape for t in parsed.tensors], parsed.indexed_dims)


def _drop_leading_ones(value: Tensor, target: Sequence[int]) -> Tensor:
    """PyTorch (and numpy) accept a value with extra leading size-1 dims."""
    extra = value.ndim - len(target)
    if extra > 0 and all(s == 1 for s in value.shape[:extra]):
        return apply("view", value, shape=tuple(value.shape[extra:]))
    return value


def index_put(input: Tensor, indices: Sequence[Tensor | None], values: TensorOrScalar,
              accumulate: bool = False) -> Tensor:
    """``input`` with ``values`` written at ``indices`` (one index tensor per leading dim, None
    for a whole dim), as ``torch.index_put``; ``accumulate`` adds instead (repeats add up)."""
    index: list[IndexItem] = []
    tensors: list[Tensor] = []
    dims: list[int] = []
    for d, idx in enumerate(indices):
        index.append(FULL)
        if idx is not None:
            tensors.append(idx)
            dims.append(d)
    return apply("index_put", input, values, *tensors, index=tuple(index),
                 indexed_dims=tuple(dims), accumulate=accumulate)


def select(input: Tensor, dim: int, index: int) -> Tensor:
    """The slice at ``index`` along ``dim`` (a view with that dim removed)."""
    n = input.ndim
    if not -n <= dim < n:
        raise IndexError(f"select: dimension out of range (expected to be in range of "
                         f"[{-n}, {n - 1}], but got {dim})")
    return apply("getitem", input, index=(FULL,) * (dim % n) + (index,))


# -- gather / scatter / index_select ------------------------------------------------------------
def gather(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """``out[i][j] = input[index[i][j]][j]`` for dim 0 (and likewise for other dims); ``index``
    has input's number of dims and is no larger than input outside ``dim``."""
    return apply("gather", input, index, dim=dim)


def scatter(input: Tensor, dim: int, index: Tensor, src: TensorOrScalar) -> Tensor:
    """A copy of ``input`` with ``src`` (a tensor, or a number written everywhere) placed at
    ``index`` along ``dim``: ``out[index[i][j]][j] = src[i][j]`` for dim 0."""
    if isinstance(src, Tensor):
        return apply("scatter", input, index, src, dim=dim)
    return apply("scatter", input, index, dim=dim, value=src)


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """As :func:`scatter`, but adding: ``out[index[i][j]][j] += src[i][j]`` (repeats add up)."""
    return apply("scatter_add", input, index, src, dim=dim)


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """The entries ``index`` (a vector of int64/int32) of ``input`` along ``dim`` (a copy)."""
    return apply("index_select", input, index, dim=dim)


def take_along_dim(input: Tensor, indices: Tensor, dim: int | None = None) -> Tensor:
    """``gather`` with broadcasting: ``indices`` and ``input`` broadcast in every dim but
    ``dim``; with ``dim=None`` both are flattened first."""
    if dim is None:
        return gather(input.reshape(-1), 0, indices.reshape(-1))
    if input.ndim != indices.ndim:
        raise ShapeError(f"take_along_dim: input and indices should have the same number of "
                         f"dimensions, but got {input.ndim} and {indices.ndim}")
    d = dim % max(input.ndim, 1)
    a_shape = list(input.shape)
    i_shape = list(indices.shape)
    a_shape[d] = i_shape[d] = 1
    common = _broadcast("take_along_dim", (input, indices), tuple(a_shape), tuple(i_shape),
                        f"must broadcast in every dim but {d}")
    a_target = tuple(input.shape[d] if k == d else s for k, s in enumerate(common))
    i_target = tuple(indices.shape[d] if k == d else s for k, s in enumerate(common))
    if input.shape != a_target:
        input = apply("expand", input, size=a_target)
    if indices.shape != i_target:
        indices = apply("expand", indices, size=i_target)
    return gather(input, d, indices)


def _broadcast(op: str, tensors: tuple[Tensor, Tensor], a: tuple[int, ...], b: tuple[int, ...],
               expected: str) -> tuple[int, ...]:
    try:
        return CONCRETE.broadcast(a, b)
    except RuleViolation:
        x, y = tensors
        names = "input and indices" if op == "take_along_dim" else "input and mask"
        first, second = names.split(" and ")
        raise ShapeError(f"{op}: {first} {format_value(x)} and {second} {format_value(y)} "
                         f"{expected}") from None


# -- masks -----------------------------------------------------------------------------------------
def masked_fill(input: Tensor, mask: Tensor, value: TensorOrScalar) -> Tensor:
    """``value`` where the bool ``mask`` is True, ``input`` elsewhere (mask broadcasts);
    ``value`` is a number or a 0-d tensor (which then gets a gradient too)."""
    if isinstance(value, Tensor):
        return apply("masked_fill", input, mask, value)
    return apply("masked_fill", input, mask, value=value)


def masked_select(input: Tensor, mask: Tensor) -> Tensor:
    """The elements of ``input`` where the bool ``mask`` is True, as a 1-d copy (input and
    mask broadcast)."""
    shape = _broadcast("masked_select", (input, mask), input.shape, mask.shape,
                       "must broadcast")
    if input.shape != shape:
        input = apply("expand", input, size=shape)
    if mask.shape != shape:
        mask = apply("expand", mask, size=shape)
    if input.ndim == 0:
        return getitem(input.reshape(1), mask.reshape(1))
    return getitem(input, mask)


def nonzero_static(input: Tensor, *, size: int, fill_value: int = -1) -> Tensor:
    """The ``(size, input.ndim)`` int64 coordinates of the first ``size`` nonzero elements (in
    row-major order), padded with ``fill_value`` rows when there are fewer."""
    return apply("nonzero_static", input, size=size, fill_value=fill_value)


def nonzero(input: Tensor, *, as_tuple: bool = False) -> Any:
    """The int64 coordinates of the nonzero elements: ``(count, ndim)``, or a tuple of ndim
    vectors with ``as_tuple``.

    The count is data, not shape: it is computed first (``.item()`` of a sum, the one
    data-dependent step) and becomes the ``size`` of :func:`nonzero_static`, so the op's
    shape rule stays a plain function of its attrs.
    """
    flags = input if input.dtype is dt.bool_ else apply("cast", input, dtype=dt.bool_)
    count = int(_sum(flags).item())
    found = apply("nonzero_static", input, size=count, fill_value=-1)
    if not as_tuple:
        return found
    if input.ndim == 0:  # PyTorch treats a 0-d input as 1-d here
        flat = apply("nonzero_static", apply("view", input, shape=(1,)), size=count,
                     fill_value=-1)
        return (apply("getitem", flat, index=(FULL, 0)),)
    return tuple(apply("getitem", found, index=(FULL, k)) for k in range(input.ndim))
