"""Mutation campaign against ``nr.load``: mutated checkpoints, each loaded in a worker
process under a wall-clock limit, with its peak memory measured.

    python bench/fuzz_checkpoints.py [--n 10000] [--seed 0] [--workers 2] [--timeout 30]
                                     [--max-rss-mb 2048]

Mutants come from three base files (a model state dict of every dtype, a nested
optimizer-like state, a file from the ``safetensors`` package without a checksum) and one of:
header JSON mutations (a field's value replaced by another JSON type, huge/negative/float
numbers, 4,300-digit numbers, missing and extra fields, dims counts up to millions, offsets
shifted/swapped/overlapping/huge, unknown and list dtypes, duplicate names, metadata and
structure edits), the same edits *re-signed* (the SHA-256 recomputed, so that they reach the
code after the integrity check), byte flips, truncations, length-prefix edits, huge declared
sizes, and a few big hostile headers (millions of dims, deep or wide nesting, up to ~20 MB).

Each result is counted as: ``loaded_ok`` (the original object, integrity holds),
``loaded_resigned`` (a re-signed mutant that passes every check: a valid file by
construction), ``loaded_unverified`` (a mutant of the checksum-less file: nothing to check
the data against), ``checkpoint_error``, and the failures: ``loaded_altered`` (a checksummed,
not re-signed mutant loaded as something else), ``loaded_reference_rejects`` (a file that
the ``safetensors`` package, the format's reference reader, rejects: nr.load must be as
strict), ``other_exception`` (any other exception: a crash), ``timeout`` (past the wall
limit: the worker is killed) and ``over_memory`` (peak RSS over the cap). Exit status 1 when
there is any failure.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import io
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import random
import resource
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))

import numpy as np

import neurarust as nr
from neurarust import serialization

CHECKSUM = "neurarust.sha256"
FAILURES = ("loaded_altered", "loaded_reference_rejects", "other_exception", "timeout",
            "over_memory")
STRUCTURE = "neurarust.structure"


# -- base files ---------------------------------------------------------------------------------
def base_files() -> list[tuple[str, bytes, Any]]:
    """(name, file bytes, the object it holds; None for the checksum-less file)."""
    rng = np.random.default_rng(0)
    state = {
        "fc.weight": nr.tensor(rng.standard_normal((3, 2)).astype(np.float32)),
        "fc.bias": nr.tensor(np.arange(3, dtype=np.float64)),
        "half": nr.tensor(np.arange(4, dtype=np.float16)),
        "ids": nr.tensor(np.array([1, -2], dtype=np.int64)),
        "i32": nr.tensor(np.array([7], dtype=np.int32)),
        "i16": nr.tensor(np.array([7, 8], dtype=np.int16)),
        "i8": nr.tensor(np.array([-1], dtype=np.int8)),
        "u8": nr.tensor(np.array([255, 0], dtype=np.uint8)),
        "mask": nr.tensor([True, False]),
        "empty": nr.zeros(0, 3),
        "scalar": nr.tensor(2.5),
    }
    optim = {"state": {0: {"step": nr.tensor(3.0), "exp_avg": nr.tensor([[0.5, -1.0]])},
                       1: {"step": nr.tensor(3.0), "exp_avg": nr.tensor([0.25])}},
             "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": float("inf"),
                               "params": [0, 1], "name": None, "nesterov": False}]}
    out = []
    with tempfile.TemporaryDirectory(prefix="nr-fuzz-") as tmp:
        for name, obj in (("state", state), ("optim", optim)):
            path = os.path.join(tmp, "base.safetensors")
            nr.save(obj, path, metadata={"epoch": "3"})
            with open(path, "rb") as f:
                out.append((name, f.read(), obj))
    foreign = _foreign()
    if foreign is not None:
        out.append(("foreign", foreign, None))
    return out


def _foreign() -> bytes | None:
    try:
        from safetensors.numpy import save as st_save
    except ImportError:
        return None
    return bytes(st_save({"a": np.arange(6, dtype=np.float32).reshape(2, 3),
                          "b": np.ones(2, np.int64)}, metadata={"k": "v"}))


def split(raw: bytes) -> tuple[dict[str, Any], bytes]:
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def join(header: dict[str, Any] | bytes, data: bytes) -> bytes:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def resign(header: dict[str, Any], data: bytes) -> dict[str, Any]:
    """``header`` with the checksum neurarust.save would record for it and ``data``."""
    header = copy.deepcopy(header)
    meta = header.get("__metadata__")
    if not isinstance(meta, dict):
        return header
    try:
        digest = hashlib.sha256(serialization._canonical(header))
    except (TypeError, ValueError):
        return header
    spans = []
    for name, info in header.items():
        if name != "__metadata__" and isinstance(info, dict):
            offsets = info.get("data_offsets")
            if (isinstance(offsets, list) and len(offsets) == 2
                    and all(isinstance(o, int) and 0 <= o <= len(data) for o in offsets)):
                spans.append(tuple(offsets))
    for begin, end in sorted(spans):
        digest.update(data[begin:end])
    meta[CHECKSUM] = digest.hexdigest()
    return header


# -- mutations ----------------------------------------------------------------------------------
HUGE = [2 ** 31, 2 ** 32, 2 ** 62, 2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1, 2 ** 64, 10 ** 30, -1,
        -(2 ** 63), 0, 1]


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return rng.choice(HUGE)
    if kind == 1:
        return rng.choice([0.5, -0.0, 1e308, 3.0])
    if kind == 2:
        return rng.choice(["", "F32", "BF16", "x" * rng.randrange(1, 300), "\u00e9\u6f22"])
    if kind == 3:
        return rng.choice([True, False])
    if kind == 4:
        return None
    if kind == 5:
        return rng.randrange(-5, 100)
    if kind == 6:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 7:
        return {str(rng.randrange(9)): random_json(rng, depth + 1)
                for _ in range(rng.randrange(3))}
    return [[random_json(rng, depth + 1)]]


def mutate_header(rng: random.Random, header: dict[str, Any], data: bytes) -> dict[str, Any]:
    h = copy.deepcopy(header)
    names = [k for k in h if k != "__metadata__"]
    name = rng.choice(names) if names else "x"
    info = h.get(name) if isinstance(h.get(name), dict) else {}
    op = rng.randrange(16)
    if op == 0 and info:  # a field's value replaced by any JSON value
        info[rng.choice(list(info))] = random_json(rng)
    elif op == 1 and info:  # huge / negative numbers in shape or offsets
        field = rng.choice(["shape", "data_offsets"])
        values = list(info.get(field) or [0])
        values[rng.randrange(len(values))] = rng.choice(HUGE)
        info[field] = values
    elif op == 2 and info:  # a missing field
        info.pop(rng.choice(list(info)), None)
    elif op == 3 and info:  # an extra field
        info[rng.choice(["extra", "dtype2", "__metadata__"])] = random_json(rng)
    elif op == 4 and info:  # dims counts
        count = rng.choice([0, 1, 2, 63, 64, 65, 100, 1000, 100_000])
        info["shape"] = [rng.choice([1, 1, 2, 0])] * count
    elif op == 5 and info:  # offsets shifted, swapped, overlapping, past the end
        b, e = (info.get("data_offsets") or [0, 0])[:2] if isinstance(
            info.get("data_offsets"), list) and len(info["data_offsets"]) >= 2 else (0, 0)
        info["data_offsets"] = rng.choice([[e, b], [b + 1, e + 1], [b - 1, e], [0, e],
                                           [b, len(data) + 8], [b, e, e], [b], []])
    elif op == 6 and info:  # dtypes
        info["dtype"] = rng.choice(["BF16", "F64", "U8", "BOOL", "Q7", "f32", ["F32"],
                                    {"F": 32}, 32, None, "F8_E4M3", "I64"])
    elif op == 7:  # an entry that is not an object
        h[name] = random_json(rng)
    elif op == 8:  # metadata entries
        meta = h.setdefault("__metadata__", {})
        if isinstance(meta, dict) and meta:
            meta[rng.choice(list(meta))] = random_json(rng)
        else:
            h["__metadata__"] = random_json(rng)
    elif op == 9:  # the structure description
        meta = h.get("__metadata__")
        if isinstance(meta, dict) and STRUCTURE in meta:
            meta[STRUCTURE] = mutate_structure(rng, meta[STRUCTURE])
    elif op == 10:  # the checksum removed or edited
        meta = h.get("__metadata__")
        if isinstance(meta, dict):
            if rng.random() < 0.5:
                meta.pop(CHECKSUM, None)
            else:
                meta[CHECKSUM] = rng.choice(["", "0" * 64, random_json(rng)])
    elif op == 11 and info:  # huge declared sizes, consistent shape and offsets
        dims = rng.choice([[2 ** 31, 2 ** 31], [2 ** 20] * 3, [2 ** 40], [2 ** 16] * 4])
        b = (info.get("data_offsets") or [0])[0]
        b = b if isinstance(b, int) else 0
        info.update(dtype="U8", shape=dims, data_offsets=[b, b + math.prod(dims)])
    elif op == 12 and names:  # a tensor removed, or renamed
        entry = h.pop(name)
        if rng.random() < 0.5:
            h[rng.choice(["", "__metadata__x", name + "#1", "a" * 500, "\u00e9"])] = entry
    elif op == 13 and info:  # a zero dim with huge others
        info["shape"] = [0, rng.choice(HUGE[:8])]
    elif op == 14:  # a new tensor
        h[f"new{rng.randrange(9)}"] = {"dtype": "F32", "shape": [1],
                                       "data_offsets": [len(data), len(data) + 4]}
    else:  # header order shuffled (must not matter)
        items = list(h.items())
        rng.shuffle(items)
        h = dict(items)
    return h


def mutate_structure(rng: random.Random, text: str) -> Any:
    try:
        doc = json.loads(text)
    except ValueError:
        return text[: rng.randrange(len(text) + 1)]
    choice = rng.randrange(6)
    if choice == 0:
        return text[: rng.randrange(len(text))]
    if choice == 1:
        return json.dumps({"version": rng.choice([0, 2, "1", None]), "root": doc.get("root")})
    if choice == 2:
        return json.dumps({"version": 1, "root": random_json(rng)})
    if choice == 3:
        return json.dumps({"version": 1, "root": {"tensor": rng.choice(["nope", 3, None])}})
    if choice == 4:
        return json.dumps({"version": 1, "root": {"dict": [[{"tensor": "x"}, 1]]}})
    return json.dumps({"version": 1, "root": "[" * 100_000})


def hostile_header(rng: random.Random) -> bytes:
    """A big header built to cost time or memory (a few MB to ~20 MB)."""
    n = rng.choice([100_000, 1_000_000, 5_000_000])
    kind = rng.randrange(5)
    if kind == 0:
        body = b"[" + b"1," * n + b"1]"
    elif kind == 1:
        body = b"[" + b"[]," * n + b"[]]"
    elif kind == 2:
        body = b"[" * n + b"]" * n
    elif kind == 3:
        body = b"[" + b"3," * n + b"3]"
    else:
        entries = b",".join(b'"%d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}' % i
                            for i in range(min(n, 300_000)))
        return b"{" + entries + b"}"
    return b'{"t":{"dtype":"F32","shape":' + body + b',"data_offsets":[0,4]}}'


def make_mutant(rng: random.Random, bases: list[tuple[str, bytes, Any]]) -> tuple[str, bytes, bool]:
    """(base name, mutant bytes, re-signed?)."""
    base_name, raw, _ = rng.choice(bases)
    header, data = split(raw)
    kind = rng.random()
    if kind < 0.35:
        return base_name, join(mutate_header(rng, header, data), data), False
    if kind < 0.55:
        return base_name, join(resign(mutate_header(rng, header, data), data), data), True
    if kind < 0.70:  # byte flips
        b = bytearray(raw)
        for _ in range(rng.randrange(1, 9)):
            pos = rng.randrange(len(b))
            b[pos] = rng.choice([b[pos] ^ (1 << rng.randrange(8)), rng.randrange(256), 0x20])
        return base_name, bytes(b), False
    if kind < 0.80:  # truncation
        return base_name, raw[: rng.randrange(len(raw))], False
    if kind < 0.90:  # length-prefix edits
        n = int.from_bytes(raw[:8], "little")
        new = rng.choice([0, 1, n - 1, n + 1, n + 8, 2 ** 63, 2 ** 64 - 1, 100_000_000,
                          100_000_001, rng.randrange(2 ** 64), len(raw)])
        return base_name, struct.pack("<Q", new % 2 ** 64) + raw[8:], False
    if kind < 0.998:  # raw header text edits: duplicates, whitespace, junk
        text = raw[8:8 + int.from_bytes(raw[:8], "little")]
        edit = rng.randrange(4)
        if edit == 0:
            text = text.rstrip(b" }") + b"," + text[1:].rstrip(b" ")  # names twice
        elif edit == 1:
            text = text.replace(b",", b" ,\n\t", rng.randrange(1, 5))
        elif edit == 2:
            pos = rng.randrange(len(text))
            text = text[:pos] + rng.choice([b"\\", b'"', b"\x00", b"\xff", b"NaN", b"-"]) \
                + text[pos:]
        else:
            text = text + b"  " * rng.randrange(4) + rng.choice([b"", b"x", b"{}"])
        return base_name, join(text, data), False
    return "hostile", join(hostile_header(rng), b"\0" * 4), False


# -- running ------------------------------------------------------------------------------------
def same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, nr.Tensor):
        return a.dtype is b.dtype and a.shape == b.shape and np.array_equal(
            a.numpy(), b.numpy(), equal_nan=a.dtype.is_floating_point)
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def classify(raw: bytes, as_path: bool, original: Any, resigned: bool,
             tmpdir: str) -> tuple[str, str]:
    """Load one mutant in this process: (category, detail)."""
    try:
        if as_path:
            path = os.path.join(tmpdir, "mutant.safetensors")
            with open(path, "wb") as f:
                f.write(raw)
            result = nr.load(path)
        else:
            result = nr.load(io.BytesIO(raw))
    except nr.CheckpointError as exc:
        return "checkpoint_error", str(exc)[:200]
    except Exception as exc:  # noqa: BLE001 - a crash is what we count
        return "other_exception", f"{type(exc).__name__}: {str(exc)[:200]}"
    if not _reference_accepts(raw):
        return "loaded_reference_rejects", "nr.load accepted what safetensors rejects"
    if original is not None and same(original, result):
        return "loaded_ok", ""
    if resigned:
        return "loaded_resigned", ""
    if original is None:
        return "loaded_unverified", ""
    return "loaded_altered", "a checksummed file loaded as something else"


def _reference_accepts(raw: bytes) -> bool:
    """Whether the safetensors package (the format's reference reader) accepts ``raw`` too
    (True when it is not installed): what nr.load accepts must be a safetensors file."""
    try:
        from safetensors import SafetensorError, deserialize
    except ImportError:
        return True
    try:
        deserialize(raw)
    except (SafetensorError, ValueError, TypeError):
        return False
    return True


def _worker(conn: Any, max_rss_mb: int) -> None:
    """Loads mutants sent over ``conn``; answers (category, detail, peak RSS in MB)."""
    limit = (max_rss_mb * 4) << 20  # address-space guard so a runaway cannot take the host
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError):
        pass
    originals = {name: obj for name, _, obj in base_files()}
    tmpdir = tempfile.mkdtemp(prefix="nr-fuzz-")
    while True:
        job = conn.recv()
        if job is None:
            return
        raw, as_path, base, resigned = job
        category, detail = classify(raw, as_path, originals.get(base), resigned, tmpdir)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        conn.send((category, detail, peak))


class _Slot:
    def __init__(self, ctx: Any, max_rss_mb: int) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker, args=(child, max_rss_mb), daemon=True)
        self.process.start()
        child.close()

    def close(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.conn.send(None)
            except OSError:
                pass
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def campaign(n: int = 10_000, seed: int = 0, workers: int = 2, timeout: float = 30.0,
             max_rss_mb: int = 2048, in_process: bool = False,
             progress: Callable[[int, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run ``n`` mutants; return the counts (and up to 20 failures with their mutants)."""
    rng = random.Random(seed)
    bases = base_files()
    originals = {name: obj for name, _, obj in bases}
    counts: dict[str, Any] = {k: 0 for k in (
        "loaded_ok", "loaded_resigned", "loaded_unverified", "checkpoint_error",
        "loaded_altered", "loaded_reference_rejects", "other_exception", "timeout",
        "over_memory")}
    counts.update(total=0, failures=[], peak_rss_mb=0.0, slowest_s=0.0, slowest="")
    jobs = []
    for i in range(n):
        base, raw, resigned = make_mutant(rng, bases)
        jobs.append((raw, i % 2 == 0, base, resigned))

    def record(job: Any, category: str, detail: str, peak: float, elapsed: float) -> None:
        if peak > max_rss_mb and category not in ("timeout",):
            category = "over_memory"
        counts[category] += 1
        counts["total"] += 1
        counts["peak_rss_mb"] = max(counts["peak_rss_mb"], peak)
        if elapsed > counts["slowest_s"]:
            counts["slowest_s"] = elapsed
            n = int.from_bytes(job[0][:8], "little")
            counts["slowest"] = f"{job[2]} mutant, {len(job[0])} bytes, header {n} bytes: " \
                                f"{job[0][8:88]!r}"
        if category in FAILURES \
                and len(counts["failures"]) < 20:
            counts["failures"].append({"category": category, "detail": detail,
                                       "base": job[2], "mutant": job[0][:2000]})
        if progress is not None:
            progress(counts["total"], counts)

    if in_process:
        tmpdir = tempfile.mkdtemp(prefix="nr-fuzz-")
        for job in jobs:
            start = time.perf_counter()
            category, detail = classify(job[0], job[1], originals.get(job[2]), job[3], tmpdir)
            record(job, category, detail, 0.0, time.perf_counter() - start)
        return counts

    ctx = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    slots = [_Slot(ctx, max_rss_mb) for _ in range(max(1, workers))]
    busy: dict[int, tuple[Any, float]] = {}
    pending = list(reversed(jobs))
    try:
        while pending or busy:
            for k, slot in enumerate(slots):
                if k not in busy and pending:
                    job = pending.pop()
                    slot.conn.send(job)
                    busy[k] = (job, time.monotonic())
            ready = multiprocessing.connection.wait([slots[k].conn for k in busy], 0.5)
            now = time.monotonic()
            for k in list(busy):
                job, started = busy[k]
                slot = slots[k]
                if slot.conn in ready:
                    try:
                        category, detail, peak = slot.conn.recv()
                    except (EOFError, OSError):
                        category, detail, peak = "other_exception", "worker died", 0.0
                    record(job, category, detail, peak, now - started)
                    del busy[k]
                    if peak > max_rss_mb / 2 or category == "other_exception":
                        slot.close(kill=True)  # a fresh process: peak RSS is per process
                        slots[k] = _Slot(ctx, max_rss_mb)
                elif now - started > timeout:
                    record(job, "timeout", f"no answer in {timeout} s", 0.0, now - started)
                    del busy[k]
                    slot.close(kill=True)
                    slots[k] = _Slot(ctx, max_rss_mb)
    finally:
        for slot in slots:
            slot.close()
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--max-rss-mb", type=int, default=2048)
    args = parser.parse_args()
    start = time.perf_counter()

    def progress(done: int, counts: dict[str, Any]) -> None:
        if done % 1000 == 0:
            print(f"  {done} mutants, {time.perf_counter() - start:.0f} s", flush=True)

    counts = campaign(args.n, args.seed, args.workers, args.timeout, args.max_rss_mb,
                      progress=progress)
    failures = counts.pop("failures")
    print(f"{counts['total']} mutated checkpoints in {time.perf_counter() - start:.0f} s "
          f"(seed {args.seed}, {args.workers} workers, {args.timeout:.0f} s limit, "
          f"{args.max_rss_mb} MB cap)")
    for key in ("loaded_ok", "loaded_resigned", "loaded_unverified", "checkpoint_error",
                *FAILURES):
        print(f"  {key:24s} {counts[key]}")
    print(f"  peak RSS {counts['peak_rss_mb']:.0f} MB (of a worker process, imports included); "
          f"slowest load {counts['slowest_s']:.2f} s\n    ({counts['slowest']})")
    for f in failures:
        print(f"FAILURE {f['category']} ({f['base']}): {f['detail']}\n    {f['mutant'][:300]!r}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
