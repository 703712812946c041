"""Linear algebra ops: matmul (with PyTorch's vector and batch broadcasting), mm, bmm, dot,
outer and einsum.

Every gradient is written with these same ops (matmul of transposes, einsum of the other
operands), so gradients differentiate again. Autograd sums each gradient back over broadcast
batch dims; the rules here only undo what broadcasting cannot express (vectors promoted to
matrices, ellipsis dims that an operand lacks).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from ..types.algebra import DimAlgebra, Shape
from ..types.dtype import DType
from ..types.errors import RuleViolation
from .indexing import Slice
from .registry import OpDef, has_values, register
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..onnx.builder import OnnxBuilder, OnnxValue

__all__ = ["ELLIPSIS", "EinsumSpec", "Text", "parse_einsum", "require_with_detail"]

Dims = DimAlgebra[Any, Any]
ELLIPSIS = "..."


Text = str | Callable[[], str]
"""A message part, or a function that builds it: rules run on every eager call, so texts
that only a failure shows are built only on failure."""


def require_with_detail(dims: Dims, cond: Any, message: str, detail: Text,
                        hint: Text | None = None) -> None:
    """``dims.require`` plus a ``detail`` line naming the dims that broke the rule (``expected
    input.shape[-1] == other.shape[-2], got 784 != 128``), shown by every algebra that raises.

    ``DimAlgebra.require`` takes no detail; it is attached to the RuleViolation here. A
    condition that is plainly ``True`` (the concrete algebra, rule satisfied) costs nothing.
    Texts given as functions are called before this returns, so a lambda may read the
    caller's loop variables.
    """
    if cond is True:
        return
    try:
        dims.require(cond, message, hint=hint() if callable(hint) else hint)
    except RuleViolation as err:
        err.detail = detail() if callable(detail) else detail
        raise


def _show(shape: Sequence[Any]) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _same_dtype(op: OpDef, *dtypes: DType) -> DType:
    """PyTorch's matmul family: operands must share one non-bool dtype (no promotion)."""
    first = dtypes[0]
    for d in dtypes[1:]:
        if d is not first:
            raise op.dtype_error("expected all operands to have the same dtype; convert one "
                                 "with .to(dtype)", *dtypes)
    if first.is_bool:
        raise op.dtype_error("is not implemented for bool tensors; convert with .to(dtype)",
                             *dtypes)
    return first


def _batch_broadcast(dims: Dims, a: Shape, b: Shape) -> Shape:
    """Broadcast matmul batch dims (everything left of the matrix dims), right-aligned."""
    if not a or not b:  # by rank alone: (B, T, k) @ (k, m), the Linear case
        return tuple(a) if a else tuple(b)
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + tuple(a)
    b = (1,) * (n - len(b)) + tuple(b)
    out = []
    for i, (x, y) in enumerate(zip(a, b)):
        require_with_detail(
            dims, dims.or_(dims.eq(x, y), dims.eq(x, 1), dims.eq(y, 1)),
            "batch dimensions must broadcast",
            lambda: f"input batch {_show(a)} and other batch {_show(b)} differ at batch dim "
                    f"{i} ({x} vs {y}); sizes must be equal or 1",  # noqa: B023
        )
        out.append(dims.select(dims.eq(x, 1), y, x))
    return tuple(out)


def _require_inner(dims: Dims, k: Any, k2: Any, left: str, right: str, a: Shape,
                   b: Shape) -> None:
    require_with_detail(dims, dims.eq(k, k2), "inner dimensions must match",
                        lambda: f"expected {left} == {right}, got {k} != {k2}",
                        lambda: _transpose_hint(a, b))


def _transpose_hint(a: Shape, b: Shape) -> str:
    """Unconditional (rules never branch on dims): the transposed shapes, for the reader."""
    if len(b) >= 2:
        return f"is other transposed? other.mT has shape {_show(tuple(b[:-2]) + (b[-1], b[-2]))}"
    if len(a) >= 2:
        return f"is input transposed? input.mT has shape {_show(tuple(a[:-2]) + (a[-1], a[-2]))}"
    return "both operands are vectors: they must have one size"


class _LinalgOp(OpDef):
    """Bilinear ops: each input's gradient reads only the other input's values."""

    input_names = ("input", "other")

    def saves_for(self, needs_grad: tuple[bool, ...]) -> tuple[bool, ...]:
        need_a, need_b = needs_grad
        return need_b, need_a

    def dtype(self, a: DType, b: DType, **attrs: Any) -> DType:
        return _same_dtype(self, a, b)


@register
class Matmul(_LinalgOp):
    """``torch.matmul``: dot (1-d, 1-d -> 0-d), matrix-vector, vector-matrix, matrix product,
    and batched products whose batch dims broadcast. A 1-d operand is treated as a matrix
    with a 1 prepended (input) or appended (other), which is removed from the result."""

    name = "matmul"

    range_rule = "matmul"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, b: OnnxValue) -> OnnxValue:
        return g.node("MatMul", a, b)

    onnx_import = ("MatMul",)

    def shape(self, dims: Dims, a: Shape, b: Shape) -> Shape:
        na, nb = len(a), len(b)
        if na == 2 and nb == 2:  # the common case first: this rule runs on every call
            if dims.eq(a[1], b[0]) is not True:
                _require_inner(dims, a[1], b[0], "input.shape[-1]", "other.shape[-2]", a, b)
            return (a[0], b[1])
        if na == 0 or nb == 0:
            raise RuleViolation("both arguments need to be at least 1-d",
                                detail=f"got a {na}-d input and a {nb}-d other",
                                hint="use mul (or *) to multiply by a scalar")
        k, k2 = a[-1], (b[0] if nb == 1 else b[-2])
        if dims.eq(k, k2) is not True:
            _require_inner(dims, k, k2, "input.shape[0]" if na == 1 else "input.shape[-1]",
                           "other.shape[0]" if nb == 1 else "other.shape[-2]", a, b)
        if na == 1 and nb == 1:
            return ()
        batch = _batch_broadcast(dims, a[:-2], b[:-2])
        rows = (a[-2],) if na >= 2 else ()
        cols = (b[-1],) if nb >= 2 else ()
        return batch + rows + cols

    def backward(self, g: Any, a: Any, b: Any, *, out: Any) -> tuple[Any, ...]:
        # An input is saved exactly when the other one needs its gradient (saves_for).
        need_a, need_b = has_values(b), has_values(a)
        ga = gb = None
        if a.ndim == 1 and b.ndim == 1:
            ga, gb = (g * b if need_a else None), (g * a if need_b else None)
        elif a.ndim == 1:  # (k) @ (..., k, m) -> (..., m)
            if need_a:
                ga = (b @ g.unsqueeze(-1)).squeeze(-1)  # (..., k), summed to (k) by autograd
            if need_b:
                gb = a.unsqueeze(-1) * g.unsqueeze(-2)  # (..., k, m)
        elif b.ndim == 1:  # (..., n, k) @ (k) -> (..., n); out's batch is a's batch
            if need_a:
                ga = g.unsqueeze(-1) * b  # (..., n, k)
            if need_b:
                gb = g.reshape(-1) @ a.reshape(-1, a.shape[-1])  # one GEMV over all rows
        elif b.ndim == 2 and a.ndim > 2:
            # (..., n, k) @ (k, m): b's gradient over all rows at once, one GEMM, no batch sum.
            if need_a:
                ga = g @ b.mT
            if need_b:
                gb = a.reshape(-1, b.shape[0]).mT @ g.reshape(-1, b.shape[1])
        elif a.ndim == 2 and b.ndim > 2:
            # (n, k) @ (..., k, m): fold the batch into the contracted dim the same way.
            if need_a:
                nb = b.ndim
                order = (nb - 2,) + tuple(range(nb - 2)) + (nb - 1,)
                g2 = g.permute(order).reshape(a.shape[0], -1)  # (n, batch*m)
                b2 = b.permute(order).reshape(a.shape[1], -1)  # (k, batch*m)
                ga = g2 @ b2.mT
            if need_b:
                gb = a.mT @ g
        else:
            ga = g @ b.mT if need_a else None
            gb = a.mT @ g if need_b else None
        return ga, gb


@register
class Mm(_LinalgOp):
    """``torch.mm``: the product of two matrices, no broadcasting."""

    name = "mm"

    range_rule = "matmul"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, b: OnnxValue) -> OnnxValue:
        return g.node("MatMul", a, b)


    def shape(self, dims: Dims, a: Shape, b: Shape) -> Shape:
        if len(a) != 2 or len(b) != 2:
            raise RuleViolation("expects 2-d inputs",
                                detail=f"got a {len(a)}-d input and a {len(b)}-d other",
                                hint="use matmul for vectors and batches")
        _require_inner(dims, a[1], b[0], "input.shape[1]", "other.shape[0]", a, b)
        return (a[0], b[1])

    def backward(self, g: Any, a: Any, b: Any, *, out: Any) -> tuple[Any, ...]:
        return (g.mm(b.t()) if has_values(b) else None), (a.t().mm(g) if has_values(a) else None)


@register
class Bmm(_LinalgOp):
    """``torch.bmm``: batched matrix product of 3-d tensors with equal batch sizes."""

    name = "bmm"
    range_rule = "matmul"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, b: OnnxValue) -> OnnxValue:
        return g.node("MatMul", a, b)


    def shape(self, dims: Dims, a: Shape, b: Shape) -> Shape:
        if len(a) != 3 or len(b) != 3:
            raise RuleViolation("expects 3-d inputs",
                                detail=f"got a {len(a)}-d input and a {len(b)}-d other",
                                hint="use matmul to broadcast batch dims")
        require_with_detail(dims, dims.eq(a[0], b[0]), "batch sizes must match",
                            lambda: f"expected input.shape[0] == other.shape[0], got {a[0]} != "
                                    f"{b[0]}", hint="use matmul to broadcast a batch of 1")
        _require_inner(dims, a[2], b[1], "input.shape[2]", "other.shape[1]", a, b)
        return (a[0], a[1], b[2])

    def backward(self, g: Any, a: Any, b: Any, *, out: Any) -> tuple[Any, ...]:
        return (g.bmm(b.mT) if has_values(b) else None), (a.mT.bmm(g) if has_values(a) else None)


@register
class Dot(_LinalgOp):
    """``torch.dot``: the inner product of two 1-d tensors of the same size."""

    name = "dot"
    range_rule = "dot"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, b: OnnxValue) -> OnnxValue:
        return g.node("MatMul", a, b)


    def shape(self, dims: Dims, a: Shape, b: Shape) -> Shape:
        if len(a) != 1 or len(b) != 1:
            raise RuleViolation("expects 1-d inputs",
                                detail=f"got a {len(a)}-d input and a {len(b)}-d other",
                                hint="use matmul for matrices")
        require_with_detail(dims, dims.eq(a[0], b[0]), "inconsistent tensor size",
                            lambda: f"expected input.shape[0] == other.shape[0], got {a[0]} != "
                                    f"{b[0]}")
        return ()

    def backward(self, g: Any, a: Any, b: Any, *, out: Any) -> tuple[Any, ...]:
        return (g * b if has_values(b) else None), (g * a if has_values(a) else None)


@register
class Outer(_LinalgOp):
    """``torch.outer``: ``out[i, j] = input[i] * other[j]`` for 1-d inputs."""

    name = "outer"
    range_rule = "outer"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, b: OnnxValue) -> OnnxValue:
        return g.node("Mul", g.unsqueeze(a, [1]), g.unsqueeze(b, [0]))

    def shape(self, dims: Dims, a: Shape, b: Shape) -> Shape:
        if len(a) != 1 or len(b) != 1:
            raise RuleViolation("expects 1-d inputs",
                                detail=f"got a {len(a)}-d input and a {len(b)}-d other")
        return (a[0], b[0])

    def backward(self, g: Any, a: Any, b: Any, *, out: Any) -> tuple[Any, ...]:
        return (g @ b if has_values(b) else None), (a @ g if has_values(a) else None)


# -- einsum -------------------------------------------------------------------------------------
class EinsumSpec:
    """A parsed einsum equation: one tuple of labels per operand and the output's labels.

    A label is one letter; ``"..."`` stands for the broadcast ellipsis dims. ``explicit`` is
    the canonical text (``"ij,jk->ik"``), the form kept as the op's attribute.
    """

    __slots__ = ("explicit", "has_ellipsis", "inputs", "output")

    def __init__(self, inputs: tuple[tuple[str, ...], ...], output: tuple[str, ...]) -> None:
        self.inputs = inputs
        self.output = output
        self.has_ellipsis = any(ELLIPSIS in t for t in inputs)
        self.explicit = ",".join("".join(t) for t in inputs) + "->" + "".join(output)


def _tokens(term: str, equation: str) -> tuple[str, ...]:
    out: list[str] = []
    i = 0
    while i < len(term):
        if term.startswith(ELLIPSIS, i):
            if ELLIPSIS in out:
                raise RuleViolation("an operand's subscripts contain more than one ellipsis",
                                    detail=f"equation {equation!r}")
            out.append(ELLIPSIS)
            i += 3
            continue
        c = term[i]
        if not ("a" <= c <= "z" or "A" <= c <= "Z"):
            raise RuleViolation("invalid subscript in the equation",
                                detail=f"{c!r} in {equation!r}; subscripts are letters a-z, "
                                       "A-Z and '...'")
        out.append(c)
        i += 1
    return tuple(out)


@functools.lru_cache(maxsize=512)
def parse_einsum(equation: str) -> EinsumSpec:
    """Parse an einsum equation as ``torch.einsum`` does (implicit output: the ellipsis dims,
    then the labels used once, in ASCII order; an explicit output may omit ``...`` to sum
    those dims). A RuleViolation for malformed text."""
    eq = equation.replace(" ", "")
    if eq.count("->") > 1:
        raise RuleViolation("the equation has more than one '->'", detail=f"equation {equation!r}")
    lhs, arrow, rhs = eq.partition("->")
    inputs = tuple(_tokens(term, equation) for term in lhs.split(","))
    if arrow:
        output = _tokens(rhs, equation)
        seen: set[str] = set()
        labels = {c for t in inputs for c in t}
        for c in output:
            if c in seen:
                raise RuleViolation("an output subscript appears more than once",
                                    detail=f"{c!r} in {equation!r}")
            if c != ELLIPSIS and c not in labels:
                raise RuleViolation("an output subscript does not appear in the inputs",
                                    detail=f"{c!r} in {equation!r}")
            seen.add(c)
    else:
        counts: dict[str, int] = {}
        for t in inputs:
            for c in t:
                if c != ELLIPSIS:
                    counts[c] = counts.get(c, 0) + 1
        once = sorted(c for c, n in counts.items() if n == 1)
        output = ((ELLIPSIS,) if any(ELLIPSIS in t for t in inputs) else ()) + tuple(once)
    return EinsumSpec(inputs, output)


def _einsum_operand_dims(spec: EinsumSpec, i: int, shape: Shape) -> tuple[dict[str, Any], Shape]:
    """Label -> dim for operand ``i`` (first occurrence), and its ellipsis dims."""
    term = spec.inputs[i]
    named = [c for c in term if c != ELLIPSIS]
    ok = len(shape) >= len(named) if ELLIPSIS in term else len(shape) == len(named)
    if not ok:
        raise RuleViolation(
            "an operand's number of dims does not match its subscripts",
            detail=f"operand {i} has {len(shape)} dims, subscripts {''.join(term)!r} name "
                   f"{len(named)}{' or more' if ELLIPSIS in term else ''}")
    ell_len = len(shape) - len(named)
    pos = 0
    out: dict[str, Any] = {}
    ell: Shape = ()
    for c in term:
        if c == ELLIPSIS:
            ell = tuple(shape[pos:pos + ell_len])
            pos += ell_len
            continue
        out.setdefault(c, shape[pos])
        pos += 1
    return out, ell


@register
class Einsum(OpDef):
    """``torch.einsum(equation, *operands)``: sums of products over labelled dims.

    Labels that recur in one operand take its diagonal; a label's sizes agree across
    operands (or are 1, which broadcasts); ellipsis dims broadcast. The ``equation``
    attribute is the explicit form (``"ij,jk->ik"``) produced by :func:`parse_einsum`.
    """

    name = "einsum"
    range_rule = "einsum"
    input_names = tuple(f"operand{i}" for i in range(52))

    def to_onnx(self, g: OnnxBuilder, *operands: OnnxValue, equation: str) -> OnnxValue:
        # the attr is the explicit form, which ONNX Einsum reads as is (ellipsis included)
        return g.node("Einsum", *operands, equation=equation)

    onnx_import = ("Einsum",)

    def shape(self, dims: Dims, *shapes: Shape, equation: str) -> Shape:
        spec = parse_einsum(equation)
        if len(shapes) != len(spec.inputs):
            raise RuleViolation("the number of operands does not match the equation",
                                detail=f"{equation!r} names {len(spec.inputs)} operands, got "
                                       f"{len(shapes)}")
        sizes: dict[str, Any] = {}
        owner: dict[str, int] = {}
        ell: Shape = ()
        for i, shape in enumerate(shapes):
            first, ell_i = _einsum_operand_dims(spec, i, shape)
            pos = 0
            seen: set[str] = set()
            for c in spec.inputs[i]:
                if c == ELLIPSIS:
                    pos += len(ell_i)
                    continue
                d = shape[pos]
                pos += 1
                if c in seen:  # a diagonal: every occurrence has the first one's size
                    require_with_detail(
                        dims, dims.eq(d, first[c]),
                        "a subscript repeated within one operand must have one size",
                        lambda: f"subscript {c!r} of operand {i}: {first[c]} != {d}")  # noqa: B023
                seen.add(c)
            for c, d in first.items():
                if c not in sizes:
                    sizes[c], owner[c] = d, i
                    continue
                prev = sizes[c]
                require_with_detail(
                    dims, dims.or_(dims.eq(prev, d), dims.eq(prev, 1), dims.eq(d, 1)),
                    "operands disagree on the size of a subscript",
                    lambda: f"subscript {c!r}: operand {owner[c]} has {prev}, "  # noqa: B023
                            f"operand {i} has {d}",  # noqa: B023
                    hint="sizes must be equal (or 1, which broadcasts)")
                sizes[c] = dims.select(dims.eq(prev, 1), d, prev)
            ell = _batch_broadcast_ellipsis(dims, ell, ell_i)
        out: list[Any] = []
        for c in spec.output:
            out.extend(ell if c == ELLIPSIS else (sizes[c],))
        return tuple(out)

    def dtype(self, *dtypes: DType, equation: str) -> DType:
        return _same_dtype(self, *dtypes)

    def backward(self, g: Any, *inputs: Any, out: Any, equation: str) -> tuple[Any, ...]:
        spec = parse_einsum(equation)
        return tuple(
            _einsum_grad(spec, g, inputs, i) if getattr(x, "requires_grad", False) else None
            for i, x in enumerate(inputs)
        )


def _batch_broadcast_ellipsis(dims: Dims, a: Shape, b: Shape) -> Shape:
    if not a or not b:  # by rank alone: nothing to broadcast against
        return tuple(a) if a else tuple(b)
    n = max(len(a), len(b))
    a = (1,) * (n - len(a)) + tuple(a)
    b = (1,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b):
        require_with_detail(dims, dims.or_(dims.eq(x, y), dims.eq(x, 1), dims.eq(y, 1)),
                            "the operands' ellipsis dims must broadcast",
                            lambda: f"ellipsis dims {_show(a)} and {_show(b)}")
        out.append(dims.select(dims.eq(x, 1), y, x))
    return tuple(out)


def _einsum_grad(spec: EinsumSpec, g: Any, inputs: Sequence[Any], i: int) -> Any:
    """The gradient for operand ``i``, itself one einsum (so it differentiates again).

    ``grad_i[labels_i] = sum(g[out] * prod(other operands))``, with two fixes einsum cannot
    express directly: a label repeated in operand i (a diagonal) gets a fresh label tied to
    the first by an identity matrix, and a label (or the ellipsis) found nowhere else (summed
    away in the forward) comes back through a ones operand, i.e. it is broadcast.
    """
    x = inputs[i]
    term = spec.inputs[i]
    used = {c for t in spec.inputs for c in t} | set(spec.output)
    fresh = iter(c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used)
    sizes, ell = _einsum_operand_dims(spec, i, x.shape)

    operands: list[Any] = [g]
    terms: list[tuple[str, ...]] = [spec.output]
    for j, other in enumerate(inputs):
        if j != i:
            operands.append(other)
            terms.append(spec.inputs[j])
    target: list[str] = []
    seen: set[str] = set()
    for c in term:
        if c in seen:  # a diagonal: out[..., c, c', ...] = h[..., c, ...] * eye[c, c']
            new = next(fresh)
            operands.append(_identity(g, sizes[c]))
            terms.append((c, new))
            target.append(new)
            continue
        seen.add(c)
        target.append(c)
    available = {c for t in terms for c in t}
    for c in seen:
        if c not in available:
            operands.append(g.new_ones(ell if c == ELLIPSIS else (sizes[c],)))
            terms.append((c,))
    grad_eq = ",".join("".join(t) for t in terms) + "->" + "".join(target)
    grad = g._apply("einsum", *operands[1:], equation=grad_eq)
    if ELLIPSIS in term:
        # The gradient's ellipsis is the broadcast of all operands'; sum the dims x lacks.
        extra = grad.ndim - x.ndim
        if extra > 0:
            start = term.index(ELLIPSIS)
            grad = grad.sum(tuple(range(start, start + extra)))
    return grad  # autograd sums size-1 (broadcast) dims back to x's shape


def _identity(like: Any, n: int) -> Any:
    """The n x n identity (a constant) in ``like``'s dtype and device: ones written every
    n + 1 elements of a flat zero vector."""
    flat = like.new_zeros(n * n)._apply("index_put", like.new_ones(()),
                                        index=(Slice(0, None, n + 1),), indexed_dims=(),
                                        accumulate=False)
    return flat.reshape(n, n)
