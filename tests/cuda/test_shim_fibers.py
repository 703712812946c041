"""The CPU shim's barrier mode (one fiber per thread): __syncthreads, __shared__, warp shuffles.

Each kernel here would give a wrong answer if the shim ran threads one after another without
barrier semantics (a thread would read shared memory before the others wrote it), so these
tests pin what the emulator promises for block-level kernels (reductions, softmax, ...). The
same source also compiles with nvcc (it is valid CUDA), where nvcc is present.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from neurarust.kernels.cuda import source_path

GXX = shutil.which("g++")
NVCC = shutil.which("nvcc")
pytestmark = pytest.mark.skipif(GXX is None, reason="g++ not on PATH")

KERNELS = r"""
// Block reversal through shared memory: thread t reads what thread B-1-t wrote.
extern "C" __global__ void block_reverse(const float* x, float* out, long long n) {
  __shared__ float buf[256];
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  buf[threadIdx.x] = i < n ? x[i] : 0.0f;
  __syncthreads();
  const long long j = (long long)blockIdx.x * blockDim.x + (blockDim.x - 1 - threadIdx.x);
  if (j < n) out[j] = buf[threadIdx.x];
}

// Per-thread locals survive a barrier (each fiber has its own stack).
extern "C" __global__ void locals_survive(float* out) {
  const float mine = 2.0f * threadIdx.x + blockIdx.x;
  __syncthreads();
  __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = mine;
}

// Warp sums with __shfl_down_sync (lane 0 holds the sum) and __shfl_xor_sync (every lane).
extern "C" __global__ void warp_sums(const float* x, float* down, float* butterfly) {
  const unsigned t = blockIdx.x * blockDim.x + threadIdx.x;
  float v = x[t], w = x[t];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  for (int o = 16; o > 0; o >>= 1) w += __shfl_xor_sync(0xffffffffu, w, o);
  if (threadIdx.x % 32 == 0) down[t / 32] = v;
  butterfly[t] = w;
}

// A race: thread t reads its neighbour's shared write with no barrier between.
extern "C" __global__ void racy_neighbour(float* out) {
  __shared__ float buf[64];
  buf[threadIdx.x] = (float)threadIdx.x;
  out[threadIdx.x] = buf[(threadIdx.x + 1) % blockDim.x];
}

// Undefined in CUDA: some threads leave before a barrier the others wait at.
extern "C" __global__ void divergent(float* out) {
  if (threadIdx.x < 3) return;
  __syncthreads();
  out[threadIdx.x] = 1.0f;
}
"""

LAUNCHERS = r"""
extern "C" void launch_block_reverse(unsigned g, unsigned b, const float* x, float* o,
                                     long long n) { nr_launch(g, b, block_reverse, x, o, n); }
extern "C" void launch_locals_survive(unsigned g, unsigned b, float* o) {
  nr_launch(g, b, locals_survive, o); }
extern "C" void launch_warp_sums(unsigned g, unsigned b, const float* x, float* d, float* w) {
  nr_launch(g, b, warp_sums, x, d, w); }
extern "C" void launch_racy_neighbour(unsigned g, unsigned b, float* o) {
  nr_launch(g, b, racy_neighbour, o); }
extern "C" void launch_divergent(unsigned g, unsigned b, float* o) {
  nr_launch(g, b, divergent, o); }
"""


@pytest.fixture(scope="module")
def lib_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert GXX is not None
    d = tmp_path_factory.mktemp("fibers")
    cpp = d / "fibers.cpp"
    cpp.write_text('#include "nr_cpu_shim.h"\n' + KERNELS + LAUNCHERS)
    so = d / "libfibers.so"
    subprocess.run([GXX, "-O1", "-shared", "-fPIC", "-std=c++17", "-DNR_SHIM_FIBERS=1", "-x",
                    "c++", "-I", str(source_path("")), str(cpp), "-o", str(so)], check=True,
                   capture_output=True, text=True)
    return so


@pytest.fixture(scope="module")
def lib(lib_path: Path) -> ctypes.CDLL:
    return ctypes.CDLL(str(lib_path))


def _ptr(a: np.ndarray) -> ctypes.c_void_p:  # type: ignore[type-arg]
    return ctypes.c_void_p(a.ctypes.data)


@pytest.mark.parametrize("n", [1, 255, 256, 700])
def test_barrier_orders_shared_writes_before_reads(lib: ctypes.CDLL, n: int) -> None:
    x = np.arange(n, dtype=np.float32)
    out = np.full(n, -1.0, np.float32)
    blocks = (n + 255) // 256
    lib.launch_block_reverse(ctypes.c_uint(blocks), ctypes.c_uint(256), _ptr(x), _ptr(out),
                             ctypes.c_longlong(n))
    padded = np.zeros(blocks * 256, np.float32)
    padded[:n] = x
    expected = padded.reshape(blocks, 256)[:, ::-1].reshape(-1)[:n]
    np.testing.assert_array_equal(out, expected)


def test_each_thread_keeps_its_locals_across_barriers(lib: ctypes.CDLL) -> None:
    out = np.zeros(3 * 64, np.float32)
    lib.launch_locals_survive(ctypes.c_uint(3), ctypes.c_uint(64), _ptr(out))
    t = np.tile(np.arange(64), 3)
    b = np.repeat(np.arange(3), 64)
    np.testing.assert_array_equal(out, 2.0 * t + b)


def test_warp_shuffles_match_a_32_lane_warp(lib: ctypes.CDLL) -> None:
    x = np.random.default_rng(0).integers(-50, 50, 2 * 128).astype(np.float32)
    down = np.zeros(8, np.float32)
    butterfly = np.zeros_like(x)
    lib.launch_warp_sums(ctypes.c_uint(2), ctypes.c_uint(128), _ptr(x), _ptr(down),
                         _ptr(butterfly))
    sums = x.reshape(8, 32).sum(1)
    np.testing.assert_array_equal(down, sums)
    np.testing.assert_array_equal(butterfly, np.repeat(sums, 32))


def test_divergent_barrier_aborts_with_a_message(lib_path: Path) -> None:
    code = ("import ctypes, numpy as np; lib = ctypes.CDLL(%r); o = np.zeros(32, np.float32); "
            "lib.launch_divergent(ctypes.c_uint(1), ctypes.c_uint(32), "
            "ctypes.c_void_p(o.ctypes.data))" % str(lib_path))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode != 0
    assert "divergent __syncthreads in block 0: 3 of 32 threads ended" in done.stderr


@pytest.mark.skipif(NVCC is None, reason="nvcc not on PATH")
def test_the_test_kernels_are_valid_cuda(tmp_path: Path) -> None:
    assert NVCC is not None
    cu = tmp_path / "fibers.cu"
    cu.write_text(KERNELS)
    done = subprocess.run([NVCC, "--ptx", "-o", str(tmp_path / "fibers.ptx"), str(cu)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr


ORDERS = ("forward", "reverse", "shuffle:1", "shuffle:2")


def _under_orders(monkeypatch: pytest.MonkeyPatch, run: Callable[[], np.ndarray]) -> list[
        np.ndarray]:  # type: ignore[type-arg]
    results = []
    for order in ORDERS:
        monkeypatch.setenv("NEURARUST_CUDA_EMULATE_ORDER", order)
        results.append(run())
    return results


def test_a_correct_kernel_gives_the_same_result_under_every_schedule(
        lib: ctypes.CDLL, monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.arange(700, dtype=np.float32)

    def run() -> np.ndarray:  # type: ignore[type-arg]
        out = np.zeros(700, np.float32)
        lib.launch_block_reverse(ctypes.c_uint(3), ctypes.c_uint(256), _ptr(x), _ptr(out),
                                 ctypes.c_longlong(700))
        return out

    first, *rest = _under_orders(monkeypatch, run)
    for other in rest:
        np.testing.assert_array_equal(other, first)


def test_a_shared_memory_race_shows_as_schedule_dependence(
        lib: ctypes.CDLL, monkeypatch: pytest.MonkeyPatch) -> None:
    def run() -> np.ndarray:  # type: ignore[type-arg]
        out = np.full(64, -1.0, np.float32)
        lib.launch_racy_neighbour(ctypes.c_uint(1), ctypes.c_uint(64), _ptr(out))
        return out

    results = _under_orders(monkeypatch, run)
    assert any(not np.array_equal(results[0], r) for r in results[1:])
