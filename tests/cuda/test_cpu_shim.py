"""Kernel logic without a GPU: barrier-free .cu sources compiled as C++ with nr_cpu_shim.h
(a sequential grid loop), called through ctypes directly (not through the emulation driver),
compared with the numpy backend.

Covers elementwise.cu (add/sub/mul/div, f32/f64, broadcasting and strided views) and
rowsum.cu. Kernels with block barriers run in the shim's fiber mode: test_shim_fibers.py.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import neurarust as nr
from neurarust.kernels.cuda import source_path
from neurarust.kernels.cuda.contracts import ELEMENTWISE, ROWSUM

GXX = shutil.which("g++")
pytestmark = pytest.mark.skipif(GXX is None, reason="g++ not on PATH")

_LL = ctypes.c_longlong
_OPS = ("add", "sub", "mul", "div")


def _wrappers() -> str:
    lines = ['#include "nr_cpu_shim.h"', '#include "elementwise.cu"', '#include "rowsum.cu"']
    for t, ct in (("f32", "float"), ("f64", "double")):
        for op in _OPS:
            params = ", ".join(f"long long p{k}" for k in range(13))
            args = ", ".join(f"p{k}" for k in range(13))
            lines.append(
                f'extern "C" void launch_{op}_{t}(unsigned g, unsigned b, const {ct}* a, '
                f"const {ct}* y, {ct}* o, {params}) {{ nr_launch(g, b, nr_{op}_{t}, a, y, o, "
                f"{args}); }}")
        lines.append(
            f'extern "C" void launch_rowsum_{t}(unsigned g, unsigned b, const {ct}* x, {ct}* o,'
            f" long long r, long long c) {{ nr_launch(g, b, nr_rowsum_{t}, x, o, r, c); }}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    assert GXX is not None
    d = tmp_path_factory.mktemp("shim")
    cpp = d / "shim.cpp"
    cpp.write_text(_wrappers())
    so = d / "libshim.so"
    inc = source_path("elementwise.cu").parent
    subprocess.run([GXX, "-O1", "-shared", "-fPIC", "-x", "c++", "-I", str(inc), str(cpp),
                    "-o", str(so)], check=True, capture_output=True, text=True)
    return ctypes.CDLL(str(so))


def _ptr(a: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(a.ctypes.data)


def _binary(lib: ctypes.CDLL, op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Launch exactly as the host would: pad to 4 dims, broadcast dims get stride 0."""
    shape = np.broadcast_shapes(a.shape, b.shape)
    out = np.empty(shape, a.dtype)
    d = (1,) * (4 - len(shape)) + tuple(shape)

    def strides(x: np.ndarray) -> list[int]:
        xs = (1,) * (4 - x.ndim) + x.shape
        st_ = (0,) * (4 - x.ndim) + tuple(s // x.itemsize for s in x.strides)
        return [0 if n == 1 else s for n, s in zip(xs, st_)]

    launch = ELEMENTWISE.launch(d0=d[0], d1=d[1], d2=d[2], d3=d[3])
    t = "f32" if a.dtype == np.float32 else "f64"
    fn = getattr(lib, f"launch_{op}_{t}")
    fn(ctypes.c_uint(launch.grid), ctypes.c_uint(launch.block), _ptr(a), _ptr(b), _ptr(out),
       _LL(out.size), *(_LL(v) for v in d), *(_LL(v) for v in strides(a)),
       *(_LL(v) for v in strides(b)))
    return out


_shapes = st.lists(st.integers(1, 5), min_size=0, max_size=4)


@settings(max_examples=30, deadline=None)
@given(shape=_shapes, mask=st.lists(st.booleans(), min_size=4, max_size=4),
       op=st.sampled_from(_OPS), dtype=st.sampled_from([np.float32, np.float64]),
       transpose=st.booleans())
def test_elementwise_matches_numpy_backend(lib: ctypes.CDLL, shape: list[int], mask: list[bool],
                                           op: str, dtype: type, transpose: bool) -> None:
    rng = np.random.default_rng(len(shape))
    bshape = [1 if m else n for n, m in zip(shape, mask)]  # b broadcasts over masked dims
    a = rng.uniform(0.5, 2.0, shape).astype(dtype)
    b = rng.uniform(0.5, 2.0, bshape).astype(dtype)
    if transpose and a.ndim >= 2:  # a strided (non-contiguous) view of the same shape
        a = np.ascontiguousarray(np.swapaxes(a, 0, 1)).swapaxes(0, 1)
    got = _binary(lib, op, a, b)
    ref = getattr(nr, op)(nr.tensor(a), nr.tensor(b)).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-6 if dtype == np.float32 else 1e-12)


def test_elementwise_more_elements_than_grid_threads(lib: ctypes.CDLL) -> None:
    # 65535 * 256 threads cover 16.7M elements; exercise the grid-stride loop with a tiny grid
    a = np.arange(1000, dtype=np.float64)
    out = np.empty_like(a)
    lib.launch_add_f64(ctypes.c_uint(2), ctypes.c_uint(8), _ptr(a), _ptr(a), _ptr(out),
                       _LL(a.size), _LL(1), _LL(1), _LL(1), _LL(a.size), *(_LL(0),) * 3, _LL(1),
                       *(_LL(0),) * 3, _LL(1))
    np.testing.assert_array_equal(out, 2 * a)


@pytest.mark.parametrize("rows,cols", [(1, 1), (3, 7), (300, 5), (2, 1000)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rowsum_matches_numpy_backend(lib: ctypes.CDLL, rows: int, cols: int,
                                      dtype: type) -> None:
    x = np.random.default_rng(rows).standard_normal((rows, cols)).astype(dtype)
    out = np.empty(rows, dtype)
    launch = ROWSUM.launch(rows=rows, cols=cols)
    t = "f32" if dtype == np.float32 else "f64"
    getattr(lib, f"launch_rowsum_{t}")(ctypes.c_uint(launch.grid), ctypes.c_uint(launch.block),
                                       _ptr(x), _ptr(out), _LL(rows), _LL(cols))
    ref = nr.tensor(x).sum(-1).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-5)
