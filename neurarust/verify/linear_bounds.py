"""Linear bounds (CROWN-style backward linear relaxation) for affine/ReLU graphs.

:func:`extract` reads an :class:`~neurarust.ir.Graph` whose data path is a chain of affine
ops (``matmul`` by a constant, ``add``/``sub``/``mul``/``div`` with constants, reshapes and
permutes) and ``relu`` into an :class:`AffineReLUNet`: layers ``z_k = W_k a_{k-1} + b_k``
with ``a_k = relu(z_k)`` between them (``a_{-1}`` the flattened input, the last ``z`` the
flattened output).

Soundness for the float32 computation that actually runs: every op of the chain rounds, so
the computed ``z_k`` is ``W_k a_{k-1} + b_k + e_k`` with ``|e_k| <= E_k |a_{k-1}| + c_k``,
where ``E_k`` (a nonnegative matrix) and ``c_k`` are accumulated op by op from the standard
bound ``|fl(sum) - sum| <= gamma_n sum |terms|`` (``gamma_n = n u / (1 - n u)``, any
summation order, FMA or not). The relaxation treats ``e_k`` as one more bounded input, so the
bounds hold for the float32 network, not only over the reals; the float64 arithmetic of the
bound computation itself is covered by a relative ``2**-40`` slack on the magnitudes.

:func:`crown_bounds` bounds ``C y`` over input boxes (batched over boxes), computing every
intermediate pre-activation bound by the same backward pass (full CROWN), with the adaptive
lower slope (1 where ``u > -l`` else 0) and the chord as upper relaxation of unstable ReLUs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ..ir.graph import Graph
from ..types.dtype import DType, float32
from ..types.interval import unit_roundoff
from .overflow import masked as _masked
from .overflow import may_overflow
from .overflow import no_claim as _no_claim

__all__ = ["AffineReLUNet", "Bounds", "UnsupportedGraph", "crown_bounds", "extract",
           "ibp_bounds", "lower_bound_with_corner", "may_overflow"]

Array = npt.NDArray[np.float64]

_SLACK = 2.0 ** -40
_TINY = 1e-30  # float32 underflow (denormals flushed to zero) per op, absolute


class UnsupportedGraph(ValueError):
    """The graph is not an affine/ReLU chain the linear relaxation handles."""


@dataclass
class AffineReLUNet:
    """Layers ``(W_k, b_k)`` with ReLU between consecutive layers; ``err_mat[k]`` and
    ``err_const[k]`` bound the float rounding of layer k (``|e_k| <= E_k |a| + c_k``)."""

    weights: list[Array]
    biases: list[Array]
    err_mat: list[Array]
    err_const: list[Array]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    dtype: DType = float32
    #: per layer, ``|v| <= mag_mat[k] |a_{k-1}| + mag_const[k]`` for every float value the
    #: layer computes on the way (rows of all its ops stacked), to rule out overflow; empty
    #: lists: the layer's own result is the only value (``(|W| + E) |a| + |b| + c``)
    mag_mat: list[Array] = field(default_factory=list)
    mag_const: list[Array] = field(default_factory=list)

    @property
    def n_inputs(self) -> int:
        return int(self.weights[0].shape[1])

    @property
    def n_outputs(self) -> int:
        return int(self.weights[-1].shape[0])

    def forward(self, x: Any) -> Array:
        """The real-arithmetic forward (float64) on flat inputs of shape (N, n_inputs)."""
        return self.forward_with_masks(x)[0]

    def forward_with_masks(self, x: Any) -> tuple[Array, list[npt.NDArray[np.bool_]]]:
        """:meth:`forward` and each hidden layer's ReLU mask (N, width) at each point."""
        a = np.asarray(x, dtype=np.float64)
        masks: list[npt.NDArray[np.bool_]] = []
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            a = a @ w.T + b
            if k < len(self.weights) - 1:
                masks.append(a > 0)
                a = np.maximum(a, 0.0)
        return a, masks

    def pull_back(self, g: Array, masks: list[npt.NDArray[np.bool_]]) -> Array:
        """The gradient with respect to the input of ``g . output`` at the points whose ReLU
        ``masks`` are given: ``g`` (N, [m,] n_outputs) -> (N, [m,] n_inputs)."""
        extra = (slice(None),) + (None,) * (g.ndim - 2) + (slice(None),)
        for k in range(len(self.weights) - 1, -1, -1):
            g = g @ self.weights[k]
            if k > 0:
                g = g * masks[k - 1][extra]
        return g


@dataclass
class _Aff:
    """A value as an affine function of the current base (flat): W (n, n_base), b (n), with
    its rounding error bound E (n, n_base) >= 0, c (n) >= 0, and its shape."""

    w: Array
    b: Array
    e: Array
    c: Array
    shape: tuple[int, ...]
    base: int


@dataclass
class _Builder:
    u: float
    layers: list[tuple[Array, Array, Array, Array]] = field(default_factory=list)
    base: int = 0
    mags: list[tuple[Array, Array]] = field(default_factory=list)  # the current layer's
    layer_mags: list[tuple[Array, Array]] = field(default_factory=list)

    def record(self, a: _Aff) -> _Aff:
        """Note the magnitude bound of a value computed in float (for the overflow check)."""
        self.mags.append((np.abs(a.w) + a.e, np.abs(a.b) + a.c))
        return a

    def close_layer(self, n_base: int) -> None:
        if self.mags and len({m[0].shape for m in self.mags}) == 1:
            # same shapes (matmul, then bias): the elementwise maximum bounds every one, as
            # max(A1 a + c1, A2 a + c2) <= max(A1, A2) a + max(c1, c2) for a >= 0
            self.layer_mags.append((np.maximum.reduce([m[0] for m in self.mags]),
                                    np.maximum.reduce([m[1] for m in self.mags])))
        elif self.mags:
            self.layer_mags.append((np.concatenate([m[0] for m in self.mags]),
                                    np.concatenate([m[1] for m in self.mags])))
        else:
            self.layer_mags.append((np.zeros((0, n_base)), np.zeros(0)))
        self.mags = []


def _gamma(n: int, u: float) -> float:
    return n * u / (1 - n * u)


def _round(a: _Aff, u: float, n: int = 1) -> _Aff:
    """Add the rounding of a result computed from n-term sums (bound gamma_n |result|)."""
    g = _gamma(n, u)
    return _Aff(a.w, a.b, a.e + g * (np.abs(a.w) + a.e), a.c + g * (np.abs(a.b) + a.c) + _TINY,
                a.shape, a.base)


def _const(x: Any, shape: tuple[int, ...]) -> Array:
    return np.broadcast_to(np.asarray(x, dtype=np.float64), shape).reshape(-1)


def _bshape(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(s) for s in np.broadcast_shapes(*shapes))


def _rows(a: _Aff, idx: Any, shape: tuple[int, ...]) -> _Aff:
    idx = np.asarray(idx).reshape(-1)
    return _Aff(a.w[idx], a.b[idx], a.e[idx], a.c[idx], shape, a.base)


def _broadcast(a: _Aff, shape: tuple[int, ...]) -> _Aff:
    if a.shape == shape:
        return a
    idx = np.broadcast_to(np.arange(int(np.prod(a.shape))).reshape(a.shape), shape)
    return _rows(a, idx, shape)


def _scale(a: _Aff, s: Any, shape: tuple[int, ...]) -> _Aff:
    a = _broadcast(a, shape)
    s = _const(s, shape)
    return _Aff(a.w * s[:, None], a.b * s, a.e * np.abs(s)[:, None], a.c * np.abs(s), shape,
                a.base)


def extract(graph: Graph) -> AffineReLUNet:
    """The graph as an :class:`AffineReLUNet`; :class:`UnsupportedGraph` names the first op
    (and its source line) outside the affine/ReLU fragment."""
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UnsupportedGraph("linear bounds need one input and one output")
    inp = graph.inputs[0]
    if not all(d.is_constant for d in inp.shape):
        raise UnsupportedGraph(f"input {inp.name} has a symbolic shape {inp.type_str}; "
                               "give concrete sizes (batch 1)")
    in_shape = tuple(d.as_int() for d in inp.shape)
    n0 = int(np.prod(in_shape))
    u = unit_roundoff(inp.dtype) + 2.0 ** -50
    consts: dict[str, Array] = {}
    for cv in graph.constants.values():
        if cv.data is not None:
            consts[cv.name] = np.asarray(cv.data, dtype=np.float64)
    affs: dict[str, _Aff] = {inp.name: _Aff(np.eye(n0), np.zeros(n0), np.zeros((n0, n0)),
                                            np.zeros(n0), in_shape, 0)}
    bld = _Builder(u)

    def unsupported(why: str, node: Any) -> UnsupportedGraph:
        return UnsupportedGraph(f"{node.op} at {node.source}: {why} (linear bounds handle "
                                "chains of affine ops with constants and relu)")

    for node in graph.nodes:
        out_shape_dims = node.output.shape
        if not all(d.is_constant for d in out_shape_dims):
            raise unsupported("symbolic output shape", node)
        oshape = tuple(d.as_int() for d in out_shape_dims)
        args: list[Any] = []
        x: Any
        y: Any
        for inp_x in node.inputs:
            if isinstance(inp_x, str):
                if inp_x in affs:
                    if affs[inp_x].base != bld.base:
                        raise unsupported("uses a value from before a relu (skip connection)",
                                          node)
                    args.append(affs[inp_x])
                elif inp_x in consts:
                    args.append(consts[inp_x])
                else:
                    raise unsupported(f"input {inp_x} has no data", node)
            elif isinstance(inp_x, (int, float)) and not isinstance(inp_x, bool):
                args.append(np.float64(inp_x))
            else:
                args.append(inp_x)
        tensor_args = [a for a in args if isinstance(a, (_Aff, np.ndarray, np.floating))]
        n_aff = sum(isinstance(a, _Aff) for a in args)
        op = node.op
        name = node.output.name
        if n_aff == 0:  # constant folding
            consts[name] = _fold(op, args, node.attrs, oshape, unsupported, node)
            continue
        a0 = args[0]
        if op == "relu" and isinstance(a0, _Aff):
            bld.layers.append((a0.w, a0.b, a0.e, a0.c))
            bld.close_layer(a0.w.shape[1])
            bld.base += 1
            n = int(np.prod(oshape))
            affs[name] = _Aff(np.eye(n), np.zeros(n), np.zeros((n, n)), np.zeros(n), oshape,
                              bld.base)
            continue
        if op in ("reshape", "flatten", "squeeze", "unsqueeze", "view", "contiguous", "clone") \
                and isinstance(a0, _Aff):
            affs[name] = _Aff(a0.w, a0.b, a0.e, a0.c, oshape, a0.base)
            continue
        if op == "permute" and isinstance(a0, _Aff):
            idx = np.arange(int(np.prod(a0.shape))).reshape(a0.shape).transpose(
                node.attrs["dims_order"])
            affs[name] = _rows(a0, idx, oshape)
            continue
        if op in ("add", "sub") and len(tensor_args) == 2:
            alpha = float(node.attrs.get("alpha", 1.0))
            x = args[0]
            y = args[1]
            sign = -alpha if op == "sub" else alpha
            if isinstance(x, _Aff) and isinstance(y, _Aff):
                x, y = _broadcast(x, oshape), _scale(y, np.float64(sign), oshape)
                r = _Aff(x.w + y.w, x.b + y.b, x.e + y.e, x.c + y.c, oshape, x.base)
            elif isinstance(x, _Aff):
                x = _broadcast(x, oshape)
                r = _Aff(x.w, x.b + sign * _const(y, oshape), x.e, x.c, oshape, x.base)
            else:
                yy = _scale(y, np.float64(sign), oshape)
                r = _Aff(yy.w, yy.b + _const(x, oshape), yy.e, yy.c, oshape, yy.base)
            affs[name] = bld.record(_round(r, u, 2 if alpha != 1 else 1))
            continue
        if op == "neg" and isinstance(a0, _Aff):
            affs[name] = _scale(a0, np.float64(-1.0), oshape)
            continue
        if op in ("mul", "div") and len(tensor_args) == 2 and n_aff == 1:
            x, y = (args[0], args[1]) if isinstance(args[0], _Aff) else (args[1], args[0])
            assert isinstance(x, _Aff)
            if op == "div" and not isinstance(args[0], _Aff):
                raise unsupported("division by a value that depends on the input", node)
            s = np.asarray(y, dtype=np.float64)
            if op == "div":
                with np.errstate(divide="ignore"):
                    s = 1.0 / s
                if not np.all(np.isfinite(s)):
                    raise unsupported("division by zero", node)
                affs[name] = bld.record(_round(_scale(x, s, oshape), u, 2))
            else:
                affs[name] = bld.record(_round(_scale(x, s, oshape), u, 1))
            continue
        if op == "matmul" and isinstance(a0, _Aff) and isinstance(args[1], np.ndarray):
            bmat = args[1]
            if bmat.ndim != 2 or len(a0.shape) < 1:
                raise unsupported("matmul by a constant matrix of rank 2 only", node)
            k = bmat.shape[0]
            rows = int(np.prod(a0.shape[:-1]))
            nb = a0.w.shape[1]
            w = np.einsum("rkn,km->rmn", a0.w.reshape(rows, k, nb), bmat).reshape(-1, nb)
            b = (a0.b.reshape(rows, k) @ bmat).reshape(-1)
            ab = np.abs(bmat)
            e = np.einsum("rkn,km->rmn", a0.e.reshape(rows, k, nb), ab).reshape(-1, nb)
            cc = (a0.c.reshape(rows, k) @ ab).reshape(-1)
            absw = np.einsum("rkn,km->rmn", np.abs(a0.w).reshape(rows, k, nb) +
                             a0.e.reshape(rows, k, nb), ab).reshape(-1, nb)
            absb = ((np.abs(a0.b) + a0.c).reshape(rows, k) @ ab).reshape(-1)
            g = _gamma(k + 1, u)
            affs[name] = _Aff(w, b, e + g * absw, cc + g * absb + k * _TINY, oshape, a0.base)
            # every partial sum is below the sum of |terms| (times 1 + gamma)
            bld.mags.append((absw * (1 + g), absb * (1 + g) + k * _TINY))
            continue
        raise unsupported("not an affine op with constants", node)
    out = graph.outputs[0]
    if out in consts:
        raise UnsupportedGraph("the output does not depend on the input")
    last = affs[out]
    if last.base != bld.base:
        raise UnsupportedGraph("the output is not computed from the last relu")
    layers = [*bld.layers, (last.w, last.b, last.e, last.c)]
    bld.close_layer(last.w.shape[1])
    return AffineReLUNet([x[0] for x in layers], [x[1] for x in layers],
                         [x[2] for x in layers], [x[3] for x in layers], in_shape, last.shape,
                         inp.dtype, [m[0] for m in bld.layer_mags],
                         [m[1] for m in bld.layer_mags])


def _fold(op: str, args: list[Any], attrs: dict[str, Any], oshape: tuple[int, ...],
          unsupported: Any, node: Any) -> Array:
    a = np.asarray(args[0], dtype=np.float64)
    if op == "permute":
        return np.transpose(a, attrs["dims_order"])
    if op in ("reshape", "flatten", "squeeze", "unsqueeze", "view", "contiguous", "clone"):
        return a.reshape(oshape)
    raise unsupported("constant subexpression the linear bounds cannot fold", node)


@dataclass
class Bounds:
    """Lower and upper bounds of every pre-activation (per box) and of the output."""

    pre: list[tuple[Array, Array]]


def _mag(lo: Array, hi: Array) -> Array:
    return np.maximum(np.abs(lo), np.abs(hi))


def _eps(net: AffineReLUNet, k: int, amag: Array) -> Array:
    """Per box bound on the float error of layer k, given |a_{k-1}| <= amag (B, n)."""
    e = amag @ net.err_mat[k].T + net.err_const[k]
    return np.asarray(np.nextafter(e * (1 + _SLACK), np.inf), dtype=np.float64)


def _relax(l: Array, u: Array) -> tuple[Array, Array, Array]:
    """Per neuron: the adaptive lower slope (1 where ``u > -l`` else 0 for unstable ReLUs),
    the chord's slope and intercept (upper relaxation ``slope z + inter``)."""
    active = l >= 0
    unstable = (l < 0) & (u > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(unstable, u / (u - l), active.astype(np.float64))
    low_slope = np.where(unstable, (u > -l).astype(np.float64), active.astype(np.float64))
    # The chord through (l, 0) and (u, u), with the intercept taken so that the line lies on
    # or above both end points in exact arithmetic, whatever the rounding of the slope (relu
    # is convex between): each candidate is computed with at most two float64 roundings,
    # each below eps * (|u| + |slope u| + |slope l|) in absolute terms (u - slope u cancels
    # when l is tiny, so one ulp of the result would not do); the slack covers them and
    # nextafter the rounding of the final sum.
    slack = 2 * np.finfo(np.float64).eps * (np.abs(u) + np.abs(slope * u) + np.abs(slope * l))
    chord = np.maximum(-slope * l, u - slope * u) + slack
    inter = np.where(unstable, np.nextafter(chord, np.inf), 0.0)
    return low_slope, slope, inter


def _bmv(a: Array, v: Array) -> Array:
    """``sum_n a[b, m, n] v[b, n]`` (v per box) or ``v[n]`` (shared)."""
    if v.ndim == 1:
        return np.asarray(a @ v, dtype=np.float64)
    return np.asarray(np.matmul(a, v[:, :, None])[:, :, 0], dtype=np.float64)


def _backward(net: AffineReLUNet, a0: Array, j: int, lo: Array, hi: Array,
              pre: list[tuple[Array, Array]], eps: list[Array],
              alpha: list[Array] | None = None, grad: list[Array] | None = None,
              coef_out: list[Array] | None = None) -> Array:
    """Lower bound of ``A z_j`` over the boxes, ``a0`` (B, m, n_j) or (m, n_j).

    ``alpha[k]`` (B, m, n_k), when given, is the lower slope of the unstable ReLUs after
    layer k in place of the adaptive one; it is clipped to [0, 1], where every slope gives a
    sound bound. With ``grad`` (a list) the bound's gradient with respect to each
    ``alpha[k]`` is stored in it (ignoring the tiny float-slack term), for optimising them.
    With ``coef_out`` (a list) the bound's coefficients on the input (B, m, n_in) are
    appended to it."""
    bsz = lo.shape[0]
    a = np.broadcast_to(a0, (bsz, *a0.shape[-2:])) if a0.ndim == 2 else a0
    m = a.shape[1]
    const = np.zeros(a.shape[:2])
    mag = np.zeros(a.shape[:2])  # the sum of |terms|, for the float64 slack
    coef: dict[int, Array] = {}   # coefficients on z_k
    tcoef: dict[int, Array] = {}  # coefficients on relu(z_k)
    used: dict[int, tuple[Array, Array, Array, npt.NDArray[np.bool_]]] = {}
    pos = np.maximum(a, 0.0)
    neg = a - pos
    for k in range(j, -1, -1):
        if grad is not None:
            coef[k] = a
        b = net.biases[k]
        # a z_k >= a (W a_{k-1} + b) - |a| e_k: pos (b - e) + neg (b + e) on the constant
        const = const + _bmv(pos, b - eps[k]) + _bmv(neg, b + eps[k])
        babs = np.abs(b) + eps[k]
        mag = mag + _bmv(pos, babs) - _bmv(neg, babs)
        w = net.weights[k]
        a = (a.reshape(-1, w.shape[0]) @ w).reshape(bsz, m, w.shape[1])
        if k == 0:
            break
        low_slope, slope, inter = _relax(*pre[k - 1])
        unst = (inter > 0)[:, None, :]
        ls = low_slope[:, None, :]
        if alpha is not None:
            ls = np.where(unst, np.clip(alpha[k - 1], 0.0, 1.0), ls)
        if grad is not None:
            tcoef[k - 1] = a
            used[k - 1] = (ls, slope[:, None, :], inter, unst)
        pos = np.maximum(a, 0.0)
        neg = a - pos
        e = _bmv(neg, inter)  # the chord's intercept where the coefficient is < 0
        const = const + e
        mag = mag - e
        a = pos * ls + neg * slope[:, None, :]
        pos = np.maximum(a, 0.0)
        neg = a - pos
    pos = np.maximum(a, 0.0)
    neg = a - pos
    out = _bmv(pos, lo) + _bmv(neg, hi) + const
    xmag = _mag(lo, hi)
    mag = mag + _bmv(pos, xmag) - _bmv(neg, xmag)
    if coef_out is not None:
        coef_out.append(a)
    if grad is not None:
        grad.clear()
        gt = np.where(a > 0, lo[:, None, :], hi[:, None, :])  # d bound / d coefficients on x
        for k in range(j):
            w = net.weights[k]
            ga = (gt.reshape(-1, w.shape[1]) @ w.T).reshape(bsz, m, w.shape[0]) \
                + net.biases[k] - np.sign(coef[k]) * eps[k][:, None, :]
            ls, slope3, inter, unst = used[k]
            t = tcoef[k]
            grad.append(np.where(unst, np.maximum(t, 0.0) * ga, 0.0))
            gt = np.where(t > 0, ls * ga, slope3 * ga + inter[:, None, :])
    return np.asarray(out - mag * _SLACK, dtype=np.float64)


def _intermediate(net: AffineReLUNet, lo: Array, hi: Array, *, crown: bool = True,
                  ) -> tuple[list[tuple[Array, Array]], list[Array]]:
    pre: list[tuple[Array, Array]] = []
    eps: list[Array] = []
    amag = _mag(lo, hi)
    alo, ahi = lo, hi
    for k in range(len(net.weights) - 1):
        eps.append(_eps(net, k, amag))
        w, b = net.weights[k], net.biases[k]
        c, r = (alo + ahi) / 2, (ahi - alo) / 2
        zc = c @ w.T + b
        zr = r @ np.abs(w).T + eps[k]
        zmag = amag @ np.abs(w).T + np.abs(b) + eps[k]
        l_ibp, u_ibp = zc - zr - zmag * _SLACK, zc + zr + zmag * _SLACK
        if crown and k > 0:
            # only neurons unstable under the interval bounds need the backward pass: a
            # stable ReLU is relaxed exactly whatever its bounds
            rows = np.flatnonzero(np.any((l_ibp < 0) & (u_ibp > 0), axis=0))
            if rows.size:
                n, r_ = w.shape[0], rows.size
                eye = np.eye(n)[rows]
                lb = _backward(net, np.concatenate([eye, -eye]), k, lo, hi, pre, eps)
                l_ibp, u_ibp = l_ibp.copy(), u_ibp.copy()
                l_ibp[:, rows] = np.maximum(l_ibp[:, rows], lb[:, :r_])
                u_ibp[:, rows] = np.minimum(u_ibp[:, rows], -lb[:, r_:])
        pre.append((l_ibp, u_ibp))
        alo, ahi = np.maximum(l_ibp, 0.0), np.maximum(u_ibp, 0.0)
        amag = ahi
    eps.append(_eps(net, len(net.weights) - 1, amag))
    return pre, eps


def forward_intermediate(net: AffineReLUNet, lo: Array, hi: Array, *, refine: bool = False,
                         prior: list[tuple[Array, Array]] | None = None,
                         mask: bool = True,
                         ) -> tuple[list[tuple[Array, Array]], list[Array]]:
    """Pre-activation bounds of every hidden layer over boxes (B, n_in), and the per-layer
    float error bounds, by forward linear bounds: each neuron keeps a lower and an upper
    affine function of the input, pushed through ``W`` by sign and through each ReLU by
    its relaxation (the chord above, the adaptive slope below), and is concretised over the
    box; intersected with interval bounds. Much cheaper than backward passes per layer when
    the input is small (ACAS Xu: 5 inputs, 300 neurons), and nearly as tight on small boxes.

    Soundness: the float32 error of each layer enters as in the backward pass; the float64
    arithmetic here is covered by a relative ``_SLACK`` on a magnitude bound ``T`` of every
    term (``T_k = |W_k| 2 T_{k-1} + |b_k| + e_k``: the chord's intercept at most doubles the
    terms of a relaxed neuron).

    With ``refine`` the neurons still unstable after that get a backward (CROWN) pass as
    well, before their relaxation is used further on: full-CROWN tightness, paying the
    backward passes only for the neurons that need them.

    ``prior`` (per layer, (B, n) lower and upper bounds valid on boxes that contain these,
    e.g. the parents' in branch and bound) are intersected in before relaxing: neurons the
    parent proved stable stay stable and need no backward pass.

    Boxes where the float32 network may overflow (:func:`may_overflow`) get -inf/inf bounds
    (unless ``mask`` is false: the caller masks them itself)."""
    bsz, n_in = lo.shape
    nj = n_in + 1
    centre, radius = (lo + hi) / 2, (hi - lo) / 2
    # linear functions as (n, B, n_in + 1): coefficients on x, then the constant
    ident = np.zeros((n_in, bsz, nj))
    ident[np.arange(n_in), :, np.arange(n_in)] = 1.0
    lin_l, lin_u = ident, ident
    alo, ahi = lo, hi
    amag = _mag(lo, hi)
    tmag = amag
    pre: list[tuple[Array, Array]] = []
    eps: list[Array] = []

    def low(f: Array) -> Array:  # (n, B, nj) -> (B, n): the minimum over each box
        co = f[:, :, :n_in]
        v = (co * centre).sum(axis=2) - (np.abs(co) * radius).sum(axis=2) + f[:, :, n_in]
        return np.asarray(v.T, dtype=np.float64)

    for k in range(len(net.weights) - 1):
        w, b = net.weights[k], net.biases[k]
        wa = np.abs(w)
        e = _eps(net, k, amag)
        eps.append(e)
        # W+ fl + W- fu and W+ fu + W- fl, by two products: W (fl + fu)/2 -+ |W| (fu - fl)/2
        fm = ((lin_l + lin_u) * 0.5).reshape(w.shape[1], -1)
        fd = ((lin_u - lin_l) * 0.5).reshape(w.shape[1], -1)
        zm, zd = (w @ fm).reshape(-1, bsz, nj), (wa @ fd).reshape(-1, bsz, nj)
        zl, zu = zm - zd, zm + zd
        zl[:, :, n_in] += b[:, None] - e.T
        zu[:, :, n_in] += b[:, None] + e.T
        tmag = (2 * tmag) @ wa.T + np.abs(b) + e
        l, u = low(zl) - tmag * _SLACK, -low(-zu) + tmag * _SLACK
        c, r = (alo + ahi) / 2, (ahi - alo) / 2
        zc, zr = c @ w.T + b, r @ wa.T + e
        zmag = amag @ wa.T + np.abs(b) + e
        l = np.maximum(l, zc - zr - zmag * _SLACK)
        u = np.minimum(u, zc + zr + zmag * _SLACK)
        if prior is not None:
            l, u = np.maximum(l, prior[k][0]), np.minimum(u, prior[k][1])
        if refine and k > 1:  # at layer 1 the backward pass equals the forward one
            _refine_unstable(net, k, lo, hi, pre, eps, l, u)
        pre.append((l, u))
        low_slope, slope, inter = _relax(l, u)
        lin_l = zl * low_slope.T[:, :, None]
        lin_u = zu * slope.T[:, :, None]
        lin_u[:, :, n_in] += inter.T
        alo, ahi = np.maximum(l, 0.0), np.maximum(u, 0.0)
        amag = ahi
    eps.append(_eps(net, len(net.weights) - 1, amag))
    if mask:
        pre = _masked(pre, may_overflow(net, lo, hi, pre))
    return pre, eps


def _refine_unstable(net: AffineReLUNet, k: int, lo: Array, hi: Array,
                     pre: list[tuple[Array, Array]], eps: list[Array], l: Array, u: Array,
                     ) -> None:
    """Tighten ``l``, ``u`` (B, n) of layer k in place by a backward pass for each box's own
    unstable neurons (padded to the batch's largest count with stable ones, whose bounds
    are valid too): far fewer rows than the union over the batch."""
    unst = (l < 0) & (u > 0)
    r = int(unst.sum(axis=1).max(initial=0))
    if r == 0:
        return
    bsz, n = l.shape
    order = np.argsort(~unst, axis=1, kind="stable")[:, :r]  # unstable neurons first
    a0 = np.zeros((bsz, 2 * r, n))
    bi = np.arange(bsz)[:, None]
    ri = np.arange(r)[None, :]
    a0[bi, ri, order] = 1.0
    a0[bi, ri + r, order] = -1.0
    lb = _backward(net, a0, k, lo, hi, pre, eps)
    np.put_along_axis(l, order, np.maximum(np.take_along_axis(l, order, 1), lb[:, :r]), 1)
    np.put_along_axis(u, order, np.minimum(np.take_along_axis(u, order, 1), -lb[:, r:]), 1)


def ibp_bounds(net: AffineReLUNet, lo: Any, hi: Any) -> tuple[Array, Array]:
    """Interval bounds of the outputs over boxes (B, n_in) (sound for the float dtype)."""
    lo2, hi2 = np.atleast_2d(np.asarray(lo, np.float64)), np.atleast_2d(np.asarray(hi, np.float64))
    pre, eps = _intermediate(net, lo2, hi2, crown=False)
    k = len(net.weights) - 1
    alo, ahi = (lo2, hi2) if k == 0 else (np.maximum(pre[-1][0], 0), np.maximum(pre[-1][1], 0))
    w, b = net.weights[k], net.biases[k]
    c, r = (alo + ahi) / 2, (ahi - alo) / 2
    zmag = _mag(alo, ahi) @ np.abs(w).T + np.abs(b) + eps[k]
    zc, zr = c @ w.T + b, r @ np.abs(w).T + eps[k]
    low, up = zc - zr - zmag * _SLACK, zc + zr + zmag * _SLACK
    _no_claim(may_overflow(net, lo2, hi2, pre), low, up)
    return low, up


def crown_bounds(net: AffineReLUNet, lo: Any, hi: Any, c: Any | None = None,
                 ) -> tuple[Array, Array]:
    """Lower and upper bounds of ``C y`` (``C`` defaults to the identity) over each input box
    (``lo``/``hi`` of shape (B, n_in) or (n_in,)); arrays (B, m). Sound for the float32
    network (see the module docstring)."""
    lo2, hi2 = np.atleast_2d(np.asarray(lo, np.float64)), np.atleast_2d(np.asarray(hi, np.float64))
    cm = np.eye(net.n_outputs) if c is None else np.atleast_2d(np.asarray(c, np.float64))
    pre, eps = _intermediate(net, lo2, hi2)
    j = len(net.weights) - 1
    lb = _backward(net, np.concatenate([cm, -cm]), j, lo2, hi2, pre, eps)
    m = cm.shape[0]
    low, up = lb[:, :m], -lb[:, m:]
    _no_claim(may_overflow(net, lo2, hi2, pre), low, up)
    return low, up


def lower_bound_with_corner(net: AffineReLUNet, lo: Array, hi: Array, c: Array,
                            d: Array | None = None, alpha_steps: int = 0, *,
                            intermediate: str = "crown",
                            prior: list[tuple[Array, Array]] | None = None,
                            pre_out: list[tuple[Array, Array]] | None = None,
                            ) -> tuple[Array, Array, Array]:
    """Lower bounds of ``C y`` (B, m), the input-space linear coefficients of the bound
    (B, m, n_in) (to choose a split dimension) and the corner minimising each bound
    (B, m, n_in) (a counterexample candidate).

    With ``alpha_steps`` the lower slopes of the unstable ReLUs are optimised (alpha-CROWN
    on the final bound, intermediate bounds kept) by that many projected sign-gradient
    steps, for the boxes where no row's bound exceeds ``d`` yet; every step's slopes lie in
    [0, 1], so every bound is sound and the best one per row is kept.

    ``intermediate`` picks the hidden-layer bounds (see :func:`forward_intermediate`;
    "crown": a backward pass for every layer); ``prior`` bounds (forward modes only) are
    intersected in; ``pre_out`` (a list) receives the hidden-layer bounds used."""
    if intermediate in ("forward", "hybrid"):
        pre, eps = forward_intermediate(net, lo, hi, refine=intermediate == "hybrid",
                                        prior=prior, mask=False)
    else:
        pre, eps = _intermediate(net, lo, hi)
    bad = may_overflow(net, lo, hi, pre)
    if pre_out is not None:
        pre_out.extend(_masked(pre, bad))
    j = len(net.weights) - 1
    coefs: list[Array] = []
    lb = _backward(net, c, j, lo, hi, pre, eps, coef_out=coefs)
    coef = coefs[0]
    corner = np.where(coef > 0, lo[:, None, :], hi[:, None, :])
    if alpha_steps > 0 and j > 0:
        open_ = np.ones(lo.shape[0], bool) if d is None else ~np.any(lb > d, axis=1)
        idx = np.flatnonzero(open_)
        if idx.size:
            lb[idx] = _optimise_alpha(net, c, j, lo[idx], hi[idx],
                                      [(p[0][idx], p[1][idx]) for p in pre],
                                      [e[idx] for e in eps], lb[idx], alpha_steps)
    _no_claim(bad, lb)
    return lb, coef, corner


def _optimise_alpha(net: AffineReLUNet, c: Array, j: int, lo: Array, hi: Array,
                    pre: list[tuple[Array, Array]], eps: list[Array], best: Array,
                    steps: int) -> Array:
    bsz, m = lo.shape[0], c.shape[0]
    alpha = [np.broadcast_to(_relax(*p)[0][:, None, :], (bsz, m, p[0].shape[1])).copy()
             for p in pre]
    lr = 0.5
    for _ in range(steps):
        grad: list[Array] = []
        best = np.maximum(best, _backward(net, c, j, lo, hi, pre, eps, alpha, grad))
        alpha = [np.clip(al + lr * np.sign(g), 0.0, 1.0) for al, g in zip(alpha, grad)]
        lr *= 0.7
    return np.maximum(best, _backward(net, c, j, lo, hi, pre, eps, alpha))
