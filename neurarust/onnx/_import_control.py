"""ONNX control flow: ``If``, ``Loop`` and ``Scan``, running their subgraph attributes.

The subgraphs were compiled with the model (their ops are checked and listed with the rest
when unsupported); here they run through ``ctx.run`` in the enclosing scope. ``If`` and
``Loop`` decide on concrete values (a condition or trip count read from data), so a model
whose control flow depends on tensor values runs eagerly but does not trace; ``Scan`` over a
concrete length unrolls into registered ops and traces. Every executed iteration, of nested
loops too, draws on the run's trip budget (``ImportLimits.max_trips``, :mod:`._budget`), so
a hostile file cannot spin forever: two nested loops of n trips cost n * n.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functions as fn
from ..tensor import Tensor
from ..types import dtype as dt
from ._budget import DEFAULT_LIMITS, current
from ._host import HostValue, materialize
from ._importers import ImportContext, OnnxUnsupported, SubGraph, _reg

__all__ = ["MAX_ITERATIONS"]

MAX_ITERATIONS = DEFAULT_LIMITS.max_trips
"""The most loop iterations (all Loops and Scans together, nesting included) in one run by
default (``ImportLimits.max_trips``)."""


def _runner(ctx: ImportContext) -> Any:
    if ctx.run is None:
        raise OnnxUnsupported("a subgraph cannot run here")
    return ctx.run


def _body(a: dict[str, Any], name: str, op: str) -> SubGraph:
    sub = a.get(name)
    if not isinstance(sub, SubGraph):
        raise OnnxUnsupported(f"{op} without its {name!r} subgraph")
    return sub


@_reg("If")
def _if(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    branch = "then_branch" if bool(ctx.scalar(xs[0])) else "else_branch"
    return list(_runner(ctx)(_body(a, branch, "If"), []))


def _stack(parts: list[Any], op: str) -> Tensor:
    if not parts:
        raise OnnxUnsupported(f"{op} with zero iterations and scan outputs (their shape is "
                              "unknown)")
    return fn.stack([materialize(p, op) for p in parts], 0)


@_reg("Loop")
def _loop(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    """``for i in range(M) while cond``: the body maps (i, cond, carried...) to
    (cond, carried..., scan elements...); scan elements are stacked on a new axis 0."""
    body = _body(a, "body", "Loop")
    trips = None if not xs or xs[0] is None else int(ctx.scalar(xs[0]))
    keep = True if len(xs) < 2 or xs[1] is None else bool(ctx.scalar(xs[1]))
    carried = list(xs[2:])
    if trips is None and len(xs) >= 2 and xs[1] is None:
        raise OnnxUnsupported("Loop with neither a trip count nor a condition never ends")
    n_scan = len(body.outputs) - 1 - len(carried)
    if n_scan < 0:
        raise OnnxUnsupported(f"Loop body has {len(body.outputs)} outputs for "
                              f"{len(carried)} carried values")
    scans: list[list[Any]] = [[] for _ in range(n_scan)]
    meter = current()
    i = 0
    while keep and (trips is None or i < trips):
        meter.trip(f"Loop iteration {i} (trip count {trips})")
        outs = _runner(ctx)(body, [HostValue(np.array(i, dtype=object), dt.int64),
                                   HostValue(np.array(keep, dtype=object), dt.bool_),
                                   *carried])
        keep = bool(ctx.scalar(outs[0]))
        carried = list(outs[1:1 + len(carried)])
        for k, v in enumerate(outs[1 + len(carried):]):
            scans[k].append(v)
        i += 1
    return [*carried, *(_stack(s, "Loop") for s in scans)]


@_reg("Scan")
def _scan(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    """The body maps (state..., one slice of each scan input...) to (state..., one element
    of each scan output...), over the scan inputs' axis (reversed where asked)."""
    if ctx.opset < 9:
        raise OnnxUnsupported("Scan-8 (with sequence_lens and a batch axis)")
    body = _body(a, "body", "Scan")
    m = int(a["num_scan_inputs"])
    n = len(xs) - m
    states, inputs = list(xs[:n]), [materialize(x, "Scan") for x in xs[n:]]
    in_axes = [int(v) for v in a.get("scan_input_axes", [0] * m)]
    in_dirs = [int(v) for v in a.get("scan_input_directions", [0] * m)]
    k = len(body.outputs) - n
    out_axes = [int(v) for v in a.get("scan_output_axes", [0] * k)]
    out_dirs = [int(v) for v in a.get("scan_output_directions", [0] * k)]
    lengths = {int(x.shape[ax % x.ndim]) for x, ax in zip(inputs, in_axes)}
    if len(lengths) != 1:
        raise OnnxUnsupported(f"Scan inputs of different lengths {sorted(lengths)}")
    steps = lengths.pop()
    meter = current()
    if meter.trips + steps > meter.limits.max_trips:
        raise OnnxUnsupported(f"Scan over {steps} steps: over the import limit max_trips="
                              f"{meter.limits.max_trips} ({meter.trips} used in this run)")
    scans: list[list[Any]] = [[] for _ in range(k)]
    for t in range(steps):
        meter.trip(f"Scan step {t}")
        slices = []
        for x, ax, rev in zip(inputs, in_axes, in_dirs):
            index: list[Any] = [slice(None)] * x.ndim
            index[ax % x.ndim] = steps - 1 - t if rev else t
            slices.append(fn.getitem(x, tuple(index)))
        outs = _runner(ctx)(body, [*states, *slices])
        states = list(outs[:n])
        for j, v in enumerate(outs[n:]):
            scans[j].append(v)
    results: list[Any] = list(states)
    for j in range(k):
        parts = scans[j][::-1] if out_dirs[j] else scans[j]
        stacked = _stack(parts, "Scan")
        axis = out_axes[j] % stacked.ndim
        results.append(fn.movedim(stacked, 0, axis) if axis else stacked)
    return results
