"""Sizes under the assumptions, for the numeric verifier: the range of a symbolic dim
expression, and the smallest sizes at which a size-dependent bound fails.

Interval rules see a symbolic dim as a :class:`~neurarust.types.interval.SizeRange` (its
expression and its least and greatest value under ``--assume`` and ``dim >= min_size``), so
``arange(T)`` under ``T <= 64`` has values in ``[0, 63]`` and a sum of int32 over ``T`` terms
knows how many terms it adds. Both come from z3's optimiser on the integer constraints; an
expression the optimiser cannot bound (no assumption caps it, or it timed out) is unbounded,
which keeps every conclusion sound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import z3

from ..types.dim import Dim
from ..types.interval import SizeRange
from ..types.z3_algebra import Z3Algebra, model_int
from .shape import parse_assumption

__all__ = ["Sizes"]


class Sizes:
    """Ranges of dim expressions under ``assumptions`` (strings as ``--assume`` takes)."""

    def __init__(self, symbols: Sequence[str], assumptions: Sequence[str] = (), *,
                 min_size: int | None = 1, timeout_ms: int = 2_000) -> None:
        self.z = Z3Algebra(min_size=min_size)
        for name in symbols:
            self.z.dim(name)
        self.facts = [parse_assumption(a, self.z) for a in assumptions]
        self.assumptions = list(assumptions)
        self.timeout_ms = timeout_ms
        self._cache: dict[Dim, SizeRange] = {}

    def _optimize(self, term: z3.ArithRef, maximize: bool) -> float:
        opt = z3.Optimize()
        opt.set("timeout", self.timeout_ms)
        opt.add(*self.z.assumptions, *self.facts)
        h = opt.maximize(term) if maximize else opt.minimize(term)
        if opt.check() != z3.sat:
            return math.inf if maximize else -math.inf
        v = model_int(h.value())
        if v is None:  # unbounded (oo), not a number, or past the budget of sizes
            return math.inf if maximize else -math.inf
        return float(v)

    def range(self, d: Dim | int) -> SizeRange:
        """The least and greatest value of ``d`` under the assumptions (inf: unbounded)."""
        dim = Dim.of(d)
        if dim.is_constant:
            n = dim.as_int()
            return SizeRange(dim, float(n), float(n))
        if dim not in self._cache:
            term = self.z.from_dim(dim)
            self._cache[dim] = SizeRange(dim, self._optimize(term, False),
                                         self._optimize(term, True))
        return self._cache[dim]

    def smallest_violation(self, value: Dim, limit: int) -> dict[str, int] | None:
        """Sizes (the least in total) under the assumptions at which ``value > limit``, or
        None when the assumptions exclude it (or z3 gives up)."""
        term = self.z.from_dim(value)
        opt = z3.Optimize()
        opt.set("timeout", self.timeout_ms)
        opt.add(*self.z.assumptions, *self.facts, term > limit)
        syms = [self.z.dim(n) for n in sorted(value.free_symbols())]
        if syms:
            opt.minimize(z3.Sum(*syms))
        if opt.check() != z3.sat:
            return None
        m = opt.model()
        values = {str(s): model_int(m.eval(s, model_completion=True)) for s in syms}
        return None if None in values.values() else {
            n: v for n, v in values.items() if v is not None}
