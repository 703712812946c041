"""Complete verification of small ReLU networks against VNN-LIB properties.

Attack first: a random-start, projected-gradient search (:mod:`.falsify`) on each case of the
unsafe region; most violated properties end here, in milliseconds.

Then branch and bound on input splits. The cases (output conjunctions ``C y <= d``) that
share an input box are searched together: a sub-box is safe when every case has a row whose
lower bound exceeds its ``d``. Bounds come from :func:`.linear_bounds.lower_bound_with_corner`
(forward linear bounds, a backward CROWN pass for each box's own unstable neurons, the final
rows by a backward pass; sound for the float32 network), over batches of boxes at once, each
box starting from its parent's hidden-layer bounds. Open boxes yield counterexample
candidates (centres, the corners minimising the bound, a short gradient descent inside the
box); a box is split in two along the input dimension with the largest ``|coefficient| *
width`` of the row closest to being proven. Boxes of different input regions are bounded in
turn; after a few seconds a wider attack runs once.

A 'violated' verdict is only given with a float32 input inside the box that the real network
(run eagerly) and every extra runner (onnxruntime in the CLI) show unsafe. 'holds' when every
box is safe, 'unknown' at the timeout.

With ``split="relu"`` (the default for more than 8 inputs, where input splitting does not
scale) the branch and bound splits ReLU phases instead, with LP leaves: see
:mod:`.relu_split`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from .falsify import descend, margins, search
from .linear_bounds import AffineReLUNet, extract, ibp_bounds, lower_bound_with_corner
from .vnnlib import Case, Property, VnnlibError

__all__ = ["BabResult", "onnxruntime_runner", "verify_net", "verify_property"]

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
               intermediate: str = "hybrid", alpha_steps: int = 0,
               split: str = "auto") -> BabResult:
    """Decide ``prop`` for the network ``run`` (flat float32 inputs (N, n_in) -> outputs
    (N, n_out), the real computation) whose affine/ReLU form is ``net``.

    A 'violated' verdict needs an input that ``run`` and every runner in ``also`` (e.g.
    onnxruntime on the same file) show unsafe. ``intermediate`` picks the hidden-layer
    bounds ("forward": forward linear bounds, cheap; "crown": a backward pass per layer;
    "hybrid": forward, then backward for the neurons still unstable); ``alpha_steps``
    optimises the final bound's ReLU slopes on the boxes not yet safe. ``split`` picks the
    branching: "input" (halve the input box), "relu" (fix ReLU phases, LP leaves; see
    :mod:`.relu_split`) or "auto" (input splits for at most 8 inputs, else ReLU splits)."""
    if split not in ("auto", "input", "relu"):
        raise ValueError(f"verify_net: split must be 'auto', 'input' or 'relu', got {split!r}")
    if split == "auto":
        split = "input" if net.n_inputs <= 8 else "relu"
    with _one_blas_thread():
        return _verify_net(net, run, prop, timeout, batch, also, intermediate, alpha_steps,
                           split)


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """BLAS on one thread: the bounds are many small products, where threads only contend
    (several times slower on a busy machine). threadpoolctl comes with scikit-learn."""
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _verify_net(net: AffineReLUNet, run: Runner, prop: Property, timeout: float, batch: int,
                also: Sequence[Runner], intermediate: str, alpha_steps: int,
                split: str = "input") -> BabResult:
    t0 = time.perf_counter()
    deadline = t0 + timeout
    if prop.n_inputs != net.n_inputs or prop.n_outputs != net.n_outputs:
        raise VnnlibError(f"the property has {prop.n_inputs} inputs and {prop.n_outputs} "
                          f"outputs, the network {net.n_inputs} and {net.n_outputs}")
    runners = (run, *also)
    prop = Property(prop.n_inputs, prop.n_outputs, tuple(_for_proofs(net, c)
                                                         for c in prop.cases))
    # attack first, on every case: a violation anywhere decides the property
    for case in prop.cases:
        cands = (_centre(case)[None] if case.c.shape[0] == 0
                 else search(net, case.lo, case.hi, case.c, case.d))
        found = _confirm(runners, case, cands)
        if found is not None:
            found.seconds = time.perf_counter() - t0
            return found
    boxes_done = 0
    if any(case.c.shape[0] == 0 for case in prop.cases):  # the centre was not unsafe
        return BabResult("unknown", seconds=time.perf_counter() - t0,
                         reason="an empty output condition that the centre did not meet")
    # branch and bound on all cases in turn (one bound call each), so that a later case's
    # violation is not starved by an earlier case's proof
    groups: dict[tuple[bytes, bytes], list[Case]] = {}
    for case in prop.cases:  # cases over the same box share one search (and its bounds)
        groups.setdefault((case.lo.tobytes(), case.hi.tobytes()), []).append(case)
    search_type: Any = _CaseSearch
    if split == "relu":
        from .relu_split import ReluSplitSearch

        search_type = ReluSplitSearch
    searches = [search_type(net, runners, cases, batch, intermediate, alpha_steps)
                for cases in groups.values()]
    wide_starts = max(1000, min(2000, 8000 // len(prop.cases)))
    # a larger attack where the proof takes a while, again with new starts at 3, 9, 21, 45,
    # ... s (each about a second): tiny unsafe regions are found by some seeds only
    wide_search_at, wide_seed = t0 + 3.0, 1
    while searches:
        now = time.perf_counter()
        if now > deadline:
            return BabResult("unknown", boxes=boxes_done + sum(x.count for x in searches),
                             seconds=now - t0, reason="timeout")
        if now > wide_search_at:
            wide_search_at = now + 6.0 * 2 ** (wide_seed - 1)
            wide_seed += 1
            for case in prop.cases:
                found = _confirm(runners, case, search(net, case.lo, case.hi, case.c, case.d,
                                                       starts=wide_starts, steps=50,
                                                       seed=wide_seed))
                if found is not None:
                    found.seconds = time.perf_counter() - t0
                    return found
        for x in list(searches):
            outcome: BabResult | None = x.step()
            if outcome is not None:
                outcome.boxes = boxes_done + sum(y.count for y in searches)
                outcome.seconds = time.perf_counter() - t0
                return outcome
            if not x.stack:
                boxes_done += x.count
                searches.remove(x)
    return BabResult("holds", None, boxes_done, time.perf_counter() - t0)


def _for_proofs(net: AffineReLUNet, case: Case) -> Case:
    """The case with right-hand sides that proofs may use: where a coefficient of the file is
    not a float64 value, ``d`` grows by its rounding times a bound on ``|y|`` over the box
    (:meth:`.vnnlib.Case.proof_d`); unchanged otherwise."""
    if case.c_err.size == 0 or not np.any(case.c_err):
        return case
    ylo, yhi = ibp_bounds(net, case.lo, case.hi)
    return replace(case, d=case.proof_d(np.maximum(np.abs(ylo[0]), np.abs(yhi[0]))))


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
            # replayed alone: a batch may sum in another order, which decides inf vs NaN
            # where float32 overflows
            alone = [np.asarray(r(x[i:i + 1]), dtype=np.float64).reshape(-1) for r in runners]
            if all(case.unsafe(xi, y) for y in alone):
                return BabResult("violated", (xi, alone[0].astype(np.float32)))
    return None


class _CaseSearch:
    """Input-split branch and bound over one input box, for the cases (output conjunctions)
    that share it, depth first: a box is safe when every case has a row proven; each
    :meth:`step` bounds a batch of boxes from the top of the stack, proves some safe, looks
    for counterexamples in the others, and splits them."""

    def __init__(self, net: AffineReLUNet, runners: Sequence[Runner], cases: list[Case],
                 batch: int, intermediate: str, alpha_steps: int) -> None:
        self.net, self.runners, self.cases = net, runners, cases
        self.batch, self.intermediate, self.alpha_steps = batch, intermediate, alpha_steps
        self.c = np.concatenate([k.c for k in cases])
        self.d = np.concatenate([k.d for k in cases])
        self.owner = np.concatenate([np.full(len(k.d), i) for i, k in enumerate(cases)])
        # boxes (lo, hi) with their parents' hidden-layer bounds (all layers side by side,
        # float32 rounded outward), reused as prior bounds; none for the root
        self.sizes = [len(b) for b in net.biases[:-1]]
        self.stack: list[tuple[Array, ...]] = [(cases[0].lo[None].astype(np.float64),
                                                cases[0].hi[None].astype(np.float64))]
        self.count = 0
        self.steps = 0
        self.size = min(batch, 32)  # grows while a bound call stays short: deadlines hold

    def step(self) -> BabResult | None:
        """One batch; a 'violated' result (checked), an 'unknown' one when a box cannot be
        split, else None (the box is proven when the stack is empty)."""
        net, c, d = self.net, self.c, self.d
        now = time.perf_counter()
        lo, hi, prior = self._pop()
        self.count += len(lo)
        self.steps += 1
        pre: list[tuple[Array, Array]] = []
        lb, coef, corner = lower_bound_with_corner(net, lo, hi, c, d, self.alpha_steps,
                                                   intermediate=self.intermediate,
                                                   prior=prior, pre_out=pre)
        spent = time.perf_counter() - now
        if spent < 0.2 and len(lo) == self.size:
            self.size = min(self.batch, 2 * self.size)
        elif spent > 0.8:
            self.size = max(8, self.size // 2)
        gap = lb - d  # > 0: the row is proven
        # per case, its best row and that row's gap: the case is refuted on the box when > 0
        best_row = np.zeros((len(lo), len(self.cases)), dtype=int)
        best_gap = np.zeros((len(lo), len(self.cases)))
        for i in range(len(self.cases)):
            rows = np.flatnonzero(self.owner == i)
            k = rows[np.argmax(gap[:, rows], axis=1)]
            best_row[:, i], best_gap[:, i] = k, gap[np.arange(len(lo)), k]
        open_ = ~np.all(best_gap > 0, axis=1)
        if not np.any(open_):
            return None
        lo, hi, coef, corner = lo[open_], hi[open_], coef[open_], corner[open_]
        best_row, best_gap = best_row[open_], best_gap[open_]
        none = [np.zeros((len(lo), 0))]  # a network without hidden layers
        pre_l = np.concatenate([p[0][open_] for p in pre] or none, axis=1)
        pre_u = np.concatenate([p[1][open_] for p in pre] or none, axis=1)
        ar = np.arange(len(lo))
        # the hardest open case of each box, and its row closest to being proven
        hard = np.argmin(best_gap, axis=1)
        row = best_row[ar, hard]
        for i, case in enumerate(self.cases):
            sel = np.flatnonzero(hard == i)
            if sel.size == 0:
                continue
            # counterexample candidates: centres and the bounds' minimising corners, run in
            # float64 first (only those that look unsafe are run for real), then a short
            # descent inside each box from its corner
            cands = np.concatenate([(lo[sel] + hi[sel]) / 2, corner[sel, row[sel]]])
            hit = margins(net, cands, case.c, case.d) <= 0
            found = _confirm(self.runners, case, cands[hit][:64])
            if found is None and self.steps % 4 == 0:  # a quarter of the steps: cheap
                sel = sel[:256]
                found = _confirm(self.runners, case, descend(
                    net, corner[sel, row[sel]], lo[sel], hi[sel], case.c, case.d, steps=6,
                    keep=16))
            if found is not None:
                return found
        # split the dimension that most loosens that row's bound (|coefficient| * width)
        width = hi - lo
        dim = np.argmax(np.abs(coef[ar, row]) * width + 1e-12 * width, axis=1)
        mid = (lo[ar, dim] + hi[ar, dim]) / 2
        if np.any((mid <= lo[ar, dim]) | (mid >= hi[ar, dim])):
            return BabResult("unknown", reason="a box cannot be split further")
        a_hi, b_lo = hi.copy(), lo.copy()
        a_hi[ar, dim] = mid
        b_lo[ar, dim] = mid
        low32 = np.nextafter(pre_l.astype(np.float32), np.float32(-np.inf))
        up32 = np.nextafter(pre_u.astype(np.float32), np.float32(np.inf))
        self.stack.append((np.concatenate([lo, b_lo]), np.concatenate([a_hi, hi]),
                           np.concatenate([low32, low32]), np.concatenate([up32, up32])))
        return None

    def _pop(self) -> tuple[Array, Array, list[tuple[Array, Array]] | None]:
        """Up to ``size`` boxes from the top of the stack (the most recently split first),
        with their prior bounds per layer where every box has them."""
        parts = _pop(self.stack, self.size)
        lo, hi = parts[0], parts[1]
        if len(parts) < 4:
            return lo, hi, None
        cuts = np.cumsum(self.sizes)[:-1]
        pl = np.split(parts[2].astype(np.float64), cuts, axis=1)
        pu = np.split(parts[3].astype(np.float64), cuts, axis=1)
        return lo, hi, list(zip(pl, pu))


def _pop(stack: list[tuple[Array, ...]], n: int) -> tuple[Array, ...]:
    """Up to ``n`` rows from the top of a stack of row blocks (tuples of arrays with rows in
    step); only the fields every popped block has are returned."""
    parts: list[tuple[Array, ...]] = []
    have = 0
    while stack and have < n:
        block = stack.pop()
        rows = len(block[0])
        take = min(n - have, rows)
        if take < rows:
            stack.append(tuple(x[:rows - take] for x in block))
        parts.append(tuple(x[rows - take:] for x in block))
        have += take
    width = min(len(p) for p in parts)
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(width))


def verify_property(model: Callable[..., Any], input_shape: tuple[int, ...], prop: Property,
                    *, timeout: float = 60.0, also: Sequence[Runner] = (),
                    intermediate: str = "hybrid", alpha_steps: int = 0,
                    batch: int = 1024, split: str = "auto") -> BabResult:
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
                      batch=batch, split=split)


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
