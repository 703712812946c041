"""Fused optimizer steps on the cuda device (``adam.cu``, ``sgd.cu``) under the emulator (or on
a GPU under NEURARUST_DEVICE=cuda): every option combination over 5 steps equals the CPU
update, in one launch per parameter and without host round trips."""

from __future__ import annotations

import dataclasses
import itertools
import shutil
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import neurarust as nr
from neurarust.kernels.cuda.array import HOST_ROUND_TRIPS
from neurarust.kernels.cuda.contract import Access
from neurarust.kernels.cuda.families.optim import ADAM, SGD
from neurarust.verify.kernels import verify_kernel

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not on PATH")


@pytest.fixture(autouse=True)
def emulated(emulated_cuda: None) -> None:
    """Every test here runs on the cuda backend (``emulated_cuda``, tests/cuda/conftest.py)."""


def _steps(device: str, make: Callable[[list[nr.Tensor]], nr.optim.Optimizer],
           shapes: list[tuple[int, ...]], dtype: type, steps: int = 5) -> list[np.ndarray]:
    """Parameters after ``steps`` steps with the same (seeded) gradients on ``device``."""
    rng = np.random.default_rng(0)
    params = [nr.from_numpy(np.asarray(rng.standard_normal(s), dtype)).to(device)
              .requires_grad_() for s in shapes]
    opt = make(params)
    for _ in range(steps):
        for p in params:
            p.grad = nr.from_numpy(np.asarray(rng.standard_normal(p.shape), dtype)).to(device)
        opt.step()
    return [p.detach().cpu().numpy() for p in params]


SHAPES = [(1,), (7,), (37, 11), (3, 300)]  # a single element, a prime, > one block
ADAM_OPTIONS = [dict(amsgrad=a, maximize=m, weight_decay=w, decoupled_weight_decay=d)
                for a, m, w, d in itertools.product([False, True], [False, True], [0.0, 0.1],
                                                    [False, True])]


def _check(make: Callable[[list[nr.Tensor]], nr.optim.Optimizer], dtype: type) -> None:
    ref = _steps("cpu", make, SHAPES, dtype)
    HOST_ROUND_TRIPS.clear()
    got = _steps("cuda", make, SHAPES, dtype)
    assert not HOST_ROUND_TRIPS, dict(HOST_ROUND_TRIPS)  # one fused launch, no host copies
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    for r, g in zip(ref, got):
        assert g.dtype == dtype and g.shape == r.shape
        np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", ADAM_OPTIONS, ids=lambda o: ",".join(
    f"{k}={v}" for k, v in o.items()))
def test_fused_adam_matches_cpu_update(options: dict[str, Any], dtype: type) -> None:
    _check(lambda ps: nr.optim.Adam(ps, lr=0.01, betas=(0.8, 0.95), **options), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_fused_adamw_matches_cpu_update(amsgrad: bool, dtype: type) -> None:
    _check(lambda ps: nr.optim.AdamW(ps, lr=0.01, amsgrad=amsgrad), dtype)


def test_fused_adam_lerp_branch_from_end() -> None:
    # beta1 = 0.3: lerp weight 0.7 >= 0.5, ATen's other (exact-at-the-end) formula
    _check(lambda ps: nr.optim.Adam(ps, lr=0.05, betas=(0.3, 0.9), weight_decay=0.01),
           np.float32)


SGD_OPTIONS = [dict(momentum=mu, dampening=da, nesterov=ne, weight_decay=w, maximize=m)
               for mu, da, ne, w, m in itertools.product([0.0, 0.9], [0.0, 0.25], [False, True],
                                                         [0.0, 0.1], [False, True])
               if not (ne and (mu == 0 or da != 0))]  # nesterov needs momentum, no dampening


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", SGD_OPTIONS, ids=lambda o: ",".join(
    f"{k}={v}" for k, v in o.items()))
def test_fused_sgd_matches_cpu_update(options: dict[str, Any], dtype: type) -> None:
    _check(lambda ps: nr.optim.SGD(ps, lr=0.1, **options), dtype)


def test_empty_parameter_and_host_update_for_uncovered_arrays() -> None:
    p = nr.zeros(0, device="cuda").requires_grad_()
    p.grad = nr.zeros(0, device="cuda")
    nr.optim.Adam([p]).step()
    assert p.shape == (0,) and not HOST_ROUND_TRIPS


def test_planted_bug_in_fused_adam_contract_is_refuted() -> None:
    # the amsgrad buffer allocated one element short: max_exp_avg_sq[i] overruns it
    short = dataclasses.replace(ADAM, buffers=lambda c: {
        **ADAM.buffers(c), "max_exp_avg_sq": c.p["n"] - 1})
    report = verify_kernel(short, source=False)
    bad = [o for o in report.obligations if o.status == "refuted"]
    assert len(bad) == 2 and all("max_exp_avg_sq[i]" in o.what for o in bad)
    cex = bad[0].counterexample
    assert cex is not None and cex["index"] == cex["n"] - 1
    # and a guard i <= n on sgd's param write
    loose = Access("param", "write", lambda c: c.v["i"], lambda c: [c.v["i"] <= c.p["n"]],
                   "param[i]")
    planted = dataclasses.replace(SGD, accesses=(*SGD.accesses[:-2], loose, SGD.accesses[-1]))
    report = verify_kernel(planted, source=False)
    (bad_write,) = [o for o in report.obligations if o.status == "refuted"]
    assert "write param[i]" in bad_write.what and bad_write.counterexample is not None
    assert bad_write.counterexample["index"] == bad_write.counterexample["n"]
