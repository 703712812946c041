"""``nr.onnx.export``: trace once, emit the traced graph as ONNX.

The exporter reads each node's op from the registry and calls its ``to_onnx`` (declared on the
OpDef next to its shape rule); it holds no per-op knowledge itself. Before emitting anything it
checks that every op in the graph has a mapping, and lists every missing one with its count and
the source lines that called it. Symbolic dims become ONNX ``dim_param``s, parameters and other
constants become initializers, and each ONNX node's ``doc_string`` names the model source line
it came from. The written model passes ``onnx.checker.check_model(full_check=True)``, and ONNX
shape inference is compared with the traced shapes.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from .._atomic import atomic_write
from ..ir.graph import Graph, Node, Value
from ..ops.registry import OpDef, get
from ..types.dtype import DType, promote_types, result_type_of_scalar
from ..types.format import format_shape
from .builder import OnnxBuilder, OnnxValue, onnx_dtype, require_onnx

__all__ = ["OnnxExportError", "export", "export_graph", "has_mapping", "DEFAULT_OPSET"]

DEFAULT_OPSET = 17


class OnnxExportError(Exception):
    """The graph cannot be written as ONNX: unmapped ops (all listed at once), a mapping that
    failed, or ONNX's shape inference disagreeing with the traced shapes."""


def has_mapping(op: OpDef) -> bool:
    """True when the op declares ``to_onnx``."""
    return callable(getattr(type(op), "to_onnx", None))


def _missing(graph: Graph) -> str | None:
    counts: Counter[str] = Counter()
    sites: dict[str, list[str]] = {}
    for node in graph.nodes:
        if not has_mapping(get(node.op)):
            counts[node.op] += 1
            where = sites.setdefault(node.op, [])
            site = node.source + (f" ({node.scope})" if node.scope else "")
            if site not in where:
                where.append(site)
    if not counts:
        return None
    lines = [f"ONNX export of {graph.name!r}: {len(counts)} op(s) have no ONNX mapping "
             f"({sum(counts.values())} node(s)):"]
    for op, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        shown = sites[op][:5]
        more = f", and {len(sites[op]) - 5} more" if len(sites[op]) > 5 else ""
        lines.append(f"  {op} x{n}: called at {', '.join(shown)}{more}")
    lines.append("  hint: declare `to_onnx` on the op's OpDef (see STYLE.md section 2)")
    return "\n".join(lines)


def _value_info(onnx: Any, name: str, v: Value) -> Any:
    dims: list[Any] = [d.as_int() if d.is_constant else str(d) for d in v.shape]
    return onnx.helper.make_tensor_value_info(name, onnx_dtype(v.dtype), dims)


def _compute_dtype(op: OpDef, node: Node, values: Mapping[str, Value]) -> DType:
    """The dtype the dispatcher computes a ``promote_inputs`` op in (the result dtype when it
    is float, else the inputs' common dtype raised by Python scalars)."""
    out = node.output.dtype
    if out.is_floating_point:
        return out
    common: DType | None = None
    for x in node.inputs:
        if isinstance(x, str):
            d = values[x].dtype
            common = d if common is None else promote_types(common, d)
    assert common is not None
    for x in node.inputs:
        if x is not None and not isinstance(x, str):
            common = promote_types(common, result_type_of_scalar(common, x))
    return common


def export_graph(graph: Graph, *, opset: int = DEFAULT_OPSET, check: bool = True,
                 producer: str = "neurarust") -> Any:
    """The ``onnx.ModelProto`` for a traced graph (see the module docstring)."""
    onnx = require_onnx()
    problem = _missing(graph)
    if problem:
        raise OnnxExportError(problem)
    g = OnnxBuilder(opset, graph.inputs)
    env: dict[str, OnnxValue] = {}
    values = graph.values()
    for v in graph.inputs:
        env[v.name] = OnnxValue(v.name, v.dtype, v.shape)
    for c in graph.constants.values():
        g.initializers.append(onnx.numpy_helper.from_array(c.data.astype(c.dtype.np_dtype),
                                                           c.name))
        env[c.name] = OnnxValue(c.name, c.dtype, c.shape)
    for i, node in enumerate(graph.nodes):
        op = get(node.op)
        g.out = node.output
        g.prefix = f"n{i}_"
        start = len(g.nodes)
        compute = _compute_dtype(op, node, values) if op.promote_inputs else None
        args: list[OnnxValue | None] = []
        for x in node.inputs:
            if x is None:
                args.append(None)
            elif isinstance(x, str):
                a = env[x]
                args.append(g.cast(a, compute) if compute is not None else a)
            else:
                args.append(g.const(x, compute if compute is not None else node.output.dtype,
                                    "lit"))
        try:
            result: OnnxValue = type(op).to_onnx(op, g, *args, **node.attrs)  # type: ignore[attr-defined]
        except NotImplementedError as err:
            raise OnnxExportError(f"ONNX export: {node.op} at {node.source}: {err}") from None
        if result.dtype is not node.output.dtype:
            result = g.cast(result, node.output.dtype)
        for n in g.nodes[start:]:
            n.doc_string = f"{node.op} at {node.source}" + (f" ({node.scope})" if node.scope else "")
        env[node.output.name] = OnnxValue(result.name, node.output.dtype, node.output.shape)
    g.out = None
    outputs = []
    names = ["output"] if len(graph.outputs) == 1 else [f"output{i}" for i in range(len(graph.outputs))]
    for name, out in zip(names, graph.outputs):
        g.nodes.append(onnx.helper.make_node("Identity", [env[out].name], [name], name=name))
        outputs.append(_value_info(onnx, name, values[out]))
    inputs = [_value_info(onnx, v.name, v) for v in graph.inputs]
    body = onnx.helper.make_graph(g.nodes, graph.name, inputs, outputs, g.initializers)
    model = onnx.helper.make_model(
        body, producer_name=producer, opset_imports=[onnx.helper.make_opsetid("", opset)])
    model.ir_version = min(int(onnx.IR_VERSION), 10)
    if check:
        onnx.checker.check_model(model, full_check=True)
        _check_inferred(onnx, model, graph, env)
    return model


def _check_inferred(onnx: Any, model: Any, graph: Graph, env: Mapping[str, OnnxValue]) -> None:
    """ONNX shape inference must agree with the traced shapes (every value it infers)."""
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    types = {vi.name: vi.type for vi in [*inferred.graph.value_info, *inferred.graph.output]}
    problems = []
    for node in graph.nodes:
        name = env[node.output.name].name
        t = types.get(name)
        if t is None or not t.tensor_type.HasField("shape"):
            continue
        ours = node.output.shape
        dims = t.tensor_type.shape.dim
        bad = len(dims) != len(ours)
        for d, o in zip(dims, ours):
            if bad:
                break
            if d.HasField("dim_value"):
                bad = not o.is_constant or o.as_int() != d.dim_value
            elif d.HasField("dim_param") and not d.dim_param.startswith("unk__"):
                bad = o.is_constant
        if bad:
            shown = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]
            problems.append(f"{node.op} at {node.source}: traced {format_shape(ours)}, ONNX "
                            f"infers [{', '.join(map(str, shown))}]")
    if problems:
        raise OnnxExportError("ONNX shape inference disagrees with the traced shapes:\n  "
                              + "\n  ".join(problems))


def export(model: Callable[..., Any] | Graph, inputs: Mapping[str, Any] | None = None,
           path: str | os.PathLike[str] | None = None, *, opset: int = DEFAULT_OPSET,
           check: bool = True) -> Any:
    """Trace ``model`` once and write it to ``path`` as ONNX (atomically); return the
    ``onnx.ModelProto``.

    Args:
        model: an ``nn.Module``, a function of tensors, or an already traced ``ir.Graph``
            (export the very graph that ``verify`` proved; never re-trace).
        inputs: name -> spec such as ``{"x": "f32[B, 1, 28, 28]"}`` (ignored for a graph).
            Named dims become ONNX ``dim_param``s.
        path: where to write the file (None: return the model without writing).
        opset: the ONNX opset (default 17).
        check: run ``onnx.checker.check_model(full_check=True)`` and compare ONNX shape
            inference with the traced shapes.

    Raises:
        OnnxExportError: ops without an ONNX mapping (every one, with counts and source
            lines), or a shape disagreement.

    Example:
        >>> nr.onnx.export(SmallCNN(), {"x": "f32[B, 1, 28, 28]"}, "net.onnx")
    """
    if isinstance(model, Graph):
        graph = model
    else:
        from ..trace import trace

        if inputs is None:
            raise TypeError("export: inputs={name: spec} is required to trace a model")
        graph = trace(model, inputs)
    proto = export_graph(graph, opset=opset, check=check)
    if path is not None:
        data = proto.SerializeToString()
        def write(f: Any) -> None:
            f.write(data)

        atomic_write(path, write)
    return proto

