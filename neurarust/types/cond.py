"""Conditions on symbolic dims (:class:`Cond`) and the pure algebra of Dims (:class:`DimTerms`).

A ``Cond`` is a comparison of two Dims (kept as written, for messages such as ``N == M``), a
conjunction or disjunction, or a constant. Equality and hashing are structural on a normal form
(``a == b`` becomes ``a - b == 0`` with a positive leading coefficient, ``a < b`` becomes
``b - a - 1 >= 0``), so ``N == M`` and ``M == N`` are the same condition.

``Cond.decide`` answers from structure alone, by interval reasoning over the normal form:
named dims lie in ``[0, inf)`` (they are sizes), narrowed by ``facts`` such as ``B >= 1``;
opaque terms get bounds from their arguments. It returns None rather than guess.

This module reads ``Dim``'s normal form directly (``_terms``, atoms): the two modules are one
concept split for size, and ``dim`` imports this one lazily to avoid an import cycle.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .algebra import CONCRETE, DimAlgebra
from .dim import Dim, DimLike, _Apply, _Atom, _lookup, _Select, _Symbol

__all__ = ["DIM_TERMS", "Cond", "DimTerms"]

Interval = tuple[float, float]  # (lo, hi): ints, or -inf / +inf where unbounded
_INF = math.inf
_NEGATE = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", "<=": ">", ">": "<="}
_METHOD = {"==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}


class Cond:
    """A condition on dims. Build with ``d.eq(e)`` / ``Cond.compare``, combine with ``& | ~``.

    ``bool(cond)`` raises for anything but a constant: a rule must not branch on a size; it
    asks its algebra (``dims.require``, ``dims.select``, ``dims.decide``).
    """

    __slots__ = ("_hash", "key")

    def __init__(self, key: tuple[Any, ...]) -> None:
        self.key = key
        self._hash = hash(key)

    # -- construction -------------------------------------------------------------------------
    @staticmethod
    def compare(op: str, lhs: DimLike, rhs: DimLike) -> Cond:
        """``lhs op rhs`` for op in ``== != < <= > >=``."""
        if op not in _NEGATE:
            raise ValueError(f"expected a comparison among {sorted(_NEGATE)}, got {op!r}")
        return _Compare(op, Dim.of(lhs), Dim.of(rhs))

    @staticmethod
    def of(value: Cond | bool) -> Cond:
        """A Cond as is; a Python (or numpy) bool as a constant condition."""
        if isinstance(value, Cond):
            return value
        if isinstance(value, bool) or type(value).__name__ == "bool_":
            return TRUE if value else FALSE
        raise TypeError(f"expected a Cond or a bool, got {value!r}")

    @staticmethod
    def all(*conds: Cond | bool) -> Cond:
        """The conjunction, simplified: decided-true parts drop out, a false part decides."""
        return _junction("and", conds)

    @staticmethod
    def any(*conds: Cond | bool) -> Cond:
        """The disjunction, simplified: decided-false parts drop out, a true part decides."""
        return _junction("or", conds)

    def __and__(self, other: Cond | bool) -> Cond:
        return _junction("and", (self, other))

    __rand__ = __and__

    def __or__(self, other: Cond | bool) -> Cond:
        return _junction("or", (self, other))

    __ror__ = __or__

    def __invert__(self) -> Cond:
        raise NotImplementedError

    # -- reading ------------------------------------------------------------------------------
    def decide(self, facts: Iterable[Cond] | None = None) -> bool | None:
        """True or False when structure (dims >= 0, plus ``facts``) settles it, else None."""
        return self._decide(_Facts(facts) if facts else _NO_FACTS)

    def _decide(self, facts: _Facts) -> bool | None:
        raise NotImplementedError

    def evaluate(self, bindings: Mapping[str, int]) -> bool:
        """The truth value with every named dim bound to an int."""
        return bool(self.interpret(CONCRETE, _lookup(bindings)))

    def interpret(self, algebra: DimAlgebra[Any, Any], symbol: Callable[[str], Any]) -> Any:
        """This condition in ``algebra`` (a bool, a z3 term, a Cond ...); see Dim.interpret."""
        raise NotImplementedError

    def substitute(self, mapping: Mapping[str, DimLike]) -> Cond:
        """Replace named dims by Dims or ints; the result is re-simplified."""
        return Cond.of(self.interpret(DIM_TERMS, lambda n: mapping.get(n, Dim.sym(n))))

    def free_symbols(self) -> frozenset[str]:
        return frozenset()

    def implied_values(self) -> list[tuple[str, Dim]]:
        """Pairs ``(name, value)`` such that this condition implies ``name == value``."""
        return []

    # -- identity -----------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cond) and self.key == other.key

    def __hash__(self) -> int:
        return self._hash

    def __bool__(self) -> bool:
        raise TypeError(
            f"the truth of {self} is not known here; a rule asks its algebra "
            "(dims.require / dims.select / dims.decide) instead of branching"
        )

    def __repr__(self) -> str:
        return f"Cond({str(self)!r})"


class _Const(Cond):
    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        super().__init__(("const", value))
        self.value = value

    def _decide(self, facts: _Facts) -> bool | None:
        return self.value

    def interpret(self, algebra: DimAlgebra[Any, Any], symbol: Callable[[str], Any]) -> Any:
        return self.value

    def __invert__(self) -> Cond:
        return FALSE if self.value else TRUE

    def __bool__(self) -> bool:
        return self.value

    def __str__(self) -> str:
        return str(self.value)


TRUE: Cond = _Const(True)
FALSE: Cond = _Const(False)


class _Compare(Cond):
    """``lhs op rhs``; ``kind`` and ``poly`` hold the normal form (``poly == 0``, ``!= 0``,
    or ``>= 0``) on which equality, hashing and deciding work."""

    __slots__ = ("kind", "lhs", "op", "poly", "rhs")

    def __init__(self, op: str, lhs: Dim, rhs: Dim) -> None:
        kind, poly = _normalise(op, lhs, rhs)
        super().__init__((kind, poly._key))
        self.op, self.lhs, self.rhs, self.kind, self.poly = op, lhs, rhs, kind, poly

    def _decide(self, facts: _Facts) -> bool | None:
        known = facts.lookup(self)
        if known is not None:
            return known
        lo, hi = _bounds(self.poly, facts)
        if self.kind == "ge":
            return True if lo >= 0 else False if hi < 0 else None
        if lo == hi == 0:
            equal: bool | None = True
        elif lo > 0 or hi < 0 or _no_integer_root(self.poly):
            equal = False
        else:
            equal = None
        return equal if self.kind == "eq" or equal is None else not equal

    def interpret(self, algebra: DimAlgebra[Any, Any], symbol: Callable[[str], Any]) -> Any:
        method = getattr(algebra, _METHOD[self.op])
        return method(self.lhs.interpret(algebra, symbol), self.rhs.interpret(algebra, symbol))

    def free_symbols(self) -> frozenset[str]:
        return self.lhs.free_symbols() | self.rhs.free_symbols()

    def implied_values(self) -> list[tuple[str, Dim]]:
        if self.kind != "eq":
            return []
        out = []
        for name in sorted(self.poly.free_symbols()):
            value = _solve(self.poly, name)
            if value is not None:
                out.append((name, value))
        return out

    def __invert__(self) -> Cond:
        return _Compare(_NEGATE[self.op], self.lhs, self.rhs)

    def __str__(self) -> str:
        return f"{self.lhs} {self.op} {self.rhs}"


class _Junction(Cond):
    """``and``/``or`` of two or more parts, in the order given (for readable messages)."""

    __slots__ = ("kind", "parts")

    def __init__(self, kind: str, parts: tuple[Cond, ...]) -> None:
        super().__init__((kind, tuple(p.key for p in parts)))
        self.kind, self.parts = kind, parts

    def _decide(self, facts: _Facts) -> bool | None:
        known = facts.lookup(self)
        if known is not None:
            return known
        values = [p._decide(facts) for p in self.parts]
        absorbing = self.kind == "or"  # one True settles an "or", one False an "and"
        if any(v is absorbing for v in values):
            return absorbing
        return (not absorbing) if all(v is not None for v in values) else None

    def interpret(self, algebra: DimAlgebra[Any, Any], symbol: Callable[[str], Any]) -> Any:
        parts = [p.interpret(algebra, symbol) for p in self.parts]
        return algebra.and_(*parts) if self.kind == "and" else algebra.or_(*parts)

    def free_symbols(self) -> frozenset[str]:
        return frozenset().union(*(p.free_symbols() for p in self.parts))

    def implied_values(self) -> list[tuple[str, Dim]]:
        if self.kind == "or":
            return []
        return [pair for p in self.parts for pair in p.implied_values()]

    def __invert__(self) -> Cond:
        return _junction("or" if self.kind == "and" else "and", [~p for p in self.parts])

    def __str__(self) -> str:
        return f" {self.kind} ".join(
            f"({p})" if isinstance(p, _Junction) else str(p) for p in self.parts
        )


def _junction(kind: str, conds: Iterable[Cond | bool]) -> Cond:
    """``and``/``or`` flattened, deduplicated and simplified from structure.

    A decided part that settles the result keeps only itself (and its siblings of the same
    verdict), so ``3 == 4 or 3 == 1 or 4 == 1`` stays readable in the error it causes.
    """
    parts: list[Cond] = []
    verdicts: list[bool | None] = []
    seen: set[Any] = set()
    for c in map(Cond.of, conds):
        for p in c.parts if isinstance(c, _Junction) and c.kind == kind else (c,):
            verdict = p.decide()
            # All false comparisons share one normal form; keep each as written for messages.
            identity = p.key if verdict is None else (p.key, str(p))
            if identity not in seen:
                seen.add(identity)
                parts.append(p)
                verdicts.append(verdict)
    absorbing = kind == "or"
    settled = [p for p, v in zip(parts, verdicts) if v is absorbing]
    if settled:
        if absorbing:
            return TRUE
        keep = [p for p in settled if not isinstance(p, _Const)] or [FALSE]
    else:
        keep = [p for p, v in zip(parts, verdicts) if v is None]
        if not keep and kind == "and":
            return TRUE
        if not keep:  # an "or" of false parts: keep them all, for the message
            keep = [p for p in parts if not isinstance(p, _Const)] or [FALSE]
    return keep[0] if len(keep) == 1 else _Junction(kind, tuple(keep))


# -- normal form and bounds ---------------------------------------------------------------------
def _normalise(op: str, lhs: Dim, rhs: Dim) -> tuple[str, Dim]:
    """``(kind, poly)``: the comparison as ``poly == 0`` / ``!= 0`` (leading coefficient
    positive, coefficients coprime) or ``poly >= 0`` (nonconstant coefficients coprime)."""
    if op in ("==", "!="):
        p = lhs - rhs
        if p._terms and p._ordered()[0][1] < 0:
            p = -p
        g = p._content()
        if g > 1:
            p = Dim._make({m: c // g for m, c in p._terms.items()})
        return ("eq" if op == "==" else "ne"), p
    p = {">=": lhs - rhs, ">": lhs - rhs - 1, "<=": rhs - lhs, "<": rhs - lhs - 1}[op]
    g = math.gcd(*(c for m, c in p._terms.items() if m))
    if g > 1:  # g*q + c >= 0  <=>  q + floor(c/g) >= 0, for integer q
        p = Dim._make({m: c // g for m, c in p._terms.items()})
    return "ge", p


def _no_integer_root(poly: Dim) -> bool:
    """True when ``poly == 0`` has no integer solution by a gcd argument (``2*B == 1``)."""
    g = math.gcd(*(c for m, c in poly._terms.items() if m))
    return g > 1 and poly._terms.get((), 0) % g != 0


def _solve(poly: Dim, name: str) -> Dim | None:
    """The value ``x`` with ``poly == 0  <=>  name == x``, when ``name`` occurs once, linearly,
    with coefficient +-1; else None."""
    k = poly._terms.get(((_Symbol(name), 1),))
    if k not in (1, -1):
        return None
    rest = poly - k * Dim.sym(name)
    return None if name in rest.free_symbols() else -k * rest


class _Facts:
    """What ``decide`` may assume: conditions known true, and bounds for named dims."""

    def __init__(self, facts: Iterable[Cond] | None) -> None:
        self.true_keys: set[tuple[Any, ...]] = set()
        self.bounds: dict[str, Interval] = {}
        for fact in facts or ():
            for part in (
                fact.parts if isinstance(fact, _Junction) and fact.kind == "and" else [fact]
            ):
                self.true_keys.add(part.key)
                self._learn_bound(part)

    def _learn_bound(self, fact: Cond) -> None:
        if not isinstance(fact, _Compare) or fact.kind == "ne":
            return
        names = fact.poly.free_symbols()
        if len(names) != 1:
            return
        (name,) = names
        value = _solve(fact.poly, name)
        if value is None or not value.is_constant:
            return
        v, (lo, hi) = value.as_int(), self.symbol(name)
        rising = fact.poly._terms[((_Symbol(name), 1),)] == 1  # k*name + c >= 0, k = +-1
        if fact.kind == "eq" or rising:
            lo = max(lo, v)
        if fact.kind == "eq" or not rising:
            hi = min(hi, v)
        self.bounds[name] = (lo, hi)

    def symbol(self, name: str) -> Interval:
        return self.bounds.get(name, (0, _INF))

    def lookup(self, cond: Cond) -> bool | None:
        if not self.true_keys:
            return None
        if cond.key in self.true_keys:
            return True
        return False if (~cond).key in self.true_keys else None


_NO_FACTS = _Facts(None)


def _mul(x: float, y: float) -> float:
    return 0 if x == 0 or y == 0 else x * y  # 0 * inf is 0 here: a zero factor is exact


def _interval_mul(a: Interval, b: Interval) -> Interval:
    products = [_mul(x, y) for x in a for y in b]
    return min(products), max(products)


def _bounds(d: Dim, facts: _Facts) -> Interval:
    """Sound bounds of ``d`` by interval arithmetic over its atoms."""
    lo: float = 0
    hi: float = 0
    for mono, coef in d._terms.items():
        term: Interval = (1, 1)
        for atom, exp in mono:
            atom_bounds = _atom_bounds(atom, facts)
            for _ in range(exp):
                term = _interval_mul(term, atom_bounds)
        term = _interval_mul((coef, coef), term)
        lo, hi = lo + term[0], hi + term[1]
    return lo, hi


def _atom_bounds(atom: _Atom, facts: _Facts) -> Interval:
    if isinstance(atom, _Symbol):
        return facts.symbol(atom.name)
    assert isinstance(atom, _Apply | _Select)
    (alo, ahi), (blo, bhi) = (_bounds(arg, facts) for arg in atom.args)
    if isinstance(atom, _Select):
        return min(alo, blo), max(ahi, bhi)
    if atom.fn == "min":
        return min(alo, blo), min(ahi, bhi)
    if atom.fn == "max":
        return max(alo, blo), max(ahi, bhi)
    if blo < 1:  # divisor may be zero or negative: no useful bound
        return -_INF, _INF
    if atom.fn == "mod":  # 0 <= a % b < b, and a % b <= a when a >= 0
        return 0, min(bhi - 1, ahi) if alo >= 0 else bhi - 1
    # floor(a/b) with b >= 1 is monotone in each argument: its extremes sit at corners.
    corners = [_floor_div(x, y) for x in (alo, ahi) for y in (blo, bhi)]
    return min(corners), max(corners)


def _floor_div(x: float, y: float) -> float:
    if math.isinf(x):
        return x if not math.isinf(y) else (_INF if x > 0 else -_INF)
    if math.isinf(y):  # the limit of floor(x/y) as y grows
        return 0 if x >= 0 else -1
    return int(x) // int(y)


# -- the pure algebra of Dims ---------------------------------------------------------------------
class DimTerms(DimAlgebra[Dim, Cond]):
    """Dims and Conds as values, simplified from structure alone; it states no requirements.

    ``substitute`` re-normalises through it; ``SymbolicAlgebra`` extends it with facts and
    pending obligations by overriding :meth:`_decide`. Ints are accepted wherever Dims are.
    """

    name = "dim-terms"

    def _decide(self, cond: Cond) -> bool | None:
        """The hook that ``select``/``min``/``max`` use to pick a branch."""
        return cond.decide()

    def const(self, n: int) -> Dim:
        return Dim.const(n)

    def eq(self, a: DimLike, b: DimLike) -> Cond:
        return Cond.compare("==", a, b)

    def ne(self, a: DimLike, b: DimLike) -> Cond:
        return Cond.compare("!=", a, b)

    def lt(self, a: DimLike, b: DimLike) -> Cond:
        return Cond.compare("<", a, b)

    def le(self, a: DimLike, b: DimLike) -> Cond:
        return Cond.compare("<=", a, b)

    def gt(self, a: DimLike, b: DimLike) -> Cond:
        return Cond.compare(">", a, b)

    def ge(self, a: DimLike, b: DimLike) -> Cond:
        return Cond.compare(">=", a, b)

    def and_(self, *conds: Cond | bool) -> Cond:
        return Cond.all(*conds)

    def or_(self, *conds: Cond | bool) -> Cond:
        return Cond.any(*conds)

    def not_(self, cond: Cond | bool) -> Cond:
        return ~Cond.of(cond)

    def floordiv(self, a: DimLike, b: DimLike) -> Dim:
        return Dim.of(a) // Dim.of(b)

    def mod(self, a: DimLike, b: DimLike) -> Dim:
        return Dim.of(a) % Dim.of(b)

    def numel(self, shape: Sequence[DimLike]) -> Dim:
        out = Dim.const(1)
        for d in shape:
            out = out * Dim.of(d)
        return out

    def select(self, cond: Cond | bool, if_true: DimLike, if_false: DimLike) -> Dim:
        """A decided branch; one branch when both agree wherever ``cond`` pins a dim (so
        ``select(B == 1, 1, B)`` is ``B``); else an opaque ``select(...)`` atom."""
        c, a, b = Cond.of(cond), Dim.of(if_true), Dim.of(if_false)
        decided = self._decide(c)
        if decided is not None:
            return a if decided else b
        if a == b:
            return a
        if any(b.substitute({n: v}) == a for n, v in c.implied_values()):
            return b  # where cond holds, b equals a
        if any(a.substitute({n: v}) == b for n, v in (~c).implied_values()):
            return a  # where cond fails, a equals b
        if (~c).key < c.key:  # one spelling for select(c, a, b) and select(~c, b, a)
            c, a, b = ~c, b, a
        return Dim._atom(_Select(c, a, b))

    def min(self, a: DimLike, b: DimLike) -> Dim:
        return self._min_max("min", Dim.of(a), Dim.of(b))

    def max(self, a: DimLike, b: DimLike) -> Dim:
        return self._min_max("max", Dim.of(a), Dim.of(b))

    def _min_max(self, fn: str, a: Dim, b: Dim) -> Dim:
        a_first = self._decide(a.le(b))
        if a_first is None:  # b <= a settles it too (B vs 0: 0 <= B holds, B <= 0 is open)
            b_first = self._decide(b.le(a))
            a_first = None if b_first is None else not b_first
        if a == b or a_first is not None:
            return a if (a_first is not False) == (fn == "min") else b
        a, b = sorted((a, b), key=lambda d: d._key)  # min and max are symmetric
        return Dim._atom(_Apply(fn, (a, b)))


DIM_TERMS: DimTerms = DimTerms()
"""The shared pure Dim algebra (stateless)."""
