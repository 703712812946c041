"""VNN-LIB properties (the SMT-LIB subset of VNN-COMP): parsed, never evaluated.

A file declares ``X_i`` (inputs, flattened in C order) and ``Y_j`` (outputs) as ``Real`` and
asserts constraints whose conjunction describes the *unsafe* region: an input box (bounds on
the ``X_i``, possibly under ``or``) and linear conditions on the ``Y_j`` (``<=``, ``>=``,
``<``, ``>``, over ``+``, ``-``, ``*`` by a constant, under ``and``/``or``). The property
*holds* when no input of the box reaches the region.

:func:`parse_vnnlib` returns a :class:`Property`: the unsafe region in disjunctive normal
form, one :class:`Case` per (input box, output conjunction).

Exactness. Constants are decimals, kept as exact rationals while parsing: a float64 rounding
of ``0.8678144216537476`` may equal a float32 output that is below it, so rounding them would
turn a near tie into a false 'violated' (or a false 'holds'). Each case then carries

* ``lo``/``hi``: the float32 inputs of the box, exactly: per input the smallest float32
  ``>=`` its lower bound and the largest ``<=`` its upper bound (the verifier is about the
  float32 network, which only ever runs on float32 inputs);
* ``c`` (nearest float64), ``c_err`` (``>= |C_exact - c|``, zero where exact) and ``d``
  rounded *up* (``>= d_exact``): every bound that proves ``c y > d`` on the float box also
  proves the exact row once ``c_err |y|`` is added to ``d`` (see :meth:`Case.proof_d`);
* the exact rows, for :meth:`Case.unsafe`, which decides a counterexample exactly.

Hostile input. Every failure is a :class:`VnnlibError` (a ``ValueError``) with the reason, in
time and memory proportional to the file: nesting depth, tokens, number lengths and
magnitudes, the disjunctive normal form's size, and the values stored are all bounded.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any, Union

import numpy as np
import numpy.typing as npt

__all__ = ["Case", "Property", "VnnlibError", "parse_vnnlib", "read_vnnlib"]

Array = npt.NDArray[np.float64]
SExpr = Union[str, list["SExpr"]]  # noqa: UP007 (a recursive alias)

#: budgets for hostile files (far above every VNN-COMP property)
MAX_BYTES = 256 * 2 ** 20
MAX_DEPTH = 64
MAX_TOKENS = 2_000_000
MAX_TOKEN_CHARS = 1000
MAX_CASES = 100_000
MAX_ATOMS = 20_000_000  # atoms over all cases of the disjunctive normal form
MAX_STORED = 20_000_000  # floats stored over all cases (box sides and rows)
MAX_VARS = 10_000_000
#: exact decimal arithmetic: a result that needs more digits raises (too precise)
_CTX = decimal.Context(prec=5000, Emax=10 ** 6, Emin=-10 ** 6,
                       traps=[decimal.Inexact, decimal.Overflow, decimal.Underflow,
                              decimal.InvalidOperation, decimal.DivisionByZero])
_CTX_WIDE = _CTX.copy()
_CTX_WIDE.prec = 20_000
_ONE, _ZERO = Decimal(1), Decimal(0)
_MAX64 = Decimal(float(np.finfo(np.float64).max))
_TINY64 = Decimal(2.0 ** -1074)

_F32_MAX = float(np.finfo(np.float32).max)


class VnnlibError(ValueError):
    """A VNN-LIB file outside the supported subset, or over a budget, with the reason."""


# An exact row: coefficients per output and the right-hand side.
ExactRow = tuple[tuple[Decimal, ...], Decimal, bool]


@dataclass(frozen=True)
class Case:
    """Unsafe when ``lo <= x <= hi`` and, for every row r, ``C[r] . y <= d[r]`` (``<`` where
    ``strict[r]``), with the exact constants in ``exact``; see the module docstring for how
    ``lo``, ``hi``, ``c``, ``c_err`` and ``d`` are rounded."""

    lo: Array
    hi: Array
    c: Array
    d: Array
    strict: tuple[bool, ...]
    c_err: Array = field(default_factory=lambda: np.zeros((0, 0)))
    exact: tuple[ExactRow, ...] = ()

    def unsafe(self, x: npt.ArrayLike, y: npt.ArrayLike) -> bool:
        """Whether the input ``x`` and output ``y`` (flat, taken at their exact values) lie
        in the unsafe region: exact comparisons, never a float64 rounding of a constant or of
        ``C y``. NaN outputs are never unsafe (IEEE comparisons with NaN are false)."""
        xs = np.asarray(x, dtype=np.float64).reshape(-1)
        ys = np.asarray(y, dtype=np.float64).reshape(-1)
        if not (np.all(xs >= self.lo) and np.all(xs <= self.hi)):
            return False  # lo/hi are the exact float bounds of the box
        if not self.exact:
            v = self.c @ ys
            return all((vi < di) if s else (vi <= di)
                       for vi, di, s in zip(v, self.d, self.strict))
        for coefs, d, strict in self.exact:
            used = [(k, yj) for k, yj in zip(coefs, ys) if k != 0]
            if not all(np.isfinite(yj) for _, yj in used):
                with np.errstate(invalid="ignore", over="ignore"):
                    tot = float(sum(float(k) * yj for k, yj in used))
                if np.isnan(tot) or not (tot < float(d) if strict else tot <= float(d)):
                    return False
                continue
            s = _exact_dot(used)
            if not (s < d if strict else s <= d):
                return False
        return True

    def proof_d(self, ymag: Array) -> Array:
        """Right-hand sides for proofs given ``|y| <= ymag``: ``d`` plus the coefficients'
        rounding ``c_err @ ymag`` (rounded up); a bound above them excludes the exact row."""
        if self.c_err.size == 0 or not np.any(self.c_err):
            return self.d
        with np.errstate(over="ignore", invalid="ignore"):
            extra = self.c_err @ np.asarray(ymag, np.float64)
        extra = np.where(np.isfinite(extra), extra * (1 + 2.0 ** -40), np.inf)
        return np.asarray(np.nextafter(self.d + extra, np.inf), dtype=np.float64)


def _exact_dot(used: Sequence[tuple[Decimal, Any]]) -> Decimal | Fraction:
    """``sum k y`` exactly: in decimal where 20,000 digits hold it, else as a fraction."""
    try:
        with decimal.localcontext(_CTX_WIDE):
            return sum((k * Decimal(float(yj)) for k, yj in used), Decimal(0))
    except decimal.Inexact:
        return sum((Fraction(k) * Fraction(float(yj)) for k, yj in used), Fraction(0))


@dataclass(frozen=True)
class Property:
    n_inputs: int
    n_outputs: int
    cases: tuple[Case, ...]

    def unsafe(self, x: npt.ArrayLike, y: npt.ArrayLike) -> bool:
        return any(c.unsafe(x, y) for c in self.cases)


_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d{1,4})?")
_NAME = re.compile(r"([XY])_(0|[1-9]\d{0,7})")


def _show(e: SExpr, limit: int = 200) -> str:
    """A short rendering of an expression for messages (cut at ``limit`` characters)."""
    out: list[str] = []
    size = 0
    stack: list[tuple[SExpr, int]] = [(e, 0)]
    while stack and size < limit:
        item, depth = stack.pop()
        if isinstance(item, str):
            s = item if item in ("(", ")") else item + " "
        else:
            stack.append((")", depth))
            stack.extend((sub, depth + 1) for sub in reversed(item[:limit // 2]))
            s = "("
        out.append(s)
        size += len(s)
    text = "".join(out).replace(" )", ")").strip()
    return text[:limit] + ("..." if stack or len(text) > limit else "")


def _parse_sexprs(text: str) -> list[SExpr]:
    text = re.sub(r";[^\n]*", "", text)
    if text.count("(") > MAX_TOKENS // 3:  # cheap: each expression is 3 tokens or more
        raise VnnlibError(f"more than {MAX_TOKENS // 3} expressions (a budget for hostile "
                          "files)")
    stack: list[list[SExpr]] = [[]]
    for n, m in enumerate(_TOKEN.finditer(text)):
        tok = m.group()
        if n >= MAX_TOKENS:
            raise VnnlibError(f"more than {MAX_TOKENS} tokens (a budget for hostile files)")
        if tok == "(":
            if len(stack) > MAX_DEPTH:
                raise VnnlibError(f"expressions nested deeper than {MAX_DEPTH} levels")
            stack.append([])
        elif tok == ")":
            if len(stack) == 1:
                raise VnnlibError("unbalanced ')'")
            done = stack.pop()
            if not done:
                raise VnnlibError("an empty expression '()'")
            stack[-1].append(done)
        else:
            if len(tok) > MAX_TOKEN_CHARS:
                raise VnnlibError(f"a token of {len(tok)} characters (at most "
                                  f"{MAX_TOKEN_CHARS}): {tok[:40]}...")
            stack[-1].append(tok)
    if len(stack) != 1:
        raise VnnlibError("unbalanced '(': the file ends inside an expression")
    return stack[0]


# A linear expression: {var: coef} plus a constant, var "X_3" / "Y_0", all exact.
_Lin = tuple[dict[str, Decimal], Decimal]
# An atom: linear expression e with e <= 0 (strict: e < 0).
_Atom = tuple[dict[str, Decimal], Decimal, bool]


def _checked(v: Decimal, what: Callable[[], str]) -> Decimal:
    """A constant within the float64 range (else out-of-range blowups); ``what`` names it
    (built only for the message)."""
    if v != 0 and not _TINY64 <= abs(v) <= _MAX64:
        raise VnnlibError(f"the constant {what()} is outside the float64 range")
    return v


def _number(tok: str) -> Decimal | None:
    if not tok or not (tok[0].isdigit() or tok[0] in "+-."):
        return None
    if not _NUMBER.fullmatch(tok):
        if tok in ("+", "-"):
            return None
        raise VnnlibError(f"malformed number {tok[:40]!r} (decimals only: no nan, inf or "
                          "hexadecimal)")
    return _checked(Decimal(tok), lambda: repr(tok[:40]))


def _linear(e: SExpr, declared: set[str]) -> _Lin:
    if isinstance(e, str):
        num = _number(e)
        if num is not None:
            return {}, num
        if e not in declared:
            raise VnnlibError(f"undeclared name {e[:40]!r}")
        return {e: _ONE}, _ZERO
    if not isinstance(e[0], str):
        raise VnnlibError(f"not a linear expression: {_show(e)}")
    head = e[0]
    if head not in ("+", "-", "*"):
        raise VnnlibError(f"unsupported function {head[:40]!r} in {_show(e)}")
    if len(e) < 2:
        raise VnnlibError(f"{head} needs an operand: {_show(e)}")
    args = [_linear(a, declared) for a in e[1:]]
    if head == "+":
        return _sum(args, [_ONE] * len(args), e)
    if head == "-":
        if len(args) == 1:
            return _sum(args, [-_ONE], e)
        return _sum(args, [_ONE] + [-_ONE] * (len(args) - 1), e)
    consts = [a for a in args if not a[0]]
    terms = [a for a in args if a[0]]
    if len(terms) > 1:
        raise VnnlibError(f"non-linear product: {_show(e)}")
    k = _ONE
    for _, v in consts:
        k = _checked(k * v, lambda: f"in {_show(e)}")
    return _sum(terms or [({}, _ONE)], [k], e)


def _sum(args: list[_Lin], ks: list[Decimal], e: SExpr) -> _Lin:
    out: dict[str, Decimal] = {}
    const = _ZERO
    for (coefs, c), k in zip(args, ks):
        for v, a in coefs.items():
            out[v] = out.get(v, _ZERO) + k * a
        const += k * c
    for v, a in out.items():
        if a != 0:
            _checked(a, _coefficient_name(v, e))
    return out, _checked(const, lambda: f"in {_show(e)}")


def _coefficient_name(v: str, e: SExpr) -> Callable[[], str]:
    return lambda: f"coefficient of {v} in {_show(e)}"


def _conjunction(parts: list[list[list[_Atom]]]) -> list[list[_Atom]]:
    """The DNF of a conjunction of DNFs: the single-case parts joined once (linear time, e.g.
    thousands of box asserts), the disjunctions multiplied out within the budgets."""
    common: list[_Atom] = []
    multi: list[list[list[_Atom]]] = []
    for p in parts:
        if len(p) == 1:
            common.extend(p[0])
        else:
            multi.append(p)
    out = [common]
    for p in multi:
        if len(out) * len(p) > MAX_CASES:
            raise VnnlibError(f"the disjunctive normal form has more than {MAX_CASES} cases")
        atoms = len(p) * sum(map(len, out)) + len(out) * sum(map(len, p))
        if atoms > MAX_ATOMS:
            raise VnnlibError(f"the disjunctive normal form has more than {MAX_ATOMS} atoms")
        out = [x + y for x in out for y in p]
    return out


def _dnf(e: SExpr, declared: set[str]) -> list[list[_Atom]]:
    """A formula as a disjunction (outer list) of conjunctions of atoms."""
    if isinstance(e, str) or not isinstance(e[0], str):
        raise VnnlibError(f"not a formula: {_show(e)}")
    head = e[0]
    if head == "and":
        return _conjunction([_dnf(sub, declared) for sub in e[1:]])
    if head == "or":
        if len(e) == 1:
            raise VnnlibError("an empty (or) is false: the property would hold vacuously")
        res: list[list[_Atom]] = []
        for sub in e[1:]:
            res.extend(_dnf(sub, declared))
            if len(res) > MAX_CASES:
                raise VnnlibError(f"the disjunctive normal form has more than {MAX_CASES} "
                                  "cases")
        return res
    if head in ("<=", ">=", "<", ">"):
        if len(e) != 3:
            raise VnnlibError(f"{head} needs two operands: {_show(e)}")
        a, b = e[1], e[2]
        if isinstance(a, str) and isinstance(b, str) and (a in declared) != (b in declared):
            # the common atom (a variable against a number), without the general sums
            var, num = (a, _number(b)) if a in declared else (b, _number(a))
            if num is not None:
                sign = _ONE if (var == a) == (head in ("<=", "<")) else -_ONE
                return [[({var: sign}, -sign * num, head in ("<", ">"))]]
        (ca, ka), (cb, kb) = _linear(a, declared), _linear(b, declared)
        if head in (">=", ">"):
            (ca, ka), (cb, kb) = (cb, kb), (ca, ka)
        coefs, const = _sum([(ca, ka), (cb, kb)], [_ONE, -_ONE], e)  # a - b <= 0
        return [[({v: k for v, k in coefs.items() if k != 0}, const, head in ("<", ">"))]]
    raise VnnlibError(f"unsupported connective {head[:40]!r} in {_show(e)}")


def _f32_at_least(value: Decimal | Fraction, strict: bool) -> float:
    """The smallest float32 ``>= v`` (``> v`` when ``strict``), as a float64; inf where none
    is finite."""
    v = Fraction(value)
    if v > _F32_MAX or (strict and v >= _F32_MAX):
        return np.inf
    f = np.float32(min(max(float(v), -_F32_MAX), _F32_MAX))
    while Fraction(float(f)) < v or (strict and Fraction(float(f)) == v):
        f = np.nextafter(f, np.float32(np.inf))
    while f > -_F32_MAX:
        below = Fraction(float(np.nextafter(f, np.float32(-np.inf))))
        if below > v or (below == v and not strict):
            f = np.nextafter(f, np.float32(-np.inf))
        else:
            break
    return float(f)


def _up(v: Decimal) -> float:
    f = float(v)
    return f if Decimal(f) >= v else float(np.nextafter(f, np.inf))


def parse_vnnlib(text: str) -> Property:
    """Parse VNN-LIB text; :class:`VnnlibError` for anything outside the subset above, over a
    budget, or whose unsafe region has no float32 input (a vacuous property)."""
    try:
        with decimal.localcontext(_CTX):
            return _parse(text)
    except decimal.Inexact:
        raise VnnlibError(f"a constant needs more than {_CTX.prec} digits (too precise to "
                          "keep exactly)") from None
    except decimal.DecimalException as err:
        raise VnnlibError(f"a constant is out of range ({type(err).__name__})") from None


def _parse(text: str) -> Property:
    if len(text) > MAX_BYTES:
        raise VnnlibError(f"{len(text)} characters (at most {MAX_BYTES})")
    declared: set[str] = set()
    xs: set[int] = set()
    ys: set[int] = set()
    formulas: list[SExpr] = []
    for e in _parse_sexprs(text):
        if isinstance(e, str):
            raise VnnlibError(f"unexpected top-level token {e[:40]!r}")
        if e[0] == "declare-const":
            if len(e) != 3 or not isinstance(e[1], str) or e[2] != "Real":
                raise VnnlibError(f"expected (declare-const NAME Real), got {_show(e)}")
            m = _NAME.fullmatch(e[1])
            if not m:
                raise VnnlibError(f"variables must be named X_i or Y_j (i, j without leading "
                                  f"zeros), got {e[1][:40]!r}")
            if e[1] in declared:
                raise VnnlibError(f"{e[1]} is declared twice")
            (xs if m.group(1) == "X" else ys).add(int(m.group(2)))
            declared.add(e[1])
        elif e[0] == "assert":
            if len(e) != 2:
                raise VnnlibError(f"assert takes one formula: {_show(e)}")
            formulas.append(e[1])
        else:
            raise VnnlibError(f"unsupported command {_show(e[0])!r}")
    dnf = _conjunction([_dnf(f, declared) for f in formulas])
    n_in, n_out = len(xs), len(ys)
    if n_in == 0 or n_out == 0:
        raise VnnlibError("the property declares no input X_0 or no output Y_0")
    if n_in + n_out > MAX_VARS:
        raise VnnlibError(f"more than {MAX_VARS} variables")
    if max(xs) != n_in - 1 or max(ys) != n_out - 1:
        raise VnnlibError("X_i and Y_j must be numbered 0, 1, ... without gaps")
    if len(dnf) * (2 * n_in) > MAX_STORED:
        raise VnnlibError(f"{len(dnf)} cases of {n_in} inputs: more than {MAX_STORED} "
                          "stored values")
    cases: list[Case] = []
    stored = 0
    empty_reason = "every case of the disjunction is false"
    for conj in dnf:
        # per input: (bound, strict) from each side; the tightest wins (strict on ties)
        lo: list[tuple[Decimal | Fraction, bool] | None] = [None] * n_in
        hi: list[tuple[Decimal | Fraction, bool] | None] = [None] * n_in
        rows: list[tuple[dict[int, Decimal], Decimal, bool]] = []
        false = False
        for coefs, const, strict in conj:
            kinds = {v[0] for v in coefs}
            if kinds == {"X", "Y"}:
                raise VnnlibError("a constraint mixes inputs and outputs (unsupported)")
            if kinds == {"X"}:
                if len(coefs) != 1:
                    raise VnnlibError("input constraints must bound one X_i each (a box)")
                ((v, k),) = coefs.items()
                i = int(v[2:])
                # k x + const <= 0: exact (a Fraction where the decimal quotient is not)
                bound: Decimal | Fraction = (-const * k if abs(k) == 1
                                             else -Fraction(const) / Fraction(k))
                if k > 0:  # x <= bound: kept as -x >= -bound
                    new = (-bound, strict)
                    old = hi[i]
                    hi[i] = new if old is None or (new[0], new[1]) > (old[0], old[1]) else old
                else:
                    new = (bound, strict)
                    old = lo[i]
                    lo[i] = new if old is None or (new[0], new[1]) > (old[0], old[1]) else old
            elif kinds == {"Y"}:
                rows.append(({int(v[2:]): k for v, k in coefs.items()}, -const, strict))
            elif const > 0 or (strict and const >= 0):
                false = True  # a false constant constraint: the case is empty
        if false:
            continue
        box: list[tuple[float, float]] = []
        for i, (a, b) in enumerate(zip(lo, hi)):
            if a is None or b is None:
                raise VnnlibError(f"every input needs a lower and an upper bound: X_{i} "
                                  "has not both")
            box.append((_f32_at_least(*a), -_f32_at_least(*b)))
        empty = [i for i, (a, b) in enumerate(box) if not a <= b]
        if empty:
            i = empty[0]
            lo_i, hi_i = lo[i], hi[i]
            assert lo_i is not None and hi_i is not None
            empty_reason = (f"X_{i} in [{float(lo_i[0]):.9g}, {float(-hi_i[0]):.9g}] "
                            "contains no float32 value")
            continue
        stored += 2 * n_in + len(rows) * (n_out + 1)
        if stored > MAX_STORED:
            raise VnnlibError(f"more than {MAX_STORED} stored values over all cases")
        exact = tuple((tuple(r[0].get(j, _ZERO) for j in range(n_out)), r[1], r[2])
                      for r in rows)
        c = np.array([[float(k) for k in r[0]] for r in exact],
                     dtype=np.float64).reshape(len(rows), n_out)
        c_err = np.array([[_up(abs(k - Decimal(float(k)))) for k in r[0]] for r in exact],
                         dtype=np.float64).reshape(len(rows), n_out)
        d = np.array([_up(r[1]) for r in exact], dtype=np.float64)
        cases.append(Case(np.array([b[0] for b in box]), np.array([b[1] for b in box]), c, d,
                          tuple(r[2] for r in rows), c_err, exact))
    if not cases:
        raise VnnlibError(f"the unsafe region is empty ({empty_reason}): the property "
                          "would hold vacuously")
    return Property(n_in, n_out, tuple(cases))


def read_vnnlib(path: str) -> Property:
    """Parse a VNN-LIB file; :class:`VnnlibError` names the file."""
    import os

    try:
        size = os.path.getsize(path)
        if size > MAX_BYTES:
            raise VnnlibError(f"{size} bytes (at most {MAX_BYTES})")
        with open(path, encoding="utf-8") as f:
            return parse_vnnlib(f.read())
    except UnicodeDecodeError as err:
        raise VnnlibError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except VnnlibError as err:
        raise VnnlibError(f"{path}: {err}") from None
