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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .falsify import margins, search
from .linear_bounds import AffineReLUNet, extract, lower_bound_with_corner
from .vnnlib import Case, Property

__all__ = ["BabResult", "onnxruntime_runner", "verify_property", "verify_net"]

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
               batch: int = 1024, also: Sequence[Runner] = (),
               intermediate: str = "hybrid", alpha_steps: int = 0) -> BabResult:
    """Decide ``prop`` for the network ``run`` (flat float32 inputs (N, n_in) -> outputs
    (N, n_out), the real computation) whose affine/ReLU form is ``net``.

    A 'violated' verdict needs an input that ``run`` and every runner in ``also`` (e.g.
    onnxruntime on the same file) show unsafe. ``intermediate`` picks the hidden-layer
    bounds ("forward": forward linear bounds, cheap; "crown": a backward pass per layer;
    "hybrid": forward, then backward for the neurons still unstable); ``alpha_steps``
    optimises the final bound's ReLU slopes on the boxes not yet safe."""
    t0 = time.perf_counter()
    deadline = t0 + timeout
    if prop.n_inputs != net.n_inputs or prop.n_outputs != net.n_outputs:
        return BabResult("unknown", reason=f"the property has {prop.n_inputs} inputs and "
                         f"{prop.n_outputs} outputs, the network {net.n_inputs} and "
                         f"{net.n_outputs}")
    runners = (run, *also)
    # attack first, on every case: a violation anywhere decides the property
    for case in prop.cases:
        cands = (_centre(case)[None] if case.c.shape[0] == 0
                 else search(net, case.lo, case.hi, case.c, case.d))
        found = _confirm(runners, case, cands)
        if found is not None:
            found.seconds = time.perf_counter() - t0
            return found
    total = 0
    for case in prop.cases:
        if case.c.shape[0] == 0:  # no output condition, and the centre was not unsafe
            return BabResult("unknown", boxes=total, seconds=time.perf_counter() - t0,
                             reason="an empty output condition that the centre did not meet")
        r, n = _case(net, runners, case, deadline, batch, intermediate, alpha_steps)
        total += n
        if r.verdict != "holds":
            r.boxes, r.seconds = total, time.perf_counter() - t0
            return r
    return BabResult("holds", None, total, time.perf_counter() - t0)


def _centre(case: Case) -> Array:
    return np.asarray((case.lo + case.hi) / 2, dtype=np.float64)


def _confirm(runners: Sequence[Runner], case: Case, cands: Array) -> BabResult | None:
    """The first candidate that every runner shows unsafe (float32 input inside the box)."""
    if len(cands) == 0:
        return None
    x = _in_box_f32(cands, case.lo, case.hi)
    ys = [np.asarray(r(x), dtype=np.float64).reshape(len(x), -1) for r in runners]
    for i, xi in enumerate(x):
        if all(case.unsafe(xi, y[i]) for y in ys):
            return BabResult("violated", (xi, ys[0][i].astype(np.float32)))
    return None


def _case(net: AffineReLUNet, runners: Sequence[Runner], case: Case, deadline: float,
          batch: int, intermediate: str, alpha_steps: int) -> tuple[BabResult, int]:
    """Input-split branch and bound on one case, depth first, ``batch`` boxes per bound."""
    stack: list[tuple[Array, Array]] = [(case.lo[None].astype(np.float64),
                                         case.hi[None].astype(np.float64))]
    count = 0
    c, d = case.c, case.d
    rows = np.arange(c.shape[0])
    while stack:
        if time.perf_counter() > deadline:
            return BabResult("unknown", reason="timeout"), count
        lo, hi = _pop(stack, batch)
        count += len(lo)
        lb, coef, corner = lower_bound_with_corner(net, lo, hi, c, d, alpha_steps,
                                                   intermediate=intermediate)
        open_ = ~np.any(lb > d, axis=1)
        if not np.any(open_):
            continue
        lo, hi, lb, coef, corner = lo[open_], hi[open_], lb[open_], coef[open_], corner[open_]
        # counterexample candidates: centres and the bounds' minimising corners, run in
        # float64 first; only those that look unsafe are run for real
        cands = np.concatenate([(lo + hi)[:, None, :] / 2, corner], axis=1).reshape(
            -1, net.n_inputs)
        hit = margins(net, cands, c, d) <= 0
        if np.any(hit):
            found = _confirm(runners, case, cands[hit][:64])
            if found is not None:
                return found, count
        # split the dimension that most loosens the row closest to being proven
        width = hi - lo
        best = np.argmax(lb - d, axis=1) if len(rows) > 1 else np.zeros(len(lo), int)
        score = np.abs(coef[np.arange(len(lo)), best]) * width + 1e-12 * width
        dim = np.argmax(score, axis=1)
        ar = np.arange(len(lo))
        mid = (lo[ar, dim] + hi[ar, dim]) / 2
        if np.any((mid <= lo[ar, dim]) | (mid >= hi[ar, dim])):
            return BabResult("unknown", reason="a box cannot be split further"), count
        a_hi, b_lo = hi.copy(), lo.copy()
        a_hi[ar, dim] = mid
        b_lo[ar, dim] = mid
        stack.append((np.concatenate([lo, b_lo]), np.concatenate([a_hi, hi])))
    return BabResult("holds"), count


def _pop(stack: list[tuple[Array, Array]], n: int) -> tuple[Array, Array]:
    """Up to ``n`` boxes from the top of the stack (the most recently split first)."""
    los: list[Array] = []
    his: list[Array] = []
    have = 0
    while stack and have < n:
        lo, hi = stack.pop()
        take = min(n - have, len(lo))
        if take < len(lo):
            stack.append((lo[:-take], hi[:-take]))
        los.append(lo[len(lo) - take:])
        his.append(hi[len(hi) - take:])
        have += take
    return np.concatenate(los), np.concatenate(his)


def verify_property(model: Callable[..., Any], input_shape: tuple[int, ...], prop: Property,
                    *, timeout: float = 60.0, also: Sequence[Runner] = (),
                    intermediate: str = "hybrid", alpha_steps: int = 0,
                    batch: int = 1024) -> BabResult:
    """Decide ``prop`` on an ``nn.Module`` (or function) with float32 input ``input_shape``:
    trace it, extract its affine/ReLU chain, run branch and bound; violations are confirmed by
    running the model eagerly (and by each runner in ``also``)."""
    from .. import tensor as _tensor
    from ..trace import trace

    t0 = time.perf_counter()

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

    return verify_net(net, run, prop, timeout=max(0.0, timeout - (time.perf_counter() - t0)),
                      also=also, intermediate=intermediate, alpha_steps=alpha_steps,
                      batch=batch)


def onnxruntime_runner(path: str, input_shape: tuple[int, ...]) -> Runner | None:
    """A second, independent runner for an ONNX file (onnxruntime, float32, one input at a
    time at ``input_shape``), or None where onnxruntime is not installed."""
    try:
        import onnxruntime as ort  # type: ignore[import-untyped]
    except ImportError:
        return None
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name

    def run(x: npt.NDArray[np.float32]) -> npt.NDArray[Any]:
        outs = [np.asarray(sess.run(None, {name: np.asarray(xi, np.float32).reshape(
            input_shape)})[0], dtype=np.float64).reshape(-1) for xi in x]
        return np.array(outs)

    return run
