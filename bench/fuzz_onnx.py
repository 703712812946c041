"""Fuzz campaign for ``nr.onnx.load``: N mutated ONNX models, each loaded (and run once on a
small input when it loads) in a worker process with a wall-clock limit and a memory cap.

    python bench/fuzz_onnx.py [--cases 10000] [--seed 0] [--jobs 2] [--timeout 30]
                              [--backend 200] [--save DIR] [--replay I]

Every fourth mutant loads with ``check=False`` (no onnx.checker), which takes it past the
checker into the importer's own defences. Counts: ok, documented errors (OnnxImportError at load or run; the ops' ShapeError/DTypeError
at run), crashes (any other exception, or a worker that died), timeouts (killed after
``--timeout`` s), and the peak resident memory of any case (each worker resets its peak before
a case: ``/proc/self/clear_refs``; the address space is capped at ``--mem-cap`` GiB as a safety
net, so a case that would take more dies with MemoryError and counts as a crash). Mutants are
rebuilt from ``(seed, index)`` (``--replay I`` runs one in-process and prints its outcome);
``--save DIR`` writes every crash and timeout as ``DIR/<index>.onnx``.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


# -- the worker side ----------------------------------------------------------------------------
def _peak_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def worker(mem_cap_gib: float) -> None:
    """Read case file paths on stdin, answer one JSON line each."""
    import resource

    cap = int(mem_cap_gib * (1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    from neurarust.onnx.fuzz import corpus, run_case

    run_case(corpus(0)[0][1])  # warm up (imports, the checker's helper): times are per case
    for line in sys.stdin:
        req = json.loads(line)
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset VmHWM: the peak below is this case's
        except OSError:
            pass
        t0 = time.perf_counter()
        data = Path(req["path"]).read_bytes()
        try:
            outcome, detail = run_case(data, req["index"], check=req["index"] % 4 != 3)
        except BaseException as err:  # noqa: BLE001 - MemoryError etc. outside run_case's net
            outcome, detail = f"crash:{type(err).__name__}", str(err)[:300]
        print(json.dumps({"index": req["index"], "outcome": outcome, "detail": detail,
                          "secs": time.perf_counter() - t0, "peak_mb": _peak_mb()}),
              flush=True)


# -- the parent side ----------------------------------------------------------------------------
class _Worker:
    def __init__(self, mem_cap: float) -> None:
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                   PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        self.proc = subprocess.Popen([sys.executable, __file__, "--worker",
                                      "--mem-cap", str(mem_cap)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                     text=True, bufsize=1)

    def ask(self, path: str, index: int, timeout: float) -> dict[str, Any] | None:
        """The worker's answer, or None when it did not answer in time or died."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps({"path": path, "index": index}) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            return None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else None

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def campaign(args: argparse.Namespace) -> int:
    from neurarust.onnx.fuzz import corpus, mutant

    t_start = time.perf_counter()
    seeds = corpus(args.backend)
    print(f"corpus: {len(seeds)} valid models "
          f"({sum(1 for n, _ in seeds if n.startswith('node:'))} ONNX backend node cases); "
          f"{args.cases} mutants, seed {args.seed}, {args.jobs} workers, "
          f"{args.timeout:.0f} s limit, address space capped at {args.mem_cap} GiB", flush=True)
    tmp = Path(args.tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    save = Path(args.save) if args.save else None
    if save:
        save.mkdir(parents=True, exist_ok=True)
    counts: Counter[str] = Counter()
    crashes: Counter[str] = Counter()
    examples: dict[str, int] = {}
    peak = [0.0, -1]
    slowest = [0.0, -1]
    lock = threading.Lock()
    next_index = [0]

    def record(index: int, desc: str, data: bytes, res: dict[str, Any] | None,
               outcome: str) -> None:
        with lock:
            counts[outcome] += 1
            if res is not None:
                if res["peak_mb"] > peak[0]:
                    peak[:] = [res["peak_mb"], index]
                if res["secs"] > slowest[0]:
                    slowest[:] = [res["secs"], index]
            if outcome.startswith("crash") or outcome == "timeout":
                key = f"{outcome}: {res['detail'] if res else desc}"[:240]
                crashes[key] += 1
                examples.setdefault(key, index)
                if save:
                    (save / f"{index}.onnx").write_bytes(data)
            done = sum(counts.values())
            if done % 500 == 0:
                print(f"  {done:6d} done, {time.perf_counter() - t_start:6.0f} s: "
                      f"{dict(counts.most_common())}", flush=True)

    def loop(slot: int) -> None:
        w = _Worker(args.mem_cap)
        path = str(tmp / f"case{slot}.onnx")
        while True:
            with lock:
                index = next_index[0]
                next_index[0] += 1
            if index >= args.cases:
                break
            desc, data = mutant(args.seed, index, seeds)
            Path(path).write_bytes(data)
            res = w.ask(path, index, args.timeout)
            if res is None:
                alive = w.proc.poll() is None
                w.kill()
                w = _Worker(args.mem_cap)
                record(index, desc, data, None, "timeout" if alive else "crash:worker died")
                continue
            record(index, desc, data, res, res["outcome"])
        w.kill()

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(args.jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = sum(counts.values())
    documented = sum(n for k, n in counts.items() if k.startswith(("load:", "run:")))
    crash = sum(n for k, n in counts.items() if k.startswith("crash"))
    print(f"\n{total} mutants in {time.perf_counter() - t_start:.0f} s")
    print(f"  loaded and ran:      {counts['ok']}")
    for k, n in sorted(counts.items()):
        if k.startswith(("load:", "run:")):
            print(f"  {k + ':':20s} {n}")
    print(f"  documented errors:   {documented}")
    print(f"  crashes:             {crash}")
    print(f"  timeouts (> {args.timeout:.0f} s):   {counts['timeout']}")
    print(f"  peak RSS of a case:  {peak[0]:.0f} MB (mutant {peak[1]}); slowest case "
          f"{slowest[0]:.1f} s (mutant {slowest[1]})")
    for key, n in crashes.most_common(15):
        print(f"    {n:5d} x {key} (e.g. mutant {examples[key]})")
    return 1 if crash or counts["timeout"] else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--cases", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--mem-cap", type=float, default=4.0, help="GiB of address space per worker")
    p.add_argument("--backend", type=int, default=200, help="ONNX backend node cases in the corpus")
    p.add_argument("--save", default=None, help="folder for crash/timeout reproducers")
    p.add_argument("--tmp", default="/tmp/nr_fuzz_onnx")
    p.add_argument("--replay", type=int, default=None, help="run one mutant in-process")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args.mem_cap)
        return 0
    if args.replay is not None:
        from neurarust.onnx.fuzz import corpus, mutant, run_case

        desc, data = mutant(args.seed, args.replay, corpus(args.backend))
        print(desc, len(data), "bytes:", *run_case(data, args.replay, args.replay % 4 != 3))
        return 0
    return campaign(args)


if __name__ == "__main__":
    raise SystemExit(main())
