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

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..ir.graph import Graph, Node, Value
from ..types.interval import Hazard, Interval, RangeResult, round_out

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
        return (f"hazard: {where}: {h.message}\n    reached by the interval "
                f"[{h.lo:.6g}, {h.hi:.6g}] ({h.kind})")


@dataclass
class RangeReport:
    """Hazards, unknowns and output bounds of one graph under the input ranges."""

    graph: Graph
    input_ranges: dict[str, Interval]
    hazards: list[NodeHazard]
    outputs: dict[str, Interval]
    values: dict[str, Interval] = field(repr=False, default_factory=dict)
    seconds: float = 0.0

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
                         "interval": [h.hazard.lo, h.hazard.hi]} for h in self.hazards],
            "outputs": {k: {"lo": v.lo.tolist(), "hi": v.hi.tolist()}
                        for k, v in self.outputs.items()},
            "seconds": self.seconds,
        }

    def __str__(self) -> str:
        ins = ", ".join(f"{k} in {v}" for k, v in self.input_ranges.items())
        lines = [f"numeric safety of {self.graph.name} for {ins or '(no input ranges)'} "
                 f"(interval bounds, rounded outward for the dtype)"]
        lines += [f"  {h}" for h in self.hazards]
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
    """``"x in [0, 1]"`` -> ``("x", 0.0, 1.0)`` (``inf`` allowed)."""
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
    if not lo <= hi:
        raise ValueError(f"--range {text!r}: lower bound exceeds upper bound")
    return name.strip(), lo, hi


def _concrete(v: Value) -> tuple[int | None, ...]:
    return tuple(d.as_int() if d.is_constant else None for d in v.shape)


def _input_interval(v: Value, spec: Any) -> Interval:
    shape = _concrete(v)
    if isinstance(spec, Interval):
        lo, hi = spec.lo, spec.hi
    else:
        lo, hi = spec
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
            return Interval(lo, hi, shape, v.dtype, r.point)
    one = (1,) * nd
    return Interval(np.full(one, np.min(lo)), np.full(one, np.max(hi)), shape, v.dtype)


def verify_ranges(graph: Graph, input_ranges: Mapping[str, Any]) -> RangeReport:
    """Propagate intervals through ``graph``; see the module docstring. ``input_ranges`` maps
    input names to ``(lo, hi)`` (scalars, or arrays broadcastable to the input's shape, for
    per-element ranges) or to an :class:`Interval`; an input without a range is unbounded."""
    from ..ops.registry import get

    t0 = time.perf_counter()
    env: dict[str, Interval] = {}
    given: dict[str, Interval] = {}
    names = {v.name for v in graph.inputs}
    for name in input_ranges:
        if name not in names:
            raise ValueError(f"--range names {name!r}, which is not an input of {graph.name} "
                             f"(inputs: {', '.join(sorted(names))})")
    for v in graph.inputs:
        if v.name in input_ranges:
            env[v.name] = given[v.name] = _input_interval(v, input_ranges[v.name])
        else:
            env[v.name] = Interval.top(_concrete(v), v.dtype)
    for c in graph.constants.values():
        if c.data is None:
            env[c.name] = Interval.top(_concrete(c), c.dtype)
        else:
            env[c.name] = Interval.exact(c.data, c.dtype)
    hazards: list[NodeHazard] = []
    for node in graph.nodes:
        args: list[Interval | None] = []
        for x in node.inputs:
            if isinstance(x, str):
                args.append(env[x])
            elif x is None:
                args.append(None)
            else:
                args.append(Interval.exact(float(x)))
        op = get(node.op)
        rule = getattr(op, "ranges", None)
        result: RangeResult | None = None
        if rule is not None:
            result = rule(*args, **node.attrs)
        out_v = node.output
        if result is None:
            hazards.append(NodeHazard(node, Hazard("no-rule", f"no range rule for op "
                                                              f"{node.op!r}", -math.inf,
                                                   math.inf)))
            env[out_v.name] = Interval.top(_concrete(out_v), out_v.dtype)
            continue
        out = _fit(result.out, out_v)
        hazards += [NodeHazard(node, h) for h in result.hazards]
        tensor_args = [a for a in args if a is not None]
        if not result.hazards and not out.finite and all(a.finite for a in tensor_args):
            hazards.append(NodeHazard(node, Hazard(
                "overflow", f"{node.op} may overflow {out_v.dtype.name} (a bound is infinite)",
                min(a.min for a in tensor_args), max(a.max for a in tensor_args))))
        env[out_v.name] = out
    outputs = {n: env[n] for n in graph.outputs}
    return RangeReport(graph, given, hazards, outputs, env, time.perf_counter() - t0)
