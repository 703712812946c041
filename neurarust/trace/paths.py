"""Path decisions: how a trace goes on past Python control flow that the sizes do not decide.

A traced model may branch on a size (``if x.shape[1] > 512:``, ``min(T, 512)``) or need one
as an int (``for i in range(T)``). When the trace's facts do not settle such a point, the
tracer asks its :class:`PathOracle` which way to go and records the answer as a
:class:`Decision`: the condition that holds on this path from then on (it joins the trace's
facts, so later points are decided consistently). Plain ``nr.trace`` has no oracle and
rejects the point with a message naming the line; ``nr.verify`` supplies one
(:mod:`neurarust.verify.paths`) that asks z3 which sides are feasible under the assumptions
and the path so far, and re-executes the model once per feasible path (each run follows a
prefix of decisions, then takes the first feasible side and queues the others).

This module holds only the interface, so tracing stays free of z3.
"""

from __future__ import annotations

import linecache
import os
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType

from ..types.cond import Cond
from ..types.dim import Dim

__all__ = ["Decision", "PathOracle", "SomeValues", "frame_site"]


@dataclass(frozen=True)
class Decision:
    """One decision point of a path.

    Attributes:
        condition: what holds on this path from this point on (``B > 512``, ``T == 3``).
        kind: ``"branch"`` (a comparison or truth test of a size) or ``"value"`` (a size
            needed as an int, e.g. a loop count: the path takes one value).
        source: ``file:line`` where the comparison or int conversion happened.
        code: that line's text.
        called_from: the user's line when ``source`` is inside a layer (else ``source``).
        called_code: that line's text.
        forked: True when the other side(s) were feasible too (a fork of the path);
            False when the assumptions and the path so far decided it.
    """

    condition: Cond
    kind: str
    source: str
    code: str
    called_from: str
    forked: bool
    called_code: str = ""

    def __str__(self) -> str:
        if self.called_from == self.source:
            return f"{self.condition}  [{self.kind} at {self.source}: {self.code}]"
        return (f"{self.condition}  [{self.kind} at {self.called_from}: {self.called_code}; "
                f"inside {self.source}: {self.code}]")


def frame_site(frame: FrameType) -> tuple[str, str, str, str]:
    """``(file:line, its text, the user's file:line, its text)`` of a frame, for a Decision."""
    from .tracer import _frame_str, _is_framework

    here = _frame_str(frame.f_code.co_filename, frame.f_lineno)
    code = linecache.getline(os.path.abspath(frame.f_code.co_filename), frame.f_lineno).strip()
    f: FrameType | None = frame
    while f is not None and _is_framework(f.f_code.co_filename):
        f = f.f_back
    if f is None:
        return here, code, here, code
    user = _frame_str(f.f_code.co_filename, f.f_lineno)
    return here, code, user, linecache.getline(os.path.abspath(f.f_code.co_filename),
                                               f.f_lineno).strip()


@dataclass(frozen=True)
class SomeValues:
    """The smallest ``values`` of a size that has more than are followed one by one: the
    path takes each of them (bounded checking: small sizes find most bugs), and one more path
    stands for every larger value, reported unknown with ``rest`` (why it is not followed)."""

    values: list[int]
    rest: str


class PathOracle:
    """Chooses the way at each undecided point of a trace (see the module docstring).

    Subclasses implement :meth:`choose` and :meth:`values`; :attr:`decisions` collects the
    path taken, in order.
    """

    def __init__(self) -> None:
        self.decisions: list[Decision] = []

    def choose(self, options: Sequence[Cond], kind: str, frame: FrameType) -> int:
        """The index of the option this path takes; the options are exhaustive and exclusive
        (``[c, ~c]`` for a branch, ``[T == 1, T == 2, ...]`` for a value)."""
        raise NotImplementedError

    def values(self, d: Dim) -> list[int] | SomeValues | str:
        """Every value ``d`` may take on this path; or its smallest ones and why the rest are
        not followed (:class:`SomeValues`); or why none can be followed."""
        raise NotImplementedError
