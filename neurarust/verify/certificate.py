"""Certificates: what ``verify`` proved about a model, embedded in its exported ONNX file.

A :class:`Certificate` records the tool version, the assumptions on dims, the input ranges,
the proven facts (every shape obligation with its op, source line and condition; for numeric
safety "no hazard" and the output bounds) and a SHA-256 over the exported model.

**What is hashed** (:func:`model_hash`, the one function both sides call): the ONNX graph
that :func:`~neurarust.onnx.export_graph` writes from the traced graph, in a canonical form
that does not depend on protobuf's byte encoding: opset imports, graph inputs and outputs
(name, element type, dims), every node (op type, domain, inputs, outputs, attributes sorted
by name; doc strings, which name source lines, included) and every initializer (name, element
type, dims, and the SHA-256 of its data as little-endian bytes). The model's
``metadata_props`` (where the certificate itself lives) are left out. The ONNX graph rather
than our IR is hashed because it is the only view the exporter and the importer share: the
importer maps ONNX ops back onto registered ops in a different decomposition, so an IR hash
could not be recomputed from the file. The ONNX graph is a deterministic function of the
traced graph (one trace: the graph proven is the graph written and hashed).

**Re-checking** (:func:`check_certificate`, ``neurarust verify net.onnx``):

1. the hash is recomputed from the file (any changed weight byte, node or attribute fails);
2. every recorded shape obligation is re-proven by z3 under the recorded assumptions (and
   ``dim >= min_size``), so an edited assumption that no longer implies an obligation fails;
3. numeric claims are re-proven on the file itself: the ONNX graph is imported
   (``nr.onnx.load``) and traced, and ``verify_ranges`` runs on that trace with the recorded
   input ranges and assumptions; it must find no hazard and output bounds inside the recorded
   ones, per element (so a changed weight fails even if the hash were forged). When the
   imported model does not trace symbolically (an importer that needs a size as data, such
   as ``Range`` over ``T``), it is traced at the least and at the greatest sizes the
   assumptions allow, where size-dependent bounds are extreme; when even that is impossible
   (an unbounded dim), the numeric claims are only hash-checked, and the report says so.

The certificate is not signed: it proves nothing about who produced it, only that its claims
hold for the file it is embedded in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..ir.graph import Graph
from ..types.z3_algebra import Z3Algebra

__all__ = ["CERT_KEY", "Certificate", "CertificateError", "CheckResult", "ShapeFact",
           "certify", "check_certificate", "embed", "export_certified", "extract", "model_hash",
           "verify_file"]

CERT_KEY = "neurarust.certificate"
"""The ``metadata_props`` key holding the certificate JSON."""
SCHEMA = 1


class CertificateError(Exception):
    """Verification did not prove everything asked, so no certificate can be issued; or a
    certificate is malformed."""


@dataclass(frozen=True)
class ShapeFact:
    """A proven shape obligation: the op, its source line, and the condition (a dim
    expression that :func:`~neurarust.verify.shape.parse_assumption` reads back)."""

    op: str
    source: str
    scope: str
    message: str
    condition: str


@dataclass(frozen=True)
class Certificate:
    """See the module docstring. ``numeric`` is None when no input range was given, else
    ``{"status": "proven", "outputs": {name: {"lo": [...], "hi": [...]}}}``."""

    tool_version: str
    graph: str
    inputs: dict[str, str]
    assumptions: tuple[str, ...]
    min_size: int | None
    input_ranges: dict[str, tuple[float, float]]
    shape_facts: tuple[ShapeFact, ...]
    numeric: dict[str, Any] | None
    hash: str
    hash_scope: str = "onnx-graph-canonical-v1"
    schema: int = SCHEMA

    def to_json(self) -> str:
        d = asdict(self)
        d["assumptions"] = list(self.assumptions)
        d["input_ranges"] = {k: list(v) for k, v in self.input_ranges.items()}
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Certificate:
        try:
            d = json.loads(text)
            if d.get("schema") != SCHEMA:
                raise CertificateError(f"certificate schema {d.get('schema')!r} is not "
                                       f"{SCHEMA}")
            return cls(
                tool_version=str(d["tool_version"]), graph=str(d["graph"]),
                inputs={str(k): str(v) for k, v in d["inputs"].items()},
                assumptions=tuple(str(a) for a in d["assumptions"]),
                min_size=None if d["min_size"] is None else int(d["min_size"]),
                input_ranges={str(k): (float(v[0]), float(v[1]))
                              for k, v in d["input_ranges"].items()},
                shape_facts=tuple(ShapeFact(**f) for f in d["shape_facts"]),
                numeric=d["numeric"], hash=str(d["hash"]), hash_scope=str(d["hash_scope"]),
                schema=int(d["schema"]))
        except CertificateError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as err:
            raise CertificateError(f"malformed certificate: {type(err).__name__}: {err}") from None


# -- hashing ----------------------------------------------------------------------------------
def _canon_attr(onnx: Any, a: Any) -> Any:
    v = onnx.helper.get_attribute_value(a)
    if isinstance(v, onnx.TensorProto):
        return ["tensor", _canon_tensor(onnx, v)]
    if isinstance(v, bytes):
        return ["bytes", v.hex()]
    if isinstance(v, (list, tuple)):
        return [x.hex() if isinstance(x, bytes) else
                (_canon_tensor(onnx, x) if isinstance(x, onnx.TensorProto) else x) for x in v]
    if isinstance(v, float) and not np.isfinite(v):
        return repr(v)
    if isinstance(v, (int, float, str)):
        return v
    raise CertificateError(f"cannot hash attribute {a.name!r} of type {type(v).__name__}")


def _canon_tensor(onnx: Any, t: Any) -> list[Any]:
    arr = np.ascontiguousarray(onnx.numpy_helper.to_array(t))
    data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
    return [t.name, int(t.data_type), list(t.dims), hashlib.sha256(data).hexdigest()]


def _canon_value_info(vi: Any) -> list[Any]:
    tt = vi.type.tensor_type
    dims = [d.dim_param if d.HasField("dim_param") else int(d.dim_value) for d in tt.shape.dim]
    return [vi.name, int(tt.elem_type), dims]


def model_hash(model: Any) -> str:
    """SHA-256 (hex) of an ``onnx.ModelProto``'s graph and weights in canonical form; see the
    module docstring. ``metadata_props`` are not hashed."""
    from ..onnx.builder import require_onnx

    onnx = require_onnx()
    g = model.graph
    canon = {
        "opset": sorted([o.domain, int(o.version)] for o in model.opset_import),
        "inputs": [_canon_value_info(v) for v in g.input],
        "outputs": [_canon_value_info(v) for v in g.output],
        "nodes": [[n.op_type, n.domain, list(n.input), list(n.output), n.doc_string,
                   sorted([a.name, _canon_attr(onnx, a)] for a in n.attribute)]
                  for n in g.node],
        "initializers": [_canon_tensor(onnx, t) for t in g.initializer],
    }
    text = json.dumps(canon, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# -- issuing ----------------------------------------------------------------------------------
def certify(graph: Graph, proto: Any, assumptions: Sequence[str] = (),
            input_ranges: dict[str, tuple[float, float]] | None = None) -> Certificate:
    """Verify ``graph`` (the traced graph ``proto`` was exported from) and return its
    certificate; :class:`CertificateError` listing what was not proven otherwise."""
    from .. import __version__
    from .numeric import verify_ranges
    from .shape import verify_shapes

    report = verify_shapes(graph, assumptions)
    problems = [str(r) for r in report.results if r.status != "proven"]
    numeric: dict[str, Any] | None = None
    ranges = dict(input_ranges or {})
    if ranges:
        nr_ = verify_ranges(graph, ranges, assumptions)
        problems += [str(h) for h in nr_.hazards]
        numeric = {"status": "proven", "method": "interval bounds, rounded outward for the "
                                                 "dtype; sizes bounded by the assumptions",
                   "facts": _numeric_facts(graph),
                   "outputs": {k: _claimed(v.lo, v.hi) for k, v in nr_.outputs.items()}}
    if problems:
        raise CertificateError("not certified: verification did not prove everything:\n  "
                               + "\n  ".join(problems))
    facts = tuple(ShapeFact(r.node.op, r.node.source, r.node.scope, r.obligation.message,
                            str(r.obligation.condition)) for r in report.results)
    return Certificate(
        tool_version=__version__, graph=graph.name,
        inputs={v.name: v.type_str for v in graph.inputs},
        assumptions=tuple(assumptions), min_size=graph.min_size,
        input_ranges={k: (float(lo), float(hi)) for k, (lo, hi) in ranges.items()},
        shape_facts=facts, numeric=numeric, hash=model_hash(proto))


CLAIM_MARGIN = 2.0 ** -16
"""Recorded output bounds are the proven ones widened by this fraction of their magnitude
(still sound: a wider bound of a bounded value): the re-proof runs on the imported graph,
whose decomposition may round once more than the exported one, and must fit inside."""


def _claimed(lo: Any, hi: Any) -> dict[str, Any]:
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        margin = CLAIM_MARGIN * np.maximum(np.abs(lo), np.abs(hi)) + 2.0 ** -126
    return {"lo": (lo - margin).tolist(), "hi": (hi + margin).tolist()}


def _numeric_facts(graph: Graph) -> list[str]:
    """What "no hazard" covers, one line per node: its op and source line."""
    return [f"{n.op} at {n.source}: no numeric hazard (no nan, inf, overflow, out-of-range "
            f"index) for inputs in range" for n in graph.nodes]


def embed(proto: Any, cert: Certificate) -> None:
    """Store ``cert`` in ``proto.metadata_props`` (replacing an earlier one); the hash must
    be the proto's own."""
    if cert.hash != model_hash(proto):
        raise CertificateError("the certificate's hash is not this model's: it was issued for "
                               "another graph or other weights")
    for i, p in enumerate(proto.metadata_props):
        if p.key == CERT_KEY:
            del proto.metadata_props[i]
            break
    entry = proto.metadata_props.add()
    entry.key = CERT_KEY
    entry.value = cert.to_json()


def extract(proto: Any) -> Certificate | None:
    """The certificate embedded in ``proto``, or None."""
    for p in proto.metadata_props:
        if p.key == CERT_KEY:
            return Certificate.from_json(p.value)
    return None


# -- re-checking ------------------------------------------------------------------------------
@dataclass
class CheckResult:
    """The verdict of :func:`check_certificate`: ``ok`` when every check passed."""

    certificate: Certificate
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def __str__(self) -> str:
        c = self.certificate
        head = (f"certificate of {c.graph} (neurarust {c.tool_version}): "
                + ("HOLDS" if self.ok else "FAILS"))
        lines = [head, f"  assuming: {', '.join(c.assumptions) or '(nothing)'}; every dim >= "
                       f"{c.min_size}",
                 f"  input ranges: " + (", ".join(f"{k} in [{lo:g}, {hi:g}]"
                                                   for k, (lo, hi) in c.input_ranges.items())
                                        or "(none)")]
        lines += [f"  FAILED: {p}" for p in self.problems]
        lines += [f"  {n}" for n in self.notes]
        return "\n".join(lines)


def _reprove_shapes(cert: Certificate, result: CheckResult) -> None:
    from .shape import parse_assumption

    from ..trace.tracer import parse_spec

    z = Z3Algebra(min_size=cert.min_size)
    try:
        for spec in cert.inputs.values():  # every named dim >= min_size, as when tracing
            for d in parse_spec(spec)[1]:
                for s in sorted(d.free_symbols()):
                    z.dim(s)
        dims = list(z.symbols)
        facts = [parse_assumption(a, z) for a in cert.assumptions]
    except (ValueError, Exception) as err:
        result.problems.append(f"recorded inputs or assumptions unreadable: {err}")
        return
    from .assumptions import AssumptionError, check_assumptions

    try:  # a claim proven under contradictory assumptions is a claim about nothing
        if check_assumptions(cert.assumptions, dims, min_size=cert.min_size) != "sat":
            result.problems.append("recorded assumptions: z3 could not show them satisfiable")
            return
    except AssumptionError as err:
        result.problems.append(f"recorded assumptions: {err}")
        return
    from ..types.symbolic import Obligation

    n_ok = 0
    for f in cert.shape_facts:
        try:
            cond = parse_assumption(f.condition, z)
        except ValueError as err:
            result.problems.append(f"{f.op} at {f.source}: condition unreadable: {err}")
            continue
        proof = z.prove(Obligation(cond, f.message), facts, timeout_ms=10_000)
        if proof.proven:
            n_ok += 1
        else:
            cex = proof.counterexample
            shown = "" if not cex else " (counterexample: " + ", ".join(
                f"{k}={v}" for k, v in cex.items()) + ")"
            result.problems.append(f"shape obligation no longer proven under the recorded "
                                   f"assumptions: {f.op} at {f.source}: {f.message}: requires "
                                   f"{f.condition}{shown}")
    result.notes.append(f"shape: {n_ok}/{len(cert.shape_facts)} recorded obligations re-proven "
                        f"by z3 under the recorded assumptions")


def _corner_specs(cert: Certificate) -> list[dict[str, str]] | str:
    """Input specs at the least and at the greatest sizes the recorded assumptions allow
    (every named dim at once), or why there are none (a dim no assumption bounds)."""
    from ..trace.tracer import parse_spec
    from ..types.dim import Dim
    from .sizes import Sizes

    symbols = sorted({s for spec in cert.inputs.values() for d in parse_spec(spec)[1]
                      for s in d.free_symbols()})
    if not symbols:
        return [dict(cert.inputs)]
    sizes = Sizes(symbols, list(cert.assumptions), min_size=cert.min_size)
    ranges = {n: sizes.range(Dim.sym(n)) for n in symbols}
    open_ = [n for n, r in ranges.items() if r.hi == float("inf")]
    if open_:
        return f"no assumption bounds {', '.join(open_)}"
    corners = []
    for end in ("lo", "hi"):
        binding = {n: int(getattr(r, end)) for n, r in ranges.items()}
        specs = {}
        for name, spec in cert.inputs.items():
            dtype, dims = parse_spec(spec)
            specs[name] = f"{dtype.short}[{', '.join(str(d.evaluate(binding)) for d in dims)}]"
        corners.append(specs)
    return corners


def _traces(cert: Certificate, proto: Any, result: CheckResult) -> list[tuple[Graph, str]]:
    """The imported model traced symbolically; failing that (an importer that needs a size
    as data), traced at the least and greatest sizes the assumptions allow, where the
    size-dependent bounds (counts of sums, ``arange(T)``'s last index) are extreme."""
    from ..onnx import load
    from ..trace import trace

    try:
        return [(trace(load(proto), dict(cert.inputs)), "its symbolic trace")]
    except Exception as err:  # the imported model cannot be traced symbolically
        why = f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"
    corners = _corner_specs(cert)
    if isinstance(corners, str):
        result.notes.append(f"numeric: NOT re-proven (the imported model does not trace "
                            f"symbolically: {why}; and {corners}); only hash-checked")
        return []
    try:
        out = [(trace(load(proto), specs), ", ".join(f"{k}: {v}" for k, v in specs.items()))
               for specs in corners]
    except Exception as err:
        result.notes.append(f"numeric: NOT re-proven (the imported model traces neither "
                            f"symbolically nor at concrete sizes: {type(err).__name__}); "
                            f"only hash-checked")
        return []
    result.notes.append(f"numeric: the imported model does not trace symbolically ({why}); "
                        f"re-proving at the least and greatest sizes the assumptions allow")
    return out


def _reprove_numeric(cert: Certificate, proto: Any, result: CheckResult) -> None:
    if cert.numeric is None:
        if cert.input_ranges:
            result.problems.append("input ranges are recorded but no numeric claim is")
        return
    from .numeric import verify_ranges

    before = len(result.problems)
    traces = _traces(cert, proto, result)
    for graph, where in traces:
        try:
            report = verify_ranges(graph, dict(cert.input_ranges), list(cert.assumptions))
        except ValueError as err:
            result.problems.append(f"numeric: {err}")
            return
        for h in report.hazards:
            result.problems.append(f"numeric ({where}): {h}")
        recorded = cert.numeric.get("outputs", {})
        if len(recorded) != len(report.outputs):
            result.problems.append(f"numeric: {len(recorded)} recorded outputs, the model has "
                                   f"{len(report.outputs)}")
        for (name, rec), iv in zip(recorded.items(), report.outputs.values()):
            lo = np.asarray(rec["lo"], dtype=np.float64)
            hi = np.asarray(rec["hi"], dtype=np.float64)
            try:  # per element where both are, else against the recorded hull
                outside = bool(np.any(iv.lo < lo) or np.any(iv.hi > hi))
            except ValueError:
                outside = bool(np.min(iv.lo) < np.min(lo) or np.max(iv.hi) > np.max(hi))
            if outside:
                result.problems.append(
                    f"numeric ({where}): output {name} re-proven in "
                    f"[{float(np.min(iv.lo)):.6g}, {float(np.max(iv.hi)):.6g}], not inside the "
                    f"recorded [{float(np.min(lo)):.6g}, {float(np.max(hi)):.6g}]")
    if traces and len(result.problems) == before:
        result.notes.append(f"numeric: re-proven on the file itself (its graph imported and "
                            f"traced: {'; '.join(w for _, w in traces)}; "
                            f"{len(traces[0][0].nodes)} nodes): no hazard, output bounds inside "
                            f"the recorded ones")


def check_certificate(proto: Any) -> CheckResult:
    """Re-check the certificate embedded in ``proto`` (see the module docstring).
    :class:`CertificateError` when there is none or it is malformed."""
    cert = extract(proto)
    if cert is None:
        raise CertificateError(f"the model carries no neurarust certificate (metadata key "
                               f"{CERT_KEY!r}); export it with `neurarust export --verify`")
    result = CheckResult(cert)
    actual = model_hash(proto)
    if actual != cert.hash:
        result.problems.append(f"hash mismatch: the graph or a weight was changed after "
                               f"certification (certified {cert.hash[:16]}..., file "
                               f"{actual[:16]}...)")
        return result
    result.notes.append(f"hash: sha256 {actual[:16]}... of graph + weights matches")
    _reprove_shapes(cert, result)
    _reprove_numeric(cert, proto, result)
    return result


def export_certified(graph: Graph, path: Any, assumptions: Sequence[str] = (),
                     input_ranges: dict[str, tuple[float, float]] | None = None, *,
                     opset: int | None = None) -> tuple[Any, Certificate]:
    """Export the traced ``graph`` (never re-traced) with its certificate embedded: the same
    graph is proven, exported and hashed. :class:`CertificateError` (nothing written) when
    something asked is not proven. Returns ``(proto, certificate)``."""
    from .._atomic import atomic_write
    from ..onnx.export import DEFAULT_OPSET, export_graph

    proto = export_graph(graph, opset=DEFAULT_OPSET if opset is None else opset)
    cert = certify(graph, proto, assumptions, input_ranges)
    embed(proto, cert)
    if path is not None:
        data = proto.SerializeToString()

        def write(f: Any) -> None:
            f.write(data)

        atomic_write(path, write)
    return proto, cert


def verify_file(path: str) -> CheckResult:
    """Read an ONNX file and re-check its certificate (:class:`CertificateError` when it has
    none or the file is unreadable)."""
    from ..onnx.import_ import OnnxImportError, _parse

    try:
        proto = _parse(path)
    except OnnxImportError as err:
        raise CertificateError(str(err)) from None
    return check_certificate(proto)
