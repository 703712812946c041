"""The mypy hooks: which function, method, annotation and class hooks run where, and the guard
that keeps an internal error of the plugin from ever crashing mypy. The checks themselves
live in :mod:`.core` (applying a rule), :mod:`.tensor_ops`, :mod:`.functions`,
:mod:`.layers`, :mod:`.composite`, :mod:`.signatures`, :mod:`.flow` and :mod:`.deferred`."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mypy.nodes import (
    CallExpr,
    Context,
    Expression,
    IndexExpr,
    MemberExpr,
    MypyFile,
    OpExpr,
    TypeInfo,
)
from mypy.plugin import (
    AnalyzeTypeContext,
    ClassDefContext,
    FunctionContext,
    MethodContext,
    Plugin,
)
from mypy.types import (
    AnyType,
    Instance,
    ProperType,
    RawExpressionType,
    Type,
    TypeOfAny,
    UnboundType,
    get_proper_type,
)

from neurarust.types.annotations import (
    DTYPE_GROUPS,
    parse_dims,
)

from . import deferred, flow
from .core import (
    NR_DTYPE,
    NR_SHAPE,
    NR_UNDECIDED,
    TENSOR,
    TInfo,
    _is_tensor,
    plain,
    read,
    with_info,
)
from .functions import (
    FUNCTION_MODULES,
    FUNCTIONS,
    _function,
)
from .layers import (
    _LOOKUP,
    LAYERS,
    layer_config,
    module_call,
)
from .signatures import (
    _INSTANCES,
    DIMS_DECORATOR,
    _has_shaped_return,
    check_return,
    class_dims_hook,
    user_function,
    user_method,
)
from .tensor_ops import (
    METHODS,
    tensor_op,
)

MODULE_CALL = "neurarust.nn.module.Module.__call__"

ANNOTATED = ("typing.Annotated", "typing_extensions.Annotated")

_DEBUG = bool(os.environ.get("NEURARUST_MYPY_DEBUG"))

_SOURCE_HASH = hashlib.sha256(b"".join(
    f.read_bytes() for f in sorted(Path(__file__).parent.glob("*.py")))).hexdigest()[:16]

# -- annotations -------------------------------------------------------------------------------
def analyze_annotation(ctx: AnalyzeTypeContext) -> Type:
    """``Float32[Tensor, "B 784"]`` (statically ``Annotated``): a Tensor carrying its spec."""
    t = ctx.type
    kind = t.name.rsplit(".", 1)[-1]
    if len(t.args) < 2:
        ctx.api.fail("Annotated[...] must have exactly one type argument and at least one "
                     "annotation", ctx.context)
        return AnyType(TypeOfAny.from_error)
    base = ctx.api.analyze_type(t.args[0])
    if kind not in DTYPE_GROUPS:
        return base
    raw = t.args[1]
    text: str | None = None
    if isinstance(raw, RawExpressionType) and isinstance(raw.literal_value, str):
        text = raw.literal_value
    elif isinstance(raw, UnboundType) and raw.original_str_expr is not None:
        text = raw.original_str_expr
    if text is None:
        ctx.api.fail(f'{kind}[...] expects a dim string, as {kind}[Tensor, "B 784"]',
                     ctx.context, code=NR_SHAPE)
        return base
    try:
        dims = parse_dims(text)
    except ValueError as err:
        ctx.api.fail(str(err), ctx.context, code=NR_SHAPE)
        return base
    p = get_proper_type(base)
    if not isinstance(p, Instance) or not _is_tensor(p.type):
        return base
    group = DTYPE_GROUPS[kind]
    dtype = next(iter(group)) if group is not None and len(group) == 1 else kind
    return with_info(ctx.api, p, TInfo(dtype, dims))

# -- the plugin ----------------------------------------------------------------------------------
def _current(ctx: Any) -> Any:
    """``ctx`` with the types of re-assigned names as they are where they are read (see
    :mod:`.flow`): mypy keeps a variable's first type."""
    api = ctx.api
    scope = flow.current_scope(api)
    context = ctx.context
    # a reflected operator (``y.__radd__(x)`` for ``x + y``) gets a placeholder for ``x``
    reflected = isinstance(context, OpExpr) and bool(ctx.args and ctx.args[0]) \
        and ctx.args[0][0] is not context.right
    rows, changed = [], False
    for exprs, types in zip(ctx.args, ctx.arg_types):
        row = []
        for e, t in zip(exprs, types):
            if reflected and isinstance(context, OpExpr):
                e = context.left
            found = flow.reaching_type(api, scope, e, t)
            if found is not t:
                changed = True
                found = found if found is not None else plain(t)
            row.append(found)
        rows.append(row)
    if changed:
        ctx = ctx._replace(arg_types=rows)
    if isinstance(ctx, MethodContext):
        me = _self_expr(context, "__r" if reflected else "")
        if me is not None:
            found = flow.reaching_type(api, scope, me, ctx.type)
            if found is not ctx.type:
                ctx = ctx._replace(type=get_proper_type(found) if found is not None
                                   else get_proper_type(plain(ctx.type)))
    return ctx

def _later_trips(hook: Callable[[Any], Type], ctx: Any, out: Type) -> None:
    """``h = f(h)`` in ``for _ in range(k)``: check the later trips too, each reading the
    previous trip's result (mypy checks a loop body once; its errors are real ones)."""
    if read(out) is None:
        return
    for i, exprs in enumerate(ctx.args):
        for j, e in enumerate(exprs):
            trips = flow.again(ctx.api, e, ctx.context)
            previous = out
            for _ in range(min(trips, 3)):
                rows = [list(r) for r in ctx.arg_types]
                rows[i][j] = previous
                found = hook(ctx._replace(arg_types=rows))
                if read(found) is None or read(found).encode() == read(previous).encode():
                    break
                previous = found

def _guard(hook: Callable[[Any], Type]) -> Callable[[Any], Type]:
    """A plugin must never crash mypy: on an internal error, fall back to mypy's own type."""

    def run(ctx: Any) -> Type:
        try:
            if isinstance(ctx, AnalyzeTypeContext):
                return hook(ctx)
            ctx = _current(ctx)
            out = hook(ctx)
            _later_trips(hook, ctx, out)
            return out
        except Exception:
            if _DEBUG:
                raise
            default = getattr(ctx, "default_return_type", None)
            return plain(default) if default is not None else AnyType(TypeOfAny.from_error)

    return run

CLASS_CHECKED = "builtins.object.__init_subclass__"  # mypy checks this call after each class

def _seen_class(ctx: MethodContext) -> Type:
    """A class body was checked: remember the module's checker for :mod:`deferred`."""
    deferred.remember(ctx.api)
    return ctx.default_return_type

class NeurarustPlugin(Plugin):
    """Registers the hooks above."""

    def __init__(self, options: Any) -> None:
        super().__init__(options)
        # one plugin per build: state keyed by node identity must not outlive it
        _INSTANCES.clear()
        _LOOKUP[:] = [self.lookup_fully_qualified]
        deferred.reset()
        flow.reset()

    def report_config_data(self, ctx: Any) -> Any:
        """Cached results depend on the plugin's files (mypy's own snapshot covers only the
        entry module): a changed plugin invalidates them."""
        return _SOURCE_HASH

    def get_class_decorator_hook(self, fullname: str,
                                 ) -> Callable[[ClassDefContext], None] | None:
        if fullname == DIMS_DECORATOR:
            return class_dims_hook
        return None

    def get_type_analyze_hook(self, fullname: str) -> Callable[[AnalyzeTypeContext], Type] | None:
        if fullname in ANNOTATED:
            return analyze_annotation
        return None

    def get_function_hook(self, fullname: str) -> Callable[[FunctionContext], Type] | None:
        if fullname.startswith(FUNCTION_MODULES):
            name = fullname.rsplit(".", 1)[-1]
            if name in FUNCTIONS:
                return _guard(lambda ctx: _function(ctx, name))
            if name in METHODS:
                return _guard(lambda ctx: tensor_op(ctx, name, None, None, 1))
            return None
        if fullname in LAYERS:
            cls = LAYERS[fullname]
            return _guard(lambda ctx: layer_config(ctx, cls))
        if fullname.startswith(("neurarust.", "builtins.", "typing.", "numpy.")):
            return None
        return _guard(user_function)

    def get_additional_indirect_deps(self, file: MypyFile) -> set[str]:
        """Called once ``file`` is type-checked: run the checks that wait for that."""
        deferred.finish(file, check_return, _has_shaped_return)
        return set()

    def get_method_hook(self, fullname: str) -> Callable[[MethodContext], Type] | None:
        if fullname == CLASS_CHECKED:
            return _seen_class
        if fullname == MODULE_CALL or fullname.endswith(".__call__") and self._is_module(
                fullname[: -len(".__call__")]):
            return _guard(module_call)
        if fullname.startswith(TENSOR + "."):
            name = fullname[len(TENSOR) + 1:]
            if name in METHODS:
                return _guard(lambda ctx: _method(ctx, name))
            return None
        if fullname.startswith(("neurarust.", "builtins.", "typing.", "numpy.")):
            return None
        method = fullname.rsplit(".", 1)[-1]
        return _guard(lambda ctx: user_method(ctx, method))


    def _is_module(self, class_fullname: str) -> bool:
        sym = self.lookup_fully_qualified(class_fullname)
        return sym is not None and isinstance(sym.node, TypeInfo) and sym.node.has_base(
            "neurarust.nn.module.Module")

def _self_expr(context: Context, name: str) -> Expression | None:
    """The expression a method is called on: ``x`` in ``x.sum()``, ``x + y``, ``x[0]``."""
    if isinstance(context, CallExpr) and isinstance(context.callee, MemberExpr):
        return context.callee.expr
    if isinstance(context, OpExpr):
        return context.right if name.startswith("__r") else context.left
    if isinstance(context, IndexExpr):
        return context.base
    return None

def _method(ctx: MethodContext, name: str) -> Type:
    return tensor_op(ctx, name, ctx.type, _self_expr(ctx.context, name), 0)

__all__ = ["NR_DTYPE", "NR_SHAPE", "NR_UNDECIDED", "NeurarustPlugin", "ProperType"]
