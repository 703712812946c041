"""ONNX backend node conformance: ``python -m neurarust.onnx.conformance [--limit N] [--ops A,B]``.

Runs the ONNX backend node cases (built in memory by
``onnx.backend.test.loader.load_model_tests(kind="node")``) through :func:`nr.onnx.load` and
through onnxruntime, and prints pass / fail / unsupported per op and the totals. Counted cases:
every tensor numpy can represent (no bfloat16, float8, int4, string), and no training,
sequence, optional, string or ``ai.onnx.ml`` op. A case passes when every output matches the
expected one within the case's tolerance (``rtol``/``atol``, as onnx's own backend runner).
"""

from __future__ import annotations

import argparse
import functools
import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Result", "run", "main", "op_of"]

_EXCLUDED_OPS = {
    # training
    "Adagrad", "Adam", "Momentum", "Gradient",
    # sequence / optional
    "SequenceAt", "SequenceConstruct", "SequenceEmpty", "SequenceErase", "SequenceInsert",
    "SequenceLength", "SequenceMap", "ConcatFromSequence", "SplitToSequence", "Optional",
    "OptionalGetElement", "OptionalHasElement",
    # strings
    "StringNormalizer", "StringConcat", "StringSplit", "RegexFullMatch", "TfIdfVectorizer",
}
_ODD_DTYPES = {"bfloat16", "float8", "float4", "int4", "uint4", "int2", "uint2", "string"}


def op_of(case: Any) -> str:
    """The op a node case tests (the model's last node, as the ONNX test names do)."""
    nodes = case.model.graph.node
    return str(nodes[-1].op_type) if nodes else "?"


def _counted(case: Any) -> bool:
    import onnx

    m = case.model
    if any(n.domain not in ("", "ai.onnx") for n in m.graph.node):
        return False
    if any(n.op_type in _EXCLUDED_OPS for n in m.graph.node):
        return False
    if "training" in case.name or "_seq" in case.name or "optional" in case.name:
        return False
    for vi in [*m.graph.input, *m.graph.output]:
        if not vi.type.HasField("tensor_type"):
            return False
        name = onnx.TensorProto.DataType.Name(vi.type.tensor_type.elem_type).lower()
        if any(k in name for k in _ODD_DTYPES):
            return False
    for inputs, outputs in case.data_sets:
        for a in [*inputs, *outputs]:
            if not isinstance(a, np.ndarray) or a.dtype.kind in "OUSV" or \
                    "bfloat" in str(a.dtype) or "float8" in str(a.dtype):
                return False
    return True


def _close(got: Any, want: np.ndarray, rtol: float, atol: float) -> bool:  # type: ignore[type-arg]
    got = np.asarray(got)
    if got.shape != want.shape:
        return False
    if want.dtype.kind in "biu":
        return bool(got.dtype.kind in "biu" and np.array_equal(got, want))
    if got.dtype.kind != "f" and want.dtype.kind == "f":
        return False
    try:
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol,
                                   atol=atol, equal_nan=True)
    except AssertionError:
        return False
    return True


def _ours(case: Any) -> str:
    import neurarust as nr
    from .import_ import OnnxImportError

    msg = ""
    try:
        module = nr.onnx.load(case.model)
    except OnnxImportError as err:
        return "unsupported" if "unsupported op" in str(err) else "fail"
    except Exception:
        return "fail"
    try:
        for inputs, outputs in case.data_sets:
            with nr.no_grad():
                res = module(*[nr.tensor(np.array(a)) for a in inputs])
            res = res if isinstance(res, tuple) else (res,)
            if len(res) < len(outputs):
                return "fail"
            for g, w in zip(res, outputs):
                if not _close(g.detach().numpy(), w, case.rtol, case.atol):
                    return "fail"
    except Exception as err:
        msg = str(err)
        return "unsupported" if "is not supported" in msg or "supported)" in msg else "fail"
    return "pass"


def _ort(case: Any) -> str:
    try:
        import onnxruntime as ort  # type: ignore[import-untyped]
    except ImportError:
        return "n/a"
    try:
        opts = ort.SessionOptions()
        opts.log_severity_level = 4
        sess = ort.InferenceSession(case.model.SerializeToString(), opts,
                                    providers=["CPUExecutionProvider"])
        names = [i.name for i in sess.get_inputs()]
        for inputs, outputs in case.data_sets:
            res = sess.run(None, dict(zip(names, inputs)))
            for g, w in zip(res, outputs):
                if not _close(g, w, case.rtol, case.atol):
                    return "fail"
    except Exception:
        return "fail"
    return "pass"


@functools.cache
def _node_cases() -> list[Any]:
    """The backend node cases, built once per process (building them takes seconds)."""
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(load_model_tests(kind="node"))


@dataclass
class Result:
    """Per-op counts: ``ours[op][status]`` and ``ort[op][status]``."""

    ours: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    ort: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    cases: dict[str, str] = field(default_factory=dict)

    def total(self, which: str = "ours") -> tuple[int, int]:
        table = self.ours if which == "ours" else self.ort
        passed = sum(c["pass"] for c in table.values())
        return passed, sum(sum(c.values()) for c in table.values())


def run(limit: int | None = None, ops: Sequence[str] | None = None,
        with_ort: bool = True) -> Result:
    """Run the counted node cases (optionally only ``ops``, at most ``limit`` cases)."""
    cases = _node_cases()
    result = Result()
    wanted = set(ops) if ops else None
    n = 0
    for case in cases:
        if not _counted(case):
            continue
        op = op_of(case)
        if wanted is not None and op not in wanted:
            continue
        if limit is not None and n >= limit:
            break
        n += 1
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            status = _ours(case)
            result.ours[op][status] += 1
            result.cases[case.name] = status
            if with_ort:
                result.ort[op][_ort(case)] += 1
    return result


def _fmt(c: Counter[str]) -> str:
    return f"{c['pass']:4d} {c['fail']:4d} {c['unsupported']:4d}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m neurarust.onnx.conformance",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--limit", type=int, default=None, help="at most N cases")
    parser.add_argument("--ops", default=None, help="comma-separated ONNX op types")
    parser.add_argument("--no-ort", action="store_true", help="skip onnxruntime")
    parser.add_argument("--cases", default=None,
                        help="also list the cases whose status matches this regex")
    args = parser.parse_args(argv)
    ops = [o.strip() for o in args.ops.split(",")] if args.ops else None
    res = run(args.limit, ops, with_ort=not args.no_ort)
    print(f"{'op':28s} {'neurarust pass fail unsup':>27s} | {'onnxruntime pass fail':>22s}")
    for op in sorted(res.ours):
        print(f"{op:28s} {'':>8s}{_fmt(res.ours[op])} | {'':>12s}"
              f"{res.ort[op]['pass']:4d} {res.ort[op]['fail']:4d}")
    p, t = res.total()
    line = f"TOTAL neurarust: {p}/{t} passed ({100 * p / max(t, 1):.1f}%)"
    if not args.no_ort:
        op_, ot = res.total("ort")
        line += f"; onnxruntime: {op_}/{ot} ({100 * op_ / max(ot, 1):.1f}%)"
    print(line)
    if args.cases:
        pat = re.compile(args.cases)
        for name, status in sorted(res.cases.items()):
            if pat.search(status):
                print(f"  {status:12s} {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
