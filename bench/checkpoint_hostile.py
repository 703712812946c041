"""Hostile checkpoint headers: the time and peak memory ``nr.load`` spends on each, and (for
comparison) the ``safetensors`` package's reader, each load in a fresh process.

    python bench/checkpoint_hostile.py [--reference] [--only NAME]

Cases: a shape of 1.6 M dims of 3 (``math.prod`` was quadratic), 95 MB of ``[]`` in a shape
and 94 MB of ``1,`` (``json.loads`` built ~30 bytes of objects per byte), a dtype given as a
JSON list, a 4,300-digit dim, 1.4 M zero-size tensors (over the 1 M cap) and 1 M (under it).
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import tempfile

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)


def _entry(shape: bytes, dtype: bytes = b'"F32"') -> bytes:
    return b'{"t":{"dtype":' + dtype + b',"shape":' + shape + b',"data_offsets":[0,4]}}'


def _tensors(n: int) -> bytes:
    return b"{" + b",".join(b'"t%d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}' % i
                            for i in range(n)) + b"}"


CASES = {
    "dims_1.6M": lambda: (_entry(b"[" + b"3," * 1_599_999 + b"3]"), 4),
    "nested_95MB": lambda: (_entry(b"[" + b"[]," * 31_666_650 + b"[]]"), 4),
    "ones_94MB": lambda: (_entry(b"[" + b"1," * 46_999_999 + b"1]"), 4),
    "dtype_list": lambda: (_entry(b"[1]", b'["F32"]'), 4),
    "digits_4300": lambda: (_entry(b"[" + b"9" * 4300 + b"]"), 4),
    "tensors_1.4M": lambda: (_tensors(1_400_000), 0),
    "tensors_1M": lambda: (_tensors(1_000_000), 0),
}

_CHILD = r"""
import resource, sys, time
path, reader = sys.argv[1], sys.argv[2]
start = time.perf_counter()
try:
    if reader == "nr":
        import neurarust as nr
        start = time.perf_counter()
        nr.load(path)
    else:
        from safetensors import safe_open
        start = time.perf_counter()
        with safe_open(path, framework="numpy") as f:
            f.keys()
    result = "loaded"
except Exception as exc:
    result = f"{type(exc).__name__}: {str(exc)[:110]}"
elapsed = time.perf_counter() - start
try:  # this process's own high-water mark (ru_maxrss would include the parent's at fork)
    with open("/proc/self/status") as f:
        peak = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")) / 1024
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{elapsed:8.2f} s {peak:7.0f} MB  {result}")
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", action="store_true",
                        help="also time the safetensors package's reader")
    parser.add_argument("--only", choices=sorted(CASES))
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [_ROOT, os.path.join(_ROOT, "mypy_plugin"), os.environ.get("PYTHONPATH", "")]))
    readers = ["nr", "safetensors"] if args.reference else ["nr"]
    with tempfile.TemporaryDirectory(prefix="nr-hostile-") as tmp:
        for name, build in CASES.items():
            if args.only and name != args.only:
                continue
            header, data = build()
            path = os.path.join(tmp, name + ".safetensors")
            with open(path, "wb") as f:
                f.write(struct.pack("<Q", len(header)) + header + b"\0" * data)
            del header
            for reader in readers:
                try:
                    done = subprocess.run([sys.executable, "-c", _CHILD, path, reader],
                                          capture_output=True, text=True, env=env, check=False,
                                          timeout=args.timeout)
                    line = (done.stdout or done.stderr[-200:]).strip()
                except subprocess.TimeoutExpired:
                    line = f"timeout after {args.timeout:.0f} s"
                size = os.path.getsize(path) / 1e6
                print(f"{name:14s} {size:6.1f} MB  {reader:11s} {line}", flush=True)
            os.unlink(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
