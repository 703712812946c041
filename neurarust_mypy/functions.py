"""Functions: ``nr.cat``/``stack``/``einsum``, creation (``nr.zeros(B, 5)``), ``nn.functional``
(linear, conv, pooling, norms, embedding, losses) with literal arguments, through the registered
ops they compose."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from mypy.nodes import (
    Expression,
    ListExpr,
    MemberExpr,
    NameExpr,
    StrExpr,
    TupleExpr,
)
from mypy.plugin import (
    FunctionContext,
)
from mypy.types import (
    Type,
)

from neurarust.ops import get as get_op
from neurarust.types.annotations import (
    AssumingAlgebra,
)
from neurarust.types.dim import Dim
from neurarust.types.dtype import get_default_dtype
from neurarust.types.errors import RuleViolation

from .core import (
    _BY_NAME,
    Call,
    NotLiteral,
    TInfo,
    _arg,
    _args,
    _dtype_rule,
    _expr_type,
    _lit,
    _str_lit,
    _tensor_default_fn,
    apply_rule,
    dims_of,
    expr_name,
    literal_value,
    plain,
    read,
    show,
)

FUNCTION_MODULES = ("neurarust.functions.", "neurarust.nn.functional", "neurarust.nn._loss_functional",
                    "neurarust.nn._resampling")

def _tensor_list(ctx: FunctionContext, exprs: list[Expression], types: list[Type],
                 ) -> list[tuple[TInfo | None, str]] | None:
    """The operands of ``cat([a, b])`` / ``einsum(eq, a, b)`` / ``einsum(eq, [a, b])``."""
    if len(exprs) == 1 and isinstance(exprs[0], (ListExpr, TupleExpr)):
        items = exprs[0].items
        found = [(read(_expr_type(ctx.api, e)), expr_name(e, f"tensors[{i}]"))
                 for i, e in enumerate(items)]
    elif len(exprs) == 1 and read(types[0]) is None:
        return None  # a list built elsewhere: unknown
    else:
        found = [(read(t), expr_name(e, f"operands[{i}]"))
                 for i, (e, t) in enumerate(zip(exprs, types))]
    if not found or any(t is None for t, _ in found):
        return None
    return found

def joined(ctx: FunctionContext, name: str) -> Type:
    """``nr.cat([a, b], dim)`` / ``nr.stack(...)``: the registered rule over the list items."""
    call = Call(ctx.api, ctx.context, _tensor_default_fn(ctx))
    if not ctx.args or not ctx.args[0]:
        return ctx.default_return_type
    operands = _tensor_list(ctx, ctx.args[0], ctx.arg_types[0])
    if operands is None:
        return plain(call.default)
    try:
        dim = _lit(ctx, "dim", 0, 1)
    except NotLiteral:
        dtype = _dtype_rule(call, get_op(name), operands, {"dim": 0}, name)
        return call.result(dtype, None) if dtype is not None else plain(call.default)
    return apply_rule(call, name, operands, {"dim": dim})

def einsum(ctx: FunctionContext) -> Type:
    """``nr.einsum("bij,bjk->bik", a, b)`` with a literal equation."""
    from neurarust.ops.linalg import parse_einsum

    call = Call(ctx.api, ctx.context, _tensor_default_fn(ctx))
    if len(ctx.args) < 2 or len(ctx.args[0]) != 1 or not isinstance(ctx.args[0][0], StrExpr):
        return plain(call.default)
    operands = _tensor_list(ctx, ctx.args[1], ctx.arg_types[1])
    if operands is None:
        return plain(call.default)
    equation = ctx.args[0][0].value
    try:
        equation = parse_einsum(equation).explicit
    except RuleViolation:
        pass  # the rule reports it, with the operands' shapes
    return apply_rule(call, "einsum", operands, {"equation": equation})

def softmax(call: Call, me: TInfo, my_name: str, name: str, dim: Any) -> Type:
    """``softmax``/``log_softmax`` over ``dim``: the registered ``log_softmax`` rule."""
    if dim is None:
        return call.result(me.dtype, me.shape)
    out = apply_rule(call, "log_softmax", [(me, my_name)], {"dim": dim}, label=name)
    return out

def linear(call: Call, x: TInfo, x_name: str, w: TInfo, w_name: str, b: TInfo | None,
           b_name: str, label: str) -> Type:
    """``input @ weight.T + bias``, as ``F.linear`` computes it, with its registered ops."""
    if w.shape is None or len(w.shape) not in (1, 2):
        return call.result(x.dtype, None)
    wt = TInfo(w.dtype, dims_of(w.shape[::-1]))
    out = apply_rule(call.inner() if b is not None else call, "matmul",
                     [(x, x_name), (wt, f"{w_name}.T" if len(w.shape) == 2 else w_name)], {},
                     label=label)
    h = read(out)
    if b is None or h is None:
        return out
    return apply_rule(call, "add", [(h, f"{label}(...)"), (b, b_name)], {}, label=label)

def conv(call: Call, x: TInfo, x_name: str, w: TInfo, w_name: str, b: TInfo | None,
         stride: Any, padding: Any, dilation: Any, groups: Any, label: str, n: int = 2) -> Type:
    """``conv{n}d`` with literal arguments, normalised by the runtime's own helpers."""
    from neurarust.ops.arguments import conv_padding, int_tuple

    op = f"conv{n}d"
    if w.shape is None or len(w.shape) != n + 2:
        return call.result(x.dtype, None)
    try:
        st = int_tuple(stride, n, "stride", op)
        di = int_tuple(dilation, n, "dilation", op)
        pads = conv_padding(padding, w.shape[2:], st, di, n, op)
    except ValueError as err:
        call.shape_error(f"{label}: {str(err).split(': ', 1)[-1]}")
        return plain(call.default)
    operands = [(x, x_name), (w, w_name)] + ([(b, f"{label}.bias")] if b is not None else [])
    return apply_rule(call, op, operands,
                      {"stride": st, "padding": pads, "dilation": di, "groups": groups},
                      label=label)

def pool(call: Call, op: str, x: TInfo, x_name: str, kernel_size: Any, stride: Any,
         padding: Any, extra: dict[str, Any], label: str) -> Type:
    """``max_pool2d``/``avg_pool2d`` with literal arguments (the runtime's normaliser)."""
    from neurarust.ops.arguments import int_tuple, pool_attrs

    n = 1 if op.endswith("1d") else 2
    try:
        attrs: dict[str, Any] = pool_attrs(n, op, kernel_size, stride, padding)
        if "dilation" in extra:
            extra = {**extra, "dilation": int_tuple(extra["dilation"], n, "dilation", op)}
    except ValueError as err:
        call.shape_error(f"{label}: {str(err).split(': ', 1)[-1]}")
        return plain(call.default)
    return apply_rule(call, op, [(x, x_name)], {**attrs, **extra}, label=label)

def adaptive_pool(call: Call, op: str, x: TInfo, x_name: str, output_size: Any,
                  label: str) -> Type:
    """``adaptive_avg_pool{1,2}d`` to a literal ``output_size`` (the runtime's normaliser)."""
    from neurarust.ops.arguments import output_sizes

    try:
        sizes = output_sizes(output_size, int(op[-2]), op)
    except (ValueError, TypeError) as err:
        call.shape_error(f"{label}: {str(err).split(': ', 1)[-1]}")
        return plain(call.default)
    return apply_rule(call, op, [(x, x_name)], {"output_size": sizes}, label=label)


def layer_norm(call: Call, x: TInfo, x_name: str, normalized_shape: Any, label: str) -> Type:
    """``layer_norm``: the input's last dims must equal ``normalized_shape``; same shape."""
    norm = (normalized_shape,) if not isinstance(normalized_shape, tuple) else normalized_shape
    shape = x.shape
    if shape is None:
        return call.result(x.dtype, None)
    k = len(norm)
    algebra = AssumingAlgebra(call.facts)
    try:
        if k == 0 or len(shape) < k:
            raise RuleViolation("the input's last dims must equal normalized_shape")
        for got, want in zip(shape[len(shape) - k:], norm):
            algebra.require(algebra.eq(got, want),
                            "the input's last dims must equal normalized_shape")
    except RuleViolation as err:
        call.shape_error(f"{label}: {err.message}: {x_name} is {show(shape)}, "
                         f"normalized_shape is {list(norm)}")
        return plain(call.default)
    return call.result(x.dtype, shape)

def embedding(call: Call, x: TInfo, x_name: str, dim: Any, dtype: str, label: str) -> Type:
    """``embedding``: integer indices of shape ``(*)`` give ``(*, embedding_dim)``."""
    d = x.concrete_dtype
    if d is not None and (d.is_floating_point or d.name == "bool"):
        call.dtype_error(f"{label}: expects integer indices, got {x_name} of dtype {x.dtype}")
        return plain(call.default)
    shape = x.shape
    return call.result(dtype, None if shape is None else (*shape, dim))

def loss(ctx: FunctionContext, name: str) -> Type:
    """``F.cross_entropy`` (``log_softmax`` over the class dim, then ``nll_loss``) and
    ``F.nll_loss`` with class-index targets, through the registered rules."""
    call = Call(ctx.api, ctx.context, _tensor_default_fn(ctx))
    x, x_name, _ = _arg(ctx, "input", 0)
    t, t_name, _ = _arg(ctx, "target", 1)
    w, w_name, has_w = _arg(ctx, "weight", 2)
    if x is None or t is None or x.shape is None or (has_w and w is None):
        return plain(call.default)
    attrs = {"ignore_index": _lit(ctx, "ignore_index", -100),
             "reduction": _str_lit(ctx, "reduction", "mean")}
    if not isinstance(attrs["reduction"], str):
        return plain(call.default)
    if t.concrete_dtype is not None and t.concrete_dtype.is_floating_point:
        return call.result(x.dtype, None)  # class probabilities: not modelled
    logp = x
    if name == "cross_entropy":
        if len(x.shape) == 0:
            call.shape_error(f"cross_entropy: expected an input of shape (C,), (N, C) or "
                             f"(N, C, d1, ...), got a 0-d input {x_name}")
            return plain(call.default)
        found = read(apply_rule(call.inner(), "log_softmax", [(x, x_name)],
                                {"dim": 0 if len(x.shape) == 1 else 1}, label=name))
        if found is None:
            return plain(call.default)
        logp = found
    operands = [(logp, x_name), (t, t_name)] + ([(w, w_name)] if w is not None else [])
    return apply_rule(call, "nll_loss", operands, attrs, label=name)

def functional(ctx: FunctionContext, name: str) -> Type:
    """``F.linear``/``F.conv2d``/pooling/``F.layer_norm``/``F.embedding`` with literal args."""
    call = Call(ctx.api, ctx.context, _tensor_default_fn(ctx))
    x, x_name, _ = _arg(ctx, "input", 0)
    if x is None:
        return plain(call.default)
    if name == "linear":
        w, w_name, _ = _arg(ctx, "weight", 1)
        b, b_name, has_b = _arg(ctx, "bias", 2)
        if w is None or (has_b and b is None):
            return plain(call.default)
        return linear(call, x, x_name, w, w_name, b, b_name, name)
    if name == "conv2d":
        w, w_name, _ = _arg(ctx, "weight", 1)
        b, _, has_b = _arg(ctx, "bias", 2)
        if w is None or (has_b and b is None):
            return plain(call.default)
        return conv(call, x, x_name, w, w_name, b, _str_lit(ctx, "stride", 1, 3),
                    _str_lit(ctx, "padding", 0, 4), _str_lit(ctx, "dilation", 1, 5),
                    _lit(ctx, "groups", 1, 6), name)
    if name == "max_pool2d":
        if _lit(ctx, "return_indices", False, 6):
            return ctx.default_return_type
        return pool(call, name, x, x_name, _lit(ctx, "kernel_size", None, 1),
                    _lit(ctx, "stride", None, 2), _lit(ctx, "padding", 0, 3),
                    {"dilation": _lit(ctx, "dilation", 1, 4),
                     "ceil_mode": bool(_lit(ctx, "ceil_mode", False, 5))}, name)
    if name == "avg_pool2d":
        return pool(call, name, x, x_name, _lit(ctx, "kernel_size", None, 1),
                    _lit(ctx, "stride", None, 2), _lit(ctx, "padding", 0, 3),
                    {"ceil_mode": bool(_lit(ctx, "ceil_mode", False, 4)),
                     "count_include_pad": bool(_lit(ctx, "count_include_pad", True, 5)),
                     "divisor_override": _lit(ctx, "divisor_override", None, 6)}, name)
    if name == "layer_norm":
        return layer_norm(call, x, x_name, _lit(ctx, "normalized_shape", None, 1), name)
    if name in ("adaptive_avg_pool1d", "adaptive_avg_pool2d"):
        return adaptive_pool(call, name, x, x_name, _lit(ctx, "output_size", None, 1), name)
    if name == "embedding":
        w, _, _ = _arg(ctx, "weight", 1)
        if w is None or w.shape is None or len(w.shape) != 2:
            return call.result("Shaped", None)
        return embedding(call, x, x_name, w.shape[1], w.dtype, name)
    return plain(call.default)

def _dtype_arg(ctx: FunctionContext, fallback: str) -> str:
    """The dtype passed as ``dtype=nr.int64`` (``fallback`` when absent; a group when it
    cannot be read)."""
    exprs = _args(ctx, "dtype")
    if exprs is None or len(exprs) != 1:
        return fallback
    e = exprs[0]
    if isinstance(e, NameExpr) and e.fullname == "builtins.None":
        return fallback
    name = e.name if isinstance(e, (NameExpr, MemberExpr)) else None
    return name if name in _BY_NAME else "Shaped"

def creation(ctx: FunctionContext, name: str) -> Type:
    """``nr.zeros(B, 5)``, ``nr.randn((B, T))``, ``nr.full(size, v)``, ``nr.zeros_like(x)``:
    the sizes as given (literal ints, or dims read from ``x.shape[i]``)."""
    call = Call(ctx.api, ctx.context, _tensor_default_fn(ctx))
    if name.endswith("_like"):
        x, _, _ = _arg(ctx, "input", 0)
        if x is None:
            return plain(call.default)
        return call.result(_dtype_arg(ctx, x.dtype), x.shape)
    exprs = _args(ctx, "size", 0)
    if exprs is None:
        return plain(call.default)
    sizes = tuple(literal_value(e, ctx.api) for e in exprs)
    if len(sizes) == 1 and isinstance(sizes[0], tuple):
        sizes = sizes[0]
    if not all(isinstance(d, Dim) or (isinstance(d, int) and not isinstance(d, bool) and d >= 0)
               for d in sizes):
        return plain(call.default)
    default = get_default_dtype().name
    if name == "full":
        fill = _lit(ctx, "fill_value", None, 1)
        default = "bool" if isinstance(fill, bool) else "int64" if isinstance(fill, int) \
            else default
    return call.result(_dtype_arg(ctx, default), sizes)

FUNCTIONS: dict[str, Callable[[FunctionContext], Type]] = {
    **{n: functools.partial(creation, name=n)
       for n in ("zeros", "ones", "empty", "rand", "randn", "full", "zeros_like", "ones_like",
                 "empty_like", "rand_like", "randn_like", "full_like")},
    "cat": lambda ctx: joined(ctx, "cat"),
    "concat": lambda ctx: joined(ctx, "cat"),
    "concatenate": lambda ctx: joined(ctx, "cat"),
    "stack": lambda ctx: joined(ctx, "stack"),
    "einsum": einsum,
    "cross_entropy": lambda ctx: loss(ctx, "cross_entropy"),
    "nll_loss": lambda ctx: loss(ctx, "nll_loss"),
    **{n: functools.partial(functional, name=n)
       for n in ("linear", "conv2d", "max_pool2d", "avg_pool2d", "layer_norm", "embedding",
                 "adaptive_avg_pool1d", "adaptive_avg_pool2d")},
}

def _function(ctx: FunctionContext, name: str) -> Type:
    try:
        return FUNCTIONS[name](ctx)
    except NotLiteral:
        return plain(_tensor_default_fn(ctx))
