"""Run the same optimizer on the same problem in neurarust and PyTorch, step for step.

The problem: a few parameters of different shapes (a matrix, a vector, a 0-d scalar and a
non-contiguous transposed view), each pulled by the gradient of a fixed smooth function
``g(theta) = A theta - c + 0.3 sin(theta)``, computed in float64 numpy from each framework's
*own* current values and handed over as ``.grad``. So any difference in the update rule shows
up in the trajectory, and nothing else (autograd, BLAS) does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import neurarust as nr

try:
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    torch = None

HAS_TORCH = torch is not None

SHAPES: list[tuple[int, ...]] = [(3, 4), (5,), (), (4, 2)]  # the last is stored transposed
NP_DTYPES = {"float64": np.float64, "float32": np.float32}


class Problem:
    """Initial values and gradient maps for :data:`SHAPES`, drawn from ``seed``."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.init = [rng.standard_normal(s) for s in SHAPES]
        self.maps: list[tuple[np.ndarray, np.ndarray]] = []
        for s in SHAPES:
            n = int(np.prod(s))
            m = rng.standard_normal((n, n))
            self.maps.append((m @ m.T / n + 0.5 * np.eye(n), rng.standard_normal(n)))

    def grad(self, i: int, value: np.ndarray) -> np.ndarray:
        a, c = self.maps[i]
        flat = np.asarray(value, dtype=np.float64).reshape(-1)
        return (a @ flat - c + 0.3 * np.sin(flat)).reshape(value.shape)


def nr_params(problem: Problem, dtype: str) -> list[nr.Tensor]:
    out = []
    for i, v in enumerate(problem.init):
        v = v.astype(NP_DTYPES[dtype])
        if i == len(SHAPES) - 1:  # a leaf whose buffer is a non-contiguous view
            t = nr.from_numpy(np.ascontiguousarray(v.T).T)
            out.append(t.requires_grad_())
        else:
            out.append(nr.tensor(v, requires_grad=True))
    return out


def torch_params(problem: Problem, dtype: str) -> list[Any]:
    assert torch is not None
    return [torch.tensor(v.astype(NP_DTYPES[dtype]), requires_grad=True) for v in problem.init]


def values(params: list[Any]) -> list[np.ndarray]:
    return [np.array(p.detach().numpy(), copy=True) for p in params]


def feed_grads(problem: Problem, params: list[Any], lib: Any, step: int) -> None:
    """Set each parameter's ``.grad``; parameter 1 gets none on every third step."""
    for i, p in enumerate(params):
        if i == 1 and step % 3 == 2:
            p.grad = None
            continue
        value = p.detach().numpy()
        g = problem.grad(i, value).astype(value.dtype)
        p.grad = lib.from_numpy(g).to(p.device)  # a grad lives on its parameter's device


def run(
    make_opt: Callable[[list[Any]], Any],
    params: list[Any],
    problem: Problem,
    lib: Any,
    steps: int,
    start: int = 0,
    schedule: Callable[[Any], Any] | None = None,
) -> list[list[np.ndarray]]:
    """Step ``make_opt(params)`` (or an existing optimizer) and record the values after each
    step; ``schedule(opt)`` gives a scheduler stepped after each optimizer step."""
    opt = make_opt(params) if callable(make_opt) else make_opt
    sched = schedule(opt) if schedule is not None else None
    trajectory = []
    for k in range(start, start + steps):
        feed_grads(problem, params, lib, k)
        opt.step()
        if sched is not None:
            sched.step()
        trajectory.append(values(params))
    return trajectory


def assert_trajectories_close(
    ours: list[list[np.ndarray]], theirs: list[list[np.ndarray]], rtol: float, atol: float
) -> None:
    assert len(ours) == len(theirs)
    for k, (a_step, b_step) in enumerate(zip(ours, theirs)):
        for i, (a, b) in enumerate(zip(a_step, b_step)):
            assert a.shape == b.shape and a.dtype == b.dtype, (k, i, a.dtype, b.dtype)
            # atol scales with the parameter, so cancellation in one element of a large
            # tensor is judged against the tensor's magnitude
            scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
            np.testing.assert_allclose(
                a, b, rtol=rtol, atol=atol * scale, err_msg=f"step {k + 1}, parameter {i}"
            )


TOLERANCES = {"float64": (1e-12, 1e-13), "float32": (1e-6, 1e-6)}
