"""The symbolic dimension algebra: shape rules evaluated on :class:`~neurarust.types.dim.Dim`.

The mypy plugin and the tracer run each op's shape rule with this algebra. A ``require`` that
is provably false is an error at once (a :class:`RuleViolation` naming the condition); one that
holds is dropped; one that depends on the sizes (``N == M`` for unrelated ``N`` and ``M``) is
kept in :attr:`SymbolicAlgebra.pending` for the verifier, never reported as an error.

Example:
    >>> dims = SymbolicAlgebra()
    >>> N, M = dims.dim("N"), dims.dim("M")
    >>> shape = dims.broadcast((N,), (M,))
    >>> [str(o.condition) for o in dims.pending]
    ['N == M or N == 1 or M == 1']
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from .cond import Cond, DimTerms
from .dim import Dim, DimLike
from .errors import RuleViolation, UndecidedShape

__all__ = ["Obligation", "SymbolicAlgebra"]

C = TypeVar("C")


@dataclass(frozen=True)
class Obligation(Generic[C]):
    """A requirement a rule stated that its algebra did not settle: someone must prove it.

    ``condition`` is the algebra's condition (a :class:`Cond`, or a z3 term in the z3
    algebra); ``message`` and ``hint`` are the rule's own words, shown when it fails.
    """

    condition: C
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{self.message}: requires {self.condition}{hint}"


class SymbolicAlgebra(DimTerms):
    """Dims are :class:`Dim` polynomials (ints accepted and coerced), conditions :class:`Cond`.

    Args:
        facts: conditions taken as true when deciding, e.g. ``[Dim.sym("B").ge(1)]``. Named
            dims are always taken to be ``>= 0``.

    Attributes:
        pending: the undecided requirements, in the order the rules stated them.
    """

    name = "symbolic"

    def __init__(self, facts: Iterable[Cond] = ()) -> None:
        self.facts: tuple[Cond, ...] = tuple(facts)
        self.pending: list[Obligation[Cond]] = []

    def dim(self, name: str) -> Dim:
        """The named dim ``name``."""
        return Dim.sym(name)

    def shape(self, *dims: DimLike | str) -> tuple[Dim, ...]:
        """A shape from names, expressions and ints: ``dims.shape("B", "T*C", 784)``."""
        return tuple(Dim.of(d) for d in dims)

    def _decide(self, cond: Cond) -> bool | None:
        return cond.decide(self.facts)

    def require(self, cond: Cond | bool, message: str, *, hint: str | None = None) -> None:
        """Raise RuleViolation when ``cond`` is provably false; keep it pending when undecided."""
        verdict = self._decide(Cond.of(cond))
        if verdict is False:
            detail = None if isinstance(cond, bool) else f"expected {cond}"
            raise RuleViolation(message, hint, detail=detail)
        if verdict is None:
            self.pending.append(Obligation(Cond.of(cond), message, hint))

    def decide(self, cond: Cond | bool, why: str) -> bool:
        """The truth of ``cond`` when structure and facts settle it; UndecidedShape otherwise."""
        verdict = self._decide(Cond.of(cond))
        if verdict is None:
            raise UndecidedShape(f"{why}: cannot decide {cond} for symbolic sizes")
        return verdict

    def floordiv(self, a: DimLike, b: DimLike) -> Dim:
        """``a // b`` with floor semantics; a zero divisor is an error or an obligation."""
        self._require_nonzero(a, b, "//")
        return super().floordiv(a, b)

    def mod(self, a: DimLike, b: DimLike) -> Dim:
        """``a % b`` with Python's sign convention; a zero divisor is an error or an obligation."""
        self._require_nonzero(a, b, "%")
        return super().mod(a, b)

    def _require_nonzero(self, a: DimLike, b: DimLike, op: str) -> None:
        verb = "division" if op == "//" else "modulo"
        nonzero = self._decide(self.ne(b, 0))
        if nonzero is False:
            raise RuleViolation(f"{verb} of a dim by zero", detail=f"{Dim.of(a)} {op} {Dim.of(b)}")
        if nonzero is None:
            self.pending.append(Obligation(self.ne(b, 0), f"{verb} of a dim by zero"))

    def __repr__(self) -> str:
        return (
            f"SymbolicAlgebra(facts={[str(f) for f in self.facts]}, pending={len(self.pending)})"
        )
