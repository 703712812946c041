"""Path exploration: every feasible way through a model's shape-dependent Python control flow.

``explore(model, inputs, assume)`` traces the model once per path. Each run follows a prefix of
decisions (the choice made at each fork so far), and at each new point the tracer cannot
decide (``if x.shape[1] > 512:``, ``min(T, 512)``, a constructor's ``embed_dim % num_heads``)
it asks this module's z3 oracle which sides are feasible under the assumptions and the path
so far: one feasible side is simply taken; several fork the path (the first is taken, the
others are queued as new prefixes). Where a size is needed as an int (``range(T)``, the size
of a created tensor) the path takes each feasible value in turn, up to the ``max_values``
smallest ones; when the size can be larger still, one more path stands for all the larger
values, and it stops there, reported unknown with the line (never proven).

Runs are deterministic given their decisions (the model's control flow may depend on sizes
only), so a prefix replays its path exactly. The number of paths is bounded by ``max_paths``;
past it, exploration stops and the report says so (unknown).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

import z3

from ..ir.graph import Graph
from ..trace.paths import Decision, PathOracle, SomeValues, frame_site
from ..trace.tracer import parse_spec, trace
from ..types.cond import Cond
from ..types.dim import Dim
from ..types.z3_algebra import DEFAULT_TIMEOUT_MS, Z3Algebra, model_int
from .shape import parse_assumption

__all__ = ["Exploration", "PathLimit", "TracedPath", "explore"]


@dataclass
class TracedPath:
    """One explored path: its decisions, and its graph or the exception that ended it."""

    decisions: list[Decision]
    graph: Graph | None
    error: BaseException | None = None
    seconds: float = 0.0
    input_sizes: list[tuple[Dim, ...]] | None = None

    @property
    def conditions(self) -> list[Cond]:
        return [d.condition for d in self.decisions]


@dataclass(frozen=True)
class PathLimit:
    """Why exploration stopped before every path was traced."""

    message: str


@dataclass
class Exploration:
    """Every path traced, plus the z3 context they were explored in."""

    paths: list[TracedPath]
    z3: Z3Algebra
    facts: list[Any]  # z3 Bool terms of the assumptions
    limit: PathLimit | None = None


class _Infeasible(Exception):
    """The path so far has no model (z3 said 'unknown' earlier and a side was kept)."""


class _Z3Oracle(PathOracle):
    """Decides with z3 under the assumptions and the path so far; see the module docstring."""

    def __init__(self, z: Z3Algebra, facts: Sequence[z3.BoolRef], prefix: Sequence[int],
                 queue: list[list[int]], *, max_values: int, timeout_ms: int | None) -> None:
        super().__init__()
        self.z = z
        self.prefix = list(prefix)
        self.queue = queue
        self.max_values = max_values
        self.timeout_ms = timeout_ms
        self.taken: list[int] = []
        self.solver = z3.Solver()
        self.solver.set("timeout", DEFAULT_TIMEOUT_MS if timeout_ms is None else timeout_ms)
        self.solver.add(*facts)
        self._known = 0  # how many of z.assumptions (dims >= min_size) the solver has
        self.uncertain = False  # a side was kept on z3's 'unknown' (the path may be empty)

    def _sync(self) -> None:
        new = self.z.assumptions[self._known:]
        if new:
            self.solver.add(*new)
            self._known = len(self.z.assumptions)

    def _feasible(self, term: z3.BoolRef) -> bool:
        self._sync()
        self.solver.push()
        self.solver.add(term)
        verdict = self.solver.check()
        self.solver.pop()
        if verdict == z3.unknown:
            self.uncertain = True  # keep the side (explore rather than skip); see feasible()
        return bool(verdict != z3.unsat)

    def feasible(self) -> bool:
        """False when the whole path (assumptions and every decision taken) has no sizes,
        which only a side kept on z3's 'unknown' can bring about: such a path is not explored,
        as a proof on it would be a proof of nothing."""
        if not self.uncertain:
            return True  # each decision was added to a set z3 had shown satisfiable
        self._sync()
        return bool(self.solver.check() != z3.unsat)

    def choose(self, options: Sequence[Cond], kind: str, frame: FrameType) -> int:
        terms = [self.z.from_cond(c) for c in options]
        feasible = [i for i, t in enumerate(terms) if self._feasible(t)]
        if not feasible:
            raise _Infeasible
        forked = len(feasible) > 1
        if not forked:
            i = feasible[0]
        elif len(self.taken) < len(self.prefix):
            i = self.prefix[len(self.taken)]
            self.taken.append(i)
        else:
            i = feasible[0]
            self.queue.extend([*self.taken, j] for j in feasible[1:])
            self.taken.append(i)
        self._sync()
        self.solver.add(terms[i])
        if forked or all(d.condition != options[i] for d in self.decisions):
            here, code, user, user_code = frame_site(frame)
            self.decisions.append(Decision(options[i], kind, here, code, user, forked,
                                           user_code))
        return i

    def values(self, d: Dim) -> list[int] | SomeValues | str:
        term = self.z.from_dim(d)
        self._sync()
        found: list[int] = []
        while len(found) <= self.max_values:  # the smallest values, in increasing order
            opt = z3.Optimize()
            opt.set("timeout", self.timeout_ms or DEFAULT_TIMEOUT_MS)
            opt.add(*self.solver.assertions())
            if found:
                opt.add(term > found[-1])
            opt.minimize(term)
            verdict = opt.check()
            if verdict == z3.unsat:
                return found
            if verdict != z3.sat:
                return ("z3 could not enumerate its values under the assumptions and this "
                        "path; this path is not verified")
            value = model_int(opt.model().eval(term, model_completion=True))
            if value is None:
                return (f"{d} takes values too large to follow one by one under the "
                        "assumptions and this path; this path is not verified")
            found.append(value)
        kept = found[:self.max_values]
        return SomeValues(kept, (
            f"under the assumptions and this path it also takes values above {kept[-1]}; "
            f"{len(kept)} values were followed one by one (a path each) and the larger ones "
            f"are not verified; bound it with an assumption such as '{d} <= {kept[-1]}' to "
            "cover them all"))


def explore(model: Callable[..., Any], inputs: Mapping[str, str],
            assume: Sequence[str] = (), *, config: Mapping[str, str] | None = None,
            min_size: int = 1, max_paths: int = 64, max_values: int = 8,
            timeout_ms: int | None = 10_000, deadline: float | None = None) -> Exploration:
    """Trace ``model`` once per feasible path; see the module docstring.

    Args:
        model: a Module or function (or a factory, with ``config``; see ``nr.trace``).
        inputs: name -> spec, as for ``nr.trace``.
        assume: assumptions on dims (``"1 <= B <= 4096"``); they decide which sides of a
            branch are feasible.
        max_paths: stop after this many paths (the report says so; their verdict is unknown).
        max_values: follow a size needed as an int value by value up to this many values.
        timeout_ms: z3 time per feasibility query (None: ``DEFAULT_TIMEOUT_MS``); a side z3
            cannot decide in time is explored, and the path dropped at its end if empty.
        deadline: ``time.monotonic()`` past which no new path is started.

    Raises:
        ValueError: an input spec or an assumption cannot be parsed.
    """
    z = Z3Algebra(min_size=min_size)
    for spec in inputs.values():
        for d in parse_spec(spec)[1]:
            for name in sorted(d.free_symbols()):
                z.dim(name)
    for value in (config or {}).values():
        for name in sorted(Dim.parse(value).free_symbols()):
            z.dim(name)
    facts = [parse_assumption(a, z) for a in assume]
    queue: list[list[int]] = [[]]
    paths: list[TracedPath] = []
    limit: PathLimit | None = None
    while queue:
        if len(paths) >= max_paths:
            limit = PathLimit(
                f"more than {max_paths} paths through shape-dependent control flow; "
                f"{len(queue)} more are not verified (raise max_paths / --max-paths, or add "
                "assumptions that decide some branches)")
            break
        if deadline is not None and time.monotonic() > deadline:
            limit = PathLimit(f"timed out after {len(paths)} paths; {len(queue)} more are not "
                              "verified")
            break
        prefix = queue.pop(0)
        oracle = _Z3Oracle(z, facts, prefix, queue, max_values=max_values,
                           timeout_ms=timeout_ms)
        start = time.perf_counter()
        try:
            graph = trace(model, inputs, oracle=oracle, config=config, min_size=min_size)
            if not oracle.feasible():
                continue
            paths.append(TracedPath(oracle.decisions, graph, None,
                                    time.perf_counter() - start))
        except _Infeasible:
            continue
        except Exception as err:  # judged by api._failure (replayed for real at a witness)
            if not oracle.feasible():
                continue
            paths.append(TracedPath(oracle.decisions, None, err, time.perf_counter() - start,
                                    [parse_spec(spec)[1] for spec in inputs.values()]))
    return Exploration(paths, z, facts, limit)
