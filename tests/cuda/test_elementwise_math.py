"""The float math kernels of unary.cu and elementwise.cu beyond + - * / (sign, reciprocal,
exp2/expm1/log2/log10/log1p, sin/cos, floor/ceil/trunc, pow, maximum/minimum, clamp, clone):
each equals the CPU backend, forward (with no host fallback: NEURARUST_CUDA_STRICT=1) and
backward."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import neurarust as nr

pytestmark = [pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not on PATH"),
              pytest.mark.usefixtures("emulated_cuda")]

UNARY = ("sign", "reciprocal", "exp2", "expm1", "log2", "log10", "log1p", "sin", "cos",
         "floor", "ceil", "trunc")
BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "pow": lambda a, b: a.abs() ** b,
    "pow (scalar exponent)": lambda a, b: a ** 2.0 + b,
    "maximum": nr.maximum,
    "minimum": nr.minimum,
    "clamp": lambda a, b: a.clamp(-0.5, 0.7) + b,
    "clamp (min only)": lambda a, b: a.clamp(min=0.1) * b,
    "clone": lambda a, b: a.clone() * b,
}


def _inputs(dtype: type) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    rng = np.random.default_rng(0)
    x: np.ndarray = rng.standard_normal((3, 5, 7)).astype(dtype)  # type: ignore[type-arg]
    x[0, 0, :4] = [np.nan, 0.0, -0.0, np.inf]
    return x, rng.uniform(0.5, 2.0, (3, 5, 7)).astype(dtype)


def _tol(dtype: type) -> float:
    return 2e-6 if dtype == np.float32 else 1e-13


@pytest.fixture
def strict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEURARUST_CUDA_STRICT", "1")  # a host fallback would raise


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", UNARY)
@pytest.mark.usefixtures("strict")
def test_unary_math_matches_cpu(name: str, dtype: type) -> None:
    x, _ = _inputs(dtype)
    fn = getattr(nr, name)
    with np.errstate(all="ignore"):
        ref = fn(nr.from_numpy(x)).numpy()
    got = fn(nr.from_numpy(x).cuda()).cpu().numpy()
    assert got.dtype == ref.dtype
    np.testing.assert_allclose(got, ref, rtol=_tol(dtype), equal_nan=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", BINARY)
def test_binary_math_matches_cpu_forward_and_backward(name: str, dtype: type,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = _inputs(dtype)
    x = np.nan_to_num(x, posinf=3.0)  # finite inputs for the gradient comparison
    fn = BINARY[name]
    with monkeypatch.context() as m:  # the forward runs natively
        m.setenv("NEURARUST_CUDA_STRICT", "1")
        fn(nr.from_numpy(x).cuda(), nr.from_numpy(y).cuda())
    grads = []
    for device in ("cpu", "cuda"):
        a = nr.from_numpy(x).to(device).requires_grad_(True)
        b = nr.from_numpy(y).to(device).requires_grad_(True)
        out = fn(a, b)
        out.sum().backward()
        assert a.grad is not None and b.grad is not None
        grads.append([out.detach().cpu().numpy(), a.grad.cpu().numpy(), b.grad.cpu().numpy()])
    for got, ref in zip(grads[1], grads[0]):
        np.testing.assert_allclose(got, ref, rtol=_tol(dtype), atol=_tol(dtype))


@pytest.mark.usefixtures("strict")
def test_maximum_and_minimum_propagate_nan_from_either_side() -> None:
    a = nr.tensor([np.nan, 1.0, 2.0, np.nan]).cuda()
    b = nr.tensor([1.0, np.nan, 3.0, np.nan]).cuda()
    for fn in (nr.maximum, nr.minimum):
        got = fn(a, b).cpu().numpy()
        assert np.isnan(got[[0, 1, 3]]).all() and not np.isnan(got[2])
