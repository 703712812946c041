"""Verification benchmarks, printed (no timings live in tests).

Shape safety: the time ``nr.verify.verify`` takes (trace every path + z3 on every obligation)
for ResNet-18 with symbolic ``B, H, W`` and a 12-layer Transformer encoder with symbolic
``B, T``; target < 2 s each. The models are the verification corpus's
(``tests/verify/corpus/``), so the benchmark and the tests verify the same code.

Numeric bounds: :func:`bench_numeric` (IBP + linear bounds on a 784-256-256-10 ReLU MLP,
side by side with auto_LiRPA where it is installed).

Run: ``python bench/verify.py`` (``--repeat N`` for the best of N runs).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from types import ModuleType
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(os.path.dirname(HERE), "tests", "verify", "corpus")
TARGET_S = 2.0


def _corpus(name: str) -> ModuleType:
    path = os.path.join(CORPUS, f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_corpus_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SHAPE_CASES: list[tuple[str, str, str, dict[str, str], list[str]]] = [
    ("ResNet-18, x: f32[B, 3, H, W]", "resnet", "ResNet18", {"x": "f32[B, 3, H, W]"},
     ["1 <= B <= 4096", "32 <= H <= 512", "32 <= W <= 512"]),
    ("Transformer encoder, 12 layers, x: f32[B, T, 256]", "transformer", "Encoder12",
     {"x": "f32[B, T, 256]"}, ["1 <= B <= 4096", "1 <= T <= 2048"]),
]


def bench_shapes(repeat: int = 3) -> list[dict[str, Any]]:
    """Time shape verification of each SHAPE_CASES model (best of ``repeat``); print a table."""
    from neurarust.verify import verify

    rows = []
    print("shape safety (nr.verify.verify: trace all paths + z3), best of", repeat)
    print(f"  {'model':<52} {'verdict':>8} {'paths':>5} {'oblig.':>6} {'time s':>8} "
          f"{'target':>7}")
    for label, module, name, inputs, assume in SHAPE_CASES:
        model = getattr(_corpus(module), name)()
        best, report = float("inf"), None
        for _ in range(repeat):
            start = time.perf_counter()
            report = verify(model, inputs, assume)
            best = min(best, time.perf_counter() - start)
        assert report is not None
        ok = "ok" if best < TARGET_S else "SLOW"
        print(f"  {label:<52} {report.status:>8} {len(report.paths):>5} "
              f"{len(report.results):>6} {best:>8.3f} {ok:>7}")
        rows.append({"model": label, "status": report.status, "seconds": best})
    return rows


MLP_SIZES = (784, 256, 256, 10)
EPS = 0.01  # the L-inf radius of the input box around one image


def _mlp_weights(seed: int = 0) -> tuple[list[Any], list[Any]]:
    """He-initialised float32 weights of the 784-256-256-10 ReLU MLP (seeded)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    ws, bs = [], []
    for n_in, n_out in zip(MLP_SIZES, MLP_SIZES[1:]):
        ws.append((rng.standard_normal((n_out, n_in)) * np.sqrt(2 / n_in)).astype(np.float32))
        bs.append((rng.standard_normal(n_out) * 0.1).astype(np.float32))
    return ws, bs


def _reference_bounds(ws: list[Any], bs: list[Any], lo: Any, hi: Any, method: str,
                      ) -> tuple[Any, Any]:
    """IBP or CROWN in torch float64 over the reals, written from the papers (Gowal et al.
    2018; Zhang et al. 2018, adaptive lower slopes, CROWN for intermediate layers too): the
    same relaxation auto_LiRPA computes, without float32 rounding terms."""
    import torch

    W = [torch.tensor(w, dtype=torch.float64) for w in ws]
    b = [torch.tensor(v, dtype=torch.float64) for v in bs]
    x_lo, x_hi = torch.tensor(lo, dtype=torch.float64), torch.tensor(hi, dtype=torch.float64)
    if method == "IBP":
        l, u = x_lo, x_hi
        for k in range(len(W)):
            c, r = (l + u) / 2, (u - l) / 2
            zc, zr = W[k] @ c + b[k], W[k].abs() @ r
            l, u = zc - zr, zc + zr
            if k < len(W) - 1:
                l, u = l.clamp(min=0), u.clamp(min=0)
        return l.numpy(), u.numpy()
    pre: list[tuple[Any, Any]] = []

    def lower(a: Any, k: int) -> Any:
        """Lower bound of a @ z_k over the input box (rows of a), backward through layer k."""
        bias = a @ b[k]
        a = a @ W[k]
        for j in range(k - 1, -1, -1):
            l, u = pre[j]
            unstable = (l < 0) & (u > 0)
            up_slope = torch.where(unstable, u / (u - l), (l >= 0).to(u.dtype))
            up_icpt = torch.where(unstable, -l * u / (u - l), torch.zeros_like(u))
            lo_slope = torch.where(unstable, (u > -l).to(u.dtype), (l >= 0).to(u.dtype))
            pos, neg = a.clamp(min=0), a.clamp(max=0)
            bias = bias + neg @ up_icpt
            a = pos * lo_slope + neg * up_slope
            bias = bias + a @ b[j]
            a = a @ W[j]
        c, r = (x_lo + x_hi) / 2, (x_hi - x_lo) / 2
        return a @ c - a.abs() @ r + bias

    for k in range(len(W)):
        eye = torch.eye(W[k].shape[0], dtype=torch.float64)
        pre.append((lower(eye, k), -lower(-eye, k)))
    return pre[-1][0].numpy(), pre[-1][1].numpy()


def _auto_lirpa_bounds(ws: list[Any], bs: list[Any], lo: Any, hi: Any, method: str,
                       ) -> tuple[Any, Any] | str:
    """auto_LiRPA's bounds on the same weights, or why it cannot run here."""
    try:
        import auto_LiRPA
        import torch
        from auto_LiRPA import BoundedModule, BoundedTensor, PerturbationLpNorm
    except Exception as err:  # its 0.3 release needs torch < 1.13 and numpy < 2
        return f"{type(err).__name__}: {err}"
    net = torch.nn.Sequential(*[m for k, (w, v) in enumerate(zip(ws, bs)) for m in (
        [torch.nn.Linear(w.shape[1], w.shape[0])] + ([torch.nn.ReLU()] if k < len(ws) - 1
                                                     else []))])
    with torch.no_grad():
        for lin, w, v in zip([m for m in net if isinstance(m, torch.nn.Linear)], ws, bs):
            lin.weight.copy_(torch.tensor(w))
            lin.bias.copy_(torch.tensor(v))
    x = torch.tensor((lo + hi) / 2, dtype=torch.float32)[None]
    model = BoundedModule(net, x)
    ptb = PerturbationLpNorm(norm=float("inf"), x_L=torch.tensor(lo)[None],
                             x_U=torch.tensor(hi)[None])
    l, u = model.compute_bounds(x=(BoundedTensor(x, ptb),), method=method)
    _ = auto_LiRPA.__version__
    return l.detach().numpy()[0], u.detach().numpy()[0]


def _best(fn: Any, repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def bench_numeric(repeat: int = 3) -> list[dict[str, Any]]:
    """IBP and CROWN bounds of a 784-256-256-10 ReLU MLP over an L-inf box (radius EPS around
    a seeded image in [0, 1]): neurarust's (IBP: ``verify_ranges`` through the registry's
    range rules; CROWN: ``verify.linear_bounds``), both sound for float32, side by side with
    auto_LiRPA's on the same weights where it runs, else with a float64 reference of the
    same relaxations; max bound difference, mean width and the time ratio."""
    import numpy as np

    import neurarust as nr
    from neurarust.verify.linear_bounds import crown_bounds, extract
    from neurarust.verify.numeric import verify_ranges

    ws, bs = _mlp_weights()
    layers: list[Any] = []
    for k, (w, v) in enumerate(zip(ws, bs)):
        lin = nr.nn.Linear(w.shape[1], w.shape[0])
        lin.weight.data = nr.tensor(w)
        lin.bias.data = nr.tensor(v)
        layers += [lin] + ([nr.nn.ReLU()] if k < len(ws) - 1 else [])
    model = nr.nn.Sequential(*layers)
    graph = nr.trace(model, {"x": "f32[1, 784]"})
    x0 = np.random.default_rng(1).random(784).astype(np.float32)
    lo = np.clip(x0 - EPS, 0, 1).astype(np.float32).astype(np.float64)
    hi = np.clip(x0 + EPS, 0, 1).astype(np.float32).astype(np.float64)

    def ours_ibp() -> tuple[Any, Any]:
        out = next(iter(verify_ranges(graph, {"x": (lo, hi)}).outputs.values()))
        return out.lo.reshape(-1), out.hi.reshape(-1)

    net = extract(graph)

    def ours_crown() -> tuple[Any, Any]:
        lb, ub = crown_bounds(net, lo, hi)
        return lb[0], ub[0]

    probe = _auto_lirpa_bounds(ws, bs, lo, hi, "IBP")
    peer = "auto_LiRPA" if not isinstance(probe, str) else "float64 reference"
    print(f"numeric bounds on a 784-256-256-10 ReLU MLP, x in an L-inf box of radius {EPS} "
          f"(best of {repeat}); peer: {peer}")
    if isinstance(probe, str):
        print(f"  auto_LiRPA does not run here: {probe}")
    print(f"  {'method':<6} {'ours s':>9} {'peer s':>9} {'ratio':>6} {'max |d lo|':>11} "
          f"{'max |d hi|':>11} {'ours width':>11} {'peer width':>11} {'sound':>6}")
    rows = []
    for method, ours in (("IBP", ours_ibp), ("CROWN", ours_crown)):
        t_ours, (l1, u1) = _best(ours, repeat)
        if peer == "auto_LiRPA":
            t_peer, ref = _best(lambda: _auto_lirpa_bounds(ws, bs, lo, hi, method), repeat)
        else:
            t_peer, ref = _best(lambda: _reference_bounds(ws, bs, lo, hi, method), repeat)
        l2, u2 = ref
        contains = bool(np.all(l1 <= l2 + 1e-12) and np.all(u1 >= u2 - 1e-12))
        d_lo, d_hi = float(np.max(np.abs(l1 - l2))), float(np.max(np.abs(u1 - u2)))
        w1, w2 = float(np.mean(u1 - l1)), float(np.mean(u2 - l2))
        print(f"  {method:<6} {t_ours:>9.4f} {t_peer:>9.4f} {t_ours / t_peer:>6.2f} "
              f"{d_lo:>11.3g} {d_hi:>11.3g} {w1:>11.5g} {w2:>11.5g} "
              f"{'yes' if contains else 'NO':>6}")
        rows.append({"method": method, "ours_s": t_ours, "peer_s": t_peer, "peer": peer,
                     "max_diff": max(d_lo, d_hi), "contains_peer": contains})
    print("  (ours are sound for float32 and so contain the real-arithmetic bounds; the "
          "difference is that rounding margin)")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.dirname(HERE))
    bench_shapes(args.repeat)
    bench_numeric(args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
