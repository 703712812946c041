"""Re-checking a certificate: every recorded claim re-proven on the file's own graph.

``neurarust verify net.onnx`` answers HOLDS only when each claim below is re-proven by this
verifier, now, on the graph and weights in the file; a claim that cannot be re-proven makes
the check fail and names the claim. The embedded hash is checked too, but only as an
integrity check: anyone who edits the file can recompute it, so it is never a reason to hold.

Claims, in order (a failed one stops those after it that depend on it):

1. **hash**: the recorded SHA-256 is the file's (:func:`model_hash`). Otherwise the file was
   changed after certification (refuted: the two hashes are the witness).
2. **input/output specs**: every recorded input and output spec (name, element type, dims or
   dim names) is the one the ONNX graph declares (refuted otherwise: onnxruntime enforces the
   declared types, so a recorded ``f32[B, 9]`` for a graph input ``f32[B, 8]`` is false).
3. **assumptions satisfiable** (z3, with ``dim >= min_size`` for every named dim): an
   unsatisfiable set would make every proof vacuous. Conflicting assumptions are named (an
   unsat core).
4. **recorded shape conditions**: each recorded obligation's condition is proven by z3 under
   the recorded assumptions.
5. **the file's own obligations**: the graph is imported (``nr.onnx.load``) and traced with the
   recorded specs; every obligation of *that* trace is proven under the assumptions, so
   deleting obligations from the certificate does not help a forger. A graph the importer
   can trace only at concrete sizes (``Range`` over ``Shape(x)``) is traced at **every** size
   combination the assumptions allow when there are at most :data:`MAX_COMBINATIONS`;
   otherwise the claims are not re-proven.
6. **output specs and numeric claims**: the trace's output dtypes and dims are the recorded
   ones; with input ranges, ``verify_ranges`` on that trace finds no hazard and output bounds
   inside the recorded ones (per element, the recorded array broadcast over the output).

Verdicts: ``reproven``; ``refuted`` only with a concrete witness (a z3 model for a shape
condition, sizes at which the file's graph fails to trace, or an input inside the recorded
ranges whose onnxruntime output is non-finite or leaves the recorded bounds); ``unproven``
otherwise. Exit codes: 0 every claim re-proven, 1 a claim refuted, 3 a claim not re-proven
(and none refuted); 2 (raised as :class:`CertificateError` before any claim is judged) no
certificate, a malformed one, or a signature missing or invalid under ``--trust``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import z3

from ..types.dim import Dim
from ..types.z3_algebra import Z3Algebra
from .certificate_schema import (
    Certificate,
    CertificateError,
    canonical_json,
    parse_certificate,
    parse_json,
)

__all__ = [
    "MAX_COMBINATIONS",
    "CheckResult",
    "Claim",
    "check_certificate",
    "conflicting_assumptions",
    "size_combinations",
]

MAX_COMBINATIONS = 64
"""A graph that traces only at concrete sizes is re-proven at every size combination the
assumptions allow, when they allow at most this many; else its claims are not re-proven."""
MAX_ELEMENTS = 2**22
"""Concrete re-proofs and the onnxruntime search are skipped (unproven) above this many input
elements."""
Z3_MS = 5_000
"""The most one z3 query may take."""
CHECK_SECONDS = 20.0
"""The z3 work of one check (satisfiability, recorded conditions, the file's obligations, size
enumeration) stops after this long; what is left is not re-proven."""


class Budget:
    """A deadline for the z3 work of one check (so 4,096 hard recorded conditions cannot
    keep it busy for hours)."""

    def __init__(self, seconds: float = CHECK_SECONDS) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    @property
    def spent(self) -> bool:
        return time.monotonic() >= self.end

    def ms(self) -> int:
        """Milliseconds for the next z3 query: at most Z3_MS, at least 1."""
        return max(1, min(Z3_MS, int((self.end - time.monotonic()) * 1000)))


@dataclass(frozen=True)
class Claim:
    """One claim's verdict: ``reproven``, ``refuted`` (with a witness) or ``unproven``."""

    name: str
    status: str
    detail: str

    def __str__(self) -> str:
        word = {"reproven": "re-proven", "refuted": "REFUTED", "unproven": "NOT RE-PROVEN"}
        return f"{self.name}: {word[self.status]}: {self.detail}"


@dataclass
class CheckResult:
    """The verdict of :func:`check_certificate`: ``ok`` when every claim was re-proven."""

    certificate: Certificate
    claims: list[Claim] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    budget: Budget = field(default_factory=Budget, repr=False)

    def add(self, name: str, status: str, detail: str) -> None:
        self.claims.append(Claim(name, status, detail))

    @property
    def problems(self) -> list[str]:
        return [str(c) for c in self.claims if c.status != "reproven"]

    @property
    def ok(self) -> bool:
        return bool(self.claims) and not self.problems

    @property
    def exit_code(self) -> int:
        if any(c.status == "refuted" for c in self.claims):
            return 1
        return 0 if self.ok else 3

    def __str__(self) -> str:
        c = self.certificate
        verdict = ("HOLDS" if self.ok else "FAILS (refuted)" if self.exit_code == 1
                   else "NOT RE-PROVEN")
        ranges = ", ".join(f"{k} in [{lo:g}, {hi:g}]" for k, (lo, hi) in c.input_ranges.items())
        lines = [f"certificate of {c.graph} (neurarust {c.tool_version}): {verdict}",
                 f"  inputs: {', '.join(f'{k}: {v}' for k, v in c.inputs.items())}",
                 (f"  assuming: {', '.join(c.assumptions) or '(nothing)'}; every dim >= "
                  f"{c.min_size}"),
                 f"  input ranges: {ranges or '(none)'}"]
        lines += [f"  {n}" for n in self.notes]
        lines += [f"  {'' if cl.status == 'reproven' else 'FAILED: '}{cl}" for cl in self.claims]
        return "\n".join(lines)


def _metadata(proto: Any, key: str) -> str | None:
    values = [p.value for p in proto.metadata_props if p.key == key]
    if len(values) > 1:
        raise CertificateError(f"the model carries {len(values)} metadata entries {key!r}; "
                               f"expected one")
    return values[0] if values else None


# -- signature --------------------------------------------------------------------------------
def _check_signature(proto: Any, text: str, actual_hash: str, trusted: Sequence[bytes],
                     result: CheckResult) -> None:
    from .signing import (
        SIGNATURE_KEY,
        SignatureError,
        fingerprint,
        read_signature,
        verify_signature,
    )

    stored = _metadata(proto, SIGNATURE_KEY)
    if stored is None:
        if trusted:
            raise SignatureError("the certificate is not signed, and --trust requires a "
                                 "signature by " + ", ".join(map(fingerprint, trusted)))
        result.notes.append("signature: none (the certificate says what holds, not who "
                            "certified it)")
        return
    sig = read_signature(stored)
    if not verify_signature(sig, canonical_json(parse_json(text)), actual_hash):
        raise SignatureError(f"the signature by key {sig.fingerprint} does not verify: the "
                             f"certificate or the model was changed after signing")
    if trusted and sig.public_key not in trusted:
        raise SignatureError(f"signed by key {sig.fingerprint}, which is not a trusted key ("
                             + ", ".join(map(fingerprint, trusted)) + ")")
    result.notes.append(f"signature: valid, by key {sig.fingerprint}"
                        + (" (trusted)" if trusted else " (not checked against a trusted key: "
                                                        "give --trust PUB.pem)"))


# -- specs ------------------------------------------------------------------------------------
def _declared(vi: Any) -> tuple[int, list[Dim | None]] | None:
    """The element type and dims an ONNX value_info declares (None for an unknown dim or a
    dim expression that is not a guarded dim), or None when it is not a typed tensor."""
    from .certificate_schema import _guard_expr

    if not vi.type.HasField("tensor_type") or not vi.type.tensor_type.HasField("shape"):
        return None
    tt = vi.type.tensor_type
    dims: list[Dim | None] = []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            dims.append(Dim.const(int(d.dim_value)))
        elif d.HasField("dim_param"):
            try:
                _guard_expr(d.dim_param, "graph", "dim")
                dims.append(Dim.parse(d.dim_param))
            except (CertificateError, ValueError):
                dims.append(None)
        else:
            dims.append(None)
    return int(tt.elem_type), dims


def _spec_problem(spec: str, vi: Any) -> str | None:
    from ..onnx.builder import onnx_dtype
    from ..trace.tracer import parse_spec

    dtype, dims = parse_spec(spec)
    declared = _declared(vi)
    if declared is None:
        return "the graph declares no tensor shape for it"
    elem, gdims = declared
    import onnx

    try:
        elem_name = onnx.TensorProto.DataType.Name(elem)
    except ValueError:
        elem_name = str(elem)
    shown = f"{elem_name}[{', '.join('?' if d is None else str(d) for d in gdims)}]"
    if elem != onnx_dtype(dtype):
        return f"the graph declares {shown}: element type {elem_name}, not {dtype.name}"
    if len(gdims) != len(dims) or any(g is None or g != d for g, d in zip(gdims, dims)):
        return f"the graph declares {shown}"
    return None


def _check_specs(cert: Certificate, proto: Any, result: CheckResult) -> dict[str, str] | None:
    """Recorded specs against the graph's declared inputs/outputs; the input specs in the
    graph's order, or None when they do not match."""
    g = proto.graph
    inits = {t.name for t in g.initializer}
    ins = [vi for vi in g.input if vi.name not in inits]
    ok = True
    for what, recorded, declared in (("input", cert.inputs, ins), ("output", cert.outputs,
                                                                    list(g.output))):
        names = [vi.name for vi in declared]
        if sorted(names) != sorted(recorded) or (what == "output" and names != list(recorded)):
            result.add(f"{what} specs", "refuted", f"the certificate records {what}s "
                       f"{list(recorded)[:8]}, the graph's are {names[:8]}")
            ok = False
            continue
        for vi in declared:
            problem = _spec_problem(recorded[vi.name], vi)
            if problem is not None:
                result.add(f"{what} spec {vi.name}", "refuted",
                           f"recorded {recorded[vi.name]}; {problem}")
                ok = False
    if not ok:
        return None
    result.add("input/output specs", "reproven", "the recorded specs are the ones the ONNX "
               "graph declares")
    return {vi.name: cert.inputs[vi.name] for vi in ins}


# -- assumptions and sizes --------------------------------------------------------------------
def _symbols(specs: Mapping[str, str]) -> list[str]:
    from ..trace.tracer import parse_spec

    return sorted({s for spec in specs.values() for d in parse_spec(spec)[1]
                   for s in d.free_symbols()})


def _algebra(cert: Certificate, specs: Mapping[str, str]) -> tuple[Z3Algebra, list[Any]]:
    from .shape import parse_assumption

    z = Z3Algebra(min_size=cert.min_size)
    for s in _symbols(specs):
        z.dim(s)
    return z, [parse_assumption(a, z) for a in cert.assumptions]


def conflicting_assumptions(specs: Mapping[str, str], assumptions: Sequence[str],
                            min_size: int | None, timeout_ms: int = Z3_MS) -> str | None:
    """None when z3 finds sizes satisfying the assumptions (and every named dim of the specs
    ``>= min_size``); else why not: unsatisfiable (naming an unsat core), naming a dim no
    input uses, or undecided. The check itself is :func:`.assumptions.check_assumptions`,
    the one every proof runs first."""
    from .assumptions import AssumptionError, check_assumptions

    try:
        verdict = check_assumptions(assumptions, _symbols(specs), min_size=min_size,
                                    timeout_ms=timeout_ms)
    except AssumptionError as err:
        return f"unusable: {err}"
    if verdict == "sat":
        return None
    return "undecided: z3 could not tell whether any size satisfies them"


def _check_assumptions(cert: Certificate, specs: Mapping[str, str],
                       result: CheckResult) -> bool:
    conflict = conflicting_assumptions(specs, cert.assumptions, cert.min_size,
                                       result.budget.ms())
    if conflict is None:
        result.add("assumptions", "reproven", f"satisfiable (z3), with every dim >= "
                   f"{cert.min_size}")
        return True
    result.add("assumptions", "unproven", conflict)
    return False


def size_combinations(cert: Certificate, specs: Mapping[str, str],
                      limit: int = MAX_COMBINATIONS,
                      budget: Budget | None = None) -> list[dict[str, int]] | str:
    """Every binding of the specs' named dims that the assumptions allow, or why not (more
    than ``limit``, or z3 gave up)."""
    z, facts = _algebra(cert, specs)
    syms = {n: z.dim(n) for n in _symbols(specs)}
    budget = budget or Budget()
    s = z3.Solver()
    s.add(*z.assumptions, *facts)
    out: list[dict[str, int]] = []
    while True:
        if budget.spent:
            return f"the time budget ({budget.seconds:g} s) ran out enumerating sizes"
        s.set("timeout", budget.ms())
        verdict = s.check()
        if verdict == z3.unsat:
            return out
        if verdict != z3.sat:
            return "z3 could not enumerate the sizes the assumptions allow"
        m = s.model()
        vals = {n: m.eval(v, model_completion=True).as_long()  # type: ignore[attr-defined]
                for n, v in syms.items()}
        out.append(vals)
        if len(out) > limit or not syms:
            return (out if not syms else
                    f"the assumptions allow more than {limit} size combinations")
        s.add(z3.Or(*[v != vals[n] for n, v in syms.items()]))


def _concrete_specs(specs: Mapping[str, str], sizes: Mapping[str, int]) -> dict[str, str]:
    from ..trace.tracer import parse_spec

    out = {}
    for name, spec in specs.items():
        dtype, dims = parse_spec(spec)
        out[name] = f"{dtype.short}[{', '.join(str(d.evaluate(sizes)) for d in dims)}]"
    return out


def _elements(specs: Mapping[str, str], sizes: Mapping[str, int]) -> int:
    from ..trace.tracer import parse_spec

    total = 0
    for spec in specs.values():
        n = 1
        for d in parse_spec(spec)[1]:
            n *= max(d.evaluate(sizes), 0)
        total += n
    return total


def _show(sizes: Mapping[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sizes.items()) or "(no named dims)"


def _brief(err: BaseException) -> str:
    lines = str(err).splitlines()
    return f"{type(err).__name__}: {lines[0][:160] if lines else ''}"


# -- the entry point --------------------------------------------------------------------------
def check_certificate(proto: Any, trusted: Sequence[bytes] = (), *,
                      seconds: float = CHECK_SECONDS) -> CheckResult:
    """Re-check the certificate embedded in ``proto`` (see the module docstring). ``trusted``:
    raw Ed25519 public keys, one of which must have signed it. :class:`CertificateError`
    (exit 2) when there is no certificate, it is malformed, or the signature is missing or
    invalid where one is required. ``seconds``: the z3 budget (:class:`Budget`)."""
    from .certificate import CERT_KEY, model_hash
    from .reproof import reprove_on_file, reprove_recorded_conditions

    text = _metadata(proto, CERT_KEY)
    if text is None:
        raise CertificateError(f"the model carries no neurarust certificate (metadata key "
                               f"{CERT_KEY!r}); export it with `neurarust export --certify`")
    cert = parse_certificate(text)
    result = CheckResult(cert, budget=Budget(seconds))
    actual = model_hash(proto)
    _check_signature(proto, text, actual, trusted, result)
    if actual != cert.hash:
        result.add("hash", "refuted", f"hash mismatch: the graph or a weight was changed after "
                   f"certification (certified {cert.hash[:16]}..., file {actual[:16]}...)")
        return result
    result.notes.append(f"hash: sha256 {actual[:16]}... of graph + weights matches (an "
                        f"integrity check only: it is not a proof)")
    specs = _check_specs(cert, proto, result)
    if specs is None or not _check_assumptions(cert, specs, result):
        return result
    reprove_recorded_conditions(cert, specs, result)
    reprove_on_file(cert, proto, specs, result)
    return result
