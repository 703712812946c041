"""The soundness fuzzer of the numeric verifier: random graphs, random boxes, and an attack
on every claim.

A *claim* is what a numeric report asserts about its output: for each output element its
lower bound and its upper bound (every value the float32 or float16 model computes from an
input in the box lies inside), and that it is never NaN. A proven report makes all three; a
report whose only hazards are overflows makes them too (an infinity further down meets a rule
that knows it: NaN needs a hazard of its own). :func:`run` builds random graphs of
1 to 4 steps over the ops that have a range rule (the steps come from :data:`RECIPES`, and
coverage is measured on the ops the traced graphs really contain, enumerated from the op
registry, so an op added with a rule and no recipe is listed as not generated), random input
boxes (moderate, wide, huge near the largest finite value, tiny, subnormal, infinite
endpoints, degenerate ``lo == hi``; per element or per tensor over a symbolic batch), in
float32 or float16, runs :func:`~neurarust.verify.numeric.verify_ranges` (with ``exact`` z3
tightening on some), and tries to break each claim of a proven report on the real model, run
by the eager kernels: box corners, special values (0, subnormals, endpoints), dense random
samples, and projected-gradient steps toward the bounds. A value outside a proven bound, or a
NaN where no hazard was reported, is a :class:`Broken` with a reproducer (the op chain, the
box, the input, the element).

``bench/soundness.py`` runs it at scale; ``tests/verify/test_soundness.py`` runs a seeded
miniature in CI.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import neurarust as nr
import neurarust.nn.functional as F

from ..ops.registry import all_ops
from ..trace.tracer import TraceError
from ..types.errors import RuleViolation, UndecidedShape
from .numeric import verify_ranges

__all__ = ["NOT_TRACEABLE", "RECIPES", "Broken", "Campaign", "coverage", "replay", "rule_ops",
           "run"]

Tensor = Any
Recipe = Callable[[Tensor, np.random.Generator], Tensor]
REFUSED = (TraceError, RuleViolation, UndecidedShape, TypeError, ValueError, IndexError)
"""What tracing a random step may raise (a shape or dtype the op's rules refuse): the draw is
skipped and counted, never a claim."""
NO_GRADIENT = (RuntimeError, TypeError, ValueError, NotImplementedError)
"""What a backward through a step without a gradient raises: no projected-gradient search."""
_SYMBOLIC = [False]
"""Whether the graph being built has a symbolic batch (recipes that need a concrete one step
aside; decided per graph, never from the value, so the eager run computes the traced graph)."""
C = 6
"""Every step maps a ``[R, 6]`` value to a ``[R, 6]`` value, so steps chain freely."""


def rule_ops() -> set[str]:
    """Every registered op that has a range rule (what the fuzzer must cover)."""
    return {name for name, op in all_ops().items() if op.range_rule is not None}


# -- the steps -------------------------------------------------------------------------------
def _fit(y: Tensor, x: Tensor) -> Tensor:
    """``y`` back to ``x``'s shape ``[R, 6]`` and dtype (narrow, expand or tile; cast)."""
    r = x.shape[0]
    if y.dtype != x.dtype:
        y = y.to(x.dtype)
    if y.ndim == 0:
        y = y.reshape(1, 1)
    if y.ndim == 1:
        y = y.unsqueeze(1) if y.shape[0] == r else y.unsqueeze(0)
    if y.ndim > 2:
        y = y.flatten(1)
    c = int(y.shape[1])
    if c == 1 or y.shape[0] != r:
        return y.expand(r, C) if y.shape[0] in (1, r) and c == 1 else _fit(y.sum(), x)
    if c < C:
        y = nr.cat([y] * (C // c + 1), 1)
    return nr.narrow(y, 1, 0, C) if int(y.shape[1]) > C else y


def _w(rng: np.random.Generator, *shape: int, dtype: Any, zero: bool = True) -> Tensor:
    """A constant weight: normal values, some exact zeros (0 * inf) and some large ones."""
    a = rng.standard_normal(shape) * (10.0 ** rng.integers(-2, 3))
    if zero:
        a[rng.random(shape) < 0.15] = 0.0
    return nr.tensor(a.astype(np.float32)).to(dtype)


def _unary(name: str) -> Recipe:
    def f(x: Tensor, rng: np.random.Generator) -> Tensor:
        fn = getattr(nr, name, None) or getattr(F, name)
        return _fit(fn(x), x)
    return f


def _binary(name: str) -> Recipe:
    def f(x: Tensor, rng: np.random.Generator) -> Tensor:
        fn = getattr(nr, name)
        k = rng.integers(3)
        other = x if k == 0 else (_w(rng, C, dtype=x.dtype) if k == 1 else
                                  float(rng.choice([0.0, 0.5, -2.0, 3.0, 1e-3])))
        if name in ("remainder", "div") and k == 2 and other == 0.0:
            other = 2.0
        return _fit(fn(x, other) if rng.random() < 0.7 or k == 2 else fn(other, x), x)
    return f


def _reduce(name: str, **kw: Any) -> Recipe:
    def f(x: Tensor, rng: np.random.Generator) -> Tensor:
        fn = getattr(x, name)
        dims = [1, None, (0, 1)][int(rng.integers(3))] if name not in (
            "max", "min", "cumsum", "logsumexp", "argmax", "argmin") else 1
        if dims is None:
            y = fn(**kw)
        else:
            y = fn(dims, **kw)
        if isinstance(y, tuple):
            y = y[int(rng.integers(2))]
        return _fit(y, x)
    return f


def _matmul(x: Tensor, rng: np.random.Generator) -> Tensor:
    k = rng.integers(4)
    if k == 0:
        return _fit(x @ _w(rng, C, 5, dtype=x.dtype), x)
    if k == 1:
        return _fit(nr.mm(x, _w(rng, C, 4, dtype=x.dtype)), x)
    if k == 2:
        a = x.reshape(x.shape[0], 2, 3)
        return _fit(nr.bmm(a, _w(rng, 1, 3, 3, dtype=x.dtype).expand(x.shape[0], 3, 3)), x)
    return _fit(x @ x.permute(1, 0) if rng.random() < 0.5 else
                x.unsqueeze(2) @ x.unsqueeze(1), x)


def _vec(x: Tensor, rng: np.random.Generator) -> Tensor:
    row = x[0]
    if rng.random() < 0.5:
        return _fit(nr.dot(row, _w(rng, C, dtype=x.dtype) if rng.random() < 0.5 else row), x)
    return _fit(nr.outer(row, _w(rng, 3, dtype=x.dtype)), x)


def _einsum(x: Tensor, rng: np.random.Generator) -> Tensor:
    eq = ["ij,jk->ik", "ij,ij->i", "ij,kj->ik"][int(rng.integers(3))]
    w = _w(rng, C, 4, dtype=x.dtype) if eq == "ij,jk->ik" else (
        _w(rng, 1, C, dtype=x.dtype).expand(x.shape[0], C) if eq == "ij,ij->i" else
        _w(rng, 3, C, dtype=x.dtype))
    return _fit(nr.einsum(eq, x, w), x)


def _conv(x: Tensor, rng: np.random.Generator) -> Tensor:
    k = rng.integers(4)
    r = x.shape[0]
    if k == 0:
        y = F.conv2d(x.reshape(r, 1, 2, 3), _w(rng, 2, 1, 2, 2, dtype=x.dtype),
                     _w(rng, 2, dtype=x.dtype, zero=False), padding=int(rng.integers(2)))
    elif k == 1:
        y = F.conv1d(x.reshape(r, 2, 3), _w(rng, 3, 2, 2, dtype=x.dtype),
                     stride=int(rng.integers(1, 3)))
    elif k == 2:
        y = F.conv_transpose2d(x.reshape(r, 1, 2, 3), _w(rng, 1, 2, 2, 2, dtype=x.dtype))
    else:
        y = F.conv_transpose1d(x.reshape(r, 2, 3), _w(rng, 2, 1, 2, dtype=x.dtype),
                               _w(rng, 1, dtype=x.dtype))
    return _fit(y, x)


def _pool(x: Tensor, rng: np.random.Generator) -> Tensor:
    k = int(rng.integers(8))
    r = x.shape[0]
    x4, x3 = x.reshape(r, 1, 2, 3), x.reshape(r, 2, 3)
    ys: list[Callable[[], Tensor]] = [lambda: F.max_pool2d(x4, 2, stride=1),
          lambda: F.avg_pool2d(x4, 2, stride=1),
          lambda: F.max_pool1d(x3, 2),
          lambda: F.avg_pool1d(x3, 2, stride=1),
          lambda: F.adaptive_avg_pool2d(x4, (1, 2)),
          lambda: F.adaptive_avg_pool1d(x3, 2),
          lambda: F.max_pool2d(x4, 2, stride=1, return_indices=True)[int(rng.integers(2))],
          lambda: F.max_pool1d(x3, 2, return_indices=True)[int(rng.integers(2))]]
    return _fit(ys[k](), x)


def _softmax(x: Tensor, rng: np.random.Generator) -> Tensor:
    k = int(rng.integers(6))
    if k == 0:
        return F.log_softmax(x, 1)
    if k == 1:
        return F.softmax(x, 1)
    if k == 2:
        return F.layer_norm(x, (C,))
    if k == 3:
        return _fit(F.nll_loss(F.log_softmax(x, 1), nr.tensor(
            rng.integers(0, C, size=int(x.shape[0]))), reduction=str(rng.choice(
                ["mean", "sum", "none"]))), x) if not _SYMBOLIC[0] else x
    if k == 4:
        return F.group_norm(x.reshape(x.shape[0], 2, 3), 2).flatten(1)
    return F.rms_norm(x, (C,)) if hasattr(F, "rms_norm") else x


def _logic(x: Tensor, rng: np.random.Generator) -> Tensor:
    a, b = x > 0, x < _w(rng, C, dtype=x.dtype)
    ops: list[Callable[[], Tensor]] = [lambda: nr.logical_and(a, b), lambda: nr.logical_or(a, b),
           lambda: nr.logical_xor(a, b), lambda: nr.logical_not(a),
           lambda: nr.bitwise_and(a, b), lambda: nr.bitwise_or(a, b),
           lambda: nr.bitwise_xor(a, b), lambda: nr.bitwise_not(a),
           lambda: x.all(1, keepdim=True), lambda: a.any(1, keepdim=True),
           lambda: nr.isnan(x), lambda: nr.isinf(x), lambda: nr.isfinite(x),
           lambda: nr.eq(x, x), lambda: x != 0.5, lambda: x <= 1.0, lambda: x >= -1.0]
    return _fit(ops[int(rng.integers(len(ops)))](), x)


def _select(x: Tensor, rng: np.random.Generator) -> Tensor:
    r = x.shape[0]
    k = int(rng.integers(9))
    idx = nr.tensor(rng.integers(0, C, size=4))
    if k == 0:
        return _fit(nr.where(x > 0, x, _w(rng, C, dtype=x.dtype)), x)
    if k == 1:
        return x.masked_fill(x < 0, float(rng.choice([0.0, -1.0, 1e30])))
    if k == 2:
        return _fit(x.index_select(1, idx), x)
    if k == 3:
        return x.gather(1, nr.tensor(rng.integers(0, C, size=(1, C))).expand(r, C))
    if k == 4:
        return _fit(x[:, idx], x)
    if k == 5:
        return x.scatter_add(1, nr.tensor(rng.integers(0, C, size=(1, 3))).expand(r, 3),
                             nr.narrow(x, 1, 0, 3))
    if k == 6:
        return x.scatter(1, nr.tensor(rng.integers(0, C, size=(1, 3))).expand(r, 3),
                         nr.narrow(x, 1, 3, 3))
    if k == 7:
        return nr.index_put(x, (nr.tensor([0]),), _w(rng, C, dtype=x.dtype),
                            accumulate=bool(rng.random() < 0.5)) if not _SYMBOLIC[0] else x
    return _fit(nr.nonzero_static(x, size=3), x) if not _SYMBOLIC[0] else x


def _shape(x: Tensor, rng: np.random.Generator) -> Tensor:
    r = x.shape[0]
    k = int(rng.integers(11))
    ys: list[Callable[[], Tensor]] = [lambda: x.reshape(r, 2, 3).permute(0, 2, 1).flatten(1),
          lambda: x.unsqueeze(1).squeeze(1),
          lambda: x.flip((1,)),
          lambda: nr.cat([nr.narrow(x, 1, 3, 3), nr.narrow(x, 1, 0, 3)], 1),
          lambda: nr.stack([x, x], 2).flatten(1),
          lambda: x[:, 1:4],
          lambda: x.repeat(1, 2),
          lambda: x.view(r, 3, 2).flatten(1),
          lambda: x.clone(),
          lambda: x.clone().copy_(x * 0.5),
          lambda: x + nr.arange(x.shape[0]).unsqueeze(1).to(x.dtype)]
    return _fit(ys[k](), x)


def _clamp(x: Tensor, rng: np.random.Generator) -> Tensor:
    if rng.random() < 0.5:
        lo = float(rng.choice([-1.0, 0.0, -1e30]))
        return x.clamp(min=lo, max=lo + float(rng.choice([1.0, 2.0, 1e30])))
    return x.clamp(min=_w(rng, C, dtype=x.dtype), max=_w(rng, C, dtype=x.dtype) + 5.0)


def _pow(x: Tensor, rng: np.random.Generator) -> Tensor:
    return x ** float(rng.choice([2.0, 3.0, 0.5, -1.0, -2.0, 1.5, 0.0]))


def _cast(x: Tensor, rng: np.random.Generator) -> Tensor:
    t = [nr.float16, nr.float32, nr.int64, nr.bool_][int(rng.integers(4))]
    return x.to(t).to(x.dtype)


def _norm(x: Tensor, rng: np.random.Generator) -> Tensor:
    p = float(rng.choice([1.0, 2.0, 3.0, math.inf, 0.5]))
    return _fit(x.norm(p, 1, keepdim=True) if rng.random() < 0.7 else x.norm(p), x)


RECIPES: dict[str, Recipe] = {
    **{n: _unary(n) for n in ("abs", "ceil", "cos", "exp", "exp2", "expm1", "floor", "log",
                              "log10", "log1p", "log2", "neg", "reciprocal", "relu", "round",
                              "rsqrt", "sigmoid", "sign", "sin", "sqrt", "tanh", "trunc",
                              "erf")},
    **{n: _binary(n) for n in ("add", "sub", "mul", "div", "maximum", "minimum", "remainder",
                               "eq", "ne", "lt", "le", "gt", "ge")},
    **{n: _reduce(n) for n in ("sum", "mean", "prod", "amax", "amin", "max", "min", "argmax",
                               "argmin", "logsumexp", "var", "std", "cumsum")},
    "norm": _norm, "matmul": _matmul, "vec": _vec, "einsum": _einsum, "conv": _conv,
    "pool": _pool, "softmax": _softmax, "logic": _logic, "select": _select, "shape": _shape,
    "clamp": _clamp, "pow": _pow, "cast": _cast,
    "arange": lambda x, rng: x * nr.arange(x.shape[0]).unsqueeze(1).to(x.dtype),
}
"""The steps graphs are built from, by label (several ops per label)."""


# -- boxes and samples -----------------------------------------------------------------------
FAMILIES = ("unit", "wide", "huge", "tiny", "subnormal", "inf", "point", "pos")


def _ends(rng: np.random.Generator, family: str, shape: tuple[int, ...], np_dt: Any,
          ) -> tuple[np.ndarray, np.ndarray]:
    top = float(np.finfo(np_dt).max)
    tiny = float(np.finfo(np_dt).tiny)
    sub = float(np.finfo(np_dt).smallest_subnormal)
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    if family == "unit":
        a, b = a * 2, b * 2
    elif family == "wide":
        s = 10.0 ** rng.uniform(2, 6, shape)
        a, b = a * s, b * s
    elif family == "huge":
        a = np.sign(a) * top * rng.uniform(0.3, 1.0, shape)
        b = np.sign(b) * top * rng.uniform(0.3, 1.0, shape)
    elif family == "tiny":
        a, b = a * tiny * 4, b * tiny * 4
    elif family == "subnormal":
        a, b = a * sub * 8, b * sub * 8
    elif family == "pos":
        a, b = np.abs(a) * 3, np.abs(b) * 3
    elif family == "inf":
        choice = rng.integers(5, size=shape)
        a = np.where(choice == 0, -np.inf, np.where(choice == 1, np.inf, a))
        b = np.where(choice == 2, np.inf, np.where(choice == 3, -np.inf, b))
        b = np.where(choice == 4, np.inf, b)
    lo = np.minimum(a, b).astype(np_dt).astype(np.float64)
    hi = np.maximum(a, b).astype(np_dt).astype(np.float64)
    if family == "point":
        hi = lo.copy()
    return lo, hi


def _box(rng: np.random.Generator, rows: int, np_dt: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-element endpoints: one family per graph, mixed with others element by element."""
    main = str(rng.choice(FAMILIES))
    lo, hi = _ends(rng, main, (rows, C), np_dt)
    if rng.random() < 0.5:
        other = str(rng.choice(FAMILIES))
        lo2, hi2 = _ends(rng, other, (rows, C), np_dt)
        mask = rng.random((rows, C)) < 0.3
        lo, hi = np.where(mask, lo2, lo), np.where(mask, hi2, hi)
    return lo, hi


def _samples(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray, np_dt: Any,
             dense: int = 24) -> list[np.ndarray]:
    """Corners, special values and dense random points of the box, on the dtype's grid."""
    top = float(np.finfo(np_dt).max)
    sub = float(np.finfo(np_dt).smallest_subnormal)
    flo = np.where(np.isfinite(lo), lo, np.where(lo < 0, -top, top))
    fhi = np.where(np.isfinite(hi), hi, np.where(hi < 0, -top, top))
    out = [lo.copy(), hi.copy()]
    for _ in range(10):
        out.append(np.where(rng.random(lo.shape) < 0.5, lo, hi))
    for v in (0.0, sub, -sub, 1.0, -1.0, top, -top):
        out.append(np.clip(np.full(lo.shape, v), lo, hi))
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(dense):
            u = rng.random(lo.shape)
            out.append(flo + u * (fhi - flo) if rng.random() < 0.5 else
                       flo * (1 - u) + fhi * u)
        inward_lo = np.nextafter(lo.astype(np_dt), np.asarray(np.inf, np_dt))
        inward_hi = np.nextafter(hi.astype(np_dt), np.asarray(-np.inf, np_dt))
    out += [np.clip(inward_lo.astype(np.float64), lo, hi),
            np.clip(inward_hi.astype(np.float64), lo, hi)]
    return [np.clip(np.nan_to_num(s, nan=0.0).astype(np_dt).astype(np.float64), lo, hi)
            .astype(np_dt) for s in out]


PGD_STARTS = 3
PGD_STEPS = 8


# -- the campaign ----------------------------------------------------------------------------
@dataclass
class Broken:
    """A claim the real model broke, with everything needed to replay it."""

    chain: list[str]
    dtype: str
    spec: str
    box: tuple[Any, Any]
    input: Any
    index: tuple[int, ...]
    value: float
    bound: tuple[float, float]
    claim: str
    seed: int
    case: int = 0
    graph: str = ""
    """The traced graph (its ops, attributes and constants' shapes)."""

    def __str__(self) -> str:
        np.set_printoptions(precision=9, threshold=200)
        return (f"BROKEN ({self.claim}): chain {' -> '.join(self.chain)} on {self.spec} "
                f"(replay: soundness.replay({self.seed}, {self.case}))\n"
                f"  output{list(self.index)} = {self.value!r} outside "
                f"proven [{self.bound[0]!r}, {self.bound[1]!r}]\n  box lo={self.box[0]!r}\n"
                f"  box hi={self.box[1]!r}\n  input={self.input!r}\n{self.graph}")


@dataclass
class Campaign:
    """Counts of one run: claims attacked (per op), proven and refused graphs, breaks."""

    claims: int = 0
    graphs: int = 0
    proven: int = 0
    hazards: int = 0
    unknown: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    per_op: Counter[str] = field(default_factory=Counter)
    seen_ops: set[str] = field(default_factory=set)
    broken: list[Broken] = field(default_factory=list)
    seconds: float = 0.0
    ort_graphs: int = 0
    """Graphs whose claims were also attacked on onnxruntime."""
    ort_skipped: Counter[str] = field(default_factory=Counter)

    def not_generated(self) -> list[str]:
        """Ops with a range rule that no generated graph contained."""
        return sorted(rule_ops() - self.seen_ops)

    def summary(self) -> str:
        head = (f"claims: {self.claims}  broken: {len(self.broken)}  graphs: {self.graphs} "
                f"(proven {self.proven}, with hazards {self.hazards}, unknown "
                f"{self.unknown}; {self.seconds:.1f} s)")
        lines = [head, f"also on onnxruntime: {self.ort_graphs} graphs" + (
            f" (not exported: {dict(self.ort_skipped)})" if self.ort_skipped else ""),
            "claims per op:"]
        lines += [f"  {op:<28} {n}" for op, n in sorted(self.per_op.items())]
        missing = self.not_generated()
        lines.append("ops with a range rule not generated: " + (", ".join(missing) or "none"))
        if self.errors:
            lines.append("graphs not built (recipe errors): " + ", ".join(
                f"{k} x{v}" for k, v in self.errors.most_common(8)))
        return "\n".join(lines)


def _check(y: np.ndarray, lo: np.ndarray, hi: np.ndarray, proven_no_nan: bool,
           ) -> tuple[tuple[int, ...], float, str] | None:
    y = np.asarray(y, dtype=np.float64)
    lo_b, hi_b = np.broadcast_to(lo, y.shape), np.broadcast_to(hi, y.shape)
    nan = np.isnan(y)
    bad = ~nan & ((y < lo_b) | (y > hi_b))
    if bad.any():
        i = tuple(int(v) for v in np.argwhere(bad)[0])
        return i, float(y[i]), "bound"
    if proven_no_nan and nan.any():
        i = tuple(int(v) for v in np.argwhere(nan)[0])
        return i, float("nan"), "no nan"
    return None


def _eager(model: Callable[[Tensor], Tensor], x: np.ndarray, dtype: Any) -> np.ndarray:
    with np.errstate(all="ignore"), nr.no_grad():
        return np.asarray(model(nr.tensor(x).to(dtype)).detach().numpy(), dtype=np.float64)


def _pgd(model: Callable[[Tensor], Tensor], x0: np.ndarray, lo: np.ndarray, hi: np.ndarray,
         dtype: Any, rng: np.random.Generator, steps: int) -> list[np.ndarray]:
    """Projected signed-gradient ascent of a random +-1 combination of the outputs (so each
    element is pushed toward its upper or its lower bound); the iterates."""
    out: list[np.ndarray] = []
    x = x0.astype(np.float64)
    width = hi - lo
    sign: np.ndarray | None = None
    for _ in range(steps):
        t = nr.tensor(x.astype(np.float32), requires_grad=True)
        with np.errstate(all="ignore"):
            y = model(t.to(dtype))
            if sign is None:
                sign = rng.choice([-1.0, 1.0], size=tuple(int(s) for s in y.shape))
            if not y.dtype.is_floating_point:
                return out
            (y.to(nr.float32) * nr.tensor(sign.astype(np.float32))).sum().backward()
        g = t.grad.numpy() if t.grad is not None else None
        if g is None or not np.isfinite(g).all():
            return out
        x = np.clip(x + np.sign(g) * width * 0.25, lo, hi)
        out.append(x.astype(np.dtype(dtype.np_dtype)))
    return out


def _session(graph: Any, camp: Campaign) -> Any:
    """An onnxruntime session of the verified graph itself (None when an op has no export)."""
    import onnxruntime as ort  # type: ignore[import-untyped]

    try:
        proto = nr.onnx.export(graph)
        opts = ort.SessionOptions()
        opts.log_severity_level = 4
        sess = ort.InferenceSession(proto.SerializeToString(), opts,
                                    providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001 - any exporter/runtime refusal only skips the check
        camp.ort_skipped[type(err).__name__] += 1
        return None
    camp.ort_graphs += 1
    return sess


def _ort(sess: Any, x: np.ndarray) -> np.ndarray:
    return np.asarray(sess.run(None, {sess.get_inputs()[0].name: x})[0], dtype=np.float64)


def _minimize(graph: Any, model: Callable[[Tensor], Tensor], x: np.ndarray,
              i: tuple[int, ...], dtype: Any, symbolic: bool, box: tuple[Any, Any],
              bounds: tuple[Any, Any], shape: tuple[int, ...],
              ) -> tuple[tuple[Any, Any], tuple[float, float]]:
    """The smallest box that still breaks: the degenerate box ``lo == hi`` at the input that
    broke the claim (its row, over a symbolic batch), when the verifier still makes the
    claim there and the model still breaks it; else the original box. With the bound
    broken."""
    point = x[i[0]:i[0] + 1].astype(np.float64) if symbolic else x.astype(np.float64)
    try:
        r = verify_ranges(graph, {"x": (point, point)},
                          assumptions=["1 <= B <= 64"] if symbolic else ())
        if r.ok:
            out = next(iter(r.outputs.values()))
            y = _eager(model, x, dtype)
            if _check(y, out.lo, out.hi, True) is not None:
                return (point, point), (float(np.broadcast_to(out.lo, shape)[i]),
                                        float(np.broadcast_to(out.hi, shape)[i]))
    except ValueError:  # the point is outside the dtype's range: keep the box
        pass
    return box, (float(np.broadcast_to(bounds[0], shape)[i]),
                 float(np.broadcast_to(bounds[1], shape)[i]))


def _one(rng: np.random.Generator, seed: int, camp: Campaign, exact_every: int,
         case: int = 0, ort_every: int = 0) -> dict[str, Any]:
    labels = list(RECIPES)
    chain = [str(rng.choice(labels)) for _ in range(int(rng.integers(1, 5)))]
    half = rng.random() < 0.2
    dtype = nr.float16 if half else nr.float32
    np_dt = np.float16 if half else np.float32
    symbolic = rng.random() < 0.3
    rows = 4 if symbolic else int(rng.choice([1, 2, 4, 8]))
    spec = f"{'f16' if half else 'f32'}[{'B' if symbolic else rows}, {C}]"
    steps = [(label, np.random.default_rng(rng.integers(1 << 62))) for label in chain]
    made: dict[int, Any] = {}

    def model(x: Tensor) -> Tensor:
        _SYMBOLIC[0] = symbolic
        for i, (label, r) in enumerate(steps):
            if i not in made:  # the same constants on every call
                made[i] = r.bit_generator.state
            r.bit_generator.state = made[i]
            x = RECIPES[label](x, r)
        return x

    try:
        graph = nr.trace(model, {"x": spec})
    except REFUSED as err:  # a recipe the op's shape/dtype rules refuse: not a claim
        camp.errors[f"{'/'.join(chain)}: {type(err).__name__}"] += 1
        return {"chain": chain}
    camp.graphs += 1
    ops = {n.op for n in graph.nodes}
    camp.seen_ops |= ops
    lo, hi = _box(rng, 1 if symbolic else rows, np_dt)
    report = verify_ranges(graph, {"x": (lo, hi)}, assumptions=["1 <= B <= 64"] if symbolic
                           else (), exact=exact_every > 0 and camp.graphs % exact_every == 0)
    case_info = {"chain": chain, "model": model, "graph": graph, "report": report, "lo": lo,
                 "hi": hi, "dtype": dtype}
    # a report whose only hazards are overflows still claims its bounds, and (no nan-kind
    # hazard) that no value is NaN: an inf further down meets a rule that knows it
    overflow_only = bool(report.hazards) and all(h.hazard.kind == "overflow"
                                                  for h in report.hazards)
    if not report.ok:
        camp.hazards += bool(report.found)
        camp.unknown += bool(report.unknown and not report.found)
        if not overflow_only:
            return case_info
    else:
        camp.proven += 1
    out = next(iter(report.outputs.values()))
    batch = (lambda s: np.broadcast_to(s, (16, C))) if symbolic else (lambda s: s)
    lo_in, hi_in = batch(lo), batch(hi)
    xs = _samples(rng, lo_in, hi_in, np_dt)
    session = _session(graph, camp) if ort_every and camp.graphs % ort_every == 0 else None
    pgd_from = [xs[int(rng.integers(len(xs)))] for _ in range(PGD_STARTS)]
    n_claims = 0
    for k, x in enumerate(xs + [None] * PGD_STARTS):
        if x is None:
            if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
                break
            try:
                extra = _pgd(model, pgd_from[k - len(xs)], lo_in, hi_in, dtype, rng, PGD_STEPS)
            except NO_GRADIENT:  # a step without a gradient: no projected-gradient search
                extra = []
            todo = extra
        else:
            todo = [x]
        for xi in todo:
            runs = [("eager", _eager(model, xi, dtype))]
            if session is not None and x is not None:
                try:
                    runs.append(("onnxruntime", _ort(session, xi)))
                except Exception as err:  # noqa: BLE001 - a kernel onnxruntime lacks
                    camp.ort_skipped[type(err).__name__] += 1
                    session = None
            for engine, y in runs:
                n_claims = max(n_claims, 3 * y.size)
                bad = _check(y, out.lo, out.hi, True)
                if bad is not None:
                    i, v, what = bad
                    box, bound = _minimize(graph, model, xi, i, dtype, symbolic,
                                           (lo, hi), (out.lo, out.hi), y.shape)
                    camp.broken.append(Broken(chain, dtype.name, spec, box,
                                              xi[i[0]:i[0] + 1] if symbolic else xi, i, v,
                                              bound, f"{what}, {engine}", seed, case,
                                              str(graph)))
                    return case_info
    # three claims per output element: its lower bound, its upper bound, not NaN
    claims = 3 * int(np.prod(np.broadcast_shapes(out.lo.shape, tuple(
        1 if s is None else s for s in out.shape)))) if not symbolic else n_claims
    camp.claims += claims
    for op in ops:
        camp.per_op[op] += claims
    return case_info


def replay(seed: int, case: int) -> dict[str, Any]:
    """Rebuild case ``case`` of the run seeded ``seed``: its chain, model, graph, report and
    box (what a :class:`Broken` names), to debug a break."""
    return _one(np.random.default_rng([seed, case]), seed, Campaign(), 0, case)


def run(claims: int, seed: int = 0, *, seconds: float = math.inf, exact_every: int = 0,
        recipes: Sequence[str] | None = None, graphs: int | None = None,
        ort_every: int = 0) -> Campaign:
    """Attack claims until ``claims`` were attacked (or ``seconds`` passed, or ``graphs``
    cases were drawn); seeded, so a run replays exactly. ``exact_every``: every n-th graph
    also runs the z3 tightening; ``ort_every``: every n-th graph's claims are also attacked on
    onnxruntime (the verified graph, exported). ``recipes``: only these steps."""
    camp = Campaign()
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    saved = dict(RECIPES)
    if recipes is not None:
        for k in list(RECIPES):
            if k not in recipes:
                del RECIPES[k]
    try:
        i = 0
        while (camp.claims < claims and time.perf_counter() - t0 < seconds
               and (graphs is None or i < graphs)):
            _one(np.random.default_rng([seed, i]), seed, camp, exact_every, i, ort_every)
            i += 1
    finally:
        RECIPES.clear()
        RECIPES.update(saved)
    camp.seconds = time.perf_counter() - t0
    del rng
    return camp


NOT_TRACEABLE = {"adaptive_avg_pool1d": "the tracer lowers adaptive average pooling to matmul",
                 "adaptive_avg_pool2d": "the tracer lowers adaptive average pooling to matmul"}
"""Ops with a range rule that no traced model contains (they reach the verifier only from an
imported ONNX graph), with the reason: the fuzzer reports them as not generated."""


def coverage(seeds: int = 40) -> set[str]:
    """The ops the recipes produce, each recipe traced with ``seeds`` random draws (no
    verification): what a campaign can reach."""
    seen: set[str] = set()
    for label, recipe in RECIPES.items():
        for i in range(seeds):
            for symbolic in (False, True):
                rng = np.random.default_rng([i, len(label)])
                spec = "f32[B, 6]" if symbolic else "f32[4, 6]"

                def model(x: Tensor, recipe: Recipe = recipe, rng: Any = rng,
                          symbolic: bool = symbolic) -> Tensor:
                    _SYMBOLIC[0] = symbolic
                    return recipe(x, rng)
                try:
                    seen |= {n.op for n in nr.trace(model, {"x": spec}).nodes}
                except REFUSED:  # a draw the shape rules refuse: the next one counts
                    pass
    return seen
