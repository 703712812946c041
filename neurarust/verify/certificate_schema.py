"""The certificate's JSON format, and its validation before any field is used.

A certificate is read from a file that anyone may have edited, so nothing in it is trusted
until :func:`parse_certificate` has checked it: the JSON itself (size, no ``NaN``/``Infinity``,
nesting), then the structure against :data:`CERTIFICATE_SCHEMA` (JSON Schema, checked by the
``jsonschema`` library: exact types, no extra keys, bounded lengths and counts), then what a
schema cannot say (every dim expression and input spec parses within a size budget, ranges
are ordered and name recorded inputs, output bounds are rectangular arrays of finite
numbers). Every problem is a :class:`CertificateError` that names the field's path, e.g.
``certificate field input_ranges.x[1]: ...``.

Dim expressions (in input specs, assumptions and shape conditions) are guarded before they
reach :meth:`Dim.parse` / ``parse_assumption``: at most :data:`MAX_EXPR_CHARS` characters
and :data:`MAX_EXPR_NODES` syntax nodes, integers below :data:`MAX_INT`, and ``**`` only with
a literal exponent of at most :data:`MAX_POW` (``B**1000000000`` would otherwise expand a
polynomial for ever).
"""

from __future__ import annotations

import ast
import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = [
    "CERTIFICATE_SCHEMA",
    "HASH_SCOPE",
    "MAX_CERT_CHARS",
    "SCHEMA",
    "Certificate",
    "CertificateError",
    "ShapeFact",
    "canonical_json",
    "guard_assumption",
    "guard_spec",
    "parse_certificate",
    "parse_json",
]

SCHEMA = 2
"""The certificate format version this verifier reads and writes (1 had no output specs and
was re-checked by hash alone where it did not trace: it is refused)."""
HASH_SCOPE = "onnx-graph-canonical-v1"
MAX_CERT_CHARS = 32 * 2**20
MAX_EXPR_CHARS = 256
MAX_EXPR_NODES = 96
MAX_INT = 2**40
MAX_POW = 16
MAX_RANK = 16
MAX_BOUND_ELEMENTS = 2**20
MAX_BOUND_DEPTH = 16
F32_MAX = float(np.finfo(np.float32).max)


class CertificateError(Exception):
    """Verification did not prove everything asked, so no certificate can be issued; or a
    certificate (or its signature) is missing or malformed."""


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
    """What ``export --certify`` proved about a model (see docs/verify.md, "Certificates").

    ``inputs``/``outputs`` map the ONNX graph's input/output names to specs
    (``"f32[B, 8]"``); ``numeric`` is None when no input range was given, else
    ``{"status": "proven", "method": ..., "facts": [...], "outputs": {name: {"lo": [...],
    "hi": [...]}}}``."""

    tool_version: str
    graph: str
    inputs: dict[str, str]
    outputs: dict[str, str]
    assumptions: tuple[str, ...]
    min_size: int
    input_ranges: dict[str, tuple[float, float]]
    shape_facts: tuple[ShapeFact, ...]
    numeric: dict[str, Any] | None
    hash: str
    hash_scope: str = HASH_SCOPE
    schema: int = SCHEMA

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["assumptions"] = list(self.assumptions)
        d["shape_facts"] = [asdict(f) for f in self.shape_facts]
        d["input_ranges"] = {k: list(v) for k, v in self.input_ranges.items()}
        return d

    def to_json(self) -> str:
        return canonical_json(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Certificate:
        """:func:`parse_certificate`."""
        return parse_certificate(text)


def canonical_json(obj: Any) -> str:
    """The one serialisation that is stored and signed: sorted keys, no spaces, ASCII, no
    NaN/Infinity (``ValueError`` if there are)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)


# -- the schema -------------------------------------------------------------------------------
def _str(max_len: int, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_len, **extra}


_NAME = {"type": "string", "minLength": 1, "maxLength": 256}
_SPEC = _str(1024, minLength=3)
_NUMBER = {"type": "number", "minimum": -F32_MAX, "maximum": F32_MAX}
_NESTED = {"type": ["array", "number"]}  # rectangular and finite: checked after the schema

CERTIFICATE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "neurarust certificate",
    "type": "object",
    "additionalProperties": False,
    "required": ["schema", "tool_version", "graph", "inputs", "outputs", "assumptions",
                 "min_size", "input_ranges", "shape_facts", "numeric", "hash", "hash_scope"],
    "properties": {
        "schema": {"const": SCHEMA},
        "tool_version": _str(64),
        "graph": _str(256),
        "inputs": {"type": "object", "minProperties": 1, "maxProperties": 64,
                   "propertyNames": _NAME, "additionalProperties": _SPEC},
        "outputs": {"type": "object", "minProperties": 1, "maxProperties": 64,
                    "propertyNames": _NAME, "additionalProperties": _SPEC},
        "assumptions": {"type": "array", "maxItems": 64,
                        "items": _str(MAX_EXPR_CHARS, minLength=1)},
        "min_size": {"type": "integer", "minimum": 0, "maximum": 2**20},
        "input_ranges": {"type": "object", "maxProperties": 64, "propertyNames": _NAME,
                         "additionalProperties": {"type": "array", "minItems": 2,
                                                  "maxItems": 2, "items": _NUMBER}},
        "shape_facts": {"type": "array", "maxItems": 4096, "items": {
            "type": "object", "additionalProperties": False,
            "required": ["op", "source", "scope", "message", "condition"],
            "properties": {"op": _str(128), "source": _str(1024), "scope": _str(1024),
                           "message": _str(2048),
                           "condition": _str(MAX_EXPR_CHARS, minLength=1)}}},
        "numeric": {
            "type": ["object", "null"], "additionalProperties": False,
            "required": ["status", "method", "facts", "outputs"],
            "properties": {
                "status": {"const": "proven"},
                "method": _str(512),
                "facts": {"type": "array", "maxItems": 100_000, "items": _str(2048)},
                "outputs": {"type": "object", "minProperties": 1, "maxProperties": 64,
                            "propertyNames": _NAME, "additionalProperties": {
                                "type": "object", "additionalProperties": False,
                                "required": ["lo", "hi"],
                                "properties": {"lo": _NESTED, "hi": _NESTED}}}}},
        "hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "hash_scope": {"const": HASH_SCOPE},
    },
}


def _validator() -> Any:
    import jsonschema  # type: ignore[import-untyped]

    base = jsonschema.Draft202012Validator
    # JSON Schema counts 1.0 as an integer; a certificate field typed integer must be an int.
    checker = base.TYPE_CHECKER.redefine(
        "integer", lambda _c, v: isinstance(v, int) and not isinstance(v, bool))
    return jsonschema.validators.extend(base, type_checker=checker)(CERTIFICATE_SCHEMA)


_VALIDATOR: Any = None


def _path(parts: Any) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str, what: str = "certificate", max_chars: int = MAX_CERT_CHARS) -> Any:
    """``json.loads`` for untrusted text: bounded size, no NaN/Infinity, and every decoding
    failure (deep nesting, a 5,000-digit integer) a :class:`CertificateError`."""
    if not isinstance(text, str):
        raise CertificateError(f"{what}: expected JSON text, got {type(text).__name__}")
    if len(text) > max_chars:
        raise CertificateError(f"{what}: {len(text)} characters, more than the {max_chars} "
                               f"allowed")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise CertificateError(f"{what}: JSON nested too deeply") from None
    except ValueError as err:  # JSONDecodeError, NaN/Infinity, int digits limit
        raise CertificateError(f"{what}: not valid JSON: {str(err)[:200]}") from None


def parse_certificate(text: str) -> Certificate:
    """Validate the certificate JSON ``text`` and return it; :class:`CertificateError`
    naming the field path of the first problem found."""
    global _VALIDATOR
    d = parse_json(text)
    if isinstance(d, dict) and "schema" in d and d["schema"] != SCHEMA:
        raise CertificateError(f"certificate field schema: version {str(d['schema'])[:20]} "
                               f"is not {SCHEMA}, the version this verifier reads; re-export "
                               f"the model with `neurarust export --certify`")
    if _VALIDATOR is None:
        _VALIDATOR = _validator()
    errors = sorted(_VALIDATOR.iter_errors(d), key=lambda e: (list(map(str, e.absolute_path)),
                                                             e.message))
    if errors:
        err = errors[0]
        message = err.message if len(err.message) <= 300 else err.message[:300] + "..."
        raise CertificateError(f"certificate field {_path(err.absolute_path)}: {message}")
    for group in ("inputs", "outputs"):
        for name, spec in d[group].items():
            guard_spec(spec, f"{group}.{name}")
    for i, a in enumerate(d["assumptions"]):
        guard_assumption(a, f"assumptions[{i}]")
    for i, f in enumerate(d["shape_facts"]):
        guard_assumption(f["condition"], f"shape_facts[{i}].condition")
    for name, (lo, hi) in d["input_ranges"].items():
        if name not in d["inputs"]:
            raise CertificateError(f"certificate field input_ranges.{name}: not a recorded "
                                   f"input ({', '.join(d['inputs'])})")
        if not lo <= hi:
            raise CertificateError(f"certificate field input_ranges.{name}: lo {lo!r} > hi "
                                   f"{hi!r}")
    numeric = d["numeric"]
    if (numeric is None) != (not d["input_ranges"]):
        raise CertificateError("certificate field numeric: " + (
            "input ranges are recorded but no numeric claim is" if numeric is None
            else "a numeric claim is recorded without input ranges"))
    if numeric is not None:
        if list(numeric["outputs"]) != list(d["outputs"]):
            raise CertificateError(f"certificate field numeric.outputs: names "
                                   f"{list(numeric['outputs'])[:8]} are not the recorded "
                                   f"outputs {list(d['outputs'])[:8]}")
        for name, b in numeric["outputs"].items():
            lo = _bounds(b["lo"], f"numeric.outputs.{name}.lo")
            hi = _bounds(b["hi"], f"numeric.outputs.{name}.hi")
            if lo.shape != hi.shape:
                raise CertificateError(f"certificate field numeric.outputs.{name}: lo has shape "
                                       f"{lo.shape}, hi {hi.shape}")
            if not bool(np.all(lo <= hi)):
                raise CertificateError(f"certificate field numeric.outputs.{name}: lo > hi at "
                                       f"{np.argwhere(~(lo <= hi))[0].tolist()}")
    return Certificate(
        tool_version=d["tool_version"], graph=d["graph"], inputs=dict(d["inputs"]),
        outputs=dict(d["outputs"]), assumptions=tuple(d["assumptions"]),
        min_size=d["min_size"],
        input_ranges={k: (float(v[0]), float(v[1])) for k, v in d["input_ranges"].items()},
        shape_facts=tuple(ShapeFact(**f) for f in d["shape_facts"]), numeric=numeric,
        hash=d["hash"], hash_scope=d["hash_scope"], schema=d["schema"])


def bounds_array(value: Any) -> np.ndarray:  # type: ignore[type-arg]
    """A recorded output bound (already validated) as a float64 array."""
    return _bounds(value, "bounds")


def _bounds(value: Any, field: str) -> np.ndarray:  # type: ignore[type-arg]
    """Nested lists of finite numbers, rectangular, at most MAX_BOUND_DEPTH deep and
    MAX_BOUND_ELEMENTS in all, as a float64 array."""
    shape: list[int] = []
    level: list[Any] = [value]
    depth = 0
    while level and all(isinstance(x, list) for x in level):
        depth += 1
        if depth > MAX_BOUND_DEPTH:
            raise CertificateError(f"certificate field {field}: nested deeper than "
                                   f"{MAX_BOUND_DEPTH}")
        n = len(level[0])
        if any(len(x) != n for x in level):
            raise CertificateError(f"certificate field {field}: not rectangular (rows of "
                                   f"different lengths at depth {depth})")
        shape.append(n)
        if len(level) * n > MAX_BOUND_ELEMENTS:
            raise CertificateError(f"certificate field {field}: more than "
                                   f"{MAX_BOUND_ELEMENTS} elements")
        level = [y for x in level for y in x]
    for x in level:
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise CertificateError(f"certificate field {field}: expected numbers nested "
                                   f"{len(shape)} deep, found {type(x).__name__}")
        if not -F32_MAX * 2 <= x <= F32_MAX * 2:  # int or finite float within range
            raise CertificateError(f"certificate field {field}: {str(x)[:30]} is not a "
                                   f"finite float32-range number")
    if not level and 0 not in shape:
        raise CertificateError(f"certificate field {field}: empty")
    return np.asarray(level, dtype=np.float64).reshape(shape)


# -- dim expressions under a size budget ------------------------------------------------------
_OPS = (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod, ast.Pow, ast.USub, ast.UAdd,
        ast.Not, ast.And, ast.Or, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Load)
_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Name,
          ast.Constant, ast.Call)


def _guard_expr(text: str, field: str, what: str) -> None:
    """Refuse an expression that could make the dim parser or z3 run away (see the module
    docstring), before :meth:`Dim.parse` or ``parse_assumption`` sees it."""
    if len(text) > MAX_EXPR_CHARS:
        raise CertificateError(f"certificate field {field}: {what} of {len(text)} characters, "
                               f"more than {MAX_EXPR_CHARS}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise CertificateError(f"certificate field {field}: {what} {text[:60]!r} is not an "
                               f"expression") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_EXPR_NODES:
        raise CertificateError(f"certificate field {field}: {what} has {len(nodes)} syntax "
                               f"nodes, more than {MAX_EXPR_NODES}")
    for node in nodes:
        if isinstance(node, _OPS):
            continue
        if not isinstance(node, _NODES):
            raise CertificateError(f"certificate field {field}: {what} {text[:60]!r}: "
                                   f"{type(node).__name__} is not allowed in a dim expression")
        if isinstance(node, ast.Constant) and (
                isinstance(node.value, bool) or not isinstance(node.value, int)
                or abs(node.value) >= MAX_INT):
            raise CertificateError(f"certificate field {field}: {what} {text[:60]!r}: "
                                   f"constant {str(node.value)[:30]!r} is not an int below "
                                   f"2**40")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name)
                                               and node.func.id in ("min", "max")
                                               and not node.keywords):
            raise CertificateError(f"certificate field {field}: {what} {text[:60]!r}: only "
                                   f"min(...) and max(...) calls are allowed")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and not (
                isinstance(node.right, ast.Constant) and isinstance(node.right.value, int)
                and 0 <= node.right.value <= MAX_POW):
            raise CertificateError(f"certificate field {field}: {what} {text[:60]!r}: an "
                                   f"exponent must be a literal int in 0..{MAX_POW}")


def guard_spec(spec: str, field: str) -> None:
    """A recorded tensor spec (``"f32[B, 8]"``): at most MAX_RANK dims, each a guarded dim
    expression, and readable by the tracer's ``parse_spec``."""
    from ..trace.tracer import parse_spec

    _, sep, body = spec.strip().partition("[")
    if not sep or not body.endswith("]"):
        raise CertificateError(f"certificate field {field}: {spec[:60]!r} is not a tensor spec "
                               f"such as 'f32[B, 8]'")
    parts = [p for p in body[:-1].split(",")] if body[:-1].strip() else []
    if len(parts) > MAX_RANK:
        raise CertificateError(f"certificate field {field}: more than {MAX_RANK} dims")
    for p in parts:
        _guard_expr(p, field, "dim")
    try:
        parse_spec(spec)
    except (ValueError, TypeError, ZeroDivisionError, RecursionError) as err:
        raise CertificateError(f"certificate field {field}: {str(err)[:200]}") from None


def guard_assumption(text: str, field: str) -> None:
    """A recorded assumption or shape condition: a guarded expression that
    ``parse_assumption`` reads."""
    from ..types.z3_algebra import Z3Algebra
    from .shape import parse_assumption

    _guard_expr(text, field, "condition")
    try:
        parse_assumption(text, Z3Algebra())
    except (ValueError, TypeError, ZeroDivisionError, RecursionError) as err:
        raise CertificateError(f"certificate field {field}: {str(err)[:200]}") from None
