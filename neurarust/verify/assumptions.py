"""Assumptions on dims: parsing, and the check that they can hold at all.

A proof under assumptions that no sizes satisfy is vacuous: ``--assume "1 <= B <= 0"`` would
"prove" anything. :func:`check_assumptions` asks z3, before anything is proven, whether the
assumptions (split into their conjuncts), the implicit ``dim >= min_size`` of every named dim
and, for one path, its conditions, have a model. When they do not, it raises
:class:`AssumptionError` naming a minimal set of conflicting conjuncts (an unsat core, each
conjunct tracked by its own literal, then shrunk one by one), so the user sees
``'T >= 600' and 'T <= 4'`` rather than "unsat". A dim that an assumption names and that no
input (or config parameter) uses is an error too: a misspelt ``b`` would otherwise constrain
nothing while the user believes it bounds ``B``.

``verify_shapes``, ``nr.verify.verify`` and ``export --certify`` call it; a certificate
checker calls it on the recorded assumptions.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence

import z3

from ..types.cond import Cond
from ..types.dim import Dim, DimBudgetError, check_text
from ..types.z3_algebra import Z3Algebra

__all__ = ["AssumptionError", "check_assumptions", "conjuncts", "parse_assumption"]

_CMP = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_MAX_CORE_SHRINK = 32  # conjuncts in a core that are tried one by one for removal


class AssumptionError(ValueError):
    """The assumptions cannot be used: they contradict each other (``core``: the conflicting
    conjuncts, as text) or they name a dim no input uses (``unknown_dims``). A usage error
    (``neurarust`` exits 2), never a verdict."""

    def __init__(self, message: str, *, core: Sequence[str] = (),
                 unknown_dims: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.core = list(core)
        self.unknown_dims = list(unknown_dims)


def parse_assumption(text: str, z: Z3Algebra) -> z3.BoolRef:
    """``"1 <= B <= 4096"``, ``"T % 8 == 0"``, ``"H == W and H >= 3"`` as a z3 condition.

    Sides are dim expressions (names, ints, ``+ - * // % **``, ``min``, ``max``); comparisons
    may chain; ``and``, ``or``, ``not`` and parentheses combine them. ValueError when it is
    not one (a :class:`~neurarust.types.dim.DimBudgetError` past the budgets of dim
    expressions: text length, exponent, degree, terms, size of constants).
    """
    try:
        return _bool(_tree(text), text, z)
    except RecursionError:
        raise DimBudgetError(f"assumption {_short(text)} is nested too deeply") from None


def conjuncts(text: str) -> list[str]:
    """The conjuncts of an assumption, as text: ``"1 <= B <= 0"`` gives ``["1 <= B",
    "B <= 0"]``, ``"T >= 600 and T <= 4"`` gives ``["T >= 600", "T <= 4"]``; a disjunction
    or negation stays whole."""
    try:
        return _conjuncts(text)
    except RecursionError:
        raise DimBudgetError(f"assumption {_short(text)} is nested too deeply") from None


def _conjuncts(text: str) -> list[str]:
    out: list[str] = []
    todo = [_tree(text)]
    while todo:
        node = todo.pop(0)
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
            todo[:0] = node.values
        elif isinstance(node, ast.Compare) and len(node.ops) > 1:
            terms = [node.left, *node.comparators]
            out += [ast.unparse(ast.Compare(lhs, [op], [rhs]))
                     for op, lhs, rhs in zip(node.ops, terms, terms[1:])]
        else:
            out.append(ast.unparse(node))
    return out


def check_assumptions(assumptions: Sequence[str], dims: Iterable[str] | None = None, *,
                      min_size: int | None = 1, path: Sequence[Cond] = (),
                      timeout_ms: int = 5_000) -> str:
    """Check that ``assumptions`` (with ``dim >= min_size`` for every named dim, and the
    conditions of ``path``) can all hold; see the module docstring.

    Args:
        assumptions: as ``--assume`` takes them.
        dims: the dims the inputs and config parameters use; an assumption naming another
            one raises. None skips this check.
        min_size: every named dim is ``>= min_size`` (None: no such fact).
        path: conditions of one explored path, checked together with the assumptions.
        timeout_ms: z3's time for the check (and as much again to shrink a core).

    Returns:
        ``"sat"`` when z3 found sizes satisfying everything, ``"unknown"`` when it could not
        tell in time (nothing may then be called proven under them).

    Raises:
        AssumptionError: no sizes satisfy them (the message names the conflicting ones), or
            they name a dim ``dims`` lacks.
        ValueError: an assumption cannot be parsed.
    """
    dims = None if dims is None else list(dims)
    key = (tuple(assumptions), None if dims is None else frozenset(dims), min_size,
           tuple(path))
    if key in _VERDICTS:
        return _VERDICTS[key]
    verdict = _check(assumptions, dims, min_size, path, timeout_ms)
    if verdict == "sat" or timeout_ms >= _CACHE_UNKNOWN_MS:  # a short try proves nothing
        if len(_VERDICTS) >= _CACHE_SIZE:
            _VERDICTS.pop(next(iter(_VERDICTS)))
        _VERDICTS[key] = verdict
    return verdict


# Verdicts already reached in this process (a path-by-path verification asks the same
# question once per path; an 'unknown' would cost its whole timeout each time).
_VERDICTS: dict[tuple[object, ...], str] = {}
_CACHE_SIZE = 256
_CACHE_UNKNOWN_MS = 5_000


def _check(assumptions: Sequence[str], dims: Iterable[str] | None, min_size: int | None,
           path: Sequence[Cond], timeout_ms: int) -> str:
    z = Z3Algebra(min_size=None)
    tracked: list[tuple[str, str, z3.BoolRef]] = []  # (label, text, term), in order
    for text in assumptions:
        parts = conjuncts(text)
        for part in parts:
            label = repr(part) + ("" if len(parts) == 1 else f" (in {_short(text)})")
            try:
                term = parse_assumption(text if len(parts) == 1 else part, z)
            except ValueError as err:
                raise type(err)(f"{err} (in {_short(text)})" if len(parts) > 1 else str(err)
                                ) from None
            tracked.append((label, part, term))
    if dims is not None:
        known = set(dims)
        unknown = [n for n in z.symbols if n not in known]
        if unknown:
            uses = ", ".join(sorted(known)) or "no named dim"
            raise AssumptionError(
                f"the assumptions name {_names(unknown)}, which no input uses (the inputs and "
                f"config use {uses}); a misspelt dim would constrain nothing",
                unknown_dims=unknown)
    for c in path:
        tracked.append((f"the path condition {c}", str(c), z.from_cond(c)))
    if min_size is not None:
        for name, sym in list(z.symbols.items()):
            fact = f"{name} >= {min_size}"
            tracked.append((f"{fact} (every dim >= {min_size})", fact, sym >= min_size))
    verdict, core = _core([term for _, _, term in tracked], timeout_ms)
    if verdict == z3.sat:
        return "sat"
    if verdict != z3.unsat:
        return "unknown"
    conflict = [tracked[i] for i in sorted(core)]
    raise AssumptionError(
        "the assumptions contradict each other (no sizes satisfy them all), so nothing can be "
        "proven under them: " + " and ".join(label for label, _, _ in conflict),
        core=[text for _, text, _ in conflict])


def _core(terms: list[z3.BoolRef], timeout_ms: int) -> tuple[z3.CheckSatResult, set[int]]:
    """z3's verdict on all of ``terms``, and on unsat the indices of a minimal core: each
    term is tracked by its own literal, then each member of z3's core is dropped when the
    others are unsatisfiable without it."""
    solver = z3.Solver()
    solver.set("timeout", timeout_ms)
    for i, term in enumerate(terms):
        solver.assert_and_track(term, z3.Bool(f"assumption!{i}"))
    verdict = solver.check()
    if verdict != z3.unsat:
        return verdict, set()
    core = sorted(int(str(lit).split("!")[1]) for lit in solver.unsat_core())
    if len(core) <= _MAX_CORE_SHRINK:
        for i in list(core):
            probe = z3.Solver()
            probe.set("timeout", timeout_ms)
            probe.add(*(terms[j] for j in core if j != i))
            if probe.check() == z3.unsat:
                core.remove(i)
    return verdict, set(core)


def _names(names: Sequence[str]) -> str:
    quoted = [repr(n) for n in names]
    return ("dim " if len(names) == 1 else "dims ") + ", ".join(quoted)


def _tree(text: str) -> ast.expr:
    check_text(text, "assumption")
    try:
        return ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, MemoryError, RecursionError):
        raise ValueError(f"cannot parse assumption {_short(text)}") from None


def _short(text: str) -> str:
    return repr(text) if len(text) <= 60 else repr(text[:60]) + "..."


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
                raise ValueError(f"assumption {_short(text)}: {type(op).__name__} is not a "
                                 "comparison")
            cond = Cond.compare(_CMP[type(op)], _dim(lhs, text), _dim(rhs, text))
            conds.append(z.from_cond(cond))
        return conds[0] if len(conds) == 1 else z3.And(*conds)
    raise ValueError(f"assumption {_short(text)}: expected comparisons such as "
                     f"'1 <= B <= 4096', got {_short(ast.unparse(node))}")


def _dim(node: ast.expr, text: str) -> Dim:
    try:
        return Dim.parse(ast.unparse(node))
    except ValueError as err:
        raise type(err)(f"assumption {_short(text)}: {err}") from None
