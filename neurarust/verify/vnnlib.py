"""VNN-LIB properties (the SMT-LIB subset of VNN-COMP): parsed, never evaluated.

A file declares ``X_i`` (inputs, flattened in C order) and ``Y_j`` (outputs) as ``Real`` and
asserts constraints whose conjunction describes the *unsafe* region: an input box (bounds on
the ``X_i``, possibly under ``or``) and linear conditions on the ``Y_j`` (``<=``, ``>=``,
``<``, ``>``, over ``+``, ``-``, ``*`` by a constant, under ``and``/``or``). The property
*holds* when no input of the box reaches the region.

:func:`parse_vnnlib` returns a :class:`Property`: the unsafe region in disjunctive normal
form, one :class:`Case` per (input box, output conjunction): unsafe when ``lo <= x <= hi``
and ``C y <= d`` row by row (``strict`` rows mean ``<``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

import numpy as np
import numpy.typing as npt

__all__ = ["Case", "Property", "VnnlibError", "parse_vnnlib", "read_vnnlib"]

Array = npt.NDArray[np.float64]
SExpr = Union[str, list["SExpr"]]


class VnnlibError(ValueError):
    """A VNN-LIB file outside the supported subset, with the reason."""


@dataclass(frozen=True)
class Case:
    """Unsafe when ``lo <= x <= hi`` and, for every row r, ``C[r] . y <= d[r]`` (``<`` where
    ``strict[r]``)."""

    lo: Array
    hi: Array
    c: Array
    d: Array
    strict: tuple[bool, ...]

    def unsafe(self, x: Array, y: Array) -> bool:
        """Whether the concrete input ``x`` and output ``y`` (flat) lie in the unsafe region
        (exact float64 comparisons on the given values)."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if not (np.all(x >= self.lo) and np.all(x <= self.hi)):
            return False
        v = self.c @ y
        return all((vi < di) if s else (vi <= di) for vi, di, s in zip(v, self.d, self.strict))


@dataclass(frozen=True)
class Property:
    n_inputs: int
    n_outputs: int
    cases: tuple[Case, ...]

    def unsafe(self, x: Array, y: Array) -> bool:
        return any(c.unsafe(x, y) for c in self.cases)


_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def _parse_sexprs(text: str) -> list[SExpr]:
    text = "\n".join(line.split(";", 1)[0] for line in text.splitlines())
    stack: list[list[SExpr]] = [[]]
    for tok in _TOKEN.findall(text):
        if tok == "(":
            stack.append([])
        elif tok == ")":
            if len(stack) == 1:
                raise VnnlibError("unbalanced ')'")
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(tok)
    if len(stack) != 1:
        raise VnnlibError("unbalanced '(': the file ends inside an expression")
    return stack[0]


# A linear expression: {var: coef} plus a constant, var "X_3" / "Y_0".
_Lin = tuple[dict[str, float], float]
# An atom: linear expression e with e <= 0 (strict: e < 0).
_Atom = tuple[dict[str, float], float, bool]


def _number(tok: str) -> float | None:
    try:
        return float(tok)
    except ValueError:
        return None


def _linear(e: SExpr, declared: set[str]) -> _Lin:
    if isinstance(e, str):
        num = _number(e)
        if num is not None:
            return {}, num
        if e not in declared:
            raise VnnlibError(f"undeclared name {e!r}")
        return {e: 1.0}, 0.0
    if not e or not isinstance(e[0], str):
        raise VnnlibError(f"not a linear expression: {_show(e)}")
    head, args = e[0], [_linear(a, declared) for a in e[1:]]
    if head == "+":
        return _sum(args, [1.0] * len(args))
    if head == "-":
        if len(args) == 1:
            return _sum(args, [-1.0])
        return _sum(args, [1.0] + [-1.0] * (len(args) - 1))
    if head == "*":
        consts = [a for a in args if not a[0]]
        terms = [a for a in args if a[0]]
        if len(terms) > 1:
            raise VnnlibError(f"non-linear product: {_show(e)}")
        k = 1.0
        for _, v in consts:
            k *= v
        return _sum(terms or [({}, 1.0)], [k])
    raise VnnlibError(f"unsupported function {head!r} in {_show(e)}")


def _sum(args: list[_Lin], ks: list[float]) -> _Lin:
    out: dict[str, float] = {}
    const = 0.0
    for (coefs, c), k in zip(args, ks):
        for v, a in coefs.items():
            out[v] = out.get(v, 0.0) + k * a
        const += k * c
    return out, const


def _show(e: SExpr) -> str:
    return e if isinstance(e, str) else "(" + " ".join(_show(x) for x in e) + ")"


def _dnf(e: SExpr, declared: set[str]) -> list[list[_Atom]]:
    """A formula as a disjunction (outer list) of conjunctions of atoms."""
    if isinstance(e, str) or not e or not isinstance(e[0], str):
        raise VnnlibError(f"not a formula: {_show(e)}")
    head = e[0]
    if head == "and":
        out: list[list[_Atom]] = [[]]
        for sub in e[1:]:
            out = [a + b for a in out for b in _dnf(sub, declared)]
        return out
    if head == "or":
        return [conj for sub in e[1:] for conj in _dnf(sub, declared)]
    if head in ("<=", ">=", "<", ">"):
        if len(e) != 3:
            raise VnnlibError(f"{head} needs two operands: {_show(e)}")
        (ca, ka), (cb, kb) = _linear(e[1], declared), _linear(e[2], declared)
        if head in (">=", ">"):
            (ca, ka), (cb, kb) = (cb, kb), (ca, ka)
        coefs, const = _sum([(ca, ka), (cb, kb)], [1.0, -1.0])  # a - b <= 0
        return [[({v: k for v, k in coefs.items() if k != 0.0}, const, head in ("<", ">"))]]
    raise VnnlibError(f"unsupported connective {head!r} in {_show(e)}")


def parse_vnnlib(text: str) -> Property:
    """Parse VNN-LIB text; :class:`VnnlibError` for anything outside the subset above."""
    declared: set[str] = set()
    xs: dict[int, None] = {}
    ys: dict[int, None] = {}
    formulas: list[SExpr] = []
    for e in _parse_sexprs(text):
        if isinstance(e, str) or not e:
            raise VnnlibError(f"unexpected top-level token {_show(e)}")
        if e[0] == "declare-const":
            if len(e) != 3 or not isinstance(e[1], str) or e[2] != "Real":
                raise VnnlibError(f"expected (declare-const NAME Real), got {_show(e)}")
            m = re.fullmatch(r"([XY])_(\d+)", e[1])
            if not m:
                raise VnnlibError(f"variables must be named X_i or Y_j, got {e[1]!r}")
            (xs if m.group(1) == "X" else ys)[int(m.group(2))] = None
            declared.add(e[1])
        elif e[0] == "assert":
            if len(e) != 2:
                raise VnnlibError(f"assert takes one formula: {_show(e)}")
            formulas.append(e[1])
        else:
            raise VnnlibError(f"unsupported command {_show(e[0])!r}")
    n_in, n_out = len(xs), len(ys)
    if sorted(xs) != list(range(n_in)) or sorted(ys) != list(range(n_out)):
        raise VnnlibError("X_i and Y_j must be numbered 0, 1, ... without gaps")
    dnf: list[list[_Atom]] = [[]]
    for f in formulas:
        dnf = [a + b for a in dnf for b in _dnf(f, declared)]
    cases: list[Case] = []
    for conj in dnf:
        lo, hi = np.full(n_in, -np.inf), np.full(n_in, np.inf)
        rows: list[tuple[Array, float, bool]] = []
        for coefs, const, strict in conj:
            kinds = {v[0] for v in coefs}
            if kinds == {"X", "Y"}:
                raise VnnlibError("a constraint mixes inputs and outputs (unsupported)")
            if kinds == {"X"}:
                if len(coefs) != 1:
                    raise VnnlibError("input constraints must bound one X_i each (a box)")
                ((v, k),) = coefs.items()
                i = int(v[2:])
                bound = -const / k  # k x + const <= 0
                if k > 0:
                    hi[i] = min(hi[i], bound)
                else:
                    lo[i] = max(lo[i], bound)
            elif kinds == {"Y"}:
                row = np.zeros(n_out)
                for v, k in coefs.items():
                    row[int(v[2:])] += k
                rows.append((row, -const, strict))
            elif const > 0 or (strict and const >= 0):
                rows = []
                lo[:] = np.inf  # a false constant constraint: the case is empty
                break
        if np.any(lo > hi):
            continue  # an empty box: no input reaches this case
        if not np.all(np.isfinite(lo)) or not np.all(np.isfinite(hi)):
            raise VnnlibError("every input X_i needs a lower and an upper bound")
        c = np.array([r[0] for r in rows]).reshape(len(rows), n_out)
        d = np.array([r[1] for r in rows], dtype=np.float64)
        cases.append(Case(lo, hi, c, d, tuple(r[2] for r in rows)))
    return Property(n_in, n_out, tuple(cases))


def read_vnnlib(path: str) -> Property:
    with open(path, encoding="utf-8") as f:
        return parse_vnnlib(f.read())
