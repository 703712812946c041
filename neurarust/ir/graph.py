"""``ir.Graph``: what a traced model *is*, the single hand-off to verify, export and compile.

A graph has

- **inputs**: named values with symbolic shapes (tuples of :class:`~neurarust.types.dim.Dim`)
  and dtypes, e.g. ``x: f32[B, 1, 28, 28]``;
- **constants**: named values that hold data, the model's parameters and buffers by their
  ``named_parameters`` names (``features.0.weight``), plus any other tensor the model used;
- **nodes**: one per registry op application, in execution order: the op name, its inputs
  (value names, Python scalars or None, in the op's positional order), its attrs, its output
  value (symbolic shape + dtype), the user source line that called it (``model.py:23``), the
  module scope (``features.0``), and the requirements its shape rule stated that tracing
  could not decide (:class:`~neurarust.types.symbolic.Obligation`, proven later by ``verify``);
- **outputs**: names of the values the model returns.

Value names are strings: inputs keep the user's names, constants their parameter names, and
node outputs are ``%0``, ``%1``, ... A node input that is not a string is a literal.

The graph is plain data: it imports the registry only in :meth:`Graph.check` (to confirm
each op exists and re-derive each node's shape and dtype from its rule).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

from ..types.cond import Cond
from ..types.dim import Dim
from ..types.dtype import DType
from ..types.format import format_shape
from ..types.symbolic import Obligation

__all__ = ["Constant", "Graph", "GraphError", "Input", "Literal", "Node", "NodeInput", "Value"]

Literal = Union[int, float, bool, None]
"""A node input that is not a graph value: a Python scalar operand, or None (an absent
optional input, such as a bias)."""
NodeInput = Union[str, int, float, bool, None]
"""A node input: a value name (str) or a :data:`Literal`."""


class GraphError(ValueError):
    """A graph is not well formed; the message lists every problem found."""


@dataclass(frozen=True)
class Value:
    """A named value's type: symbolic shape and dtype."""

    name: str
    shape: tuple[Dim, ...]
    dtype: DType

    @property
    def type_str(self) -> str:
        """``f32[B, 10]``."""
        return format_shape(self.shape, self.dtype)


@dataclass(frozen=True)
class Input(Value):
    """A graph input (a model argument)."""


@dataclass(frozen=True)
class Constant(Value):
    """A value with data: a parameter (``kind="parameter"``), a buffer, or another tensor
    the model used (``kind="tensor"``). ``data`` is the numpy array (not copied)."""

    data: Any = field(default=None, compare=False, repr=False)
    kind: str = "parameter"


@dataclass(frozen=True)
class Node:
    """One registry op application; see the module docstring."""

    op: str
    inputs: tuple[NodeInput, ...]
    attrs: dict[str, Any]
    output: Value
    source: str = "<unknown>"
    scope: str = ""
    obligations: tuple[Obligation[Cond], ...] = ()

    def input_names(self) -> list[str]:
        """The value names among the inputs (literals left out)."""
        return [x for x in self.inputs if isinstance(x, str)]

    def __str__(self) -> str:
        args = [x if isinstance(x, str) else repr(x) for x in self.inputs]
        args += [f"{k}={_attr_str(v)}" for k, v in self.attrs.items()]
        where = f"  # {self.source}" + (f" ({self.scope})" if self.scope else "")
        return f"{self.output.name}: {self.output.type_str} = {self.op}({', '.join(args)}){where}"


def _attr_str(v: Any) -> str:
    if isinstance(v, DType):
        return v.name
    if isinstance(v, tuple):
        return "(" + ", ".join(_attr_str(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    return str(v) if isinstance(v, Dim) else repr(v)


@dataclass
class Graph:
    """A traced model; see the module docstring. Build it with ``nr.trace``."""

    name: str = "graph"
    inputs: list[Input] = field(default_factory=list)
    constants: dict[str, Constant] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    min_size: int | None = 1
    """Every named dim is at least this (what tracing assumed when deciding requirements)."""

    # -- reading ------------------------------------------------------------------------------
    def values(self) -> dict[str, Value]:
        """Every named value (inputs, constants, node outputs), by name."""
        out: dict[str, Value] = {v.name: v for v in self.inputs}
        out.update(self.constants)
        out.update((n.output.name, n.output) for n in self.nodes)
        return out

    def value(self, name: str) -> Value:
        """The value named ``name``; KeyError when there is none."""
        try:
            return self.values()[name]
        except KeyError:
            raise KeyError(f"graph {self.name!r} has no value named {name!r}") from None

    @property
    def output_values(self) -> list[Value]:
        values = self.values()
        return [values[n] for n in self.outputs]

    def obligations(self) -> Iterator[tuple[Node, Obligation[Cond]]]:
        """Every undecided requirement with the node that stated it, in graph order."""
        for node in self.nodes:
            for ob in node.obligations:
                yield node, ob

    def symbols(self) -> list[str]:
        """The named dims of the inputs, in order of first appearance."""
        out: list[str] = []
        for v in self.inputs:
            for d in v.shape:
                for s in sorted(d.free_symbols()):
                    if s not in out:
                        out.append(s)
        return out

    def ops(self) -> list[str]:
        """The op name of each node, in order."""
        return [n.op for n in self.nodes]

    # -- well-formedness ----------------------------------------------------------------------
    def check(self, *, rules: bool = True) -> None:
        """Raise :class:`GraphError` listing every problem, or return None.

        Checked: names are unique; every node input and output refers to a value defined
        before it (inputs and constants first, then node outputs in order); constants'
        shapes are concrete and match their data; every op exists in the registry; and, with
        ``rules``, each node's recorded shape and dtype are what its op's rules give for its
        inputs (the symbolic algebra; a node cannot drift from the registry).
        """
        problems: list[str] = []
        defined: dict[str, Value] = {}
        for v in [*self.inputs, *self.constants.values()]:
            if v.name in defined:
                problems.append(f"value {v.name!r} is defined twice")
            defined[v.name] = v
        for name, c in self.constants.items():
            if name != c.name:
                problems.append(f"constant stored under {name!r} is named {c.name!r}")
            if not all(d.is_constant for d in c.shape):
                problems.append(f"constant {c.name!r} has a symbolic shape {c.type_str}")
            elif c.data is not None and tuple(c.data.shape) != tuple(d.as_int() for d in c.shape):
                problems.append(f"constant {c.name!r}: data shape {tuple(c.data.shape)} "
                                f"differs from its type {c.type_str}")
        from ..ops.registry import _REGISTRY

        for i, node in enumerate(self.nodes):
            where = f"node {i} ({node.op} at {node.source})"
            for x in node.inputs:
                if isinstance(x, str) and x not in defined:
                    problems.append(f"{where}: input {x!r} is not defined before it")
                elif not isinstance(x, (str, int, float, bool)) and x is not None:
                    problems.append(f"{where}: input {x!r} is neither a value name nor a literal")
            op = _REGISTRY.get(node.op)
            if op is None:
                problems.append(f"{where}: no registered op named {node.op!r}")
            elif rules and all(not isinstance(x, str) or x in defined for x in node.inputs):
                problem = _recheck(op, node, defined)
                if problem:
                    problems.append(f"{where}: {problem}")
            if node.output.name in defined:
                problems.append(f"{where}: output {node.output.name!r} redefines a value")
            defined[node.output.name] = node.output
        for name in self.outputs:
            if name not in defined:
                problems.append(f"output {name!r} is not a value of the graph")
        if problems:
            raise GraphError(f"graph {self.name!r} is not well formed:\n  " + "\n  ".join(problems))

    # -- printing -----------------------------------------------------------------------------
    def __str__(self) -> str:
        ins = ", ".join(f"{v.name}: {v.type_str}" for v in self.inputs)
        outs = ", ".join(f"{v.name}: {v.type_str}" for v in self.output_values)
        lines = [f"graph {self.name}({ins}) -> ({outs})"]
        if self.constants:
            lines.append(f"  constants ({len(self.constants)}):")
            lines += [f"    {c.name}: {c.type_str}" + ("" if c.kind == "parameter" else f"  [{c.kind}]")
                      for c in self.constants.values()]
        lines.append(f"  nodes ({len(self.nodes)}):")
        for node in self.nodes:
            lines.append(f"    {node}")
            lines += [f"      requires {ob.condition}  ({ob.message})" for ob in node.obligations]
        lines.append(f"  return {', '.join(self.outputs)}")
        return "\n".join(lines)

    def summary(self) -> str:
        """One line: inputs, node count, constants, undecided requirements."""
        n_ob = sum(1 for _ in self.obligations())
        return (f"graph {self.name}: {len(self.inputs)} inputs, {len(self.constants)} constants, "
                f"{len(self.nodes)} nodes, {n_ob} undecided requirements")


def _recheck(op: Any, node: Node, defined: dict[str, Value]) -> str | None:
    """The node's shape and dtype re-derived from its op's rules; a problem string or None."""
    from .._dispatch import _scalar_dtypes
    from ..types.dtype import promote_types
    from ..types.errors import RuleViolation, UndecidedShape
    from ..types.symbolic import SymbolicAlgebra

    shapes: list[Any] = []
    dtypes: list[Any] = []
    for x in node.inputs:
        if isinstance(x, str):
            shapes.append(defined[x].shape)
            dtypes.append(defined[x].dtype)
        else:
            shapes.append(None if x is None else ())
            dtypes.append(None)
    try:
        shape = tuple(Dim.of(d) for d in op.shape(SymbolicAlgebra(), *shapes, **node.attrs))
        tensors = [d for d in dtypes if d is not None]
        if not tensors:
            return "has no tensor input"
        if any(d is None and x is not None for d, x in zip(dtypes, node.inputs)):
            common = tensors[0]
            for d in tensors[1:]:
                common = promote_types(common, d)
            dtype = op.dtype(*_scalar_dtypes(op, _Typed.wrap(node.inputs, dtypes), common),
                             **node.attrs)
        else:
            dtype = op.dtype(*dtypes, **node.attrs)
    except (RuleViolation, UndecidedShape, TypeError, ValueError) as err:
        return f"its rule fails on the recorded inputs: {err}"
    if shape != node.output.shape:
        return (f"recorded shape {format_shape(node.output.shape)} but the rule gives "
                f"{format_shape(shape)}")
    if dtype is not node.output.dtype:
        return f"recorded dtype {node.output.dtype.name} but the rule gives {dtype.name}"
    return None


class _Typed:
    """Stands in for a tensor input when re-running the dispatcher's scalar dtype logic."""

    def __init__(self, dtype: DType) -> None:
        self.dtype = dtype

    @staticmethod
    def wrap(inputs: Sequence[NodeInput], dtypes: Sequence[DType | None]) -> tuple[Any, ...]:
        from ..tensor import Tensor

        out: list[Any] = []
        for x, d in zip(inputs, dtypes):
            if d is None:
                out.append(x)
            else:
                t = object.__new__(Tensor)
                t.dtype = d
                out.append(t)
        return tuple(out)
