"""The z3 dimension algebra: shape rules as z3 integer terms, each ``require`` an obligation.

``neurarust verify`` runs shape rules with this algebra (or converts the symbolic algebra's
pending conditions with :meth:`Z3Algebra.from_cond`), then proves every obligation under the
user's assumptions. A failed proof yields a counterexample: a value for every named dim.

Importing this module imports z3; ``neurarust.types`` does not import it eagerly.

Floor semantics: z3's integer ``/`` and ``%`` are Euclidean. They agree with Python's ``//``
and ``%`` for positive divisors; for a negative divisor ``floordiv`` and ``mod`` use the
identities ``a // b == (-a) // (-b)`` and ``a % b == a - b * (a // b)`` (through ``z3.If`` when
the divisor's sign is not a literal), so every nonzero divisor gets Python's answer. That the
divisor is nonzero is recorded as an obligation, as the concrete algebra raises there.

Example:
    >>> z = Z3Algebra()
    >>> B, T, C = z.shape("B", "T", "C")
    >>> z.prove(z.eq(z.numel([B, T, C]), z.numel([B * T, C]))).proven
    True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import z3

from .algebra import DimAlgebra
from .cond import Cond
from .dim import MAX_COEF_BITS, Dim
from .errors import RuleViolation, UndecidedShape
from .symbolic import Obligation

__all__ = ["DEFAULT_TIMEOUT_MS", "ProofResult", "Z3Algebra", "Z3Cond", "Z3Dim", "model_int"]

DEFAULT_TIMEOUT_MS = 10_000
"""z3's time for one proof when the caller gives none: past it the answer is ``unknown``
(nonlinear size arithmetic such as ``B**3 == T**3 + C**3`` can keep z3 busy forever)."""

Z3Dim: TypeAlias = "z3.ArithRef | Dim | int"
"""What the z3 algebra accepts as a dim: a z3 Int term, a symbolic Dim, or an int."""
Z3Cond: TypeAlias = "z3.BoolRef | Cond | bool"
"""What the z3 algebra accepts as a condition: a z3 Bool term, a symbolic Cond, or a bool."""


@dataclass(frozen=True)
class ProofResult:
    """The outcome of proving one condition under the assumptions.

    ``status`` is ``"proven"``, ``"refuted"`` (then ``counterexample`` binds every named dim
    to a value that satisfies the assumptions and violates the condition) or ``"unknown"``
    (z3 gave up, e.g. on hard nonlinear arithmetic or a timeout).
    """

    proven: bool
    counterexample: dict[str, int] | None
    status: str
    obligation: Obligation[Any] | None = None

    def __str__(self) -> str:
        what = str(self.obligation) if self.obligation else "claim"
        if self.counterexample is not None:
            values = ", ".join(f"{k}={v}" for k, v in sorted(self.counterexample.items()))
            return f"{self.status}: {what}; counterexample: {values}"
        return f"{self.status}: {what}"


class Z3Algebra(DimAlgebra[z3.ArithRef, z3.BoolRef]):
    """Dims are z3 Int terms, conditions z3 Bool terms; ``require`` records an obligation.

    Ints and symbolic :class:`Dim`/:class:`Cond` values are accepted wherever terms are. A
    rule that does arithmetic itself (``n - k + 1``) needs its shapes as z3 terms: convert with
    :meth:`shape` or :meth:`from_dim` first. z3 terms have no ``//``: use ``dims.floordiv``.

    Args:
        min_size: each named dim made by :meth:`dim` is assumed ``>= min_size`` (recorded in
            :attr:`assumptions`). Default 1; 0 allows empty dims; None assumes nothing.

    Attributes:
        symbols: the named dims made so far, name -> z3 Int.
        assumptions: conditions every proof may use.
        obligations: what the rules required, in order.
    """

    name = "z3"

    def __init__(self, *, min_size: int | None = 1) -> None:
        self.min_size = min_size
        self.symbols: dict[str, z3.ArithRef] = {}
        self.assumptions: list[z3.BoolRef] = []
        self.obligations: list[Obligation[z3.BoolRef]] = []

    # -- building terms -----------------------------------------------------------------------
    def dim(self, name: str) -> z3.ArithRef:
        """The z3 Int for the named dim ``name`` (made, and assumed ``>= min_size``, once)."""
        if name not in self.symbols:
            Dim.sym(name)  # validates the name
            self.symbols[name] = z3.Int(name)
            if self.min_size is not None:
                self.assumptions.append(self.symbols[name] >= self.min_size)
        return self.symbols[name]

    def shape(self, *dims: Z3Dim | str) -> tuple[z3.ArithRef, ...]:
        """A shape of z3 terms from names, dim expressions, Dims and ints."""
        return tuple(self.term(Dim.of(d) if isinstance(d, str) else d) for d in dims)

    def from_dim(self, d: Dim | int) -> z3.ArithRef:
        """The z3 term of a symbolic Dim (named dims become :meth:`dim` symbols)."""
        if not isinstance(d, Dim):
            return z3.IntVal(d)
        out = d.interpret(_PURE, self.dim)
        return out if isinstance(out, z3.ArithRef) else z3.IntVal(out)

    def from_cond(self, c: Cond | bool) -> z3.BoolRef:
        """The z3 term of a symbolic Cond, e.g. one of ``SymbolicAlgebra.pending``."""
        out = c if isinstance(c, bool) else c.interpret(_PURE, self.dim)
        return z3.BoolVal(out) if isinstance(out, bool) else out

    def term(self, x: Z3Dim) -> z3.ArithRef:
        """Coerce an accepted dim to a z3 Int term."""
        if isinstance(x, z3.ArithRef):
            return x
        if isinstance(x, Dim):
            return self.from_dim(x)
        if isinstance(x, int) and not isinstance(x, bool):
            return z3.IntVal(x)
        if hasattr(x, "__index__") and not isinstance(x, bool):
            return z3.IntVal(x.__index__())
        raise TypeError(f"expected a z3 Int term, a Dim or an int as a dim, got {x!r}")

    def boolean(self, c: Z3Cond) -> z3.BoolRef:
        """Coerce an accepted condition to a z3 Bool term."""
        if isinstance(c, z3.BoolRef):
            return c
        if isinstance(c, Cond):
            return self.from_cond(c)
        if isinstance(c, bool) or type(c).__name__ == "bool_":
            return z3.BoolVal(bool(c))
        raise TypeError(f"expected a z3 Bool term, a Cond or a bool as a condition, got {c!r}")

    # -- the algebra --------------------------------------------------------------------------
    def const(self, n: int) -> z3.ArithRef:
        return z3.IntVal(n)

    def eq(self, a: Z3Dim, b: Z3Dim) -> z3.BoolRef:
        return self.term(a) == self.term(b)

    def ne(self, a: Z3Dim, b: Z3Dim) -> z3.BoolRef:
        return self.term(a) != self.term(b)

    def lt(self, a: Z3Dim, b: Z3Dim) -> z3.BoolRef:
        return self.term(a) < self.term(b)

    def le(self, a: Z3Dim, b: Z3Dim) -> z3.BoolRef:
        return self.term(a) <= self.term(b)

    def gt(self, a: Z3Dim, b: Z3Dim) -> z3.BoolRef:
        return self.term(a) > self.term(b)

    def ge(self, a: Z3Dim, b: Z3Dim) -> z3.BoolRef:
        return self.term(a) >= self.term(b)

    def and_(self, *conds: Z3Cond) -> z3.BoolRef:
        return self._junction(z3.And, [self.boolean(c) for c in conds], unit=True)

    def or_(self, *conds: Z3Cond) -> z3.BoolRef:
        return self._junction(z3.Or, [self.boolean(c) for c in conds], unit=False)

    @staticmethod
    def _junction(make: Any, terms: list[z3.BoolRef], unit: bool) -> z3.BoolRef:
        """And/Or with literal parts folded, so broadcasting ints yields readable terms."""
        truths = [_truth(t) for t in terms]
        if (not unit) in truths:
            return z3.BoolVal(not unit)
        rest = [t for t, v in zip(terms, truths) if v is None]
        return rest[0] if len(rest) == 1 else make(*rest) if rest else z3.BoolVal(unit)

    def not_(self, cond: Z3Cond) -> z3.BoolRef:
        return z3.Not(self.boolean(cond))

    def select(self, cond: Z3Cond, if_true: Z3Dim, if_false: Z3Dim) -> z3.ArithRef:
        """``z3.If``, or a branch when the condition is a literal or both branches agree."""
        c, a, b = self.boolean(cond), self.term(if_true), self.term(if_false)
        truth = _truth(c)
        if truth is not None:
            return a if truth else b
        return a if a.eq(b) else z3.If(c, a, b)

    def floordiv(self, a: Z3Dim, b: Z3Dim) -> z3.ArithRef:
        """Python's ``a // b``; records the obligation that ``b`` is nonzero."""
        self._require_nonzero(b, "division of a dim by zero")
        return _floor_div(self.term(a), self.term(b))

    def mod(self, a: Z3Dim, b: Z3Dim) -> z3.ArithRef:
        """Python's ``a % b``; records the obligation that ``b`` is nonzero."""
        self._require_nonzero(b, "modulo of a dim by zero")
        return _floor_mod(self.term(a), self.term(b))

    def _require_nonzero(self, b: Z3Dim, message: str) -> None:
        if _literal(self.term(b)) in (None, 0):
            self.obligations.append(Obligation(self.ne(b, 0), message))

    def numel(self, shape: Sequence[Z3Dim]) -> z3.ArithRef:
        out = z3.IntVal(1)
        for d in shape:
            out = out * self.term(d)
        return out

    def require(self, cond: Z3Cond, message: str, *, hint: str | None = None) -> None:
        """Record ``cond`` as an obligation to prove later (unless it is literally true).

        A literal Python ``False`` (a rank check such as ``len(a) == 2``) raises RuleViolation
        at once: nothing about sizes can make it hold, and the rule could not go on.
        """
        if cond is False:
            raise RuleViolation(message, hint)
        c = self.boolean(cond)
        if _truth(c) is not True:  # literally true needs no proof (broadcasting against 1)
            self.obligations.append(Obligation(c, message, hint))

    def decide(self, cond: Z3Cond, why: str) -> bool:
        """True or False when the assumptions imply ``cond`` or its negation; else UndecidedShape."""
        c = self.boolean(cond)
        if self.prove(c).proven:
            return True
        if self.prove(z3.Not(c)).proven:
            return False
        raise UndecidedShape(f"{why}: {c} depends on the sizes under the assumptions")

    # -- proving ------------------------------------------------------------------------------
    def prove(
        self,
        claim: Obligation[Any] | Z3Cond,
        assumptions: Iterable[Z3Cond] = (),
        *,
        timeout_ms: int | None = None,
    ) -> ProofResult:
        """Prove ``claim`` under :attr:`assumptions` plus ``assumptions``, within
        ``timeout_ms`` (None: :data:`DEFAULT_TIMEOUT_MS`; past it the status is ``unknown``).

        Refuted claims come with a counterexample: the value of every named dim (those made by
        :meth:`dim`, and any other z3 Int constant in the claim) in a model of the assumptions
        and the claim's negation.
        """
        obligation = claim if isinstance(claim, Obligation) else None
        cond = self.boolean(claim.condition if isinstance(claim, Obligation) else claim)
        facts = [*self.assumptions, *(self.boolean(a) for a in assumptions)]
        solver = z3.Solver()
        solver.set("timeout", DEFAULT_TIMEOUT_MS if timeout_ms is None else timeout_ms)
        solver.add(*facts)
        solver.add(z3.Not(cond))
        verdict = solver.check()
        if verdict == z3.unsat:
            return ProofResult(True, None, "proven", obligation)
        if verdict != z3.sat:
            return ProofResult(False, None, "unknown", obligation)
        model = solver.model()
        names = dict(self.symbols)
        for expr in [cond, *facts]:
            names.update(_int_constants(expr))
        values = {n: model_int(model.eval(v, model_completion=True)) for n, v in names.items()}
        example = {n: v for n, v in values.items() if v is not None}
        if len(example) < len(values):  # refuted, by sizes too large to print or replay
            return ProofResult(False, None, "refuted", obligation)
        return ProofResult(False, example, "refuted", obligation)

    def prove_all(
        self, assumptions: Iterable[Z3Cond] = (), *, timeout_ms: int | None = None
    ) -> list[ProofResult]:
        """One :class:`ProofResult` per recorded obligation, in order."""
        extra = list(assumptions)
        return [self.prove(o, extra, timeout_ms=timeout_ms) for o in self.obligations]

    def __repr__(self) -> str:
        return (
            f"Z3Algebra(symbols={list(self.symbols)}, assumptions={len(self.assumptions)}, "
            f"obligations={len(self.obligations)})"
        )


class _PureZ3(Z3Algebra):
    """The z3 algebra minus obligations: ``from_dim``/``from_cond`` convert, they require nothing."""

    def floordiv(self, a: Z3Dim, b: Z3Dim) -> z3.ArithRef:
        return _floor_div(self.term(a), self.term(b))

    def mod(self, a: Z3Dim, b: Z3Dim) -> z3.ArithRef:
        return _floor_mod(self.term(a), self.term(b))


_PURE = _PureZ3(min_size=None)


def _literal(x: z3.ArithRef) -> int | None:
    """The value of ``x`` when it simplifies to an integer literal, else None."""
    return model_int(z3.simplify(x))


def model_int(value: z3.ExprRef) -> int | None:
    """The int of a z3 integer numeral (a model's value for a dim), or None when ``value`` is
    not one or is past ``MAX_COEF_BITS`` (such sizes can be neither printed nor replayed, and
    ``as_long`` would let Python's 4,300-digit limit on ``int()`` escape as ValueError)."""
    if not z3.is_int_value(value):
        return None
    text = value.as_string()  # type: ignore[attr-defined]
    if len(text) > 2 + MAX_COEF_BITS // 3:  # more digits than MAX_COEF_BITS bits can have
        return None
    n = int(text)
    return n if n.bit_length() <= MAX_COEF_BITS else None


def _truth(c: z3.BoolRef) -> bool | None:
    """True or False when ``c`` simplifies to a literal (no assumptions used), else None."""
    s = z3.simplify(c)
    return True if z3.is_true(s) else False if z3.is_false(s) else None


def _floor_div(a: z3.ArithRef, b: z3.ArithRef) -> z3.ArithRef:
    """Python's ``a // b`` (z3's Euclidean ``/`` agrees for ``b > 0``)."""
    k = _literal(b)
    if k is not None:
        return a / b if k > 0 else (-a) / (-b)
    return z3.If(b > 0, a / b, (-a) / (-b))


def _floor_mod(a: z3.ArithRef, b: z3.ArithRef) -> z3.ArithRef:
    """Python's ``a % b``, which takes the divisor's sign: ``a - b * (a // b)``."""
    k = _literal(b)
    if k is not None:
        return a % b if k > 0 else a - b * ((-a) / (-b))
    return z3.If(b > 0, a % b, a - b * ((-a) / (-b)))


def _int_constants(expr: z3.ExprRef) -> dict[str, z3.ArithRef]:
    """The uninterpreted Int constants (named dims) in ``expr``."""
    out: dict[str, z3.ArithRef] = {}
    todo, seen = [expr], set()
    while todo:
        e = todo.pop()
        if e.get_id() in seen:
            continue
        seen.add(e.get_id())
        if z3.is_const(e) and e.decl().kind() == z3.Z3_OP_UNINTERPRETED and z3.is_int(e):
            out[str(e)] = e
        todo.extend(e.children())
    return out
