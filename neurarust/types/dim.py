"""Symbolic dimensions: :class:`Dim` (a normalised polynomial over named sizes) and :class:`Cond`.

A ``Dim`` is a polynomial with integer coefficients over *atoms*: named dims (``B``, ``T``) and
opaque terms (``H//2``, ``H % 2``, ``min(N, M)``, ``select(c, a, b)``) whose arguments are
normalised Dims themselves. Normalising on construction makes equal polynomials structurally
equal, so ``B*T == T*B`` and ``(B*T)//T == B``, and Dims work as dict keys and in sets.

Comparisons that *produce conditions* never go through ``==``: ``Dim.__eq__`` is structural
(it answers "same expression?"), while ``d.eq(e)``, ``d.lt(e)`` ... build a :class:`Cond`, a
separate type that ``decide``s from structure alone (or says ``None``). Named dims are assumed
``>= 0`` (they are sizes) when deciding; ``facts`` may add bounds such as ``B >= 1``.
``Cond`` lives in :mod:`.cond` and is re-exported here.

:meth:`Dim.interpret` evaluates a Dim in any :class:`DimAlgebra`: plain evaluation, conversion
to z3 and substitution (through ``cond.DIM_TERMS``) are all that one walk.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Union

from .algebra import CONCRETE, DimAlgebra

if TYPE_CHECKING:
    from .cond import Cond

__all__ = [
    "MAX_COEF_BITS",
    "MAX_DEGREE",
    "MAX_EXPONENT",
    "MAX_TERMS",
    "MAX_TEXT",
    "Cond",
    "Dim",
    "DimBudgetError",
    "DimLike",
]

DimLike = Union["Dim", int]
Key = tuple[Any, ...]
Monomial = tuple[tuple["_Atom", int], ...]  # (atom, exponent >= 1), sorted by atom key


# -- budgets ---------------------------------------------------------------------------------------
# Dim expressions come from users and from files (``--input``, ``--assume``, certificates). A few
# bytes such as ``B**1000000000`` or ``(A+B+C+D)**64`` must not buy hours of expansion or
# gigabytes of terms, so every construction stays inside these limits, far above what a shape
# rule or an assumption needs, and an expression past them is refused (DimBudgetError).
MAX_TEXT = 4096
"""Characters in one parsed dim expression, assumption or tensor spec."""
MAX_EXPONENT = 64
"""Largest integer exponent expanded by ``**`` on a symbolic dim."""
MAX_DEGREE = 64
"""Largest total degree of a monomial (``B**40 * T**30`` has 70)."""
MAX_TERMS = 1024
"""Most monomials in one normalised polynomial."""
MAX_COEF_BITS = 512
"""Largest coefficient or constant, in bits (about 154 decimal digits)."""


class DimBudgetError(ValueError):
    """A dim expression exceeds a budget (text length, exponent, degree, terms, coefficient
    size); the message names the limit and the offending part."""


def check_text(text: str, what: str) -> None:
    """Refuse ``text`` (a dim expression, assumption or spec, named ``what``) longer than
    :data:`MAX_TEXT` characters, before any parsing."""
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, got {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise DimBudgetError(f"{what} {_short(text)} is {len(text)} characters long; at most "
                             f"{MAX_TEXT} are accepted")


def _short(text: str, width: int = 60) -> str:
    """``text`` quoted for a message, cut to ``width`` characters."""
    return repr(text) if len(text) <= width else repr(text[:width]) + "..."


def _check_coef(c: int) -> None:
    if c.bit_length() > MAX_COEF_BITS:
        raise DimBudgetError(f"a dim constant or coefficient of {c.bit_length()} bits is too "
                             f"large (at most {MAX_COEF_BITS} bits, about 154 digits)")


def _degree(mono: Monomial) -> int:
    return sum(e for _, e in mono)


# -- atoms ------------------------------------------------------------------------------------
class _Atom:
    """A factor of a monomial. Equality, hashing and ordering go through ``key``."""

    __slots__ = ("_hash", "key")

    def __init__(self, key: Key) -> None:
        self.key = key
        self._hash = hash(key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Atom) and self.key == other.key

    def __hash__(self) -> int:
        return self._hash


class _Symbol(_Atom):
    """A named dim such as ``B``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        super().__init__((0, name))
        self.name = name


class _Apply(_Atom):
    """An opaque ``floordiv``/``mod``/``min``/``max`` of normalised Dims."""

    __slots__ = ("args", "fn")

    def __init__(self, fn: str, args: tuple[Dim, Dim]) -> None:
        super().__init__((1, fn, tuple(a._key for a in args)))
        self.fn = fn
        self.args = args


class _Select(_Atom):
    """An undecided ``select(cond, if_true, if_false)``."""

    __slots__ = ("args", "cond")

    def __init__(self, cond: Cond, if_true: Dim, if_false: Dim) -> None:
        super().__init__((2, cond.key, if_true._key, if_false._key))
        self.cond = cond
        self.args = (if_true, if_false)


def _mono_key(mono: Monomial) -> Key:
    return tuple((atom.key, exp) for atom, exp in mono)


def _mono_mul(m1: Monomial, m2: Monomial) -> Monomial:
    exps: dict[_Atom, int] = dict(m1)
    for atom, exp in m2:
        exps[atom] = exps.get(atom, 0) + exp
    return tuple(sorted(exps.items(), key=lambda item: item[0].key))


def _mono_div(m: Monomial, d: Monomial) -> Monomial | None:
    """``m / d`` when ``d`` divides ``m``, else None."""
    exps = dict(m)
    for atom, exp in d:
        left = exps.get(atom, 0) - exp
        if left < 0:
            return None
        if left == 0:
            del exps[atom]
        else:
            exps[atom] = left
    return tuple(sorted(exps.items(), key=lambda item: item[0].key))


def _mono_gcd(monos: Iterable[Monomial]) -> Monomial:
    it = iter(monos)
    common = dict(next(it, ()))
    for mono in it:
        exps = dict(mono)
        common = {a: min(e, exps[a]) for a, e in common.items() if a in exps}
    return tuple(sorted(common.items(), key=lambda item: item[0].key))


# -- Dim ----------------------------------------------------------------------------------------
class Dim:
    """A symbolic dimension: an integer polynomial over named dims and opaque terms.

    Build with :meth:`sym`, :meth:`const`, :meth:`parse` or arithmetic (``+ - * // % **``)
    mixing Dims and ints either way round. ``==`` and ``hash`` are structural on the normal
    form (a constant Dim equals and hashes like its int); use ``eq``/``lt``/... for conditions.

    Example:
        >>> B, T = Dim.sym("B"), Dim.sym("T")
        >>> str((B + 1) * 2), (B * T) // T == B, str(Dim.parse("(H-3)//2+1"))
        ('2*B + 2', True, '(H - 3)//2 + 1')
    """

    __slots__ = ("_key_cache", "_terms")

    def __init__(self, value: int | str | Dim = 0) -> None:
        """``Dim(3)`` is a constant, ``Dim("T*C")`` parses, ``Dim(d)`` copies."""
        terms = Dim.of(value)._terms if not isinstance(value, int) else _const_terms(value)
        self._terms: dict[Monomial, int] = terms
        self._key_cache: Key | None = None

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def _make(cls, terms: Mapping[Monomial, int]) -> Dim:
        d = object.__new__(cls)
        d._terms = {m: c for m, c in terms.items() if c != 0}
        if len(d._terms) > MAX_TERMS:
            raise DimBudgetError(f"a dim expression with {len(d._terms)} terms is too large "
                                 f"(at most {MAX_TERMS})")
        for c in d._terms.values():  # degrees only grow in __mul__, checked there
            if c.bit_length() > MAX_COEF_BITS:
                _check_coef(c)
        d._key_cache = None
        return d

    @classmethod
    def _atom(cls, atom: _Atom) -> Dim:
        return cls._make({((atom, 1),): 1})

    @classmethod
    def sym(cls, name: str) -> Dim:
        """The named dim ``name`` (a Python identifier such as ``"B"`` or ``"seq_len"``)."""
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"a dim name must be an identifier such as 'B', got {name!r}")
        return cls._atom(_Symbol(name))

    @classmethod
    def const(cls, n: int) -> Dim:
        """The constant dim ``n``."""
        return cls._make(_const_terms(n))

    @classmethod
    def of(cls, value: DimLike | str) -> Dim:
        """Coerce: a Dim is returned as is, an int becomes a constant, a str is parsed."""
        if isinstance(value, Dim):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        coerced = _coerce(value)
        if coerced is not None:
            return coerced
        raise TypeError(f"expected a Dim, an int or a dim expression string, got {value!r}")

    @classmethod
    def parse(cls, text: str) -> Dim:
        """Parse ``"B"``, ``"T*C"``, ``"C//2"``, ``"(H-3)//2+1"``, ``"min(N, M)"`` into a Dim.

        ValueError when it is not a dim expression; :class:`DimBudgetError` (a ValueError)
        past a budget (:data:`MAX_TEXT` characters, exponents above :data:`MAX_EXPONENT`, ...).
        """
        check_text(text, "dim expression")
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except (SyntaxError, MemoryError, RecursionError) as err:
            why = err.msg if isinstance(err, SyntaxError) and "limit" in err.msg else (
                "not an expression")
            raise ValueError(f"cannot parse dim {_short(text)}: {why}") from None
        try:
            return _from_ast(tree.body, text)
        except ZeroDivisionError as err:
            raise ValueError(f"cannot parse dim {_short(text)}: {err}") from None
        except RecursionError:
            raise DimBudgetError(f"cannot parse dim {_short(text)}: nested too deeply") from None

    # -- inspection ---------------------------------------------------------------------------
    @property
    def _key(self) -> Key:
        if self._key_cache is None:
            self._key_cache = tuple(sorted((_mono_key(m), c) for m, c in self._terms.items()))
        return self._key_cache

    @property
    def is_constant(self) -> bool:
        """True when the Dim has no atoms (it is a plain integer)."""
        return all(not m for m in self._terms)

    def as_int(self) -> int:
        """The integer value of a constant Dim; ValueError for a symbolic one."""
        if not self.is_constant:
            raise ValueError(f"dim {self} is not a constant")
        return self._terms.get((), 0)

    def free_symbols(self) -> frozenset[str]:
        """The names of the named dims this expression mentions (inside opaque terms too)."""
        out: set[str] = set()
        for mono in self._terms:
            for atom, _ in mono:
                if isinstance(atom, _Symbol):
                    out.add(atom.name)
                    continue
                assert isinstance(atom, _Apply | _Select)
                for arg in atom.args:
                    out |= arg.free_symbols()
                if isinstance(atom, _Select):
                    out |= atom.cond.free_symbols()
        return frozenset(out)

    def _ordered(self) -> list[tuple[Monomial, int]]:
        """Terms in display order: higher degree first, then by atom, the constant last."""
        return sorted(
            self._terms.items(), key=lambda t: (-sum(e for _, e in t[0]), _mono_key(t[0]))
        )

    def _content(self) -> int:
        return math.gcd(*self._terms.values()) if self._terms else 0

    # -- evaluation ---------------------------------------------------------------------------
    def interpret(self, algebra: DimAlgebra[Any, Any], symbol: Callable[[str], Any]) -> Any:
        """This expression evaluated in ``algebra``, with ``symbol(name)`` for each named dim.

        With the concrete algebra this is plain evaluation; with the z3 algebra it builds a z3
        term; with :data:`DIM_TERMS` it re-normalises (``substitute`` is built on it).
        """
        total: Any = None
        for mono, coef in self._ordered():
            term: Any = None
            for atom, exp in mono:
                value = _interpret_atom(atom, algebra, symbol)
                for _ in range(exp):
                    term = value if term is None else term * value
            if term is None:
                term = algebra.const(coef)
            elif coef != 1:
                term = coef * term
            total = term if total is None else total + term
        return algebra.const(0) if total is None else total

    def evaluate(self, bindings: Mapping[str, int]) -> int:
        """The integer value with each named dim bound; KeyError names a missing binding."""
        return int(self.interpret(CONCRETE, _lookup(bindings)))

    def substitute(self, mapping: Mapping[str, DimLike]) -> Dim:
        """Replace named dims by Dims or ints and re-normalise (unmapped names stay)."""
        from .cond import DIM_TERMS

        return Dim.of(self.interpret(DIM_TERMS, lambda n: mapping.get(n, Dim.sym(n))))

    # -- conditions (never via ==) ------------------------------------------------------------
    def eq(self, other: DimLike) -> Cond:
        """The condition ``self == other`` (a :class:`Cond`, not a bool)."""
        return _compare("==", self, other)

    def ne(self, other: DimLike) -> Cond:
        return _compare("!=", self, other)

    def lt(self, other: DimLike) -> Cond:
        return _compare("<", self, other)

    def le(self, other: DimLike) -> Cond:
        return _compare("<=", self, other)

    def gt(self, other: DimLike) -> Cond:
        return _compare(">", self, other)

    def ge(self, other: DimLike) -> Cond:
        return _compare(">=", self, other)

    # -- arithmetic ---------------------------------------------------------------------------
    def __add__(self, other: DimLike) -> Dim:
        rhs = _coerce(other)
        if rhs is None:
            return NotImplemented
        terms = dict(self._terms)
        for m, c in rhs._terms.items():
            terms[m] = terms.get(m, 0) + c
        return Dim._make(terms)

    __radd__ = __add__

    def __neg__(self) -> Dim:
        return Dim._make({m: -c for m, c in self._terms.items()})

    def __pos__(self) -> Dim:
        return self

    def __sub__(self, other: DimLike) -> Dim:
        rhs = _coerce(other)
        return NotImplemented if rhs is None else self + -rhs

    def __rsub__(self, other: int) -> Dim:
        lhs = _coerce(other)
        return NotImplemented if lhs is None else lhs + -self

    def __mul__(self, other: DimLike) -> Dim:
        rhs = _coerce(other)
        if rhs is None:
            return NotImplemented
        _check_product(self, rhs)
        terms: dict[Monomial, int] = {}
        for m1, c1 in self._terms.items():
            for m2, c2 in rhs._terms.items():
                m = _mono_mul(m1, m2)
                terms[m] = terms.get(m, 0) + c1 * c2
        return Dim._make(terms)

    __rmul__ = __mul__

    def __pow__(self, exponent: int) -> Dim:
        """``self ** exponent`` expanded, by squaring; a symbolic base takes an exponent up to
        :data:`MAX_EXPONENT`, a constant one any power that fits :data:`MAX_COEF_BITS` (else
        :class:`DimBudgetError`: ``B**1000000000`` is refused at once, not expanded)."""
        if isinstance(exponent, bool) or not isinstance(exponent, int) or exponent < 0:
            raise ValueError(f"a dim power needs an int exponent >= 0, got {exponent!r}")
        if self.is_constant:
            base = self.as_int()
            if abs(base) > 1 and (abs(base).bit_length() - 1) * exponent > MAX_COEF_BITS:
                raise DimBudgetError(f"dim constant {base}**{exponent} is too large (at most "
                                     f"{MAX_COEF_BITS} bits)")
            return Dim.const(base**exponent)
        if exponent > MAX_EXPONENT:
            raise DimBudgetError(f"dim power ({self})**{exponent}: the exponent is too large to "
                                 f"expand (at most {MAX_EXPONENT})")
        out, square = Dim.const(1), self
        while exponent:
            if exponent & 1:
                out = out * square
            exponent >>= 1
            if exponent:
                square = square * square
        return out

    def __floordiv__(self, other: DimLike) -> Dim:
        rhs = _coerce(other)
        return NotImplemented if rhs is None else _divide("floordiv", self, rhs)

    def __rfloordiv__(self, other: int) -> Dim:
        lhs = _coerce(other)
        return NotImplemented if lhs is None else _divide("floordiv", lhs, self)

    def __mod__(self, other: DimLike) -> Dim:
        rhs = _coerce(other)
        return NotImplemented if rhs is None else _divide("mod", self, rhs)

    def __rmod__(self, other: int) -> Dim:
        lhs = _coerce(other)
        return NotImplemented if lhs is None else _divide("mod", lhs, self)

    # -- structural identity and conversions --------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if isinstance(other, Dim):
            return self._key == other._key
        if isinstance(other, int) and not isinstance(other, bool):
            return self.is_constant and self.as_int() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.as_int()) if self.is_constant else hash(self._key)

    def __int__(self) -> int:
        return self.as_int()

    def __index__(self) -> int:
        if not self.is_constant:
            raise TypeError(f"dim {self} is symbolic; it has no integer value")
        return self.as_int()

    def __bool__(self) -> bool:
        if not self.is_constant:
            raise TypeError(
                f"the truth of dim {self} is unknown; a rule asks its algebra "
                "(dims.require / dims.select / dims.decide) instead of branching"
            )
        return self.as_int() != 0

    def __str__(self) -> str:
        parts: list[str] = []
        for mono, coef in self._ordered():
            # A leading unary minus binds tighter than // and %: print -(B//T), not -B//T.
            body = _format_monomial(mono, abs(coef), negated=coef < 0 and not parts)
            sign = "-" if coef < 0 else "+"
            parts.append(("-" + body if sign == "-" else body) if not parts else f" {sign} {body}")
        return "".join(parts) or "0"

    def __repr__(self) -> str:
        return f"Dim({str(self)!r})"


def _check_product(a: Dim, b: Dim) -> None:
    """Refuse a product whose expansion alone would pass the budgets (before computing it):
    the degree of a product is the sum of the degrees; the work, the product of the sizes."""
    if len(a._terms) * len(b._terms) > 16 * MAX_TERMS:
        raise DimBudgetError(f"the product of dim expressions of {len(a._terms)} and "
                             f"{len(b._terms)} terms is too large to expand")
    da = max(map(_degree, a._terms), default=0)
    if da == 0:
        return  # a constant factor leaves every degree as it is
    db = max(map(_degree, b._terms), default=0)
    if da + db > MAX_DEGREE:
        raise DimBudgetError(f"a dim term of degree {da + db} is too large (at most "
                             f"{MAX_DEGREE})")


def _coerce(value: object) -> Dim | None:
    """A Dim for a Dim or an int-like (anything with ``__index__`` but bool); else None."""
    if isinstance(value, Dim):
        return value
    if type(value).__module__.startswith("z3"):
        raise TypeError(
            f"cannot mix Dim and z3 term {value}: convert Dims with Z3Algebra.from_dim or "
            "Z3Algebra.shape first, or pass both to the algebra (dims.eq, dims.floordiv, ...)"
        )
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        return None
    return Dim.const(value.__index__())


def _compare(op: str, lhs: Dim, rhs: DimLike) -> Cond:
    from .cond import Cond  # cond imports this module at its top, so import it late

    return Cond.compare(op, lhs, rhs)


def __getattr__(name: str) -> Any:
    """Re-export ``Cond`` lazily (``cond`` imports this module at its top)."""
    if name == "Cond":
        from .cond import Cond

        return Cond
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _const_terms(n: int) -> dict[Monomial, int]:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"a constant dim must be an int, got {n!r}")
    return {(): n} if n else {}


def _lookup(bindings: Mapping[str, int]) -> Callable[[str], int]:
    def get(name: str) -> int:
        try:
            return bindings[name]
        except KeyError:
            raise KeyError(f"no value bound for dim {name!r}") from None

    return get


def _interpret_atom(
    atom: _Atom, algebra: DimAlgebra[Any, Any], symbol: Callable[[str], Any]
) -> Any:
    if isinstance(atom, _Symbol):
        return symbol(atom.name)
    if isinstance(atom, _Apply):
        a, b = (arg.interpret(algebra, symbol) for arg in atom.args)
        return getattr(algebra, atom.fn)(a, b)
    assert isinstance(atom, _Select)
    cond = atom.cond.interpret(algebra, symbol)
    a, b = (arg.interpret(algebra, symbol) for arg in atom.args)
    return algebra.select(cond, a, b)


# -- floor division and modulo -------------------------------------------------------------------
def _divide(fn: str, a: Dim, b: Dim) -> Dim:
    """``a // b`` (fn "floordiv") or ``a % b`` (fn "mod"), with Python's floor semantics.

    Steps, each exact for any nonzero divisor: fold constants; cancel the common factor (the
    gcd of all coefficients times the common monomial); make the divisor's leading
    coefficient positive; when the divisor is a monomial, split ``a = q*b + r`` termwise so
    that ``a // b = q + r // b`` and ``a % b = r % b``; what is left becomes an opaque atom.
    """
    if not b._terms:
        raise ZeroDivisionError(f"dim {a} {'//' if fn == 'floordiv' else '%'} 0")
    if a.is_constant and b.is_constant:
        x, y = a.as_int(), b.as_int()
        return Dim.const(x // y if fn == "floordiv" else x % y)
    if not a._terms:
        return a
    g = Dim._make({_mono_gcd([*a._terms, *b._terms]): math.gcd(a._content(), b._content())})
    if g != 1:
        a, b = _exact_div(a, g), _exact_div(b, g)
        return _divide(fn, a, b) if fn == "floordiv" else g * _divide(fn, a, b)
    if b._ordered()[0][1] < 0:  # floor(a/b) = floor(-a/-b); a % b = -((-a) % -b)
        return _divide(fn, -a, -b) if fn == "floordiv" else -_divide(fn, -a, -b)
    if b == 1:
        return a if fn == "floordiv" else Dim.const(0)
    if len(b._terms) == 1:
        ((mono, c),) = b._terms.items()
        q, r = _split(a, mono, c, move_constant=fn == "mod" and b.is_constant)
        if q._terms or not r._terms:
            rest = _divide(fn, r, b) if r._terms else Dim.const(0)
            return q + rest if fn == "floordiv" else rest
    else:
        k = a._ordered()[0][1] // b._ordered()[0][1]
        if a == k * b:  # an exact multiple of a polynomial divisor
            return Dim.const(k if fn == "floordiv" else 0)
    return Dim._atom(_Apply(fn, (a, b)))


def _exact_div(a: Dim, g: Dim) -> Dim:
    """``a / g`` for a monomial ``g`` known to divide every term of ``a``."""
    ((gm, gc),) = g._terms.items()
    return Dim._make({_mono_div(m, gm) or (): c // gc for m, c in a._terms.items()})


def _split(a: Dim, mono: Monomial, c: int, move_constant: bool) -> tuple[Dim, Dim]:
    """``(q, r)`` with ``a == q*(c*mono) + r``, taking from each term what ``c*mono`` divides.

    The constant term stays in ``r`` unless ``move_constant``: ``(H-3)//2`` reads better than
    ``(H+1)//2 - 2``, while for ``%`` reducing the constant keeps the normal form canonical.
    """
    q: dict[Monomial, int] = {}
    r: dict[Monomial, int] = {}
    for m, k in a._terms.items():
        rest = _mono_div(m, mono)
        if rest is None or (not m and not move_constant):
            r[m] = r.get(m, 0) + k
            continue
        kq, kr = divmod(k, c)
        q[rest] = q.get(rest, 0) + kq
        r[m] = r.get(m, 0) + kr
    return Dim._make(q), Dim._make(r)


# -- printing and parsing ------------------------------------------------------------------------
def _format_monomial(mono: Monomial, coef: int, negated: bool = False) -> str:
    in_product = negated or len(mono) > 1 or coef != 1 or any(e > 1 for _, e in mono)
    factors = [_format_atom(a, in_product) + (f"**{e}" if e > 1 else "") for a, e in mono]
    if coef != 1 or not factors:
        factors.insert(0, str(coef))
    return "*".join(factors)


def _format_atom(atom: _Atom, in_product: bool) -> str:
    if isinstance(atom, _Symbol):
        return atom.name
    if isinstance(atom, _Select):
        return f"select({atom.cond}, {atom.args[0]}, {atom.args[1]})"
    assert isinstance(atom, _Apply)
    a, b = atom.args
    if atom.fn in ("min", "max"):
        return f"{atom.fn}({a}, {b})"
    num = f"({a})" if len(a._terms) > 1 else str(a)
    simple = (b.is_constant and b.as_int() >= 0) or _bare_symbol(b) is not None
    den = str(b) if simple else f"({b})"
    text = f"{num}//{den}" if atom.fn == "floordiv" else f"{num} % {den}"
    return f"({text})" if in_product else text


_BINARY: dict[type, Callable[[Dim, Dim], Dim]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
}


def _bare_symbol(d: Dim) -> str | None:
    """The name when ``d`` is exactly one named dim, else None."""
    if len(d._terms) != 1:
        return None
    ((mono, coef),) = d._terms.items()
    if coef != 1 or len(mono) != 1 or mono[0][1] != 1 or not isinstance(mono[0][0], _Symbol):
        return None
    return mono[0][0].name


def _from_ast(node: ast.expr, text: str) -> Dim:
    if isinstance(node, ast.Name):
        return Dim.sym(node.id)
    if isinstance(node, ast.Constant) and type(node.value) is int:
        _check_coef(node.value)
        return Dim.const(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _from_ast(node.operand, text)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_from_ast(node.left, text), _from_ast(node.right, text))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        return _from_ast(node.left, text) ** _from_ast(node.right, text).as_int()
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("min", "max")
        and len(node.args) >= 2
        and not node.keywords
    ):
        args = [_from_ast(arg, text) for arg in node.args]
        from .cond import DIM_TERMS

        pick = DIM_TERMS.min if node.func.id == "min" else DIM_TERMS.max
        out = args[0]
        for arg in args[1:]:
            out = pick(out, arg)
        return out
    raise ValueError(
        f"cannot parse dim {text!r}: {ast.unparse(node)!r} is not allowed; expected names, "
        "integers, + - * // % **, min(...), max(...) and parentheses"
    )
