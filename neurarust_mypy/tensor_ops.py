"""Tensor methods and operators (``x @ w``, ``x.reshape(...)``, ``x[0]``): each through its
registered rule, with the literal arguments read from source."""

from __future__ import annotations

from typing import Any

from mypy.nodes import (
    EllipsisExpr,
    Expression,
    SliceExpr,
    TupleExpr,
)
from mypy.plugin import (
    FunctionContext,
    MethodContext,
)
from mypy.types import (
    Instance,
    Type,
    get_proper_type,
)

from neurarust.types.dim import Dim

from .core import (
    Call,
    NotLiteral,
    TInfo,
    _ints,
    _lit,
    apply_rule,
    expr_name,
    literal_value,
    plain,
    read,
    show,
)
from .functions import (
    softmax,
)

# -- the tensor methods and functions the plugin understands ---------------------------------
BINARY = {
    "add": "add", "sub": "sub", "mul": "mul", "div": "div", "pow": "pow",
    "maximum": "maximum", "minimum": "minimum",
    "eq": "eq", "ne": "ne", "lt": "lt", "le": "le", "gt": "gt", "ge": "ge",
    "__add__": "add", "__sub__": "sub", "__mul__": "mul", "__truediv__": "div",
    "__pow__": "pow", "__eq__": "eq", "__ne__": "ne", "__lt__": "lt", "__le__": "le",
    "__gt__": "gt", "__ge__": "ge",
    "__radd__": "add", "__rsub__": "sub", "__rmul__": "mul", "__rtruediv__": "div",
    "__rpow__": "pow",
}

MATMUL = {"matmul": "matmul", "__matmul__": "matmul", "__rmatmul__": "matmul", "mm": "mm",
          "bmm": "bmm"}

UNARY = {
    "relu": "relu", "exp": "exp", "log": "log", "tanh": "tanh", "sigmoid": "sigmoid",
    "sqrt": "sqrt", "rsqrt": "rsqrt", "abs": "abs", "neg": "neg", "sin": "sin", "cos": "cos",
    "log1p": "log1p", "expm1": "expm1", "reciprocal": "reciprocal", "floor": "floor",
    "ceil": "ceil", "round": "round", "sign": "sign", "__neg__": "neg", "__abs__": "abs",
}

SAME_SHAPE = {"clone", "contiguous", "detach", "gelu", "silu",
              "dropout", "leaky_relu", "elu", "softplus", "__pos__"}

CASTS = {"float": "float32", "double": "float64", "half": "float16", "long": "int64",
         "int": "int32", "bool": "bool"}

SHAPING = {"reshape", "view", "transpose", "swapaxes", "permute", "t", "flatten", "unsqueeze",
           "squeeze", "sum", "mean", "amax", "amin", "prod", "logsumexp"}

METHODS = set(BINARY) | set(MATMUL) | set(UNARY) | SAME_SHAPE | set(CASTS) | SHAPING | {
    "__getitem__", "softmax", "log_softmax"}

def tensor_op(ctx: FunctionContext | MethodContext, name: str, self_type: Type | None,
              self_expr: Expression | None, rest: int) -> Type:
    """Evaluate tensor op ``name`` called as a method (``self_type``) or a function."""
    call = Call(ctx.api, ctx.context, ctx.default_return_type)
    if self_type is None:  # a function: the first formal is the tensor
        if not ctx.args or len(ctx.args[0]) != 1:
            return ctx.default_return_type
        self_expr = ctx.args[0][0]
        self_type = ctx.arg_types[0][0]
    me = read(self_type)
    if me is None:
        return plain(ctx.default_return_type)
    my_name = expr_name(self_expr, "input")
    base = 0 if rest == 0 else 1  # where the op's own arguments start in ctx.args
    try:
        if name in BINARY or name in MATMUL:
            if len(ctx.args) <= base or len(ctx.args[base]) != 1:
                return plain(ctx.default_return_type)
            other_expr, other_type = ctx.args[base][0], ctx.arg_types[base][0]
            other = read(other_type)
            op = BINARY.get(name) or MATMUL[name]
            if other is None:
                p = get_proper_type(other_type)
                if not (isinstance(p, Instance) and p.type.fullname in (
                        "builtins.int", "builtins.float", "builtins.bool")):
                    return plain(ctx.default_return_type)
            operands = [(me, my_name), (other, expr_name(other_expr, "other"))]
            if name.startswith("__r"):
                operands.reverse()
            if other is None and op in MATMUL.values():
                return plain(ctx.default_return_type)
            return apply_rule(call, op, operands, {})
        if name in UNARY:
            return apply_rule(call, UNARY[name], [(me, my_name)], {})
        if name == "__getitem__":
            if not ctx.args or len(ctx.args[0]) != 1:
                return plain(ctx.default_return_type)
            return getitem(call, me, my_name, ctx.args[0][0])
        if name in ("softmax", "log_softmax"):
            return softmax(call, me, my_name, name, _lit(ctx, "dim", None, base))
        if name in SAME_SHAPE:
            return call.result(me.dtype, me.shape)
        if name in CASTS:
            return call.result(CASTS[name], me.shape)
        if name in ("reshape", "view"):
            shape = _ints(_lit(ctx, "shape", None, base))
            return apply_rule(call, name, [(me, my_name)], {"shape": shape})
        if name in ("transpose", "swapaxes"):
            d0, d1 = _lit(ctx, "dim0", None, base), _lit(ctx, "dim1", None, base + 1)
            n = len(me.dims)
            if me.shape is None or not all(isinstance(d, int) for d in (d0, d1)):
                return call.result(me.dtype, None)
            order = list(range(n))
            if -n <= d0 < n and -n <= d1 < n:
                order[d0], order[d1] = order[d1], order[d0]
            else:
                order = [d0, d1]  # the rule reports the bad index
            return apply_rule(call, "permute", [(me, my_name)], {"dims_order": tuple(order)},
                              label=name)
        if name == "permute":
            perm = _ints(_lit(ctx, "dims", None, base))
            return apply_rule(call, "permute", [(me, my_name)], {"dims_order": perm})
        if name == "t":
            known = me.shape
            if known is None:
                return call.result(me.dtype, None)
            if len(known) > 2:
                call.shape_error(f"t: expects a tensor with <= 2 dims, got {my_name} of shape "
                                 f"{show(known)}")
                return plain(ctx.default_return_type)
            swap = (1, 0) if len(known) == 2 else tuple(range(len(known)))
            return apply_rule(call, "permute", [(me, my_name)], {"dims_order": swap},
                              label="t")
        if name == "flatten":
            attrs = {"start_dim": _lit(ctx, "start_dim", 0, base),
                     "end_dim": _lit(ctx, "end_dim", -1, base + 1)}
            return apply_rule(call, "flatten", [(me, my_name)], attrs)
        if name == "unsqueeze":
            return apply_rule(call, "unsqueeze", [(me, my_name)],
                              {"dim": _lit(ctx, "dim", None, base)})
        if name == "squeeze":
            dim = _lit(ctx, "dim", None, base)
            dims = None if dim is None else _ints(dim)
            return apply_rule(call, "squeeze", [(me, my_name)], {"dim": dims})
        if name in ("sum", "mean", "amax", "amin", "prod", "logsumexp"):
            dim = _lit(ctx, "dim", None, base)
            attrs = {"dim": None if dim is None else _ints(dim),
                     "keepdim": bool(_lit(ctx, "keepdim", False, base + 1))}
            return apply_rule(call, name, [(me, my_name)], attrs)
    except NotLiteral:
        return call.result(me.dtype, None) if name not in BINARY else plain(
            ctx.default_return_type)
    return plain(ctx.default_return_type)

# -- indexing, joining, einsum, nn.functional ------------------------------------------------
def index_value(expr: Expression, api: Any) -> Any:
    """A Python index read from source: ints, slices with literal bounds, None, ``...``."""
    if isinstance(expr, EllipsisExpr):
        return Ellipsis
    if isinstance(expr, SliceExpr):
        parts = [None if e is None else literal_value(e, api)
                 for e in (expr.begin_index, expr.end_index, expr.stride)]
        if not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in parts):
            raise NotLiteral(expr)
        return slice(*parts)
    if isinstance(expr, TupleExpr):
        return tuple(index_value(e, api) for e in expr.items)
    value = literal_value(expr, api)
    if isinstance(value, (tuple, Dim)):
        raise NotLiteral(expr)  # a list index (advanced indexing) or a symbolic int
    return value

def getitem(call: Call, me: TInfo, my_name: str, index_expr: Expression) -> Type:
    """``x[0]``, ``x[:, 1:3]``, ``x[..., None]``: the runtime's own index parser turns the
    index into the ``getitem`` op's attrs; the registered rule gives the shape."""
    from neurarust.ops.arguments import AdvancedIndex, parse_index

    index = index_value(index_expr, call.api)
    if me.shape is None:
        return call.result(me.dtype, None)
    try:
        parsed = parse_index(index if isinstance(index, tuple) else (index,), len(me.shape))
    except AdvancedIndex:  # a mask or False: the result depends on values
        return call.result(me.dtype, None)
    except (IndexError, ValueError) as err:
        call.shape_error(f"{str(err).splitlines()[0]}: {my_name} is {show(me.shape)}")
        return plain(call.default)
    return apply_rule(call, "getitem", [(me, my_name)], {"index": tuple(parsed)})
