"""Training benchmark: one epoch of an MLP and of a small CNN, neurarust vs PyTorch CPU.

Models (the same layers, default initialisations, in both frameworks), Adam (lr 1e-3),
cross-entropy, batch 64, float32, on synthetic 28x28 inputs:

- MLP: 784-256-128-10 with ReLU, one epoch of 60,000 images (flattened to 784);
- CNN: conv 1->32 3x3, relu, maxpool 2, conv 32->64 3x3, relu, maxpool 2, flatten,
  linear 1600->128, relu, linear 128->10; one epoch of 10,000 images by default
  (``--cnn-images``), a sixth of MNIST's 60,000, to keep the run short: the work per image is
  the same, so the time per epoch scales linearly with the count.

The inputs are uniform random numbers and the labels random classes. The data content does
not change the arithmetic: every op runs the same dense kernels on the same shapes whatever
the values (ReLU and max pooling pick different elements, not a different amount of work).

One epoch = for each shuffled batch: index the numpy arrays (the same numpy fancy-index in
both frameworks, wrapped zero-copy with ``from_numpy``), forward, loss, ``zero_grad``,
backward, ``step``. No DataLoader: this measures the model's training step, not data loading
(``bench/data_loading.py`` does that).

Method:

- every (framework, model) measurement runs in its own fresh subprocess, which does a
  warm-up of a few batches and then times exactly one epoch; the subprocesses alternate
  (nr, torch, nr, torch, ...) ``--repeats`` times and the table gives the median epoch time
  (and the min-max range), so that load elsewhere on a shared machine hits both alike;
- threads: PyTorch gets ``torch.set_num_threads(T)`` with T = numpy's BLAS thread count
  (read with threadpoolctl; ``--threads T`` sets it for both, through OPENBLAS_NUM_THREADS /
  OMP_NUM_THREADS in the subprocesses' environment);
- load: each subprocess also reports how many cores other processes kept busy during its
  timed epoch (from /proc/stat, minus its own CPU time), printed beside each measurement;
- memory: each subprocess reads its resident set size (``/proc/self/statm``) after imports,
  data and model creation, just before the first training step (``base``), and its peak
  resident set size after the epoch: ``VmHWM`` from ``/proc/self/status``, the kernel's
  high-water mark of this process's address space (``ru_maxrss`` is not used: after
  fork + exec it starts from the forking parent's high-water mark). ``peak`` is the whole
  process (interpreter, library, data, model, training); ``train`` = peak - base is the
  memory that training itself added: activations, saved tensors, gradients, optimizer
  state, scratch buffers, allocator caches. Comparing ``train`` is the fair comparison of
  the two frameworks' training memory; ``peak`` also counts the libraries themselves
  (PyTorch's shared libraries are much larger than numpy's). The data is created in place,
  without temporaries, so the high-water mark is at ``base`` when training starts (the
  subprocess checks this, and the table notes any exception).

Run::

    python bench/train.py                  # both models, 3 repeats, the table
    python bench/train.py --repeats 5      # more repeats
    python bench/train.py --threads 1      # single-threaded BLAS and PyTorch
    python bench/train.py --only cnn       # one model
    python bench/train.py --profile        # cProfile top list of one neurarust CNN epoch

Targets (issue 4): MLP <= 1.5x PyTorch's time, CNN <= 2x, training memory <= PyTorch's.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.metadata
import io
import json
import os
import platform
import pstats
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BATCH = 64
WARMUP_BATCHES = 5
SEED = 0


# -- shared helpers ----------------------------------------------------------------------------
def blas_threads() -> tuple[int, str]:
    """numpy's BLAS thread count, and where the number came from."""
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                return int(pool["num_threads"]), f"threadpoolctl ({pool.get('internal_api')})"
    except ImportError:
        pass
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var):
            return int(os.environ[var]), var
    return os.cpu_count() or 1, "os.cpu_count()"


def current_rss_mb() -> float:
    """This process's resident set size now (Linux ``/proc/self/statm``), in MiB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB: the kernel's high-water mark of
    this address space (``VmHWM`` in ``/proc/self/status``). ``ru_maxrss`` is not used: after
    fork + exec it starts from the forking parent's high-water mark, not the child's own."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def busy_cpu_seconds() -> float:
    """CPU seconds all processes on the machine have spent busy (``/proc/stat``), or 0.0."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:  # pragma: no cover - not Linux
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def synthetic_data(model: str, n: int) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    """Uniform float32 images (N, 784) for the MLP or (N, 1, 28, 28) for the CNN, and int64
    labels in [0, 10); generated in place (no float64 temporary)."""
    rng = np.random.default_rng(SEED)
    shape = (n, 784) if model == "mlp" else (n, 1, 28, 28)
    x = rng.random(shape, dtype=np.float32)
    y = rng.integers(0, 10, n, dtype=np.int64)
    return x, y


# -- the two frameworks' models and loops (run inside a worker subprocess) ---------------------
def nr_setup(model: str) -> tuple[Any, Any, Any, Any]:
    sys.path.insert(0, str(ROOT))
    import neurarust as nr
    from neurarust import nn

    nr.manual_seed(SEED)
    if model == "mlp":
        net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                            nn.Linear(128, 10))
    else:
        net = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = nr.optim.Adam(net.parameters(), lr=1e-3)
    return nr, net, opt, nn.CrossEntropyLoss()


def torch_setup(model: str, threads: int) -> tuple[Any, Any, Any, Any]:
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(SEED)
    if model == "mlp":
        net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                            nn.Linear(128, 10))
    else:
        net = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    return torch, net, opt, nn.CrossEntropyLoss()


def run_epoch(lib: Any, net: Any, opt: Any, loss_fn: Any, x: np.ndarray,  # type: ignore[type-arg]
              y: np.ndarray, batches: int | None = None, seed: int = 1) -> float:  # type: ignore[type-arg]
    """Train over the data once (or over its first ``batches`` shuffled batches); return the
    last batch's loss."""
    order = np.random.default_rng(seed).permutation(len(x))
    stop = len(x) if batches is None else min(len(x), batches * BATCH)
    loss = None
    for start in range(0, stop, BATCH):
        idx = order[start:start + BATCH]
        xb, yb = lib.from_numpy(x[idx]), lib.from_numpy(y[idx])
        loss = loss_fn(net(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss is not None
    return float(loss.item())


def worker(framework: str, model: str, images: int, threads: int) -> dict[str, Any]:
    """One measurement: set up, warm up, time one epoch; the figures as a dict."""
    if framework == "nr":
        lib, net, opt, loss_fn = nr_setup(model)
    else:
        lib, net, opt, loss_fn = torch_setup(model, threads)
    rss_imports = current_rss_mb()
    x, y = synthetic_data(model, images)
    base, peak_before = current_rss_mb(), peak_rss_mb()
    first = run_epoch(lib, net, opt, loss_fn, x, y, batches=WARMUP_BATCHES, seed=99)
    busy0, own0, t0 = busy_cpu_seconds(), own_cpu_seconds(), time.perf_counter()
    last = run_epoch(lib, net, opt, loss_fn, x, y)
    seconds = time.perf_counter() - t0
    others = max(0.0, (busy_cpu_seconds() - busy0) - (own_cpu_seconds() - own0)) / seconds
    peak = peak_rss_mb()
    return {"framework": framework, "model": model, "images": images, "seconds": seconds,
            "rss_imports_mb": rss_imports, "base_mb": base, "peak_mb": peak,
            "train_mb": peak - base, "peak_before_mb": peak_before,
            "first_loss": first, "last_loss": last, "other_load": others}


# -- the driver ---------------------------------------------------------------------------------
def spawn(framework: str, model: str, images: int, threads: int, env: dict[str, str]
          ) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", framework, "--model", model,
           "--images", str(images), "--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {framework}/{model} failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _med(results: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in results))


def main_table(args: argparse.Namespace) -> None:
    env = dict(os.environ)
    if args.threads is not None:
        threads, source = args.threads, "--threads"
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
    else:
        threads, source = blas_threads()
    try:  # the version only: this process never imports torch (its children fork from it)
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - needs the peer
        sys.exit("bench/train.py compares with PyTorch: install the 'oracle' extra")
    print(f"python {platform.python_version()}, numpy {np.__version__}, torch {torch_version}, "
          f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()})")
    print(f"threads: numpy BLAS {threads} (from {source}); torch.set_num_threads({threads})")
    print(f"batch {BATCH}, Adam(lr=1e-3), float32; warm-up {WARMUP_BATCHES} batches, then one "
          f"timed epoch per fresh subprocess; median of {args.repeats} alternating repeats")
    models = [m for m in ("mlp", "cnn") if args.only in (None, m)]
    images = {"mlp": args.mlp_images, "cnn": args.cnn_images}
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for model in models:
        for _ in range(args.repeats):
            for fw in ("nr", "torch"):
                r = spawn(fw, model, images[model], threads, env)
                results.setdefault((fw, model), []).append(r)
                print(f"  {fw:5} {model}: {r['seconds']:7.2f} s  peak {r['peak_mb']:6.0f} MiB  "
                      f"train +{r['train_mb']:5.0f} MiB  loss {r['first_loss']:.3f} -> "
                      f"{r['last_loss']:.3f}  (other processes: {r['other_load']:.2f} cores)",
                      flush=True)
    print()
    print(f"{'model':28} {'nr s':>7} {'torch s':>8} {'nr/torch':>9} {'target':>7}   "
          f"{'nr peak':>8} {'torch peak':>10}   {'nr train':>9} {'torch train':>11}")
    targets = {"mlp": 1.5, "cnn": 2.0}
    for model in models:
        rn, rt = results[("nr", model)], results[("torch", model)]
        tn, tt = _med(rn, "seconds"), _med(rt, "seconds")
        label = (f"MLP 784-256-128-10, {images[model]}" if model == "mlp"
                 else f"CNN, {images[model]} images")
        print(f"{label:28} {tn:7.2f} {tt:8.2f} {tn / tt:8.2f}x {targets[model]:6.1f}x   "
              f"{_med(rn, 'peak_mb'):6.0f}MB {_med(rt, 'peak_mb'):8.0f}MB   "
              f"{_med(rn, 'train_mb'):7.0f}MB {_med(rt, 'train_mb'):9.0f}MB")
        spread = (f"    range: nr {min(r['seconds'] for r in rn):.2f}-"
                  f"{max(r['seconds'] for r in rn):.2f} s, torch "
                  f"{min(r['seconds'] for r in rt):.2f}-{max(r['seconds'] for r in rt):.2f} s; "
                  f"after imports: nr {_med(rn, 'rss_imports_mb'):.0f} MiB, torch "
                  f"{_med(rt, 'rss_imports_mb'):.0f} MiB")
        print(spread)
        for r in rn + rt:
            if r["peak_before_mb"] > r["base_mb"] + 1:
                print(f"    note: {r['framework']} {model}: the high-water mark was "
                      f"{r['peak_before_mb']:.0f} MiB before training (base {r['base_mb']:.0f})")
    print("(MB = MiB; peak: whole-process peak RSS; train: peak RSS - RSS just before training)")
    loads = [r["other_load"] for rs in results.values() for r in rs]
    busy = statistics.median(loads)
    if busy + threads > (os.cpu_count() or 1) + 0.25:
        print(f"WARNING: other processes kept {busy:.2f} cores busy (median) while this ran "
              f"{threads} thread(s) on {os.cpu_count()} CPUs: the machine was oversubscribed, "
              f"and multi-threaded BLAS and PyTorch degrade erratically then (10x here). Rerun "
              f"on a quiet machine, or with --threads 1.")


def main_profile(args: argparse.Namespace) -> None:
    """cProfile of one neurarust CNN epoch (in this process), top functions."""
    lib, net, opt, loss_fn = nr_setup("cnn")
    x, y = synthetic_data("cnn", args.cnn_images)
    run_epoch(lib, net, opt, loss_fn, x, y, batches=WARMUP_BATCHES, seed=99)
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    run_epoch(lib, net, opt, loss_fn, x, y)
    profiler.disable()
    print(f"one neurarust CNN epoch of {args.cnn_images} images: "
          f"{time.perf_counter() - t0:.2f} s under cProfile")
    for key in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.strip_dirs().sort_stats(key).print_stats(args.top)
        print(f"\n-- top {args.top} by {key} --")
        text = out.getvalue()
        print(text[text.find("   ncalls"):].rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="alternating repeats (median)")
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS and torch threads (default: numpy's BLAS thread count)")
    parser.add_argument("--only", choices=("mlp", "cnn"), default=None)
    parser.add_argument("--mlp-images", type=int, default=60_000)
    parser.add_argument("--cnn-images", type=int, default=10_000)
    parser.add_argument("--profile", action="store_true",
                        help="print a cProfile top list of one neurarust CNN epoch")
    parser.add_argument("--top", type=int, default=30, help="rows of the profile")
    parser.add_argument("--worker", choices=("nr", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--model", choices=("mlp", "cnn"), help=argparse.SUPPRESS)
    parser.add_argument("--images", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.model, args.images, args.threads)))
    elif args.profile:
        main_profile(args)
    else:
        main_table(args)


if __name__ == "__main__":
    main()
