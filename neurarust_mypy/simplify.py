"""Readable shapes: re-evaluate each dim knowing that every named size is at least 1.

Rules run with the facts a function states, so a slice ``x[:, 1:100]`` of a dim ``T`` comes out
as ``max(0, -min(1, T) + min(100, T))``: right for ``T >= 0``, unreadable. Re-evaluating the
expression through the algebra with ``T >= 1`` known settles ``min(1, T) = 1``; pushing the
constant into the remaining ``min``/``max`` (``max(0, min(100, T) - 1)`` is
``min(99, T - 1)`` once ``T - 1 >= 0``) gives what a person would write. Nothing here changes
a value: each step is an identity under the facts.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from neurarust.types.annotations import AssumingAlgebra
from neurarust.types.cond import Cond
from neurarust.types.dim import Dim, DimLike

_FLIP = {"min": "max", "max": "min"}


class _Simplifying(AssumingAlgebra):
    """The assuming algebra, with ``min``/``max`` of a shifted ``min``/``max`` rewritten:
    ``max(c, min(a, b) + k)`` is ``min(max(c, a + k), max(c, b + k))`` (max distributes over
    min, and both sides shift by ``k``), kept only when it collapses to fewer atoms."""

    def min(self, a: DimLike, b: DimLike) -> Dim:
        return self._distribute("min", Dim.of(a), Dim.of(b))

    def max(self, a: DimLike, b: DimLike) -> Dim:
        return self._distribute("max", Dim.of(a), Dim.of(b))

    def _plain(self, fn: str, a: Dim, b: Dim) -> Dim:
        return super().min(a, b) if fn == "min" else super().max(a, b)

    def _distribute(self, fn: str, a: Dim, b: Dim) -> Dim:
        plain = self._plain(fn, a, b)
        for inner, other in ((a, b), (b, a)):
            split = _shifted_min_max(inner)
            if split is None or not other.is_constant:
                continue
            op, x, y, k = split
            if op != _FLIP[fn]:
                continue
            out = self._plain(op, self._plain(fn, other, x + k), self._plain(fn, other, y + k))
            if _atoms(out) < _atoms(plain):
                return out
        return plain


def _shifted_min_max(d: Dim) -> tuple[str, Dim, Dim, Dim] | None:
    """``(fn, x, y, k)`` when ``d == fn(x, y) + k`` for a constant ``k``."""
    terms = dict(d._terms)
    k = Dim.const(terms.pop((), 0))
    if len(terms) != 1:
        return None
    ((mono, coef),) = terms.items()
    if coef != 1 or len(mono) != 1 or mono[0][1] != 1:
        return None
    atom = mono[0][0]
    fn = getattr(atom, "fn", None)
    if fn not in ("min", "max"):
        return None
    x, y = atom.args
    return fn, x, y, k


def _atoms(d: Dim) -> int:
    return str(d).count("(")


@functools.lru_cache(maxsize=4096)
def _simplify(d: Dim, facts: tuple[Cond, ...]) -> Dim:
    names = sorted(d.free_symbols())
    if not names or not any(hasattr(a, "fn") or hasattr(a, "cond")
                            for mono in d._terms for a, _ in mono):
        return d
    algebra = _Simplifying((*facts, *(Dim.sym(n).ge(1) for n in names)))
    try:
        return Dim.of(d.interpret(algebra, Dim.sym))
    except (ArithmeticError, ValueError, TypeError):
        return d


def simplify_shape(shape: Sequence[Any], facts: tuple[Cond, ...] = ()) -> tuple[Any, ...]:
    """``shape`` with each symbolic dim simplified under ``facts`` and ``size >= 1``."""
    return tuple(_simplify(d, facts) if isinstance(d, Dim) else d for d in shape)
