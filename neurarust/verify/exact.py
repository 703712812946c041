"""``--exact``: tighten, with z3, bounds that interval arithmetic cannot (``x - x``).

IBP forgets that two operands are the same value, so ``x - x`` over ``x in [0, 1]`` gets
``[-1, 1]`` and ``log(x - x + 1)`` a false log-domain hazard. This pass re-derives, for the
values that matter (the operands of each hazard's op, and the outputs), bounds from an exact
model of the small subgraph that computes them:

- every element of a graph input in range is a z3 Real in its box; constants are exact;
- the linear and piecewise-linear ops (``add sub neg mul div-by-constant relu abs maximum
  minimum clamp sum mean``, matmul by a constant, every shape op) are modelled exactly over
  the reals, elementwise on numpy arrays of z3 terms;
- any other op's output is a fresh Real constrained to its IBP interval (a sound
  abstraction: that interval holds its float value), so nothing is left unmodelled;
- z3's optimiser gives the exact real minimum and maximum of each element.

**Soundness for float32.** The real-arithmetic bound is widened by a forward error bound of
the float computation: per node, ``e_out`` from the operands' ``e`` and IBP magnitudes ``M``
(``add``: ``e_a + e_b + 2u M_out``; ``mul``: ``M_a e_b + M_b e_a + e_a e_b + 2u M_out``;
1-Lipschitz ops keep ``max e``; sums of n terms add ``n e + 2(n+2)u n M``), with ``u`` the
dtype's unit roundoff. The result is intersected with the IBP bounds and rounded outward, so
it never loosens and stays a bound on the value float32 actually computes.

Subproblems are kept small (at most :data:`MAX_TERMS` modelled elements, :data:`MAX_TARGET`
target elements, a time limit per query); a value past them keeps its IBP bounds and the
report says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np
import z3

from ..types.interval import Interval, round_out, unit_roundoff

if TYPE_CHECKING:
    from ..ir.graph import Graph, Node
    from ..types.interval import RangeResult
    from .numeric import RangeReport

__all__ = ["MAX_TARGET", "MAX_TERMS", "Exact"]

MAX_TERMS = 4096
"""At most this many modelled elements (z3 terms) per subproblem."""
MAX_TARGET = 64
"""At most this many elements of one value are optimised."""
TIMEOUT_MS = 2_000

_MODELLED = {"add", "sub", "mul", "div", "sum", "mean", "matmul", "mm"}
_LIPSCHITZ_1 = {"relu", "abs", "maximum", "minimum", "clamp", "neg", "clone", "reshape",
                "view", "flatten", "unsqueeze", "squeeze", "permute", "expand", "getitem"}
_MODELLED |= _LIPSCHITZ_1


class _Unsupported(Exception):
    pass


class _Model:
    """z3 terms (object arrays) and float error bounds of graph values."""

    def __init__(self, graph: Graph, values: dict[str, Interval]) -> None:
        self.values = values
        self.graph = graph
        self.producer: dict[str, Node] = {n.output.name: n for n in self.graph.nodes}
        self.terms: dict[str, Any] = {}
        self.err: dict[str, float] = {}
        self.constraints: list[Any] = []
        self.count = 0
        self.fresh = 0

    def _shape(self, name: str) -> tuple[int, ...]:
        iv = self.values[name]
        if any(s is None for s in iv.shape):
            raise _Unsupported(f"{name} has a symbolic size")
        return tuple(int(s) for s in iv.shape if s is not None)

    def _budget(self, n: int) -> None:
        self.count += n
        if self.count > MAX_TERMS:
            raise _Unsupported(f"more than {MAX_TERMS} elements to model")

    def _free(self, name: str) -> Any:
        """A fresh Real per element, inside the value's IBP bounds."""
        iv = self.values[name]
        shape = self._shape(name)
        self._budget(math.prod(shape))
        lo, hi = np.broadcast_to(iv.lo, shape), np.broadcast_to(iv.hi, shape)
        out = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape):
            self.fresh += 1
            v = z3.Real(f"v{self.fresh}")
            if np.isfinite(lo[idx]):
                self.constraints.append(v >= _q(float(lo[idx])))
            if np.isfinite(hi[idx]):
                self.constraints.append(v <= _q(float(hi[idx])))
            out[idx] = v
        return out

    def _mag(self, name: str) -> float:
        iv = self.values[name]
        return max(abs(iv.min), abs(iv.max))

    def value(self, x: Any, dtype: Any = None) -> tuple[Any, float]:
        """Terms and error bound of a node input (a value name, or a Python number, which
        the op computes with in its dtype: ``x + 0.1`` adds ``float32(0.1)``)."""
        if not isinstance(x, str):
            v = float(x)
            if dtype is not None and dtype.is_floating_point and math.isfinite(v):
                v = float(np.asarray(v).astype(dtype.np_dtype))
            return np.array(_q(v), dtype=object), 0.0
        if x not in self.terms:
            self.terms[x], self.err[x] = self._build(x)
        return self.terms[x], self.err[x]

    def _build(self, name: str) -> tuple[Any, float]:
        if not self.values[name].finite:
            # a real variable cannot be inf or nan: IEEE values stay with the interval rules
            raise _Unsupported(f"{name} may be infinite")
        consts = self.graph.constants
        if name in consts:
            c = consts[name]
            if c.data is None:
                return self._free(name), 0.0
            data = np.asarray(c.data, dtype=np.float64)
            self._budget(data.size)
            return np.vectorize(_q, otypes=[object])(data) if data.size else data.astype(
                object), 0.0
        node = self.producer.get(name)
        if node is None:  # a graph input
            return self._free(name), 0.0
        try:
            return self._node(node)
        except _Unsupported:
            raise
        except (ValueError, TypeError, IndexError, KeyError, z3.Z3Exception):
            return self._free(name), 0.0  # not modelled exactly: its IBP interval

    def _node(self, node: Node) -> tuple[Any, float]:
        op, attrs, out = node.op, node.attrs, node.output.name
        u2 = 2 * unit_roundoff(node.output.dtype)
        m_out = self._mag(out)
        if op not in _MODELLED:
            raise ValueError(f"{op} is not modelled exactly")
        dtype = node.output.dtype
        ins: list[tuple[Any, float]] = [self.value(x, dtype) if x is not None else (None, 0.0)
                                        for x in node.inputs]
        if op in ("add", "sub"):
            (a, ea), (b, eb) = ins[:2]
            alpha = attrs.get("alpha", 1)
            b = b * _q(float(alpha)) if alpha != 1 else b
            t = a + b if op == "add" else a - b
            return t, ea + eb * abs(float(alpha)) + u2 * m_out
        if op == "mul":
            (a, ea), (b, eb) = ins[:2]
            ma, mb = (self._mag(x) if isinstance(x, str) else abs(float(x or 0)) for x in
                      node.inputs[:2])
            if not (_is_const(a) or _is_const(b)):
                raise ValueError("a product of two variables is not linear")
            return a * b, ma * eb + mb * ea + ea * eb + u2 * m_out
        if op == "div" and not attrs.get("rounding_mode"):
            (a, ea), (b, eb) = ins[:2]
            if not _is_const(b) or eb:
                raise ValueError("division by a variable")
            c = [_fraction(v) for v in np.ravel(b)]
            if any(v == 0 for v in c):
                raise ValueError("division by zero")
            mb = float(min(abs(v) for v in c)) if c else 1.0
            return a / b, ea / mb + u2 * m_out
        if op in _LIPSCHITZ_1:
            return self._lipschitz(op, ins, attrs)
        if op in ("sum", "mean"):
            (a, ea), = ins[:1]
            dims = attrs.get("dim")
            axes = tuple(range(a.ndim)) if dims is None else tuple(
                d % a.ndim for d in ((dims,) if isinstance(dims, int) else dims))
            n = math.prod(a.shape[d] for d in axes) if axes else 1
            t = np.sum(a, axis=axes, keepdims=bool(attrs.get("keepdim")))
            m_in = self._mag(node.inputs[0]) if isinstance(node.inputs[0], str) else 0.0
            e = n * ea + 2 * (n + 2) * unit_roundoff(node.output.dtype) * n * m_in
            if op == "mean":
                t = t / n
                e = e / n + u2 * m_out
            return np.asarray(t, dtype=object), e
        if op in ("matmul", "mm"):
            (a, ea), (b, eb) = ins[:2]
            if not _is_const(b):
                raise ValueError("matmul by a variable")
            wb = np.abs(np.vectorize(lambda v: float(_fraction(v)), otypes=[float])(b))
            k = a.shape[-1]
            m_in = self._mag(node.inputs[0]) if isinstance(node.inputs[0], str) else 0.0
            e = float(wb.sum(axis=-2).max()) * (ea + 2 * (k + 2) * unit_roundoff(
                node.output.dtype) * m_in) + u2 * m_out
            return np.asarray(np.matmul(a, b), dtype=object), e
        raise ValueError(f"{op} is not modelled exactly")

    def _lipschitz(self, op: str, ins: list[tuple[Any, float]], attrs: dict[str, Any],
                   ) -> tuple[Any, float]:
        a, ea = ins[0]
        e = max(e for _, e in ins)
        if op == "relu":
            return _map(lambda v: z3.If(v > 0, v, 0), a), e
        if op == "abs":
            return _map(lambda v: z3.If(v >= 0, v, -v), a), e
        if op == "neg":
            return -a, e
        if op in ("maximum", "minimum"):
            b = ins[1][0]
            a, b = np.broadcast_arrays(a, b)
            f = (lambda x, y: z3.If(x >= y, x, y)) if op == "maximum" else (
                lambda x, y: z3.If(x <= y, x, y))
            return np.vectorize(f, otypes=[object])(a, b), e
        if op == "clamp":
            lo, hi = attrs.get("min"), attrs.get("max")
            t = a
            if lo is not None:
                t = _map(lambda v: z3.If(v >= _q(float(lo)), v, _q(float(lo))), t)
            if hi is not None:
                t = _map(lambda v: z3.If(v <= _q(float(hi)), v, _q(float(hi))), t)
            return t, e
        if op == "clone":
            return a, e
        if op in ("reshape", "view", "flatten", "unsqueeze", "squeeze", "permute", "expand",
                  "getitem"):
            return _shape_op(op, a, attrs), e
        raise ValueError(op)


def _q(x: float) -> Any:
    """An exact z3 rational for a float."""
    return z3.RealVal(Fraction(float(x)))


def _fraction(v: Any) -> Fraction:
    return Fraction(z3.simplify(v).as_fraction())


def _is_const(a: Any) -> bool:
    return all(z3.is_rational_value(z3.simplify(v)) for v in np.ravel(a))


def _map(f: Any, a: Any) -> Any:
    return np.vectorize(f, otypes=[object])(a)


def _shape_op(op: str, a: Any, attrs: dict[str, Any]) -> Any:
    if op in ("reshape", "view"):
        return a.reshape(tuple(int(s) for s in attrs["shape"]))
    if op == "flatten":
        s, e = attrs["start_dim"] % max(a.ndim, 1), attrs["end_dim"] % max(a.ndim, 1)
        return a.reshape((*a.shape[:s], -1, *a.shape[e + 1:])) if a.ndim else a.reshape(1)
    if op == "unsqueeze":
        return np.expand_dims(a, attrs["dim"] % (a.ndim + 1))
    if op == "squeeze":
        d = attrs.get("dim")
        axes = tuple(i for i in range(a.ndim) if a.shape[i] == 1) if d is None else tuple(
            i % a.ndim for i in ((d,) if isinstance(d, int) else d) if a.shape[i % a.ndim] == 1)
        return a.squeeze(axes)
    if op == "permute":
        return a.transpose(attrs["dims_order"])
    if op == "expand":
        size = [a.shape[i - len(attrs["size"]) + a.ndim] if s == -1 else int(s)
                for i, s in enumerate(attrs["size"])]
        return np.broadcast_to(a, size)
    key = tuple(np.newaxis if it is None else (it if isinstance(it, int) else it.to_slice())
                for it in attrs["index"])
    return a[key]


def _extreme(model: _Model, term: Any, maximize: bool) -> float | None:
    opt = z3.Optimize()
    opt.set("timeout", TIMEOUT_MS)
    opt.add(*model.constraints)
    h = opt.maximize(term) if maximize else opt.minimize(term)
    if opt.check() != z3.sat:
        return None
    v = h.value()
    if z3.is_int_value(v):
        f = Fraction(v.as_long())
    elif z3.is_rational_value(v):
        f = Fraction(v.as_fraction())
    else:
        return None  # unbounded (oo) or epsilon terms: keep IBP
    x = float(f)
    # float(Fraction) rounds to nearest: step outward once to keep a bound
    return float(np.nextafter(x, np.inf if maximize else -np.inf)) if Fraction(x) != f else x


def _exact_interval(model: _Model, name: str) -> Interval | None:
    iv = model.values[name]
    terms, err = model.value(name)
    if terms.size > MAX_TARGET:
        raise _Unsupported(f"{name} has {terms.size} elements (at most {MAX_TARGET})")
    if not math.isfinite(err):
        return None
    lo = np.broadcast_to(iv.lo, terms.shape).copy()
    hi = np.broadcast_to(iv.hi, terms.shape).copy()
    for idx in np.ndindex(*terms.shape):
        t = z3.simplify(terms[idx] if isinstance(terms[idx], z3.ExprRef) else _q(terms[idx]))
        mn, mx = _extreme(model, t, False), _extreme(model, t, True)
        if mn is not None:
            lo[idx] = max(float(lo[idx]), mn - err)
        if mx is not None:
            hi[idx] = min(float(hi[idx]), mx + err)
    lo_r, hi_r = round_out(lo, hi, iv.dtype)
    lo_r, hi_r = np.maximum(lo_r, np.broadcast_to(iv.lo, lo_r.shape)), np.minimum(
        hi_r, np.broadcast_to(iv.hi, hi_r.shape))
    return Interval(lo_r, hi_r, iv.shape, iv.dtype, sizes=iv.sizes)


class Exact:
    """The ``--exact`` pass over one propagation (see the module docstring): the verifier
    calls :meth:`recheck` on each node with hazards, and :meth:`outputs` at the end."""

    def __init__(self, graph: Graph, values: dict[str, Interval]) -> None:
        self.model = _Model(graph, values)
        self.notes: list[str] = []

    def _exact(self, name: str) -> Interval | None:
        try:
            return _exact_interval(self.model, name)
        except _Unsupported as err:
            self.notes.append(f"{name}: kept the interval bounds ({err})")
            return None

    def recheck(self, node: Node, args: list[Interval | None], result: RangeResult,
                run: Callable[[list[Interval | None]], RangeResult | None]) -> RangeResult:
        """``result`` again with each operand of ``node`` bounded exactly; the new result
        when it drops a hazard, else the old one."""
        tight = [self._exact(x) or a if isinstance(x, str) and a is not None else a
                 for x, a in zip(node.inputs, args)]
        if all(t is a for t, a in zip(tight, args)):
            return result
        again = run(tight)
        if again is None:
            return result
        gone = {h.kind for h in result.hazards} - {h.kind for h in again.hazards}
        if not gone:
            return result
        shown = ", ".join(f"{x} in {t}" for x, t in zip(node.inputs, tight)
                          if isinstance(x, str) and t is not None)
        self.notes.append(f"{node.op} at {node.source}: {', '.join(sorted(gone))} excluded "
                          f"({shown})")
        return again

    def outputs(self, report: RangeReport) -> None:
        """Narrow each output to its exact bounds where that is tighter (in place)."""
        for name in list(report.outputs):
            iv = self._exact(name)
            if iv is None:
                continue
            old = report.outputs[name]
            if iv.min > old.min or iv.max < old.max:
                self.notes.append(f"output {name} in {iv} (interval bounds {old})")
                report.outputs[name] = report.values[name] = iv
