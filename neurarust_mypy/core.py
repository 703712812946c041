"""The static value of a tensor (dtype and symbolic shape) and applying a registered rule to it.

How a shape travels in a mypy type: a shaped tensor is an ``Instance`` of the Tensor class
carrying one extra type argument, a string ``Literal`` such as ``'f32[B, 784]'``. Tensor has no
type parameters, so mypy's subtyping (which zips arguments with type variables) ignores the
argument: a shaped tensor is a ``Tensor`` and a ``Tensor`` is a shaped tensor, so shapes never
cause mypy's own errors; joins drop the argument (unknown shape), ``reveal_type`` prints it,
and inferred variables keep it (mypy erases only ``last_known_value`` on inference; a name
re-assigned later is followed by :mod:`.flow`). Layers (``nn.Linear(784, 128)``) carry their
literal configuration the same way.

Every shape is computed by the op's registered rule (``neurarust.ops.get(name).shape``) with
:class:`SymbolicAlgebra`: a ``require`` that is provably false becomes an ``[nr-shape]`` error
with the rule's own words; an undecided one (``N`` vs ``M``) an ``[nr-undecided]`` note, left to
``neurarust verify``. Sizes are taken to be at least 1. What cannot be known statically degrades
to an unknown shape (``f32[...]``) or to a plain ``Tensor``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, cast

from mypy.errorcodes import ErrorCode
from mypy.nodes import (
    CallExpr,
    Context,
    Expression,
    IndexExpr,
    IntExpr,
    ListExpr,
    MemberExpr,
    NameExpr,
    OpExpr,
    StrExpr,
    TupleExpr,
    TypeInfo,
    UnaryExpr,
)
from mypy.plugin import (
    FunctionContext,
    MethodContext,
)
from mypy.types import (
    Instance,
    LiteralType,
    NoneType,
    Type,
    get_proper_type,
)

from neurarust.ops import get as get_op
from neurarust.types.annotations import (
    DTYPE_GROUPS,
    AssumingAlgebra,
    DimItem,
    ShapeMismatch,
    bind_shapes,
    decide_under,
    parse_dims,
    parse_facts,
)
from neurarust.types.cond import Cond
from neurarust.types.dim import Dim
from neurarust.types.dtype import ALL_DTYPES, result_type_of_scalar
from neurarust.types.errors import DTypeError, RuleViolation, UndecidedShape

from . import deferred, flow
from .simplify import simplify_shape

NR_SHAPE = ErrorCode("nr-shape", "Tensor shape mismatch (neurarust)", "neurarust")

NR_DTYPE = ErrorCode("nr-dtype", "Tensor dtype mismatch (neurarust)", "neurarust")

NR_UNDECIDED = ErrorCode("nr-undecided", "Shape condition left to neurarust verify (note)",
                         "neurarust")

TENSOR = "neurarust.tensor.Tensor"

_BY_NAME = {d.name: d for d in ALL_DTYPES}

_BY_SHORT = {d.short: d for d in ALL_DTYPES}

# -- the static value of a tensor: a dtype (name, or annotation group) and dims --------------
Shape = tuple[Any, ...]

class TInfo:
    """What the plugin knows about one tensor: ``dtype`` (a dtype name such as ``float32``, a
    group such as ``Float``, or ``Shaped``) and ``dims`` (DimItems; a ``...`` when unknown)."""

    __slots__ = ("dims", "dtype")

    def __init__(self, dtype: str, dims: tuple[DimItem, ...]) -> None:
        self.dtype, self.dims = dtype, dims

    @property
    def shape(self) -> Shape | None:
        """The shape as Dims when fully known (no ``_``/``...``/``*name``)."""
        if any(d.kind != "dim" for d in self.dims):
            return None
        return tuple(d.dim for d in self.dims)

    @property
    def concrete_dtype(self) -> Any:
        return _BY_NAME.get(self.dtype)

    @property
    def dtypes(self) -> frozenset[str] | None:
        if self.dtype in _BY_NAME:
            return frozenset({self.dtype})
        return DTYPE_GROUPS.get(self.dtype)

    def encode(self) -> str:
        d = _BY_NAME.get(self.dtype)
        prefix = d.short if d is not None else self.dtype
        return f"{prefix}[{', '.join(str(i).replace(' ', '') for i in self.dims)}]"

    def show(self) -> str:
        return "[" + ", ".join(str(i) for i in self.dims) + "]"

@functools.lru_cache(maxsize=4096)
def decode(text: str) -> TInfo | None:
    prefix, _, rest = text.partition("[")
    if not rest.endswith("]"):
        return None
    dtype = _BY_SHORT[prefix].name if prefix in _BY_SHORT else prefix
    try:
        dims = parse_dims(" ".join(rest[:-1].split(", ")))
    except ValueError:
        return None
    return TInfo(dtype, dims)

def dims_of(shape: Sequence[Any]) -> tuple[DimItem, ...]:
    return tuple(DimItem("dim", dim=Dim.of(s)) for s in shape)

UNKNOWN_DIMS = (DimItem("variadic"),)

def read(t: Type | None) -> TInfo | None:
    """The TInfo a type carries; None for a plain Tensor or a non-tensor."""
    p = get_proper_type(t) if t is not None else None
    if not isinstance(p, Instance) or not p.args or not _is_tensor(p.type):
        return None
    lit = get_proper_type(p.args[0])
    if isinstance(lit, LiteralType) and isinstance(lit.value, str):
        return decode(lit.value)
    return None

def _is_tensor(info: TypeInfo) -> bool:
    return info.has_base(TENSOR)

def _literal(api: Any, text: str) -> LiteralType:
    try:
        str_type = api.named_generic_type("builtins.str", [])
    except AttributeError:
        str_type = api.named_type("builtins.str", [])
    return LiteralType(text, str_type)

def with_info(api: Any, base: Type, info: TInfo) -> Type:
    """``base`` (a Tensor instance) carrying ``info``."""
    p = get_proper_type(base)
    if not isinstance(p, Instance) or not _is_tensor(p.type):
        return base
    return Instance(p.type, [_literal(api, info.encode())], line=p.line, column=p.column)

def plain(base: Type) -> Type:
    p = get_proper_type(base)
    if isinstance(p, Instance) and p.args and _is_tensor(p.type):
        return Instance(p.type, [], line=p.line, column=p.column)
    return base

# -- literal arguments -------------------------------------------------------------------------
class NotLiteral(Exception):
    """An argument the plugin cannot read statically: the result degrades to unknown."""

def literal_value(expr: Expression, api: Any) -> Any:
    """An int / bool / None / tuple of those, or a Dim read from ``x.shape[i]`` / ``x.size(i)``."""
    if isinstance(expr, IntExpr):
        return expr.value
    if isinstance(expr, UnaryExpr) and expr.op == "-" and isinstance(expr.expr, IntExpr):
        return -expr.expr.value
    if isinstance(expr, NameExpr) and expr.fullname in ("builtins.True", "builtins.False"):
        return expr.fullname == "builtins.True"
    if isinstance(expr, NameExpr) and expr.fullname == "builtins.None":
        return None
    if isinstance(expr, (TupleExpr, ListExpr)):
        return tuple(literal_value(e, api) for e in expr.items)
    if isinstance(expr, IndexExpr) and isinstance(expr.base, MemberExpr) \
            and expr.base.name == "shape":
        index = literal_value(expr.index, api)
        return _dim_of(expr.base.expr, index, api)
    if isinstance(expr, CallExpr) and isinstance(expr.callee, MemberExpr) \
            and expr.callee.name == "size" and len(expr.args) == 1:
        return _dim_of(expr.callee.expr, literal_value(expr.args[0], api), api)
    if isinstance(expr, OpExpr) and expr.op in ("*", "//", "+", "-"):
        a, b = literal_value(expr.left, api), literal_value(expr.right, api)
        if isinstance(a, (int, Dim)) and isinstance(b, (int, Dim)) \
                and not isinstance(a, bool) and not isinstance(b, bool):
            da, db = Dim.of(a), Dim.of(b)
            out = {"*": da * db, "//": da // db, "+": da + db, "-": da - db}[expr.op]
            return out.as_int() if out.is_constant else out
    if isinstance(expr, NameExpr):
        value = flow.reaching_value(api, flow.current_scope(api), expr)
        if value is not None:  # ``b = x.shape[0]`` earlier: b is the dim B
            return value_of(value, api)
    t = get_proper_type(api.get_expression_type(expr)) if hasattr(api, "get_expression_type") \
        else None
    if isinstance(t, LiteralType) and isinstance(t.value, (int, bool)):
        return t.value
    if isinstance(t, Instance) and t.last_known_value is not None \
            and isinstance(t.last_known_value.value, (int, bool)):
        return t.last_known_value.value
    raise NotLiteral(expr)

def value_of(value: tuple[Expression, tuple[int, ...]], api: Any) -> Any:
    """The literal value of an assignment's right-hand side, at a tuple index path:
    ``b = x.shape[0]``, ``b, t = x.shape[0], x.shape[1]``, ``b, t, c = x.shape``."""
    expr, path = value
    for i in path:
        if isinstance(expr, (TupleExpr, ListExpr)) and i < len(expr.items):
            expr = expr.items[i]
        elif isinstance(expr, MemberExpr) and expr.name == "shape" and len(path) == 1:
            return _dim_of(expr.expr, i, api)
        else:
            raise NotLiteral(expr)
    return literal_value(expr, api)

def _dim_of(expr: Expression, index: Any, api: Any) -> Any:
    info = read(_expr_type(api, expr))
    shape = info.shape if info is not None else None
    if shape is None or not isinstance(index, int) or not -len(shape) <= index < len(shape):
        raise NotLiteral(expr)
    d = shape[index]
    return d.as_int() if d.is_constant else d

def expr_name(expr: Expression | None, fallback: str) -> str:
    if isinstance(expr, NameExpr):
        return expr.name
    if isinstance(expr, MemberExpr) and isinstance(expr.expr, NameExpr):
        return f"{expr.expr.name}.{expr.name}"
    return fallback

def class_meta(info: TypeInfo | None) -> tuple[list[str], list[str]]:
    """The dims and assumption strings declared on ``info`` and its bases."""
    names: list[str] = []
    assume: list[str] = []
    for base in info.mro if info is not None else []:
        meta = base.metadata.get("neurarust")
        if meta:
            names += [n for n in meta.get("dims", []) if n not in names]
            assume += meta.get("assume", [])
    return names, assume

def scope_facts(api: Any) -> tuple[Cond, ...]:
    """The facts of the class whose method is being checked (none outside a class)."""
    try:
        info = api.scope.enclosing_class()
    except AttributeError:
        return ()
    _, assume = class_meta(info)
    try:
        return parse_facts(assume) if assume else ()
    except ValueError:
        return ()

# -- applying a registry rule ------------------------------------------------------------------
class Call:
    """One op application the plugin evaluates: operands, their names, and where to report.

    ``facts``: the class assumptions in force (default: those of the class being checked);
    ``at_end``: the module has been checked already (deferred checks), so notes go out at once.
    """

    def __init__(self, api: Any, context: Context, default: Type,
                 facts: tuple[Cond, ...] | None = None, at_end: bool = False,
                 quiet: bool = False) -> None:
        self.api, self.context, self.default = api, context, default
        self.facts = scope_facts(api) if facts is None else facts
        self.at_end, self.quiet = at_end, quiet
        self.errors = 0
        self.held: list[tuple[str, ErrorCode]] | None = [] if quiet else None
        if not at_end:
            deferred.remember(api)

    def inner(self) -> Call:
        """The same call for an intermediate value."""
        return self

    def shape_error(self, message: str) -> None:
        self._fail(message, NR_SHAPE)

    def dtype_error(self, message: str) -> None:
        self._fail(message, NR_DTYPE)

    def _fail(self, message: str, code: ErrorCode) -> None:
        self.errors += 1
        if self.held is not None:  # a quiet call holds its errors for the caller to decide
            self.held.append((message, code))
        elif self.at_end or not flow.expects_shape_error(self.api, self.context):
            self.api.fail(message, self.context, code=code)

    def undecided(self, label: str, conditions: Sequence[Any]) -> None:
        """A note per condition the algebra could not settle: the verifier's job. Conditions
        that hold once every size is at least 1 (``0 < T``, ``C != 0``) are not worth one."""
        if self.quiet:
            return
        parts = [p for c in conditions for p in (
            cast(Any, c).parts if isinstance(c, Cond) and getattr(c, "kind", None) == "and" else [c])]
        for cond in parts:
            if isinstance(cond, Cond):
                nonempty = [Dim.sym(n).ge(1) for n in sorted(cond.free_symbols())]
                if decide_under(cond, (*self.facts, *nonempty)) is True:
                    continue
            message = f"{label}: undecided: {cond} (left to neurarust verify)"
            if isinstance(self.context, OpExpr) and not self.at_end:
                # mypy checks an operator under an error watcher and takes any message, a
                # note too, as a failure (then retries the reflected operator and gives Any):
                # the note waits for the module's end, where nothing watches.
                deferred.note_later(self.api, self.context, message, NR_UNDECIDED)
            else:
                self.api.note(message, self.context, code=NR_UNDECIDED)

    def result(self, dtype: str, shape: Shape | None, base: Type | None = None) -> Type:
        if shape is not None:
            shape = simplify_shape(shape, self.facts)
        info = TInfo(dtype, dims_of(shape) if shape is not None else UNKNOWN_DIMS)
        return with_info(self.api, base if base is not None else self.default, info)

def check_against(call: Call, label: str, got: TInfo, want: TInfo,
                  bindings: dict[str, Any] | None = None,
                  note: bool = False) -> dict[str, Any] | None:
    """Check ``got`` against the declared ``want``; report and return None on a mismatch."""
    allowed = want.dtypes
    if allowed is not None and got.concrete_dtype is not None and got.dtype not in allowed:
        call.dtype_error(f"{label} has dtype {got.dtype}, expected {want.dtype}")
        return None
    shape = got.shape
    if shape is None:
        return bindings
    if bindings is None:  # the declared names are the function's own dims
        bindings = {}
        for item in want.dims:
            if item.kind == "dim" and item.dim is not None:
                for name in item.dim.free_symbols():
                    bindings[name], bindings["@" + name] = Dim.sym(name), "the signature"
    undecided: list[str] = []
    try:
        out = bind_shapes([(label, want.dims, shape)], symbolic=True, bindings=bindings,
                          facts=call.facts, undecided=undecided)
    except ShapeMismatch as err:
        call.shape_error(err.message)
        return None
    if note:
        call.undecided(label, undecided)
    return out

def show(shape: Shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"

def apply_rule(call: Call, op_name: str, operands: Sequence[tuple[TInfo | None, str]],
               attrs: dict[str, Any], label: str | None = None,
               out_dtype: str | None = None) -> Type:
    """Run op ``op_name``'s shape and dtype rules on the operands (None: a Python scalar)."""
    label = label or op_name
    op = get_op(op_name)
    tensors = [t for t, _ in operands if t is not None]
    shapes = [t.shape if t is not None else () for t, _ in operands]
    dtype = out_dtype or _dtype_rule(call, op, operands, attrs, label)
    if dtype is None:
        return plain(call.default)
    if any(s is None for s in shapes) or not tensors:
        return call.result(dtype, None)
    algebra = AssumingAlgebra((*call.facts, *sizes_at_least_one((shapes, attrs))))
    try:
        out = op.shape(algebra, *shapes, **attrs)
    except RuleViolation as err:
        parts = ", ".join(f"{name} is {show(s or ())}"
                          for (t, name), s in zip(operands, shapes) if t is not None)
        notes = [n for n in (err.detail, f"hint: {err.hint}" if err.hint else None) if n]
        detail = f" ({'; '.join(notes)})" if notes else ""
        call.shape_error(f"{label}: {err.message}: {parts}{detail}")
        return plain(call.default)
    except (UndecidedShape, NotImplementedError, TypeError, ValueError):
        return call.result(dtype, None)
    call.undecided(label, [o.condition for o in algebra.pending])
    return call.result(dtype, tuple(out))

def sizes_at_least_one(values: Any) -> tuple[Cond, ...]:
    """``N >= 1`` for each named dim in ``values``: the plugin reasons about non-empty
    tensors, so ``193*B*T == 192*B*T`` is false rather than undecided (true only at 0)."""
    names: set[str] = set()
    stack = [values]
    while stack:
        v = stack.pop()
        if isinstance(v, Dim):
            names |= v.free_symbols()
        elif isinstance(v, (tuple, list)):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
    return tuple(Dim.sym(n).ge(1) for n in sorted(names))

def _dtype_rule(call: Call, op: Any, operands: Sequence[tuple[TInfo | None, str]],
                attrs: dict[str, Any], label: str) -> str | None:
    """The result dtype's name (or a group / ``Shaped`` when inputs are not concrete)."""
    tensors = [t for t, _ in operands if t is not None]
    concrete = [t.concrete_dtype for t in tensors]
    if not tensors:
        return None
    if any(d is None for d in concrete):
        groups = {t.dtype for t in tensors}
        return groups.pop() if len(groups) == 1 else "Shaped"
    common = concrete[0]
    dtypes = []
    for t, _ in operands:
        dtypes.append(t.concrete_dtype if t is not None else result_type_of_scalar(common, 1.0
                      if common.is_floating_point else 1))
    try:
        return str(op.dtype(*dtypes, **attrs).name)
    except DTypeError as err:
        call.dtype_error(f"{label}: {str(err).split(': ', 1)[-1].splitlines()[0]} "
                         f"(got {', '.join(d.name for d in dtypes)})")
        return None
    except (TypeError, ValueError, NotImplementedError, KeyError):
        return "Shaped"

def _args(ctx: FunctionContext | MethodContext, name: str, index: int | None = None,
          ) -> list[Expression] | None:
    """The actual expressions passed for formal ``name`` (None when not passed)."""
    names = ctx.callee_arg_names
    if name in names:
        exprs = ctx.args[names.index(name)]
        return exprs or None
    if index is not None and index < len(ctx.args):
        return ctx.args[index] or None
    return None

def _lit(ctx: FunctionContext | MethodContext, name: str, default: Any,
         index: int | None = None) -> Any:
    exprs = _args(ctx, name, index)
    if exprs is None:
        return default
    if len(exprs) != 1:
        return tuple(literal_value(e, ctx.api) for e in exprs)
    return literal_value(exprs[0], ctx.api)

def _ints(value: Any) -> tuple[Any, ...]:
    if isinstance(value, tuple) and len(value) == 1 and isinstance(value[0], tuple):
        return tuple(value[0])
    return tuple(value) if isinstance(value, tuple) else (value,)

def _expr_type(api: Any, expr: Expression) -> Type | None:
    lookup = getattr(api, "lookup_type_or_none", None)
    t: Type | None = lookup(expr) if lookup is not None else None
    if t is None:
        t = api.get_expression_type(expr)
    return flow.reaching_type(api, flow.current_scope(api), expr, t) if t is not None else t

def _tensor_default_fn(ctx: FunctionContext | MethodContext) -> Type:
    p = get_proper_type(ctx.default_return_type)
    if isinstance(p, Instance) and _is_tensor(p.type):
        return p
    for types in ctx.arg_types:
        for t in types:
            q = get_proper_type(t)
            if isinstance(q, Instance) and _is_tensor(q.type):
                return Instance(q.type, [])
    return ctx.default_return_type

def _arg(ctx: FunctionContext, name: str, index: int) -> tuple[TInfo | None, str, bool]:
    """The tensor passed for formal ``name``: (info, its name, whether it was passed)."""
    exprs = _args(ctx, name, index)
    if exprs is None or len(exprs) != 1:
        return None, name, False
    i = ctx.callee_arg_names.index(name) if name in ctx.callee_arg_names else index
    p = get_proper_type(ctx.arg_types[i][0])
    passed = not (isinstance(p, NoneType))
    return read(ctx.arg_types[i][0]), expr_name(exprs[0], name), passed

def _str_lit(ctx: FunctionContext | MethodContext, name: str, default: Any,
             index: int | None = None) -> Any:
    exprs = _args(ctx, name, index)
    if exprs is not None and len(exprs) == 1 and isinstance(exprs[0], StrExpr):
        return exprs[0].value
    return _lit(ctx, name, default, index)
