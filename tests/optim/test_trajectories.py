"""Each optimizer, over a grid of its options, follows PyTorch's trajectory step for step:
to ~1e-12 relative in float64 and ~1e-6 in float32."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import neurarust as nr
from neurarust import optim

from ._harness import (
    HAS_TORCH,
    TOLERANCES,
    Problem,
    assert_trajectories_close,
    nr_params,
    run,
    torch,
    torch_params,
)

pytestmark = pytest.mark.skipif(not HAS_TORCH, reason="PyTorch (the oracle) is not installed")

STEPS = 20


def _grid(**axes: list[Any]) -> list[dict[str, Any]]:
    keys = list(axes)
    return [dict(zip(keys, combo)) for combo in itertools.product(*axes.values())]


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [",".join(f"{k}={v}" for k, v in c.items()) for c in cases]


SGD_CASES = [
    c
    for c in _grid(
        lr=[0.05],
        momentum=[0.0, 0.9],
        dampening=[0.0, 0.3],
        weight_decay=[0.0, 0.1],
        nesterov=[False, True],
        maximize=[False, True],
    )
    if not (c["nesterov"] and (c["momentum"] == 0 or c["dampening"] != 0))
]
ADAM_CASES = _grid(
    lr=[0.05],
    betas=[(0.9, 0.999), (0.5, 0.9)],
    eps=[1e-8, 1e-3],
    weight_decay=[0.0, 0.1],
    amsgrad=[False, True],
    maximize=[False, True],
)
RMSPROP_CASES = _grid(
    lr=[0.01],
    alpha=[0.99, 0.5],
    eps=[1e-8],
    weight_decay=[0.0, 0.1],
    momentum=[0.0, 0.8],
    centered=[False, True],
    maximize=[False, True],
)
ADAGRAD_CASES = _grid(
    lr=[0.1],
    lr_decay=[0.0, 0.05],
    weight_decay=[0.0, 0.1],
    initial_accumulator_value=[0.0, 0.5],
    eps=[1e-10, 1e-2],
    maximize=[False, True],
)


def _compare(name: str, options: dict[str, Any], dtype: str, steps: int = STEPS) -> None:
    problem = Problem(seed=len(options) + steps)
    ours = run(
        lambda ps: getattr(optim, name)(ps, **options),
        nr_params(problem, dtype),
        problem,
        nr,
        steps,
    )
    theirs = run(
        lambda ps: getattr(torch.optim, name)(ps, foreach=False, **options),
        torch_params(problem, dtype),
        problem,
        torch,
        steps,
    )
    assert_trajectories_close(ours, theirs, *TOLERANCES[dtype])


@pytest.mark.parametrize("options", SGD_CASES, ids=_ids(SGD_CASES))
def test_sgd_float64(options: dict[str, Any]) -> None:
    _compare("SGD", options, "float64")


@pytest.mark.parametrize("options", ADAM_CASES, ids=_ids(ADAM_CASES))
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_float64(name: str, options: dict[str, Any]) -> None:
    _compare(name, options, "float64")


@pytest.mark.parametrize("options", RMSPROP_CASES, ids=_ids(RMSPROP_CASES))
def test_rmsprop_float64(options: dict[str, Any]) -> None:
    _compare("RMSprop", options, "float64")


@pytest.mark.parametrize("options", ADAGRAD_CASES, ids=_ids(ADAGRAD_CASES))
def test_adagrad_float64(options: dict[str, Any]) -> None:
    _compare("Adagrad", options, "float64")


FLOAT32_CASES = [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.1, "nesterov": True}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "maximize": True}),
    ("Adam", {"lr": 0.05, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.05, "betas": (0.5, 0.9), "amsgrad": True}),
    ("AdamW", {"lr": 0.05, "weight_decay": 0.1, "amsgrad": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.8, "centered": True, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.5}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "initial_accumulator_value": 0.5}),
]


@pytest.mark.parametrize(
    ("name", "options"), FLOAT32_CASES, ids=[f"{n}-{_ids([o])[0]}" for n, o in FLOAT32_CASES]
)
def test_float32(name: str, options: dict[str, Any]) -> None:
    _compare(name, options, "float32")


def test_param_groups_with_their_own_options() -> None:
    problem = Problem(seed=3)

    def groups(ps: list[Any]) -> list[dict[str, Any]]:
        return [
            {"params": ps[:2]},
            {"params": ps[2:], "lr": 0.2, "betas": (0.8, 0.99), "weight_decay": 0.05},
        ]

    ours = run(
        lambda ps: optim.Adam(groups(ps), lr=0.01),
        nr_params(problem, "float64"),
        problem,
        nr,
        STEPS,
    )
    theirs = run(
        lambda ps: torch.optim.Adam(groups(ps), lr=0.01, foreach=False),
        torch_params(problem, "float64"),
        problem,
        torch,
        STEPS,
    )
    assert_trajectories_close(ours, theirs, *TOLERANCES["float64"])


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_with_one_cycle_schedule(name: str) -> None:
    """The scheduler's lr and momentum / beta1 reach the update as PyTorch's do."""
    problem = Problem(seed=4)
    kwargs: dict[str, Any] = {"lr": 0.01}
    if name != "Adam":
        kwargs["momentum"] = 0.9

    def sched(lib: Any) -> Any:
        return lambda opt: lib.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=STEPS)

    ours = run(
        lambda ps: getattr(optim, name)(ps, **kwargs),
        nr_params(problem, "float64"),
        problem,
        nr,
        STEPS,
        schedule=sched(nr),
    )
    theirs = run(
        lambda ps: getattr(torch.optim, name)(ps, foreach=False, **kwargs),
        torch_params(problem, "float64"),
        problem,
        torch,
        STEPS,
        schedule=sched(torch),
    )
    assert_trajectories_close(ours, theirs, *TOLERANCES["float64"])


def test_linear_model_through_autograd_and_closure() -> None:
    """End to end: losses and gradients from each framework's own autograd, via closures."""
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((16, 4)), rng.standard_normal((16, 3))
    w0, b0 = rng.standard_normal((3, 4)) * 0.5, rng.standard_normal(3) * 0.5

    def train(lib: Any, opt_lib: Any) -> tuple[list[float], list[np.ndarray]]:
        w = lib.tensor(w0, requires_grad=True)
        b = lib.tensor(b0, requires_grad=True)
        xt, yt = lib.tensor(x), lib.tensor(y)
        opt = opt_lib.AdamW([w, b], lr=0.05, weight_decay=0.1, amsgrad=True)

        def closure() -> Any:
            opt.zero_grad()
            loss = ((xt @ w.T + b - yt) ** 2).mean()
            loss.backward()
            return loss

        losses = [opt.step(closure).detach().item() for _ in range(STEPS)]
        return losses, [w.detach().numpy().copy(), b.detach().numpy().copy()]

    nr_losses, nr_final = train(nr, optim)
    th_losses, th_final = train(torch, torch.optim)
    np.testing.assert_allclose(nr_losses, th_losses, rtol=1e-10)
    assert nr_losses[-1] < nr_losses[0]
    for a, b in zip(nr_final, th_final):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
