"""Joining ops: ``cat`` and ``stack`` (variadic: the tensors are the positional inputs), and
``narrow``, the view that ``split``, ``chunk`` and ``cat``'s gradient are made of.

``cat`` and ``stack`` promote their inputs' dtypes as PyTorch does; their gradients are
narrow/select views of the output gradient, so they copy nothing.
"""

from __future__ import annotations

from typing import Any

from ..types.algebra import DimAlgebra, Shape
from ..types.dtype import DType, promote_types
from ..types.errors import RuleViolation
from .indexing import Slice
from .registry import OpDef, register
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..onnx.builder import OnnxBuilder, OnnxValue

__all__ = ["cat_inputs"]

Dims = DimAlgebra[Any, Any]

_TENSOR_NAMES = tuple(f"tensor {i}" for i in range(1024))


def _show(shape: Shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def cat_inputs(dims: Dims, shapes: tuple[Shape, ...]) -> tuple[int, list[int]]:
    """The rank of ``cat``'s result and the positions of the inputs that take part.

    PyTorch still accepts *legacy empty* tensors (1-d, size 0, e.g. ``torch.tensor([])``)
    among tensors of another rank, and skips them: here a 1-d input among inputs of another
    rank must have size 0 (a requirement, so the rule also holds for symbolic sizes).
    """
    if not shapes:
        raise RuleViolation("expected a non-empty list of tensors")
    for i, s in enumerate(shapes):
        if len(s) == 0:
            raise RuleViolation(f"zero-dimensional tensor (at position {i}) cannot be "
                                "concatenated", hint="unsqueeze it, or use stack")
    ranks = {len(s) for s in shapes if len(s) != 1}
    if not ranks:
        return 1, list(range(len(shapes)))
    if len(ranks) > 1:
        first, second = sorted(ranks)[:2]
        raise RuleViolation(f"tensors must have the same number of dimensions: got {first} "
                            f"and {second}")
    rank = ranks.pop()
    for i, s in enumerate(shapes):
        if len(s) == 1:
            dims.require(dims.eq(s[0], 0), f"tensors must have the same number of dimensions: "
                         f"got {rank} and 1 (tensor {i})",
                         hint="only a 1-d tensor of size 0 may be mixed in (and is skipped)")
    return rank, [i for i, s in enumerate(shapes) if len(s) == rank]


@register
class Cat(OpDef):
    """Concatenate along ``dim``: sizes must match in every other dim."""

    name = "cat"
    range_rule = "cat"

    def to_onnx(self, g: OnnxBuilder, *xs: OnnxValue, dim: int) -> OnnxValue:
        return g.node("Concat", *xs, axis=g.axes([dim], len(g.out_shape))[0])

    onnx_import = ("Concat",)
    promote_inputs = True
    save_inputs = False
    input_names = _TENSOR_NAMES

    def shape(self, dims: Dims, *shapes: Shape, dim: int) -> Shape:
        rank, kept = cat_inputs(dims, shapes)
        d = dims.check_dim(dim, rank)
        ref = shapes[kept[0]]
        total = ref[d]
        for i in kept[1:]:
            s = shapes[i]
            for k in range(rank):
                if k != d:
                    dims.require(
                        dims.eq(s[k], ref[k]),
                        f"sizes of tensors must match except in dimension {d}: expected size "
                        f"{ref[k]} but got size {s[k]} for tensor {i} at dimension {k}")
            total = total + s[d]
        return tuple(ref[:d]) + (total,) + tuple(ref[d + 1:])

    def dtype(self, *dtypes: DType, dim: int) -> DType:
        out = dtypes[0]
        for d in dtypes[1:]:
            out = promote_types(out, d)
        return out

    def backward(self, g: Any, *inputs: Any, out: Any, dim: int) -> tuple[Any, ...]:
        from ..types.algebra import CONCRETE

        shapes = tuple(tuple(x.shape) for x in inputs)
        rank, kept = cat_inputs(CONCRETE, shapes)
        d = dim % rank
        grads: list[Any] = [None] * len(inputs)
        start = 0
        for i in kept:
            size = shapes[i][d]
            grads[i] = g._apply("narrow", dim=d, start=start, length=size)
            start += size
        return tuple(grads)


@register
class Stack(OpDef):
    """Join equal-shaped tensors along a new dim ``dim``."""

    name = "stack"
    range_rule = "stack"

    def to_onnx(self, g: OnnxBuilder, *xs: OnnxValue, dim: int) -> OnnxValue:
        axis = g.ints(g.axes([dim], len(g.out_shape)))
        return g.node("Concat", *[g.node("Unsqueeze", x, axis) for x in xs], axis=g.axes([dim], len(g.out_shape))[0])

    promote_inputs = True
    save_inputs = False
    input_names = _TENSOR_NAMES

    def shape(self, dims: Dims, *shapes: Shape, dim: int) -> Shape:
        if not shapes:
            raise RuleViolation("expected a non-empty list of tensors")
        ref = shapes[0]
        d = dims.check_dim(dim, len(ref) + 1)
        for i, s in enumerate(shapes[1:], 1):
            message = (f"stack expects each tensor to be equal size, but got {_show(ref)} at "
                       f"entry 0 and {_show(s)} at entry {i}")
            if len(s) != len(ref):
                raise RuleViolation(message)
            dims.require(dims.and_(*[dims.eq(x, y) for x, y in zip(s, ref)]), message)
        return tuple(ref[:d]) + (len(shapes),) + tuple(ref[d:])

    def dtype(self, *dtypes: DType, dim: int) -> DType:
        out = dtypes[0]
        for d in dtypes[1:]:
            out = promote_types(out, d)
        return out

    def backward(self, g: Any, *inputs: Any, out: Any, dim: int) -> tuple[Any, ...]:
        d = dim % (len(inputs[0].shape) + 1)
        lead = (Slice(),) * d
        return tuple(g._apply("getitem", index=lead + (i,)) for i in range(len(inputs)))


@register
class Narrow(OpDef):
    """``length`` entries along ``dim`` from ``start`` (negative counts from the end): a view."""

    name = "narrow"
    range_rule = "narrow"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, dim: int, start: int, length: int) -> OnnxValue:
        rank = len(a.shape or g.out_shape)
        return g.node("Slice", a, g.ints([start]), g.ints([start + length]), g.ints(g.axes([dim], rank)))

    onnx_import = ("Slice",)
    is_view = True
    save_inputs = False
    input_names = ("input",)

    def shape(self, dims: Dims, a: Shape, *, dim: int, start: int, length: int) -> Shape:
        if not a:
            raise RuleViolation("narrow() cannot be applied to a 0-dim tensor")
        d = dims.check_dim(dim, len(a))
        if length < 0:
            raise RuleViolation("narrow(): length must be non-negative", detail=f"got {length}")
        n = a[d]
        if start < 0:
            dims.require(dims.le(-start, n), f"start out of range (expected to be in range of "
                         f"[-{n}, {n}], but got {start})")
            begin: Any = n + start
        else:
            begin = start
        dims.require(dims.le(begin + length, n),
                     f"start ({start}) + length ({length}) exceeds dimension size ({n})")
        return tuple(a[:d]) + (length,) + tuple(a[d + 1:])

    def dtype(self, a: DType, **attrs: Any) -> DType:
        return a

    def backward(self, g: Any, a: Any, *, out: Any, dim: int, start: int,
                 length: int) -> tuple[Any, ...]:
        d = dim % len(a.shape)
        begin = start + a.shape[d] if start < 0 else start
        index = (Slice(),) * d + (Slice(begin, begin + length),)
        zeros = g.new_zeros(a.shape)
        return (zeros._apply("index_put", g, index=index, indexed_dims=(), accumulate=False),)


