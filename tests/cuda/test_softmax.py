"""log_softmax / softmax and their gradients on the cuda device (``log_softmax.cu``,
``log_softmax_dim.cu``) under the emulator (or the GPU under NEURARUST_DEVICE=cuda), against
numpy in float64 and PyTorch where installed; the contracts' planted bugs are refuted."""

from __future__ import annotations

import dataclasses
import shutil
from typing import Any

import numpy as np
import pytest

import neurarust as nr
import neurarust.nn.functional as F
from neurarust.kernels.cuda.array import HOST_ROUND_TRIPS
from neurarust.kernels.cuda.contract import LoopVar
from neurarust.kernels.cuda.families.softmax import (
    LOG_SOFTMAX_BACKWARD_LAST,
    LOG_SOFTMAX_DIM,
    LOG_SOFTMAX_LAST,
)
from neurarust.verify.kernels import verify_kernel

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not on PATH")

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None


@pytest.fixture(autouse=True)
def emulated(emulated_cuda: None) -> None:
    """Every test here runs on the cuda backend (``emulated_cuda``, tests/cuda/conftest.py)."""


def _rand(shape: tuple[int, ...], dtype: Any, seed: int = 0) -> np.ndarray:  # type: ignore[type-arg]
    return np.asarray(3 * np.random.default_rng(seed).standard_normal(shape), dtype=dtype)


def _ref_log_softmax(x: np.ndarray, dim: int) -> np.ndarray:  # type: ignore[type-arg]
    x64 = x.astype(np.float64)
    top = x64.max(axis=dim, keepdims=True)
    return x64 - top - np.log(np.exp(x64 - top).sum(axis=dim, keepdims=True))  # type: ignore[no-any-return]


def _close(got: np.ndarray, ref: np.ndarray, dtype: Any) -> None:  # type: ignore[type-arg]
    """Relative error (to the largest reference magnitude) < 1e-5 in float32, 1e-12 in f64."""
    assert got.shape == ref.shape and got.dtype == dtype
    if ref.size:
        scale = max(float(np.abs(ref).max()), 1e-30)
        rel = float(np.abs(got.astype(np.float64) - ref).max()) / scale
        assert rel < (1e-5 if dtype == np.float32 else 1e-12), rel


# (shape, dim): a short row, rows longer than a block (and not a multiple of it), a prime
# column count, an inner dim (class dim 1 of a 3-d input), dim 0, size-1 dims, 1-d.
CASES = [((3, 5), -1), ((4, 700), 1), ((2, 257), -1), ((1, 1), 1), ((5, 3, 7), 1),
         ((4, 3, 7), 0), ((2, 3, 1), 1), ((13,), 0), ((2, 1, 3, 11), 2)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("shape", "dim"), CASES)
def test_log_softmax_forward_backward_match_numpy(shape: tuple[int, ...], dim: int,
                                                  dtype: Any) -> None:
    a = _rand(shape, dtype, seed=len(shape) + shape[0])
    up = _rand(shape, dtype, seed=7)  # the upstream gradient
    x = nr.from_numpy(a).cuda().requires_grad_()
    y = F.log_softmax(x, dim=dim)
    ref = _ref_log_softmax(a, dim)
    _close(y.detach().cpu().numpy(), ref, dtype)
    y.backward(nr.from_numpy(up).cuda())
    up64 = up.astype(np.float64)
    ref_grad = up64 - np.exp(ref) * up64.sum(axis=dim, keepdims=True)
    assert x.grad is not None
    _close(x.grad.cpu().numpy(), ref_grad, dtype)
    assert "log_softmax" not in HOST_ROUND_TRIPS
    assert "log_softmax_backward" not in HOST_ROUND_TRIPS
    if torch is not None:
        t = torch.tensor(a.astype(np.float64), requires_grad=True)
        ty = torch.log_softmax(t, dim=dim)
        ty.backward(torch.tensor(up64))
        _close(y.detach().cpu().numpy(), ty.detach().numpy(), dtype)
        _close(x.grad.cpu().numpy(), t.grad.numpy(), dtype)  # type: ignore[union-attr]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_is_exp_of_native_log_softmax(dtype: Any) -> None:
    a = _rand((6, 300), dtype)
    y = F.softmax(nr.from_numpy(a).cuda(), dim=-1)
    _close(y.cpu().numpy(), np.exp(_ref_log_softmax(a, -1)), dtype)
    assert "log_softmax" not in HOST_ROUND_TRIPS and "exp" not in HOST_ROUND_TRIPS


def test_non_finite_rows_as_the_cpu_kernel() -> None:
    a = np.array([[0.0, 1.0, 2.0], [-np.inf, -np.inf, -np.inf], [np.inf, 0.0, 1.0],
                  [1.0, np.nan, 0.0], [-np.inf, 0.0, 1.0]], np.float32)
    for dim in (1, 0):
        got = F.log_softmax(nr.from_numpy(a).cuda(), dim=dim).cpu().numpy()
        ref = F.log_softmax(nr.from_numpy(a), dim=dim).numpy()
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=0)  # nan and inf where the CPU's


def test_empty_and_zero_dim_inputs() -> None:
    for shape, dim in [((0, 5), 1), ((0, 4, 3), 1), ((0, 4, 3), 2), ((), 0)]:
        a = np.ones(shape, np.float32)
        x = nr.from_numpy(a).cuda().requires_grad_()
        y = F.log_softmax(x, dim=dim)
        assert y.shape == shape
        np.testing.assert_array_equal(y.detach().cpu().numpy(),
                                      F.log_softmax(nr.from_numpy(a), dim=dim).numpy())
        y.sum().backward()
        assert x.grad is not None and x.grad.shape == shape
    assert not HOST_ROUND_TRIPS


def test_runs_under_strict_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEURARUST_CUDA_STRICT", "1")
    x = nr.from_numpy(_rand((4, 10), np.float32)).cuda().requires_grad_()
    F.log_softmax(x, dim=1).sum().backward()
    F.log_softmax(x.detach().reshape(2, 2, 10), dim=1)
    assert x.grad is not None


def test_softmax_lastdim_kernel_still_works() -> None:
    from neurarust.kernels.cuda.kernels import softmax_lastdim

    a = _rand((3, 333), np.float32)
    out = softmax_lastdim(nr.from_numpy(a).cuda()._data)
    _close(out.get(), np.exp(_ref_log_softmax(a, -1)), np.float32)


# -- the contracts catch planted bugs -------------------------------------------------------
def test_planted_row_loop_without_guard_is_refuted() -> None:
    # the row loop's guard dropped (row < rows): a block past the last row reads beyond x
    accesses = tuple(dataclasses.replace(a, guard=lambda c: [c.v["j"] < c.p["cols"]])
                     if a.buffer == "x" else a for a in LOG_SOFTMAX_LAST.accesses)
    report = verify_kernel(dataclasses.replace(LOG_SOFTMAX_LAST, accesses=accesses),
                           source=False)
    bad = [o for o in report.obligations if o.status == "refuted"]
    assert len(bad) == 1 and "x[row * cols + j]" in bad[0].what
    cex = bad[0].counterexample
    assert cex is not None and cex["index"] >= cex["rows"] * cex["cols"]


def test_planted_shared_overrun_in_backward_is_refuted() -> None:
    # the tree reduction starting at s = blockDim.x instead of blockDim.x / 2
    loops = (*LOG_SOFTMAX_BACKWARD_LAST.loops[:2],
             LoopVar("s", lambda c: [c.v["s"] >= 1, c.v["s"] <= c.block]))
    report = verify_kernel(dataclasses.replace(LOG_SOFTMAX_BACKWARD_LAST, loops=loops),
                           source=False)
    bad = [o for o in report.obligations if o.status == "refuted"]
    assert len(bad) == 1 and "buf[tid + s]" in bad[0].what
    assert bad[0].counterexample is not None and bad[0].counterexample["index"] >= 256


def test_planted_wrong_buffer_size_is_refuted() -> None:
    # y allocated for outer * inner elements (one per pair) instead of outer * dim * inner
    def buffers(c: Any) -> dict[str, Any]:
        full = c.p["outer"] * c.p["dim"] * c.p["inner"]
        return {"x": full, "y": c.p["outer"] * c.p["inner"]}

    report = verify_kernel(dataclasses.replace(LOG_SOFTMAX_DIM, buffers=buffers), source=False)
    bad = [o for o in report.obligations if o.status == "refuted"]
    assert len(bad) == 1 and "write y[(o * dim + j) * inner + k]" in bad[0].what
    cex = bad[0].counterexample
    assert cex is not None and cex["dim"] >= 2
