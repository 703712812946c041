"""The whole cuda device path on the emulation driver (NEURARUST_CUDA_EMULATE=1), or on the
real GPU under NEURARUST_DEVICE=cuda (bench/gpu_check.sh): device
type, copies, native kernels (elementwise.cu, rowsum.cu compiled by g++ with the CPU shim and
launched with their contracts' launch configuration; GEMM by numpy), host fallbacks,
autograd, nn and optimizer steps, each compared with the CPU backend."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import neurarust as nr
from neurarust.kernels.cuda import driver
from neurarust.kernels.cuda.array import HOST_ROUND_TRIPS, DeviceArray

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not on PATH")


@pytest.fixture(autouse=True)
def emulated(emulated_cuda: None) -> None:
    """Every test here runs on the cuda backend (``emulated_cuda``, tests/cuda/conftest.py)."""


def _rand(*shape: int, dtype: type = np.float32, seed: int = 0) -> np.ndarray:
    return np.asarray(np.random.default_rng(seed).standard_normal(shape), dtype=dtype)


def test_device_plumbing() -> None:
    d = nr.device("cuda:0")
    assert d.type == "cuda" and d.index == 0 and d.backend == "cuda"
    assert nr.cuda.is_available()
    x = nr.tensor([[1.0, 2.0], [3.0, 4.0]])
    y = x.cuda()
    assert y.device == "cuda" and y.is_cuda and isinstance(y._data, DeviceArray)
    assert y.to("cpu").device == "cpu" and y.cpu().tolist() == x.tolist()
    z = nr.zeros(2, 3, device="cuda")
    assert z.device == "cuda" and z.cpu().numpy().sum() == 0
    assert "device='cuda'" in repr(y)
    with pytest.raises(TypeError, match=r"tensor.cpu\(\)"):
        y.numpy()


def test_mixing_devices_names_op_and_devices() -> None:
    with pytest.raises(RuntimeError, match="add: expected all tensors on one device, got cpu "
                                           "and cuda"):
        nr.ones(2) + nr.ones(2, device="cuda")


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((5, 1, 3), (1, 2, 1)),
                                    ((2, 2, 2, 300), (2, 1, 2, 300)), ((7,), ())])
def test_native_binary_matches_numpy(op: str, dtype: type,
                                     shapes: tuple[tuple[int, ...], ...]) -> None:
    a, b = _rand(*shapes[0], dtype=dtype, seed=1), _rand(*shapes[1], dtype=dtype, seed=2)
    if op == "div":
        b = np.asarray(np.abs(b) + 0.5, dtype=dtype)
    ref = getattr(np, {"add": "add", "sub": "subtract", "mul": "multiply",
                       "div": "true_divide"}[op])(a, b)
    out = getattr(nr, op)(nr.from_numpy(a).cuda(), nr.from_numpy(b).cuda())
    assert out.device == "cuda" and out.dtype.np_dtype == dtype
    np.testing.assert_array_equal(out.cpu().numpy(), ref)  # same IEEE op per element
    assert op not in HOST_ROUND_TRIPS  # ran through elementwise.cu, not the host


def test_scalar_operand_and_inplace_add() -> None:
    a = _rand(3, 5)
    x = nr.from_numpy(a).cuda()
    np.testing.assert_array_equal((x * 2.5).cpu().numpy(), a * np.float32(2.5))
    g = nr.from_numpy(a.copy()).cuda()
    g._data += x._data  # autograd's gradient accumulation
    np.testing.assert_array_equal(g.cpu().numpy(), a + a)
    assert not HOST_ROUND_TRIPS


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_native_sum_matches_numpy(dtype: type) -> None:
    a = _rand(4, 3, 333, dtype=dtype)
    x = nr.from_numpy(a).cuda()
    np.testing.assert_allclose(x.sum(dim=-1).cpu().numpy(), a.sum(-1, dtype=np.float64),
                               rtol=1e-6)
    np.testing.assert_allclose(x.sum(dim=2, keepdim=True).cpu().numpy(),
                               a.sum(2, keepdims=True, dtype=np.float64), rtol=1e-6)
    np.testing.assert_allclose(x.sum().cpu().numpy(), a.sum(dtype=np.float64), rtol=1e-6)
    assert "sum" not in HOST_ROUND_TRIPS
    np.testing.assert_allclose(x.sum(dim=0).cpu().numpy(), a.sum(0, dtype=np.float64),
                               rtol=1e-6)
    assert "sum" not in HOST_ROUND_TRIPS  # any dims (tests/cuda/test_reduce.py)


def test_matmul_gemm_matches_numpy() -> None:
    a, b = _rand(2, 5, 7, dtype=np.float64), _rand(7, 3, dtype=np.float64, seed=3)
    out = nr.from_numpy(a).cuda() @ nr.from_numpy(b).cuda()
    np.testing.assert_allclose(out.cpu().numpy(), a @ b, rtol=1e-10)
    assert "matmul" not in HOST_ROUND_TRIPS


def test_fallbacks_are_counted_and_strict_mode_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    x = nr.from_numpy(_rand(3, 4)).cuda()
    # cumsum has no CUDA kernel: it runs on host copies, counted
    np.testing.assert_allclose(x.cumsum(1).cpu().numpy(), np.cumsum(x.cpu().numpy(), 1),
                               rtol=1e-6)
    assert nr.cuda.fallback_counts()["cumsum"] == 1
    monkeypatch.setenv("NEURARUST_CUDA_STRICT", "1")
    with pytest.raises(NotImplementedError, match="cumsum: no CUDA kernel"):
        x.cumsum(1)


def test_autograd_through_device_copy() -> None:
    w = nr.randn(4, 5, requires_grad=True)
    a = nr.from_numpy(_rand(3, 4)).cuda()
    (a @ w.cuda()).sum().backward()
    assert w.grad is not None and w.grad.device == "cpu"
    np.testing.assert_allclose(w.grad.numpy(), np.repeat(a.cpu().numpy().sum(0)[:, None], 5, 1),
                               rtol=1e-6)


def _train(device: str, make_opt: type, conv: bool) -> tuple[list[np.ndarray], float]:
    nr.manual_seed(0)
    if conv:
        model = nr.nn.Sequential(nr.nn.Conv2d(1, 4, 3), nr.nn.ReLU(), nr.nn.MaxPool2d(2),
                                 nr.nn.Flatten(), nr.nn.Linear(4 * 3 * 3, 3))
        x = nr.randn(6, 1, 8, 8)
    else:
        model = nr.nn.Sequential(nr.nn.Linear(8, 16), nr.nn.ReLU(), nr.nn.Linear(16, 3))
        x = nr.randn(6, 8)
    model.to(device)
    opt = make_opt(model.parameters(), lr=0.01)
    x, t = x.to(device), nr.tensor([0, 1, 2, 1, 0, 2], device=device)
    loss = None
    for _ in range(3):
        opt.zero_grad()
        loss = nr.nn.functional.cross_entropy(model(x), t)
        loss.backward()
        opt.step()
    assert loss is not None and all(p.device == device for p in model.parameters())
    return [p.detach().cpu().numpy() for p in model.parameters()], loss.item()


@pytest.mark.parametrize("make_opt", [nr.optim.SGD, nr.optim.Adam])
@pytest.mark.parametrize("conv", [False, True])
def test_training_steps_match_cpu(make_opt: type, conv: bool) -> None:
    ref, ref_loss = _train("cpu", make_opt, conv)
    got, loss = _train("cuda", make_opt, conv)
    # The emulator's GEMM is numpy's (bit-identical); cuBLAS sums in another order.
    tol = 1e-5 if driver.emulating() else 1e-3
    assert loss == pytest.approx(ref_loss, rel=tol)
    for r, g in zip(ref, got):
        np.testing.assert_allclose(g, r, rtol=tol, atol=tol / 10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_native_permute_expand_and_views(dtype: type) -> None:
    a = np.asarray(np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5), dtype=dtype)
    x = nr.from_numpy(a).cuda()
    np.testing.assert_array_equal(x.permute(3, 1, 0, 2).cpu().numpy(), a.transpose(3, 1, 0, 2))
    np.testing.assert_array_equal(x.transpose(0, 1).cpu().numpy(), a.transpose(1, 0, 2, 3))
    col = nr.from_numpy(a[:, :1, :1, :]).cuda()
    np.testing.assert_array_equal(col.expand(2, 3, 4, 5).cpu().numpy(),
                                  np.broadcast_to(a[:, :1, :1, :], (2, 3, 4, 5)))
    v = x.view(6, 20)
    assert v._data.buffer is x._data.buffer  # a true view of the device buffer
    np.testing.assert_array_equal(x.flatten(1).unsqueeze(0).cpu().numpy(),
                                  a.reshape(1, 2, 60))
    for op in ("permute", "expand", "view", "flatten", "unsqueeze"):
        assert op not in HOST_ROUND_TRIPS


def test_inplace_through_a_reshaped_view_reaches_the_base() -> None:
    x = nr.zeros(2, 3, device="cuda")
    v = x.view(6)
    v._data += nr.ones(6, device="cuda")._data
    assert x.cpu().tolist() == [[1.0] * 3] * 2


@pytest.mark.parametrize("op", ["neg", "abs", "exp", "log", "tanh", "sqrt", "relu", "sigmoid"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_native_unary_matches_cpu_backend(op: str, dtype: type) -> None:
    a = _rand(3, 257, dtype=dtype) * 4
    if op in ("log", "sqrt"):
        a = np.abs(a) + 0.1
    a[0, :3] = [np.nan, 0.0, -0.0] if op == "relu" else a[0, :3]
    ref = getattr(nr.from_numpy(a), op)().numpy()
    got = getattr(nr.from_numpy(a).cuda(), op)().cpu().numpy()
    # one or two ulp apart at most: libm's and numpy's exp/log/tanh round differently
    np.testing.assert_allclose(got, ref, rtol=4 * np.finfo(dtype).eps, atol=0)
    assert op not in HOST_ROUND_TRIPS


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_native_relu_gradient_matches_cpu_backend(dtype: type) -> None:
    a = _rand(4, 33, dtype=dtype)
    a[0, :2] = 0.0
    g = _rand(4, 33, dtype=dtype, seed=5)
    grads = []
    for device in ("cpu", "cuda"):
        x = nr.from_numpy(a.copy()).to(device).requires_grad_()
        x.relu().backward(nr.from_numpy(g).to(device))
        assert x.grad is not None
        grads.append(x.grad.cpu().numpy())
    np.testing.assert_array_equal(grads[1], grads[0])
    assert "threshold_backward" not in HOST_ROUND_TRIPS
