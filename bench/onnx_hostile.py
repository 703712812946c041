"""Hostile ONNX files, timed: ``python bench/onnx_hostile.py [--limit 60] [CASE ...]``.

Builds each case (tiny files that asked for hours of work or gigabytes of memory, files
onnx.checker rejects), then loads and runs it in a child process under a wall-clock limit,
printing file size, seconds, peak RSS and the outcome. ``tests/onnx/test_import_budgets.py``
holds the same cases as tests; this script gives the timings (docs/onnx.md).
"""
import os
import resource
import subprocess
import sys
import time

import numpy as np
from onnx import TensorProto as TP
from onnx import helper as h
from onnx import numpy_helper as nh


def i64(name, v): return nh.from_array(np.array(v, np.int64), name)

def nested_loops(trips=65536):
    inner = h.make_graph([h.make_node("Identity", ["c2"], ["c2o"]), h.make_node("Identity", ["w"], ["wo"])], "inner",
        [h.make_tensor_value_info("j", TP.INT64, []), h.make_tensor_value_info("c2", TP.BOOL, []),
         h.make_tensor_value_info("w", TP.FLOAT, [1])],
        [h.make_tensor_value_info("c2o", TP.BOOL, []), h.make_tensor_value_info("wo", TP.FLOAT, [1])])
    outer = h.make_graph([h.make_node("Loop", ["M", "", "v"], ["vo"], body=inner),
                          h.make_node("Identity", ["c1"], ["c1o"])], "outer",
        [h.make_tensor_value_info("i", TP.INT64, []), h.make_tensor_value_info("c1", TP.BOOL, []),
         h.make_tensor_value_info("v", TP.FLOAT, [1])],
        [h.make_tensor_value_info("c1o", TP.BOOL, []), h.make_tensor_value_info("vo", TP.FLOAT, [1])])
    g = h.make_graph([h.make_node("Loop", ["M", "", "x"], ["y"], body=outer)], "g",
        [h.make_tensor_value_info("x", TP.FLOAT, [1])], [h.make_tensor_value_info("y", TP.FLOAT, [1])],
        [i64("M", trips)])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])

def ranges(n=4, size=1 << 28):
    nodes = [h.make_node("Range", ["a", "b", "c"], [f"r{k}"]) for k in range(n)]
    nodes += [h.make_node("Identity", ["x"], ["y"])]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", TP.FLOAT, [1])],
        [h.make_tensor_value_info("y", TP.FLOAT, [1])] + [h.make_tensor_value_info(f"r{k}", TP.INT64, ["n"]) for k in range(n)],
        [i64("a", 0), i64("b", size - 1), i64("c", 1)])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])

def many_dims(n=1_600_000):
    t = TP(); t.name = "w"; t.data_type = TP.FLOAT; t.dims.extend([2] * n); t.float_data.append(1.0)
    g = h.make_graph([h.make_node("Add", ["x", "w"], ["y"])], "g",
        [h.make_tensor_value_info("x", TP.FLOAT, [1])], [h.make_tensor_value_info("y", TP.FLOAT, [1])], [t])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])

def two_writers():
    g = h.make_graph([h.make_node("Relu", ["x"], ["y"]), h.make_node("Neg", ["x"], ["y"])], "g",
        [h.make_tensor_value_info("x", TP.FLOAT, [1])], [h.make_tensor_value_info("y", TP.FLOAT, [1])])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])

def opset(v):
    g = h.make_graph([h.make_node("Relu", ["x"], ["y"])], "g",
        [h.make_tensor_value_info("x", TP.FLOAT, [1])], [h.make_tensor_value_info("y", TP.FLOAT, [1])])
    return h.make_model(g, opset_imports=[h.make_opsetid("", v)])

def no_outputs():
    g = h.make_graph([h.make_node("Relu", ["x"], ["y"])], "g",
        [h.make_tensor_value_info("x", TP.FLOAT, [1])], [])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])

def big_strides(op="Conv"):
    if op == "Conv":
        node = h.make_node("Conv", ["x", "w"], ["y"], strides=[2**62, 1])
        inits = [nh.from_array(np.ones((1, 1, 1, 1), np.float32), "w")]
    else:
        node = h.make_node(op, ["x"], ["y"], kernel_shape=[1, 1], strides=[2**62, 1])
        inits = []
    g = h.make_graph([node], "g", [h.make_tensor_value_info("x", TP.FLOAT, [1, 1, 4, 4])],
        [h.make_tensor_value_info("y", TP.FLOAT, ["a", "b", "c", "d"])], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])

def largest_allowed(kind):
    """The biggest single results the default budget lets through (peak RSS must stay
    well under 2 GB): an int64 Range, a float64 ConstantOfShape, a float64 broadcast."""
    n = (1 << 27) - 64
    x = [h.make_tensor_value_info("x", TP.FLOAT, [1])]
    if kind == "range":
        nodes = [h.make_node("Range", ["a", "b", "c"], ["y"])]
        inits = [i64("a", 0), i64("b", n), i64("c", 1)]
        out = h.make_tensor_value_info("y", TP.INT64, [None])
    elif kind == "constant":
        nodes = [h.make_node("ConstantOfShape", ["s"], ["y"],
                             value=nh.from_array(np.array([1.5], np.float64)))]
        inits = [i64("s", [n])]
        out = h.make_tensor_value_info("y", TP.DOUBLE, [None])
    else:
        nodes = [h.make_node("Range", ["a", "b", "c"], ["r"]),
                 h.make_node("Unsqueeze", ["r", "ax1"], ["col"]),
                 h.make_node("Unsqueeze", ["r", "ax0"], ["row"]),
                 h.make_node("Add", ["col", "row"], ["y"])]
        inits = [nh.from_array(np.array(0.0), "a"), nh.from_array(np.array(11000.0), "b"),
                 nh.from_array(np.array(1.0), "c"), i64("ax1", [1]), i64("ax0", [0])]
        out = h.make_tensor_value_info("y", TP.DOUBLE, [None, None])
    return h.make_model(h.make_graph(nodes, "g", x, [out], inits),
                        opset_imports=[h.make_opsetid("", 17)])


CASES = {"nested_loops": nested_loops, "ranges": ranges, "many_dims": many_dims,
         "two_writers": two_writers, "opset0": lambda: opset(0), "opset10000": lambda: opset(10000),
         "no_outputs": no_outputs, "conv_strides": big_strides,
         "maxpool_strides": lambda: big_strides("MaxPool"), "avgpool_strides": lambda: big_strides("AveragePool"),
         "max_range_i64": lambda: largest_allowed("range"),
         "max_const_f64": lambda: largest_allowed("constant"),
         "max_bcast_f64": lambda: largest_allowed("broadcast")}
X = {"conv_strides": np.ones((1, 1, 4, 4), np.float32), "maxpool_strides": np.ones((1, 1, 4, 4), np.float32),
     "avgpool_strides": np.ones((1, 1, 4, 4), np.float32)}

def one(name):
    import neurarust as nr

    data = CASES[name]().SerializeToString()
    t0 = time.perf_counter()
    try:
        net = nr.onnx.load(data)
        with nr.no_grad():
            net(X.get(name, np.ones(1, np.float32)))
        out = "loaded and ran"
    except Exception as e:  # noqa: BLE001 - the outcome is what this script reports
        out = f"{type(e).__name__}: {str(e).splitlines()[0][:150]}"
    dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{name:16s} {len(data):8d} B {dt:8.2f} s {rss:7.0f} MB  {out}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--one":
        one(sys.argv[2])
        raise SystemExit(0)
    args = sys.argv[1:]
    limit = 60.0
    if args[:1] == ["--limit"]:
        limit, args = float(args[1]), args[2:]
    for name in args or list(CASES):
        try:
            subprocess.run([sys.executable, __file__, "--one", name], timeout=limit,
                           env=dict(os.environ, OPENBLAS_NUM_THREADS="1"), check=False)
        except subprocess.TimeoutExpired:
            print(f"{name:16s} {'':10s} > {limit:.0f} s (killed)", flush=True)
