"""The soundness fuzzer of the VNN-LIB path: random ReLU networks, random VNN-LIB properties,
every verdict and every linear bound attacked (with :mod:`.attack`).

One :func:`run_case` (a seed) builds a small network (Linear/ReLU layers of random widths and
depths, sometimes an elementwise scale and shift of the input; weights at scales from 1e-3 to
1e3, zero rows, small integers for exact ties, rarely scales where float32 overflows), exports
it to ONNX, writes a property (an input box, sometimes with degenerate or tiny sides or a
disjunction of two boxes; output rows as single inequalities, conjunctions or disjunctions,
strict or not, thresholds written exactly or as short decimals and placed near the measured
optimum so that both verdicts occur) and then:

* runs :func:`.bab.verify_property` with ``split="input"`` and ``split="relu"``: a 'holds' is
  attacked (no float32 input of the box may be unsafe in onnxruntime, in the eager model or in
  numpy float32), a 'violated' counterexample must lie in the box and be unsafe when replayed
  in onnxruntime and in the eager model (exact rational comparisons);
* checks the linear bounds of :mod:`.linear_bounds` on the box (CROWN with every intermediate
  mode, with and without optimised slopes, interval bounds, the hidden pre-activation bounds)
  against float32 runs aimed at each row's minimum and maximum.

A failure is returned as a :class:`Broken` with a self-contained reproducer (the weights, the
property text, the call and the offending input).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from .attack import (
    ExactCase,
    Runner,
    attack_case,
    exact_unsafe,
    f32_box,
    float32_runner,
    minimise_rows,
)
from .linear_bounds import (
    crown_bounds,
    extract,
    forward_intermediate,
    ibp_bounds,
    lower_bound_with_corner,
)

__all__ = ["Broken", "Counts", "FuzzNet", "run_case"]

Array = npt.NDArray[np.float64]


@dataclass
class Broken:
    """A claim that the attack refuted: what, and a script that shows it."""

    what: str
    reproducer: str

    def __str__(self) -> str:
        return f"BROKEN: {self.what}\n{self.reproducer}"


@dataclass
class Counts:
    """Verdicts by kind and split, claims attacked, claims broken."""

    verdicts: dict[str, int] = field(default_factory=dict)
    attacked: int = 0
    bounds: int = 0
    broken: list[Broken] = field(default_factory=list)
    cases: int = 0

    def add(self, other: Counts) -> None:
        for k, v in other.verdicts.items():
            self.verdicts[k] = self.verdicts.get(k, 0) + v
        self.attacked += other.attacked
        self.bounds += other.bounds
        self.broken += other.broken
        self.cases += other.cases

    def __str__(self) -> str:
        v = ", ".join(f"{k} {n}" for k, n in sorted(self.verdicts.items()))
        return (f"cases {self.cases}; verdicts {sum(self.verdicts.values())} ({v}); "
                f"verdicts attacked/replayed {self.attacked}; linear-bound claims checked "
                f"{self.bounds}; broken {len(self.broken)}")


def _module_types() -> tuple[Any, Any]:
    import neurarust as nr
    from neurarust import nn

    return nr, nn


def FuzzNet(weights: list[Array], biases: list[Array], scale: float | None = None,
            shift: float | None = None) -> Any:
    """An ``nn.Module``: ``x * scale - shift`` (when given), then Linear/ReLU layers with
    these float32 weights."""
    nr, nn = _module_types()

    class _Net(nn.Module):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            layers: list[Any] = []
            for i, (w, b) in enumerate(zip(weights, biases)):
                lin = nn.Linear(w.shape[1], w.shape[0])
                with nr.no_grad():
                    lin.weight.copy_(nr.tensor(np.asarray(w, np.float32)))
                    lin.bias.copy_(nr.tensor(np.asarray(b, np.float32)))
                layers.append(lin)
                if i < len(weights) - 1:
                    layers.append(nn.ReLU())
            self.body = nn.Sequential(*layers)

        def forward(self, x: Any) -> Any:
            if scale is not None:
                x = x * scale
            if shift is not None:
                x = x - shift
            return self.body(x)

    return _Net()


def _weights(rng: np.random.Generator, sizes: list[int], huge: bool,
             ) -> tuple[list[Array], list[Array]]:
    ws, bs = [], []
    for a, b in itertools.pairwise(sizes):
        kind = rng.integers(0, 4)
        if kind == 0:  # small integers: exact ties
            w = rng.integers(-2, 3, size=(b, a)).astype(np.float64)
            bias = rng.integers(-1, 2, size=b).astype(np.float64)
        else:
            s = float(10.0 ** rng.choice([-20, -3, -1, 0, 0, 0, 1, 3]))
            w = rng.normal(size=(b, a)) * s / np.sqrt(a)
            bias = rng.normal(size=b) * s * rng.choice([0.0, 0.1, 1.0])
        if huge:
            w = w * 1e18
        w[rng.random(b) < 0.15] = 0.0  # zero rows: dead neurons
        ws.append(w.astype(np.float32).astype(np.float64))
        bs.append(bias.astype(np.float32).astype(np.float64))
    return ws, bs


def _num(rng: np.random.Generator, v: float) -> tuple[str, Fraction]:
    """A decimal for ``v``: exact (repr) or short (a few digits): the text and its value."""
    if not np.isfinite(v):
        v = float(np.sign(v)) * 1e30
    s = repr(float(v)) if rng.random() < 0.6 else f"{v:.{int(rng.integers(1, 8))}g}"
    return s, Fraction(s)


def _box(rng: np.random.Generator, n: int, huge: bool,
         ) -> tuple[list[tuple[str, str]], list[Fraction], list[Fraction]]:
    centre = rng.normal(size=n) * float(10.0 ** rng.choice([-20, -3, 0, 0, 1, 2]))
    if huge:
        centre = centre * 1e20
    centre = centre.astype(np.float32).astype(np.float64)  # float32 points, mostly
    texts, los, his = [], [], []
    for i in range(n):
        r = float(rng.choice([0.0, 1e-7, 1e-3, 0.1, 1.0, 1.0, 10.0])) * (1 + abs(centre[i]))
        if rng.random() < 0.15:
            r = 0.0
        (ls, lf), (hs, hf) = _num(rng, centre[i] - r), _num(rng, centre[i] + r)
        if r == 0.0 and rng.random() < 0.7:  # a degenerate side: the float32 value, exactly
            ls = hs = str(Decimal(float(centre[i])))
            lf = hf = Fraction(ls)
        if lf > hf:
            (ls, lf), (hs, hf) = (hs, hf), (ls, lf)
        texts.append((ls, hs))
        los.append(lf)
        his.append(hf)
    return texts, los, his


def _expr(rng: np.random.Generator, k: npt.NDArray[np.int64]) -> str:
    terms = [(j, int(v)) for j, v in enumerate(k) if v != 0]
    if len(terms) == 1 and terms[0][1] == 1:
        return f"Y_{terms[0][0]}"
    if len(terms) == 2 and {v for _, v in terms} == {1, -1} and rng.random() < 0.5:
        (p, _), (q, _) = sorted(terms, key=lambda t: -t[1])
        return f"(- Y_{p} Y_{q})"
    parts = [f"Y_{j}" if v == 1 else f"(* {v} Y_{j})" if rng.random() < 0.7
             else f"(* Y_{j} {v})" for j, v in terms]
    return parts[0] if len(parts) == 1 else "(+ " + " ".join(parts) + ")"


@dataclass
class _Spec:
    text: str
    cases: list[ExactCase]


def _row(rng: np.random.Generator, n_out: int) -> npt.NDArray[np.int64]:
    kind = rng.integers(0, 3)
    k = np.zeros(n_out, np.int64)
    if kind == 0 or n_out == 1:
        k[rng.integers(n_out)] = rng.choice([1, -1, 2])
    elif kind == 1:
        i, j = rng.choice(n_out, 2, replace=False)
        k[i], k[j] = 1, -1
    else:
        k = rng.integers(-2, 3, size=n_out)
        if not k.any():
            k[0] = 1
    return k


def _property(rng: np.random.Generator, net: Any, runners: list[Runner], n_in: int,
              n_out: int, huge: bool) -> _Spec | None:
    """A random property whose thresholds sit near the optimum measured on the box."""
    boxes = [_box(rng, n_in, huge)]
    if rng.random() < 0.15:
        boxes.append(_box(rng, n_in, huge))
    f32 = [f32_box(b[1], b[2]) for b in boxes]
    if any(b is None for b in f32):
        return None
    n_conj = int(rng.choice([1, 1, 2, 3]))
    disj: list[list[tuple[npt.NDArray[np.int64], str, str, Fraction]]] = []
    for _ in range(n_conj):
        conj = []
        for _r in range(int(rng.choice([1, 1, 2]))):
            k = _row(rng, n_out)
            op = str(rng.choice(["<=", "<", ">=", ">"]))
            box32 = f32[int(rng.integers(len(f32)))]
            assert box32 is not None
            _, ys = minimise_rows(net, runners[:1], box32[0], box32[1],
                                  k[None].astype(np.float64), rng, samples=16, starts=4,
                                  steps=12)
            vals = ys[0] @ k.astype(np.float64)
            vals = vals[np.isfinite(vals)]
            if vals.size == 0:
                return None
            vmin, vmax = float(vals.min()), float(vals.max())
            target = vmin if op in ("<=", "<") else vmax
            spread = max(vmax - vmin, 1e-30)
            kind = rng.integers(0, 6)
            if kind == 0:
                d = target
            elif kind == 1:
                d = float(np.nextafter(np.float32(target), np.float32(
                    np.inf if rng.random() < 0.5 else -np.inf)))
            elif kind == 2:
                d = target + float(rng.choice([-1, 1])) * abs(target) * 1e-7
            else:
                d = target + float(rng.normal()) * spread * float(rng.choice([1e-3, 0.05, 0.5]))
            ds, dv = _num(rng, d)
            conj.append((k, op, ds, dv))
        disj.append(conj)
    # the text: declarations, the box(es), the output condition (shapes vary)
    lines = [f"(declare-const X_{i} Real)" for i in range(n_in)]
    lines += [f"(declare-const Y_{j} Real)" for j in range(n_out)]

    def box_atoms(texts: list[tuple[str, str]]) -> list[str]:
        return [f"(>= X_{i} {a})" if rng.random() < 0.5 else f"(<= {a} X_{i})"
                for i, (a, _) in enumerate(texts)] + \
               [f"(<= X_{i} {b})" for i, (_, b) in enumerate(texts)]

    if len(boxes) == 1:
        lines += [f"(assert {a})" for a in box_atoms(boxes[0][0])]
    else:
        lines.append("(assert (or " + " ".join("(and " + " ".join(box_atoms(b[0])) + ")"
                                               for b in boxes) + "))")

    def atom(k: npt.NDArray[np.int64], op: str, ds: str) -> str:
        e = _expr(rng, k)
        flip = {"<=": ">=", "<": ">", ">=": "<=", ">": "<"}[op]
        return f"({op} {e} {ds})" if rng.random() < 0.7 else f"({flip} {ds} {e})"

    conj_texts = [[atom(k, op, ds) for k, op, ds, _ in conj] for conj in disj]
    if len(disj) == 1 and rng.random() < 0.5:
        lines += [f"(assert {a})" for a in conj_texts[0]]
    else:
        lines.append("(assert (or " + " ".join(
            "(and " + " ".join(c) + ")" if len(c) > 1 or rng.random() < 0.5 else c[0]
            for c in conj_texts) + "))")
    cases = []
    for _, los, his in boxes:
        for conj in disj:
            rows = []
            for k, op, _, dv in conj:
                kf = tuple(Fraction(int(v)) for v in k)
                if op in ("<=", "<"):
                    rows.append((kf, dv, op == "<"))
                else:
                    rows.append((tuple(-v for v in kf), -dv, op == ">"))
            cases.append(ExactCase(tuple(los), tuple(his), tuple(rows)))
    return _Spec("\n".join(lines) + "\n", cases)


def _reproducer(ws: list[Array], bs: list[Array], scale: float | None, shift: float | None,
                text: str, call: str, detail: str) -> str:
    w = ", ".join(f"np.array({x.astype(np.float32).tolist()!r}, np.float32)" for x in ws)
    b = ", ".join(f"np.array({x.astype(np.float32).tolist()!r}, np.float32)" for x in bs)
    return (f"# {detail}\nimport numpy as np\nfrom neurarust.verify.fuzz_vnnlib import FuzzNet\n"
            "from neurarust.verify.bab import verify_property\n"
            "from neurarust.verify.linear_bounds import crown_bounds, extract\n"
            "from neurarust.verify.vnnlib import parse_vnnlib\n"
            f"model = FuzzNet([{w}], [{b}], {scale!r}, {shift!r})\n"
            f"prop_text = {text!r}\n{call}\n")


def _ort_runner(model: Any, n_in: int) -> Runner:
    import onnxruntime as ort  # type: ignore[import-untyped]

    import neurarust as nr

    proto = nr.onnx.export(model, {"x": f"f32[B, {n_in}]"}, None)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(proto.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name

    def run(x: npt.NDArray[np.float32]) -> npt.NDArray[Any]:
        return np.asarray(sess.run(None, {name: np.asarray(x, np.float32)})[0], np.float64)

    return run


def _eager_runner(model: Any) -> Runner:
    import neurarust as nr

    def run(x: npt.NDArray[np.float32]) -> npt.NDArray[Any]:
        with nr.no_grad():
            return np.asarray(model(nr.tensor(np.asarray(x, np.float32))).numpy(), np.float64)

    return run


def run_case(seed: int, *, timeout: float = 2.0, splits: tuple[str, ...] = ("input", "relu"),
             bounds: bool = True) -> Counts:
    """One fuzz case (deterministic in ``seed`` up to timeouts): a network, a property, both
    verdicts attacked, the linear bounds checked; the counts and any broken claim."""
    with np.errstate(all="ignore"):  # overflowing networks are part of the draw
        return _run_case(seed, timeout, splits, bounds)


def _run_case(seed: int, timeout: float, splits: tuple[str, ...], bounds: bool) -> Counts:
    from .bab import verify_property
    from .vnnlib import parse_vnnlib

    rng = np.random.default_rng(seed)
    out = Counts(cases=1)
    n_in = int(rng.integers(1, 6))
    n_out = int(rng.integers(1, 4))
    depth = int(rng.choice([0, 1, 1, 2, 2, 3]))
    sizes = [n_in] + [int(rng.integers(1, 9)) for _ in range(depth)] + [n_out]
    huge = rng.random() < 0.04
    ws, bs = _weights(rng, sizes, huge)
    scale = float(rng.choice([0.5, 2.0, 3.0])) if rng.random() < 0.15 else None
    shift = float(rng.choice([0.25, -1.5])) if rng.random() < 0.15 else None
    model = FuzzNet(ws, bs, scale, shift)
    import neurarust as nr

    net = extract(nr.trace(model, {"x": f"f32[1, {n_in}]"}))
    runners: list[Runner] = [_ort_runner(model, n_in), _eager_runner(model)]
    plain = scale is None and shift is None
    if plain:
        runners.append(float32_runner(net))
    spec = _property(rng, net, runners, n_in, n_out, huge)
    if spec is None:
        return out
    prop = parse_vnnlib(spec.text)

    def broken(what: str, call: str, detail: str) -> None:
        out.broken.append(Broken(what, _reproducer(ws, bs, scale, shift, spec.text, call,
                                                   f"seed {seed}: {detail}")))

    for split in splits:
        mode = str(rng.choice(["hybrid", "hybrid", "forward", "crown"]))
        alpha = int(rng.choice([0, 0, 3]))
        call = (f"r = verify_property(model, (1, {n_in}), parse_vnnlib(prop_text), "
                f"timeout={timeout}, split={split!r}, intermediate={mode!r}, "
                f"alpha_steps={alpha}); print(r)")
        r = verify_property(model, (1, n_in), prop, timeout=timeout, also=(runners[0],),
                            split=split, intermediate=mode, alpha_steps=alpha)
        key = f"{split}:{r.verdict}"
        out.verdicts[key] = out.verdicts.get(key, 0) + 1
        if r.verdict == "holds":
            out.attacked += 1
            for case in spec.cases:
                hit = attack_case(net, runners, case, rng)
                if hit is not None:
                    broken(f"'holds' ({split} split) refuted", call,
                           f"x = {hit[0].tolist()!r} (float32) gives y = {hit[1].tolist()!r}")
                    break
        elif r.verdict == "violated":
            out.attacked += 1
            assert r.counterexample is not None
            # onnxruntime must replay it; the eager model too, unless its float32 run
            # overflows (then the summation order decides between inf and NaN)
            x = np.asarray(r.counterexample[0], np.float32).reshape(1, -1)
            ys = [np.asarray(run(x), np.float64)[0] for run in runners[:2]]
            ys = [y for i, y in enumerate(ys) if i == 0 or np.all(np.isfinite(y))]
            if not any(all(exact_unsafe(c, x[0], y) for y in ys) for c in spec.cases):
                broken(f"'violated' ({split} split) does not replay", call,
                       f"x = {x[0].tolist()!r} gives y = {[y.tolist() for y in ys]!r}")
    if bounds:
        _check_bounds(net, runners, spec, rng, out, plain, broken)
    return out


def _check_bounds(net: Any, runners: list[Runner], spec: _Spec, rng: np.random.Generator,
                  out: Counts, plain: bool, broken: Any) -> None:
    """Every linear bound on the first case's box contains the float32 runs aimed at it."""
    case = spec.cases[0]
    box = f32_box(case.lo, case.hi)
    if box is None:
        return
    lo32, hi32 = box
    lo, hi = case.box()
    lo, hi = np.minimum(lo, lo32.astype(np.float64)), np.maximum(hi, hi32.astype(np.float64))
    c = np.concatenate([np.eye(net.n_outputs), case.c]) if case.rows else np.eye(net.n_outputs)
    x32, ys = minimise_rows(net, runners, lo32, hi32, c, rng)
    vals = [y @ c.T for y in ys]
    claims: list[tuple[str, Array, Array]] = []
    lb, ub = crown_bounds(net, lo, hi, c)
    claims.append(("crown_bounds", lb[0], ub[0]))
    il, iu = ibp_bounds(net, lo, hi)
    claims.append(("ibp_bounds", il[0], iu[0]))
    for mode in ("forward", "hybrid", "crown"):
        for steps in (0, 4):
            both = np.concatenate([c, -c])
            lbc, _, _ = lower_bound_with_corner(net, lo[None], hi[None], both, None, steps,
                                                intermediate=mode)
            m = c.shape[0]
            claims.append((f"lower_bound_with_corner({mode}, alpha_steps={steps})",
                           lbc[0, :m], -lbc[0, m:]))
    for name, low, up in claims:
        if name == "ibp_bounds":
            v_all = [y for y in ys]
        else:
            v_all = vals
        for v in v_all:
            out.bounds += low.size + up.size
            # NaN only where a bound is claimed (-inf/inf: none, float32 may overflow)
            claimed = np.isfinite(low) | np.isfinite(up)
            with np.errstate(invalid="ignore"):
                bad = np.flatnonzero(np.any((v < low) | (v > up) | (np.isnan(v) & claimed),
                                            axis=1))
            if bad.size:
                i = int(bad[0])
                broken(f"{name} does not contain a float32 run", (
                    f"net = extract(__import__('neurarust').trace(model, {{'x': 'f32[1, "
                    f"{net.n_inputs}]'}}))\nprint({name.split('(')[0]}, {lo.tolist()!r}, "
                    f"{hi.tolist()!r})"),
                    f"x = {x32[i].tolist()!r}: value {v[i].tolist()!r} outside "
                    f"[{low.tolist()!r}, {up.tolist()!r}]")
                return
    if plain and len(net.weights) > 1:
        pre, _ = forward_intermediate(net, lo[None], hi[None], refine=True)
        a = x32.astype(np.float32)
        for k, (pl, pu) in enumerate(pre):
            z = a @ net.weights[k].astype(np.float32).T + net.biases[k].astype(np.float32)
            out.bounds += 2 * z.shape[1]
            if np.any((z < pl[0]) | (z > pu[0]) | (np.isnan(z) & np.isfinite(pl[0]))):
                broken(f"forward_intermediate layer {k} does not contain a float32 run",
                       "see forward_intermediate(net, lo, hi, refine=True)",
                       f"box {lo.tolist()!r} .. {hi.tolist()!r}")
                return
            a = np.maximum(z, np.float32(0))
        _check_lp_bounds(net, lo, hi, pre, x32, out, broken)


def _check_lp_bounds(net: Any, lo: Array, hi: Array, pre: list[tuple[Array, Array]],
                     x32: npt.NDArray[np.float32], out: Counts, broken: Any) -> None:
    """The LP-tightened hidden bounds of :mod:`.relu_split` contain the float32 runs."""
    from .linear_bounds import _eps
    from .relu_split import tighten_bounds

    if len(net.weights) < 3 or not all(np.isfinite(p[0]).all() for p in pre):
        return
    mags = [np.maximum(np.abs(lo), np.abs(hi))] + [np.maximum(p[1][0], 0.0) for p in pre]
    eps = [_eps(net, k, m[None])[0] for k, m in enumerate(mags)]
    sizes = [len(b) for b in net.biases[:-1]]
    cuts = np.cumsum(sizes)[:-1]
    low = np.concatenate([p[0][0] for p in pre])
    up = np.concatenate([p[1][0] for p in pre])
    tl, tu = tighten_bounds(net, lo, hi, low, up, eps, cuts)
    a = x32.astype(np.float32)
    zs = []
    for k in range(len(net.weights) - 1):
        z = a @ net.weights[k].astype(np.float32).T + net.biases[k].astype(np.float32)
        zs.append(z)
        a = np.maximum(z, np.float32(0))
    z_all = np.concatenate(zs, axis=1)
    out.bounds += 2 * z_all.shape[1]
    if np.any((z_all < tl) | (z_all > tu)):
        broken("relu_split.tighten_bounds does not contain a float32 run",
               "see tighten_bounds on the first case's box",
               f"box {lo.tolist()!r} .. {hi.tolist()!r}")


def campaign(seeds: range, *, timeout: float = 2.0, budget: float | None = None,
             bounds: bool = True, log: Any = None) -> Counts:
    """:func:`run_case` over ``seeds`` (until ``budget`` seconds have passed), totalled."""
    total = Counts()
    t0 = time.perf_counter()
    for s in seeds:
        if budget is not None and time.perf_counter() - t0 > budget:
            break
        c = run_case(s, timeout=timeout, bounds=bounds)
        total.add(c)
        if log is not None:
            for b in c.broken:
                log(str(b))
    return total
