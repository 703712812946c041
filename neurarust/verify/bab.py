"""Complete verification of small ReLU networks against VNN-LIB properties.

Branch and bound on input splits: each sub-box of a case's input box is bounded by the
linear relaxation (:mod:`.linear_bounds`, sound for the float32 network); a box where some
row of the unsafe conjunction ``C y <= d`` has a lower bound above ``d`` is safe. Otherwise
counterexample candidates (the box's centre and the corner minimising each row's linear
bound) are run through the relaxation's own forward and, when they look unsafe, through the
network itself, eagerly, in float32: a 'violated' verdict is only given with an input that
the real network run shows to be unsafe. Unresolved boxes are split in two along the input
dimension with the largest bound coefficient times width. 'holds' when every box is safe,
'unknown' at the timeout.

TODO: an LP leaf (scipy HiGHS on the triangle relaxation) and ReLU splitting for networks
with many inputs, where input splitting does not scale.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .linear_bounds import AffineReLUNet, extract, lower_bound_with_corner
from .vnnlib import Case, Property

__all__ = ["BabResult", "verify_property", "verify_net"]

Array = npt.NDArray[np.float64]
Runner = Callable[[npt.NDArray[np.float32]], npt.NDArray[Any]]


@dataclass
class BabResult:
    """``verdict`` holds / violated / unknown; ``counterexample`` (x, y as run) when
    violated; boxes bounded, seconds."""

    verdict: str
    counterexample: tuple[npt.NDArray[np.float32], npt.NDArray[Any]] | None = None
    boxes: int = 0
    seconds: float = 0.0
    reason: str = ""

    @property
    def exit_code(self) -> int:
        return {"holds": 0, "violated": 1}.get(self.verdict, 3)

    def __str__(self) -> str:
        s = f"{self.verdict} ({self.boxes} boxes, {self.seconds:.2f} s)"
        if self.counterexample is not None:
            x, y = self.counterexample
            s += (f"\n  counterexample x = {x.reshape(-1).tolist()}"
                  f"\n  network output y = {np.asarray(y).reshape(-1).tolist()}")
        if self.reason:
            s += f"\n  {self.reason}"
        return s


def _in_box_f32(x: Array, lo: Array, hi: Array) -> npt.NDArray[np.float32]:
    """x as float32, moved inward where rounding left the (real) box."""
    x32 = np.clip(x, lo, hi).astype(np.float32)
    up = x32.astype(np.float64) < lo
    x32 = np.where(up, np.nextafter(x32, np.float32(np.inf)), x32)
    down = x32.astype(np.float64) > hi
    return np.asarray(np.where(down, np.nextafter(x32, np.float32(-np.inf)), x32),
                      dtype=np.float32)


def verify_net(net: AffineReLUNet, run: Runner, prop: Property, *, timeout: float = 60.0,
               batch: int = 256) -> BabResult:
    """Decide ``prop`` for the network ``run`` (flat float32 inputs (N, n_in) -> outputs
    (N, n_out), the real computation) whose affine/ReLU form is ``net``."""
    t0 = time.perf_counter()
    if prop.n_inputs != net.n_inputs or prop.n_outputs != net.n_outputs:
        return BabResult("unknown", reason=f"the property has {prop.n_inputs} inputs and "
                         f"{prop.n_outputs} outputs, the network {net.n_inputs} and "
                         f"{net.n_outputs}")
    total = 0
    for case in prop.cases:
        if case.c.shape[0] == 0:  # no output condition: any input of the box is unsafe
            x = _in_box_f32((case.lo + case.hi) / 2, case.lo, case.hi)[None]
            y = np.asarray(run(x))
            if case.unsafe(x[0], y[0]):
                return BabResult("violated", (x[0], y[0]), total, time.perf_counter() - t0)
            return BabResult("unknown", boxes=total, seconds=time.perf_counter() - t0,
                             reason="an empty output condition that the centre did not meet")
        r, n = _case(net, run, case, t0 + timeout, batch)
        total += n
        if r is not None and r.verdict != "holds":
            r.boxes, r.seconds = total, time.perf_counter() - t0
            return r
    return BabResult("holds", None, total, time.perf_counter() - t0)


def _confirm(run: Runner, case: Case, cands: Array) -> BabResult | None:
    x = _in_box_f32(cands, case.lo, case.hi)
    y = np.asarray(run(x), dtype=np.float64).reshape(len(x), -1)
    for xi, yi in zip(x, y):
        if case.unsafe(xi, yi):
            return BabResult("violated", (xi, yi.astype(np.float32)))
    return None


def _case(net: AffineReLUNet, run: Runner, case: Case, deadline: float, batch: int,
          alpha_steps: int = 6) -> tuple[BabResult | None, int]:
    stack_lo = [case.lo.astype(np.float64)]
    stack_hi = [case.hi.astype(np.float64)]
    count = 0
    c, d = case.c, case.d
    while stack_lo:
        if time.perf_counter() > deadline:
            return BabResult("unknown", reason="timeout"), count
        take = min(batch, len(stack_lo))
        lo = np.array(stack_lo[-take:])
        hi = np.array(stack_hi[-take:])
        del stack_lo[-take:], stack_hi[-take:]
        count += take
        lb, coef, corner = lower_bound_with_corner(net, lo, hi, c, d, alpha_steps)
        safe = np.any(lb > d, axis=1)
        open_ = ~safe
        if not np.any(open_):
            continue
        lo, hi, coef, corner = lo[open_], hi[open_], coef[open_], corner[open_]
        # counterexample candidates: centres and the bounds' minimising corners
        cands = np.concatenate([(lo + hi)[:, None, :] / 2, corner], axis=1).reshape(
            -1, net.n_inputs)
        y = net.forward(cands)
        slack = (y @ c.T) - d
        hit = np.all(slack <= 0, axis=1)
        if np.any(hit):
            found = _confirm(run, case, cands[hit][:64])
            if found is not None:
                return found, count
        width = hi - lo
        score = np.abs(coef).sum(axis=1) * width + 1e-12 * width
        dim = np.argmax(score, axis=1)
        if np.all(width[np.arange(len(dim)), dim] <= 0):
            return BabResult("unknown", reason="a box cannot be split further"), count
        for i in range(len(lo)):
            k = int(dim[i])
            mid = (lo[i, k] + hi[i, k]) / 2
            a_hi = hi[i].copy()
            a_hi[k] = mid
            b_lo = lo[i].copy()
            b_lo[k] = mid
            stack_lo += [lo[i], b_lo]
            stack_hi += [a_hi, hi[i]]
    return BabResult("holds"), count


def verify_property(model: Callable[..., Any], input_shape: tuple[int, ...], prop: Property,
                    *, timeout: float = 60.0) -> BabResult:
    """Decide ``prop`` on an ``nn.Module`` (or function) with float32 input ``input_shape``:
    trace it, extract its affine/ReLU chain, run branch and bound; violations are confirmed by
    running the model eagerly."""
    from .. import tensor as _tensor
    from ..trace import trace

    shape = ", ".join(str(int(s)) for s in input_shape)
    graph = trace(model, {"x": f"f32[{shape}]"})
    net = extract(graph)

    def run(x: npt.NDArray[np.float32]) -> npt.NDArray[Any]:
        outs = []
        for xi in x:
            t = _tensor(np.asarray(xi, dtype=np.float32).reshape(input_shape))
            out = model(t)
            outs.append(np.asarray(out.detach().numpy(), dtype=np.float64).reshape(-1))
        return np.array(outs)

    return verify_net(net, run, prop, timeout=timeout)
