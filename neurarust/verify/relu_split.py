"""Complete verification by branch and bound on ReLU phases, with LP leaves.

For networks with many inputs, where splitting the input box does not scale. A sub-problem is
the input box with a set of fixed neuron phases (active: the float32 pre-activation is >= 0,
inactive: <= 0); the two children of a split cover its parent, so proving every leaf proves the
box. Phases are read as bounds: an active neuron's lower bound is clipped at 0 (its ReLU is the
identity), an inactive one's upper bound at 0 (its ReLU is 0); the linear relaxation of
:mod:`.linear_bounds` (forward bounds, backward CROWN for the neurons still unstable, the
parent's bounds intersected in) then bounds the property's rows on the sub-problem. Bounds that
cross (lower > upper) show the phases contradict each other: the sub-problem is empty.

An open sub-problem with few unstable neurons gets an LP (scipy's HiGHS) per case: variables
``x`` (the box), ``z_k``, ``a_k`` per hidden layer and ``y``; ``z_k = W_k a_{k-1} + b_k + e_k``
with the float32 rounding ``|e_k| <= eps_k`` of :mod:`.linear_bounds` (the same bounds), a
fixed or stable neuron's ReLU exactly, an unstable one's by its triangle, and the case's rows
``C y <= d``. The LP minimises a slack ``t`` added to every inequality: the case is impossible
on the sub-problem when the minimum is > 0.

Soundness under float32 and the solver's tolerances: the LP's coefficients are the network's
weights themselves and its right-hand sides are rounded outward, so every float32 run inside
the sub-problem is a point of the LP. A 'safe' decision never trusts the solver's optimum:
it is the bound of weak duality, ``min_v (c + A^T lam)^T v - lam^T b`` over the variable box
for the solver's multipliers ``lam`` (clipped to >= 0), which is a lower bound on ``t`` for any
``lam``, evaluated in float64 less a relative ``2**-40`` of the magnitudes it sums (so no margin
in the solver's tolerance, ~1e-7, is needed: inexact multipliers only weaken the bound). With
every phase fixed the LP is the network itself up to rounding: its minimiser is a candidate,
confirmed by running the network in float32; when that fails the sub-problem is unsafe by less
than the rounding and the answer is 'unknown'.

Branching: the unstable neuron with the largest ``|coefficient| * u (-l) / (u - l)`` (the
coefficient on its ReLU in the backward bound of the row closest to being proven; the fraction
is the triangle's height), in the spirit of BaBSR.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .bab import BabResult, Runner, _confirm, _pop
from .falsify import margins
from .linear_bounds import _SLACK, AffineReLUNet, _eps, _relax, lower_bound_with_corner
from .vnnlib import Case

__all__ = ["ReluSplitSearch", "lp_case_bound"]

Array = npt.NDArray[np.float64]
Index = npt.NDArray[Any]

#: an open sub-problem gets an LP when at most this many of its neurons are unstable
LP_UNSTABLE: int = 24
#: a step stops starting LPs after this many seconds (the rest wait on the stack)
_STEP_SECONDS: float = 0.5


class ReluSplitSearch:
    """ReLU-split branch and bound over one input box, for the cases (output conjunctions)
    that share it, depth first; the same interface as the input-split search of :mod:`.bab`
    (:meth:`step`, ``stack``, ``count``)."""

    def __init__(self, net: AffineReLUNet, runners: Sequence[Runner], cases: list[Case],
                 batch: int, intermediate: str, alpha_steps: int,
                 lp_unstable: int = LP_UNSTABLE, tighten: bool = False) -> None:
        self.net, self.runners, self.cases = net, runners, cases
        self.batch, self.alpha_steps, self.lp_unstable = batch, alpha_steps, lp_unstable
        self.tighten = tighten
        # phases enter as prior bounds, which only the forward modes intersect in
        self.intermediate = "hybrid" if intermediate == "crown" else intermediate
        self.c = np.concatenate([k.c for k in cases])
        self.d = np.concatenate([k.d for k in cases])
        self.owner = np.concatenate([np.full(len(k.d), i) for i, k in enumerate(cases)])
        self.lo = cases[0].lo.astype(np.float64)
        self.hi = cases[0].hi.astype(np.float64)
        self.sizes = [len(b) for b in net.biases[:-1]]
        h = sum(self.sizes)
        # sub-problems: phases (+1 active, -1 inactive, 0 free), the parent's bounds of every
        # hidden neuron (all layers side by side), valid on the sub-problem
        self.stack: list[tuple[Array, ...]] = [(np.zeros((1, h)), np.full((1, h), -np.inf),
                                                np.full((1, h), np.inf))]
        self.count = 0
        self.lps = 0
        self.size = min(batch, 16)

    def step(self) -> BabResult | None:
        """One batch of sub-problems: a checked 'violated' result, an 'unknown' one, or None
        (the box is proven when the stack is empty)."""
        net, c, d = self.net, self.c, self.d
        phase, pl, pu = _pop(self.stack, self.size)
        bsz = len(phase)
        self.count += bsz
        lo, hi = np.repeat(self.lo[None], bsz, 0), np.repeat(self.hi[None], bsz, 0)
        pl = np.where(phase > 0, np.maximum(pl, 0.0), pl)
        pu = np.where(phase < 0, np.minimum(pu, 0.0), pu)
        cuts = np.cumsum(self.sizes)[:-1]
        prior = list(zip(np.split(pl, cuts, axis=1), np.split(pu, cuts, axis=1)))
        pre: list[tuple[Array, Array]] = []
        t0 = time.perf_counter()
        lb, _, corner = lower_bound_with_corner(net, lo, hi, c, d, self.alpha_steps,
                                                intermediate=self.intermediate, prior=prior,
                                                pre_out=pre)
        # the float32 rounding bounds of each layer, as the bounds used them (from the
        # magnitudes the phases allow)
        mags = [np.maximum(np.abs(lo), np.abs(hi))] + [np.maximum(p[1], 0.0) for p in pre]
        eps_out = [_eps(net, k, m) for k, m in enumerate(mags)]
        low = np.concatenate([p[0] for p in pre] or [np.zeros((bsz, 0))], axis=1)
        up = np.concatenate([p[1] for p in pre] or [np.zeros((bsz, 0))], axis=1)
        gap = lb - d
        refuted = np.stack([np.max(gap[:, self.owner == i], axis=1) > 0
                            for i in range(len(self.cases))], axis=1)  # (B, cases)
        refuted |= np.any(low > up, axis=1)[:, None]  # contradictory phases: empty
        # bounds masked where float32 may overflow: hidden ones +-inf, the rows' -inf (the
        # only sign for a network without hidden layers)
        overflow = (~np.all(np.isfinite(low) & np.isfinite(up), axis=1)
                    | np.any(np.isneginf(lb), axis=1)) & ~np.all(refuted, 1)
        if np.any(overflow):  # no bound holds there (see linear_bounds.may_overflow)
            return BabResult("unknown", reason="the float32 network may overflow on the box "
                             "(or a sub-problem of it): no bound holds there")
        unstable = (low < 0) & (up > 0)
        n_unst = unstable.sum(axis=1)
        children: list[int] = []
        later: list[int] = []  # open sub-problems left for the next step (time is up)
        for n_done, b in enumerate(np.flatnonzero(~np.all(refuted, axis=1))):
            if n_done > 0 and time.perf_counter() - t0 > _STEP_SECONDS:
                later.append(int(b))
                continue
            found = self._candidates(int(b), corner, gap)
            if found is not None:
                return found
            if n_unst[b] <= self.lp_unstable:
                eps_b = [e[b] for e in eps_out]
                if self.tighten:
                    self.lps += 2 * int(unstable[b, self.sizes[0]:].sum())
                    low[b], up[b] = tighten_bounds(net, self.lo, self.hi, low[b], up[b],
                                                   eps_b, cuts)
                    unstable[b] = (low[b] < 0) & (up[b] > 0)
                    n_unst[b] = unstable[b].sum()
                for i in np.flatnonzero(~refuted[b]):
                    self.lps += 1
                    bound, x = lp_case_bound(net, self.lo, self.hi, low[b], up[b], eps_b,
                                             self.cases[i], cuts)
                    if bound > 0:
                        refuted[b, i] = True
                    elif x is not None:
                        found = _confirm(self.runners, self.cases[i], x[None])
                        if found is not None:
                            return found
                if np.all(refuted[b]):
                    continue
                if n_unst[b] == 0:
                    return BabResult("unknown", reason="a sub-problem with every ReLU phase "
                                     "fixed is unsafe by less than the float32 rounding, and "
                                     "its LP minimiser is not unsafe when run")
            children.append(int(b))
        spent = time.perf_counter() - t0  # bounds and LPs: a step stays short (deadlines)
        if spent < 0.2 and bsz == self.size:
            self.size = min(self.batch, 2 * self.size)
        elif spent > 0.8:
            self.size = max(1, self.size // 2)
        if later:
            keep = np.asarray(later)
            self.stack.append((phase[keep], low[keep], up[keep]))
        if not children:
            return None
        sel = np.asarray(children)
        hard = np.argmin(np.stack([np.max(gap[sel][:, self.owner == i], axis=1)
                                   for i in range(len(self.cases))], axis=1), axis=1)
        rows = np.array([np.flatnonzero(self.owner == h_)[np.argmax(
            gap[s, self.owner == h_])] for s, h_ in zip(sel, hard)])
        score = _branch_scores(net, [(p[0][sel], p[1][sel]) for p in pre], c[rows])
        score = np.where(unstable[sel], score, -np.inf)
        idx = np.argmax(score, axis=1)
        ar = np.arange(len(sel))
        on, off = phase[sel].copy(), phase[sel].copy()
        on[ar, idx], off[ar, idx] = 1.0, -1.0
        self.stack.append((np.concatenate([on, off]), np.concatenate([low[sel], low[sel]]),
                           np.concatenate([up[sel], up[sel]])))
        return None

    def _candidates(self, b: int, corner: Array, gap: Array) -> BabResult | None:
        """The sub-problem's bound-minimising corners (points of the whole box) as
        counterexample candidates: run in float64 first, only those that look unsafe for real."""
        for i, case in enumerate(self.cases):
            rows = np.flatnonzero(self.owner == i)
            cands = corner[b, rows]
            hit = margins(self.net, cands, case.c, case.d) <= 0
            found = _confirm(self.runners, case, cands[hit])
            if found is not None:
                return found
        return None


def _branch_scores(net: AffineReLUNet, pre: list[tuple[Array, Array]], rows: Array) -> Array:
    """Per sub-problem (B) and hidden neuron (all layers side by side): ``|coefficient| *
    u (-l) / (u - l)``, the coefficient on the neuron's ReLU in the backward relaxation of
    the sub-problem's row ``rows[b]`` (B, n_out)."""
    lam = rows
    out: list[Array] = []
    for k in range(len(net.weights) - 1, 0, -1):
        a = lam @ net.weights[k]  # (B, n_{k-1}): coefficients on relu(z_{k-1})
        l, u = pre[k - 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            height = np.where((l < 0) & (u > 0), u * -l / (u - l), 0.0)
        out.append(np.abs(a) * height)
        low_slope, slope, _ = _relax(l, u)
        lam = np.maximum(a, 0.0) * low_slope + np.minimum(a, 0.0) * slope
    return np.concatenate(out[::-1], axis=1)


@dataclass
class _NodeLP:
    """The LP of one sub-problem: rows ``A v <= b`` (each with ``-t``), variable bounds, and
    where ``x``, each hidden layer's ``z`` (then ``a``), ``y`` and ``t`` sit in ``v``."""

    ri: list[Index]
    ci: list[Index]
    vals: list[Array]
    rhs: list[Array]
    vl: Array
    vh: Array
    z_at: list[int]
    y_at: int
    t_at: int
    nrow: int = 0
    hard: list[tuple[int, int]] = field(default_factory=list)  # row ranges without ``- t``

    def add(self, cols: list[tuple[Index, Array]], b: Array, slack: bool = True) -> None:
        """Rows ``sum coef * v[col] - t <= b`` (without ``- t`` unless ``slack``), one per
        entry of ``b``; cols (n, p) each."""
        if not slack:
            self.hard.append((self.nrow, self.nrow + len(b)))
        n = len(b)
        r = np.arange(self.nrow, self.nrow + n)
        for col, coef in cols:
            self.ri.append(np.broadcast_to(r[:, None], col.shape).reshape(-1))
            self.ci.append(col.reshape(-1))
            self.vals.append(coef.reshape(-1))
        self.ri.append(r)
        self.ci.append(np.full(n, self.t_at))
        self.vals.append(np.full(n, -1.0))
        self.rhs.append(b)
        self.nrow += n

    def minimise(self, obj: Array, vl: Array, vh: Array) -> tuple[float, Array | None]:
        """A certified lower bound on ``obj . v`` over the LP with variable bounds
        ``vl``/``vh`` (-inf when the solver fails), and the solver's minimiser."""
        from scipy.optimize import linprog  # type: ignore[import-untyped]
        from scipy.sparse import coo_matrix  # type: ignore[import-untyped]

        vals = np.concatenate(self.vals)
        rows, cols = np.concatenate(self.ri), np.concatenate(self.ci)
        for a, b in self.hard:
            vals = np.where((cols == self.t_at) & (rows >= a) & (rows < b), 0.0, vals)
        a_mat = coo_matrix((vals, (rows, cols)), shape=(self.nrow, len(vl))).tocsr()
        b_ub = np.concatenate(self.rhs)
        res = linprog(obj, A_ub=a_mat, b_ub=b_ub, bounds=np.stack([vl, vh], axis=1),
                      method="highs")
        if res.status != 0 or res.ineqlin is None:
            return -np.inf, None
        lam = np.maximum(-np.asarray(res.ineqlin.marginals, dtype=np.float64), 0.0)
        return _dual_bound(obj, a_mat, b_ub, lam, vl, vh), np.asarray(res.x, np.float64)


def _node_lp(net: AffineReLUNet, lo: Array, hi: Array, ls: list[Array], us: list[Array],
             eps: list[Array]) -> _NodeLP:
    """The LP relaxation of the float32 network on a sub-problem (hidden bounds ``ls``/``us``
    per layer, valid on it): exact rows for stable neurons, triangles for unstable ones."""
    n_in, n_out = net.n_inputs, net.n_outputs
    z_at, vlo, vhi = [], [lo], [hi]
    pos = n_in
    for l, u in zip(ls, us):
        z_at.append(pos)
        vlo += [l, np.maximum(l, 0.0)]
        vhi += [u, np.maximum(u, 0.0)]
        pos += 2 * len(l)
    ylo, yhi = _output_interval(net, ls[-1] if ls else lo, us[-1] if us else hi, eps[-1],
                                hidden=bool(ls))
    vlo += [ylo, np.array([-1.0])]
    vhi += [yhi, np.array([1.0])]  # any t range containing 0 keeps the bounds valid
    lp = _NodeLP([], [], [], [], np.concatenate(vlo), np.concatenate(vhi), z_at, pos,
                 pos + n_out)
    prev = np.arange(n_in)
    for k, (w, bias) in enumerate(zip(net.weights, net.biases)):
        n = w.shape[0]
        out = np.arange(z_at[k], z_at[k] + n) if k < len(z_at) else np.arange(pos, pos + n)
        pcol = np.broadcast_to(prev[None, :], w.shape)
        upper = np.nextafter(bias + eps[k], np.inf)
        lower = np.nextafter(bias - eps[k], -np.inf)
        one = np.ones((n, 1))
        lp.add([(out[:, None], one), (pcol, -w)], upper)       # z - W a <= b + eps
        lp.add([(out[:, None], -one), (pcol, w)], -lower)      # W a - z <= -(b - eps)
        if k == len(z_at):
            break
        l, u = ls[k], us[k]
        zc, ac = out, out + n
        act, unst = l >= 0, (l < 0) & (u > 0)
        rows_za = np.flatnonzero(act | unst)                   # a >= z
        lp.add([(zc[rows_za, None], one[rows_za]), (ac[rows_za, None], -one[rows_za])],
               np.zeros(len(rows_za)))
        rows_a = np.flatnonzero(act)                           # a <= z
        lp.add([(ac[rows_a, None], one[rows_a]), (zc[rows_a, None], -one[rows_a])],
               np.zeros(len(rows_a)))
        _, slope, inter = _relax(l, u)
        rows_u = np.flatnonzero(unst)                          # a <= slope z + inter
        lp.add([(ac[rows_u, None], one[rows_u]), (zc[rows_u, None], -slope[rows_u, None])],
               inter[rows_u])
        # inactive neurons: a in [0, max(u, 0)] = [0, 0] through the variable bounds
        prev = ac
    return lp


def tighten_bounds(net: AffineReLUNet, lo: Array, hi: Array, low: Array, up: Array,
                   eps: list[Array], cuts: Any) -> tuple[Array, Array]:
    """``low``/``up`` (flat) with the unstable neurons after the first hidden layer tightened
    by the LP (min and max of each ``z``, certified by duality); valid where the inputs were."""
    ls, us = _layers(net, low, cuts), _layers(net, up, cuts)
    if len(ls) < 2 or np.any(low > up):
        return low, up
    lp = _node_lp(net, lo, hi, ls, us, eps)
    vl, vh = lp.vl.copy(), lp.vh.copy()
    vl[lp.t_at] = vh[lp.t_at] = 0.0  # the exact relaxation: no slack
    low, up = low.copy(), up.copy()
    start = len(ls[0])
    for k in range(1, len(ls)):
        for j in np.flatnonzero((ls[k] < 0) & (us[k] > 0)):
            col = lp.z_at[k] + j
            for sign in (1.0, -1.0):
                obj = np.zeros(len(vl))
                obj[col] = sign
                bound, _ = lp.minimise(obj, vl, vh)
                if sign > 0:
                    low[start + j] = max(low[start + j], bound)
                else:
                    up[start + j] = min(up[start + j], -bound)
        start += len(ls[k])
    return low, up


def _layers(net: AffineReLUNet, flat: Array, cuts: Any) -> list[Array]:
    """Hidden-neuron values (all layers side by side) split per hidden layer; none for a
    network without hidden layers."""
    return list(np.split(flat, cuts)) if len(net.weights) > 1 else []


def lp_case_bound(net: AffineReLUNet, lo: Array, hi: Array, low: Array, up: Array,
                  eps: list[Array], case: Case, cuts: Any) -> tuple[float, Array | None]:
    """A certified lower bound on the LP's slack ``t`` (> 0: no float32 run in the box with
    the hidden bounds ``low``/``up`` (flat, valid on the sub-problem) meets the case) and the
    LP's minimising input (None when the solver failed)."""
    if np.any(low > up):
        return np.inf, None
    lp = _node_lp(net, lo, hi, _layers(net, low, cuts), _layers(net, up, cuts), eps)
    ycol = np.broadcast_to(np.arange(lp.y_at, lp.y_at + net.n_outputs)[None, :], case.c.shape)
    lp.add([(ycol, case.c)], case.d)                           # C y <= d
    obj = np.zeros(len(lp.vl))
    obj[lp.t_at] = 1.0
    bound, v = lp.minimise(obj, lp.vl, lp.vh)
    if bound > 0:
        return bound, None
    # a candidate: the point of the relaxation deepest in the unsafe region (the slack on
    # the property's rows only; with every phase fixed, the network's own minimiser), not
    # the feasibility LP's, which may sit on the region's edge
    lp.hard = [(0, lp.nrow - len(case.d))]
    vl, vh = lp.vl.copy(), lp.vh.copy()
    vl[lp.t_at], vh[lp.t_at] = -np.inf, np.inf
    _, deep = lp.minimise(obj, vl, vh)
    v = deep if deep is not None else v
    return bound, None if v is None else v[:net.n_inputs]


def _output_interval(net: AffineReLUNet, l: Array, u: Array, eps: Array, *, hidden: bool,
                     ) -> tuple[Array, Array]:
    """Interval bounds on the float32 output ``y`` given the last hidden pre-activation
    bounds (or the input box when there is no hidden layer), widened for float64 rounding."""
    alo, ahi = (np.maximum(l, 0.0), np.maximum(u, 0.0)) if hidden else (l, u)
    w, b = net.weights[-1], net.biases[-1]
    c, r = (alo + ahi) / 2, (ahi - alo) / 2
    mag = np.maximum(np.abs(alo), np.abs(ahi)) @ np.abs(w).T + np.abs(b) + eps
    yc, yr = w @ c + b, np.abs(w) @ r + eps
    return yc - yr - mag * _SLACK - 1e-300, yc + yr + mag * _SLACK + 1e-300


def _dual_bound(obj: Array, a_mat: Any, b_ub: Array, lam: Array, vl: Array, vh: Array,
                ) -> float:
    """Weak duality: for ``lam >= 0`` and every ``v`` in ``[vl, vh]`` with ``A v <= b``,
    ``obj.v >= (obj + A^T lam).v - lam.b >= sum_j min(r_j vl_j, r_j vh_j) - lam.b``; in
    float64 less ``gamma_n`` (n: the longest sum, rows plus variables) of the summed
    magnitudes, at least ``2**-40`` of them."""
    r = obj + a_mat.T @ lam
    rabs = np.abs(obj) + abs(a_mat).T @ lam
    vmag = np.maximum(np.abs(vl), np.abs(vh))
    with np.errstate(invalid="ignore"):
        terms = np.minimum(r * vl, r * vh)
    terms = np.where(r == 0, 0.0, terms)
    bound = float(terms.sum() - lam @ b_ub)
    mag = float(rabs @ vmag + lam @ np.abs(b_ub))
    if not np.isfinite(bound) or not np.isfinite(mag):
        return -np.inf
    n = a_mat.shape[0] + a_mat.shape[1] + 2
    g = n * 2.0 ** -53 / (1 - n * 2.0 ** -53)
    return float(bound - 2 * mag * max(g, _SLACK))
