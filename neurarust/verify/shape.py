"""Shape safety: every requirement tracing left undecided, proven or refuted by z3.

``verify_shapes(graph, ["1 <= B <= 4096", "T % 8 == 0"])`` converts each node obligation
(a :class:`~neurarust.types.cond.Cond` the op's registry rule stated) to z3 with
:meth:`Z3Algebra.from_cond` and proves it under the assumptions plus ``dim >= graph.min_size``
for every named dim. A refuted obligation comes with a counterexample (a value for every
named dim of the graph), the op, its source line, and the shapes of the node's inputs and
output under the counterexample, so the failure can be replayed eagerly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import z3

from ..ir.graph import Graph, Node
from ..types.cond import Cond
from ..types.dim import Dim
from ..types.symbolic import Obligation
from ..types.z3_algebra import Z3Algebra, model_int
from .assumptions import AssumptionError, check_assumptions, parse_assumption

__all__ = ["AssumptionError", "ObligationResult", "ShapeReport", "parse_assumption",
           "smallest_model", "verify_shapes"]

@dataclass(frozen=True)
class ObligationResult:
    """One obligation's verdict: ``status`` is ``proven``, ``refuted`` or ``unknown``."""

    node: Node
    obligation: Obligation[Cond]
    status: str
    counterexample: dict[str, int] | None = None
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def __str__(self) -> str:
        head = (f"{self.status}: {self.node.op}: {self.obligation.message}: requires "
                f"{self.obligation.condition}\n    at {self.node.source}"
                + (f" (in module {self.node.scope})" if self.node.scope else ""))
        if self.counterexample is None:
            return head + ("\n    (z3 found sizes that break it, too large to print or replay)"
                           if self.status == "refuted" else "")
        values = ", ".join(f"{k}={v}" for k, v in self.counterexample.items())
        shapes = "   ".join(f"{n}: {list(s)}" for n, s in self.shapes.items())
        return f"{head}\n    counterexample: {values}\n    shapes there: {shapes}"


@dataclass
class ShapeReport:
    """All verdicts for one graph under the assumptions."""

    graph: Graph
    assumptions: list[str]
    results: list[ObligationResult]
    satisfiable: str = "sat"
    """``sat``: z3 found sizes satisfying the assumptions (and the path); ``unknown``: it could
    not tell in time, ``infeasible``: the path condition contradicts the assumptions. Only
    ``sat`` lets anything be proven (a proof under unsatisfiable assumptions is vacuous)."""

    @property
    def ok(self) -> bool:
        """True when the assumptions are satisfiable and every obligation is proven."""
        return self.satisfiable == "sat" and all(r.status == "proven" for r in self.results)

    @property
    def refuted(self) -> list[ObligationResult]:
        return [r for r in self.results if r.status == "refuted"]

    @property
    def exit_code(self) -> int:
        """0 all proven, 1 something refuted, 3 something unknown (and nothing refuted)."""
        if self.refuted:
            return 1
        return 0 if self.ok else 3

    def __str__(self) -> str:
        n = len(self.results)
        proven = sum(r.status == "proven" for r in self.results)
        lines = [f"shape safety of {self.graph.name} "
                 f"({', '.join(f'{v.name}: {v.type_str}' for v in self.graph.inputs)})",
                 f"  assuming: {', '.join(self.assumptions) or '(nothing)'}; every dim >= "
                 f"{self.graph.min_size}"]
        if self.satisfiable != "sat":
            lines.append("  unknown: " + (
                "the path condition contradicts the assumptions; this path covers no sizes"
                if self.satisfiable == "infeasible" else "z3 could not tell in time whether "
                "any sizes satisfy the assumptions, so nothing is proven under them"))
        lines += [f"  {r}" for r in self.results]
        if not n and self.satisfiable == "sat":
            lines.append("  no requirement was left undecided by tracing: shape-safe for every "
                         "size")
        else:
            lines.append(f"  {proven}/{n} obligations proven"
                         + ("" if self.ok else f", {len(self.refuted)} refuted"))
        return "\n".join(lines)


def verify_shapes(graph: Graph, assumptions: Sequence[str] = (), *,
                  timeout_ms: int | None = 10_000, path: Sequence[Cond] = (),
                  dims: Sequence[str] = ()) -> ShapeReport:
    """Prove every obligation of ``graph`` under ``assumptions``; see the module docstring.

    ``path``: the conditions of the path the graph was traced on (``nr.verify`` explores
    shape-dependent branches, one graph per path); they hold wherever the graph applies, so
    proofs use them and counterexamples satisfy them. ``dims``: named dims besides the
    graph's inputs' that the assumptions may name (a factory's config parameters).

    Raises:
        AssumptionError: the assumptions contradict each other (with ``dim >= min_size``) or
            name a dim that neither the inputs nor ``dims`` use; nothing is proven.
    """
    budget = 5_000 if timeout_ms is None else min(timeout_ms, 5_000)
    satisfiable = check_assumptions(assumptions, [*graph.symbols(), *dims],
                                    min_size=graph.min_size, timeout_ms=budget)
    if path and satisfiable == "sat":
        try:
            satisfiable = check_assumptions(assumptions, None, min_size=graph.min_size,
                                            path=path, timeout_ms=budget)
        except AssumptionError:
            satisfiable = "infeasible"
    z = Z3Algebra(min_size=graph.min_size)
    for name in graph.symbols():
        z.dim(name)
    facts = [parse_assumption(a, z) for a in assumptions]
    facts += [z.from_cond(c) for c in path]
    values = graph.values()
    results = []
    for node, ob in graph.obligations():
        proof = z.prove(Obligation(z.from_cond(ob.condition), ob.message, ob.hint), facts,
                        timeout_ms=timeout_ms)
        if proof.proven:
            # proven under assumptions z3 could not show satisfiable: possibly vacuous
            results.append(ObligationResult(node, ob, "proven" if satisfiable == "sat"
                                            else "unknown"))
            continue
        cex = proof.counterexample
        if cex is None:
            results.append(ObligationResult(node, ob, proof.status))
            continue
        small = smallest_model([*z.assumptions, *facts, z3.Not(z.from_cond(ob.condition))],
                               z.symbols)
        cex = small if small is not None else cex
        ordered = {n: cex[n] for n in graph.symbols() if n in cex}
        ordered.update((n, v) for n, v in cex.items() if n not in ordered)
        shapes: dict[str, tuple[int, ...]] = {}
        for name in [*node.input_names(), node.output.name]:
            shapes[name] = _concrete(values[name].shape, ordered)
        results.append(ObligationResult(node, ob, "refuted", ordered, shapes))
    return ShapeReport(graph, list(assumptions), results, satisfiable)


def smallest_model(constraints: Sequence[Any], symbols: Mapping[str, Any], *,
                   timeout_ms: int = 2_000) -> dict[str, int] | None:
    """Values for ``symbols`` satisfying ``constraints`` with the smallest sum (z3's
    optimiser), so counterexamples are cheap to re-run (``B=1, H=29``, not ``B=4096``);
    None when it finds none in time (callers keep the solver's first model)."""
    opt = z3.Optimize()
    opt.set("timeout", timeout_ms)
    opt.add(*constraints)
    terms = list(symbols.values())
    if terms:
        opt.minimize(z3.Sum(*terms))
    if opt.check() != z3.sat:
        return None
    model = opt.model()
    values = {n: model_int(model.eval(v, model_completion=True)) for n, v in symbols.items()}
    return None if None in values.values() else {n: v for n, v in values.items() if v is not None}


def _concrete(shape: tuple[Dim, ...], bindings: dict[str, int]) -> tuple[Any, ...]:
    out: list[Any] = []
    for d in shape:
        try:
            out.append(d.evaluate(bindings))
        except (ZeroDivisionError, KeyError):
            out.append(str(d))
    return tuple(out)
