"""Shape ops: reshape/view, permute, expand, (un)squeeze, flatten, flip, repeat.

All but flip and repeat are views (``is_view``): the kernel returns a view of the input's
buffer. None of their gradients needs the input's values, only its shape.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..types.algebra import DimAlgebra, Shape
from ..types.dtype import DType
from ..types.errors import RuleViolation
from .registry import OpDef, register
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..onnx.builder import OnnxBuilder, OnnxValue

Dims = DimAlgebra[Any, Any]


class _ShapeOp(OpDef):
    """Dtype-preserving, values-free gradients."""

    save_inputs = False
    input_names = ("input",)

    def dtype(self, a: DType, **attrs: Any) -> DType:
        return a


def _is_minus_one(s: Any) -> bool:
    return isinstance(s, int) and s == -1


@register
class Reshape(_ShapeOp):
    """Same elements, new shape; one entry may be -1 (inferred). A view when strides allow."""

    name = "reshape"

    range_rule = "reshape"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, shape: Sequence[Any]) -> OnnxValue:
        return g.reshape(a, g.out_shape)

    onnx_import = ("Reshape",)
    is_view = True

    def shape(self, dims: Dims, a: Shape, *, shape: Sequence[Any]) -> Shape:
        holes = [i for i, s in enumerate(shape) if _is_minus_one(s)]
        if len(holes) > 1:
            raise RuleViolation("only one dimension can be inferred", detail=f"shape {list(shape)}")
        for s in shape:
            if isinstance(s, int) and s < -1:
                raise RuleViolation("invalid shape dimension", detail=f"got {s} in {list(shape)}")
        numel = dims.numel(a)
        known = dims.numel([s for s in shape if not _is_minus_one(s)])
        detail = f"shape {_show(shape)} is invalid for input of size {numel}"
        if not holes:
            dims.require(dims.eq(numel, known), "number of elements must not change",
                         hint=detail)
            return tuple(shape)
        dims.require(dims.and_(dims.ne(known, 0), dims.eq(dims.mod(numel, known), 0)),
                     "number of elements must be divisible by the known sizes", hint=detail)
        out = list(shape)
        out[holes[0]] = dims.floordiv(numel, known)
        return tuple(out)

    def backward(self, g: Any, a: Any, *, out: Any, shape: Any) -> tuple[Any, ...]:
        return (g.reshape(a.shape),)


@register
class View(Reshape):
    """As reshape, but never copies: an error when the strides do not allow a view."""

    name = "view"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, shape: Sequence[Any]) -> OnnxValue:
        return g.reshape(a, g.out_shape)



@register
class Permute(_ShapeOp):
    """Reorder dims: ``out.shape[i] == a.shape[dims[i]]``."""

    name = "permute"

    range_rule = "permute"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, dims_order: Sequence[int]) -> OnnxValue:
        return g.node("Transpose", a, perm=g.axes(dims_order, len(dims_order)))

    onnx_import = ("Transpose",)
    is_view = True

    def shape(self, dims: Dims, a: Shape, *, dims_order: Sequence[int]) -> Shape:
        n = len(a)
        if len(dims_order) != n:
            raise RuleViolation("number of dims in the permutation does not match the input",
                                detail=f"input has {n} dims, got permutation {list(dims_order)}")
        norm = [dims.check_dim(d, n) for d in dims_order]
        if sorted(norm) != list(range(n)):
            raise RuleViolation("repeated dim in the permutation",
                                detail=f"got {list(dims_order)}")
        return tuple(a[d] for d in norm)

    def backward(self, g: Any, a: Any, *, out: Any, dims_order: Sequence[int]) -> tuple[Any, ...]:
        n = len(dims_order)
        inverse = [0] * n
        for i, d in enumerate(dims_order):
            inverse[d % n] = i
        return (g.permute(inverse),)


@register
class Expand(_ShapeOp):
    """Broadcast to ``size`` without copying (size -1 keeps a dim; new dims go in front)."""

    name = "expand"

    range_rule = "expand"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, size: Sequence[Any]) -> OnnxValue:
        return g.node("Expand", a, g.shape_of(g.out_shape))

    onnx_import = ("Expand",)
    is_view = True

    def shape(self, dims: Dims, a: Shape, *, size: Sequence[Any]) -> Shape:
        extra = len(size) - len(a)
        if extra < 0:
            raise RuleViolation("the number of sizes must be at least the number of dims",
                                detail=f"input has {len(a)} dims, got size {list(size)}")
        out = list(size[:extra])
        for i, (d, s) in enumerate(zip(a, size[extra:])):
            if _is_minus_one(s):
                out.append(d)
                continue
            dims.require(dims.or_(dims.eq(d, s), dims.eq(d, 1)),
                         "the expanded size must match the existing size where that is not 1",
                         hint=f"dim {i + extra}: input size {d}, target size {s}")
            out.append(s)
        for i, s in enumerate(size[:extra]):
            if _is_minus_one(s):
                raise RuleViolation("-1 is not allowed in a leading, non-existing dimension",
                                    detail=f"size {list(size)} at {i}")
        return tuple(out)

    def backward(self, g: Any, a: Any, *, out: Any, size: Any) -> tuple[Any, ...]:
        return (g,)  # autograd sums it back to the input's shape


@register
class Unsqueeze(_ShapeOp):
    """Insert a size-1 dim at ``dim`` (in ``[-ndim-1, ndim]``)."""

    name = "unsqueeze"

    range_rule = "unsqueeze"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, dim: int) -> OnnxValue:
        return g.node("Unsqueeze", a, g.ints(g.axes([dim], len(g.out_shape))))

    onnx_import = ("Unsqueeze",)
    is_view = True

    def shape(self, dims: Dims, a: Shape, *, dim: int) -> Shape:
        d = dims.check_dim(dim, len(a) + 1)
        return tuple(a[:d]) + (1,) + tuple(a[d:])

    def backward(self, g: Any, a: Any, *, out: Any, dim: int) -> tuple[Any, ...]:
        return (g.reshape(a.shape),)


@register
class Squeeze(_ShapeOp):
    """Remove size-1 dims: all of them (``dim=None``) or those listed that have size 1."""

    name = "squeeze"

    range_rule = "squeeze"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, dim: tuple[int, ...] | None) -> OnnxValue:
        # The traced output rank tells which dims went; a squeeze that removes nothing is Identity.
        return g.reshape(a, g.out_shape)

    onnx_import = ("Squeeze",)
    is_view = True

    def shape(self, dims: Dims, a: Shape, *, dim: tuple[int, ...] | None) -> Shape:
        n = len(a)
        listed = range(n) if dim is None else {dims.check_dim(d, n) for d in dim}
        return tuple(
            s for i, s in enumerate(a)
            if not (i in listed and dims.decide(dims.eq(s, 1), f"squeeze: is dim {i} of size 1?"))
        )

    def backward(self, g: Any, a: Any, *, out: Any, dim: Any) -> tuple[Any, ...]:
        return (g.reshape(a.shape),)


@register
class Flatten(_ShapeOp):
    """Merge dims ``start_dim..end_dim`` into one."""

    name = "flatten"

    range_rule = "flatten"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, start_dim: int, end_dim: int) -> OnnxValue:
        return g.reshape(a, g.out_shape)

    onnx_import = ("Flatten",)
    is_view = True

    def shape(self, dims: Dims, a: Shape, *, start_dim: int, end_dim: int) -> Shape:
        if len(a) == 0:
            return (1,)
        s, e = dims.check_dim(start_dim, len(a), "start_dim"), dims.check_dim(end_dim, len(a), "end_dim")
        if s > e:
            raise RuleViolation("start_dim cannot come after end_dim",
                                detail=f"start_dim={start_dim}, end_dim={end_dim}")
        return tuple(a[:s]) + (dims.numel(a[s:e + 1]),) + tuple(a[e + 1:])

    def backward(self, g: Any, a: Any, *, out: Any, start_dim: int, end_dim: int) -> tuple[Any, ...]:
        return (g.reshape(a.shape),)


@register
class Flip(_ShapeOp):
    """Reverse the order of elements along ``dims`` (a copy, as in PyTorch)."""

    name = "flip"
    range_rule = "flip"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, dims_to_flip: Sequence[int]) -> OnnxValue:
        if not dims_to_flip or a.rank == 0:
            return g.node("Identity", a)
        axes = g.axes(dims_to_flip, a.rank or 0)
        n = len(axes)  # a reversed Slice: from the last element past the first
        return g.node("Slice", a, g.ints([-1] * n), g.ints([-(2**63)] * n), g.ints(axes),
                      g.ints([-1] * n))

    def shape(self, dims: Dims, a: Shape, *, dims_to_flip: Sequence[int]) -> Shape:
        norm = [dims.check_dim(d, len(a)) for d in dims_to_flip]
        if len(set(norm)) != len(norm):
            raise RuleViolation("dim appears multiple times", detail=f"dims={list(dims_to_flip)}")
        return a

    def backward(self, g: Any, a: Any, *, out: Any, dims_to_flip: Any) -> tuple[Any, ...]:
        return (g.flip(dims_to_flip),)


@register
class Repeat(_ShapeOp):
    """Tile the input ``repeats[i]`` times along each dim (``torch.Tensor.repeat``)."""

    name = "repeat"
    range_rule = "repeat"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, *, repeats: Sequence[Any]) -> OnnxValue:
        extra = len(repeats) - (a.rank or 0)
        x = g.unsqueeze(a, list(range(extra))) if extra else a
        return g.node("Tile", x, g.shape_of(list(repeats)))

    def shape(self, dims: Dims, a: Shape, *, repeats: Sequence[Any]) -> Shape:
        if len(repeats) < len(a):
            raise RuleViolation("number of repeats can not be smaller than the number of dims",
                                detail=f"input has {len(a)} dims, got repeats {list(repeats)}")
        padded = (1,) * (len(repeats) - len(a)) + tuple(a)
        return tuple(s * r for s, r in zip(padded, repeats))

    def backward(self, g: Any, a: Any, *, out: Any, repeats: Sequence[int]) -> tuple[Any, ...]:
        # (r0, s0, r1, s1, ...) view of the gradient, summed over the repeat axes.
        padded = (1,) * (len(repeats) - len(a.shape)) + tuple(a.shape)
        split = []
        for r, s in zip(repeats, padded):
            split += [r, s]
        summed = g.reshape(split).sum(tuple(range(0, 2 * len(repeats), 2)))
        return (summed.reshape(a.shape),)


def _show(shape: Sequence[Any]) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"
