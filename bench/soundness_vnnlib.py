"""Soundness fuzzing of the VNN-LIB path: every verdict and linear bound attacked.

Random ReLU networks and random VNN-LIB properties (:mod:`neurarust.verify.fuzz_vnnlib`):
each 'holds' (input and ReLU splits) is attacked in float32 (onnxruntime, the eager model,
numpy), each 'violated' counterexample is replayed in onnxruntime, and the CROWN / interval
bounds are checked against float32 runs aimed at each row's extremes. Prints the counts
(verdicts by split and kind, claims attacked, broken) and every broken claim with a
reproducer; exit 1 when something broke.

    python bench/soundness_vnnlib.py --cases 2000 [--seed0 0] [--timeout 1] [--budget 600]
    python bench/soundness_vnnlib.py --real        # a few ACAS Xu / mnistfc instances

``--real`` runs real benchmark instances (../shared/vnncomp) through ``neurarust verify``'s
path (ONNX import, tracing, branch and bound, onnxruntime as second runner) with their known
answers where known, and attacks every 'holds' / replays every 'violated' in onnxruntime.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from decimal import Decimal
from fractions import Fraction

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))

# (network, property, known answer or None): ACAS Xu answers as published (VNN-COMP 2021)
REAL = [
    ("acasxu", "ACASXU_run2a_1_1_batch_2000.onnx", "prop_1.vnnlib", "holds"),
    ("acasxu", "ACASXU_run2a_2_3_batch_2000.onnx", "prop_2.vnnlib", "violated"),
    ("acasxu", "ACASXU_run2a_1_7_batch_2000.onnx", "prop_3.vnnlib", "violated"),
    ("acasxu", "ACASXU_run2a_1_9_batch_2000.onnx", "prop_4.vnnlib", "violated"),
    ("acasxu", "ACASXU_run2a_3_3_batch_2000.onnx", "prop_3.vnnlib", "holds"),
    ("mnistfc", "mnist-net_256x2.onnx", "prop_0_0.03.vnnlib", None),
    ("mnistfc", "mnist-net_256x2.onnx", "prop_1_0.05.vnnlib", None),
    ("mnistfc", "mnist-net_256x4.onnx", "prop_2_0.03.vnnlib", None),
]


def _real(timeout: float) -> int:
    import numpy as np
    import onnxruntime as ort  # type: ignore[import-untyped]

    from neurarust.onnx import load
    from neurarust.verify.attack import ExactCase, attack_case
    from neurarust.verify.bab import onnxruntime_runner, verify_property
    from neurarust.verify.linear_bounds import extract
    from neurarust.verify.vnnlib import read_vnnlib

    root = os.path.join(_HERE, "..", "..", "shared", "vnncomp")
    if not os.path.isdir(root):
        root = "/work/shared/vnncomp"
    broken = 0
    for bench, net_name, prop_name, known in REAL:
        net_path, prop_path = (os.path.join(root, bench, net_name),
                               os.path.join(root, bench, prop_name))
        if not os.path.isfile(net_path):
            print(f"{net_name}: absent, skipped")
            continue
        import onnx

        proto = onnx.load(net_path)
        inits = {t.name for t in proto.graph.initializer}
        (inp,) = [i for i in proto.graph.input if i.name not in inits]
        shape = tuple(max(1, int(d.dim_value)) for d in inp.type.tensor_type.shape.dim)
        model = load(net_path)
        prop = read_vnnlib(prop_path)
        ort_run = onnxruntime_runner(net_path, shape)
        assert ort_run is not None
        t0 = time.perf_counter()
        r = verify_property(model, shape, prop, timeout=timeout, also=(ort_run,))
        spent = time.perf_counter() - t0
        status = "ok"
        if known is not None and r.verdict not in ("unknown", known):
            status = f"WRONG (known: {known})"
            broken += 1
        sess = ort.InferenceSession(net_path, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name

        def run(x: np.ndarray, sess: object = sess, name: str = name,
                shape: tuple[int, ...] = shape) -> np.ndarray:
            return np.array([np.asarray(sess.run(None, {name: xi.reshape(shape)})[0],  # type: ignore[attr-defined]
                                        np.float64).reshape(-1) for xi in x])

        if r.verdict == "violated":
            assert r.counterexample is not None
            x = np.asarray(r.counterexample[0], np.float32)
            if not prop.unsafe(x, run(x[None])[0]):
                status = "BROKEN: the counterexample does not replay in onnxruntime"
                broken += 1
        elif r.verdict == "holds":
            from neurarust.trace import trace

            net = extract(trace(model, {"x": "f32[" + ", ".join(map(str, shape)) + "]"}))
            rng = np.random.default_rng(0)
            for case in prop.cases:
                ex = ExactCase(tuple(_fr(float(v)) for v in case.lo),
                               tuple(_fr(float(v)) for v in case.hi),
                               tuple((tuple(_fr(k) for k in row[0]), _fr(row[1]), row[2])
                                     for row in case.exact))
                hit = attack_case(net, [run], ex, rng, samples=256, starts=32, steps=40)
                if hit is not None:
                    status = f"BROKEN: 'holds' refuted at x = {hit[0].tolist()}"
                    broken += 1
                    break
        print(f"{bench:8s} {net_name:34s} {prop_name:20s} {r.verdict:9s} {spent:7.2f} s  "
              f"{status}", flush=True)
    print(f"real instances: broken {broken}")
    return 1 if broken else 0


def _fr(v: float | Decimal) -> Fraction:
    return Fraction(v)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=500, help="random networks/properties")
    ap.add_argument("--seed0", type=int, default=0, help="the first seed")
    ap.add_argument("--timeout", type=float, default=1.0, help="seconds per verdict")
    ap.add_argument("--budget", type=float, default=None, help="stop after this many seconds")
    ap.add_argument("--real", action="store_true", help="real ACAS Xu / mnistfc instances")
    ap.add_argument("--real-timeout", type=float, default=20.0)
    args = ap.parse_args(argv)
    if args.real:
        return _real(args.real_timeout)
    from neurarust.verify.fuzz_vnnlib import campaign

    t0 = time.perf_counter()
    total = campaign(range(args.seed0, args.seed0 + args.cases), timeout=args.timeout,
                     budget=args.budget, log=lambda s: print(s, flush=True))
    print(f"{total}\n({time.perf_counter() - t0:.0f} s, seeds {args.seed0}.."
          f"{args.seed0 + total.cases - 1})")
    return 1 if total.broken else 0


if __name__ == "__main__":
    sys.exit(main())
