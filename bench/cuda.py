"""The CUDA backend on one machine, in one run: parity of each op with the CPU backend, then
GEMM, conv2d and one CNN training epoch timed against PyTorch CUDA, with ratios.

    python bench/cuda.py --log DIR            # on a GPU machine (pycuda built, see gpu_check.sh)
    python bench/cuda.py --emulate --small    # anywhere with g++: the emulator, tiny sizes

Parity (float32 unless noted): relative error max|cuda - cpu| / max|cpu| must be < 1e-5 for
exact ops and < 1e-3 for GEMM/conv (PyTorch's TF32 is switched off for the timings, cuBLAS
runs without TF32 by default). Exit status 1 when a parity check fails. The table also
says, for the CNN epoch, which ops ran through host copies (``nr.cuda.fallback_counts()``).
Results also go to ``DIR/cuda_bench.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXACT, GEMM_TOL = 1e-5, 1e-3


def _rel(got: np.ndarray, ref: np.ndarray) -> float:  # type: ignore[type-arg]
    scale = float(np.max(np.abs(ref))) if ref.size else 1.0
    return float(np.max(np.abs(got.astype(np.float64) - ref))) / (scale or 1.0)


def _grads(nr: Any, fn: Callable[..., Any], inputs: tuple[Any, ...], device: str,
           seed: int) -> list[np.ndarray]:  # type: ignore[type-arg]
    """d(sum(fn(*inputs) * r))/d(float inputs), r a fixed random cotangent, on ``device``."""
    xs = [nr.from_numpy(x).to(device) for x in inputs]
    for t in xs:
        if t.dtype.is_floating_point:
            t.requires_grad_(True)
    out = fn(*xs)
    r = np.random.default_rng(seed).standard_normal(out.shape).astype(np.float32)
    (out * nr.from_numpy(r).to(device)).sum().backward()
    return [t.grad.cpu().numpy() for t in xs if t.grad is not None]


def parity(nr: Any, small: bool) -> list[dict[str, Any]]:
    """Each op on cuda vs the same op on the CPU backend: the forward value and, for
    differentiable cases, the gradient of every float input."""
    from neurarust.kernels.cuda.kernels import softmax_lastdim

    F = nr.nn.functional
    rng = np.random.default_rng(0)
    n = 64 if small else 1024

    def r(*shape: int) -> np.ndarray:  # type: ignore[type-arg]
        return rng.standard_normal(shape).astype(np.float32)

    a, b, row = r(n, n), r(n, n), r(n)
    img, w3 = r(4, 3, 16, 16), r(8, 3, 3, 3)
    labels = rng.integers(0, n, 32)
    table = rng.standard_normal((50, 16)).astype(np.float32)
    ids = rng.integers(0, 50, (8, 12))
    Case = tuple[str, float, bool, Callable[..., Any], tuple[np.ndarray, ...]]  # type: ignore[type-arg]
    cases: list[Case] = [
        ("add (broadcast row)", EXACT, True, lambda x, y: x + y, (a, row)),
        ("sub", EXACT, True, lambda x, y: x - y, (a, b)),
        ("mul (broadcast col)", EXACT, True, lambda x, y: x * y, (a, row.reshape(-1, 1))),
        ("div", EXACT, True, lambda x, y: x / (y.abs() + 1.0), (a, b)),
        ("exp/tanh/sigmoid", EXACT, True, lambda x: x.exp().tanh() + x.sigmoid(), (a,)),
        ("transpose + relu", EXACT, True, lambda x: x.t().relu(), (a,)),
        ("sum dim=-1", EXACT, True, lambda x: x.sum(dim=-1), (a,)),
        ("sum dim=0", EXACT, True, lambda x: x.sum(dim=0), (a,)),
        ("sum all", EXACT, True, lambda x: x.sum(), (a,)),
        ("mean/var dim=-1", EXACT, True, lambda x: x.mean(-1) + x.var(-1), (a,)),
        ("amax dim=1", EXACT, True, lambda x: x.amax(1), (a,)),
        ("argmax dim=-1", EXACT, False, lambda x: x.argmax(-1), (a,)),
        ("matmul (GEMM)", GEMM_TOL, True, lambda x, y: x @ y, (a, b)),
        ("log_softmax", EXACT, True, lambda x: F.log_softmax(x, dim=-1), (a,)),
        ("cross_entropy", EXACT, True,
         lambda x, t: F.cross_entropy(x, t), (a[:32], labels)),
        ("layer_norm", EXACT, True, lambda x: F.layer_norm(x, (n,)), (a,)),
        ("embedding", EXACT, True, lambda t, i: F.embedding(i, t), (table, ids)),
        ("conv2d", GEMM_TOL, True, lambda x, w: F.conv2d(x, w, padding=1), (img, w3)),
        ("max_pool2d", EXACT, True, lambda x: F.max_pool2d(x, 2), (img,)),
        ("avg_pool2d", EXACT, True, lambda x: F.avg_pool2d(x, 2), (img,)),
    ]
    rows = []
    for i, (name, tol, grad, fn, inputs) in enumerate(cases):
        before = nr.cuda.fallback_counts()
        ref = np.asarray(fn(*(nr.from_numpy(x) for x in inputs)).numpy(), np.float64)
        got = fn(*(nr.from_numpy(x).cuda() for x in inputs)).cpu().numpy()
        err = _rel(got, ref)
        if grad:
            ref_g = _grads(nr, fn, inputs, "cpu", i)
            got_g = _grads(nr, fn, inputs, "cuda", i)
            err = max([err] + [_rel(g, np.asarray(h, np.float64))
                               for g, h in zip(got_g, ref_g)])
        host = sorted(nr.cuda.fallback_counts() - before)
        rows.append({"op": name + (" +grad" if grad else ""), "rel_err": err, "tol": tol,
                     "ok": err < tol, "path": "host: " + ", ".join(host) if host
                     else "native"})
    x = r(n, 300)
    got = softmax_lastdim(nr.from_numpy(x).cuda()._data).get()
    e = np.exp(x.astype(np.float64) - x.max(-1, keepdims=True))
    err = _rel(got, e / e.sum(-1, keepdims=True))
    rows.append({"op": "softmax.cu (direct)", "rel_err": err, "tol": EXACT,
                 "ok": err < EXACT, "path": "native"})
    return rows


def _time(fn: Callable[[], Any], sync: Callable[[], None], repeats: int) -> float:
    fn()
    sync()  # warm-up: compilation, cuBLAS handle, caches
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def _torch_cuda() -> Any:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return torch


def _cnn(lib: Any) -> Any:
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))


def _epoch(lib: Any, device: Any, images: int, batch: int) -> Callable[[], None]:
    lib.manual_seed(0)
    net = _cnn(lib).to(device)
    opt = lib.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = lib.nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    x = rng.random((images, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, images)
    xs = [lib.from_numpy(x[i:i + batch]).to(device) for i in range(0, images, batch)]
    ys = [lib.from_numpy(y[i:i + batch]).to(device) for i in range(0, images, batch)]

    def run() -> None:
        for xb, yb in zip(xs, ys):
            loss = loss_fn(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()

    return run


def timings(nr: Any, small: bool, repeats: int) -> list[dict[str, Any]]:
    torch = _torch_cuda()
    sync_nr = nr.cuda.synchronize
    sync_t = (lambda: torch.cuda.synchronize()) if torch is not None else (lambda: None)
    rows: list[dict[str, Any]] = []
    n = 256 if small else 4096
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    xa, xb = nr.from_numpy(a).cuda(), nr.from_numpy(b).cuda()
    t_nr = _time(lambda: xa @ xb, sync_nr, repeats)
    t_pt = None
    if torch is not None:
        ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
        t_pt = _time(lambda: ta @ tb, sync_t, repeats)
    flops = 2.0 * n ** 3
    rows.append({"case": f"GEMM {n}^3 f32", "nr_s": t_nr, "torch_s": t_pt,
                 "nr_tflops": flops / t_nr / 1e12,
                 "torch_tflops": None if t_pt is None else flops / t_pt / 1e12})

    bsz, c, hw = (8, 16, 32) if small else (64, 64, 56)
    x = rng.standard_normal((bsz, c, hw, hw)).astype(np.float32)
    w = rng.standard_normal((c, c, 3, 3)).astype(np.float32)
    cx, cw = nr.from_numpy(x).cuda(), nr.from_numpy(w).cuda()
    t_nr = _time(lambda: nr.nn.functional.conv2d(cx, cw, padding=1), sync_nr, repeats)
    t_pt = None
    if torch is not None:
        tx, tw = torch.from_numpy(x).cuda(), torch.from_numpy(w).cuda()
        t_pt = _time(lambda: torch.nn.functional.conv2d(tx, tw, padding=1), sync_t, repeats)
    rows.append({"case": f"conv2d {bsz}x{c}x{hw}x{hw} k3", "nr_s": t_nr, "torch_s": t_pt})

    images, batch = (256, 64) if small else (10000, 64)
    before = nr.cuda.fallback_counts()
    t_nr = _time(_epoch(nr, "cuda", images, batch), sync_nr, 1)
    host = nr.cuda.fallback_counts() - before
    t_pt = None
    if torch is not None:
        t_pt = _time(_epoch(torch, "cuda", images, batch), sync_t, 1)
    rows.append({"case": f"CNN epoch {images} imgs, batch {batch}", "nr_s": t_nr,
                 "torch_s": t_pt, "host_fallbacks": dict(host.most_common(8))})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--emulate", action="store_true", help="use the emulation driver")
    ap.add_argument("--small", action="store_true", help="tiny sizes (smoke run)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--log", type=Path, default=None, help="folder for cuda_bench.json")
    args = ap.parse_args()
    if args.emulate:
        os.environ["NEURARUST_CUDA_EMULATE"] = "1"
    sys.path.insert(0, str(ROOT))
    import neurarust as nr

    if not nr.cuda.is_available():
        print("no CUDA device: build pycuda (bench/gpu_check.sh) or pass --emulate")
        return 2
    print(f"driver: {nr.cuda.driver_name()}")
    par = parity(nr, args.small)
    print(f"\n{'op (cuda vs cpu)':<26} {'rel err':>10} {'tol':>7}  {'ok':<4} path")
    for p in par:
        print(f"{p['op']:<26} {p['rel_err']:>10.2e} {p['tol']:>7.0e}  "
              f"{'yes' if p['ok'] else 'NO':<4} {p['path']}")
    tim = timings(nr, args.small, args.repeats)
    print(f"\n{'case':<34} {'neurarust':>11} {'torch':>11} {'ratio':>7}")
    for t in tim:
        pt = t["torch_s"]
        ratio = f"{t['nr_s'] / pt:.2f}x" if pt else "n/a"
        pts = f"{pt * 1e3:.2f} ms" if pt else "n/a"
        print(f"{t['case']:<34} {t['nr_s'] * 1e3:>8.2f} ms {pts:>11} {ratio:>7}")
        if "nr_tflops" in t:
            tt = t["torch_tflops"]
            print(f"{'':<34} {t['nr_tflops']:>6.2f} TFLOP/s vs "
                  + (f"{tt:.2f} TFLOP/s ({t['nr_tflops'] / tt:.0%} of torch)" if tt else "n/a"))
        if t.get("host_fallbacks"):
            print(f"{'':<34} host fallbacks (top): {t['host_fallbacks']}")
    if args.emulate:
        print("\n(emulation: timings measure the CPU emulator, not a GPU)")
    if args.log is not None:
        args.log.mkdir(parents=True, exist_ok=True)
        (args.log / "cuda_bench.json").write_text(json.dumps(
            {"driver": nr.cuda.driver_name(), "parity": par, "timings": tim}, indent=1))
    return 0 if all(p["ok"] for p in par) else 1


if __name__ == "__main__":
    raise SystemExit(main())
