"""Shape safety: every requirement tracing left undecided, proven or refuted by z3.

``verify_shapes(graph, ["1 <= B <= 4096", "T % 8 == 0"])`` converts each node obligation
(a :class:`~neurarust.types.cond.Cond` the op's registry rule stated) to z3 with
:meth:`Z3Algebra.from_cond` and proves it under the assumptions plus ``dim >= graph.min_size``
for every named dim. A refuted obligation comes with a counterexample (a value for every
named dim of the graph), the op, its source line, and the shapes of the node's inputs and
output under the counterexample, so the failure can be replayed eagerly.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import z3

from ..ir.graph import Graph, Node
from ..types.cond import Cond
from ..types.dim import Dim
from ..types.symbolic import Obligation
from ..types.z3_algebra import Z3Algebra

__all__ = ["ObligationResult", "ShapeReport", "parse_assumption", "smallest_model",
           "verify_shapes"]

_CMP = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


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
            return head
        values = ", ".join(f"{k}={v}" for k, v in self.counterexample.items())
        shapes = "   ".join(f"{n}: {list(s)}" for n, s in self.shapes.items())
        return f"{head}\n    counterexample: {values}\n    shapes there: {shapes}"


@dataclass
class ShapeReport:
    """All verdicts for one graph under the assumptions."""

    graph: Graph
    assumptions: list[str]
    results: list[ObligationResult]

    @property
    def ok(self) -> bool:
        """True when every obligation is proven."""
        return all(r.status == "proven" for r in self.results)

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
        lines += [f"  {r}" for r in self.results]
        if not n:
            lines.append("  no requirement was left undecided by tracing: shape-safe for every "
                         "size")
        else:
            lines.append(f"  {proven}/{n} obligations proven"
                         + ("" if self.ok else f", {len(self.refuted)} refuted"))
        return "\n".join(lines)


def parse_assumption(text: str, z: Z3Algebra) -> z3.BoolRef:
    """``"1 <= B <= 4096"``, ``"T % 8 == 0"``, ``"H == W and H >= 3"`` as a z3 condition.

    Sides are dim expressions (names, ints, ``+ - * // % **``, ``min``, ``max``); comparisons
    may chain; ``and``, ``or``, ``not`` and parentheses combine them.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise ValueError(f"cannot parse assumption {text!r}") from None
    return _bool(tree, text, z)


def _bool(node: ast.expr, text: str, z: Z3Algebra) -> z3.BoolRef:
    if isinstance(node, ast.BoolOp):
        parts = [_bool(v, text, z) for v in node.values]
        return z3.And(*parts) if isinstance(node.op, ast.And) else z3.Or(*parts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return z3.Not(_bool(node.operand, text, z))
    if isinstance(node, ast.Compare):
        terms = [node.left, *node.comparators]
        conds = []
        for op, lhs, rhs in zip(node.ops, terms, terms[1:]):
            if type(op) not in _CMP:
                raise ValueError(f"assumption {text!r}: {type(op).__name__} is not a comparison")
            cond = Cond.compare(_CMP[type(op)], _dim(lhs, text), _dim(rhs, text))
            conds.append(z.from_cond(cond))
        return conds[0] if len(conds) == 1 else z3.And(*conds)
    raise ValueError(f"assumption {text!r}: expected comparisons such as '1 <= B <= 4096', "
                     f"got {ast.unparse(node)!r}")


def _dim(node: ast.expr, text: str) -> Dim:
    try:
        return Dim.parse(ast.unparse(node))
    except ValueError as err:
        raise ValueError(f"assumption {text!r}: {err}") from None


def verify_shapes(graph: Graph, assumptions: Sequence[str] = (), *,
                  timeout_ms: int | None = 10_000, path: Sequence[Cond] = ()) -> ShapeReport:
    """Prove every obligation of ``graph`` under ``assumptions``; see the module docstring.

    ``path``: the conditions of the path the graph was traced on (``nr.verify`` explores
    shape-dependent branches, one graph per path); they hold wherever the graph applies, so
    proofs use them and counterexamples satisfy them.
    """
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
            results.append(ObligationResult(node, ob, "proven"))
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
    return ShapeReport(graph, list(assumptions), results)


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
    return {n: model.eval(v, model_completion=True).as_long() for n, v in symbols.items()}


def _concrete(shape: tuple[Dim, ...], bindings: dict[str, int]) -> tuple[Any, ...]:
    out: list[Any] = []
    for d in shape:
        try:
            out.append(d.evaluate(bindings))
        except (ZeroDivisionError, KeyError):
            out.append(str(d))
    return tuple(out)
