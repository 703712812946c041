"""cuBLAS GEMM through ctypes: ``libcublas.so`` from the ``nvidia-cublas`` wheel or the CUDA
toolkit. Row-major ``C[m,n] = A[m,k] @ B[k,n]`` is column-major ``C^T = B^T A^T``, so one
``cublas{S,D}gemm`` with the operands swapped and no transposes. The handle keeps cuBLAS's
default math mode (no TF32), so float32 results match a float32 reference to ~1e-6."""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import sys
from typing import Any

import numpy as np

__all__ = ["Cublas", "find_cublas"]


def find_cublas() -> str:
    """Path of a loadable libcublas, or raise naming where it was looked for."""
    candidates: list[str] = []
    for site in sys.path:
        candidates += sorted(glob.glob(os.path.join(site, "nvidia", "cublas", "lib",
                                                    "libcublas.so*")))
    root = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_ROOT") or "/usr/local/cuda"
    candidates += sorted(glob.glob(os.path.join(root, "lib64", "libcublas.so*")))
    found = ctypes.util.find_library("cublas")
    if found:
        candidates.append(found)
    for path in candidates:
        try:
            ctypes.CDLL(path)
        except OSError:
            continue
        return path
    raise RuntimeError("matmul on cuda needs cuBLAS: pip install nvidia-cublas, or a CUDA "
                       f"toolkit under {root}/lib64 (looked in {len(candidates)} places)")


class Cublas:
    """One cuBLAS handle on the current context."""

    def __init__(self) -> None:
        self.lib: Any = ctypes.CDLL(find_cublas())
        self.handle = ctypes.c_void_p()
        self._check(self.lib.cublasCreate_v2(ctypes.byref(self.handle)), "cublasCreate")

    @staticmethod
    def _check(status: int, what: str) -> None:
        if status != 0:
            raise RuntimeError(f"{what} failed with cuBLAS status {status}")

    def gemm_row_major(self, a: int, b: int, c: int, m: int, n: int, k: int,
                       dtype: np.dtype) -> None:  # type: ignore[type-arg]
        scalar: Any
        if dtype == np.float32:
            fn, scalar = self.lib.cublasSgemm_v2, ctypes.c_float
        elif dtype == np.float64:
            fn, scalar = self.lib.cublasDgemm_v2, ctypes.c_double
        else:
            raise TypeError(f"matmul on cuda: cuBLAS GEMM supports float32/float64, got {dtype}")
        alpha, beta = scalar(1.0), scalar(0.0)
        no_trans = 0
        vp, i = ctypes.c_void_p, ctypes.c_int
        self._check(fn(self.handle, i(no_trans), i(no_trans), i(n), i(m), i(k),
                       ctypes.byref(alpha), vp(b), i(n), vp(a), i(k), ctypes.byref(beta),
                       vp(c), i(n)), "cublasGemm")
