"""Certificates: what ``verify`` proved about a model, embedded in its exported ONNX file.

A :class:`Certificate` (format and validation: :mod:`.certificate_schema`) records the tool
version, the input and output specs, the assumptions on dims, the input ranges, the proven
facts (every shape obligation with its op, source line and condition; for numeric safety "no
hazard" and the output bounds) and a SHA-256 over the exported model. This module issues
certificates (:func:`certify`, :func:`export_certified`, optionally signed with
:mod:`.signing`) and reads them back (:func:`extract`, :func:`verify_file`); re-checking is
:mod:`.recheck`, which re-proves every claim on the file's own graph and weights.

**What is hashed** (:func:`model_hash`, the one function both sides call): the ONNX graph
that :func:`~neurarust.onnx.export_graph` writes from the traced graph, in a canonical form
that does not depend on protobuf's byte encoding: opset imports, graph inputs and outputs
(name, element type, dims), every node (op type, domain, inputs, outputs, attributes sorted
by name; doc strings, which name source lines, included) and every initializer (name, element
type, dims, and the SHA-256 of its data as little-endian bytes). The model's
``metadata_props`` (where the certificate itself lives) are left out. The hash is an
integrity check (a changed byte is reported at once); it is never a reason to hold, since
whoever edits the file can recompute it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..ir.graph import Graph
from .certificate_schema import (
    F32_MAX,
    SCHEMA,
    Certificate,
    CertificateError,
    ShapeFact,
    parse_certificate,
)
from .recheck import CheckResult, check_certificate

__all__ = ["CERT_KEY", "SCHEMA", "Certificate", "CertificateError", "CheckResult", "ShapeFact",
           "certify", "check_certificate", "embed", "export_certified", "extract", "model_hash",
           "verify_file"]

CERT_KEY = "neurarust.certificate"
"""The ``metadata_props`` key holding the certificate JSON."""


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


def _model_hash(model: Any) -> str:
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


def model_hash(model: Any) -> str:
    """SHA-256 (hex) of an ``onnx.ModelProto``'s graph and weights in canonical form; see the
    module docstring. ``metadata_props`` are not hashed. :class:`CertificateError` when the
    model cannot be read that far (a malformed tensor, an attribute that cannot be hashed)."""
    try:
        return _model_hash(model)
    except CertificateError:
        raise
    except Exception as err:  # noqa: BLE001 -- a malformed file: whatever onnx or numpy raise
        raise CertificateError(f"cannot hash the model: {type(err).__name__}: "
                               f"{str(err)[:160]}") from None


# -- issuing ----------------------------------------------------------------------------------
def certify(graph: Graph, proto: Any, assumptions: Sequence[str] = (),
            input_ranges: dict[str, tuple[float, float]] | None = None) -> Certificate:
    """Verify ``graph`` (the traced graph ``proto`` was exported from) and return its
    certificate; :class:`CertificateError` listing what was not proven otherwise (also for
    unsatisfiable assumptions, under which every proof would be vacuous, and for input
    ranges beyond float32's finite range)."""
    from .. import __version__
    from .assumptions import check_assumptions
    from .numeric import verify_ranges
    from .recheck import _symbols
    from .shape import verify_shapes

    specs = {v.name: v.type_str for v in graph.inputs}
    # Contradictory assumptions, or ones naming a dim no input uses, are a usage error
    # (AssumptionError, exit 2); assumptions z3 cannot decide certify nothing.
    if check_assumptions(assumptions, _symbols(specs), min_size=graph.min_size) != "sat":
        raise CertificateError("not certified: z3 could not tell whether any size satisfies "
                               "the assumptions")
    ranges = dict(input_ranges or {})
    for name, (lo, hi) in ranges.items():
        if not (-F32_MAX <= float(lo) <= float(hi) <= F32_MAX):
            raise CertificateError(f"not certified: the range of {name}, [{lo}, {hi}], is not "
                                   f"an ordered pair of finite float32-range numbers")
    report = verify_shapes(graph, assumptions)
    problems = [str(r) for r in report.results if r.status != "proven"]
    numeric: dict[str, Any] | None = None
    out_names = [o.name for o in proto.graph.output]
    if len(out_names) != len(graph.outputs):
        raise CertificateError(f"not certified: the ONNX graph has {len(out_names)} outputs, "
                               f"the traced graph {len(graph.outputs)}")
    if ranges:
        nr_ = verify_ranges(graph, ranges, assumptions)
        problems += [str(h) for h in nr_.hazards]
        numeric = {"status": "proven", "method": "interval bounds, rounded outward for the "
                                                 "dtype; sizes bounded by the assumptions",
                   "facts": _numeric_facts(graph),
                   "outputs": {n: _claimed(v.lo, v.hi)
                               for n, v in zip(out_names, nr_.outputs.values())}}
    if problems:
        raise CertificateError("not certified: verification did not prove everything:\n  "
                               + "\n  ".join(problems))
    facts = tuple(ShapeFact(r.node.op, r.node.source, r.node.scope, r.obligation.message,
                            str(r.obligation.condition)) for r in report.results)
    cert = Certificate(
        tool_version=__version__, graph=graph.name, inputs=specs,
        outputs={n: v.type_str for n, v in zip(out_names, graph.output_values)},
        assumptions=tuple(assumptions), min_size=int(graph.min_size or 0),
        input_ranges={k: (float(lo), float(hi)) for k, (lo, hi) in ranges.items()},
        shape_facts=facts, numeric=numeric, hash=model_hash(proto))
    try:
        parse_certificate(cert.to_json())
    except (CertificateError, ValueError) as err:
        raise CertificateError(f"not certified: the certificate would not validate: {err}") \
            from None
    return cert


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


def embed(proto: Any, cert: Certificate, sign_key: str | None = None) -> None:
    """Store ``cert`` in ``proto.metadata_props`` (replacing an earlier one and its
    signature); the hash must be the proto's own. ``sign_key``: an Ed25519 private key PEM
    file; the signature (see :mod:`.signing`) is stored next to the certificate."""
    from .signing import SIGNATURE_KEY, sign

    actual = model_hash(proto)
    if cert.hash != actual:
        raise CertificateError("the certificate's hash is not this model's: it was issued for "
                               "another graph or other weights")
    text = cert.to_json()
    signature = None if sign_key is None else sign(text, actual, sign_key)
    keep = [(p.key, p.value) for p in proto.metadata_props
            if p.key not in (CERT_KEY, SIGNATURE_KEY)]
    del proto.metadata_props[:]
    for key, value in [*keep, (CERT_KEY, text)] + (
            [] if signature is None else [(SIGNATURE_KEY, signature.to_json())]):
        entry = proto.metadata_props.add()
        entry.key = key
        entry.value = value


def extract(proto: Any) -> Certificate | None:
    """The certificate embedded in ``proto`` (validated: :class:`CertificateError` when it
    is malformed), or None."""
    for p in proto.metadata_props:
        if p.key == CERT_KEY:
            return parse_certificate(p.value)
    return None


def export_certified(graph: Graph, path: Any, assumptions: Sequence[str] = (),
                     input_ranges: dict[str, tuple[float, float]] | None = None, *,
                     opset: int | None = None,
                     sign_key: str | None = None) -> tuple[Any, Certificate]:
    """Export the traced ``graph`` (never re-traced) with its certificate embedded: the same
    graph is proven, exported and hashed, then the certificate is re-checked on the exported
    model as ``neurarust verify`` will (:func:`check_certificate`), so a file is written only
    when its check will hold. :class:`CertificateError` (nothing written) when something
    asked is not proven. ``sign_key``: sign with this Ed25519 private key (PEM). Returns
    ``(proto, certificate)``."""
    from .._atomic import atomic_write
    from ..onnx.export import DEFAULT_OPSET, export_graph

    proto = export_graph(graph, opset=DEFAULT_OPSET if opset is None else opset)
    cert = certify(graph, proto, assumptions, input_ranges)
    embed(proto, cert, sign_key)
    check = check_certificate(proto)
    if not check.ok:
        raise CertificateError("not certified: the exported file's certificate does not "
                               "re-check:\n  " + "\n  ".join(check.problems))
    if path is not None:
        data = proto.SerializeToString()

        def write(f: Any) -> None:
            f.write(data)

        atomic_write(path, write)
    return proto, cert


def verify_file(path: str, trust: Sequence[str] = ()) -> CheckResult:
    """Read an ONNX file and re-check its certificate (:mod:`.recheck`).
    :class:`CertificateError` when it has none, the file is unreadable, or (``trust``:
    Ed25519 public key PEM files) it is not validly signed by one of those keys."""
    from ..onnx.import_ import OnnxImportError, _parse
    from .signing import load_public_key

    keys = [load_public_key(p) for p in trust]
    try:
        proto = _parse(path)
    except OnnxImportError as err:
        raise CertificateError(str(err)) from None
    return check_certificate(proto, keys)
