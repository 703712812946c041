"""``TracedDim``: the Dims that ``SymbolicTensor.shape`` hands to model code during tracing.

A plain :class:`Dim` compares structurally (``B == 4`` is simply False: not the same
expression), which is right for hashing but would silently pick a branch in model code such
as ``if x.shape[0] == 4:``. A TracedDim answers comparisons (``== != < <= > >=``, ``bool``)
by *deciding* the condition from the trace's facts (named dims >= 1, structure): a decided
condition is a Python bool, so ``if x.shape[-1] != 784:`` works when the last dim is 784; an
undecided one goes to the tracer's path oracle when it has one (``nr.verify`` explores both
sides, see :mod:`.paths`), else raises :class:`~neurarust.trace.TraceError` naming the source
line and the condition. Where an int is needed (``range(T)``) the oracle may follow each
feasible value in turn. Arithmetic on TracedDims gives TracedDims. Framework internals
(``functions``, ``ops``, ``types``, the tracer) keep structural equality, so a rule is never
affected.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from ..types.cond import Cond
from ..types.dim import Dim

__all__ = ["TracedDim", "plain", "traced"]

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_MODEL_DIRS = tuple(os.path.join(_PKG_DIR, d) + os.sep for d in ("nn", "examples"))


def traced(d: Dim) -> TracedDim:
    """``d`` as a TracedDim (same normal form)."""
    t = object.__new__(TracedDim)
    t._terms = d._terms
    t._key_cache = d._key_cache
    return t


def plain(x: Any) -> Any:
    """A TracedDim as a plain Dim; tuples and lists converted elementwise; else unchanged."""
    if type(x) is TracedDim:
        d = Dim._make(x._terms)
        return d.as_int() if d.is_constant else d
    if isinstance(x, (tuple, list)):
        return type(x)(plain(v) for v in x)
    return x


def _internal_caller() -> bool:
    """True when the comparison comes from framework code (not nn layers or user code)."""
    f = sys._getframe(3)
    name = os.path.abspath(f.f_code.co_filename)
    return name.startswith(_PKG_DIR) and not name.startswith(_MODEL_DIRS)


class TracedDim(Dim):
    """A Dim whose comparisons decide (or raise) instead of comparing structure."""

    __slots__ = ()

    def _decide(self, op: str, other: Any) -> Any:
        rhs = plain(other)
        if isinstance(rhs, bool) or not isinstance(rhs, (int, Dim)):
            return NotImplemented
        cond = Cond.compare(op, plain(self), rhs)
        from .. import _dispatch

        tracer = _dispatch._tracer
        verdict = cond.decide(tracer.algebra.facts if tracer is not None else None)
        if verdict is not None:
            return verdict
        if op in ("==", "!=") and _internal_caller():
            same = _d(self) == Dim.of(rhs)
            return same if op == "==" else not same
        caller = sys._getframe(2)
        if tracer is not None and tracer.oracle is not None:
            return tracer.branch(cond, caller)
        from .tracer import TraceError, _frame_str, user_frame

        here = _frame_str(caller.f_code.co_filename, caller.f_lineno)
        user = user_frame(caller)
        raise TraceError(
            f"Python control flow on a symbolic size at {here}"
            + (f" (called from {user})" if user != here else "") + ":\n"
            f"  the condition {cond} is not decided by the sizes\n"
            "  a graph from nr.trace has one path; nr.verify.verify and `neurarust verify` "
            "explore both sides, each under its path condition\n"
            "  hint: make the dims involved concrete, or leave the check to an op's shape "
            "rule (dims.require), which becomes a proof obligation")

    def __eq__(self, other: object) -> Any:
        return self._decide("==", other)

    def __ne__(self, other: object) -> Any:
        return self._decide("!=", other)

    def __lt__(self, other: Any) -> Any:
        return self._decide("<", other)

    def __le__(self, other: Any) -> Any:
        return self._decide("<=", other)

    def __gt__(self, other: Any) -> Any:
        return self._decide(">", other)

    def __ge__(self, other: Any) -> Any:
        return self._decide(">=", other)

    def __bool__(self) -> bool:
        return bool(self._decide("!=", 0))

    def __hash__(self) -> int:
        return Dim.__hash__(self)

    def __index__(self) -> int:
        d = _d(self)
        if d.is_constant:
            return d.as_int()
        from .. import _dispatch

        tracer = _dispatch._tracer
        if tracer is not None and tracer.oracle is not None:
            return int(tracer.integer(d, sys._getframe(1)))
        return Dim.__index__(d)  # the TypeError naming the dim

    def __int__(self) -> int:
        return self.__index__()

    # arithmetic keeps the traced type
    def __add__(self, other: Any) -> Any:
        return _lift(Dim.__add__(_d(self), plain(other)))

    def __radd__(self, other: Any) -> Any:
        return _lift(Dim.__add__(_d(self), plain(other)))

    def __sub__(self, other: Any) -> Any:
        return _lift(Dim.__sub__(_d(self), plain(other)))

    def __rsub__(self, other: Any) -> Any:
        return _lift(Dim.__rsub__(_d(self), plain(other)))

    def __mul__(self, other: Any) -> Any:
        return _lift(Dim.__mul__(_d(self), plain(other)))

    def __rmul__(self, other: Any) -> Any:
        return _lift(Dim.__mul__(_d(self), plain(other)))

    def __floordiv__(self, other: Any) -> Any:
        return _lift(Dim.__floordiv__(_d(self), plain(other)))

    def __rfloordiv__(self, other: Any) -> Any:
        return _lift(Dim.__rfloordiv__(_d(self), plain(other)))

    def __mod__(self, other: Any) -> Any:
        return _lift(Dim.__mod__(_d(self), plain(other)))

    def __rmod__(self, other: Any) -> Any:
        return _lift(Dim.__rmod__(_d(self), plain(other)))

    def __neg__(self) -> Any:
        return _lift(Dim.__neg__(_d(self)))

    def __pow__(self, exponent: int) -> Any:
        return _lift(Dim.__pow__(_d(self), exponent))

    def __repr__(self) -> str:
        return f"TracedDim({str(self)!r})"


def _d(x: TracedDim) -> Dim:
    return Dim._make(x._terms)


def _lift(x: Any) -> Any:
    return traced(x) if isinstance(x, Dim) else x
