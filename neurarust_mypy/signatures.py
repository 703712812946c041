"""User code with shaped signatures: calls bind dims across arguments (and, for a class's
dims, across an instance's calls); returns are checked against a shaped return annotation;
``@dims(...)`` records a class's dims and facts."""

from __future__ import annotations

from typing import Any, cast

from mypy.nodes import (
    CallExpr,
    Decorator,
    Expression,
    FakeInfo,
    FuncDef,
    ListExpr,
    MemberExpr,
    NameExpr,
    ReturnStmt,
    StrExpr,
    TupleExpr,
    TypeInfo,
)
from mypy.plugin import (
    ClassDefContext,
    FunctionContext,
    MethodContext,
)
from mypy.types import (
    CallableType,
    Instance,
    Type,
    UnionType,
    get_proper_type,
)

from neurarust.types.annotations import (
    ShapeMismatch,
    bind_shapes,
    instantiate,
    parse_facts,
)
from neurarust.types.cond import Cond
from neurarust.types.dim import Dim

from . import flow
from .core import (
    NR_SHAPE,
    Call,
    TInfo,
    check_against,
    class_meta,
    plain,
    read,
)

DIMS_DECORATOR = "neurarust.types.annotations.dims"

# -- class-wide dims and facts: @nr.types.dims("D H", assume="D % H == 0") -------------------
def class_dims_hook(ctx: ClassDefContext) -> None:
    """Remember a class's ``@dims(...)`` in its TypeInfo's metadata (kept in mypy's cache)."""
    reason = ctx.reason
    names, assume = "", []
    if isinstance(reason, CallExpr):
        for kind_name, arg in zip(reason.arg_names, reason.args):
            texts = [arg] if isinstance(arg, StrExpr) else list(arg.items) if isinstance(
                arg, (ListExpr, TupleExpr)) else []
            if not texts or not all(isinstance(t, StrExpr) for t in texts):
                ctx.api.fail("dims(...) takes literal strings", reason, code=NR_SHAPE)
                return
            values = [t.value for t in texts if isinstance(t, StrExpr)]
            if kind_name in (None, "names"):
                names = " ".join(values)
            elif kind_name == "assume":
                assume = values
    try:
        parse_facts(assume)
    except ValueError as err:
        ctx.api.fail(str(err), reason, code=NR_SHAPE)
        return
    ctx.cls.info.metadata["neurarust"] = {"dims": names.split(), "assume": assume}

def check_return(api: Any, defn: FuncDef, stmt: ReturnStmt, got_type: Type) -> None:
    """A value returned from a function whose return type is shaped (run at module end)."""
    want = _shaped(cast(CallableType, defn.type).ret_type)
    if stmt.expr is None:
        return
    current = flow.reaching_type(api, defn, stmt.expr, got_type)
    got = read(current) if current is not None else None
    if want is None or got is None or stmt.expr is None:
        return
    facts: tuple[Cond, ...] = ()
    info = defn.info if not isinstance(defn.info, FakeInfo) else None
    _, assume = class_meta(info)
    if assume:
        try:
            facts = parse_facts(assume)
        except ValueError:
            facts = ()
    call = Call(api, stmt.expr, got_type, facts=facts, at_end=True)
    check_against(call, "return value", got, want, note=True)

def _has_shaped_return(t: Any) -> bool:
    return _shaped(t) is not None

# -- user functions with shaped signatures ---------------------------------------------------
def _signature(node: Any) -> CallableType | None:
    if isinstance(node, Decorator):
        node = node.func
    if isinstance(node, FuncDef) and isinstance(node.type, CallableType):
        return node.type
    return None

def _has_shapes(sig: CallableType) -> bool:
    return any(_shaped(t) is not None for t in [*sig.arg_types, sig.ret_type])

def _shaped(t: Type) -> TInfo | None:
    p = get_proper_type(t)
    if isinstance(p, UnionType):
        found = [read(i) for i in p.items]
        found = [f for f in found if f is not None]
        return found[0] if len(found) == 1 else None
    return read(p)

_INSTANCES: dict[Any, dict[str, Any]] = {}

def _instance_dims(ctx: Any, expr: Expression | None, here: TypeInfo | None,
                   ) -> dict[str, Any] | None:
    """The class dims already bound for the instance ``expr`` names (``net`` or
    ``self.block``): as at run time, the first checked call of any method binds them for that
    instance, and later calls must agree. None when the instance cannot be named."""
    if isinstance(expr, NameExpr) and expr.node is not None:
        key: Any = ("name", id(expr.node))
    elif isinstance(expr, MemberExpr) and isinstance(expr.expr, NameExpr) \
            and expr.expr.name == "self" and here is not None:
        key = ("attr", here.fullname, expr.name)
    else:
        return None
    return _INSTANCES.setdefault(key, {})

def bind_call(ctx: FunctionContext | MethodContext, sig: CallableType, actuals: dict[str, Type],
              where: str, default: Type | None = None,
              instance_expr: Expression | None = None) -> Type:
    """Check a call of a shape-annotated function (``actuals``: formal name -> actual type)
    and give its return value the shape its annotation has under the bound dims."""
    default = ctx.default_return_type if default is None else default
    if not _has_shapes(sig):
        return default
    call = Call(ctx.api, ctx.context, default)
    formals = dict(zip(sig.arg_names, sig.arg_types))
    entries = []
    for name, actual in actuals.items():
        want = _shaped(formals[name]) if name in formals else None
        got = read(actual)
        if want is None or got is None:
            continue
        if want.dtypes is not None and got.concrete_dtype is not None \
                and got.dtype not in want.dtypes:
            call.dtype_error(f"{where}: argument {name} has dtype {got.dtype}, expected "
                             f"{want.dtype}")
            return plain(default)
        entries.append((name, want.dims, got.shape))
    owner = sig.definition.info if isinstance(sig.definition, FuncDef) else None
    owner = None if owner is None or isinstance(owner, FakeInfo) else owner
    names, assume = class_meta(owner)
    facts = tuple(call.facts) + (parse_facts(assume) if assume else ())
    bindings: dict[str, Any] = {}
    try:
        here = cast(Any, ctx.api).scope.enclosing_class()
    except AttributeError:
        here = None
    instance: dict[str, Any] | None = None
    if names and here is not None and owner is not None and here.has_base(owner.fullname):
        for n in names:  # inside the class, its dims are the caller's own symbols
            bindings[n], bindings["@" + n] = Dim.sym(n), f"class {owner.name}"
    elif names and owner is not None:
        instance = _instance_dims(ctx, instance_expr, here)
        if instance is not None:
            bindings.update(instance)
    try:
        bound = bind_shapes(entries, symbolic=True, bindings=bindings, facts=facts)
    except ShapeMismatch as err:
        call.shape_error(f"{where}: argument {err.message}")
        return plain(default)
    if instance is not None:
        for n in names:  # the first call binds the instance's dims (constants only)
            value = bound.get(n)
            if isinstance(value, Dim) and value.is_constant:
                value = value.as_int()
            if n not in instance and isinstance(value, int):
                instance[n], instance["@" + n] = value, f"{bound['@' + n]} in an earlier " \
                                                        f"{where}(...) call"
    ret = _shaped(sig.ret_type)
    if ret is None:
        return default
    shape = instantiate(ret.dims, bound)
    return call.result(ret.dtype, shape, base=sig.ret_type if read(sig.ret_type) else default)

def _actuals(ctx: FunctionContext | MethodContext) -> dict[str, Type]:
    return {name: ctx.arg_types[i][0] for i, name in enumerate(ctx.callee_arg_names)
            if name is not None and i < len(ctx.arg_types) and len(ctx.arg_types[i]) == 1}

def user_function(ctx: FunctionContext) -> Type:
    callee = ctx.context.callee if isinstance(ctx.context, CallExpr) else None
    node = getattr(callee, "node", None)
    sig = _signature(node)
    if sig is None:
        return ctx.default_return_type
    return bind_call(ctx, sig, _actuals(ctx), where=getattr(node, "name", "function"))

def user_method(ctx: MethodContext, method: str) -> Type:
    if not isinstance(ctx.type, Instance):
        return ctx.default_return_type
    sig = _signature(ctx.type.type.get_method(method))
    if sig is None:
        return ctx.default_return_type
    callee = ctx.context.callee if isinstance(ctx.context, CallExpr) else None
    me = callee.expr if isinstance(callee, MemberExpr) else None
    return bind_call(ctx, sig, _actuals(ctx), where=f"{ctx.type.type.name}.{method}",
                     instance_expr=me)
