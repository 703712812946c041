"""Budgets for importing and running an ONNX file that may be hostile.

A few hundred bytes of ONNX can ask for hours of work or terabytes of memory: two nested
``Loop`` s of 65,536 trips, four ``Range`` s of 2^28 elements, an initializer with millions of
dims (whose element count is a million-digit number). Per-node caps do not stop these, so the
importer keeps one :class:`Meter` per load and one per run of the imported model, and every
place where work happens draws on it:

- **elements**: every element materialised (initializers, constants and tensor attributes at
  load; every node result, host-folded sizes and loop-carried values at each run) is counted,
  and a result is refused *before* it is allocated when it would not fit in what is left
  (the ops' shape rules give the size first, see :func:`guard`);
- **trips**: every executed iteration of a ``Loop`` or ``Scan``, nested ones included, counts
  once, for the whole run (two nested loops of n trips cost n * n), and so does every step of
  an importer's own Python loop over a size read from the data (RNN time steps, ...);
- **node runs**: every node executed, inside loop bodies too (a cheap 10,000-node body
  repeated by a loop is as much work as a big graph);
- **shapes and attributes read from the file**: rank, dims, element counts and list lengths
  are checked before anything is computed from them (products stop growing at the limit,
  so no million-digit integer is ever built); size-like attributes (``strides``, ``pads``,
  ...) are bounded so no Python int overflows a C long downstream.

The defaults (:data:`DEFAULT_LIMITS`) fit every model the test-suite and the ONNX backend
cases import; a trusted big model passes its own ``nr.onnx.load(path, limits=
ImportLimits(max_elements=...))``. Exceeding a budget is an :class:`OnnxImportError` naming
the node (or the initializer/attribute) and the limit.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_LIMITS",
    "BudgetExceeded",
    "ImportLimits",
    "Meter",
    "capped_product",
    "current",
    "metering",
]


@dataclass(frozen=True)
class ImportLimits:
    """What one load and one run of an imported ONNX model may cost (see the module doc).

    Attributes:
        max_file_bytes: the largest file (protobuf's own limit is 2 GiB).
        max_elements: elements materialised by one load (initializers, constants), and again
            by one run (every node result, loop iterations included); 2^27 is 1 GiB at 8
            bytes per element.
        max_trips: executed ``Loop``/``Scan`` iterations in one run, all loops together.
        max_node_runs: nodes executed in one run, loop bodies included.
        max_nodes: nodes in the file, subgraphs included.
        max_rank: dims of any shape read from the file (tensors, value infos, shape inputs).
        max_attr_values: entries of one list attribute.
        max_check_seconds: wall-clock limit of onnx's checker (run in a child process).
    """

    max_file_bytes: int = 2 << 30
    max_elements: int = 1 << 27
    max_trips: int = 1 << 16
    max_node_runs: int = 1 << 20
    max_nodes: int = 1 << 18
    max_rank: int = 32
    max_attr_values: int = 1 << 16
    max_check_seconds: float = 60.0


DEFAULT_LIMITS = ImportLimits()


class BudgetExceeded(Exception):
    """A budget of :class:`ImportLimits` ran out (turned into ``OnnxImportError`` naming the
    node by the importer)."""


def capped_product(values: Sequence[int], cap: int) -> int:
    """The product of non-negative ``values``, or ``cap + 1`` as soon as it exceeds ``cap``
    (so a shape of a million dims never builds a million-digit integer)."""
    total = 1
    for v in values:
        total *= int(v)
        if total > cap:
            return 0 if any(int(w) == 0 for w in values) else cap + 1
    return total


class Meter:
    """The running cost of one load or one run against its :class:`ImportLimits`."""

    __slots__ = ("elements", "limits", "node_runs", "phase", "trips")

    def __init__(self, limits: ImportLimits, phase: str) -> None:
        self.limits = limits
        self.phase = phase
        self.elements = 0
        self.trips = 0
        self.node_runs = 0

    def _over(self, what: str, n: int, used: int, limit: int, field: str) -> BudgetExceeded:
        shown = f"{n}" if n <= limit else f"more than {limit}"
        return BudgetExceeded(f"{what}: {shown} more element(s) on top of the {used} this "
                              f"{self.phase} has materialised is over the import limit "
                              f"{field}={limit}"
                              if field == "max_elements" else
                              f"{what}: over the import limit {field}={limit} for one "
                              f"{self.phase}")

    def room(self, n: int, what: str) -> None:
        """Refuse, before allocating, ``n`` elements that would not fit in what is left."""
        if self.elements + n > self.limits.max_elements:
            raise self._over(what, n, self.elements, self.limits.max_elements, "max_elements")

    def count(self, n: int, what: str) -> None:
        """Count ``n`` materialised elements."""
        self.room(n, what)
        self.elements += n

    def trip(self, what: str) -> None:
        """Count one executed loop iteration."""
        self.trips += 1
        if self.trips > self.limits.max_trips:
            raise self._over(what, 1, self.trips, self.limits.max_trips, "max_trips")

    def node_run(self, what: str) -> None:
        """Count one executed node."""
        self.node_runs += 1
        if self.node_runs > self.limits.max_node_runs:
            raise self._over(what, 1, self.node_runs, self.limits.max_node_runs,
                             "max_node_runs")

    def shape(self, shape: Iterable[Any], what: str) -> int:
        """The element count of ``shape``, refused when over the room left (0 when a size is
        still symbolic: tracing materialises nothing)."""
        dims = list(shape)
        if not all(isinstance(d, int) for d in dims):
            from ..trace.dims import plain
            from ..types.dim import Dim

            dims = [plain(d) for d in dims]
            if any(isinstance(d, Dim) and not d.is_constant for d in dims):
                return 0
            dims = [d.as_int() if isinstance(d, Dim) else int(d) for d in dims]
        if len(dims) > self.limits.max_rank:
            raise BudgetExceeded(f"{what}: rank {len(dims)} is over the import limit "
                                 f"max_rank={self.limits.max_rank}")
        n = capped_product(dims, self.limits.max_elements)
        self.room(n, what)
        return n


_ACTIVE: contextvars.ContextVar[Meter | None] = contextvars.ContextVar("onnx_meter",
                                                                      default=None)


def current() -> Meter:
    """The meter of the load or run in progress (a fresh default one outside of them)."""
    meter = _ACTIVE.get()
    return meter if meter is not None else Meter(DEFAULT_LIMITS, "call")


_users = 0
_users_lock = threading.Lock()


class metering:
    """``with metering(meter):`` makes ``meter`` current (in this thread/context), and guards
    every op's result size while any run is metered (the registered ops' shape rules run
    before their kernels; see ``_dispatch``); outside runs the dispatcher pays nothing."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self._token: contextvars.Token[Meter | None] | None = None

    def __enter__(self) -> Meter:
        global _users
        from .. import _dispatch

        self._token = _ACTIVE.set(self.meter)
        with _users_lock:
            _users += 1
            _dispatch._size_guard = guard
        return self.meter

    def __exit__(self, *exc: object) -> None:
        global _users
        from .. import _dispatch

        with _users_lock:
            _users -= 1
            if _users == 0:
                _dispatch._size_guard = None
        assert self._token is not None
        _ACTIVE.reset(self._token)


def guard(op_name: str, shape: tuple[int, ...]) -> None:
    """Called by the dispatcher with each op's result shape before its kernel runs."""
    meter = _ACTIVE.get()
    if meter is None:
        return
    cap = meter.limits.max_elements
    if shape and isinstance(shape[0], (tuple, list)):  # an op with several results
        n = min(sum(capped_product(s, cap) for s in shape), cap + 1)
    else:
        n = capped_product(shape, cap)
    if meter.elements + n > cap:
        raise BudgetExceeded(f"{op_name} would make a result of shape {list(shape)} ({n} "
                             f"elements{'+' if n > meter.limits.max_elements else ''}), over "
                             f"what is left of the import limit max_elements="
                             f"{meter.limits.max_elements} ({meter.elements} used)")


def walk_graphs(graph: Any) -> Iterator[Any]:
    """``graph`` and every subgraph of its nodes' attributes, depth first."""
    stack = [graph]
    while stack:
        g = stack.pop()
        yield g
        for node in g.node:
            for a in node.attribute:
                if a.HasField("g"):
                    stack.append(a.g)
                stack.extend(a.graphs)


SIZE_ATTRS = frozenset({"kernel_shape", "strides", "dilations", "pads", "output_padding",
                        "output_shape", "group", "blocksize", "size", "sizes", "shape",
                        "num_outputs", "depth", "k", "hidden_size", "block_size"})
"""Integer attributes that become sizes or strides: bounded by ``max_elements`` in magnitude,
so arithmetic on them stays small (``strides=[2**62, 1]`` overflowed a C long)."""

AXIS_ATTRS = frozenset({"axis", "axes", "perm", "batch_axis", "time_axis", "scan_input_axes",
                        "scan_output_axes"})
"""Integer attributes that name dims: within ``[-max_rank, max_rank]`` (onnx's own shape
inference crashed on ``LayerNormalization`` with ``axis=2**63-1``)."""


def _type_shape(tp: Any, what: str, limits: ImportLimits) -> None:
    """A declared type (value info, graph input/output): rank and dims within the limits."""
    for _ in range(64):  # sequence/optional/map types nest their element type
        kind = tp.WhichOneof("value")
        if kind in ("tensor_type", "sparse_tensor_type"):
            t = getattr(tp, kind)
            if not t.HasField("shape"):
                return
            dims = t.shape.dim
            if len(dims) > limits.max_rank:
                raise BudgetExceeded(f"{what}: declared rank {len(dims)} is over the import "
                                     f"limit max_rank={limits.max_rank}")
            for d in dims:
                if d.HasField("dim_value") and not 0 <= d.dim_value <= limits.max_elements:
                    raise BudgetExceeded(f"{what}: declared dim {d.dim_value} is outside "
                                         f"[0, max_elements={limits.max_elements}]")
            return
        if kind == "sequence_type":
            tp = tp.sequence_type.elem_type
        elif kind == "optional_type":
            tp = tp.optional_type.elem_type
        elif kind == "map_type":
            tp = tp.map_type.value_type
        else:
            return
    raise BudgetExceeded(f"{what}: its type nests too deeply")


def _tensor(t: Any, what: str, meter: Meter, external: int) -> None:
    """A tensor stored in the file: rank, dims and element count within the limits (counted
    into the load meter), no external data."""
    if t.data_location == external or len(t.external_data):
        raise BudgetExceeded(f"{what} {t.name!r} uses external data, which load() never reads "
                             "(save the model with its weights inside)")
    if len(t.dims) > meter.limits.max_rank:
        raise BudgetExceeded(f"{what} {t.name!r}: rank {len(t.dims)} is over the import limit "
                             f"max_rank={meter.limits.max_rank}")
    dims = list(t.dims)
    if any(d < 0 for d in dims):
        raise BudgetExceeded(f"{what} {t.name!r} has negative dims {dims}")
    n = capped_product(dims, meter.limits.max_elements)
    if n > meter.limits.max_elements:
        raise BudgetExceeded(f"{what} {t.name!r}: dims {dims} hold more than the import limit "
                             f"max_elements={meter.limits.max_elements} elements")
    meter.count(n, f"{what} {t.name!r} (dims {dims})")


def check_proto(model: Any, limits: ImportLimits) -> Meter:
    """Every shape, tensor and attribute that the file declares, checked against ``limits``
    before anything else reads them (linear in the file's size); returns the load meter
    with the file's tensors counted."""
    import onnx

    meter = Meter(limits, "load")
    external = onnx.TensorProto.EXTERNAL
    nodes = 0
    for g in walk_graphs(model.graph):
        for t in g.initializer:
            _tensor(t, "initializer", meter, external)
        for st in g.sparse_initializer:
            _tensor(st.values, "sparse initializer values", meter, external)
            _tensor(st.indices, "sparse initializer indices", meter, external)
        for vi in (*g.input, *g.output, *g.value_info):
            _type_shape(vi.type, f"value {vi.name!r}", limits)
        for node in g.node:
            nodes += 1
            if nodes > limits.max_nodes:
                raise BudgetExceeded(f"the model has more than max_nodes={limits.max_nodes} "
                                     "nodes (subgraphs included)")
            label = f"{node.op_type} node {node.name or node.op_type!r}"
            for a in node.attribute:
                where = f"{label}: attribute {a.name!r}"
                if a.HasField("t"):
                    _tensor(a.t, where + " tensor", meter, external)
                for t in a.tensors:
                    _tensor(t, where + " tensor", meter, external)
                sparse = [*a.sparse_tensors, *([a.sparse_tensor] if a.HasField("sparse_tensor")
                                               else [])]
                for st in sparse:
                    _tensor(st.values, where + " sparse values", meter, external)
                    _tensor(st.indices, where + " sparse indices", meter, external)
                if a.HasField("tp"):
                    _type_shape(a.tp, where, limits)
                n = len(a.ints) + len(a.floats) + len(a.strings) + len(a.tensors) + \
                    len(a.graphs) + len(a.sparse_tensors) + len(a.type_protos)
                if node.op_type == "Constant" and n:
                    meter.count(n, where)
                elif n > limits.max_attr_values:
                    raise BudgetExceeded(f"{where} has {n} values, over the import limit "
                                         f"max_attr_values={limits.max_attr_values}")
                bound = (limits.max_elements if a.name in SIZE_ATTRS else
                         limits.max_rank if a.name in AXIS_ATTRS else None)
                if bound is not None:
                    values = [*a.ints, a.i] if a.HasField("i") else list(a.ints)
                    bad = [v for v in values if abs(v) > bound]
                    if bad:
                        field = "max_elements" if bound == limits.max_elements else "max_rank"
                        raise BudgetExceeded(f"{where}: value {bad[0]} is outside "
                                             f"[-{bound}, {bound}] (the import limit {field})")
    return meter
