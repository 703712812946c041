"""Indexing kernels on the cuda device (``index.cu``) under the emulator (or on a GPU under
NEURARUST_DEVICE=cuda): index_select/embedding, gather, x[idx], scatter(_add), index_put,
slices (getitem, narrow), cat and stack, forward and backward, against the CPU backend
(numpy) and PyTorch where installed; out-of-range indices raise the CPU's IndexError."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import neurarust as nr
from neurarust.kernels.cuda import driver
from neurarust.kernels.cuda.array import HOST_ROUND_TRIPS
from neurarust.kernels.cuda.contract import Access, LoopVar
from neurarust.kernels.cuda.families.index import SCATTER, TAKE
from neurarust.verify.kernels import verify_kernel

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not on PATH")

MINE = ("index_select", "gather", "index", "scatter", "scatter_add", "index_put", "getitem",
        "narrow", "cat", "stack")


@pytest.fixture(autouse=True)
def emulated(emulated_cuda: None) -> None:
    """Every test here runs on the cuda backend (``emulated_cuda``, tests/cuda/conftest.py)."""


DTYPES = [np.float32, np.float64, np.int64]
FLOATS = [np.float32, np.float64]


def _rand(*shape: int, dtype: Any = np.float32, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal(shape) * 10
    return np.asarray(x, dtype=dtype)


def _none_on_host() -> None:
    assert not set(MINE) & set(nr.cuda.fallback_counts()), dict(nr.cuda.fallback_counts())


def _same(fn: Callable[..., nr.Tensor], *arrays: np.ndarray, grad: bool = False,
          sums: bool = False) -> None:
    """``fn`` on cuda equals ``fn`` on the CPU backend (values, shape, dtype) and, with
    ``grad``, so do the gradients of ``(fn(...) * w).sum()`` for the float inputs. Copies are
    exact; with ``sums`` (scatter-adds: atomics in the dtype, in another order than the
    CPU's float64 bincount) values agree within rounding."""
    def run(device: str) -> tuple[np.ndarray, list[np.ndarray]]:
        xs = [nr.from_numpy(a.copy()).to(device) for a in arrays]
        for x in xs:
            if grad and x.dtype.is_floating_point:
                x.requires_grad_()
        out = fn(*xs)
        if grad:
            w = nr.from_numpy(_rand(*out.shape, dtype=arrays[0].dtype, seed=9)).to(device)
            (out * w).sum().backward()
        grads = [x.grad.cpu().numpy() for x in xs if x.grad is not None]
        return out.detach().cpu().numpy(), grads

    ref, ref_grads = run("cpu")
    got, got_grads = run("cuda")
    assert got.shape == ref.shape and got.dtype == ref.dtype
    if sums and got.dtype.kind == "f":
        _close(got, ref)
    else:
        np.testing.assert_array_equal(got, ref)
    assert len(got_grads) == len(ref_grads) and (len(ref_grads) > 0) == grad
    for g, r in zip(got_grads, ref_grads):
        _close(g, r)  # gradients of gathers are scatter-adds
    _none_on_host()


def _close(got: np.ndarray, ref: np.ndarray) -> None:
    """Within float rounding of sums: relative 1e-5 (float32) / 1e-12 (float64) of the
    largest magnitude."""
    tol = 1e-5 if got.dtype == np.float32 else 1e-12
    scale = float(np.max(np.abs(ref), initial=1.0))
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * scale)


def _idx(n: int, high: int, seed: int = 1, dtype: type = np.int64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, high, n).astype(dtype)


# -- index_select / embedding --------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim,n", [((5, 3), 0, 7), ((1,), 0, 1), ((13, 7, 3), 1, 11),
                                         ((3, 300), 1, 301), ((2, 3, 4, 5, 6), 3, 9),
                                         ((4, 0), 0, 3), ((4, 3), 0, 0)])
def test_index_select(dtype: type, shape: tuple[int, ...], dim: int, n: int) -> None:
    a, i = _rand(*shape, dtype=dtype), _idx(n, shape[dim])
    _same(lambda x, j: x.index_select(dim, j), a, i, grad=dtype != np.int64)


def test_index_select_int32_index_and_torch() -> None:
    a, i = _rand(6, 4, dtype=np.float64), _idx(9, 6, dtype=np.int32)
    _same(lambda x, j: x.index_select(0, j), a, i, grad=True)
    torch = pytest.importorskip("torch")
    out = nr.from_numpy(a).cuda().index_select(0, nr.from_numpy(i).cuda()).cpu().numpy()
    ref = torch.from_numpy(a).index_select(0, torch.from_numpy(i.astype(np.int64))).numpy()
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("dtype", FLOATS)
def test_embedding_forward_backward(dtype: type) -> None:
    w, i = _rand(50, 8, dtype=dtype), np.array([[3, 3, 49], [0, 7, 3]])
    _same(lambda x, j: nr.nn.functional.embedding(j, x), w, i, grad=True)
    # the float64 reference: repeated rows add up
    x = nr.from_numpy(w).cuda().requires_grad_()
    nr.nn.functional.embedding(nr.from_numpy(i).cuda(), x).sum().backward()
    assert x.grad is not None
    expect = np.zeros(50)
    np.add.at(expect, i.reshape(-1), 8.0)
    np.testing.assert_allclose(x.grad.cpu().numpy().sum(1), expect, rtol=1e-6)


@pytest.mark.parametrize("op,call", [
    ("index_select", lambda x, j: x.index_select(0, j)),
    ("gather", lambda x, j: x.gather(0, j.reshape(-1, 1).expand(-1, 3))),
    ("scatter_add", lambda x, j: x.scatter_add(0, j.reshape(-1, 1).expand(-1, 3),
                                               nr.ones(j.shape[0], 3, device=x.device))),
    ("index", lambda x, j: x[j]),
])
@pytest.mark.parametrize("bad", [5, -6, 10**12])
def test_out_of_range_index_raises_the_cpu_error(op: str, call: Callable[..., Any],
                                                 bad: int) -> None:
    a = _rand(5, 3)
    j = np.array([0, bad, 2])
    with pytest.raises(IndexError) as cpu:
        call(nr.from_numpy(a), nr.from_numpy(j))
    with pytest.raises(IndexError) as dev:
        call(nr.from_numpy(a).cuda(), nr.from_numpy(j).cuda())
    assert str(dev.value) == str(cpu.value)
    assert op not in nr.cuda.fallback_counts()


def test_negative_index_wraps_where_the_cpu_does() -> None:
    a, j = _rand(5, 3), np.array([-1, 0, -5, 4])
    _same(lambda x, i: x[i], a, j, grad=True)  # x[idx] wraps (index, index_put)
    with pytest.raises(IndexError, match="index_select: index -5 is out of bounds"):
        nr.from_numpy(a).cuda().index_select(0, nr.from_numpy(j).cuda())


# -- gather / scatter ----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,ishape,dim", [((4, 5), (4, 5), 1), ((4, 5), (2, 3), 0),
                                              ((7, 3, 257), (7, 2, 257), 1), ((1,), (1,), 0),
                                              ((3, 4), (0, 4), 0)])
def test_gather(dtype: type, shape: tuple[int, ...], ishape: tuple[int, ...], dim: int) -> None:
    a = _rand(*shape, dtype=dtype)
    i = np.random.default_rng(2).integers(0, shape[dim], ishape)
    _same(lambda x, j: x.gather(dim, j), a, i, grad=dtype != np.int64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("add", [False, True])
def test_scatter_and_scatter_add(dtype: type, add: bool) -> None:
    a, src = _rand(6, 300, dtype=dtype), _rand(4, 301, dtype=dtype, seed=3)
    i = np.random.default_rng(4).integers(0, 6, (4, 300))
    if not add:  # distinct targets per column, so no write race decides the result
        i = np.stack([np.random.default_rng(k).permutation(6)[:4] for k in range(300)], 1)
    op = "scatter_add" if add else "scatter"
    _same(lambda x, j, s: getattr(x, op)(0, j, s), a, i, src, grad=dtype != np.int64,
          sums=add)
    if not add:
        _same(lambda x, j: x.scatter(0, j, 2.5), a, i)


def test_scatter_add_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    a, src = _rand(5, 7, dtype=np.float64), _rand(9, 7, dtype=np.float64, seed=3)
    i = np.random.default_rng(4).integers(0, 5, (9, 7))
    got = nr.from_numpy(a).cuda().scatter_add(0, nr.from_numpy(i).cuda(),
                                              nr.from_numpy(src).cuda()).cpu().numpy()
    ref = torch.from_numpy(a).scatter_add(0, torch.from_numpy(i), torch.from_numpy(src))
    np.testing.assert_allclose(got, ref.numpy(), rtol=1e-12)


# -- slices, narrow, index_put -------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("key", [
    (slice(1, 4),), (slice(None), 2), (0,), (slice(None, None, 2), slice(1, None, 3)),
    (None, slice(2, 3), Ellipsis, 1), (slice(5, 5),), (-1, slice(-3, None)),
], ids=str)
def test_getitem_slices(dtype: type, key: tuple[Any, ...]) -> None:
    a = _rand(6, 7, 5, dtype=dtype)
    _same(lambda x: x[key], a, grad=dtype != np.int64)


def test_slice_of_a_rank_5_tensor_and_odd_sizes() -> None:
    a = _rand(2, 3, 4, 5, 6, dtype=np.float64)
    _same(lambda x: x[:, 1:, ::2, 1:4, 3], a, grad=True)
    _same(lambda x: x[1:], _rand(1, dtype=np.float32), grad=True)
    _same(lambda x: x[3:300:7], _rand(1031), grad=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_narrow(dtype: type) -> None:
    a = _rand(5, 9, 3, dtype=dtype)
    _same(lambda x: nr.narrow(x, 1, 2, 5), a, grad=dtype != np.int64)
    _same(lambda x: nr.narrow(x, 0, -2, 2), a, grad=dtype != np.int64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_setitem_puts(dtype: type) -> None:
    a, v = _rand(6, 5, dtype=dtype), _rand(5, dtype=dtype, seed=5)

    def put(x: nr.Tensor, values: nr.Tensor) -> nr.Tensor:
        y = x.clone() if x.dtype.is_floating_point else x + 0
        y[1:4] = values  # broadcast over the sliced rows
        y[:, 0] = 7
        return y

    _same(put, a, v)


@pytest.mark.parametrize("accumulate", [False, True])
def test_index_put_with_an_index_tensor(accumulate: bool) -> None:
    a, v = _rand(6, 4, dtype=np.float64), _rand(3, 4, dtype=np.float64, seed=5)
    j = np.array([5, -1, 0]) if accumulate else np.array([5, 2, 0])
    _same(lambda x, i, vals: nr.index_put(x, (i,), vals, accumulate=accumulate), a, j, v,
          grad=True)


# -- cat / stack ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes,dim", [([(2, 3), (4, 3), (1, 3)], 0), ([(2, 3), (2, 1)], 1),
                                        ([(3, 2, 257), (3, 5, 257)], -2), ([(4,)], 0),
                                        ([(0, 3), (2, 3)], 0), ([(2, 3), (0,)], 0)])
def test_cat(dtype: type, shapes: list[tuple[int, ...]], dim: int) -> None:
    arrays = [_rand(*s, dtype=dtype, seed=k) for k, s in enumerate(shapes)]
    _same(lambda *xs: nr.cat(list(xs), dim=dim), *arrays, grad=dtype != np.int64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,n,dim", [((2, 3), 3, 0), ((2, 3), 2, 2), ((5, 257), 2, -2),
                                         ((), 4, 0), ((0, 3), 2, 1)])
def test_stack(dtype: type, shape: tuple[int, ...], n: int, dim: int) -> None:
    arrays = [_rand(*shape, dtype=dtype, seed=k) for k in range(n)]
    _same(lambda *xs: nr.stack(list(xs), dim=dim), *arrays, grad=dtype != np.int64)


# -- a model ---------------------------------------------------------------------------------
def _train_embedding(device: str) -> tuple[list[np.ndarray], float]:
    nr.manual_seed(0)
    model = nr.nn.Sequential(nr.nn.Embedding(20, 8), nr.nn.Flatten(), nr.nn.Linear(3 * 8, 4))
    model.to(device)
    opt = nr.optim.Adam(model.parameters(), lr=0.01)
    tokens = nr.tensor([[1, 5, 5], [19, 0, 7], [5, 2, 2], [3, 3, 3]], device=device)
    target = nr.tensor([0, 1, 2, 3], device=device)
    loss = None
    for _ in range(3):
        opt.zero_grad()
        loss = nr.nn.functional.cross_entropy(model(tokens), target)
        loss.backward()
        opt.step()
    assert loss is not None
    return [p.detach().cpu().numpy() for p in model.parameters()], loss.item()


def test_embedding_linear_trains_with_adam_as_on_cpu() -> None:
    ref, ref_loss = _train_embedding("cpu")
    HOST_ROUND_TRIPS.clear()
    got, loss = _train_embedding("cuda")
    tol = 1e-5 if driver.emulating() else 1e-3
    assert loss == pytest.approx(ref_loss, rel=tol)
    for r, g in zip(ref, got):
        np.testing.assert_allclose(g, r, rtol=tol, atol=tol / 10)
    _none_on_host()


# -- contracts -----------------------------------------------------------------------------
def test_planted_missing_index_check_is_refuted() -> None:
    # the kernel trusting its index: x[c . s + v * sd] without the 0 <= v < size check
    trusting = tuple(
        dataclasses.replace(a, guard=lambda c: [c.v["i"] < c.p["d0"] * c.p["d1"] * c.p["d2"]
                                                * c.p["d3"]]) if a.buffer == "x" else a
        for a in TAKE.accesses)
    report = verify_kernel(dataclasses.replace(TAKE, accesses=trusting), source=False)
    (bad,) = [o for o in report.obligations if o.status == "refuted"]
    assert "read x[c0 * s0 + c1 * s1 + c2 * s2 + c3 * s3 + v * sd]" in bad.what
    cex = bad.counterexample
    assert cex is not None and (cex["v"] < 0 or cex["v"] >= cex["size"])


def test_planted_off_by_one_wrap_is_refuted() -> None:
    # a range check v <= size (an off-by-one) lets v == size write one row past the end
    loose = [dataclasses.replace(a, guard=lambda c: [c.v["v"] >= 0, c.v["v"] <= c.p["size"]])
             if a.buffer == "out" else a for a in SCATTER.accesses]
    report = verify_kernel(dataclasses.replace(SCATTER, accesses=tuple(loose)), source=False)
    bad = [o for o in report.obligations if o.status == "refuted"]
    assert bad and all("out[" in o.what for o in bad)
    cex = bad[0].counterexample
    assert cex is not None and cex["v"] == cex["size"] and cex["sd"] > 0


def test_index_contracts_proven_and_their_loaded_index_is_free() -> None:
    for contract in (TAKE, SCATTER):
        assert verify_kernel(contract).status == "proven"
        (v,) = [loop for loop in contract.loops if loop.name == "v"]
        assert isinstance(v, LoopVar) and v.facts is not None
    assert isinstance(TAKE.accesses[0], Access)
