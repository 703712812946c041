"""Native reductions (``reduce.cu``, ``reduce_cols.cu``, families/reduce.py) under the emulator:
sum, mean, amax, amin, max/min with indices, argmax/argmin, var/std, logsumexp over any dims,
against numpy in float64, the CPU backend (shape, dtype, values) and PyTorch where installed;
nan, ties and empty dims as the CPU backend; gradients through autograd; layer norm without
a host fallback; and planted contract bugs that the z3 proof refutes."""

from __future__ import annotations

import dataclasses
import os
import shutil
import warnings
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import neurarust as nr
from neurarust.kernels.cuda import backend, driver
from neurarust.kernels.cuda.array import HOST_ROUND_TRIPS
from neurarust.kernels.cuda.contract import LoopVar
from neurarust.kernels.cuda.families import reduce as family
from neurarust.verify.kernels import verify_kernel

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not on PATH")

REDUCTIONS = ("sum", "mean", "amax", "amin", "max", "min", "argmax", "argmin", "var", "std",
              "logsumexp")
Array = np.ndarray[Any, Any]


@pytest.fixture(autouse=True)
def emulated(monkeypatch: pytest.MonkeyPatch,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Counter[str]]:
    """The emulation driver (or the GPU under NEURARUST_DEVICE=cuda), yielding the kernels
    the reduce family launched."""
    launched: Counter[str] = Counter()
    real = getattr(family, "launch")  # the family's own binding of common.launch

    def spy(contract: Any, function: str, driver_: Any, args: list[Any], **shape: int) -> None:
        launched[function] += 1
        real(contract, function, driver_, args, **shape)

    monkeypatch.setattr(family, "launch", spy)
    if os.environ.get("NEURARUST_DEVICE") == "cuda" and not driver.emulating():
        if not nr.cuda.is_available():  # pragma: no cover - GPU machine
            pytest.skip("NEURARUST_DEVICE=cuda but pycuda or the GPU is unusable")
        backend.load()
        HOST_ROUND_TRIPS.clear()
        yield launched
        return
    monkeypatch.setenv(driver.EMULATE_ENV, "1")
    monkeypatch.setattr(driver, "CACHE_DIR", tmp_path_factory.getbasetemp() / "nr-cuda-cache")
    backend.unload()
    backend.load()
    HOST_ROUND_TRIPS.clear()
    yield launched
    backend.unload()


def _rand(*shape: int, dtype: type = np.float32, seed: int = 0) -> Array:
    return np.asarray(np.random.default_rng(seed).standard_normal(shape), dtype=dtype)


def _array(values: Any, dtype: type) -> Array:
    """``values`` as an ndarray (a 0-d one stays an ndarray, as from_numpy needs)."""
    return np.asarray(values, dtype=dtype)


def _axis(a: Array, dim: tuple[int, ...] | None) -> tuple[int, ...] | None:
    return None if dim is None or a.ndim == 0 else tuple(d % a.ndim for d in dim)


def _reference(op: str, a: Array, dim: tuple[int, ...] | None, keepdim: bool,
               correction: float) -> Array:
    """numpy in float64 (first index of ties, nan as the extreme: numpy's argmax rule)."""
    x = a.astype(np.float64)
    axis = _axis(a, dim)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's "mean of empty slice"
        if op in ("sum", "mean", "amax", "amin"):
            return np.asarray(getattr(np, op)(x, axis=axis, keepdims=keepdim))
        if op in ("var", "std"):
            count = x.size if axis is None else int(np.prod([a.shape[d] for d in axis]))
            dev = x - x.mean(axis=axis, keepdims=True)
            out = (dev * dev).sum(axis=axis, keepdims=keepdim) / max(count - correction, 0)
            return np.asarray(np.sqrt(out) if op == "std" else out)
        if op == "logsumexp":
            top = np.amax(x, axis=axis, keepdims=True, initial=-np.inf)
            shift = np.where(np.isinf(top), 0, top)
            out = np.log(np.exp(x - shift).sum(axis=axis, keepdims=True)) + shift
            return out if keepdim else np.asarray(np.squeeze(out, axis=axis))
        arg = np.argmax if op in ("max", "argmax") else np.argmin
        if axis is None:
            index = np.asarray(arg(x))
            return index.reshape((1,) * a.ndim) if keepdim else index
        index = np.asarray(arg(x, axis=axis[0], keepdims=True))
        picked = np.take_along_axis(x, index, axis=axis[0]) if op in ("max", "min") else index
        return picked if keepdim else np.squeeze(picked, axis=axis[0])


def _call(op: str, t: nr.Tensor, dim: tuple[int, ...] | None, keepdim: bool,
          correction: float) -> nr.Tensor:
    out: nr.Tensor
    if op in ("max", "min"):
        assert dim is not None and len(dim) == 1
        out = getattr(nr, op)(t, dim[0], keepdim).values
    elif op in ("argmax", "argmin"):
        out = getattr(nr, op)(t, None if dim is None else dim[0], keepdim)
    elif op in ("var", "std"):
        out = getattr(nr, op)(t, dim, correction=correction, keepdim=keepdim)
    elif op == "logsumexp":
        out = nr.logsumexp(t, () if dim is None else dim, keepdim)
    else:
        out = getattr(nr, op)(t, dim, keepdim)
    return out


def _check(op: str, a: Array, dim: tuple[int, ...] | None, keepdim: bool = False,
           correction: float = 1) -> None:
    """The cuda result against numpy in float64 and the CPU backend (shape, dtype), natively."""
    ref = _reference(op, a, dim, keepdim, correction)
    cpu = _call(op, nr.from_numpy(a), dim, keepdim, correction)
    got = _call(op, nr.from_numpy(a).cuda(), dim, keepdim, correction)
    assert got.device == "cuda" and got.dtype == cpu.dtype and got.shape == cpu.shape
    out = got.cpu().numpy()
    assert out.shape == ref.shape, (op, dim, keepdim)
    if op in ("argmax", "argmin"):
        assert out.dtype == np.int64
        np.testing.assert_array_equal(out, ref)
    else:
        # float32: the double accumulator leaves only the final rounding (and expf's ulps)
        rtol = 1e-6 if a.dtype == np.float32 else 1e-12
        finite = np.abs(np.where(np.isfinite(a), a, 0).astype(np.float64))
        atol = 1e-12 * float(finite.sum()) if a.dtype == np.float64 else 0  # summation order
        np.testing.assert_allclose(out, ref, rtol=rtol, atol=atol, equal_nan=True)
        np.testing.assert_allclose(out, cpu.numpy(), rtol=1e-5, atol=1e-6, equal_nan=True)
    assert not set(REDUCTIONS) & set(nr.cuda.fallback_counts()), nr.cuda.fallback_counts()


# (shape, dims): last dim (one block per row, rows longer than a block), a middle or leading
# dim (a thread per output, or transposed to rows when red is long and outputs few),
# non-adjacent dims (gathered first), all dims, 0-d, size-1 and prime sizes.
CASES: list[tuple[tuple[int, ...], tuple[int, ...] | None]] = [
    ((7,), None), ((1,), (0,)), ((), None), ((5, 257), (-1,)), ((3, 5, 300), (2,)),
    ((3, 5, 300), (1,)), ((13, 17), (0,)), ((2, 300, 3), (1,)), ((4, 3, 5, 2), (0, 2)),
    ((2, 3, 4, 5), (1, 3)), ((2, 3, 4, 5), (0, 2, 3)), ((3, 1, 5), (1,)), ((3, 5, 300), None),
    ((6, 1, 7), (0, 1)),
]
ONE_DIM = [(s, d) for s, d in CASES if d is not None and len(d) == 1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin", "var", "std", "logsumexp"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_reductions_over_dims_match_numpy_and_cpu(
        op: str, dtype: type, case: tuple[tuple[int, ...], tuple[int, ...] | None]) -> None:
    shape, dim = case
    a = _array(_rand(*shape, dtype=dtype, seed=len(shape)) * 3, dtype)
    _check(op, a, dim, keepdim=False)
    _check(op, a, dim, keepdim=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["max", "min", "argmax", "argmin"])
@pytest.mark.parametrize("case", ONE_DIM + [((3, 5, 300), None), ((7,), None), ((), None)],
                         ids=str)
def test_selections_match_numpy_and_cpu(
        op: str, dtype: type, case: tuple[tuple[int, ...], tuple[int, ...] | None]) -> None:
    shape, dim = case
    if dim is None and op in ("max", "min"):
        dim = (0,) if shape else None
        if dim is None:
            pytest.skip("max(x, dim) needs a dim")
    # few distinct values: many ties, which must resolve to the first index
    a: Array = np.asarray(np.random.default_rng(3).integers(-2, 3, shape), dtype=dtype)
    _check(op, a, dim)
    _check(op, a, dim, keepdim=True)


@pytest.mark.parametrize("correction", [0, 1, 2.5, 7])
@pytest.mark.parametrize("case", [((3, 7), (1,)), ((7, 3), (0,)), ((2, 3, 4, 5), (1, 3))],
                         ids=str)
def test_var_std_any_correction(correction: float,
                                case: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
    # correction 7 >= N = 7 (or 3): the divisor is 0, giving inf (or nan), as the CPU
    a = _rand(*case[0], dtype=np.float64)
    for op in ("var", "std"):
        _check(op, a, case[1], correction=correction)


def test_each_kernel_path_runs(emulated: Counter[str]) -> None:
    a = nr.from_numpy(_rand(2, 300, 3)).cuda()
    a.sum(2), a.sum(1), nr.from_numpy(_rand(3, 5, 7)).cuda().var(1)
    a.argmax(2), nr.from_numpy(_rand(3, 5, 7)).cuda().argmin(1)
    assert emulated["nr_sum_rows_f32"] == 2  # the last dim; dim 1 transposed to rows
    assert emulated["nr_var_cols_f32"] == 1
    assert emulated["nr_argmax_rows_f32"] == 1 and emulated["nr_argmin_cols_f32"] == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dim", [(0,), (1,)])
def test_nan_inf_and_ties_as_the_cpu_backend(dtype: type, dim: tuple[int, ...]) -> None:
    a: Array = np.zeros((6, 600), dtype)
    a[0, [5, 300]] = 2.0  # tie across threads of one block: the first index wins
    a[1, [3, 400]] = np.nan  # nan is the extreme (max and min), its first index
    a[1, 7] = np.inf
    a[2, :] = -np.inf  # amax -inf, logsumexp -inf
    a[3, 10] = np.inf  # logsumexp inf
    a[4, 599] = -1.0
    a[5, :] = 1.0  # all equal: index 0
    a = a if dim == (1,) else np.ascontiguousarray(a.T)
    for op in ("sum", "mean", "amax", "amin", "max", "min", "argmax", "argmin", "var", "std",
               "logsumexp"):
        _check(op, a, dim)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_empty_inputs(dtype: type) -> None:
    # an empty reduced dim: sum 0, mean/var nan, logsumexp -inf (max has no identity: the
    # shape rule refuses it); an empty kept dim: an empty result, no launch
    for shape, dim in [((3, 0), (1,)), ((0, 4), (1,)), ((0, 4), (0,)), ((2, 0, 3), (1,))]:
        a: Array = np.zeros(shape, dtype)
        for op in ("sum", "mean", "var", "std", "logsumexp"):
            _check(op, a, dim)
            _check(op, a, dim, keepdim=True)
        if a.shape[dim[0]]:
            for op in ("amax", "max", "argmin"):
                _check(op, a, dim)
    with pytest.raises(Exception, match="size 0"):
        nr.zeros(3, 0, device="cuda").amax(1)  # type: ignore[nr-shape]


def test_runs_under_strict_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEURARUST_CUDA_STRICT", "1")
    x = nr.from_numpy(_rand(4, 6, 5)).cuda()
    for op in REDUCTIONS:
        _call(op, x, (1,), False, 1)
    x.sum(), x.mean((0, 2)), x.var((0, 2), correction=0), x.logsumexp((0, 1)), x.argmax()
    with pytest.raises(NotImplementedError, match="sum: no CUDA kernel"):
        x.sum(1, dtype=nr.float64)  # dtype= other than the input's: the host fallback


def test_matches_pytorch() -> None:
    torch = pytest.importorskip("torch")
    a = _rand(4, 33, 70, dtype=np.float64)
    x, t = nr.from_numpy(a).cuda(), torch.from_numpy(a)
    pairs = [
        (x.sum((0, 2)), t.sum((0, 2))), (x.mean(1, keepdim=True), t.mean(1, keepdim=True)),
        (x.amax(2), t.amax(2)), (x.amin((0, 1)), t.amin((0, 1))),
        (x.var(1, correction=0), t.var(1, correction=0)), (x.std((0, 2)), t.std((0, 2))),
        (x.logsumexp(2), t.logsumexp(2)), (nr.max(x, 1).values, t.max(1).values),
        (nr.max(x, 1).indices, t.max(1).indices), (x.argmin(2), t.argmin(2)),
        (x.argmax(), t.argmax()),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours.cpu().numpy(), theirs.numpy(), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["sum", "mean", "amax", "max", "var", "std", "logsumexp"])
def test_gradients_match_cpu(op: str, dtype: type) -> None:
    a = _rand(3, 4, 5, dtype=dtype, seed=4)
    grads = []
    for device in ("cpu", "cuda"):
        x = nr.from_numpy(a).to(device).requires_grad_()
        out = _call(op, x, (1,), False, 1)
        (out * out).sum().backward()
        assert x.grad is not None and x.grad.device == device
        grads.append(x.grad.cpu().numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_without_host_reductions(dtype: type) -> None:
    a, w, b = _rand(4, 7, 33, dtype=dtype), _rand(33, dtype=dtype, seed=1), \
        _rand(33, dtype=dtype, seed=2)
    results = []
    for device in ("cpu", "cuda"):
        x, weight, bias = (nr.from_numpy(v).to(device).requires_grad_() for v in (a, w, b))
        out = nr.nn.functional.layer_norm(x, (33,), weight, bias)
        (out * out.detach().cos()).sum().backward()  # a non-trivial output gradient
        results.append([t.detach().cpu().numpy() for t in (out, x.grad, weight.grad, bias.grad)
                        if t is not None])
        if device == "cuda":
            assert not set(REDUCTIONS) & set(nr.cuda.fallback_counts()), \
                nr.cuda.fallback_counts()
            assert "rsqrt" not in nr.cuda.fallback_counts()
    assert len(results[1]) == 4
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for got, ref in zip(*results):
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rsqrt_native(dtype: type) -> None:
    a = np.abs(_rand(3, 257, dtype=dtype)) + 0.01
    got = nr.from_numpy(a).cuda().rsqrt()
    np.testing.assert_array_equal(got.cpu().numpy(), nr.from_numpy(a).rsqrt().numpy())
    assert "rsqrt" not in nr.cuda.fallback_counts()


# -- planted contract bugs ------------------------------------------------------------------
def test_planted_off_by_one_in_output_loop_is_refuted() -> None:
    # reduce_cols.cu's output loop written `o <= outer * inner`
    o_loop = LoopVar("o", lambda c: [c.v["o"] >= c.bx * c.block + c.tx,
                                     c.v["o"] <= c.p["outer"] * c.p["inner"]])
    out = dataclasses.replace(family.REDUCE_COLS.accesses[1], guard=lambda c: [
        c.v["o"] <= c.p["outer"] * c.p["inner"]])
    planted = dataclasses.replace(family.REDUCE_COLS, accesses=(
        family.REDUCE_COLS.accesses[0], out), loops=(o_loop, *family.REDUCE_COLS.loops[1:]))
    report = verify_kernel(planted, source=False)
    assert report.status == "refuted"
    bad = {o.what.split(" within")[0]: o for o in report.obligations if o.status == "refuted"}
    assert {"lemma a in [0, outer)", "write out[o]"} <= bad.keys()
    cex = bad["write out[o]"].counterexample
    assert cex is not None and cex["index"] == cex["o"] == cex["outer"] * cex["inner"]


def test_planted_block_larger_than_shared_buffer_is_refuted() -> None:
    # launching 512 threads while reduce.cu's trees hold NR_REDUCE_BLOCK = 256 partials
    planted = dataclasses.replace(family.ARGREDUCE_ROWS, block=lambda c: 512)
    report = verify_kernel(planted, source=False)
    bad = [o for o in report.obligations if o.status == "refuted"]
    assert {"write sval[tid]", "write sidx[tid]"} <= {o.what.split(" within")[0] for o in bad}
    assert all(o.counterexample is not None and o.counterexample["index"] >= 256 for o in bad)


def test_contracts_proven() -> None:
    for contract in family.CONTRACTS:
        report = verify_kernel(contract)
        assert report.proven, str(report)


def test_host_launch_configuration() -> None:
    rows = family.REDUCE_ROWS.launch(rows=10**6, cols=3)
    assert rows.block == family.REDUCE_BLOCK and rows.grid == 65535  # rows grid-stride
    cols = family.REDUCE_COLS.launch(outer=3, red=5, inner=1000)
    assert cols.block == 256 and cols.grid == 12


