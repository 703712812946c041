"""The verification report: one verdict per explored path, per obligation, and overall.

A :class:`Report` holds one :class:`PathReport` per path through the model's shape-dependent
control flow (a single path, with no decisions, for most models). A path is

- **proven** when every obligation its graph carries is proven under the assumptions and the
  path condition (and, with ranges, its numeric check passed);
- **refuted** when an obligation is refuted (with a counterexample: a value for every dim,
  satisfying the assumptions and the path condition, at which the model fails when run), or
  when tracing the path raised a model error: a constructor's check (``embed_dim %
  num_heads``), a requirement false for every size on the path, a dtype error;
- **unknown** when z3 gave up, or the path could not be traced on (a loop over a count with
  too many values, a read of tensor values).

The overall status is refuted if any path is refuted, else unknown if any path is unknown or
exploration stopped early (``limit``), else proven. Exit codes: 0 proven, 1 refuted, 3
unknown. :meth:`Report.to_json` follows the schema documented in ``docs/verify.md``
("Shape safety", schema ``neurarust.verify/1``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..trace.paths import Decision
from .numeric import RangeReport
from .shape import ObligationResult, ShapeReport

__all__ = ["SCHEMA", "PathFailure", "PathReport", "Report"]

SCHEMA = "neurarust.verify/1"
_EXIT = {"proven": 0, "refuted": 1, "unknown": 3}


@dataclass(frozen=True)
class PathFailure:
    """Tracing a path ended in an exception: ``kind`` is ``construction``, ``shape``,
    ``dtype``, ``error`` (another exception the model raised) or ``trace`` (tracing could not
    go on: unknown)."""

    kind: str
    status: str
    message: str
    source: str
    counterexample: dict[str, int] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "status": self.status, "message": self.message,
                "source": self.source, "counterexample": self.counterexample}


@dataclass
class PathReport:
    """One path: its decisions and verdicts (see the module docstring)."""

    index: int
    decisions: list[Decision]
    shape: ShapeReport | None = None
    failure: PathFailure | None = None
    numeric: RangeReport | None = None
    seconds: float = 0.0

    @property
    def status(self) -> str:
        if self.failure is not None:
            return self.failure.status
        assert self.shape is not None
        codes = {self.shape.exit_code} | ({self.numeric.exit_code} if self.numeric else set())
        return "refuted" if 1 in codes else "unknown" if 3 in codes else "proven"

    @property
    def condition(self) -> str:
        """The path condition, as the forks that chose it (``T > 512 and T <= 1024``)."""
        forks = [str(d.condition) for d in self.decisions if d.forked]
        return " and ".join(forks) or "(every size)"

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "status": self.status,
            "condition": self.condition,
            "seconds": round(self.seconds, 6),
            "decisions": [{"condition": str(d.condition), "kind": d.kind, "source": d.source,
                           "code": d.code, "called_from": d.called_from,
                           "called_code": d.called_code, "forked": d.forked}
                          for d in self.decisions],
            "obligations": [_obligation_json(r) for r in (self.shape.results
                                                          if self.shape else [])],
            "failure": self.failure.to_json() if self.failure else None,
            "numeric": self.numeric.to_json() if self.numeric else None,
        }


def _obligation_json(r: ObligationResult) -> dict[str, Any]:
    return {"status": r.status, "op": r.node.op, "source": r.node.source,
            "scope": r.node.scope, "message": r.obligation.message, "hint": r.obligation.hint,
            "condition": str(r.obligation.condition), "counterexample": r.counterexample,
            "shapes": {k: list(v) for k, v in r.shapes.items()} if r.counterexample else None}


@dataclass
class Report:
    """Every path's verdicts for one model under the assumptions (and ranges)."""

    model: str
    inputs: dict[str, str]
    assumptions: list[str]
    min_size: int
    paths: list[PathReport]
    limit: str | None = None
    ranges: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def status(self) -> str:
        statuses = {p.status for p in self.paths}
        if "refuted" in statuses:
            return "refuted"
        if "unknown" in statuses or self.limit is not None or not self.paths:
            return "unknown"
        return "proven"

    @property
    def ok(self) -> bool:
        return self.status == "proven"

    @property
    def exit_code(self) -> int:
        """0 proven, 1 refuted, 3 unknown (or exploration stopped early)."""
        return _EXIT[self.status]

    @property
    def results(self) -> list[ObligationResult]:
        """Every obligation's verdict, over all paths."""
        return [r for p in self.paths if p.shape for r in p.shape.results]

    @property
    def refuted(self) -> list[ObligationResult]:
        return [r for r in self.results if r.status == "refuted"]

    @property
    def notes(self) -> list[str]:
        """Sizes followed value by value (loops over symbolic counts), by source line."""
        seen: dict[tuple[str, str], list[str]] = {}
        for p in self.paths:
            for d in p.decisions:
                if d.kind == "value" and d.forked:
                    values = seen.setdefault((d.called_from, d.called_code), [])
                    if str(d.condition) not in values:
                        values.append(str(d.condition))
        return [f"{where} ({code}): a symbolic size used as an int, followed value by value "
                f"(one path each): {', '.join(values)}"
                for (where, code), values in seen.items()]

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data (schema ``neurarust.verify/1``, docs/verify.md)."""
        return {
            "schema": SCHEMA,
            "model": self.model,
            "inputs": dict(self.inputs),
            "assumptions": list(self.assumptions),
            "min_size": self.min_size,
            "ranges": {k: list(v) for k, v in self.ranges.items()},
            "status": self.status,
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 6),
            "limit": self.limit,
            "notes": self.notes,
            "paths": [p.to_json() for p in self.paths],
        }

    def __str__(self) -> str:
        ins = ", ".join(f"{k}: {v}" for k, v in self.inputs.items())
        lines = [f"shape safety of {self.model} ({ins})",
                 f"  assuming: {', '.join(self.assumptions) or '(nothing)'}; every dim >= "
                 f"{self.min_size}"]
        many = len(self.paths) > 1 or any(p.decisions for p in self.paths)
        if many:
            lines.append(f"  {len(self.paths)} paths through shape-dependent control flow")
        for p in self.paths:
            indent = "  "
            if many:
                lines.append(f"  path {p.index}: {p.condition}: {p.status}")
                lines += [f"      {'fork' if d.forked else 'then'} {d}" for d in p.decisions
                          if d.forked]
                indent = "    "
            if p.failure is not None:
                f = p.failure
                head = f.message.splitlines()[0] if f.message else f.kind
                lines.append(f"{indent}{f.status}: {f.kind} error at {f.source}: {head}")
                lines += [f"{indent}    {x}" for x in f.message.splitlines()[1:]]
                if f.counterexample is not None:
                    values = ", ".join(f"{k}={v}" for k, v in f.counterexample.items())
                    lines.append(f"{indent}    counterexample: {values}")
                continue
            assert p.shape is not None
            if p.shape.satisfiable != "sat":
                lines.append(f"{indent}unknown: " + (
                    "the path condition contradicts the assumptions (it covers no sizes)"
                    if p.shape.satisfiable == "infeasible" else "z3 could not tell in time "
                    "whether any sizes satisfy the assumptions; nothing is proven under them"))
            lines += [indent + text.replace("\n", "\n" + indent)
                      for text in _collapse([str(r) for r in p.shape.results])]
            if not p.shape.results and p.shape.satisfiable == "sat":
                lines.append(f"{indent}no requirement was left undecided by tracing"
                             + (" on this path" if many else ": shape-safe for every size"))
            if p.numeric is not None:
                lines += [indent + x for x in str(p.numeric).splitlines()]
        lines += [f"  note: {n}" for n in self.notes]
        if self.limit:
            lines.append(f"  not verified: {self.limit}")
        n = len(self.results)
        proven = sum(r.status == "proven" for r in self.results)
        lines.append(f"  verdict: {self.status} ({proven}/{n} obligations proven"
                     + (f" on {len(self.paths)} paths" if many else "")
                     + (f", {len(self.refuted)} refuted" if self.refuted else "")
                     + f"; {self.seconds:.2f} s)")
        return "\n".join(lines)


def _collapse(texts: list[str]) -> list[str]:
    """Identical consecutive verdicts once, with a count (q, k and v reshaped on one line)."""
    out: list[str] = []
    counts: list[int] = []
    for t in texts:
        if out and out[-1] == t:
            counts[-1] += 1
        else:
            out.append(t)
            counts.append(1)
    return [t if n == 1 else t.replace(":", f" (x{n}):", 1) for t, n in zip(out, counts)]


_CALLED = re.compile(r"called from (\S+:\d+)")
_AT = re.compile(r"\bat (\S+:\d+)")


def where_in(message: str) -> str:
    """The user's ``file:line`` named in an error message (``called from`` first)."""
    m = _CALLED.search(message) or _AT.search(message)
    return m.group(1) if m else "<unknown>"
