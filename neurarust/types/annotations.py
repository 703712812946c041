"""Shape-and-dtype annotations for tensors, jaxtyping-style: ``Float32[Tensor, "B 784"]``.

``Float32[Tensor, "B 784"]`` means "a ``Tensor`` of dtype float32 and shape ``(B, 784)``". The
dim string is a space-separated list of:

- a name (``B``, ``seq_len``): a size bound on first use and equal wherever it appears again;
- an integer (``784``);
- an expression over names (``T*C``, ``C//2``, ``H+2``), parsed by :meth:`Dim.parse`;
- ``_``: any one size; ``...``: any number of sizes; ``*batch``: any number of sizes, bound
  by name like a single dim (``*_`` is the same as ``...``).

At run time ``Float32[Tensor, "B 784"]`` is ``Annotated[Tensor, TensorSpec(...)]``: a valid
annotation for ``typing.get_type_hints``, whose metadata carries the dtype set and the parsed
dims. :func:`check` reads it and checks calls. Statically the dtype names are
``typing.Annotated`` (as in jaxtyping), so type checkers without the plugin see a plain
``Tensor``, and the ``neurarust_mypy`` plugin reads the same strings as symbolic shapes.

:func:`bind_shapes` is the one matching procedure, shared by :func:`check` (ints) and the mypy
plugin (symbolic :class:`Dim` values, where an undecided comparison is never an error).
"""

from __future__ import annotations

import functools
import inspect
import re
import types as _pytypes
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar, Union

from .algebra import CONCRETE
from .cond import Cond, _Compare
from .dim import Dim, _Apply, check_text
from .errors import DTypeError, ShapeError
from .symbolic import SymbolicAlgebra

__all__ = [
    "DTYPE_GROUPS",
    "AssumingAlgebra",
    "Bool",
    "ClassDims",
    "DimItem",
    "Float",
    "Float16",
    "Float32",
    "Float64",
    "Int",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "Integer",
    "ShapeMismatch",
    "Shaped",
    "TensorSpec",
    "UInt8",
    "bind_shapes",
    "check",
    "decide_under",
    "dims",
    "parse_dims",
    "parse_facts",
]

_FLOATS = frozenset({"float16", "float32", "float64"})
_SIGNED = frozenset({"int8", "int16", "int32", "int64"})

DTYPE_GROUPS: dict[str, frozenset[str] | None] = {
    "Float": _FLOATS,
    "Float16": frozenset({"float16"}),
    "Float32": frozenset({"float32"}),
    "Float64": frozenset({"float64"}),
    "Int": _SIGNED,
    "Int8": frozenset({"int8"}),
    "Int16": frozenset({"int16"}),
    "Int32": frozenset({"int32"}),
    "Int64": frozenset({"int64"}),
    "UInt8": frozenset({"uint8"}),
    "Integer": _SIGNED | {"uint8"},
    "Bool": frozenset({"bool"}),
    "Shaped": None,  # any dtype
}
"""Each annotation name and the dtype names it accepts (None: any dtype), as in jaxtyping."""


# -- dim specs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class DimItem:
    """One entry of a dim string: a dim expression, ``_``, ``...`` or ``*name``."""

    kind: Literal["dim", "anon", "variadic"]
    dim: Dim | None = None  # for "dim"
    name: str | None = None  # for "variadic" (None for "..." and "*_")

    def __str__(self) -> str:
        if self.kind == "dim":
            return str(self.dim)
        if self.kind == "anon":
            return "_"
        return "..." if self.name is None else f"*{self.name}"

    @property
    def symbol(self) -> str | None:
        """The name when this item is exactly one named dim (what a first use binds)."""
        if self.kind != "dim" or self.dim is None:
            return None
        names = self.dim.free_symbols()
        if len(names) == 1:
            (name,) = names
            if self.dim == Dim.sym(name):
                return name
        return None


@functools.lru_cache(maxsize=1024)
def parse_dims(text: str) -> tuple[DimItem, ...]:
    """Parse ``"B T*C ... 3"`` into DimItems; ValueError naming the bad entry (and
    :class:`~.dim.DimBudgetError` past the budgets of dim expressions)."""
    check_text(text, "shape")
    items: list[DimItem] = []
    for token in text.split():
        if token == "...":
            items.append(DimItem("variadic"))
        elif token == "_":
            items.append(DimItem("anon"))
        elif token.startswith("*"):
            name = token[1:]
            if not name.isidentifier():
                raise ValueError(f"bad variadic dim {token!r} in {text!r}: expected *name")
            items.append(DimItem("variadic", name=None if name == "_" else name))
        else:
            try:
                items.append(DimItem("dim", dim=Dim.parse(token)))
            except ValueError as err:
                raise ValueError(f"bad dim {token!r} in shape {text!r}: {err}") from None
    if sum(item.kind == "variadic" for item in items) > 1:
        raise ValueError(f"shape {text!r} has more than one '...' or '*name'")
    return tuple(items)


@dataclass(frozen=True)
class TensorSpec:
    """The metadata of ``Float32[Tensor, "B 784"]``: accepted dtypes and parsed dims."""

    kind: str  # "Float32", "Shaped", ...
    dtypes: frozenset[str] | None  # dtype names (DType.name); None: any
    dims: tuple[DimItem, ...]
    text: str  # the dim string as written
    array_type: Any = None  # the annotated class (Tensor)

    def __str__(self) -> str:
        return f"{self.kind}[{getattr(self.array_type, '__name__', self.array_type)}, " \
               f"{self.text!r}]"

    __repr__ = __str__

    def show_dims(self) -> str:
        return "[" + ", ".join(str(d) for d in self.dims) + "]"


class _DTypeAnnotation:
    """Base of ``Float32`` & co: subscripting builds ``Annotated[array_type, TensorSpec]``."""

    _kind: str = "Shaped"

    def __init__(self) -> None:
        raise TypeError(f"{type(self).__name__} is an annotation; write "
                        f"{type(self).__name__}[Tensor, \"B 784\"]")

    def __class_getitem__(cls, item: Any) -> Any:
        if not isinstance(item, tuple) or len(item) != 2 or not isinstance(item[1], str):
            raise TypeError(f"{cls._kind}[...] takes an array type and a dim string, as "
                            f"{cls._kind}[Tensor, \"B 784\"]; got {item!r}")
        array_type, text = item
        spec = TensorSpec(cls._kind, DTYPE_GROUPS[cls._kind], parse_dims(text), text, array_type)
        return typing.Annotated[array_type, spec]


if TYPE_CHECKING:
    # As jaxtyping does: type checkers see Annotated[Tensor, "..."], i.e. a Tensor; the
    # neurarust_mypy plugin recognises these names and reads the dim string.
    from typing import Annotated as Bool
    from typing import Annotated as Float
    from typing import Annotated as Float16
    from typing import Annotated as Float32
    from typing import Annotated as Float64
    from typing import Annotated as Int
    from typing import Annotated as Int8
    from typing import Annotated as Int16
    from typing import Annotated as Int32
    from typing import Annotated as Int64
    from typing import Annotated as Integer
    from typing import Annotated as Shaped
    from typing import Annotated as UInt8
else:
    def _make(kind: str) -> type:
        return type(kind, (_DTypeAnnotation,), {"_kind": kind, "__module__": __name__,
                                                "__doc__": f"``{kind}[Tensor, \"dims\"]``"})

    Bool, Float, Float16, Float32, Float64 = (
        _make(k) for k in ("Bool", "Float", "Float16", "Float32", "Float64"))
    Int, Int8, Int16, Int32, Int64, Integer, Shaped, UInt8 = (
        _make(k) for k in ("Int", "Int8", "Int16", "Int32", "Int64", "Integer", "Shaped",
                           "UInt8"))


# -- facts: what a class (or a caller) states about its dims ----------------------------------
_COMPARISON = re.compile(r"^\s*(.+?)\s*(==|!=|>=|<=|<|>)\s*(.+?)\s*$")


@functools.lru_cache(maxsize=256)
def _parse_facts(text: str) -> tuple[Cond, ...]:
    check_text(text, "assumption")
    out: list[Cond] = []
    for part in re.split(r",|\band\b", text):
        if not part.strip():
            continue
        m = _COMPARISON.match(part)
        if m is None:
            raise ValueError(f"bad assumption {part.strip()!r} in {text!r}: expected a "
                             "comparison such as 'D % H == 0' or 'T >= 1'")
        lhs, op, rhs = m.groups()
        try:
            out.append(Cond.compare(op, Dim.parse(lhs), Dim.parse(rhs)))
        except ValueError as err:
            raise ValueError(f"bad assumption {part.strip()!r} in {text!r}: {err}") from None
    return tuple(out)


def parse_facts(assume: str | Sequence[str]) -> tuple[Cond, ...]:
    """``"D % H == 0, T >= 1"`` (or a list of such strings; ``and`` also separates) as Conds."""
    texts = [assume] if isinstance(assume, str) else list(assume)
    return tuple(c for t in texts for c in _parse_facts(t))


def _divides(fact: Cond) -> tuple[str, Dim] | None:
    """``(name, b)`` when ``fact`` is ``name % b == 0`` for a named dim ``name``."""
    if not isinstance(fact, _Compare) or fact.op != "==":
        return None
    for side, other in ((fact.lhs, fact.rhs), (fact.rhs, fact.lhs)):
        if other != Dim.of(0) or len(side._terms) != 1:
            continue
        ((mono, coef),) = side._terms.items()
        if coef != 1 or len(mono) != 1 or mono[0][1] != 1:
            continue
        atom = mono[0][0]
        if isinstance(atom, _Apply) and atom.fn == "mod":
            a, b = atom.args
            names = a.free_symbols()
            if len(names) == 1 and a == Dim.sym(next(iter(names))):
                return next(iter(names)), b
    return None


def decide_under(cond: Cond, facts: Sequence[Cond]) -> bool | None:
    """``cond.decide(facts)``, plus divisibility: a fact ``D % H == 0`` is used by writing
    ``D`` as ``H*q`` (``q`` a fresh size, ``H >= 1``), so ``H*(D//H) == D`` holds.

    Sound: ``D % H == 0`` with sizes ``D >= 0`` and ``H != 0`` means exactly ``D == H*q`` for
    some size ``q``; a verdict over every ``H >= 1, q >= 0`` is a verdict over every ``D, H``
    the fact allows.
    """
    verdict = cond.decide(facts) if facts else cond.decide()
    if verdict is not None or not facts:
        return verdict
    steps: list[tuple[str, Dim]] = []
    for fact in facts:
        found = _divides(fact)
        if found is not None and all(found[0] != n for n, _ in steps):
            steps.append(found)
    if not steps:
        return None
    extra: list[Cond] = []
    rewritten = list(facts)
    for name, b in steps:
        mapping = {name: b * Dim.sym(f"{name}_over_{abs(hash(b._key)) % 10**6}")}
        cond = cond.substitute(mapping)
        rewritten = [f.substitute(mapping) for f in rewritten]
        extra = [e.substitute(mapping) for e in extra] + [b.ge(1)]
    return cond.decide([*rewritten, *extra])


class AssumingAlgebra(SymbolicAlgebra):
    """:class:`SymbolicAlgebra` whose decisions also use divisibility facts
    (:func:`decide_under`): with ``D % H == 0`` known, ``H*(D//H) == D`` holds."""

    name = "symbolic+facts"

    def _decide(self, cond: Cond) -> bool | None:
        return decide_under(cond, self.facts)


# -- matching shapes against specs -------------------------------------------------------------
class ShapeMismatch(Exception):
    """A shape does not match its spec; ``message`` says where and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


V = TypeVar("V")


def _show(shape: Sequence[Any]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _static_equal(a: Any, b: Any) -> bool | None:
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return Dim.of(a).eq(Dim.of(b)).decide()


def _static_eval(expr: Dim, bindings: Mapping[str, Any]) -> Any:
    if not expr.free_symbols() <= bindings.keys():
        return None
    out = expr.substitute({k: v for k, v in bindings.items() if isinstance(v, (int, Dim))})
    return out.as_int() if out.is_constant else out


def _int_eval(expr: Dim, bindings: Mapping[str, Any]) -> Any:
    if not expr.free_symbols() <= bindings.keys():
        return None
    return expr.evaluate({k: v for k, v in bindings.items() if isinstance(v, int)})


def bind_shapes(
    entries: Sequence[tuple[str, tuple[DimItem, ...], Sequence[Any] | None]],
    *,
    symbolic: bool = False,
    bindings: dict[str, Any] | None = None,
    facts: Sequence[Cond] = (),
    undecided: list[str] | None = None,
) -> dict[str, Any]:
    """Match each ``(argument name, dims, actual shape)`` and bind names across all of them.

    Names used alone (``B``) bind on first use, in argument order; expressions (``T*C``) are
    checked once every name in them is bound. With ``symbolic`` the actual sizes are Dims or
    ints and a comparison that structure cannot decide passes (the verifier's job), so only a
    provably wrong shape raises; ``facts`` are used when deciding (:func:`decide_under`) and
    each undecided comparison is appended to ``undecided`` (as ``"D == 64"``) when given.
    A ``None`` shape (unknown) is skipped. Raises
    :class:`ShapeMismatch` naming the argument, both shapes and the conflicting binding.
    Returns the bindings (name -> size, ``*name`` -> tuple of sizes, and ``"@name"`` -> the
    argument that bound it).
    """
    def symbolic_equal(a: Any, b: Any) -> bool | None:
        if isinstance(a, int) and isinstance(b, int):
            return a == b
        cond = Dim.of(a).eq(Dim.of(b))
        verdict = decide_under(cond, facts)
        if verdict is None and undecided is not None and str(cond) not in undecided:
            undecided.append(str(cond))
        return verdict

    equal: Callable[[Any, Any], bool | None] = (
        symbolic_equal if symbolic else (lambda a, b: a == b))
    evaluate = _static_eval if symbolic else _int_eval
    bound: dict[str, Any] = {} if bindings is None else bindings
    aligned: list[tuple[str, tuple[DimItem, ...], list[tuple[DimItem, Any]]]] = []

    def fail(arg: str, dims: tuple[DimItem, ...], shape: Sequence[Any], why: str) -> ShapeMismatch:
        return ShapeMismatch(f"{arg} has shape {_show(shape)}, expected "
                             f"{_show([str(d) for d in dims])} ({why})")

    # Pass 1: ranks, variadics and names used alone.
    for arg, dims, shape in entries:
        if shape is None:
            continue
        shape = tuple(shape)
        fixed = [d for d in dims if d.kind != "variadic"]
        var_at = next((i for i, d in enumerate(dims) if d.kind == "variadic"), None)
        if var_at is None and len(shape) != len(dims):
            raise fail(arg, dims, shape, f"{len(shape)} dims, expected {len(dims)}")
        if var_at is not None and len(shape) < len(fixed):
            raise fail(arg, dims, shape,
                       f"{len(shape)} dims, expected at least {len(fixed)}")
        pairs: list[tuple[DimItem, Any]] = []
        if var_at is None:
            pairs = list(zip(dims, shape))
        else:
            n_tail = len(dims) - var_at - 1
            head, middle = shape[:var_at], shape[var_at:len(shape) - n_tail]
            tail = shape[len(shape) - n_tail:]
            pairs = list(zip(dims[:var_at], head)) + list(zip(dims[var_at + 1:], tail))
            name = dims[var_at].name
            if name is not None:
                key = "*" + name
                if key in bound:
                    old = bound[key]
                    same = len(old) == len(middle) and all(
                        equal(a, b) is not False for a, b in zip(old, middle))
                    if not same:
                        raise fail(arg, dims, shape, f"*{name} was {_show(old)} from "
                                   f"{bound['@' + key]}, got {_show(middle)} in {arg}")
                else:
                    bound[key], bound["@" + key] = tuple(middle), arg
        for item, size in pairs:
            name = item.symbol
            if name is None:
                continue
            if name in bound:
                if equal(bound[name], size) is False:
                    raise fail(arg, dims, shape, f"{name} was {bound[name]} from "
                               f"{bound['@' + name]}, got {size} in {arg}")
            else:
                bound[name], bound["@" + name] = size, arg
        aligned.append((arg, dims, pairs))
    # Pass 2: constants and expressions, now that every name that can be bound is.
    for arg, dims, pairs in aligned:
        for i, (item, size) in enumerate(pairs):
            if item.kind != "dim" or item.symbol is not None:
                continue
            assert item.dim is not None
            want = evaluate(item.dim, bound)
            if want is not None and equal(want, size) is False:
                shape = next(s for a, _, s in entries if a == arg)
                names = sorted(item.dim.free_symbols())
                via = ", ".join(f"{n}={bound[n]} from {bound['@' + n]}" for n in names)
                if item.dim.is_constant:
                    why = f"dim {i} is {size}, expected {want}"
                else:
                    why = f"{item.dim} is {want}" + (f" with {via}" if via else "") + \
                          f", got {size}"
                raise fail(arg, dims, tuple(shape or ()), why)
    return bound


def instantiate(dims: tuple[DimItem, ...], bindings: Mapping[str, Any],
                symbolic: bool = True) -> tuple[Any, ...] | None:
    """The shape ``dims`` describes under ``bindings``; None when some part is not bound."""
    evaluate = _static_eval if symbolic else _int_eval
    out: list[Any] = []
    for item in dims:
        if item.kind == "anon":
            return None
        if item.kind == "variadic":
            if item.name is None or "*" + item.name not in bindings:
                return None
            out.extend(bindings["*" + item.name])
            continue
        assert item.dim is not None
        value = evaluate(item.dim, bindings)
        if value is None:
            return None
        out.append(value)
    return tuple(out)


# -- runtime checking --------------------------------------------------------------------------
def _specs_in(hint: Any) -> tuple[TensorSpec | None, bool]:
    """The TensorSpec inside an annotation (through Optional/Union), and whether None is ok."""
    if typing.get_origin(hint) is typing.Annotated:
        spec = next((m for m in hint.__metadata__ if isinstance(m, TensorSpec)), None)
        return spec, False
    if typing.get_origin(hint) in (Union, _pytypes.UnionType):
        allows_none = type(None) in typing.get_args(hint)
        for arg in typing.get_args(hint):
            spec, _ = _specs_in(arg)
            if spec is not None:
                return spec, allows_none
    return None, hint is None or hint is type(None)


F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)


@dataclass(frozen=True)
class ClassDims:
    """What :func:`dims` declared for a class: its instance-wide dim names and its facts."""

    names: tuple[str, ...]
    facts: tuple[Cond, ...]


_INSTANCE_KEY = "_nr_types_dims"


def _instance_bindings(obj: Any) -> dict[str, Any] | None:
    """The per-instance bindings of a class's dims (kept in the instance's ``__dict__``,
    bypassing ``__setattr__`` so ``nn.Module`` does not see them); None without a dict."""
    store = getattr(obj, "__dict__", None)
    if not isinstance(store, dict):
        return None
    found = store.get(_INSTANCE_KEY)
    if found is None:
        found = store[_INSTANCE_KEY] = {}
    return typing.cast("dict[str, Any]", found)


def _check_facts(where: str, facts: Sequence[Cond], bound: Mapping[str, Any]) -> None:
    for fact in facts:
        names = sorted(fact.free_symbols())
        if not all(isinstance(bound.get(n), int) for n in names):
            continue
        if not fact.interpret(CONCRETE, lambda n: bound[n]):
            via = ", ".join(f"{n}={bound[n]} from {bound['@' + n]}" for n in names)
            raise ShapeError(f"{where}: assumption {fact} does not hold ({via})")


def check(fn: F) -> F:
    """Check a function's shape- and dtype-annotated arguments and return value at each call.

    Dims bind across all arguments and the return value of one call: ``B`` in ``x`` and ``B``
    in ``mask`` must be the same size. Raises :class:`ShapeError` naming the function, the
    argument, the expected and actual shapes and the binding that conflicts
    (``B was 32 from x, got 16 in mask``), and :class:`DTypeError` for a wrong dtype.
    Methods of a class decorated with :func:`dims` also share that class's dims.

    Example:
        >>> import neurarust as nr
        >>> from neurarust.types import Float32, check
        >>> @check
        ... def f(x: Float32[nr.Tensor, "B 3"]) -> Float32[nr.Tensor, "B"]:
        ...     return x.sum(1)
        >>> f(nr.zeros(2, 3)).shape
        (2,)
    """
    return _checked(fn, None)


def dims(names: str = "", *, assume: str | Sequence[str] = ()) -> Callable[[C], C]:
    """Declare dims shared by every method of a class, and facts about them.

    ``@dims("D H", assume="D % H == 0")`` on a class (an ``nn.Module`` or any class) means:
    ``D`` and ``H`` name the same sizes in every shape annotation of the class's methods, for
    one instance (the first checked call binds them, later calls of any method must agree:
    ``D was 64 from x in Attention.forward, got 32 in x``), and ``D % H == 0`` holds (checked
    at run time once both are bound; used by the mypy plugin, so ``H*(D//H)`` equals ``D``).
    Other names (``B``, ``T``) stay per call. Every method with shaped annotations is checked
    as :func:`check` does (no need to decorate them too); static and class methods are left
    as they are. ``assume`` holds comparisons separated by ``,`` or ``and`` (or a list).
    """
    declared = tuple(names.split())
    for name in declared:
        if not name.isidentifier():
            raise ValueError(f"dims: bad dim name {name!r} in {names!r}")
    spec = ClassDims(declared, parse_facts(assume))

    def decorate(cls: C) -> C:
        cls.__nr_dims__ = spec  # type: ignore[attr-defined]
        for attr, value in list(vars(cls).items()):
            if not inspect.isfunction(value):
                continue
            original = getattr(value, "__nr_checked__", value)
            if getattr(value, "__nr_checked__", None) is not None or _has_specs(original):
                setattr(cls, attr, _checked(original, spec))
        return cls

    return decorate


def _has_specs(fn: Callable[..., Any]) -> bool:
    try:
        raw = typing.get_type_hints(fn, include_extras=True)
    except (NameError, TypeError, AttributeError):  # forward references that do not resolve yet: check lazily anyway
        return bool(getattr(fn, "__annotations__", None))
    return any(_specs_in(h)[0] is not None for h in raw.values())


def _checked(fn: F, class_dims: ClassDims | None) -> F:
    sig = inspect.signature(fn)
    hints: dict[str, tuple[TensorSpec, bool]] | None = None
    where = getattr(fn, "__qualname__", getattr(fn, "__name__", "function"))
    facts = class_dims.facts if class_dims is not None else ()

    def load() -> dict[str, tuple[TensorSpec, bool]]:
        raw = typing.get_type_hints(fn, include_extras=True)
        out = {}
        for name, hint in raw.items():
            spec, allows_none = _specs_in(hint)
            if spec is not None:
                out[name] = (spec, allows_none)
        return out

    def check_value(label: str, value: Any, spec: TensorSpec, allows_none: bool) -> bool:
        if value is None and allows_none:
            return False
        if isinstance(spec.array_type, type) and not isinstance(value, spec.array_type):
            raise TypeError(f"{where}: {label} must be a {spec.array_type.__name__}, got "
                            f"{type(value).__name__}")
        dtype = getattr(getattr(value, "dtype", None), "name", None)
        if spec.dtypes is not None and dtype not in spec.dtypes:
            raise DTypeError(f"{where}: {label} has dtype {dtype}, expected {spec.kind} "
                             f"({' or '.join(sorted(spec.dtypes))})")
        return True

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal hints
        if hints is None:
            hints = load()
        call = sig.bind(*args, **kwargs)
        shared = _instance_bindings(args[0]) if class_dims is not None and args else None
        start: dict[str, Any] = {}
        if shared is not None:
            start = dict(shared)
        entries = []
        for name, value in call.arguments.items():
            if name in hints and name != "return":
                spec, allows_none = hints[name]
                if check_value(name, value, spec, allows_none):
                    entries.append((name, spec.dims, tuple(value.shape)))
        try:
            bound = bind_shapes(entries, bindings=start)
        except ShapeMismatch as err:
            raise ShapeError(f"{where}: {err.message}") from None
        _check_facts(where, facts, bound)
        out = fn(*args, **kwargs)
        if "return" in hints:
            spec, allows_none = hints["return"]
            if check_value("return value", out, spec, allows_none):
                try:
                    bind_shapes([("return value", spec.dims, tuple(out.shape))],
                                bindings=bound)
                except ShapeMismatch as err:
                    raise ShapeError(f"{where}: {err.message}") from None
                _check_facts(where, facts, bound)
        if shared is not None and class_dims is not None:
            for name in class_dims.names:
                if name in bound and name not in shared:
                    shared[name] = bound[name]
                    shared["@" + name] = f"{bound['@' + name]} in {where}"
        return out

    wrapper.__nr_checked__ = fn  # type: ignore[attr-defined]
    return typing.cast(F, wrapper)
