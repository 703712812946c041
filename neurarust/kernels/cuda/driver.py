"""The CUDA backend's driver layer: device memory, copies, kernel launches and GEMM.

Two implementations behind one interface (:class:`Driver`):

* :class:`PycudaDriver` (the real one): pycuda, imported lazily; each ``.cu`` source is
  compiled at first use with ``pycuda.compiler.SourceModule`` (pycuda caches the cubin on
  disk, keyed by source hash, architecture and options, under ``~/.cache/neurarust/cuda``);
  GEMM through cuBLAS loaded with ctypes (:mod:`._cublas`).
* :class:`EmulationDriver` (``NEURARUST_CUDA_EMULATE=1``): "device" memory is host bytes;
  each ``.cu`` source is compiled by g++ with ``nr_cpu_shim.h`` (a sequential grid loop), and
  launched through ctypes with the same grid/block the real launch uses; GEMM is numpy's
  (labelled as emulation). It runs the whole CUDA device path in CI, without a GPU.

Kernel arguments are typed by the caller: a :class:`Buffer` (a pointer, plus an element
offset), ``np.int64`` (``long long``), ``np.float32``/``np.float64`` (``float``/``double``).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from . import INSTALL_HINT, source_path

__all__ = ["Buffer", "Driver", "EmulationDriver", "PycudaDriver", "emulating", "get_driver",
           "kernel_signatures", "needs_fibers"]

EMULATE_ENV = "NEURARUST_CUDA_EMULATE"
CACHE_DIR = Path(os.environ.get("NEURARUST_CUDA_CACHE",
                                Path.home() / ".cache" / "neurarust" / "cuda"))


class Buffer:
    """A device allocation of ``nbytes``; ``ptr`` is its device address (an int)."""

    __slots__ = ("handle", "nbytes", "ptr")

    def __init__(self, nbytes: int, ptr: int, handle: Any) -> None:
        self.nbytes = nbytes
        self.ptr = ptr
        self.handle = handle  # keeps the allocation alive (pycuda allocation / numpy bytes)

    def sub(self, offset: int, nbytes: int) -> Buffer:
        """Bytes ``[offset, offset + nbytes)`` of this buffer as a buffer of its own (a kernel
        or GEMM operand inside a larger allocation, e.g. one group's weights); it shares and
        keeps alive the same allocation."""
        if offset < 0 or offset + nbytes > self.nbytes:
            raise ValueError(f"sub-buffer [{offset}, {offset + nbytes}) outside "
                             f"{self.nbytes} bytes")
        return Buffer(nbytes, self.ptr + offset, self.handle)


class Driver(Protocol):
    """What the backend needs from a device."""

    name: str

    def alloc(self, nbytes: int) -> Buffer: ...
    def upload(self, buf: Buffer, host: np.ndarray) -> None: ...  # type: ignore[type-arg]
    def download(self, buf: Buffer, host: np.ndarray) -> None: ...  # type: ignore[type-arg]
    def copy(self, dst: Buffer, src: Buffer, nbytes: int) -> None: ...
    def launch(self, source: str, function: str, grid: int, block: int,
               args: list[Any]) -> None: ...
    def gemm(self, a: Buffer, b: Buffer, c: Buffer, m: int, n: int, k: int,
             dtype: np.dtype) -> None: ...  # type: ignore[type-arg]
    def synchronize(self) -> None: ...


def emulating() -> bool:
    """True when ``NEURARUST_CUDA_EMULATE=1`` selects the emulation driver."""
    return os.environ.get(EMULATE_ENV, "") not in ("", "0")


_DRIVER: Driver | None = None


def get_driver() -> Driver:
    """The process's driver (created on first use); raises RuntimeError naming what to
    install when neither a GPU with pycuda nor the emulator is available."""
    global _DRIVER
    if _DRIVER is None:
        _DRIVER = EmulationDriver() if emulating() else PycudaDriver()
    return _DRIVER


# -- emulation ------------------------------------------------------------------------------
_SIGNATURE = re.compile(r'extern\s+"C"\s+void\s+(\w+)\s*\(([^)]*)\)')


def _preprocess(source: str) -> str:
    """The source after the C preprocessor, with the CPU shim's definitions."""
    gxx = shutil.which("g++")
    if gxx is None:
        raise RuntimeError("the CUDA emulator needs g++ on PATH")
    inc = source_path("")
    text = f'#include "nr_cpu_shim.h"\n#include "{source}"\n'
    done = subprocess.run([gxx, "-E", "-P", "-x", "c++", "-I", str(inc), "-"], input=text,
                          capture_output=True, text=True, check=True)
    return done.stdout


def kernel_signatures(source: str) -> dict[str, list[tuple[str, str]]]:
    """Each ``extern "C"`` kernel of a source with its parameters as ``(C type, name)``, read
    from the preprocessed source (so macro-generated kernels are included)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for m in _SIGNATURE.finditer(_preprocess(source)):
        params = []
        for part in m.group(2).split(","):
            words = part.replace("*", " * ").split()
            params.append((" ".join(words[:-1]), words[-1]))
        found[m.group(1)] = params
    return found


def needs_fibers(source_text: str) -> bool:
    """A kernel source with block barriers or warp shuffles runs each thread of a block as
    a fiber under the CPU shim (``-DNR_SHIM_FIBERS=1``)."""
    return "__syncthreads" in source_text or "__shfl_" in source_text


def _ctype(c_type: str) -> Any:
    if "*" in c_type:
        return ctypes.c_void_p
    base = c_type.replace("const", "").strip()
    return {"long long": ctypes.c_longlong, "int": ctypes.c_int, "float": ctypes.c_float,
            "double": ctypes.c_double, "unsigned": ctypes.c_uint}[base]


class EmulationDriver:
    """Host memory and g++-compiled kernels through the CPU shim (see the module docstring)."""

    name = "emulation (host memory, kernels via g++ and nr_cpu_shim.h, GEMM by numpy)"

    def __init__(self) -> None:
        self._libs: dict[str, tuple[ctypes.CDLL, dict[str, list[tuple[str, str]]]]] = {}

    def alloc(self, nbytes: int) -> Buffer:
        host = np.empty(max(nbytes, 1), np.uint8)
        return Buffer(nbytes, host.ctypes.data, host)

    def _bytes(self, buf: Buffer) -> np.ndarray:  # type: ignore[type-arg]
        data: np.ndarray = buf.handle  # type: ignore[type-arg]
        start = buf.ptr - data.ctypes.data  # nonzero for a sub-buffer (Buffer.sub)
        return data[start:start + buf.nbytes]

    def upload(self, buf: Buffer, host: np.ndarray) -> None:  # type: ignore[type-arg]
        self._bytes(buf)[:host.nbytes] = np.ascontiguousarray(host).reshape(-1).view(np.uint8)

    def download(self, buf: Buffer, host: np.ndarray) -> None:  # type: ignore[type-arg]
        host.reshape(-1).view(np.uint8)[:] = self._bytes(buf)[:host.nbytes]

    def copy(self, dst: Buffer, src: Buffer, nbytes: int) -> None:
        self._bytes(dst)[:nbytes] = self._bytes(src)[:nbytes]

    def _lib(self, source: str) -> tuple[ctypes.CDLL, dict[str, list[tuple[str, str]]]]:
        if source in self._libs:
            return self._libs[source]
        sigs = kernel_signatures(source)
        lines = ['#include "nr_cpu_shim.h"', f'#include "{source}"']
        for fn, params in sigs.items():
            decl = ", ".join(f"{t} {n}" for t, n in params)
            names = ", ".join(n for _, n in params)
            lines.append(f'extern "C" void launch_{fn}(unsigned nr_grid_, unsigned nr_block_, {decl}) '
                         f"{{ nr_launch(nr_grid_, nr_block_, {fn}, {names}); }}")
        text = "\n".join(lines) + "\n"
        shim = source_path("nr_cpu_shim.h").read_text()
        fibers = needs_fibers(source_path(source).read_text())
        key = hashlib.sha256((text + shim + source_path(source).read_text()).encode())
        so = CACHE_DIR / "emulation" / f"{Path(source).stem}-{key.hexdigest()[:16]}.so"
        if not so.exists():
            so.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory() as tmp:
                cpp = Path(tmp) / "launch.cpp"
                cpp.write_text(text)
                out = Path(tmp) / so.name
                done = subprocess.run(
                    [shutil.which("g++") or "g++", "-O2", "-shared", "-fPIC", "-std=c++17",
                     f"-DNR_SHIM_FIBERS={int(fibers)}", "-x", "c++", "-I",
                     str(source_path("")), str(cpp), "-o", str(out)],
                    capture_output=True, text=True)
                if done.returncode != 0:
                    raise RuntimeError(f"emulator: g++ could not compile {source} with the CPU "
                                       f"shim:\n{done.stderr[-4000:]}")
                os.replace(out, so)  # atomic: a concurrent process sees all or nothing
        lib = ctypes.CDLL(str(so))
        for fn, params in sigs.items():
            getattr(lib, f"launch_{fn}").argtypes = [ctypes.c_uint, ctypes.c_uint,
                                                     *(_ctype(t) for t, _ in params)]
        self._libs[source] = (lib, sigs)
        return lib, sigs

    def launch(self, source: str, function: str, grid: int, block: int,
               args: list[Any]) -> None:
        lib, sigs = self._lib(source)
        if function not in sigs:
            raise RuntimeError(f"{source} has no kernel {function!r}; has {sorted(sigs)}")
        if len(args) != len(sigs[function]):
            raise TypeError(f"{function}: expected {len(sigs[function])} arguments, "
                            f"got {len(args)}")
        values = [a.ptr if isinstance(a, Buffer) else a.item() for a in args]
        getattr(lib, f"launch_{function}")(grid, block, *values)

    def gemm(self, a: Buffer, b: Buffer, c: Buffer, m: int, n: int, k: int,
             dtype: np.dtype) -> None:  # type: ignore[type-arg]
        # Emulation only: numpy's GEMM on the host bytes, row-major C[m,n] = A[m,k] @ B[k,n].
        size = dtype.itemsize
        A = self._bytes(a)[:m * k * size].view(dtype).reshape(m, k)
        B = self._bytes(b)[:k * n * size].view(dtype).reshape(k, n)
        C = self._bytes(c)[:m * n * size].view(dtype).reshape(m, n)
        np.matmul(A, B, out=C)

    def synchronize(self) -> None:
        pass


# -- pycuda ---------------------------------------------------------------------------------
class PycudaDriver:
    """The real device, through pycuda (imported here, on first CUDA use) and cuBLAS."""

    name = "pycuda"

    def __init__(self) -> None:
        from . import require_pycuda

        self._drv: Any = require_pycuda()
        self._modules: dict[str, Any] = {}
        self._functions: dict[tuple[str, str], Any] = {}
        self._blas: Any = None
        self.name = f"pycuda ({self._drv.Context.get_device().name()})"

    def alloc(self, nbytes: int) -> Buffer:
        mem = self._drv.mem_alloc(max(nbytes, 1))
        return Buffer(nbytes, int(mem), mem)

    def upload(self, buf: Buffer, host: np.ndarray) -> None:  # type: ignore[type-arg]
        self._drv.memcpy_htod(buf.ptr, np.ascontiguousarray(host))

    def download(self, buf: Buffer, host: np.ndarray) -> None:  # type: ignore[type-arg]
        self._drv.memcpy_dtoh(host, buf.ptr)

    def copy(self, dst: Buffer, src: Buffer, nbytes: int) -> None:
        self._drv.memcpy_dtod(dst.ptr, src.ptr, nbytes)

    def _function(self, source: str, function: str) -> Any:
        key = (source, function)
        if key not in self._functions:
            if source not in self._modules:
                from pycuda.compiler import SourceModule  # type: ignore[import-not-found]

                CACHE_DIR.mkdir(parents=True, exist_ok=True)
                self._modules[source] = SourceModule(
                    source_path(source).read_text(), no_extern_c=True,
                    include_dirs=[str(source_path(""))], cache_dir=str(CACHE_DIR))
            self._functions[key] = self._modules[source].get_function(function)
        return self._functions[key]

    def launch(self, source: str, function: str, grid: int, block: int,
               args: list[Any]) -> None:
        values = [np.uintp(a.ptr) if isinstance(a, Buffer) else a for a in args]
        self._function(source, function)(*values, block=(block, 1, 1), grid=(grid, 1))

    def gemm(self, a: Buffer, b: Buffer, c: Buffer, m: int, n: int, k: int,
             dtype: np.dtype) -> None:  # type: ignore[type-arg]
        if self._blas is None:
            from ._cublas import Cublas

            self._blas = Cublas()
        self._blas.gemm_row_major(a.ptr, b.ptr, c.ptr, m, n, k, dtype)

    def synchronize(self) -> None:
        self._drv.Context.synchronize()


def _install_hint() -> str:
    return INSTALL_HINT
