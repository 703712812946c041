"""Convolution (im2col.cu + GEMM, col2im) and pooling (pool.cu) on the cuda device, forward
and backward, against the CPU backend in float64 and PyTorch where it imports; run on the
emulation driver (NEURARUST_CUDA_EMULATE=1) or on a GPU under NEURARUST_DEVICE=cuda. Plus the
contracts' planted bugs that the z3 proof refutes."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import neurarust as nr
import neurarust.nn.functional as F
from neurarust.kernels.cuda.array import HOST_ROUND_TRIPS
from neurarust.kernels.cuda.contract import Access
from neurarust.kernels.cuda.families.conv import COL2IM, IM2COL
from neurarust.kernels.cuda.families.pool import MAX_POOL_BACKWARD
from neurarust.verify.kernels import verify_kernel

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not on PATH")

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch does not import")


@pytest.fixture(autouse=True)
def emulated(emulated_cuda: None) -> None:
    """Every test here runs on the cuda backend (``emulated_cuda``, tests/cuda/conftest.py)."""


def _rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def _rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    """max |got - ref| relative to the reference's largest magnitude (at least 1)."""
    if ref.size == 0:
        return 0.0
    return float(np.abs(got.astype(np.float64) - ref).max() / max(1.0, np.abs(ref).max()))


def _run(fn: Callable[..., Any], arrays: list[np.ndarray], device: str, dtype: type,
         grad: bool) -> tuple[np.ndarray, list[np.ndarray]]:
    """fn on tensors of ``arrays`` on ``device``; its output and (with ``grad``) the input
    gradients of ``(out * fixed weights).sum()``."""
    ts = [nr.from_numpy(a.astype(dtype)).to(device).requires_grad_(grad) for a in arrays]
    out = fn(*ts)
    grads: list[np.ndarray] = []
    if grad:
        weights = nr.from_numpy(_rand(*out.shape, seed=9).astype(dtype)).to(device)
        (out * weights).sum().backward()
        for t in ts:
            assert t.grad is not None and t.grad.device == device
            grads.append(t.grad.cpu().numpy())
    return out.detach().cpu().numpy(), grads


def _check_against_cpu(fn: Callable[..., Any], arrays: list[np.ndarray], dtype: type,
                       tol: float, grad: bool = True) -> None:
    """cuda in ``dtype`` vs the CPU backend in float64, forward and input gradients."""
    ref, ref_grads = _run(fn, arrays, "cpu", np.float64, grad)
    got, grads = _run(fn, arrays, "cuda", dtype, grad)
    assert got.dtype == dtype and got.shape == ref.shape
    assert _rel_err(got, ref) < tol
    for g, r in zip(grads, ref_grads):
        assert g.shape == r.shape and _rel_err(g, r) < tol


def _ran_natively(*ops: str) -> None:
    ran_on_host = {k for k in HOST_ROUND_TRIPS if "conv" in k or "pool" in k}
    assert not ran_on_host, ran_on_host
    for op in ops:
        assert op not in HOST_ROUND_TRIPS


DTYPES = [np.float32, np.float64]
CONV_TOL = {np.float32: 1e-5, np.float64: 1e-12}  # float32 GEMMs: well within the 1e-3 target

CONV_CASES = [
    # x shape, weight shape, attributes
    ((2, 3, 9, 7), (5, 3, 3, 2), {"stride": (2, 1), "padding": (1, 2), "dilation": (1, 2)}),
    ((1, 1, 5, 5), (1, 1, 1, 1), {}),
    ((3, 2, 11, 13), (4, 2, 4, 3), {"padding": "same"}),  # even kernel: asymmetric pads
    ((2, 4, 17, 17), (3, 4, 3, 3), {"stride": 3, "padding": 2, "dilation": 2}),
    ((3, 6, 5), (2, 3, 2, 2), {"padding": 1}),  # unbatched
    ((1, 2, 1, 1), (3, 2, 1, 1), {}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: str(c[0]))
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_forward_and_backward_match_cpu(dtype: type, case: Any, bias: bool) -> None:
    xs, ws, attrs = case
    arrays = [_rand(*xs, seed=1), _rand(*ws, seed=2)] + ([_rand(ws[0], seed=3)] if bias else [])
    _check_against_cpu(lambda x, w, *b: F.conv2d(x, w, *b, **attrs), arrays, dtype,
                       CONV_TOL[dtype])
    _ran_natively("conv2d", "conv_transpose2d", "conv2d_weight")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("attrs", [
    {"stride": 2}, {"stride": (2, 3), "padding": (1, 0), "output_padding": (1, 2)},
    {"stride": 1, "padding": 1, "dilation": 2},
], ids=["s2", "output_padding", "dilation"])
def test_conv_transpose2d_forward_and_backward_match_cpu(dtype: type,
                                                         attrs: dict[str, Any]) -> None:
    arrays = [_rand(2, 3, 5, 4, seed=1), _rand(3, 4, 3, 3, seed=2), _rand(4, seed=3)]
    _check_against_cpu(lambda x, w, b: F.conv_transpose2d(x, w, b, **attrs), arrays, dtype,
                       CONV_TOL[dtype])
    _ran_natively("conv2d", "conv_transpose2d", "conv2d_weight")


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_weight_and_negative_pads_match_cpu(dtype: type) -> None:
    x, g = _rand(2, 3, 8, 9, seed=1), _rand(2, 4, 6, 6, seed=2)
    for pads in (((1, 0), (0, 2)), ((-1, 0), (1, -1))):  # negative pads crop (in gradients)
        attrs = {"stride": (2, 2), "padding": pads, "dilation": (1, 1), "groups": 1}
        sizes = [(s + lo + hi - 3) // 2 + 1 for s, (lo, hi) in zip((8, 9), pads)]
        gg = g[:, :, :sizes[0], :sizes[1]]
        ref = nr.from_numpy(x)._apply("conv2d_weight", nr.from_numpy(gg), kernel_size=(3, 3),
                                      **attrs).numpy()
        got = nr.from_numpy(x.astype(dtype)).cuda()._apply(
            "conv2d_weight", nr.from_numpy(gg.astype(dtype)).cuda(), kernel_size=(3, 3),
            **attrs).cpu().numpy()
        assert _rel_err(got, ref) < CONV_TOL[dtype]
        w = _rand(4, 3, 3, 3, seed=4)
        ref = nr.from_numpy(x)._apply("conv2d", nr.from_numpy(w), None, **attrs).numpy()
        got = nr.from_numpy(x.astype(dtype)).cuda()._apply(
            "conv2d", nr.from_numpy(w.astype(dtype)).cuda(), None, **attrs).cpu().numpy()
        assert _rel_err(got, ref) < CONV_TOL[dtype]
    _ran_natively("conv2d", "conv2d_weight")


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv1d_and_transpose1d_match_cpu(dtype: type) -> None:
    arrays = [_rand(3, 2, 23, seed=1), _rand(5, 2, 4, seed=2), _rand(5, seed=3)]
    _check_against_cpu(lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=3, dilation=2),
                       arrays, dtype, CONV_TOL[dtype])
    arrays = [_rand(3, 5, 7, seed=1), _rand(5, 2, 3, seed=2)]
    _check_against_cpu(lambda x, w: F.conv_transpose1d(x, w, stride=2, output_padding=1),
                       arrays, dtype, CONV_TOL[dtype])
    _ran_natively("conv1d", "conv_transpose1d", "conv1d_weight")


def test_empty_batch() -> None:
    x = nr.zeros(0, 3, 6, 6, device="cuda", requires_grad=True)
    w = nr.from_numpy(_rand(4, 3, 3, 3).astype(np.float32)).cuda().requires_grad_()
    y = F.max_pool2d(F.conv2d(x, w, padding=1), 2)
    assert y.shape == (0, 4, 3, 3)
    F.avg_pool2d(y, 1).sum().backward()
    assert x.grad is not None and x.grad.shape == (0, 3, 6, 6)
    assert w.grad is not None and not w.grad.cpu().numpy().any()
    _ran_natively()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("groups, cin, cout", [(2, 4, 6), (3, 3, 3), (4, 8, 4)],
                         ids=["g2", "depthwise", "g4"])
def test_grouped_conv_forward_and_backward_match_cpu(dtype: type, groups: int, cin: int,
                                                     cout: int) -> None:
    arrays = [_rand(2, cin, 7, 6, seed=1), _rand(cout, cin // groups, 3, 2, seed=2),
              _rand(cout, seed=3)]
    _check_against_cpu(lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1,
                                                groups=groups), arrays, dtype, CONV_TOL[dtype])
    arrays = [_rand(2, cin, 5, 4, seed=4), _rand(cin, cout // groups, 3, 3, seed=5)]
    _check_against_cpu(lambda x, w: F.conv_transpose2d(x, w, stride=2, output_padding=1,
                                                       groups=groups), arrays, dtype,
                       CONV_TOL[dtype])
    _ran_natively("conv2d", "conv_transpose2d", "conv2d_weight")


def test_sub_buffers_address_part_of_an_allocation() -> None:
    x = nr.from_numpy(np.arange(10.0)).cuda()._data
    part = x.buffer.sub(3 * 8, 4 * 8)
    host = np.empty(4)
    x.driver.download(part, host)
    np.testing.assert_array_equal(host, [3.0, 4.0, 5.0, 6.0])
    with pytest.raises(ValueError, match="outside 80 bytes"):
        x.buffer.sub(8 * 8, 3 * 8)


MAX_CASES = [
    ((2, 3, 8, 8), {"kernel_size": 2}),
    ((2, 3, 9, 7), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ((1, 2, 10, 11), {"kernel_size": (3, 2), "stride": (1, 2), "padding": (1, 1),
                      "dilation": (2, 1)}),
    ((3, 13, 13), {"kernel_size": 3, "stride": 1, "padding": 1}),  # unbatched, overlapping
    ((1, 1, 5, 5), {"kernel_size": 2, "stride": 2, "padding": 1, "dilation": 3,
                    "ceil_mode": True}),  # windows wholly in the padding
    ((1, 1, 1, 1), {"kernel_size": 1}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", MAX_CASES, ids=lambda c: str(c[0]))
def test_max_pool2d_matches_cpu(dtype: type, case: Any) -> None:
    shape, attrs = case
    a = _rand(*shape, seed=1)
    ref, ref_i = (t.numpy() for t in F.max_pool2d(nr.from_numpy(a.astype(dtype)), **attrs,
                                                 return_indices=True))
    got, got_i = (t.cpu().numpy() for t in F.max_pool2d(nr.from_numpy(a.astype(dtype)).cuda(),
                                                       **attrs, return_indices=True))
    np.testing.assert_array_equal(got, ref)  # the same element, exactly
    np.testing.assert_array_equal(got_i, ref_i)
    _check_against_cpu(lambda x: F.max_pool2d(x, **attrs), [a], dtype, 1e-6)
    _ran_natively("max_pool2d", "max_pool2d_indices", "max_pool2d_backward")


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool2d_nan_inf_and_ties(dtype: type) -> None:
    a = np.round(_rand(2, 2, 7, 7, seed=3)).astype(dtype)  # many ties
    a[0, 0, 1, 1] = np.nan
    a[0, 0, 4, 4] = np.nan
    a[0, 1] = -np.inf  # a whole plane of -inf
    a[1, 0, :3, :3] = np.inf
    attrs = {"kernel_size": 3, "stride": 2, "padding": 1}
    outs = []
    for device in ("cpu", "cuda"):
        x = nr.from_numpy(a).to(device).requires_grad_()
        y, i = F.max_pool2d(x, **attrs, return_indices=True)
        y.backward(nr.ones(*y.shape, dtype=y.dtype, device=device))
        assert x.grad is not None
        outs.append((y.detach().cpu().numpy(), i.cpu().numpy(), x.grad.cpu().numpy()))
    for got, ref in zip(outs[1], outs[0]):
        np.testing.assert_array_equal(got, ref)
    _ran_natively("max_pool2d", "max_pool2d_indices", "max_pool2d_backward")


AVG_CASES = [
    ((2, 3, 8, 8), {"kernel_size": 2}),
    ((2, 3, 9, 7), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True,
                    "count_include_pad": False}),
    ((2, 3, 9, 7), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    ((3, 11, 10), {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 0),
                   "divisor_override": 5}),
    ((1, 2, 17, 19), {"kernel_size": 3, "stride": 1, "padding": 1}),  # overlapping, > block
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", AVG_CASES, ids=lambda c: f"{c[0]}-{len(c[1])}")
def test_avg_pool2d_matches_cpu(dtype: type, case: Any) -> None:
    shape, attrs = case
    tol = 1e-6 if dtype == np.float32 else 1e-13
    _check_against_cpu(lambda x: F.avg_pool2d(x, **attrs), [_rand(*shape, seed=1)], dtype, tol)
    _ran_natively("avg_pool2d", "avg_pool2d_backward")


@pytest.mark.parametrize("dtype", DTYPES)
def test_pool1d_matches_cpu(dtype: type) -> None:
    a = _rand(2, 3, 29, seed=1)
    _check_against_cpu(lambda x: F.max_pool1d(x, 3, 2, padding=1, dilation=2), [a], dtype, 1e-6)
    _check_against_cpu(lambda x: F.avg_pool1d(x, 4, 3, padding=2, ceil_mode=True,
                                              count_include_pad=False), [a], dtype, 1e-6)
    _ran_natively("max_pool1d", "max_pool1d_backward", "avg_pool1d", "avg_pool1d_backward")


@needs_torch
def test_conv_and_pooling_match_pytorch() -> None:
    assert torch is not None
    tf = torch.nn.functional
    x, w, b = _rand(2, 3, 10, 9, seed=1), _rand(4, 3, 3, 2, seed=2), _rand(4, seed=3)
    wt = _rand(4, 2, 3, 3, seed=4)

    def ours(x: Any, w: Any, b: Any, wt: Any, f: Any) -> Any:
        y = f.conv2d(x, w, b, stride=(1, 2), padding=(2, 1), dilation=(2, 1)).relu()
        y = f.max_pool2d(y, 3, 2, padding=1, ceil_mode=True)
        y = f.conv_transpose2d(y, wt, stride=2, output_padding=1)
        return f.avg_pool2d(y, 2, 1, padding=1, count_include_pad=False)

    ts = [torch.tensor(a, requires_grad=True) for a in (x, w, b, wt)]
    ref = ours(*ts, tf)
    gw = _rand(*ref.shape, seed=9)
    (ref * torch.tensor(gw)).sum().backward()
    ns = [nr.from_numpy(a).cuda().requires_grad_() for a in (x, w, b, wt)]
    got = ours(*ns, F)
    (got * nr.from_numpy(gw).cuda()).sum().backward()
    np.testing.assert_allclose(got.detach().cpu().numpy(), ref.detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    for n_, t_ in zip(ns, ts):
        assert n_.grad is not None and t_.grad is not None
        np.testing.assert_allclose(n_.grad.cpu().numpy(), t_.grad.numpy(), rtol=1e-10,
                                   atol=1e-12)
    _, ref_i = tf.max_pool2d(ts[0], 3, 2, padding=1, dilation=(1, 2), return_indices=True)
    _, got_i = F.max_pool2d(ns[0], 3, 2, padding=1, dilation=(1, 2), return_indices=True)
    np.testing.assert_array_equal(got_i.cpu().numpy(), ref_i.numpy())
    _ran_natively()


def _train_cnn(device: str) -> tuple[list[np.ndarray], float]:
    nr.manual_seed(0)
    model = nr.nn.Sequential(
        nr.nn.Conv2d(1, 4, 3, padding=1), nr.nn.ReLU(), nr.nn.MaxPool2d(2),
        nr.nn.Conv2d(4, 6, 3, stride=1), nr.nn.ReLU(), nr.nn.AvgPool2d(2, ceil_mode=True),
        nr.nn.Flatten(), nr.nn.Linear(6 * 2 * 2, 3))
    x = nr.randn(5, 1, 11, 11)
    model.to(device)
    opt = nr.optim.SGD(model.parameters(), lr=0.05)
    x, t = x.to(device), nr.tensor([0, 1, 2, 1, 0], device=device)
    loss = None
    for _ in range(3):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), t)
        loss.backward()
        opt.step()
    assert loss is not None
    return [p.detach().cpu().numpy() for p in model.parameters()], loss.item()


def test_small_cnn_trains_on_cuda_like_cpu() -> None:
    ref, ref_loss = _train_cnn("cpu")
    got, loss = _train_cnn("cuda")
    assert loss == pytest.approx(ref_loss, rel=1e-4)
    for r, g in zip(ref, got):
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-5)
    _ran_natively()  # no conv or pooling op ran on the host


# -- the contracts' planted bugs --------------------------------------------------------------
def _refuted(contract: Any) -> list[Any]:
    report = verify_kernel(contract, source=False)
    assert report.status == "refuted"
    return [o for o in report.obligations if o.status == "refuted"]


def test_planted_padding_guard_off_by_one_is_refuted() -> None:
    # im2col's guard ih <= H instead of ih < H: a tap one row past the input
    read = IM2COL.accesses[0]
    guard = read.guard

    def loose(c: Any) -> list[Any]:
        conds = guard(c)
        return [*conds[:2], c.v["ih"] <= c.p["H"], *conds[3:]]

    planted = dataclasses.replace(IM2COL, accesses=(Access("x", "read", read.index, loose,
                                                           read.code), IM2COL.accesses[1]))
    (bad,) = _refuted(planted)
    cex = bad.counterexample
    assert "read x[" in bad.what and cex is not None
    assert cex["index"] >= cex["N"] * cex["C"] * cex["H"] * cex["W"]


def test_planted_short_column_buffer_is_refuted() -> None:
    # col2im's columns sized without the kernel-height factor
    planted = dataclasses.replace(COL2IM, buffers=lambda c: {
        "columns": c.p["Co"] * c.p["KW"] * c.p["N"] * c.p["H"] * c.p["W"],
        "out": c.p["N"] * c.p["Co"] * c.p["OH"] * c.p["OW"]})
    (bad,) = _refuted(planted)
    assert "read columns[" in bad.what and bad.counterexample is not None
    assert bad.counterexample["KH"] > 1


def test_planted_missing_window_bound_is_refuted() -> None:
    # max_pool_backward without its oh < OH check: a window past the last one
    def unbounded(c: Any) -> list[Any]:
        conds = MAX_POOL_BACKWARD.accesses[0].guard(c)
        return conds[:4] + conds[5:]

    accesses = tuple(dataclasses.replace(a, guard=unbounded) if a.kind == "read" else a
                     for a in MAX_POOL_BACKWARD.accesses)
    bad = _refuted(dataclasses.replace(MAX_POOL_BACKWARD, accesses=accesses))
    assert {o.what.split()[1].split("[")[0] for o in bad} == {"idx", "g"}
    assert all(o.counterexample is not None for o in bad)
