"""Hooks that read ``Float32[Tensor, "B 784"]`` as symbolic shapes and apply the registry's rules.

How a shape travels in a mypy type: a shaped tensor is an ``Instance`` of the Tensor class
carrying one extra type argument, a string ``Literal`` such as ``'f32[B, 784]'``. Tensor has no
type parameters, so mypy's subtyping (which zips arguments with type variables) ignores the
argument: a shaped tensor is a ``Tensor`` and a ``Tensor`` is a shaped tensor, so shapes never
cause mypy's own errors; joins drop the argument (unknown shape), ``reveal_type`` prints it,
and inferred variables keep it (mypy erases only ``last_known_value`` on inference). Layers
(``nn.Linear(784, 128)``) carry their literal configuration the same way.

Every shape is computed by the op's registered rule (``neurarust.ops.get(name).shape``) with
:class:`SymbolicAlgebra`: a ``require`` that is provably false becomes an ``[nr-shape]`` error
with the rule's own words; an undecided one (``N`` vs ``M``) stays silent. What cannot be known
statically degrades to an unknown shape (``f32[...]``) or to a plain ``Tensor``.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from mypy.errorcodes import ErrorCode
from mypy.nodes import (
    CallExpr,
    Context,
    Decorator,
    EllipsisExpr,
    Expression,
    FakeInfo,
    FuncDef,
    IndexExpr,
    IntExpr,
    ListExpr,
    MemberExpr,
    MypyFile,
    NameExpr,
    OpExpr,
    ReturnStmt,
    SliceExpr,
    StrExpr,
    TupleExpr,
    TypeInfo,
    UnaryExpr,
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
    CallableType,
    Instance,
    LiteralType,
    NoneType,
    ProperType,
    RawExpressionType,
    TupleType,
    Type,
    TypeOfAny,
    UnboundType,
    UnionType,
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
    instantiate,
    parse_dims,
    parse_facts,
)
from neurarust.types.cond import Cond
from neurarust.types.dim import Dim
from neurarust.types.dtype import ALL_DTYPES, get_default_dtype, result_type_of_scalar
from neurarust.types.errors import DTypeError, RuleViolation, UndecidedShape

from . import deferred, flow
from .simplify import simplify_shape

NR_SHAPE = ErrorCode("nr-shape", "Tensor shape mismatch (neurarust)", "neurarust")
NR_DTYPE = ErrorCode("nr-dtype", "Tensor dtype mismatch (neurarust)", "neurarust")
NR_UNDECIDED = ErrorCode("nr-undecided", "Shape condition left to neurarust verify (note)",
                         "neurarust")
DIMS_DECORATOR = "neurarust.types.annotations.dims"

TENSOR = "neurarust.tensor.Tensor"
MODULE_CALL = "neurarust.nn.module.Module.__call__"
ANNOTATED = ("typing.Annotated", "typing_extensions.Annotated")
_DEBUG = bool(os.environ.get("NEURARUST_MYPY_DEBUG"))

_SOURCE_HASH = hashlib.sha256(b"".join(
    f.read_bytes() for f in sorted(Path(__file__).parent.glob("*.py")))).hexdigest()[:16]
_BY_NAME = {d.name: d for d in ALL_DTYPES}
_BY_SHORT = {d.short: d for d in ALL_DTYPES}

# -- the static value of a tensor: a dtype (name, or annotation group) and dims --------------
Shape = tuple[Any, ...]


class TInfo:
    """What the plugin knows about one tensor: ``dtype`` (a dtype name such as ``float32``, a
    group such as ``Float``, or ``Shaped``) and ``dims`` (DimItems; a ``...`` when unknown)."""

    __slots__ = ("dtype", "dims")

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
FUNCTION_MODULES = ("neurarust.functions.", "neurarust.nn.functional", "neurarust.nn._loss_functional")

UNARY_MODULES = {"ReLU", "Tanh", "Sigmoid", "GELU", "SiLU", "Dropout", "Identity", "LeakyReLU",
                 "ELU", "Softplus", "ReLU6", "Hardtanh", "CELU", "SELU", "Mish", "Hardsigmoid",
                 "Hardswish", "Softsign", "Tanhshrink", "LogSigmoid", "Threshold", "Dropout1d",
                 "Dropout2d"}


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
class _Rank:
    """Stands for a tensor of rank ``ndim`` where the runtime's index parser asks for one."""

    def __init__(self, ndim: int) -> None:
        self.ndim = ndim


class _Sizes:
    """Stands for a weight whose ``.shape`` the runtime's argument normalisers read."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape


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
    from neurarust.functions.indexing import _parse

    index = index_value(index_expr, call.api)
    if me.shape is None:
        return call.result(me.dtype, None)
    try:
        parsed = _parse(_Rank(len(me.shape)), index)  # type: ignore[arg-type]
    except (IndexError, ValueError) as err:
        call.shape_error(f"{str(err).splitlines()[0]}: {my_name} is {show(me.shape)}")
        return plain(call.default)
    if parsed.tensors:
        return call.result(me.dtype, None)
    return apply_rule(call, "getitem", [(me, my_name)], {"index": tuple(parsed.index)})


def _expr_type(api: Any, expr: Expression) -> Type | None:
    lookup = getattr(api, "lookup_type_or_none", None)
    t: Type | None = lookup(expr) if lookup is not None else None
    if t is None:
        t = api.get_expression_type(expr)
    return flow.reaching_type(api, flow.current_scope(api), expr, t) if t is not None else t


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
    from neurarust.functions.conv import _conv_padding, _tuple

    op = f"conv{n}d"
    if w.shape is None or len(w.shape) != n + 2:
        return call.result(x.dtype, None)
    try:
        st = _tuple(stride, n, "stride", op)
        di = _tuple(dilation, n, "dilation", op)
        pads = _conv_padding(padding, _Sizes(w.shape), st, di, n,  # type: ignore[arg-type]
                             op)
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
    from neurarust.functions.conv import _pool_attrs, _tuple

    n = 1 if op.endswith("1d") else 2
    try:
        attrs: dict[str, Any] = _pool_attrs(n, op, kernel_size, stride, padding)
        if "dilation" in extra:
            extra = {**extra, "dilation": _tuple(extra["dilation"], n, "dilation", op)}
    except ValueError as err:
        call.shape_error(f"{label}: {str(err).split(': ', 1)[-1]}")
        return plain(call.default)
    return apply_rule(call, op, [(x, x_name)], {**attrs, **extra}, label=label)


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
       for n in ("linear", "conv2d", "max_pool2d", "avg_pool2d", "layer_norm", "embedding")},
}


def _function(ctx: FunctionContext, name: str) -> Type:
    try:
        return FUNCTIONS[name](ctx)
    except NotLiteral:
        return plain(_tensor_default_fn(ctx))


# -- layers ------------------------------------------------------------------------------------
LAYERS = {
    "neurarust.nn.linear.Linear": "Linear",
    "neurarust.nn.conv.Conv2d": "Conv2d",
    "neurarust.nn.pooling.MaxPool2d": "MaxPool2d",
    "neurarust.nn.pooling.AvgPool2d": "AvgPool2d",
    "neurarust.nn.linear.Flatten": "Flatten",
    "neurarust.nn.normalization.LayerNorm": "LayerNorm",
    "neurarust.nn.sparse.Embedding": "Embedding",
    "neurarust.nn.container.Sequential": "Sequential",
    "neurarust.nn.conv.Conv1d": "Conv1d",
    "neurarust.nn.conv.ConvTranspose1d": "ConvTranspose1d",
    "neurarust.nn.conv.ConvTranspose2d": "ConvTranspose2d",
    "neurarust.nn.pooling.MaxPool1d": "MaxPool1d",
    "neurarust.nn.pooling.AvgPool1d": "AvgPool1d",
    "neurarust.nn.normalization.BatchNorm1d": "BatchNorm1d",
    "neurarust.nn.normalization.BatchNorm2d": "BatchNorm2d",
    "neurarust.nn.normalization.GroupNorm": "GroupNorm",
    "neurarust.nn.normalization.RMSNorm": "RMSNorm",
    "neurarust.nn.activation.Softmax": "Softmax",
    "neurarust.nn.activation.LogSoftmax": "LogSoftmax",
    "neurarust.nn.activation.Softmin": "Softmin",
    "neurarust.nn.rnn.RNN": "RNN",
    "neurarust.nn.rnn.LSTM": "LSTM",
    "neurarust.nn.rnn.GRU": "GRU",
    "neurarust.nn.attention.MultiheadAttention": "MultiheadAttention",
    "neurarust.nn.transformer.TransformerEncoderLayer": "TransformerEncoderLayer",
    "neurarust.nn.transformer.TransformerEncoder": "TransformerEncoder",
}
_CONV_ARGS = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
              "groups", "bias")
_TRANSPOSE_ARGS = ("in_channels", "out_channels", "kernel_size", "stride", "padding",
                   "output_padding", "groups", "bias", "dilation")
_RNN_ARGS = ("input_size", "hidden_size", "num_layers", "bias", "batch_first",
             "bidirectional")
LAYER_ARGS = {  # the constructor arguments that decide a layer's output shape
    "Conv2d": _CONV_ARGS,
    "Conv1d": _CONV_ARGS,
    "ConvTranspose1d": _TRANSPOSE_ARGS,
    "ConvTranspose2d": _TRANSPOSE_ARGS,
    "MaxPool1d": ("kernel_size", "stride", "padding", "dilation", "return_indices",
                  "ceil_mode"),
    "AvgPool1d": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"),
    "BatchNorm1d": ("num_features",),
    "BatchNorm2d": ("num_features",),
    "GroupNorm": ("num_groups", "num_channels", "affine"),
    "RMSNorm": ("normalized_shape",),
    "Softmax": ("dim",),
    "LogSoftmax": ("dim",),
    "Softmin": ("dim",),
    "RNN": _RNN_ARGS,
    "LSTM": (*_RNN_ARGS, "proj_size"),
    "GRU": _RNN_ARGS,
    "MultiheadAttention": ("embed_dim", "num_heads", "kdim", "vdim", "batch_first"),
    "TransformerEncoderLayer": ("d_model", "nhead", "dim_feedforward", "batch_first"),
    "MaxPool2d": ("kernel_size", "stride", "padding", "dilation", "return_indices",
                  "ceil_mode"),
    "AvgPool2d": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                  "divisor_override"),
    "Flatten": ("start_dim", "end_dim"),
    "LayerNorm": ("normalized_shape",),
    "Embedding": ("num_embeddings", "embedding_dim"),
}
_RNN_DEFAULTS = {"num_layers": 1, "bias": True, "batch_first": False, "bidirectional": False}
LAYER_DEFAULTS: dict[str, dict[str, Any]] = {
    "Conv2d": {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True},
    "Conv1d": {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True},
    "ConvTranspose1d": {"stride": 1, "padding": 0, "output_padding": 0, "groups": 1,
                        "bias": True, "dilation": 1},
    "ConvTranspose2d": {"stride": 1, "padding": 0, "output_padding": 0, "groups": 1,
                        "bias": True, "dilation": 1},
    "MaxPool1d": {"stride": None, "padding": 0, "dilation": 1, "return_indices": False,
                  "ceil_mode": False},
    "AvgPool1d": {"stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True},
    "GroupNorm": {"affine": True},
    "Softmax": {"dim": None},
    "LogSoftmax": {"dim": None},
    "Softmin": {"dim": None},
    "RNN": _RNN_DEFAULTS,
    "LSTM": {**_RNN_DEFAULTS, "proj_size": 0},
    "GRU": _RNN_DEFAULTS,
    "MultiheadAttention": {"kdim": None, "vdim": None, "batch_first": False},
    "TransformerEncoderLayer": {"dim_feedforward": 2048, "batch_first": False},
    "MaxPool2d": {"stride": None, "padding": 0, "dilation": 1, "return_indices": False,
                  "ceil_mode": False},
    "AvgPool2d": {"stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True,
                  "divisor_override": None},
    "Flatten": {"start_dim": 1, "end_dim": -1},
}


def _plain_literal(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(_plain_literal(v) for v in value)
    return value is None or isinstance(value, (int, str))


def _layer_key(t: Type) -> str | None:
    """How a layer inside ``Sequential(...)`` is remembered: its encoded configuration."""
    p = get_proper_type(t)
    if not isinstance(p, Instance):
        return None
    if p.type.name in UNARY_MODULES and p.type.fullname.startswith("neurarust.nn."):
        return p.type.name + "{}"
    lit = get_proper_type(p.args[0]) if p.args else None
    if isinstance(lit, LiteralType) and isinstance(lit.value, str):
        return lit.value
    return None


def layer_config(ctx: FunctionContext, cls: str) -> Type:
    """``nn.Linear(784, 128)``, ``nn.Conv2d(1, 32, 3, padding=1)``, ``nn.Sequential(...)``:
    remember the literal configuration in the layer's type."""
    p = get_proper_type(ctx.default_return_type)
    if not isinstance(p, Instance) or p.args:
        return ctx.default_return_type
    try:
        if cls == "Linear":
            fin, fout = _lit(ctx, "in_features", None, 0), _lit(ctx, "out_features", None, 1)
            bias = _lit(ctx, "bias", True, 2)
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (fin, fout)):
                return ctx.default_return_type
            text = f"Linear({fin}, {fout}, {bool(bias)})"
        elif cls == "Sequential":
            items = [get_proper_type(t) for t in ctx.arg_types[0]] if ctx.args else []
            if any(isinstance(t, Instance) and t.type.fullname.endswith("OrderedDict")
                   for t in items):
                return ctx.default_return_type
            layers = tuple(_layer_key(t) for t in ctx.arg_types[0])
            config: dict[str, Any] = {"layers": layers}
            broken = _check_chain(ctx, layers)
            if broken is not None:
                config["broken"] = broken
            text = f"Sequential{config!r}"
        elif cls == "TransformerEncoder":
            if not ctx.arg_types or not ctx.arg_types[0]:
                return ctx.default_return_type
            text = f"TransformerEncoder{ {'layer': _layer_key(ctx.arg_types[0][0])}!r}"
        else:
            config = dict(LAYER_DEFAULTS.get(cls, {}))
            for name in LAYER_ARGS[cls]:
                value = _str_lit(ctx, name, config.get(name, NotLiteral))
                if value is NotLiteral or not _plain_literal(value):
                    return ctx.default_return_type
                config[name] = value
            text = f"{cls}{config!r}"
    except NotLiteral:
        return ctx.default_return_type
    return Instance(p.type, [_literal(ctx.api, text)], line=p.line, column=p.column)


def _probe(key: str | None) -> TInfo | None:
    """A symbolic input a layer accepts, from its configuration alone (None: no such)."""
    if key is None:
        return None
    dtype = get_default_dtype().name
    if key.startswith("Linear("):
        return TInfo(dtype, dims_of((Dim.sym("N"), int(key[len("Linear("):].split(",")[0]))))
    cls, brace, rest = key.partition("{")
    if not brace:
        return None
    cfg = ast.literal_eval(brace + rest)
    n, h, w = Dim.sym("N"), Dim.sym("H"), Dim.sym("W")
    shapes: dict[str, Callable[[], tuple[Any, ...]]] = {
        "Conv2d": lambda: (n, cfg["in_channels"], h, w),
        "Conv1d": lambda: (n, cfg["in_channels"], Dim.sym("L")),
        "BatchNorm2d": lambda: (n, cfg["num_features"], h, w),
        "BatchNorm1d": lambda: (n, cfg["num_features"]),
        "LayerNorm": lambda: (n, *_ints(cfg["normalized_shape"])),
    }
    if cls == "Sequential":
        return _probe(cfg["layers"][0]) if cfg["layers"] else None
    if cls == "Embedding":
        return TInfo("int64", dims_of((n, Dim.sym("T"))))
    return TInfo(dtype, dims_of(shapes[cls]())) if cls in shapes else None


def _check_chain(ctx: FunctionContext, layers: tuple[str | None, ...]) -> int | None:
    """Where ``nn.Sequential(...)`` is built: apply its layers to a symbolic input of the
    first one; a layer that provably cannot take its predecessor's output is reported here,
    once (calls then stop before it). Returns that layer's index."""
    h = _probe(layers[0]) if layers else None
    if h is None:
        return None
    sym = _LOOKUP[0](TENSOR) if _LOOKUP else None
    if sym is None or not isinstance(sym.node, TypeInfo):
        return None
    call = Call(ctx.api, ctx.context, Instance(sym.node, []), facts=(), quiet=True)
    name = "input"
    for i, sub in enumerate(layers):
        shape = h.shape or ()
        out = read(apply_layer(call, sub, h, name, f"Sequential[{i}]"))
        if call.errors:
            if any(isinstance(d, Dim) and d.free_symbols() - {"N"} for d in shape):
                return None  # sizes of the probe's own: clearer where it is called
            for message, code in call.held or []:
                ctx.api.fail(message, ctx.context, code=code)
            return i
        if out is None or out.shape is None:
            return None
        h, name = out, f"Sequential[{i}](...)"
    return None


def apply_layer(call: Call, key: str | None, x: TInfo, x_name: str, label: str,
                extra: dict[str, Any] | None = None) -> Type:
    """A configured built-in layer applied to ``x`` (``key`` as :func:`layer_config` wrote
    it), through the same code paths as the functions it calls; ``extra``: the call's other
    arguments (an RNN's ``hx``, attention's ``key``/``value``/``need_weights``)."""
    if key is None:
        return plain(call.default)
    cls, brace, rest = key.partition("{")
    if not brace:
        if key.startswith("Linear("):
            fin, fout, _bias = key[len("Linear("):-1].split(", ")
            w = TInfo(get_default_dtype().name, dims_of((int(fin), int(fout))))
            return apply_rule(call, "matmul", [(x, x_name), (w, f"{label}.weight.T")], {},
                              label=label)
        return plain(call.default)
    if cls in UNARY_MODULES:
        return call.result(x.dtype, x.shape)
    cfg = ast.literal_eval(brace + rest)
    if cls in COMPOSITE_LAYERS:
        return composite_layer(call, cls, cfg, x, x_name, label, extra or {})
    if cls == "Sequential":
        h, h_name = x, x_name
        layers = cfg["layers"]
        for i, sub in enumerate(layers):
            if i == cfg.get("broken"):
                return plain(call.default)  # reported where the Sequential is built
            last = i == len(layers) - 1
            out = apply_layer(call if last else call.inner(), sub, h, h_name, f"{label}[{i}]")
            found = read(out)
            if found is None or last:
                return out
            h, h_name = found, f"{label}[{i}](...)"
        return call.result(x.dtype, x.shape)
    if cls in ("Conv1d", "Conv2d"):
        n = 1 if cls == "Conv1d" else 2
        k = cfg["kernel_size"]
        k = (k,) * n if isinstance(k, int) else tuple(k)
        groups = cfg["groups"]
        if not isinstance(groups, int) or groups <= 0 or len(k) != n:
            return plain(call.default)
        dtype = get_default_dtype().name
        w = TInfo(dtype, dims_of((cfg["out_channels"], cfg["in_channels"] // groups, *k)))
        b = TInfo(dtype, dims_of((cfg["out_channels"],))) if cfg["bias"] else None
        return conv(call, x, x_name, w, f"{label}.weight", b, cfg["stride"], cfg["padding"],
                    cfg["dilation"], groups, label, n=n)
    if cls in ("MaxPool1d", "MaxPool2d"):
        if cfg["return_indices"]:
            return plain(call.default)
        return pool(call, cls.lower().replace("pool", "_pool"), x, x_name, cfg["kernel_size"],
                    cfg["stride"], cfg["padding"], {"dilation": cfg["dilation"],
                                                    "ceil_mode": bool(cfg["ceil_mode"])}, label)
    if cls in ("AvgPool1d", "AvgPool2d"):
        extra_attrs = {"ceil_mode": bool(cfg["ceil_mode"]),
                       "count_include_pad": bool(cfg["count_include_pad"]),
                       "divisor_override": cfg.get("divisor_override")}
        return pool(call, cls.lower().replace("pool", "_pool"), x, x_name, cfg["kernel_size"],
                    cfg["stride"], cfg["padding"], extra_attrs, label)
    if cls == "Flatten":
        return apply_rule(call, "flatten", [(x, x_name)],
                          {"start_dim": cfg["start_dim"], "end_dim": cfg["end_dim"]},
                          label=label)
    if cls == "LayerNorm":
        return layer_norm(call, x, x_name, cfg["normalized_shape"], label)
    if cls == "Embedding":
        return embedding(call, x, x_name, cfg["embedding_dim"], get_default_dtype().name,
                         label)
    return plain(call.default)


COMPOSITE_LAYERS = {"ConvTranspose1d", "ConvTranspose2d", "BatchNorm1d", "BatchNorm2d",
                    "GroupNorm", "RMSNorm", "Softmax", "LogSoftmax", "Softmin", "RNN", "LSTM",
                    "GRU", "MultiheadAttention", "TransformerEncoderLayer",
                    "TransformerEncoder"}


def composite_layer(call: Call, cls: str, cfg: dict[str, Any], x: TInfo, x_name: str,
                    label: str, extra: dict[str, Any]) -> Type:
    """The layers :mod:`.composite` builds from registered rules (and softmax's dim)."""
    from . import composite as c

    try:
        if cls in ("Softmax", "LogSoftmax", "Softmin"):
            return softmax(call, x, x_name, cls.lower(), cfg["dim"])
        if cls == "RMSNorm":
            return layer_norm(call, x, x_name, cfg["normalized_shape"], label)
        if cls in ("ConvTranspose1d", "ConvTranspose2d"):
            return c.tensor_type(call, c.conv_transpose(call, cfg, int(cls[-2]), x, x_name,
                                                        label))
        if cls in ("BatchNorm1d", "BatchNorm2d"):
            ranks = (2, 3) if cls == "BatchNorm1d" else (4,)
            return c.tensor_type(call, c.batch_norm(call, cfg, ranks, x, x_name, label))
        if cls == "GroupNorm":
            return c.tensor_type(call, c.group_norm(call, cfg, x, x_name, label))
        if cls in ("RNN", "LSTM", "GRU"):
            return c.recurrent(call, cfg, cls, x, x_name, extra.get("hx", ()), label)
        if cls == "MultiheadAttention":
            (k, k_name), (v, v_name) = extra.get("key", (x, x_name)), extra.get(
                "value", (x, x_name))
            if k is None or v is None:
                return AnyType(TypeOfAny.implementation_artifact)
            need = extra.get("need_weights", True)
            out, weights = c.attention(call, cfg, x, x_name, k, k_name, v, v_name, need,
                                       extra.get("average_attn_weights", True), label)
            return c.attention_type(call, out, weights, need)
        if cls == "TransformerEncoderLayer":
            return c.tensor_type(call, c.encoder_layer(call, cfg, x, x_name, label))
        if cls == "TransformerEncoder":
            return apply_layer(call, cfg["layer"], x, x_name, f"{label}.layers[0]")
    except c.Stop:
        if cls in ("RNN", "LSTM", "GRU", "MultiheadAttention"):
            return AnyType(TypeOfAny.implementation_artifact)
        return plain(call.default)
    return plain(call.default)


def _layer_extra(ctx: MethodContext) -> dict[str, Any] | None:
    """The arguments of ``layer(x, ...)`` after the input that a layer's shape depends on;
    None when one of them is present but cannot be read."""
    positional = list(zip(ctx.args[0], ctx.arg_types[0]))[1:] if ctx.args else []
    keywords = {name: (e, t) for e, t, name in zip(
        ctx.args[1], ctx.arg_types[1], ctx.arg_names[1])} if len(ctx.args) > 1 else {}
    extra: dict[str, Any] = {}

    def tensor(e: Expression, t: Type, name: str) -> tuple[TInfo | None, str]:
        return read(t), expr_name(e, name)

    key = _layer_key(ctx.type)
    cls = key.partition("{")[0] if key is not None else ""
    if cls in ("RNN", "LSTM", "GRU"):
        found = positional[0] if positional else keywords.get("hx")
        if found is not None:
            p = get_proper_type(found[1])
            items = p.items if isinstance(p, TupleType) else [found[1]]
            extra["hx"] = [read(i) if not isinstance(get_proper_type(i), NoneType) else None
                           for i in items]
    elif cls == "MultiheadAttention":
        for i, name in enumerate(("key", "value")):
            found = positional[i] if i < len(positional) else keywords.get(name)
            if found is None:
                return None
            extra[name] = tensor(found[0], found[1], name)
        for name in ("need_weights", "average_attn_weights"):
            index = {"need_weights": 3, "average_attn_weights": 5}[name]
            found = positional[index] if index < len(positional) else keywords.get(name)
            if found is not None:
                try:
                    value = literal_value(found[0], ctx.api)
                except NotLiteral:
                    return None
                if not isinstance(value, bool):
                    return None
                extra[name] = value
    elif positional and cls in ("TransformerEncoderLayer", "TransformerEncoder"):
        return extra  # masks: they do not change the output's shape
    elif positional:
        return None
    return extra


def module_call(ctx: MethodContext) -> Type:
    """``layer(x)``: a configured built-in layer's rule, or a user Module's ``forward``."""
    layer = ctx.type
    if not isinstance(layer, Instance):
        return ctx.default_return_type
    callee = ctx.context.callee if isinstance(ctx.context, CallExpr) else None
    if not layer.type.fullname.startswith("neurarust.nn."):
        return _forward_call(ctx, layer, expr_name(callee, layer.type.name))
    if not ctx.args or not ctx.args[0]:
        return ctx.default_return_type
    extra = _layer_extra(ctx)
    if extra is None:
        return ctx.default_return_type
    x_type, x_expr = ctx.arg_types[0][0], ctx.args[0][0]
    label = expr_name(callee, layer.type.name)
    call = Call(ctx.api, ctx.context, _tensor_default(ctx, x_type))
    x = read(x_type)
    key = _layer_key(layer)
    if key is not None and "'return_indices': True" in key:
        return ctx.default_return_type
    if key is None:
        return plain(call.default)
    if x is None:
        return plain(call.default)
    return apply_layer(call, key, x, expr_name(x_expr, "input"), label, extra)


def _forward_call(ctx: MethodContext, layer: Instance, label: str) -> Type:
    """A Module subclass called: check and type the call as its ``forward``."""
    sig = _signature(layer.type.get_method("forward"))
    if sig is None:
        return ctx.default_return_type
    names = [n for n in sig.arg_names[1:]]
    actuals = {n: t for n, t in zip(names, ctx.arg_types[0] if ctx.arg_types else [])
               if n is not None}
    callee = ctx.context.callee if isinstance(ctx.context, CallExpr) else None
    return bind_call(ctx, sig, actuals, where=f"{label}", default=sig.ret_type,
                     instance_expr=callee)


def _tensor_default(ctx: MethodContext, fallback: Type) -> Type:
    p = get_proper_type(ctx.default_return_type)
    if isinstance(p, Instance) and _is_tensor(p.type):
        return p
    q = get_proper_type(fallback)
    if isinstance(q, Instance) and _is_tensor(q.type):
        return q
    return ctx.default_return_type


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
_LOOKUP: list[Callable[[str], Any]] = []  # the plugin's lookup_fully_qualified


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
