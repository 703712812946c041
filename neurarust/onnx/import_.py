"""``nr.onnx.load``: an ONNX file as an ``nn.Module`` that runs on neurarust's registered ops.

Float initializers become :class:`~neurarust.nn.Parameter` s (so the model can be fine-tuned),
integer and bool ones buffers; ``Constant`` nodes are evaluated once, at load time, into
buffers. ``forward`` takes the graph inputs in order (numpy arrays are accepted too) and runs
the nodes in topological order through the import table in :mod:`._importers`, one entry per
ONNX op type mapping onto the public functions: every imported model differentiates and
traces through the same op declarations as hand-written ones.

Size arithmetic (``Shape -> Gather -> Concat -> Reshape``) is folded on the host by
:mod:`._host`, with symbolic dims while tracing, so an imported model with a dynamic batch
traces with ``B`` symbolic. Subgraph attributes (``If``/``Loop``/``Scan``) are compiled with
the model. The importers live in ``_importers`` (the core table) and ``_import_*`` (one
module per family).

Loading parses the protobuf only; it never executes code, never reads external-data files
named inside the model, and turns malformed, truncated or hostile files into
:class:`OnnxImportError`: every shape, tensor and attribute the file declares is checked
against :class:`ImportLimits` first (:mod:`._budget`), then ``onnx.checker`` (full check,
with shape inference) must accept the model, then the wiring is checked. One load and each
run of the model draw on one budget of elements, loop trips and node runs (not per node), so
nested loops or many large nodes stop with an error naming the node. Every unsupported op,
inside subgraphs too, is listed at once with its count before anything runs.
"""

from __future__ import annotations

import os
import re
from collections import ChainMap, Counter
from collections.abc import MutableMapping
from typing import Any, NamedTuple

import numpy as np

from ..functions import from_numpy, tensor
from ..nn.module import Module
from ..nn.parameter import Parameter
from ..tensor import Tensor
from ..trace.tracer import TraceError
from ..types.errors import DTypeError, ShapeError

# the importer modules register their entries in IMPORTERS when imported
from . import (  # noqa: F401
    _import_attention,
    _import_composed,
    _import_control,
    _import_grid,
    _import_losses,
    _import_pool,
    _import_quant,
    _import_resize,
    _import_rnn,
)
from ._budget import (
    DEFAULT_LIMITS,
    BudgetExceeded,
    ImportLimits,
    Meter,
    check_proto,
    metering,
    walk_graphs,
)
from ._checker import check as run_checker
from ._host import HOST_FOLDS, SHAPE_OPERANDS, HostValue, host_of, materialize
from ._importers import IMPORTERS, ImportContext, OnnxUnsupported, SubGraph
from .builder import require_onnx

__all__ = ["MAX_FILE_BYTES", "ImportLimits", "OnnxImportError", "OnnxModule", "load",
           "supported_ops"]

MAX_FILE_BYTES = DEFAULT_LIMITS.max_file_bytes
"""Protobuf's own limit: larger models keep their weights as external data (refused here)."""

_DOMAINS = ("", "ai.onnx")


class OnnxImportError(Exception):
    """The file is not a valid ONNX model, or uses ops/attributes the importer lacks."""


def supported_ops() -> list[str]:
    """The ONNX op types (default domain) that :func:`load` imports."""
    return sorted([*IMPORTERS, "Constant"])


def _parse(source: Any, limits: ImportLimits = DEFAULT_LIMITS) -> Any:
    onnx = require_onnx()
    if isinstance(source, onnx.ModelProto):
        size, where = source.ByteSize(), "<ModelProto>"
    elif isinstance(source, (bytes, bytearray, memoryview)):
        size, where = len(source), "<bytes>"
    else:
        where = os.fspath(source)
        try:
            size = os.path.getsize(where)
        except OSError as err:
            raise OnnxImportError(f"cannot read ONNX file {where}: {err}") from None
    if size > limits.max_file_bytes:
        raise OnnxImportError(f"{where}: {size} bytes is over the import limit max_file_bytes="
                              f"{limits.max_file_bytes} (external-data models are not "
                              "supported)")
    if isinstance(source, onnx.ModelProto):
        model = source
    else:
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
        else:
            try:
                with open(where, "rb") as f:
                    data = f.read()
            except OSError as err:
                raise OnnxImportError(f"cannot read ONNX file {where}: {err}") from None
        model = _from_bytes(onnx, data, where)
    if not model.HasField("graph") or not model.graph.node:
        raise OnnxImportError(f"{where}: the model has no graph nodes (not an ONNX model?)")
    return model


def _from_bytes(onnx: Any, data: bytes, where: str) -> Any:
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as err:
        raise OnnxImportError(f"{where} is not a valid ONNX protobuf (truncated or corrupt?): "
                              f"{err}") from None
    return model


def _text(v: str | bytes) -> str:
    """A string field of the protobuf (bytes when the file holds invalid UTF-8) as str."""
    return v if isinstance(v, str) else v.decode("utf-8", "backslashreplace")


def _unsupported_error(problems: Counter[str], details: dict[str, str]) -> OnnxImportError:
    lines = [(f"ONNX import: {len(problems)} unsupported op type(s) "
              f"({sum(problems.values())} node(s)):")]
    for op, n in sorted(problems.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {op} x{n}" + (f": {details[op]}" if op in details else ""))
    lines.append(f"  supported: {', '.join(supported_ops())}")
    return OnnxImportError("\n".join(lines))


def _check_op_types(model: Any) -> None:
    """Every op type the importer lacks, subgraphs included, listed at once with its count
    (before the checker, whose message would name only the first unknown one)."""
    problems: Counter[str] = Counter()
    for g in walk_graphs(model.graph):
        for node in g.node:
            op, domain = _text(node.op_type), _text(node.domain)
            if domain not in _DOMAINS:
                problems[f"{domain}.{op}"] += 1
            elif op not in IMPORTERS and op != "Constant":
                problems[op] += 1
    if problems:
        raise _unsupported_error(problems, {})


def _opset(onnx: Any, model: Any) -> int:
    """The default domain's opset, which must be one that onnx defines (1 to the newest)."""
    versions = [int(o.version) for o in model.opset_import if o.domain in _DOMAINS]
    newest = int(onnx.defs.onnx_opset_version())
    if not versions:
        raise OnnxImportError("opset_import has no entry for the default ONNX domain")
    if len(versions) > 1 or not 1 <= versions[0] <= newest:
        raise OnnxImportError(f"opset_import: default-domain opset {versions} is not one "
                              f"that onnx {onnx.__version__} defines (1 to {newest})")
    return versions[0]


def _array(onnx: Any, t: Any, what: str) -> np.ndarray:  # type: ignore[type-arg]
    """An initializer/constant tensor as numpy (its rank, dims and size were checked against
    the limits by ``check_proto`` before)."""
    dims = list(t.dims)
    try:
        arr = onnx.numpy_helper.to_array(t)
    except Exception as err:
        raise OnnxImportError(f"{what} {t.name!r} (dims {dims}) cannot be read: {err}") from None
    if tuple(arr.shape) != tuple(dims):
        raise OnnxImportError(f"{what} {t.name!r}: data of shape {arr.shape} for dims {dims}")
    return np.array(arr)


def _attrs(onnx: Any, node: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in node.attribute:
        if a.type == onnx.AttributeProto.GRAPHS:
            raise OnnxUnsupported(f"{node.op_type} with a list of subgraphs ({a.name})")
        if a.type == onnx.AttributeProto.GRAPH:
            out[a.name] = a.g  # compiled into a SubGraph by OnnxModule
            continue
        if a.type == onnx.AttributeProto.TENSOR:
            out[a.name] = _array(onnx, a.t, f"attribute {a.name} of")
        else:
            v = onnx.helper.get_attribute_value(a)
            out[a.name] = list(v) if isinstance(v, (list, tuple)) or hasattr(v, "__len__") and \
                not isinstance(v, (bytes, str)) else v
    return out


def _constant_value(onnx: Any, node: Any, attrs: dict[str, Any]) -> np.ndarray:  # type: ignore[type-arg]
    if "value" in attrs:
        return np.asarray(attrs["value"])
    if "value_float" in attrs:
        return np.asarray(attrs["value_float"], dtype=np.float32)
    if "value_floats" in attrs:
        return np.asarray(attrs["value_floats"], dtype=np.float32)
    if "value_int" in attrs:
        return np.asarray(attrs["value_int"], dtype=np.int64)
    if "value_ints" in attrs:
        return np.asarray(attrs["value_ints"], dtype=np.int64)
    raise OnnxUnsupported(f"Constant with attribute(s) {sorted(attrs)}")


def _ident(name: str, taken: set[str]) -> str:
    base = re.sub(r"\W", "_", name) or "t"
    if base[0].isdigit():
        base = "t_" + base
    out, i = base, 1
    while out in taken:
        i += 1
        out = f"{base}_{i}"
    taken.add(out)
    return out


def _attr_names(attrs: dict[str, Any]) -> list[str]:
    return sorted(str(k) for k in attrs if not str(k).startswith("_"))


def _attr_values(attrs: dict[str, Any]) -> str:
    """The node's plain attributes as ``name=value`` (long values cut short)."""
    parts = []
    for k in _attr_names(attrs):
        v = attrs[k]
        if isinstance(v, (int, float, str, bytes, list)):
            text = repr(v)
            parts.append(f"{k}={text[:60]}{'...' if len(text) > 60 else ''}")
    return "{" + ", ".join(parts) + "}"


def _shapes(xs: list[Any]) -> list[Any]:
    return [None if x is None else list(getattr(x, "shape", ())) for x in xs]


_PASS_THROUGH = (ShapeError, DTypeError, TraceError, OnnxImportError)


class _Node(NamedTuple):
    op: str
    ins: list[str]
    outs: list[str]
    attrs: dict[str, Any]
    label: str


def _count_result(meter: Meter, value: Any, op: str, label: str) -> None:
    """Count a node's result into the run's element budget (host-folded sizes too; sizes
    still symbolic while tracing are not materialised and not counted)."""
    if isinstance(value, HostValue):
        n: Any = int(value.values.size)
    else:
        numel = getattr(value, "numel", None)
        n = None if numel is None else numel()
    if isinstance(n, int):
        try:
            meter.count(n, f"{op} node {label!r}: its result {list(value.shape)}")
        except BudgetExceeded as err:
            raise OnnxImportError(str(err)) from None


class OnnxModule(Module):
    """An imported ONNX graph; see the module docstring. ``input_names``/``output_names``
    are the graph's; ``onnx_names`` maps each initializer's ONNX name to its attribute."""

    def __init__(self, model: Any, limits: ImportLimits = DEFAULT_LIMITS) -> None:
        super().__init__()
        onnx = require_onnx()
        graph = model.graph
        self.limits = limits
        try:
            check_proto(model, limits)
        except BudgetExceeded as err:
            raise OnnxImportError(str(err)) from None
        self.opset = _opset(onnx, model)
        if not graph.output:
            raise OnnxImportError("the graph declares no outputs (an ONNX model must have at "
                                  "least one)")
        self.onnx_names: dict[str, str] = {}
        self._host: dict[str, HostValue] = {}  # integer constants also known on the host
        taken: set[str] = set()
        for init in graph.initializer:
            arr = _array(onnx, init, "initializer")
            self._add_const(init.name, arr, taken)
        self.input_names = [i.name for i in graph.input if i.name not in self.onnx_names]
        self.output_names = [o.name for o in graph.output]
        problems: Counter[str] = Counter()
        details: dict[str, str] = {}
        self._nodes = self._compile(onnx, graph.node, problems, details, taken)
        if problems:
            raise _unsupported_error(problems, details)
        self._check_wiring()

    def _compile(self, onnx: Any, nodes: Any, problems: Counter[str], details: dict[str, str],
                 taken: set[str]) -> list[_Node]:
        """The runnable nodes of a graph (Constants become buffers; subgraph attributes of
        If/Loop/Scan are compiled too), counting every unsupported op into ``problems``."""
        out: list[_Node] = []
        for node in nodes:
            op = _text(node.op_type)
            if _text(node.domain) not in _DOMAINS:
                problems[f"{_text(node.domain)}.{op}"] += 1
                continue
            try:
                attrs = _attrs(onnx, node)
            except OnnxUnsupported as err:
                problems[op] += 1
                details.setdefault(op, str(err))
                continue
            if op == "Constant":
                try:
                    self._add_const(node.output[0], _constant_value(onnx, node, attrs), taken)
                except OnnxUnsupported as err:
                    problems[op] += 1
                    details.setdefault(op, str(err))
                continue
            for key, value in list(attrs.items()):
                if isinstance(value, onnx.GraphProto):
                    for init in value.initializer:
                        self._add_const(init.name, _array(onnx, init, "initializer"), taken)
                    attrs[key] = SubGraph(self._compile(onnx, value.node, problems, details,
                                                        taken),
                                          [i.name for i in value.input],
                                          [o.name for o in value.output])
            if op not in IMPORTERS:
                problems[op] += 1
                continue
            attrs["_n_outputs"] = len(node.output)
            out.append(_Node(op, list(node.input), list(node.output), attrs, node.name or op))
        return out

    def _check_wiring(self) -> None:
        """Every node input comes from a graph input, an initializer or an earlier node, and
        every graph output from one of them (else the file is corrupt or unsorted)."""
        known = {"", *self.input_names, *self.onnx_names}
        for op, ins, outs, _, label in self._nodes:
            missing = [i for i in ins if i not in known]
            if missing:
                raise OnnxImportError(f"{op} node {label!r}: input(s) {missing} are not produced "
                                      "by any earlier node (the graph is not topologically "
                                      "sorted or is malformed)")
            again = [o for o in outs if o and (o in known or outs.count(o) > 1)]
            if again:
                raise OnnxImportError(f"{op} node {label!r}: output(s) {again} are already "
                                      "written by a graph input, an initializer or another "
                                      "node (each value has one writer in ONNX)")
            known.update(outs)
        missing = [o for o in self.output_names if o not in known]
        if missing:
            raise OnnxImportError(f"graph output(s) {missing} are not produced by any node")

    def _add_const(self, name: str, arr: np.ndarray, taken: set[str]) -> None:  # type: ignore[type-arg]
        attr = _ident(name, taken)
        self.onnx_names[name] = attr
        t = from_numpy(np.ascontiguousarray(arr))
        if t.dtype.is_floating_point:
            self.register_parameter(attr, Parameter(t))
        else:
            self.register_buffer(attr, t)
            host = host_of(arr, None)
            if host is not None:
                self._host[name] = host

    def forward(self, *args: Any) -> Any:
        if len(args) != len(self.input_names):
            raise TypeError(f"the imported ONNX model takes {len(self.input_names)} input(s) "
                            f"({', '.join(self.input_names)}); got {len(args)}")
        env: dict[str, Any] = {"": None}
        for name, attr in self.onnx_names.items():
            value = getattr(self, attr)
            host = self._host.get(name)
            env[name] = value if host is None else HostValue(host.values, host.dtype, value)
        for name, a in zip(self.input_names, args):
            try:
                env[name] = a if isinstance(a, Tensor) else tensor(np.asarray(a))
            except TypeError as err:  # a numpy dtype the framework lacks (uint16, ...)
                raise DTypeError(f"input {name!r} of the imported ONNX model: {err}") from None
        # one budget for the whole run: every node, loop iteration and result counts
        with metering(Meter(self.limits, "run")) as meter:
            self._run(self._nodes, env, meter)
            outs_ = [materialize(env[o], "the graph output") for o in self.output_names]
        return outs_[0] if len(outs_) == 1 else tuple(outs_)

    def _run(self, nodes: list[_Node], env: MutableMapping[str, Any], meter: Meter) -> None:
        """Run ``nodes`` in order, reading and writing values in ``env``."""
        ctx = ImportContext(self.opset,
                            lambda sub, inputs: self._run_sub(sub, inputs, env, meter))
        for op, ins, outs, attrs, label in nodes:
            try:
                meter.node_run(f"{op} node {label!r}")
            except BudgetExceeded as err:
                raise OnnxImportError(str(err)) from None
            try:
                xs = [env[i] for i in ins]
            except KeyError as err:
                raise OnnxImportError(f"{op} node {label!r}: input {err} is not produced by "
                                      "any earlier node (the graph is not topologically "
                                      "sorted or is malformed)") from None
            try:
                fold = HOST_FOLDS.get(op)
                results = None if fold is None else fold(xs, attrs, self.opset)
                if results is None:
                    keep = SHAPE_OPERANDS.get(op, ())
                    xs = [x if i in keep else materialize(x, op) for i, x in enumerate(xs)]
                    results = IMPORTERS[op](ctx, xs, attrs)
            except (OnnxUnsupported, BudgetExceeded) as err:
                raise OnnxImportError(f"{op} node {label!r}: {err}") from None
            except ArithmeticError as err:  # sizes from the file overflow or divide by zero
                raise OnnxImportError(f"{op} node {label!r}: {type(err).__name__} computing "
                                      f"with its attributes {_attr_values(attrs)} and input "
                                      f"shapes {_shapes(xs)}: {err}") from None
            except RecursionError:
                raise OnnxImportError(f"{op} node {label!r}: subgraphs nest too deeply"
                                      ) from None
            except KeyError as err:  # an importer reads a required attribute
                raise OnnxImportError(f"{op} node {label!r}: missing attribute {err} "
                                      f"(has {_attr_names(attrs)})"
                                      ) from None
            except IndexError as err:
                raise OnnxImportError(f"{op} node {label!r}: {len(xs)} input(s) and "
                                      f"attributes {_attr_names(attrs)} "
                                      f"do not fit the op ({err})") from None
            except _PASS_THROUGH as err:  # the ops' own errors, already naming op and shapes
                err.add_note(f"while running ONNX {op} node {label!r}")
                raise
            except Exception as err:  # an attribute or input of the wrong kind
                raise OnnxImportError(f"{op} node {label!r} is malformed: "
                                      f"{type(err).__name__}: {err}") from err
            for i, o in enumerate(outs):
                if not o:
                    continue
                if i >= len(results) or results[i] is None:
                    raise OnnxImportError(f"{op} node {label!r}: output {i} ({o}) is not "
                                          "supported")
                _count_result(meter, results[i], op, label)
                env[o] = results[i]

    def _run_sub(self, sub: SubGraph, inputs: list[Any], outer: MutableMapping[str, Any],
                 meter: Meter) -> list[Any]:
        """A subgraph's outputs for ``inputs``; it also sees the enclosing graph's values."""
        if len(inputs) != len(sub.inputs):
            raise OnnxUnsupported(f"a subgraph takes {len(sub.inputs)} input(s), got "
                                  f"{len(inputs)}")
        # a scope over the enclosing one, not a copy of it: a loop over a big graph would
        # otherwise copy every outer value at each iteration
        env: ChainMap[str, Any] = ChainMap(dict(zip(sub.inputs, inputs)), outer)
        self._run(sub.nodes, env, meter)
        try:
            return [env[o] for o in sub.outputs]
        except KeyError as err:
            raise OnnxUnsupported(f"subgraph output {err} is not produced") from None

    def extra_repr(self) -> str:
        return (f"opset={self.opset}, inputs={self.input_names}, outputs={self.output_names}, "
                f"nodes={len(self._nodes)}")


def load(path: str | os.PathLike[str] | bytes | Any, *, check: bool = True,
         limits: ImportLimits = DEFAULT_LIMITS) -> OnnxModule:
    """Load an ONNX model (file path, bytes or ``onnx.ModelProto``) as an :class:`OnnxModule`.

    Args:
        path: the model.
        check: run ``onnx.checker.check_model(full_check=True)`` (structure, opsets, single
            writer per value, strict shape inference) after the limits and before importing;
            what it rejects is an :class:`OnnxImportError`. Turn it off only for a trusted
            file that a lenient exporter wrote and that runs anyway.
        limits: the budgets of this load and of each run of the model (:class:`ImportLimits`;
            raise them for a trusted model that needs more).

    Raises:
        OnnxImportError: unreadable/malformed file, a budget exceeded, a file the checker
            rejects, or unsupported ops (all listed at once, with counts).

    Example:
        >>> net = nr.onnx.load("acas.onnx")
        >>> net(nr.randn(1, 1, 1, 5))
    """
    model = _parse(path, limits)
    try:
        check_proto(model, limits)  # before the checker: it must never see absurd shapes
    except BudgetExceeded as err:
        raise OnnxImportError(str(err)) from None
    _check_op_types(model)
    if check:
        reason = run_checker(model, limits.max_check_seconds)
        if reason is not None:
            raise OnnxImportError(f"ONNX checker rejected the model: {reason}")
    try:
        return OnnxModule(model, limits)
    except OnnxImportError:
        raise
    except RecursionError:
        raise OnnxImportError("malformed ONNX model: subgraphs nest too deeply") from None
    except Exception as err:
        raise OnnxImportError(f"malformed ONNX model: {type(err).__name__}: {err}") from None
