"""Indexing ops: ``x[...]`` (basic views and advanced copies), its in-place form, and the
gather/scatter family.

How ``Tensor.__getitem__`` maps onto ops (the parsing lives in ``functions.indexing``):

- ``getitem``: ints, slices (positive steps) and None, as a **view**. Its ``index`` attr is a
  tuple of ``int | Slice | None`` items applied left to right to the input's dims; dims past
  the last item are kept whole.
- ``index``: the same basic ``index`` first, then integer index tensors (inputs 1..k) applied
  to the dims ``indexed_dims`` of that intermediate result, with PyTorch's placement rule: the
  broadcast index shape replaces the indexed dims where they are adjacent, and goes first
  where they are separated. A copy.
- ``index_put``: ``out = input.clone(); out[index] = values`` (or ``+=`` when ``accumulate``):
  the gradient of both ops above, and the op behind ``x[...] = v`` (through ``call_inplace``).
- ``nonzero_static``: the coordinates of the nonzero elements, padded or cut to ``size``
  rows. Bool masks are indexed through it: the number of True values is data, not shape, so
  ``functions.indexing`` counts them first (a 0-d tensor whose ``.item()`` is the one
  data-dependent step; a tracer must give it a fresh dim there) and passes the count as the
  ``size`` attr, which keeps every shape rule here total.

Index *values* are data, so kernels check their bounds (an ``IndexError`` naming the op, the
value, the dim and its size); the rules check only what shapes decide. Index tensors never
receive gradients, and backward reads only them (``saves_for``), so writing in place to the
indexed tensor after the op does not invalidate its gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..types import dtype as dt
from ..types.algebra import DimAlgebra, Shape
from ..types.dim import Dim
from ..types.dtype import DType
from ..types.errors import RuleViolation
from .registry import OpDef, register
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..onnx.builder import OnnxBuilder, OnnxValue

__all__ = ["FULL", "MAX_INDEX_TENSORS", "IndexItem", "Slice", "advanced_shape", "basic_shape"]

Dims = DimAlgebra[Any, Any]

MAX_INDEX_TENSORS = 64
"""At most this many index tensors per op (PyTorch's own limit on dims)."""


@dataclass(frozen=True)
class Slice:
    """A slice item of a basic index: ``start:stop:step`` with ``step > 0`` (as PyTorch).

    A frozen dataclass rather than Python's ``slice`` so that index attrs stay hashable and
    print compactly in messages (``index=(0, 1:5:2)``).
    """

    start: int | None = None  # while tracing, also a symbolic Dim (``x[:, :T]``)
    stop: int | None = None
    step: int = 1

    def __repr__(self) -> str:
        text = f"{'' if self.start is None else self.start}:{'' if self.stop is None else self.stop}"
        return text + (f":{self.step}" if self.step != 1 else "")

    def to_slice(self) -> slice:
        return slice(self.start, self.stop, self.step)


IndexItem = int | Slice | None
"""One item of a basic index: an int selects (drops the dim), a Slice keeps a range, None
inserts a size-1 dim."""

FULL = Slice()
"""``:``, a whole dim."""


def _slice_len(dims: Dims, n: Any, s: Slice) -> Any:
    """The length of ``range(n)[s]`` for a literal slice and a possibly symbolic size ``n``."""
    if s.step <= 0:
        raise RuleViolation("slice step must be greater than zero", detail=f"got step {s.step}")
    if s.start is None and s.stop is None:
        return n if s.step == 1 else dims.floordiv(n + (s.step - 1), s.step)
    start: Any = 0 if s.start is None else _position(dims, n, s.start)
    stop: Any = n if s.stop is None else _position(dims, n, s.stop)
    span = dims.max(stop - start, 0)
    return span if s.step == 1 else dims.floordiv(span + (s.step - 1), s.step)


def _position(dims: Dims, n: Any, bound: Any) -> Any:
    """Where a slice bound falls in a dim of size ``n``, clamped to ``[0, n]``. A symbolic
    bound (``table[:T]`` while tracing) must be >= 0: it is then clamped like an int."""
    if isinstance(bound, Dim) and not bound.is_constant:
        dims.require(dims.ge(bound, 0), "a symbolic slice bound must be >= 0",
                     hint="negative bounds count from the end only when they are ints")
        return dims.min(bound, n)
    return dims.min(bound, n) if bound >= 0 else dims.max(n + bound, 0)


def basic_shape(dims: Dims, a: Shape, index: Sequence[IndexItem]) -> Shape:
    """The shape of ``a[index]`` for a basic index (ints, Slices, None)."""
    used = sum(1 for item in index if item is not None)
    if used > len(a):
        raise RuleViolation(f"too many indices for tensor of dimension {len(a)}",
                            detail=f"{used} dims indexed by {_show_index(index)}")
    out: list[Any] = []
    p = 0
    for item in index:
        if item is None:
            out.append(1)
            continue
        n = a[p]
        if isinstance(item, Slice):
            out.append(_slice_len(dims, n, item))
        elif isinstance(item, int) and not isinstance(item, bool):
            inside = dims.lt(item, n) if item >= 0 else dims.le(-item, n)
            dims.require(inside, f"index {item} is out of bounds for dimension {p} with size {n}")
        else:
            raise RuleViolation("index items must be int, Slice or None",
                                detail=f"got {item!r} in {_show_index(index)}")
        p += 1
    out.extend(a[p:])
    return tuple(out)


def advanced_shape(dims: Dims, base: Shape, index_shapes: Sequence[Shape],
                   adv_dims: Sequence[int]) -> Shape:
    """The shape of ``base`` indexed at ``adv_dims`` by tensors of ``index_shapes``.

    The index shapes broadcast together to B; B replaces the indexed dims in place when they
    are adjacent (``x[:, i, j]``), and goes first when a sliced dim separates them
    (``x[i, :, j]``), as in numpy and PyTorch.
    """
    if len(index_shapes) != len(adv_dims):
        raise RuleViolation("one dim per index tensor is needed",
                            detail=f"{len(index_shapes)} index tensors, indexed_dims={list(adv_dims)}")
    if not adv_dims:
        return tuple(base)
    for d in adv_dims:
        if not 0 <= d < len(base):
            raise RuleViolation(f"too many indices for tensor of dimension {len(base)}",
                                detail=f"index tensor for dim {d}")
    if list(adv_dims) != sorted(set(adv_dims)):
        raise RuleViolation("indexed dims must be distinct and increasing",
                            detail=f"indexed_dims={list(adv_dims)}")
    b = _broadcast_indices(dims, index_shapes)
    first, last = adv_dims[0], adv_dims[-1]
    if last - first + 1 == len(adv_dims):  # adjacent: B replaces them in place
        return tuple(base[:first]) + b + tuple(base[last + 1:])
    rest = tuple(s for i, s in enumerate(base) if i not in adv_dims)
    return b + rest


def _broadcast_indices(dims: Dims, shapes: Sequence[Shape]) -> Shape:
    """Broadcast index shapes, with PyTorch's words when they do not fit."""
    n = max(len(s) for s in shapes)
    padded = [(1,) * (n - len(s)) + tuple(s) for s in shapes]
    out = []
    for k in range(n):
        size: Any = 1
        for s in padded:
            d = s[k]
            dims.require(dims.or_(dims.eq(d, size), dims.eq(d, 1), dims.eq(size, 1)),
                         "shape mismatch: indexing tensors could not be broadcast together with "
                         "shapes " + ", ".join(_show(s) for s in shapes))
            size = dims.select(dims.eq(size, 1), d, size)
        out.append(size)
    return tuple(out)


def _check_index_dtypes(op: OpDef, *dtypes: DType) -> None:
    for d in dtypes:
        if d is not dt.int64 and d is not dt.int32:
            raise op.dtype_error("tensors used as indices must be int64 or int32 tensors "
                                 "(bool masks are indexed through nonzero)", *dtypes)


def _show(shape: Sequence[Any]) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _show_index(index: Sequence[IndexItem]) -> str:
    return "[" + ", ".join(repr(i) for i in index) + "]"




def _take(g: Any, index: tuple[IndexItem, ...], indices: Sequence[Any],
          adv_dims: tuple[int, ...]) -> Any:
    """``g[index][indices at adv_dims]`` through the registered ops (a view when basic)."""
    if not indices:
        return g._apply("getitem", index=index)
    return g._apply("index", *indices, index=index, indexed_dims=adv_dims)


# -- x[...] ------------------------------------------------------------------------------------
def _onnx_basic_index(g: OnnxBuilder, a: OnnxValue, index: tuple[IndexItem, ...]) -> OnnxValue:
    """Basic indexing as ONNX: Slice over the kept ranges (bounds may be symbolic dims),
    Gather for each int, Unsqueeze for None."""
    out = a
    axis = 0
    for item in index:
        if item is None:
            out = g.node("Unsqueeze", out, g.ints([axis]), dtype=a.dtype)
            axis += 1
        elif isinstance(item, Slice):
            start = 0 if item.start is None else item.start
            stop = 2**63 - 1 if item.stop is None else item.stop
            if (start, stop, item.step) != (0, 2**63 - 1, 1):
                out = g.node("Slice", out, g.shape_of([start]), g.shape_of([stop]),
                             g.ints([axis]), g.ints([item.step]), dtype=a.dtype)
            axis += 1
        else:
            out = g.node("Gather", out, g.const(item, dt.int64), axis=axis, dtype=a.dtype)
    return out if out is not a else g.node("Identity", a)


def _basic_rank(rank: int, index: Sequence[IndexItem]) -> int:
    """The rank of ``a[index]`` for a basic index: ints drop a dim, None adds one."""
    return rank - sum(1 for i in index if isinstance(i, int)) + sum(1 for i in index
                                                                     if i is None)


def _onnx_gather_layout(g: OnnxBuilder, base: OnnxValue, rank: int,
                        indices: Sequence[OnnxValue], indexed_dims: Sequence[int]
                        ) -> tuple[OnnxValue, OnnxValue, list[int]]:
    """``base`` with its indexed dims moved first, the index tensors broadcast, made
    non-negative and stacked on a last axis (GatherND / ScatterND's ``[*B, k]`` indices),
    and the permutation used."""
    idx = [g.cast(i, dt.int64) for i in indices]
    if len(idx) > 1:  # broadcast together: add the zeros of their sum
        total = idx[0]
        for i in idx[1:]:
            total = g.node("Add", total, i, dtype=dt.int64)
        zeros = g.node("Mul", total, g.const(0, dt.int64), dtype=dt.int64)
        idx = [g.node("Add", i, zeros, dtype=dt.int64) for i in idx]
    shape = g.node("Shape", base, dtype=dt.int64)
    fixed = []
    for i, d in zip(idx, indexed_dims):
        size = g.node("Gather", shape, g.const(d, dt.int64), axis=0, dtype=dt.int64)
        negative = g.node("Less", i, g.const(0, dt.int64), dtype=dt.bool_)
        fixed.append(g.node("Where", negative, g.node("Add", i, size, dtype=dt.int64), i,
                            dtype=dt.int64))
    stacked = g.node("Concat", *[g.unsqueeze(i, [-1]) for i in fixed], axis=-1,
                     dtype=dt.int64)
    perm = list(indexed_dims) + [d for d in range(rank) if d not in indexed_dims]
    data = base if perm == list(range(rank)) else g.node("Transpose", base, dtype=base.dtype,
                                                          perm=perm)
    return data, stacked, perm


def _onnx_result_perm(indices: Sequence[OnnxValue], indexed_dims: Sequence[int],
                      rank: int) -> list[int]:
    """The Transpose from GatherND's ``[*B, *rest]`` to PyTorch's layout, where B takes the
    place of adjacent indexed dims (and stays first otherwise)."""
    b = max(i.rank or 0 for i in indices)
    first, last = indexed_dims[0], indexed_dims[-1]
    n_rest = rank - len(indexed_dims)
    if last - first + 1 != len(indexed_dims) or first == 0:
        return list(range(b + n_rest))
    return list(range(b, b + first)) + list(range(b)) + list(range(b + first, b + n_rest))


def _inverse(perm: Sequence[int]) -> list[int]:
    out = [0] * len(perm)
    for i, p in enumerate(perm):
        out[p] = i
    return out


@register
class GetItem(OpDef):
    """Basic indexing, a view: ``x[0, 1:5:2, None]``."""

    name = "getitem"
    range_rule = "getitem"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, index: tuple[IndexItem, ...]) -> OnnxValue:
        return _onnx_basic_index(g, a, index)

    onnx_import = ("Slice", "Gather")
    is_view = True
    save_inputs = False
    input_names = ("input",)

    def shape(self, dims: Dims, a: Shape, *, index: tuple[IndexItem, ...]) -> Shape:
        return basic_shape(dims, a, index)

    def dtype(self, a: DType, **attrs: Any) -> DType:
        return a

    def backward(self, g: Any, a: Any, *, out: Any,
                 index: tuple[IndexItem, ...]) -> tuple[Any, ...]:
        zeros = g.new_zeros(a.shape)
        return (zeros._apply("index_put", g, index=index, indexed_dims=(), accumulate=False),)


@register
class Index(OpDef):
    """Advanced indexing with integer tensors (after a basic ``index``): ``x[idx]``,
    ``x[:, i, j]``, ``x[i, :, j]`` (a copy). Gradient: scatter-add into zeros, so repeated
    indices accumulate."""

    name = "index"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *indices: OnnxValue,
                index: tuple[IndexItem, ...], indexed_dims: tuple[int, ...]) -> OnnxValue:
        base = _onnx_basic_index(g, a, index) if index else a
        if not indices:
            return base
        rank = _basic_rank(a.rank or 0, index)
        data, stacked, _ = _onnx_gather_layout(g, base, rank, indices, indexed_dims)
        out = g.node("GatherND", data, stacked)
        return g.transpose(out, _onnx_result_perm(indices, indexed_dims, rank))
    range_rule = "index"
    nondiff_inputs = tuple(range(1, MAX_INDEX_TENSORS + 1))
    input_names = ("input",) + tuple(f"indices[{i}]" for i in range(MAX_INDEX_TENSORS))

    def saves_for(self, needs_grad: tuple[bool, ...]) -> tuple[bool, ...]:
        return (False,) + (True,) * (len(needs_grad) - 1)  # only the index tensors

    def shape(self, dims: Dims, a: Shape, *indices: Shape, index: tuple[IndexItem, ...],
              indexed_dims: tuple[int, ...]) -> Shape:
        return advanced_shape(dims, basic_shape(dims, a, index), indices, indexed_dims)

    def dtype(self, a: DType, *indices: DType, **attrs: Any) -> DType:
        _check_index_dtypes(self, *indices)
        return a

    def backward(self, g: Any, a: Any, *indices: Any, out: Any, index: tuple[IndexItem, ...],
                 indexed_dims: tuple[int, ...]) -> tuple[Any, ...]:
        grad = g.new_zeros(a.shape)._apply("index_put", g, *indices, index=index,
                                           indexed_dims=indexed_dims, accumulate=True)
        return (grad,) + (None,) * len(indices)


@register
class IndexPut(OpDef):
    """``out = input.clone(); out[index][indices at indexed_dims] = values`` (``+=`` when
    ``accumulate``, which adds repeated indices up). ``values`` broadcasts to the indexed
    shape. Backs ``x[...] = v`` and the gradients of ``getitem`` and ``index``."""

    name = "index_put"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, values: OnnxValue | None,
                *indices: OnnxValue, index: tuple[IndexItem, ...], indexed_dims: tuple[int, ...],
                accumulate: bool) -> OnnxValue:
        # ScatterND into ``a`` with the indexed dims moved first; the values broadcast to
        # the indexed region in PyTorch's layout, then move to GatherND's.
        if not indices and all(item == FULL or type(item) is int for item in index):
            # x[:, 0] = v: each int is a 0-d index tensor on its dim (no None, so item k
            # indexes dim k), which leaves the other dims in place, as the basic index does
            indexed_dims = tuple(k for k, item in enumerate(index) if type(item) is int)
            indices = tuple(g.const(item, dt.int64) for item in index if type(item) is int)
            index = ()
        if any(item != FULL for item in index) or not indices:
            raise NotImplementedError("index_put (x[...] = v) through slices or None has no "
                                      "ONNX mapping yet; x[i] = v, x[:, 0] = v and "
                                      "x[:, i, j] = v have one")
        rank = a.rank or 0
        vals = g.cast(values, a.dtype) if values is not None else g.scalar(0, a)
        data, stacked, perm = _onnx_gather_layout(g, a, rank, indices, indexed_dims)
        region = g.node("GatherND", data, stacked)
        to_torch = _onnx_result_perm(indices, indexed_dims, rank)
        target = g.node("Shape", g.transpose(region, to_torch), dtype=dt.int64)
        updates = g.transpose(g.node("Expand", vals, target), _inverse(to_torch))
        out = g.node("ScatterND", data, stacked, updates,
                     reduction="add" if accumulate else None)
        return g.transpose(out, _inverse(perm))
    range_rule = "index_put"
    nondiff_inputs = tuple(range(2, MAX_INDEX_TENSORS + 2))
    input_names = ("input", "values") + tuple(f"indices[{i}]" for i in range(MAX_INDEX_TENSORS))

    def saves_for(self, needs_grad: tuple[bool, ...]) -> tuple[bool, ...]:
        return (False, False) + (True,) * (len(needs_grad) - 2)

    def shape(self, dims: Dims, a: Shape, values: Shape, *indices: Shape,
              index: tuple[IndexItem, ...], indexed_dims: tuple[int, ...],
              accumulate: bool) -> Shape:
        target = advanced_shape(dims, basic_shape(dims, a, index), indices, indexed_dims)
        message = (f"shape mismatch: value tensor of shape {_show(values)} cannot be broadcast "
                   f"to indexing result of shape {_show(target)}")
        if len(values) > len(target):
            raise RuleViolation(message)
        for v, t in zip(values, target[len(target) - len(values):]):
            dims.require(dims.or_(dims.eq(v, t), dims.eq(v, 1)), message)
        return a

    def dtype(self, a: DType, values: DType, *indices: DType, **attrs: Any) -> DType:
        _check_index_dtypes(self, *indices)
        return a

    def backward(self, g: Any, a: Any, values: Any, *indices: Any, out: Any,
                 index: tuple[IndexItem, ...], indexed_dims: tuple[int, ...],
                 accumulate: bool) -> tuple[Any, ...]:
        # Overwritten positions get no gradient from the input; accumulated ones keep it.
        grad_a = g if accumulate else g._apply("index_put", 0, *indices, index=index,
                                              indexed_dims=indexed_dims, accumulate=False)
        # values is None when it was a Python number (no gradient to compute).
        grad_v = None if values is None else _take(g, index, indices, indexed_dims)
        return (grad_a, grad_v) + (None,) * len(indices)


@register
class NonzeroStatic(OpDef):
    """Coordinates of the nonzero elements, ``(size, input.ndim)`` int64, padded with
    ``fill_value`` (or cut) to ``size`` rows, as ``torch.nonzero_static``."""

    name = "nonzero_static"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, size: Any,
                fill_value: int = -1) -> OnnxValue:
        # NonZero gives (ndim, count); rows past ``size`` are cut, missing ones filled
        import numpy as np

        if not isinstance(size, int):
            raise NotImplementedError(f"nonzero_static with the symbolic size {size}")
        rank = a.rank or 0
        coords = g.node("Transpose", g.node("NonZero", a, dtype=dt.int64), perm=[1, 0],
                        dtype=dt.int64)
        fill = g.const(np.full((size, rank), fill_value), dt.int64)
        both = g.node("Concat", coords, fill, axis=0, dtype=dt.int64)
        return g.node("Slice", both, g.ints([0]), g.ints([size]), g.ints([0]), dtype=dt.int64)
    range_rule = "nonzero_static"
    differentiable = False
    input_names = ("input",)

    def shape(self, dims: Dims, a: Shape, *, size: Any, fill_value: int = -1) -> Shape:
        if isinstance(size, int) and size < 0:
            raise RuleViolation("size must be non-negative", detail=f"got size={size}")
        return (size, len(a))

    def dtype(self, a: DType, **attrs: Any) -> DType:
        return dt.int64


# -- masks ---------------------------------------------------------------------------------------
@register
class MaskedFill(OpDef):
    """``value`` where ``mask`` is True, ``input`` elsewhere; mask and input broadcast.

    ``value`` is the ``value`` attr (a Python number), or a 0-d tensor passed as a third input
    (which then receives the sum of the gradient over the filled positions).
    """

    name = "masked_fill"
    range_rule = "masked_fill"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, mask: OnnxValue, *value_tensor: OnnxValue, value: Any = None) -> OnnxValue:
        fill = g.cast(value_tensor[0], a.dtype) if value_tensor else g.scalar(value, a)
        return g.node("Where", g.cast(mask, dt.bool_), fill, a)

    nondiff_inputs = (1,)
    input_names = ("input", "mask", "value")

    def saves_for(self, needs_grad: tuple[bool, ...]) -> tuple[bool, ...]:
        return (False, True) + (False,) * (len(needs_grad) - 2)

    def shape(self, dims: Dims, a: Shape, mask: Shape, *value_tensor: Shape,
              value: Any = None) -> Shape:
        if value_tensor and len(value_tensor[0]) != 0:
            raise RuleViolation("only a 0-dimensional value tensor is supported",
                                detail=f"got a value tensor with {len(value_tensor[0])} "
                                       "dimension(s)")
        if len(value_tensor) > 1 or (value_tensor and value is not None):
            raise RuleViolation("expects one value: a Python number or a 0-d tensor")
        return dims.broadcast(a, mask)

    def dtype(self, a: DType, mask: DType, *value_tensor: DType, value: Any = None) -> DType:
        if mask is not dt.bool_:
            raise self.dtype_error("only bool masks are supported", a, mask)
        return a

    def backward(self, g: Any, a: Any, mask: Any, *value_tensor: Any, out: Any,
                 value: Any = None) -> tuple[Any, ...]:
        kept = g._apply("masked_fill", mask, value=0)
        if not value_tensor:
            return kept, None
        return kept, None, (g - kept).sum()


# -- gather / scatter ----------------------------------------------------------------------------
def _check_same_rank(op: str, a: Shape, index: Shape, what: str = "input") -> None:
    if len(index) != len(a):
        raise RuleViolation(f"index tensor must have the same number of dimensions as {what}",
                            detail=f"index has {len(index)} dims, {what} has {len(a)}")


def _fits(dims: Dims, index: Shape, target: Shape, skip: int | None, what: str) -> None:
    """``index.size(d) <= target.size(d)`` for every dim but ``skip``."""
    for d, (i, t) in enumerate(zip(index, target)):
        if d != skip:
            dims.require(dims.le(i, t),
                         f"index size {i} at dimension {d} exceeds the {what}'s size {t}",
                         hint="the index may be smaller than the input, never larger")


class _DimIndexed(OpDef):
    """Ops indexed along one dim by an integer tensor at input 1 (gather, scatter, ...)."""

    nondiff_inputs = (1,)

    def saves_for(self, needs_grad: tuple[bool, ...]) -> tuple[bool, ...]:
        return (False, True) + (False,) * (len(needs_grad) - 2)


@register
class Gather(_DimIndexed):
    """``out[i][j][k] = input[index[i][j][k]][j][k]`` (for dim 0); out has index's shape."""

    name = "gather"
    range_rule = "gather"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, index: OnnxValue, *, dim: int) -> OnnxValue:
        return g.node("GatherElements", a, g.cast(index, dt.int64), axis=dim)

    onnx_import = ("GatherElements",)
    input_names = ("input", "index")

    def shape(self, dims: Dims, a: Shape, index: Shape, *, dim: int) -> Shape:
        d = dims.check_dim(dim, len(a))
        _check_same_rank(self.name, a, index)
        _fits(dims, index, a, d, "input")
        return index

    def dtype(self, a: DType, index: DType, **attrs: Any) -> DType:
        _check_index_dtypes(self, index)
        return a

    def backward(self, g: Any, a: Any, index: Any, *, out: Any, dim: int) -> tuple[Any, ...]:
        return g.new_zeros(a.shape)._apply("scatter_add", index, g, dim=dim), None


def _pad_to(x: Any, shape: Sequence[int]) -> Any:
    """``x`` in the leading corner of zeros of ``shape`` (src larger than index in scatter)."""
    if tuple(x.shape) == tuple(shape):
        return x
    corner = tuple(Slice(0, s) for s in x.shape)
    zeros = x.new_zeros(shape)
    return zeros._apply("index_put", x, index=corner, indexed_dims=(), accumulate=False)


def _onnx_scatter(g: OnnxBuilder, a: OnnxValue, index: OnnxValue, src: OnnxValue | None,
                  dim: int, value: Any, reduction: str | None) -> OnnxValue:
    """ScatterElements; its updates have the index's shape, so ``src`` (which may be larger,
    as PyTorch allows) is cut to it, and a ``value`` is expanded to it."""
    idx = g.cast(index, dt.int64)
    shape = g.node("Shape", idx, dtype=dt.int64)
    if src is None:
        updates = g.node("Expand", g.scalar(value, a), shape)
    else:
        rank = a.rank or 0
        updates = g.node("Slice", src, g.ints([0] * rank), shape, g.ints(list(range(rank))))
    return g.node("ScatterElements", a, idx, updates, axis=g.axes([dim], a.rank or 0)[0],
                  reduction=reduction)


class _Scatter(_DimIndexed):
    input_names = ("input", "index", "src")

    def shape(self, dims: Dims, a: Shape, index: Shape, src: Shape | None = None, *, dim: int,
              **attrs: Any) -> Shape:
        d = dims.check_dim(dim, len(a))
        _check_same_rank(self.name, a, index)
        _fits(dims, index, a, d, "input")
        if src is not None and len(src) > 0:
            _check_same_rank(self.name, src, index, "src")
            _fits(dims, index, src, None, "src")
        elif src is not None:
            raise RuleViolation("src must be a tensor with the index's number of dimensions",
                                detail="got a 0-d src; pass a Python number as value= instead")
        return a

    def dtype(self, a: DType, index: DType, src: DType | None = None, **attrs: Any) -> DType:
        _check_index_dtypes(self, index)
        if src is not None and src is not a:
            raise self.dtype_error("expected self.dtype to be equal to src.dtype", a, index, src)
        return a


@register
class Scatter(_Scatter):
    """``out = input.clone(); out[index[i][j]][j] = src[i][j]`` (for dim 0), or ``value``
    when no src is given. Repeated indices: one of the writes wins (unspecified, as PyTorch)."""

    name = "scatter"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, index: OnnxValue,
                src: OnnxValue | None = None, *, dim: int, value: Any = None) -> OnnxValue:
        return _onnx_scatter(g, a, index, src, dim, value, None)
    range_rule = "scatter"

    def backward(self, g: Any, a: Any, index: Any, src: Any = None, *, out: Any, dim: int,
                 value: Any = None) -> tuple[Any, ...]:
        grad_a = g._apply("scatter", index, dim=dim, value=0)
        if src is None:
            return grad_a, None
        return grad_a, None, _pad_to(g._apply("gather", index, dim=dim), src.shape)


@register
class ScatterAdd(_Scatter):
    """``out = input.clone(); out[index[i][j]][j] += src[i][j]`` (for dim 0); repeated
    indices add up."""

    name = "scatter_add"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, index: OnnxValue, src: OnnxValue, *,
                dim: int) -> OnnxValue:
        return _onnx_scatter(g, a, index, src, dim, None, "add")
    range_rule = "scatter_add"

    def backward(self, g: Any, a: Any, index: Any, src: Any, *, out: Any,
                 dim: int) -> tuple[Any, ...]:
        return g, None, _pad_to(g._apply("gather", index, dim=dim), src.shape)


@register
class IndexSelect(_DimIndexed):
    """The entries ``index`` (a vector) of ``input`` along ``dim``; repeats allowed."""

    name = "index_select"
    range_rule = "index_select"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, index: OnnxValue, *, dim: int) -> OnnxValue:
        return g.node("Gather", a, g.cast(index, dt.int64), axis=dim)

    onnx_import = ("Gather",)
    input_names = ("input", "index")

    def shape(self, dims: Dims, a: Shape, index: Shape, *, dim: int) -> Shape:
        d = dims.check_dim(dim, len(a))
        if len(index) > 1:
            raise RuleViolation("index is supposed to be a vector",
                                detail=f"got an index with {len(index)} dims")
        if not a:
            return a
        return tuple(a[:d]) + (dims.numel(index),) + tuple(a[d + 1:])

    def dtype(self, a: DType, index: DType, **attrs: Any) -> DType:
        _check_index_dtypes(self, index)
        return a

    def backward(self, g: Any, a: Any, index: Any, *, out: Any, dim: int) -> tuple[Any, ...]:
        if not a.shape:
            return g, None
        d = dim % len(a.shape)
        flat = index.reshape(-1)
        zeros = g.new_zeros(a.shape)
        return zeros._apply("index_put", g, flat, index=(), indexed_dims=(d,),
                            accumulate=True), None
