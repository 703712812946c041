"""``nr.trace``: run a model's ``forward`` on symbolic tensors and record an :class:`ir.Graph`.

How it works: inputs become :class:`SymbolicTensor` values whose shapes are Dims parsed from
specs such as ``"f32[B, 1, 28, 28]"``; the module's parameters and buffers are swapped, for
the duration of the trace, for SymbolicTensor constants named as in ``named_parameters``; and
the dispatcher's general path hands each op call to the active :class:`Tracer` (one check of a
module global, so eager mode pays nothing on its fast paths). For each op the tracer

1. evaluates the op's registry shape rule with a :class:`SymbolicAlgebra` (the same rule
   eager mode runs with ints): a requirement that is provably false is a ShapeError naming
   the op, the shapes and the user's source line; an undecided one is attached to the node
   as an obligation for ``verify``;
2. evaluates the op's dtype rule with the dispatcher's promotion logic;
3. appends a node (op, inputs, attrs, output shape/dtype, source line, module scope) and
   returns a new SymbolicTensor.

Python control flow on a symbolic size that the dims do not decide (``if x.shape[0] > 512``,
``range(T)``) goes to the tracer's :class:`~.paths.PathOracle` when one is given (``nr.verify``
explores every feasible path, one trace per path); without one it is an error naming the line
and the condition, since a graph has a single path.

``config`` traces a factory (``make(D, H)``) whose arguments are symbolic dims: the module is
built while tracing, so its constructor's checks on sizes (``embed_dim % num_heads``) are
decision points too, and an exception the constructor raises is a :class:`ConstructionError`
naming the user's line.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any

import numpy as np

from .. import _dispatch
from ..ir.graph import Constant, Graph, Input, Node, NodeInput, Value
from ..ops.indexing import Slice
from ..ops.registry import OpDef, get
from ..tensor import Tensor
from ..types.cond import Cond
from ..types.dim import Dim, DimBudgetError, check_text
from ..types.dtype import ALL_DTYPES, DType, promote_types
from ..types.errors import DTypeError, RuleViolation, ShapeError, UndecidedShape
from ..types.format import format_shape
from ..types.symbolic import SymbolicAlgebra
from .dims import plain, traced
from .paths import PathOracle, SomeValues
from .tensor import SymbolicTensor

__all__ = ["ConstructionError", "TraceError", "Tracer", "parse_spec", "trace", "user_frame"]

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_USER_DIRS = (os.path.join(_PKG_DIR, "examples") + os.sep,)
_TYPES_DIR = os.path.join(_PKG_DIR, "types") + os.sep
_TRACE_DIR = os.path.join(_PKG_DIR, "trace") + os.sep
_BY_SHORT: dict[str, DType] = {d.short: d for d in ALL_DTYPES}
MAX_RANK = 64  # dims in one tensor spec (numpy's own limit)
_BY_SHORT.update({d.name: d for d in ALL_DTYPES})


class TraceError(Exception):
    """Tracing cannot go on: control flow on an undecided size, a read of tensor values, an
    unsupported output. The message names the user's source line."""


class ConstructionError(Exception):
    """Building the model (a factory or class traced with ``config``) raised: the message is
    the constructor's own, ``source`` the user's line that built the failing part, and
    ``error`` the original exception."""

    def __init__(self, error: BaseException, source: str) -> None:
        super().__init__(f"{type(error).__name__}: {error}\n  at {source}")
        self.error = error
        self.source = source


# -- input specs ------------------------------------------------------------------------------
def parse_spec(spec: str) -> tuple[DType, tuple[Dim, ...]]:
    """``"f32[B, 1, 28, 28]"`` -> ``(float32, (B, 1, 28, 28))``; dims may be expressions
    (``"T*C"``, ``"H//2"``) and the dtype a short (``f32``, ``i64``) or full name.

    ValueError when it is not a spec; :class:`~neurarust.types.dim.DimBudgetError` (a
    ValueError) past the budgets of dim expressions, or with more than ``MAX_RANK`` dims."""
    check_text(spec, "tensor spec")
    text = spec.strip()
    if not text.endswith("]") or "[" not in text:
        raise ValueError(f"cannot parse tensor spec {spec!r}: expected e.g. 'f32[B, 1, 28, 28]'")
    head, body = text[:-1].split("[", 1)
    dtype = _BY_SHORT.get(head.strip())
    if dtype is None:
        raise ValueError(f"cannot parse tensor spec {spec!r}: unknown dtype {head.strip()!r}; "
                         f"expected one of {sorted(d.short for d in ALL_DTYPES)}")
    parts: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(body):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    if len(parts) == 1 and not parts[0].strip():
        return dtype, ()
    if len(parts) > MAX_RANK:
        raise DimBudgetError(f"tensor spec {text[:40]!r}... has {len(parts)} dims; at most "
                             f"{MAX_RANK} are accepted")
    try:
        return dtype, tuple(Dim.parse(p) for p in parts)
    except ValueError as err:  # DimBudgetError stays one
        raise type(err)(f"cannot parse tensor spec {text[:80]!r}: {err}") from None


# -- source locations -----------------------------------------------------------------------------
def _is_framework(filename: str) -> bool:
    path = os.path.abspath(filename)
    return path.startswith(_PKG_DIR) and not path.startswith(_USER_DIRS)


def _frame_str(filename: str, lineno: int) -> str:
    path = os.path.abspath(filename)
    try:
        rel = os.path.relpath(path)
        path = rel if not rel.startswith("..") else path
    except ValueError:
        pass
    return f"{path}:{lineno}"


def user_frame(frame: FrameType | None = None) -> str:
    """``file:line`` of the innermost caller outside the framework (examples count as user
    code); ``<unknown>`` when every frame is inside it."""
    f: FrameType | None = frame if frame is not None else sys._getframe(1)
    while f is not None:
        if not _is_framework(f.f_code.co_filename):
            return _frame_str(f.f_code.co_filename, f.f_lineno)
        f = f.f_back
    return "<unknown>"


# -- the tracer -----------------------------------------------------------------------------------
class Tracer:
    """Records op calls on SymbolicTensors into :attr:`graph`; see the module docstring."""

    def __init__(self, graph: Graph, facts: list[Any], modules: Mapping[int, str],
                 oracle: PathOracle | None = None) -> None:
        self.graph = graph
        self.algebra = SymbolicAlgebra(facts)
        self.modules = dict(modules)
        self.oracle = oracle
        self.constants: dict[int, str] = {}  # id(real tensor) -> constant name
        self.pending_constants: dict[str, tuple[Tensor, str]] = {}
        self._keep: list[Any] = []  # keeps ids in self.constants valid while tracing
        self.last_site: tuple[str, str] | None = None
        self._next = 0

    # -- values ---------------------------------------------------------------------------------
    def new_name(self) -> str:
        name = f"%{self._next}"
        self._next += 1
        return name

    def symbolic_constant(self, name: str, real: Tensor, kind: str) -> SymbolicTensor:
        """A SymbolicTensor standing for parameter/buffer ``real``; it enters the graph's
        constants when a node first uses it."""
        shape = tuple(Dim.const(int(n)) for n in real.shape)
        self.pending_constants[name] = (real, kind)
        return SymbolicTensor._make(self, name, shape, real.dtype)

    def _use(self, x: SymbolicTensor) -> str:
        name = x._name
        pending = self.pending_constants.pop(name, None)
        if pending is not None:
            real, kind = pending
            self.graph.constants[name] = Constant(name, x._sym_shape, x.dtype,
                                                  data=real.numpy(force=True), kind=kind)
        return name

    def _constant_for(self, real: Tensor) -> str:
        """The graph constant for a real tensor met during tracing (made once per tensor)."""
        name = self.constants.get(id(real))
        if name is None:
            name = f"const{len(self.constants)}"
            while name in self.graph.constants:
                name += "_"
            self.constants[id(real)] = name
            self._keep.append(real)
            data = real.numpy(force=True)
            self.graph.constants[name] = Constant(
                name, tuple(Dim.const(int(n)) for n in data.shape), real.dtype, data=data,
                kind="tensor")
        return name

    # -- path decisions ---------------------------------------------------------------------------
    def branch(self, cond: Cond, frame: FrameType) -> bool:
        """Python control flow on ``cond``, which the facts leave open: the oracle picks the
        side, and it becomes a fact for the rest of this path."""
        assert self.oracle is not None
        options = [cond, ~cond]
        i = self.oracle.choose(options, "branch", frame)
        self.algebra.facts = (*self.algebra.facts, options[i])
        return i == 0

    def integer(self, d: Dim, frame: FrameType) -> int:
        """The symbolic size ``d`` where an int is needed (``range(T)``, a created tensor's
        size): the path takes one feasible value; a TypeError when there are too many."""
        assert self.oracle is not None
        known: dict[str, Dim] = {}
        for fact in self.algebra.facts:
            known.update(fact.implied_values())
        fixed = d.substitute(known) if known else d
        if fixed.is_constant:  # already decided on this path (3*D == 192 fixes D)
            return fixed.as_int()
        found = self.oracle.values(d)
        if isinstance(found, str):
            raise TypeError(f"dim {d} is symbolic; it has no integer value ({found})")
        values = found.values if isinstance(found, SomeValues) else found
        options = [d.eq(k) for k in values]
        if isinstance(found, SomeValues):  # one more path for every larger value
            options.append(d.gt(values[-1]))
        i = self.oracle.choose(options, "value", frame)
        self.algebra.facts = (*self.algebra.facts, options[i])
        if i == len(values):
            assert isinstance(found, SomeValues)
            raise TypeError(f"dim {d} is symbolic; it has no integer value ({found.rest})")
        return values[i]

    # -- ops ------------------------------------------------------------------------------------
    def site(self) -> tuple[str, str]:
        """(user source line, innermost module scope) of the op being traced."""
        f: FrameType | None = sys._getframe(2)
        source, scope = "<unknown>", None
        while f is not None:
            if source == "<unknown>" and not _is_framework(f.f_code.co_filename):
                source = _frame_str(f.f_code.co_filename, f.f_lineno)
            if scope is None and f.f_code.co_name == "forward":
                owner = f.f_locals.get("self")
                if owner is not None and id(owner) in self.modules:
                    scope = self.modules[id(owner)]
            if scope is not None and source != "<unknown>":
                break
            f = f.f_back
        return source, scope or ""

    def dispatch(self, op: OpDef, inputs: tuple[Any, ...], attrs: dict[str, Any]) -> Any:
        """Record ``op`` when an input is symbolic and return its SymbolicTensor; None to let
        eager mode run an op on real tensors only."""
        if not any(type(x) is SymbolicTensor for x in inputs) and not _symbolic_attrs(attrs):
            return None
        source, scope = site = self.site()
        self.last_site = site
        attrs = {k: plain(v) for k, v in attrs.items()}
        shapes: list[Any] = []
        refs: list[NodeInput] = []
        common: DType | None = None
        has_scalar = False
        for x in inputs:
            if isinstance(x, Tensor):
                if type(x) is SymbolicTensor:
                    if x._tracer is not self:
                        raise TraceError(f"{op.name}: a symbolic tensor from another trace "
                                         f"was used\n  at {source}")
                    shapes.append(x._sym_shape)
                    refs.append(self._use(x))
                else:
                    shapes.append(tuple(Dim.const(int(n)) for n in x.shape))
                    refs.append(self._constant_for(x))
                common = x.dtype if common is None else promote_types(common, x.dtype)
            elif x is None:
                shapes.append(None)
                refs.append(None)
            elif isinstance(x, Dim):
                if not x.is_constant:  # a size used as a number: ``total / x.shape[0]``
                    return self.dispatch(op, tuple(self._size_value(v) if isinstance(v, Dim)
                                                   and not v.is_constant else v
                                                   for v in inputs), attrs)
                shapes.append(())
                refs.append(x.as_int())
                has_scalar = True
            elif isinstance(x, (bool, int, float, np.bool_, np.number)):
                shapes.append(())
                refs.append(x.item() if isinstance(x, (np.bool_, np.number)) else x)
                has_scalar = True
            else:
                raise TypeError(f"{op.name}: expected Tensor or a Python number, got "
                                f"{type(x).__name__}\n  at {source}")
        alg = self.algebra
        before = len(alg.pending)
        try:
            out_shape = op.shape(alg, *shapes, **attrs)
        except RuleViolation as err:
            raise _dispatch.shape_error(op, inputs, attrs, err) from None
        except UndecidedShape as err:
            raise TraceError(f"{op.name}: {err}\n  at {source}"
                             + (f" ({scope})" if scope else "")) from None
        obligations = tuple(alg.pending[before:])
        if has_scalar or common is None:
            out_dtype = op.dtype(*_dispatch._scalar_dtypes(op, inputs, common), **attrs)
        else:
            out_dtype = op.dtype(*[x.dtype if x is not None else None for x in inputs],
                                 **attrs)
        shape = tuple(Dim.of(d) for d in out_shape)
        name = self.new_name()
        self.graph.nodes.append(Node(op.name, tuple(refs), dict(attrs), Value(name, shape, out_dtype),
                                     source, scope, obligations))
        return SymbolicTensor._make(self, name, shape, out_dtype)

    def _size_value(self, d: Dim) -> SymbolicTensor:
        """The symbolic size ``d`` as a 0-d int64 graph value: the sum of a 1 expanded to
        ``(d,)``, so that the exported graph computes it from the input shapes."""
        from ..functions.creation import tensor

        ones = self.dispatch(get("expand"), (tensor(1),), {"size": (plain(d),)})
        return self.dispatch(get("sum"), (ones,), {"dim": None, "keepdim": False,  # type: ignore[no-any-return]
                                                   "dtype": None})

    def dispatch_inplace(self, op: OpDef, target: Tensor, others: tuple[Any, ...],
                         attrs: dict[str, Any]) -> Any:
        """``target.op_(...)`` on a symbolic target: record the op out of place and rebind
        the target to the result (views of the target do not see the change)."""
        if type(target) is not SymbolicTensor:
            if any(type(x) is SymbolicTensor for x in others):
                raise TraceError(f"{op.name}_: an in-place write of a traced value into a real "
                                 f"tensor is not supported\n  at {self.site()[0]}")
            return None
        result = self.dispatch(op, (target, *others), attrs)
        if result.shape != target.shape:
            raise ShapeError(
                f"{op.name}_: the result shape {format_shape(result.shape)} does not match the "
                f"in-place target's shape {format_shape(target.shape)}\n"
                "  hint: in-place ops cannot broadcast self")
        if result.dtype is not target.dtype:
            result = self.dispatch(get("cast"), (result,), {"dtype": target.dtype})
        target._name = result._name
        return target


def _symbolic_attrs(attrs: Mapping[str, Any]) -> bool:
    """True when an attr holds a named size (``zeros(B, H)`` is ``expand`` of a constant by
    ``(B, H)``), so the op is recorded although no input is symbolic."""
    def symbolic(v: Any) -> bool:
        if isinstance(v, Dim):
            return not v.is_constant
        if isinstance(v, Slice):  # table[:T] on a real table
            return symbolic(v.start) or symbolic(v.stop)
        return isinstance(v, (tuple, list)) and any(symbolic(x) for x in v)

    return any(symbolic(v) for v in attrs.values())


# -- nr.trace -------------------------------------------------------------------------------------
def trace(model: Callable[..., Any], inputs: Mapping[str, str | tuple[DType, tuple[Any, ...]]],
          *, name: str | None = None, min_size: int = 1, train: bool = False,
          check: bool = True, oracle: PathOracle | None = None,
          config: Mapping[str, str] | None = None) -> Graph:
    """Run ``model`` (an ``nn.Module`` or a function) on symbolic tensors; return its graph.

    Args:
        model: a Module (its ``forward`` is traced, its parameters and buffers become named
            constants) or a function of tensors.
        inputs: name -> spec, in the order of ``forward``'s positional arguments, e.g.
            ``{"x": "f32[B, 1, 28, 28]"}``; a spec may also be ``(dtype, shape)``.
        name: the graph's name (default: the model's class or function name).
        min_size: every named dim is taken to be at least this when deciding requirements
            during tracing (the verifier's default too).
        train: trace in training mode; by default the module is put in eval mode for the
            trace (dropout off, batch norm on running statistics) and restored afterwards.
        check: run :meth:`Graph.check` on the result.
        oracle: decides Python control flow that the sizes leave open (see :mod:`.paths`);
            ``nr.verify`` passes one per explored path. Default: such a point is an error.
        config: trace a factory: ``model`` is called as ``model(**{k: Dim(v)})`` (e.g.
            ``{"D": "D", "H": "H"}``) while tracing, and the module it returns is traced.

    Raises:
        ShapeError / DTypeError: an op's rule is provably violated (message names the op,
            the shapes and the source line).
        TraceError: undecided Python control flow on sizes, reading tensor values, or an
            output that is not a tensor.
        ConstructionError: with ``config``, building the model raised.

    Example:
        >>> g = nr.trace(nr.nn.Linear(784, 10), {"x": "f32[B, 784]"})
        >>> g.output_values[0].type_str
        'f32[B, 10]'
    """
    from ..nn.module import Module

    if _dispatch._tracer is not None:
        raise TraceError("trace: already tracing (nested traces are not supported)")
    default = type(model).__name__ if isinstance(model, Module) else getattr(
        model, "__name__", "graph")
    graph = Graph(name or str(default))
    graph.min_size = min_size
    symbols: list[str] = []
    for arg, spec in inputs.items():
        dtype, shape = parse_spec(spec) if isinstance(spec, str) else (
            spec[0], tuple(Dim.of(d) for d in spec[1]))
        graph.inputs.append(Input(arg, shape, dtype))
        for d in shape:
            symbols += [s for s in sorted(d.free_symbols()) if s not in symbols]
    settings = {k: Dim.parse(v) for k, v in (config or {}).items()}
    for d in settings.values():
        symbols += [s for s in sorted(d.free_symbols()) if s not in symbols]
    facts = [Dim.sym(s).ge(min_size) for s in symbols]
    tracer = Tracer(graph, facts, {}, oracle)
    if config is not None:
        model = _build(model, settings, tracer)
    if isinstance(model, Module):
        tracer.modules = {id(m): n for n, m in model.named_modules()}
    args = [SymbolicTensor._make(tracer, v.name, v.shape, v.dtype) for v in graph.inputs]

    restore: list[tuple[dict[str, Any], str, Any]] = []
    modes: list[tuple[Any, bool]] = []
    if isinstance(model, Module):
        params = {id(p): n for n, p in model.named_parameters()}
        buffers = {id(b): n for n, b in model.named_buffers()}
        made: dict[int, SymbolicTensor] = {}
        for m in model.modules():
            modes.append((m, m.training))
            tables: list[tuple[dict[str, Any], dict[int, str], str]] = [
                (m._parameters, params, "parameter"), (m._buffers, buffers, "buffer")]
            for table, names, kind in tables:
                for key, real in list(table.items()):
                    if real is None or id(real) not in names:
                        continue
                    sym = made.get(id(real))
                    if sym is None:
                        sym = made[id(real)] = tracer.symbolic_constant(names[id(real)], real, kind)
                    restore.append((table, key, real))
                    table[key] = sym
        if not train:
            model.eval()
    _dispatch._tracer = tracer
    try:
        result = model(*args)
    except (ShapeError, DTypeError) as err:
        raise _located(err, tracer) from err.__cause__
    except TypeError as err:
        control = _control_flow_error(err)
        if control is None:
            raise
        raise control from None
    finally:
        _dispatch._tracer = None
        for table, key, real in reversed(restore):
            table[key] = real
        for m, mode in modes:
            m.training = mode
    graph.outputs = _outputs(result, tracer)
    if check:
        # On a path with decisions, shapes are simplified under the path's facts (min(T, 512)
        # is 512 where T > 512), which a fact-free re-derivation cannot reproduce.
        graph.check(rules=oracle is None or not oracle.decisions)
    return graph


def _build(factory: Callable[..., Any], settings: Mapping[str, Dim], tracer: Tracer) -> Any:
    """``factory(**settings)`` with the tracer active, so size checks in constructors are
    decision points; what it raises becomes a ConstructionError (or a TraceError for control
    flow the path cannot follow)."""
    _dispatch._tracer = tracer
    try:
        return factory(**{k: traced(d) for k, d in settings.items()})
    except TraceError:
        raise
    except TypeError as err:
        control = _control_flow_error(err)
        if control is not None:
            raise control from None
        raise ConstructionError(err, _raise_site(err)) from err
    except Exception as err:
        raise ConstructionError(err, _raise_site(err)) from err
    finally:
        _dispatch._tracer = None


def _raise_site(err: BaseException) -> str:
    """The innermost user (non-framework) line in ``err``'s traceback."""
    frames = traceback.extract_tb(err.__traceback__)
    user = [f for f in frames if not _is_framework(f.filename)]
    if not user:
        return "<unknown>"
    return _frame_str(user[-1].filename, user[-1].lineno or 0)


def _located(err: Exception, tracer: Tracer) -> Exception:
    """The same error type with the traced op's source line and scope appended."""
    if tracer.last_site is None or "\n  at " in str(err):
        return err
    source, scope = tracer.last_site
    where = f"  at {source}" + (f" (in module {scope})" if scope else "")
    return type(err)(f"{err}\n{where}")


def _control_flow_error(err: TypeError) -> TraceError | None:
    """A TraceError for Python control flow on a symbolic size (or a symbolic size where an
    int is needed), naming the line; None for any other TypeError."""
    message = str(err)
    as_int = "has no integer value" in message
    symbolic = ("the truth of" in message or as_int
                or ("not supported between instances of" in message and "Dim'" in message))
    if not symbolic:
        return None
    frames = traceback.extract_tb(err.__traceback__)
    where = next((f for f in reversed(frames) if not os.path.abspath(f.filename).startswith(
        (_TYPES_DIR, _TRACE_DIR))), None)
    if where is None:
        return None
    user = next((f for f in reversed(frames) if not _is_framework(f.filename)), where)
    code = (where.line or "").strip()
    loc = _frame_str(where.filename, where.lineno or 0)
    called = "" if user is where else \
        f" (called from {_frame_str(user.filename, user.lineno or 0)})"
    if as_int:
        return TraceError(
            f"a symbolic size is used where an int is needed at {loc}{called}:\n    {code}\n"
            f"  {message}\n  (nr.verify follows such a size value by value only when the "
            "assumptions leave it a few values; otherwise this path is not verified)")
    return TraceError(
        f"Python control flow on a symbolic size at {loc}{called}:\n    {code}\n"
        f"  {message.split(';')[0]}\n"
        "  the sizes do not decide this condition inside the framework, where a rule must ask "
        "its algebra instead (dims.select / dims.require)\n"
        "  hint: use a concrete size for the dims involved, or move the check into an op's "
        "shape rule (dims.require)")


def _outputs(result: Any, tracer: Tracer) -> list[str]:
    items: list[Any] = []
    stack = [result]
    while stack:  # nested tuples flattened in order: LSTM's (output, (h_n, c_n))
        x = stack.pop()
        if isinstance(x, dict):
            stack.extend(reversed(list(x.values())))
        elif isinstance(x, (tuple, list)):
            stack.extend(reversed(x))
        else:
            items.append(x)
    names = []
    for x in items:
        if type(x) is SymbolicTensor:
            names.append(tracer._use(x))
        elif isinstance(x, Tensor):
            names.append(tracer._constant_for(x))
        else:
            raise TraceError(f"trace: the model returned a {type(x).__name__}; expected "
                             "tensors (or a tuple, list or dict of tensors)")
    return names
