"""Numeric-range safety: interval bound propagation (IBP) over a traced graph.

``verify_ranges(graph, {"x": (0.0, 1.0)})`` gives each input an :class:`Interval` (per
tensor from a ``(lo, hi)`` pair, per element from arrays), constants their exact values, and
runs every node's registry ``ranges`` rule in order (:mod:`neurarust.types.interval`). Bounds
are per element along every dim whose size is concrete and shared along symbolic dims
(``B``), and round outward for the dtype, so a 'proven' verdict holds for the float32
computation. The report lists every hazard (op, source line, the interval that reaches it),
every op without a range rule (unknown: never a silent pass), and the output bounds.
"""

from __future__ import annotations

import functools
import inspect
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..ir.graph import Graph, Node, Value
from ..types.dim import Dim
from ..types.interval import Hazard, Interval, RangeResult, round_out
from .sizes import Sizes

__all__ = ["NodeHazard", "RangeReport", "parse_range", "verify_ranges"]


@dataclass(frozen=True)
class NodeHazard:
    """A hazard at one node (``kind`` ``no-rule`` for an op without a range rule)."""

    node: Node
    hazard: Hazard

    @property
    def unknown(self) -> bool:
        return self.hazard.kind == "no-rule"

    def __str__(self) -> str:
        h = self.hazard
        where = f"{self.node.op} at {self.node.source}" + (
            f" ({self.node.scope})" if self.node.scope else "")
        if self.unknown:
            return f"unknown: {where}: {h.message}"
        text = (f"hazard: {where}: {h.message}\n    reached by the interval "
                f"[{h.lo:.6g}, {h.hi:.6g}] ({h.kind})")
        if h.counterexample:
            text += "\n    counterexample: " + ", ".join(f"{k}={v}"
                                                        for k, v in h.counterexample.items())
        return text


@dataclass
class RangeReport:
    """Hazards, unknowns and output bounds of one graph under the input ranges."""

    graph: Graph
    input_ranges: dict[str, Interval]
    hazards: list[NodeHazard]
    outputs: dict[str, Interval]
    values: dict[str, Interval] = field(repr=False, default_factory=dict)
    seconds: float = 0.0
    assumptions: list[str] = field(default_factory=list)
    tightened: list[str] = field(default_factory=list)
    """What ``--exact`` proved beyond IBP, one line per tightened value."""

    @property
    def unknown(self) -> list[NodeHazard]:
        return [h for h in self.hazards if h.unknown]

    @property
    def found(self) -> list[NodeHazard]:
        return [h for h in self.hazards if not h.unknown]

    @property
    def ok(self) -> bool:
        """Every hazard proven absent and every op had a rule."""
        return not self.hazards

    @property
    def exit_code(self) -> int:
        """0 proven safe, 1 a hazard is not excluded, 3 an op had no range rule."""
        if self.found:
            return 1
        return 3 if self.unknown else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "status": "proven" if self.ok else ("hazard" if self.found else "unknown"),
            "inputs": {k: [v.min, v.max] for k, v in self.input_ranges.items()},
            "hazards": [{"op": h.node.op, "source": h.node.source, "scope": h.node.scope,
                         "kind": h.hazard.kind, "message": h.hazard.message,
                         "interval": [h.hazard.lo, h.hazard.hi],
                         "counterexample": h.hazard.counterexample} for h in self.hazards],
            "assumptions": list(self.assumptions),
            "tightened": list(self.tightened),
            "outputs": {k: {"lo": v.lo.tolist(), "hi": v.hi.tolist()}
                        for k, v in self.outputs.items()},
            "seconds": self.seconds,
        }

    def __str__(self) -> str:
        ins = ", ".join(f"{k} in {v}" for k, v in self.input_ranges.items())
        lines = [f"numeric safety of {self.graph.name} for {ins or '(no input ranges)'} "
                 f"(interval bounds, rounded outward for the dtype)"]
        if self.assumptions:
            lines.append(f"  sizes assuming: {', '.join(self.assumptions)}")
        lines += [f"  {h}" for h in self.hazards]
        lines += [f"  exact: {t}" for t in self.tightened]
        for name, iv in self.outputs.items():
            lines.append(f"  output {name} in {iv}")
        n = len(self.graph.nodes)
        if self.ok:
            lines.append(f"  proven: no hazard in {n} nodes ({self.seconds * 1e3:.1f} ms)")
        else:
            lines.append(f"  {len(self.found)} hazards not excluded, {len(self.unknown)} ops "
                         f"without a range rule, in {n} nodes ({self.seconds * 1e3:.1f} ms)")
        return "\n".join(lines)


def parse_range(text: str) -> tuple[str, float, float]:
    """``"x in [0, 1]"`` -> ``("x", 0.0, 1.0)``. ``inf`` / ``-inf`` are accepted as written
    (the verifier then reports the hazards infinities reach); ``nan`` and ``lo > hi`` are
    errors. Whether a finite endpoint fits the input's dtype is checked by
    :func:`verify_ranges`, which knows the dtype."""
    name, sep, rest = text.partition(" in ")
    rest = rest.strip()
    if not sep or not name.strip().isidentifier() or not (rest.startswith("[")
                                                        and rest.endswith("]")):
        raise ValueError(f'--range expects "name in [lo, hi]", got {text!r}')
    parts = rest[1:-1].split(",")
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"--range {text!r}: expected two numbers [lo, hi]") from None
    if math.isnan(lo) or math.isnan(hi):
        raise ValueError(f"--range {text!r}: nan is not a bound (give two numbers, or "
                         f"inf / -inf)")
    if not lo <= hi:
        raise ValueError(f"--range {text!r}: lower bound exceeds upper bound")
    return name.strip(), lo, hi


def _check_bounds(name: str, v: Value, lo: Any, hi: Any) -> None:
    """An input range must be a range of values of the input's dtype: no nan, lo <= hi, and
    every finite endpoint within the dtype's finite range (an endpoint beyond it that is not
    literally inf would silently become inf in the dtype: an error, never a clamp)."""
    lo_a = np.asarray(lo, dtype=np.float64)
    hi_a = np.asarray(hi, dtype=np.float64)
    shown = (f"[{float(np.min(lo_a)):g}, {float(np.max(hi_a)):g}]" if lo_a.size and hi_a.size
             else "[]")
    if np.isnan(lo_a).any() or np.isnan(hi_a).any():
        raise ValueError(f"range of input {name!r} {shown}: nan is not a bound")
    if np.any(lo_a > hi_a):
        raise ValueError(f"range of input {name!r} {shown}: a lower bound exceeds its upper "
                         f"bound")
    if v.dtype.is_floating_point:
        from ..types.interval_accum import max_finite

        top = max_finite(v.dtype)
        for end in (lo_a, hi_a):
            bad = np.isfinite(end) & (np.abs(end) > top)
            if bad.any():
                raise ValueError(
                    f"range of input {name!r} {shown}: {float(end[bad].flat[0]):g} is beyond the "
                    f"largest finite {v.dtype.name} ({top:g}); give a bound within "
                    f"[-{top:g}, {top:g}], or inf / -inf to mean an infinite input")
    elif v.dtype.is_integer:
        info = np.iinfo(v.dtype.np_dtype)
        if np.any(lo_a < float(info.min)) or np.any(hi_a > float(info.max)):
            raise ValueError(f"range of input {name!r} {shown}: outside {v.dtype.name} "
                             f"[{info.min}, {info.max}]")


def _concrete(v: Value) -> tuple[int | None, ...]:
    return tuple(d.as_int() if d.is_constant else None for d in v.shape)


def _sized(iv: Interval, v: Value, sizes: Sizes) -> Interval:
    """``iv`` knowing the range of each of ``v``'s dims under the assumptions."""
    return replace(iv, sizes=tuple(sizes.range(d) for d in v.shape))


def _input_interval(v: Value, spec: Any) -> Interval:
    shape = _concrete(v)
    if isinstance(spec, Interval):
        lo, hi = spec.lo, spec.hi
    else:
        lo, hi = spec
    _check_bounds(v.name, v, lo, hi)
    lo_r, hi_r = round_out(lo, hi, v.dtype)  # a value of the dtype: the grid holds it
    lo_a = np.asarray(lo, dtype=np.float64)
    hi_a = np.asarray(hi, dtype=np.float64)
    # bounds given exactly on the grid stay exact (0 and 1 are float32 values)
    lo_r = np.where(lo_a.astype(v.dtype.np_dtype).astype(np.float64) == lo_a, lo_a, lo_r)
    hi_r = np.where(hi_a.astype(v.dtype.np_dtype).astype(np.float64) == hi_a, hi_a, hi_r)
    return Interval.of(lo_r, hi_r, shape, v.dtype)


def _fit(r: Interval, v: Value) -> Interval:
    """A rule's interval on the node's recorded shape and dtype (the hull when it does not
    fit: rules for broadcasting ops may return fewer axes)."""
    shape = _concrete(v)
    lo, hi = round_out(r.lo, r.hi, v.dtype) if r.dtype is not v.dtype else (r.lo, r.hi)
    nd = len(shape)
    if lo.ndim <= nd:
        lo = lo.reshape((1,) * (nd - lo.ndim) + lo.shape)
        hi = hi.reshape(lo.shape)
        if all(b == 1 or b == s for b, s in zip(lo.shape, shape)):
            return Interval(lo, hi, shape, v.dtype, r.point, sym_hi=r.sym_hi)
    one = (1,) * nd
    return Interval(np.full(one, np.min(lo)), np.full(one, np.max(hi)), shape, v.dtype,
                    sym_hi=r.sym_hi)


def _attr(x: Any, sizes: Sizes) -> Any:
    """A node attr as rules see it: a symbolic size becomes its :class:`SizeRange`."""
    if isinstance(x, Dim):
        return x.as_int() if x.is_constant else sizes.range(x)
    if isinstance(x, tuple) and any(isinstance(v, Dim) for v in x):
        return tuple(_attr(v, sizes) for v in x)
    return x


@functools.cache
def _rule(name: str) -> tuple[Callable[..., RangeResult | None], bool]:
    """The interval function an op's ``range_rule`` names, and whether it takes the op's
    kernel."""
    from ..types import interval

    fn = getattr(interval, name)
    return fn, "kernel" in inspect.signature(fn).parameters


def _scalar(x: Any, dtype: Any) -> Interval:
    """A Python number operand: computed with in the op's dtype (``x + 0.1`` on float32 adds
    ``float32(0.1)``), so its interval holds both the number and its value in that dtype."""
    v = float(x)
    if dtype is None or not dtype.is_floating_point or not math.isfinite(v):
        return Interval.exact(v)
    cast = float(np.asarray(v, dtype=np.float64).astype(dtype.np_dtype))
    if cast == v:
        return Interval.exact(v)
    lo, hi = min(v, cast), max(v, cast)
    return Interval(np.asarray(lo), np.asarray(hi), (), None)


def _rerun(fn: Callable[..., RangeResult | None], attrs: dict[str, Any],
           args: list[Interval | None]) -> RangeResult | None:
    return fn(*args, **attrs)


def _keeps_values(op: Any) -> bool:
    """Ops whose output elements are their first input's (so a size-dependent bound of the
    values, ``arange(T)``'s ``T - 1``, carries over)."""
    return bool(op.is_view) or op.range_rule in ("identity", "reshape", "cast", "expand",
                                                 "flatten", "getitem", "narrow")


def verify_ranges(graph: Graph, input_ranges: Mapping[str, Any],
                  assumptions: Sequence[str] = (), *, exact: bool = False) -> RangeReport:
    """Propagate intervals through ``graph``; see the module docstring. ``input_ranges`` maps
    input names to ``(lo, hi)`` (scalars, or arrays broadcastable to the input's shape, for
    per-element ranges) or to an :class:`Interval`; an input without a range is unbounded.
    ``assumptions`` (as ``--assume``) bound the symbolic sizes: counts of sums, values of
    ``arange(T)``. ``exact``: after IBP, tighten what IBP cannot (``x - x``) with z3 on small
    exact subproblems (:mod:`neurarust.verify.exact`)."""
    from ..ops.registry import get

    t0 = time.perf_counter()
    sizes = Sizes(graph.symbols(), assumptions, min_size=graph.min_size)
    env: dict[str, Interval] = {}
    given: dict[str, Interval] = {}
    names = {v.name for v in graph.inputs}
    for name in input_ranges:
        if name not in names:
            raise ValueError(f"--range names {name!r}, which is not an input of {graph.name} "
                             f"(inputs: {', '.join(sorted(names))})")
    for v in graph.inputs:
        if v.name in input_ranges:
            env[v.name] = given[v.name] = _sized(_input_interval(v, input_ranges[v.name]), v,
                                                 sizes)
        else:
            env[v.name] = _sized(Interval.top(_concrete(v), v.dtype), v, sizes)
    for c in graph.constants.values():
        if c.data is None:
            env[c.name] = _sized(Interval.top(_concrete(c), c.dtype), c, sizes)
        else:
            env[c.name] = _sized(Interval.exact(c.data, c.dtype), c, sizes)
    hazards: list[NodeHazard] = []
    checker = None
    if exact:
        from .exact import Exact

        checker = Exact(graph, env)
    for node in graph.nodes:
        args: list[Interval | None] = []
        for x in node.inputs:
            if isinstance(x, str):
                args.append(env[x])
            elif x is None:
                args.append(None)
            else:
                args.append(_scalar(x, node.output.dtype))
        op = get(node.op)
        result: RangeResult | None = None
        if op.range_rule is not None:
            fn, wants_kernel = _rule(op.range_rule)
            attrs = {k: _attr(v, sizes) for k, v in node.attrs.items()}
            if wants_kernel:
                attrs["kernel"] = op.kernels["cpu"]
            result = fn(*args, **attrs)
            if checker is not None and result is not None and result.hazards:
                result = checker.recheck(node, args, result,
                                         functools.partial(_rerun, fn, attrs))
        out_v = node.output
        if result is None:
            hazards.append(NodeHazard(node, Hazard("no-rule", f"no range rule for op "
                                                              f"{node.op!r}", -math.inf,
                                                   math.inf)))
            env[out_v.name] = _sized(Interval.top(_concrete(out_v), out_v.dtype), out_v, sizes)
            continue
        out = _fit(result.out, out_v)
        first = args[0] if args else None
        if out.sym_hi is None and first is not None and first.sym_hi is not None and \
                _keeps_values(op) and out.max == first.max:
            out = replace(out, sym_hi=first.sym_hi)
        for h in result.hazards:
            if h.value is not None and h.limit is not None:
                h = replace(h, counterexample=sizes.smallest_violation(h.value, h.limit))
            hazards.append(NodeHazard(node, h))
        tensor_args = [a for a in args if a is not None]
        if not result.hazards and not out.finite and all(a.finite for a in tensor_args):
            hazards.append(NodeHazard(node, Hazard(
                "overflow", f"{node.op} may overflow {out_v.dtype.name} (a bound is infinite)",
                min(a.min for a in tensor_args), max(a.max for a in tensor_args))))
        env[out_v.name] = _sized(out, out_v, sizes)
    report = RangeReport(graph, given, hazards, {n: env[n] for n in graph.outputs}, env,
                         assumptions=list(assumptions))
    if checker is not None:
        checker.outputs(report)
        report.tightened = checker.notes
    report.seconds = time.perf_counter() - t0
    return report
