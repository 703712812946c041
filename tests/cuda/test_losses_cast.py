"""nll_loss / cross_entropy (``losses.cu``), casts (``cast.cu``), comparisons and where
(``compare.cu``) on the cuda device under the emulator (or the GPU under
NEURARUST_DEVICE=cuda), against the CPU backend, numpy in float64 and PyTorch where installed;
out-of-range targets raise the CPU kernel's error; planted contract bugs are refuted."""

from __future__ import annotations

import dataclasses
import shutil
from typing import Any

import numpy as np
import pytest

import neurarust as nr
import neurarust.nn.functional as F
from neurarust.kernels.cuda.array import HOST_ROUND_TRIPS
from neurarust.kernels.cuda.contract import Access
from neurarust.kernels.cuda.families.losses import NLL_LOSS_BACKWARD, NLL_LOSS_NONE
from neurarust.verify.kernels import verify_kernel

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not on PATH")

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None

Array = np.ndarray  # type: ignore[type-arg]


@pytest.fixture(autouse=True)
def emulated(emulated_cuda: None) -> None:
    """Every test here runs on the cuda backend (``emulated_cuda``, tests/cuda/conftest.py)."""


def _close(got: Array, ref: Array, dtype: Any, tol32: float = 1e-5) -> None:
    """Relative error (to the largest reference magnitude) < 1e-5 in float32, 1e-12 in f64."""
    assert got.shape == ref.shape and got.dtype == dtype
    if ref.size:
        scale = max(float(np.abs(ref).max()), 1e-30)
        rel = float(np.nanmax(np.abs(got.astype(np.float64) - ref))) / scale
        assert rel < (tol32 if dtype == np.float32 else 1e-12), rel
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))


def _problem(shape: tuple[int, ...], dtype: Any, weighted: bool,
             seed: int = 0) -> tuple[Array, Array, Array | None]:
    """Logits, int64 targets (the first ignored, -100) and optional class weights."""
    rng = np.random.default_rng(seed)
    classes = shape[0] if len(shape) == 1 else shape[1]
    x = np.asarray(2 * rng.standard_normal(shape), dtype)
    t = rng.integers(0, classes, () if len(shape) == 1 else (shape[0],) + shape[2:])
    t = np.asarray(t, np.int64)
    if t.size > 1:
        t.reshape(-1)[0] = -100
    w = np.asarray(rng.random(classes) + 0.5, dtype) if weighted else None
    return x, t, w


def _ref_nll(x: Array, t: Array, w: Array | None, reduction: str) -> Array:
    """float64 reference: -w[t] * x[t] per target, 0 where ignored, reduced."""
    x64 = np.moveaxis(x.astype(np.float64), 0 if x.ndim == 1 else 1, -1)
    valid = t != -100
    safe = np.where(valid, t, 0)
    weight = (np.ones(x64.shape[-1]) if w is None else w.astype(np.float64))[safe] * valid
    loss = -np.take_along_axis(x64, safe[..., None], -1)[..., 0] * weight
    if reduction == "none":
        return loss
    return np.asarray(loss.sum() if reduction == "sum" else loss.sum() / weight.sum())


SHAPES = [(5, 7), (300, 10), (3, 4, 6), (2, 3, 5, 2), (7,), (1, 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("shape", SHAPES)
def test_nll_loss_forward_backward(shape: tuple[int, ...], reduction: str, weighted: bool,
                                   dtype: Any) -> None:
    a, t, w = _problem(shape, dtype, weighted, seed=shape[0])
    x = nr.from_numpy(a).cuda().requires_grad_()
    wd = None if w is None else nr.from_numpy(w).cuda()
    loss = F.nll_loss(x, nr.from_numpy(t).cuda(), wd, reduction=reduction)
    ref = _ref_nll(a, t, w, reduction)
    _close(loss.detach().cpu().numpy(), ref, dtype)
    up = np.asarray(np.random.default_rng(3).standard_normal(ref.shape), dtype)
    loss.backward(nr.from_numpy(up).cuda())
    xc = nr.from_numpy(a).requires_grad_()
    F.nll_loss(xc, nr.from_numpy(t), None if w is None else nr.from_numpy(w),
               reduction=reduction).backward(nr.from_numpy(up))
    assert x.grad is not None and xc.grad is not None
    _close(x.grad.cpu().numpy(), xc.grad.numpy().astype(np.float64), dtype)
    assert "nll_loss" not in HOST_ROUND_TRIPS and "nll_loss_backward" not in HOST_ROUND_TRIPS
    if torch is not None:
        tx = torch.tensor(a.astype(np.float64), requires_grad=True)
        tl = torch.nn.functional.nll_loss(
            tx, torch.tensor(t), None if w is None else torch.tensor(w.astype(np.float64)),
            reduction=reduction)
        tl.backward(torch.tensor(up.astype(np.float64)))
        _close(loss.detach().cpu().numpy(), tl.detach().numpy(), dtype)
        _close(x.grad.cpu().numpy(), tx.grad.numpy(), dtype)  # type: ignore[union-attr]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(64, 10), (3, 4, 6), (513, 3)])
def test_cross_entropy_matches_cpu_without_fallbacks(shape: tuple[int, ...],
                                                     dtype: Any) -> None:
    a, t, _ = _problem(shape, dtype, False, seed=1)

    def run(device: str) -> tuple[Array, Array]:
        x = nr.from_numpy(a).to(device).requires_grad_()
        loss = F.cross_entropy(x, nr.from_numpy(t).to(device))
        loss.backward()
        assert x.grad is not None
        return loss.detach().cpu().numpy(), x.grad.cpu().numpy()

    (loss, grad), (loss_cpu, grad_cpu) = run("cuda"), run("cpu")
    _close(loss, loss_cpu.astype(np.float64), dtype)
    _close(grad, grad_cpu.astype(np.float64), dtype)
    for op in ("log_softmax", "log_softmax_backward", "nll_loss", "nll_loss_backward"):
        assert op not in HOST_ROUND_TRIPS, HOST_ROUND_TRIPS


def test_cross_entropy_under_strict_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEURARUST_CUDA_STRICT", "1")
    a, t, _ = _problem((16, 5), np.float32, False)
    x = nr.from_numpy(a).cuda().requires_grad_()
    F.cross_entropy(x, nr.from_numpy(t).cuda()).backward()
    assert x.grad is not None


def test_every_target_ignored_and_empty_batch() -> None:
    x = nr.from_numpy(np.ones((3, 4), np.float32)).cuda()
    t = nr.tensor([-100, -100, -100]).cuda()
    assert np.isnan(F.nll_loss(x, t).cpu().numpy())  # 0 / 0, as PyTorch
    assert F.nll_loss(x, t, reduction="sum").cpu().numpy() == 0
    empty = nr.from_numpy(np.ones((0, 4), np.float32)).cuda()
    no_targets = nr.from_numpy(np.zeros((0,), np.int64)).cuda()
    assert F.nll_loss(empty, no_targets, reduction="none").shape == (0,)
    assert F.nll_loss(empty, no_targets, reduction="sum").cpu().numpy() == 0
    assert np.isnan(F.nll_loss(empty, no_targets).cpu().numpy())
    assert not HOST_ROUND_TRIPS


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_out_of_range_target_raises_the_cpu_error(reduction: str) -> None:
    a = np.zeros((4, 3), np.float32)
    bad = np.array([0, 1, 5, 7], np.int64)  # the first out of range is 5 (at index 2)
    with pytest.raises(IndexError) as cpu:
        F.nll_loss(nr.from_numpy(a), nr.from_numpy(bad), reduction=reduction)
    with pytest.raises(IndexError) as dev:
        F.nll_loss(nr.from_numpy(a).cuda(), nr.from_numpy(bad).cuda(), reduction=reduction)
    assert str(dev.value) == str(cpu.value) == "nll_loss: target 5 is out of bounds for 3 classes"
    negative = nr.from_numpy(np.array([0, -1, 2, 2], np.int64)).cuda()
    with pytest.raises(IndexError, match="target -1 is out of bounds for 3 classes"):
        F.nll_loss(nr.from_numpy(a).cuda(), negative, reduction=reduction)
    g = nr.from_numpy(np.ones((4,) if reduction == "none" else (), np.float32)).cuda()
    with pytest.raises(IndexError, match="target 5 is out of bounds"):
        g._apply("nll_loss_backward", nr.from_numpy(bad).cuda(), None, classes=3,
                 ignore_index=-100, reduction=reduction)


# -- casts ----------------------------------------------------------------------------------
CAST_DTYPES = [nr.float32, nr.float64, nr.int64, nr.int32, nr.bool]
VALUES = np.array([0, 1.5, -2.7, 3, 1e9, -0.0, 7, 0.25, 255, 1e5, -65536.5], np.float64)


@pytest.mark.parametrize("to", CAST_DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("src", CAST_DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("n", [0, 1, 11, 1031])
def test_cast_matches_numpy(src: Any, to: Any, n: int) -> None:
    host = np.resize(VALUES, n).astype(src.np_dtype)
    out = nr.from_numpy(host).cuda().to(to)
    assert out.device == "cuda" and out.dtype is to
    np.testing.assert_array_equal(out.cpu().numpy(), host.astype(to.np_dtype))
    arr = nr.from_numpy(host).cuda()._data.astype(to.np_dtype)  # DeviceArray.astype
    np.testing.assert_array_equal(arr.get(), host.astype(to.np_dtype))
    assert "cast" not in HOST_ROUND_TRIPS


def test_cast_gradient_flows_back_on_device() -> None:
    a = np.random.default_rng(0).standard_normal((3, 5))
    x = nr.from_numpy(a).cuda().requires_grad_()
    (x.to(nr.float32) * 2).sum().backward()
    assert x.grad is not None and x.grad.dtype is nr.float64
    np.testing.assert_array_equal(x.grad.cpu().numpy(), np.full((3, 5), 2.0))
    assert "cast" not in HOST_ROUND_TRIPS


# -- comparisons and where ------------------------------------------------------------------
_NP = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
       "gt": np.greater, "ge": np.greater_equal}


@pytest.mark.parametrize("op", sorted(_NP))
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32])
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((5, 1, 3), (1, 2, 1)),
                                    ((2, 2, 2, 300), (2, 1, 2, 300)), ((7,), ()), ((0, 3), (3,))])
def test_comparisons_match_numpy(op: str, dtype: Any,
                                 shapes: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(-2, 3, shapes[0]).astype(dtype)  # small ints: many ties
    b = rng.integers(-2, 3, shapes[1]).astype(dtype)
    out = getattr(nr, op)(nr.from_numpy(a).cuda(), nr.from_numpy(b).cuda())
    assert out.device == "cuda" and out.dtype is nr.bool
    np.testing.assert_array_equal(out.cpu().numpy(), _NP[op](a, b))
    assert op not in HOST_ROUND_TRIPS


def test_comparisons_with_scalars_mixed_dtypes_and_nan() -> None:
    a = np.array([[-1.0, 0.0, np.nan], [1.5, 2.0, np.inf]], np.float32)
    x = nr.from_numpy(a).cuda()
    for op, fn in _NP.items():
        np.testing.assert_array_equal(getattr(x, op)(1.5).cpu().numpy(), fn(a, 1.5))
        np.testing.assert_array_equal(getattr(x, op)(x).cpu().numpy(), fn(a, a))
    i = np.array([0, 1, 2, 3], np.int64)
    xi = nr.from_numpy(i).cuda()
    np.testing.assert_array_equal(xi.lt(1.5).cpu().numpy(), i < 1.5)  # compares in float
    f = nr.from_numpy(np.array([0.5, 1.0, 2.0, 2.5], np.float32)).cuda()
    np.testing.assert_array_equal(xi.eq(f).cpu().numpy(), [False, True, True, False])
    assert not HOST_ROUND_TRIPS


def test_accuracy_via_argmax_eq_has_no_compare_fallback() -> None:
    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((50, 10)).astype(np.float32), rng.integers(0, 10, 50)
    x, t = nr.from_numpy(logits).cuda(), nr.from_numpy(labels.astype(np.int64)).cuda()
    acc = x.argmax(1).eq(t).float().mean().item()
    assert acc == pytest.approx(float((logits.argmax(1) == labels).mean()))
    assert "eq" not in HOST_ROUND_TRIPS and "cast" not in HOST_ROUND_TRIPS


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_where_matches_numpy_and_its_gradient(dtype: Any) -> None:
    rng = np.random.default_rng(2)
    c = rng.random((4, 1, 5)) > 0.5
    a = rng.integers(-5, 5, (4, 3, 5)).astype(dtype)
    b = rng.integers(-5, 5, (3, 1)).astype(dtype)
    out = nr.where(nr.from_numpy(c).cuda(), nr.from_numpy(a).cuda(), nr.from_numpy(b).cuda())
    assert out.dtype.np_dtype == dtype
    np.testing.assert_array_equal(out.cpu().numpy(), np.where(c, a, b))
    np.testing.assert_array_equal(
        nr.where(nr.from_numpy(c).cuda(), nr.from_numpy(a).cuda(), 0).cpu().numpy(),
        np.where(c, a, np.zeros((), dtype)))
    assert "where" not in HOST_ROUND_TRIPS
    if np.dtype(dtype).kind == "f":
        x = nr.from_numpy(a).cuda().requires_grad_()
        nr.where(nr.from_numpy(c).cuda(), x, 0.0).sum().backward()
        assert x.grad is not None
        np.testing.assert_array_equal(x.grad.cpu().numpy(), np.broadcast_to(c, a.shape) * 1.0)


# -- the contracts catch planted bugs -------------------------------------------------------
def test_planted_unchecked_target_is_refuted() -> None:
    # the kernel indexing w with the loaded target without checking it against classes
    unchecked = tuple(dataclasses.replace(a, guard=lambda c: [c.v["i"] < c.p["outer"]
                                                              * c.p["inner"]])
                      if a.buffer == "w" else a for a in NLL_LOSS_NONE.accesses)
    report = verify_kernel(dataclasses.replace(NLL_LOSS_NONE, accesses=unchecked), source=False)
    bad = [o for o in report.obligations if o.status == "refuted"]
    assert len(bad) == 1 and "w[c]" in bad[0].what
    cex = bad[0].counterexample
    assert cex is not None and not 0 <= cex["c"] < cex["classes"] and cex["index"] == cex["c"]


def test_planted_off_by_one_in_backward_guard_is_refuted() -> None:
    # dx[q] written for q <= outer * classes * inner
    def numel(c: Any) -> Any:
        return c.p["outer"] * c.p["classes"] * c.p["inner"]

    wrong = Access("dx", "write", lambda c: c.v["q"], lambda c: [c.v["q"] <= numel(c)], "dx[q]")
    accesses = tuple(wrong if a.buffer == "dx" else a for a in NLL_LOSS_BACKWARD.accesses)
    report = verify_kernel(dataclasses.replace(NLL_LOSS_BACKWARD, accesses=accesses),
                           source=False)
    bad = [o for o in report.obligations if o.status == "refuted"]
    assert len(bad) == 1 and "dx[q]" in bad[0].what
    cex = bad[0].counterexample
    assert cex is not None and cex["index"] == cex["outer"] * cex["classes"] * cex["inner"]
