"""ONNX benchmark: export time, and inference latency of the exported models in onnxruntime
vs neurarust eager vs PyTorch eager (same architecture, the same weights copied in).

Models:

- CNN: the MNIST ``SmallCNN`` (``neurarust/examples/mnist.py``: conv 1->16, relu, pool,
  conv 16->32, relu, pool, linear 1568->128, relu, linear 128->10), input ``f32[B, 1, 28, 28]``;
- Transformer: ``nn.TransformerEncoder`` of 2 ``TransformerEncoderLayer(d_model=64,
  nhead=4, dim_feedforward=128, batch_first=True)`` with a final LayerNorm, input
  ``f32[B, T, 64]``.

Each is exported once with symbolic dims (``B``, and ``T``), so one ONNX file serves every
batch size and length. Export time is the whole ``nr.onnx.export`` (trace, emit, the
``check_model(full_check=True)`` and the shape-inference comparison), median of 3.

Latency: for each input size, every framework runs the same random input (outputs compared:
the largest absolute difference from PyTorch is printed), a few warm-up calls, then the
median of ``--runs`` timed calls (``time.perf_counter``), in eval mode without gradients.
Threads: onnxruntime's intra-op pool, PyTorch's ``set_num_threads`` and numpy's BLAS all get
``--threads`` (default: the BLAS pool's size, read with threadpoolctl). One process runs
everything in turn, so load elsewhere on a shared machine affects the three alike only on
average: rerun to see the spread.

Run::

    python bench/onnx_latency.py               # both models, the table with ratios
    python bench/onnx_latency.py --runs 50     # more timed calls per cell
    python bench/onnx_latency.py --threads 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

# import neurarust from this checkout (the script runs from bench/)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def _blas_threads() -> int:
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                return int(pool["num_threads"])
    except ImportError:
        pass
    return os.cpu_count() or 1


def _median_time(fn: Callable[[], Any], runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _models(torch: Any) -> dict[str, tuple[Any, Any, dict[str, str], list[tuple[int, ...]]]]:
    """name -> (neurarust model, PyTorch twin with the same weights, input spec, sizes)."""
    import neurarust as nr
    from neurarust import nn
    from neurarust.examples.mnist import SmallCNN

    nr.manual_seed(0)
    cnn = SmallCNN()
    tcnn = torch.nn.Sequential()
    tcnn.features = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2))
    tcnn.classifier = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(32 * 7 * 7, 128), torch.nn.ReLU(),
        torch.nn.Dropout(0.2), torch.nn.Linear(128, 10))
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(64, 4, 128, batch_first=True), 2,
                                norm=nn.LayerNorm(64))
    tenc = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(64, 4, 128, batch_first=True), 2,
        norm=torch.nn.LayerNorm(64), enable_nested_tensor=False)
    for ours, theirs in ((cnn, tcnn), (enc, tenc)):
        state = {k: torch.from_numpy(v.detach().numpy().copy())
                 for k, v in ours.state_dict().items()}
        theirs.load_state_dict(state, strict=True)
        ours.eval()
        theirs.eval()
    return {"CNN": (cnn, tcnn, {"x": "f32[B, 1, 28, 28]"}, [(1, 1, 28, 28), (64, 1, 28, 28)]),
            "Transformer": (enc, tenc, {"x": "f32[B, T, 64]"}, [(1, 32, 64), (16, 32, 64)])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="timed calls per cell")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    threads = args.threads or _blas_threads()
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    import onnxruntime as ort
    import torch
    from threadpoolctl import threadpool_limits

    import neurarust as nr

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    print(f"onnxruntime {ort.__version__}, torch {torch.__version__}, numpy {np.__version__}; "
          f"{threads} thread(s); median of {args.runs} calls after 3 warm-ups\n")
    header = (f"{'model':<12} {'input':<16} {'onnxruntime':>12} {'neurarust':>12} "
              f"{'pytorch':>12} {'nr/ort':>7} {'nr/torch':>9} {'ort/torch':>9} "
              f"{'max|diff|':>10}")
    rows = []
    exports = []
    with threadpool_limits(limits=threads, user_api="blas"):
        for name, (model, twin, spec, sizes) in _models(torch).items():
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "m.onnx")
                export_times = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    nr.onnx.export(model, spec, path)
                    export_times.append(time.perf_counter() - t0)
                size = os.path.getsize(path)
                opts = ort.SessionOptions()
                opts.intra_op_num_threads = threads
                opts.inter_op_num_threads = 1
                sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
            exports.append((name, statistics.median(export_times), size,
                            len(sess.get_inputs()[0].shape)))
            for shape in sizes:
                x = rng.standard_normal(shape).astype(np.float32)
                xt = torch.from_numpy(x)
                xn = nr.tensor(x)

                def run_nr() -> Any:
                    with nr.no_grad():
                        return model(xn).numpy()

                def run_torch() -> Any:
                    with torch.inference_mode():
                        return twin(xt).numpy()

                def run_ort() -> Any:
                    return sess.run(None, {"x": x})[0]

                ref = run_torch()
                diff = max(float(np.abs(run_nr() - ref).max()),
                           float(np.abs(run_ort() - ref).max()))
                t_ort = _median_time(run_ort, args.runs)
                t_nr = _median_time(run_nr, args.runs)
                t_torch = _median_time(run_torch, args.runs)
                rows.append(f"{name:<12} {'x'.join(map(str, shape)):<16} "
                            f"{t_ort * 1e3:>10.3f}ms {t_nr * 1e3:>10.3f}ms "
                            f"{t_torch * 1e3:>10.3f}ms {t_nr / t_ort:>7.2f} "
                            f"{t_nr / t_torch:>9.2f} {t_ort / t_torch:>9.2f} {diff:>10.1e}")
    print("export (trace + emit + check_model(full_check) + shape inference), median of 3:")
    for name, seconds, size, _ in exports:
        print(f"  {name:<12} {seconds * 1e3:8.1f} ms   {size / 1024:8.1f} KiB")
    print("\ninference latency per call:")
    print(header)
    for row in rows:
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
