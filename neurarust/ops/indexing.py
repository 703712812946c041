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

    start: int | None = None
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
    if s.start is None:
        start: Any = 0
    else:
        start = dims.min(s.start, n) if s.start >= 0 else dims.max(n + s.start, 0)
    if s.stop is None:
        stop: Any = n
    else:
        stop = dims.min(s.stop, n) if s.stop >= 0 else dims.max(n + s.stop, 0)
    span = dims.max(stop - start, 0)
    return span if s.step == 1 else dims.floordiv(span + (s.step - 1), s.step)


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
@register
class GetItem(OpDef):
    """Basic indexing, a view: ``x[0, 1:5:2, None]``."""

    name = "getitem"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, index: tuple[IndexItem, ...]) -> OnnxValue:
        # Basic indexing: Slice over the kept ranges, Gather for each int, Unsqueeze for None.
        out = a
        axis = 0
        for item in index:
            if item is None:
                out = g.node("Unsqueeze", out, g.ints([axis]))
                axis += 1
            elif isinstance(item, Slice):
                start = 0 if item.start is None else item.start
                stop = 2**63 - 1 if item.stop is None else item.stop
                if (start, stop, item.step) != (0, 2**63 - 1, 1):
                    out = g.node("Slice", out, g.ints([start]), g.ints([stop]), g.ints([axis]),
                                 g.ints([item.step]))
                axis += 1
            else:
                out = g.node("Gather", out, g.const(item, dt.int64), axis=axis)
        return out

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

    def backward(self, g: Any, a: Any, index: Any, src: Any, *, out: Any,
                 dim: int) -> tuple[Any, ...]:
        return g, None, _pad_to(g._apply("gather", index, dim=dim), src.shape)


@register
class IndexSelect(_DimIndexed):
    """The entries ``index`` (a vector) of ``input`` along ``dim``; repeats allowed."""

    name = "index_select"

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
