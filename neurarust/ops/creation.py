"""Creation ops recorded while tracing: values made from sizes rather than from tensors.

Eager code makes these tensors directly (``functions.creation``); an op is recorded only
when a size is symbolic, so that ``nr.arange(T)`` over a traced ``T`` is one graph node whose
values the numeric verifier knows (``0 .. T - 1``, bounded by the assumptions on ``T``): the
index range that ``embedding`` or ``index_select`` must prove in bounds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..types import dtype as dt
from ..types.algebra import DimAlgebra, Shape
from ..types.dtype import DType
from ..types.errors import RuleViolation
from .registry import OpDef, register

if TYPE_CHECKING:
    from ..onnx.builder import OnnxBuilder, OnnxValue

__all__ = ["Arange"]

Dims = DimAlgebra[Any, Any]


@register
class Arange(OpDef):
    """``start, start + step, ...`` below ``end``, as ``torch.arange``. The input is ``start``
    as a 0-d tensor of the result's dtype (a graph constant), ``end`` an int or a symbolic size,
    ``step`` an int > 0."""

    name = "arange"
    differentiable = False
    range_rule = "arange"

    def shape(self, dims: Dims, start: Shape, *, end: Any, step: int) -> Shape:
        if len(start) != 0:
            raise RuleViolation("start must be a 0-d tensor", detail=f"got shape {list(start)}")
        if not isinstance(step, int) or isinstance(step, bool) or step <= 0:
            raise RuleViolation("a traced arange needs an int step > 0", detail=f"got {step!r}")
        return (dims.max(end, 0) if step == 1 else
                dims.floordiv(dims.max(end, 0) + (step - 1), step),)

    def dtype(self, start: DType, **attrs: Any) -> DType:
        return start

    def to_onnx(self, g: OnnxBuilder, start: OnnxValue, *, end: Any, step: int) -> OnnxValue:
        n = g.node("Squeeze", g.shape_of(g.out_shape), g.const([0], dt.int64), dtype=dt.int64)
        first = g.cast(start, dt.int64)
        limit = g.node("Add", first, g.node("Mul", n, g.const(step, dt.int64), dtype=dt.int64),
                       dtype=dt.int64)
        r = g.node("Range", first, limit, g.const(step, dt.int64), dtype=dt.int64)
        return g.cast(r, g.out_dtype)
