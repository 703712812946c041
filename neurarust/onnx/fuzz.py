"""Mutation fuzzing of :func:`nr.onnx.load`: hostile variants of valid ONNX models.

``python bench/fuzz_onnx.py`` runs the campaign (see ``bench/README.md``); the test-suite runs a
seeded miniature in-process. A corpus of valid models (models exported by neurarust, small
hand-written control-flow and size-computing graphs, and the ONNX backend node cases when the
installed ``onnx`` has them) is mutated at the protobuf level (dims, attributes, element types,
node inputs/outputs, op types, opsets, integer values such as trip counts and shapes, huge
values) and at the byte level (flips, truncation). Each mutant is loaded and, if it loads, run
once on a small input built from its declared inputs. An outcome is ``ok``, a documented error
(:class:`OnnxImportError`, or the ops' own ``ShapeError``/``DTypeError``/``TraceError``), or a
``crash`` (any other exception: a bug to fix at its root).

Every mutant is reproducible from ``(seed, index)``: :func:`mutant` rebuilds it.
"""

from __future__ import annotations

import functools
import random
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["DOCUMENTED", "classify", "corpus", "inputs_for", "mutant", "run_case"]

HUGE = [0, 1, -1, 2, 3, 7, 64, 255, 1 << 16, (1 << 31) - 1, 1 << 31, 1 << 32, 1 << 40, 1 << 62,
        (1 << 63) - 1, -(1 << 63), -(1 << 31)]
OPSETS = [0, 1, 5, 7, 9, 11, 13, 17, 18, 21, 28, 29, 10000, -1]
ATTR_NAMES = ["axis", "axes", "perm", "strides", "pads", "dilations", "kernel_shape", "group",
              "keepdims", "to", "mode", "alpha", "epsilon", "shape", "split", "starts", "ends",
              "num_outputs", "auto_pad", "ceil_mode", "transA", "transB", "direction",
              "hidden_size", "blocksize", "k", "largest", "output_padding", "value"]


def _h() -> Any:
    import onnx

    return onnx


# -- the corpus ------------------------------------------------------------------------------------
def _exported() -> list[tuple[str, Any]]:
    """Models exported by neurarust (symbolic batch, size arithmetic in the graph)."""
    import neurarust as nr
    from neurarust import nn

    nr.manual_seed(0)
    models: list[tuple[str, nn.Module, dict[str, str]]] = [
        ("mlp", nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), nn.Softmax(-1)),
         {"x": "f32[B, 4]"}),
        ("cnn", nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(),
                              nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32, 3)),
         {"x": "f32[B, 1, 8, 8]"}),
        ("gru", nn.GRU(3, 4, batch_first=True), {"x": "f32[B, T, 3]"}),
        ("norm", nn.Sequential(nn.LayerNorm(6), nn.GELU(), nn.Linear(6, 6)),
         {"x": "f32[B, T, 6]"}),
    ]
    out = []
    for name, model, spec in models:
        model.eval()
        out.append((f"nr:{name}", nr.onnx.export(model, spec)))
    return out


def _handwritten() -> list[tuple[str, Any]]:
    """Small graphs with the nodes hostile files abuse: Loop, Scan, If, Range,
    ConstantOfShape, Expand, Tile, Reshape from computed sizes."""
    onnx = _h()
    h, tp, nh = onnx.helper, onnx.TensorProto, onnx.numpy_helper

    def vi(name: str, elem: int, shape: list[Any]) -> Any:
        return h.make_tensor_value_info(name, elem, shape)

    def model(nodes: list[Any], inputs: list[Any], outputs: list[Any], inits: list[Any],
              opset: int = 17) -> Any:
        g = h.make_graph(nodes, "g", inputs, outputs, inits)
        return h.make_model(g, opset_imports=[h.make_opsetid("", opset)])

    def i64(name: str, v: Any) -> Any:
        return nh.from_array(np.array(v, np.int64), name)

    inner = h.make_graph(
        [h.make_node("Identity", ["c2"], ["c2o"]), h.make_node("Add", ["w", "one"], ["wo"])],
        "inner", [vi("j", tp.INT64, []), vi("c2", tp.BOOL, []), vi("w", tp.FLOAT, [2])],
        [vi("c2o", tp.BOOL, []), vi("wo", tp.FLOAT, [2])])
    outer = h.make_graph(
        [h.make_node("Loop", ["N", "", "v"], ["vo"], body=inner),
         h.make_node("Identity", ["c1"], ["c1o"])],
        "outer", [vi("i", tp.INT64, []), vi("c1", tp.BOOL, []), vi("v", tp.FLOAT, [2])],
        [vi("c1o", tp.BOOL, []), vi("vo", tp.FLOAT, [2])])
    loops = model([h.make_node("Loop", ["M", "", "x"], ["y"], body=outer)],
                  [vi("x", tp.FLOAT, [2])], [vi("y", tp.FLOAT, [2])],
                  [i64("M", 3), i64("N", 4), nh.from_array(np.ones(2, np.float32), "one")])
    scan_body = h.make_graph([h.make_node("Add", ["s", "e"], ["so"]),
                              h.make_node("Identity", ["so"], ["eo"])], "sb",
                             [vi("s", tp.FLOAT, [2]), vi("e", tp.FLOAT, [2])],
                             [vi("so", tp.FLOAT, [2]), vi("eo", tp.FLOAT, [2])])
    scan = model([h.make_node("Scan", ["s0", "x"], ["sN", "ys"], body=scan_body,
                              num_scan_inputs=1)],
                 [vi("x", tp.FLOAT, [5, 2])], [vi("sN", tp.FLOAT, [2]), vi("ys", tp.FLOAT, [5, 2])],
                 [nh.from_array(np.zeros(2, np.float32), "s0")])
    then_g = h.make_graph([h.make_node("Relu", ["x"], ["t"])], "then", [],
                          [vi("t", tp.FLOAT, [3])])
    else_g = h.make_graph([h.make_node("Neg", ["x"], ["e"])], "else", [],
                          [vi("e", tp.FLOAT, [3])])
    cond = model([h.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
                  h.make_node("Greater", ["s", "zero"], ["c"]),
                  h.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
                 [vi("x", tp.FLOAT, [3])], [vi("y", tp.FLOAT, [3])],
                 [nh.from_array(np.array(0, np.float32), "zero")])
    sizes = model([h.make_node("Range", ["a", "b", "c"], ["r"]),
                   h.make_node("Shape", ["x"], ["s"]),
                   h.make_node("ConstantOfShape", ["s"], ["z"],
                               value=nh.from_array(np.array([0.5], np.float32))),
                   h.make_node("Cast", ["r"], ["rf"], to=tp.FLOAT),
                   h.make_node("Expand", ["rf", "e"], ["ex"]),
                   h.make_node("Tile", ["x", "t"], ["ti"]),
                   h.make_node("Concat", ["s", "m1"], ["s2"], axis=0),
                   h.make_node("Reshape", ["ti", "s2"], ["re"]),
                   h.make_node("ReduceSum", ["ex"], ["ey"], keepdims=0),
                   h.make_node("Add", ["z", "ey"], ["y"])],
                  [vi("x", tp.FLOAT, [2, 3])], [vi("y", tp.FLOAT, [2, 3]),
                                                vi("re", tp.FLOAT, [2, 3, None])],
                  [i64("a", 0), i64("b", 6), i64("c", 1), i64("e", [2, 6]), i64("t", [1, 2]),
                   i64("m1", [-1])])
    return [("hand:loops", loops), ("hand:scan", scan), ("hand:if", cond),
            ("hand:sizes", sizes)]


def _backend_cases(limit: int) -> list[tuple[str, Any]]:
    """Up to ``limit`` ONNX backend node cases that neurarust loads (a spread over op types)."""
    if limit <= 0:
        return []
    try:
        from .conformance import _counted, _node_cases, op_of
        cases = [c for c in _node_cases() if _counted(c)]
    except Exception:  # noqa: BLE001 - an onnx without its backend test data: no such corpus
        return []
    by_op: dict[str, list[Any]] = {}
    for c in cases:
        by_op.setdefault(op_of(c), []).append(c)
    picked: list[tuple[str, Any]] = []
    while len(picked) < limit and any(by_op.values()):
        for op in sorted(by_op):
            if by_op[op] and len(picked) < limit:
                c = by_op[op].pop(0)
                picked.append((f"node:{c.name}", c.model))
    return picked


@functools.cache
def corpus(backend: int = 200) -> tuple[tuple[str, bytes], ...]:
    """The seed models as ``(name, serialized bytes)``: exported, hand-written, and up to
    ``backend`` ONNX backend node cases."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = [*_exported(), *_handwritten(), *_backend_cases(backend)]
    return tuple((name, m.SerializeToString()) for name, m in models)


# -- mutations -------------------------------------------------------------------------------------
def _graphs(m: Any) -> list[Any]:
    from ._budget import walk_graphs

    return list(walk_graphs(m.graph))


def _tensors(m: Any) -> list[Any]:
    out = []
    for g in _graphs(m):
        out.extend(g.initializer)
        for n in g.node:
            for a in n.attribute:
                if a.HasField("t"):
                    out.append(a.t)
    return out


def _value_infos(m: Any) -> list[Any]:
    return [vi for g in _graphs(m) for vi in (*g.input, *g.output, *g.value_info)]


def _nodes(m: Any) -> list[Any]:
    return [n for g in _graphs(m) for n in g.node]


def _m_dims(m: Any, rng: random.Random) -> str:
    ts = _tensors(m)
    if not ts:
        return "dims:none"
    t = rng.choice(ts)
    how = rng.randrange(4)
    if how == 0 and t.dims:
        t.dims[rng.randrange(len(t.dims))] = rng.choice(HUGE)
    elif how == 1:
        t.dims.append(rng.choice(HUGE))
    elif how == 2:
        del t.dims[:]
    else:
        t.dims.extend([rng.choice([1, 2])] * rng.choice([33, 1000, 200_000]))
    return f"dims{how}"


def _m_value_info(m: Any, rng: random.Random) -> str:
    vis = [v for v in _value_infos(m) if v.type.HasField("tensor_type")]
    if not vis:
        return "vi:none"
    shape = rng.choice(vis).type.tensor_type.shape
    how = rng.randrange(3)
    if how == 0 and shape.dim:
        shape.dim[rng.randrange(len(shape.dim))].dim_value = rng.choice(HUGE)
    elif how == 1:
        for _ in range(rng.choice([1, 40, 5000])):
            shape.dim.add().dim_value = 1
    else:
        del shape.dim[:]
    return f"vi{how}"


def _m_attr(m: Any, rng: random.Random) -> str:
    onnx = _h()
    nodes = _nodes(m)
    if not nodes:
        return "attr:none"
    n = rng.choice(nodes)
    how = rng.randrange(4)
    if how == 0 and n.attribute:
        a = rng.choice(n.attribute)
        if a.ints:
            a.ints[rng.randrange(len(a.ints))] = rng.choice(HUGE)
        elif a.type == onnx.AttributeProto.INT:
            a.i = rng.choice(HUGE)
        elif a.type == onnx.AttributeProto.FLOAT:
            a.f = rng.choice([float("nan"), float("inf"), -1e38, 0.0, 1e-45])
        elif a.floats:
            a.floats[rng.randrange(len(a.floats))] = rng.choice([float("nan"), 1e38])
        else:
            a.s = rng.choice([b"", b"\xff\xfe", b"NOTSET", b"SAME_UPPER", b"x" * 1000])
    elif how == 1 and n.attribute:
        del n.attribute[rng.randrange(len(n.attribute))]
    elif how == 2:
        name = rng.choice(ATTR_NAMES)
        value: Any = rng.choice([rng.choice(HUGE), [rng.choice(HUGE) for _ in range(
            rng.randrange(1, 6))], 0.5, "SAME_LOWER"])
        n.attribute.append(onnx.helper.make_attribute(name, value))
    else:
        for a in n.attribute:
            if a.ints:
                a.ints.extend([rng.choice(HUGE)] * rng.choice([1, 100, 70_000]))
                break
    return f"attr{how}"


def _m_type(m: Any, rng: random.Random) -> str:
    if rng.random() < 0.5:
        vis = [v for v in _value_infos(m) if v.type.HasField("tensor_type")]
        if vis:
            rng.choice(vis).type.tensor_type.elem_type = rng.randrange(0, 28)
            return "type:vi"
    ts = _tensors(m)
    if ts:
        rng.choice(ts).data_type = rng.randrange(0, 28)
    return "type:tensor"


def _m_io(m: Any, rng: random.Random) -> str:
    nodes = _nodes(m)
    if not nodes:
        return "io:none"
    n = rng.choice(nodes)
    names = [v for k in nodes for v in (*k.input, *k.output)] + ["", "nowhere"]
    how = rng.randrange(5)
    if how == 0 and n.input:
        n.input[rng.randrange(len(n.input))] = rng.choice(names)
    elif how == 1 and n.output:
        n.output[rng.randrange(len(n.output))] = rng.choice(names)
    elif how == 2 and n.input:
        del n.input[-1]
    elif how == 3:
        n.input.append(rng.choice(names))
    else:
        n.output.append(rng.choice(names))
    return f"io{how}"


def _m_opset(m: Any, rng: random.Random) -> str:
    for o in m.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = rng.choice(OPSETS)
    return "opset"


def _m_int_values(m: Any, rng: random.Random) -> str:
    """Integer tensors hold trip counts, shapes, Range limits, axes: set one to huge values."""
    onnx = _h()
    ints = [t for t in _tensors(m) if t.data_type in (onnx.TensorProto.INT64,
                                                      onnx.TensorProto.INT32)]
    if not ints:
        return "ints:none"
    t = rng.choice(ints)
    try:
        arr = onnx.numpy_helper.to_array(t).copy()
    except Exception:  # noqa: BLE001 - a tensor an earlier mutation broke: leave it
        return "ints:broken"
    if arr.size == 0:
        return "ints:empty"
    flat = arr.reshape(-1)
    info = np.iinfo(arr.dtype)
    v = rng.choice(HUGE)
    flat[rng.randrange(flat.size)] = min(max(v, int(info.min)), int(info.max))
    t.CopyFrom(onnx.numpy_helper.from_array(arr, t.name))
    return "ints"


def _m_op_type(m: Any, rng: random.Random) -> str:
    from .import_ import supported_ops

    nodes = _nodes(m)
    if nodes:
        rng.choice(nodes).op_type = rng.choice([*supported_ops(), "Loop", "Foo"])
    return "op_type"


def _m_nodes(m: Any, rng: random.Random) -> str:
    g = rng.choice(_graphs(m))
    if not g.node:
        return "nodes:none"
    i = rng.randrange(len(g.node))
    if rng.random() < 0.5:
        del g.node[i]
        return "nodes:del"
    g.node.insert(rng.randrange(len(g.node) + 1), g.node[i])
    return "nodes:dup"


def _m_outputs(m: Any, rng: random.Random) -> str:
    if rng.random() < 0.5:
        del m.graph.output[:]
    elif m.graph.input:
        m.graph.output.append(m.graph.input[0])
    return "outputs"


MUTATIONS: list[Callable[[Any, random.Random], str]] = [
    _m_dims, _m_value_info, _m_attr, _m_type, _m_io, _m_opset, _m_int_values, _m_int_values,
    _m_op_type, _m_nodes, _m_outputs]


def mutant(seed: int, index: int, seeds: tuple[tuple[str, bytes], ...]) -> tuple[str, bytes]:
    """The ``index``-th mutant of the campaign ``seed``: (description, file bytes)."""
    onnx = _h()
    rng = random.Random(seed * 1_000_003 + index)
    name, data = seeds[rng.randrange(len(seeds))]
    how = rng.random()
    if how < 0.12:  # flipped bytes
        b = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        return f"{name} flip", bytes(b)
    if how < 0.2:  # truncated
        return f"{name} trunc", data[:rng.randrange(len(data))]
    m = onnx.ModelProto()
    m.ParseFromString(data)
    done = [rng.choice(MUTATIONS)(m, rng) for _ in range(rng.choice([1, 1, 2, 3]))]
    return f"{name} {'+'.join(done)}", m.SerializeToString()


# -- running one case ------------------------------------------------------------------------------
def inputs_for(model: Any, names: list[str], rng: np.random.Generator) -> list[Any]:
    """Small inputs for the graph inputs ``names``: declared dims (1..8 kept, others 2),
    declared element type (float32 when numpy has none)."""
    onnx = _h()
    declared = {vi.name: vi for vi in model.graph.input}
    out = []
    for name in names:
        vi = declared.get(name)
        shape: list[int] = []
        dtype: Any = np.float32
        if vi is not None and vi.type.HasField("tensor_type"):
            tt = vi.type.tensor_type
            shape = [d.dim_value if d.HasField("dim_value") and 1 <= d.dim_value <= 8 else 2
                     for d in tt.shape.dim][:6]
            try:
                dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tt.elem_type))
            except Exception:  # noqa: BLE001 - an element type numpy lacks
                dtype = np.float32
        if np.dtype(dtype).kind == "f":
            out.append(rng.standard_normal(shape).astype(dtype))
        elif np.dtype(dtype).kind == "b":
            out.append(rng.random(shape) < 0.5)
        elif np.dtype(dtype).kind in "iu":
            out.append(rng.integers(0, 3, shape).astype(dtype))
        else:
            out.append(np.zeros(shape, np.float32))
    return out


DOCUMENTED = ("OnnxImportError", "ShapeError", "DTypeError", "TraceError")
"""The error classes a hostile file may end in (anything else is a crash)."""


def classify(err: BaseException) -> str:
    name = type(err).__name__
    return name if name in DOCUMENTED else f"crash:{name}"


def run_case(data: bytes, seed: int = 0, check: bool = True) -> tuple[str, str]:
    """Load ``data`` (with onnx.checker unless ``check`` is False, which drives mutants deeper
    into the importer) and, when it loads, run it once: (outcome, detail). Outcomes: ``ok``,
    ``load:<documented error>``, ``run:<documented error>`` or ``crash:<exception>``."""
    import neurarust as nr

    stage = "load"
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            net = nr.onnx.load(data, check=check)
            stage = "run"
            onnx = _h()
            m = onnx.ModelProto()
            m.ParseFromString(data)
            xs = inputs_for(m, net.input_names, np.random.default_rng(seed))
            with nr.no_grad():
                net(*xs)
    except Exception as err:  # noqa: BLE001 - the point: classify every failure
        kind = classify(err)
        first = (str(err).splitlines() or [""])[0][:300]
        if kind.startswith("crash"):
            import traceback

            frames = traceback.extract_tb(err.__traceback__)
            where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
            return f"{kind}", f"{stage}: {first}{where}"
        return f"{stage}:{kind}", first
    return "ok", ""
