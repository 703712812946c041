"""Optimizer state dicts: PyTorch's layout, snapshots, and resuming mid-training exactly."""

from __future__ import annotations

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

CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.05, "amsgrad": True, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.05}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
]
IDS = [name for name, _ in CONFIGS]


@pytest.mark.parametrize(("name", "options"), CONFIGS, ids=IDS)
def test_resuming_from_a_state_dict_continues_identically(
    name: str, options: dict[str, Any]
) -> None:
    problem = Problem(seed=7)
    straight = run(
        lambda ps: getattr(optim, name)(ps, **options),
        nr_params(problem, "float64"),
        problem,
        nr,
        20,
    )

    params = nr_params(problem, "float64")
    opt = getattr(optim, name)(params, **options)
    first = run(opt, params, problem, nr, 10)
    saved = opt.state_dict()
    saved_values = [p.detach().numpy().copy() for p in params]
    run(opt, params, problem, nr, 3, start=10)  # training goes on after the snapshot ...

    resumed_params = [nr.tensor(v, requires_grad=True) for v in saved_values]
    resumed = getattr(optim, name)(resumed_params, lr=123.0)  # options come from the dict
    resumed.load_state_dict(saved)  # ... and the snapshot did not change
    second = run(resumed, resumed_params, problem, nr, 10, start=10)
    assert_trajectories_close(first + second, straight, rtol=0.0, atol=0.0)  # bit for bit


def test_state_dict_layout_is_pytorchs() -> None:
    a = nr.zeros(2, requires_grad=True)
    b = nr.zeros(3, requires_grad=True)
    c = nr.zeros(1, requires_grad=True)
    opt = optim.Adam([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1)
    for p in (a, b):
        p.grad = nr.ones_like(p)
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert [g["lr"] for g in sd["param_groups"]] == [0.1, 0.5]
    assert sd["param_groups"][0]["betas"] == (0.9, 0.999)
    assert set(sd["state"]) == {0, 1}  # c had no grad: no state
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    step = sd["state"][0]["step"]
    assert isinstance(step, nr.Tensor) and step.shape == () and step.dtype == nr.float32
    assert float(step) == 1.0
    # copies, not the live buffers
    sd["state"][0]["exp_avg"].fill_(99.0)  # writes the state dict's buffer, on any device
    assert float(opt.state[a]["exp_avg"].numpy()[0]) != 99.0


def test_load_casts_to_the_parameter_dtype_and_checks_shapes() -> None:
    p = nr.zeros(3, dtype=nr.float32, requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    state = {
        "state": {0: {"momentum_buffer": nr.tensor(np.arange(3.0))}},  # float64
        "param_groups": [
            {
                "lr": 0.2,
                "momentum": 0.5,
                "dampening": 0,
                "weight_decay": 0,
                "nesterov": False,
                "maximize": False,
                "params": [0],
            }
        ],
    }
    opt.load_state_dict(state)
    buf = opt.state[p]["momentum_buffer"]
    assert buf.dtype == nr.float32 and buf.tolist() == [0.0, 1.0, 2.0]
    assert opt.param_groups[0]["lr"] == 0.2 and opt.param_groups[0]["params"][0] is p

    state["state"] = {0: {"momentum_buffer": nr.zeros(4)}}
    with pytest.raises(
        ValueError,
        match=r"state 'momentum_buffer' of parameter 0 has shape "
        r"\[4\], the parameter has \[3\]",
    ):
        opt.load_state_dict(state)


def test_load_rejects_mismatched_groups() -> None:
    p, q = nr.zeros(2, requires_grad=True), nr.zeros(2, requires_grad=True)
    sd = optim.SGD([p, q], lr=0.1).state_dict()
    with pytest.raises(
        ValueError, match="loaded state dict has 1 parameter groups, the optimizer has 2"
    ):
        optim.SGD([{"params": [p]}, {"params": [q]}], lr=0.1).load_state_dict(sd)
    with pytest.raises(
        ValueError, match="group 0 has 2 parameters in the state dict, 1 in the optimizer"
    ):
        optim.SGD([p], lr=0.1).load_state_dict(sd)


def test_adamw_stays_decoupled_after_loading_an_adam_state() -> None:
    p = nr.zeros(2, requires_grad=True)
    sd = optim.Adam([p]).state_dict()
    opt = optim.AdamW([p])
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["decoupled_weight_decay"] is True


def _to_torch(value: Any) -> Any:
    return torch.from_numpy(value.numpy().copy()) if isinstance(value, nr.Tensor) else value


def _to_nr(value: Any) -> Any:
    return nr.from_numpy(value.numpy().copy()) if isinstance(value, torch.Tensor) else value


def _convert(sd: dict[str, Any], fn: Any) -> dict[str, Any]:
    return {
        "state": {k: {n: fn(v) for n, v in s.items()} for k, s in sd["state"].items()},
        "param_groups": [dict(g) for g in sd["param_groups"]],
    }


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch (the oracle) is not installed")
@pytest.mark.parametrize(("name", "options"), CONFIGS, ids=IDS)
def test_state_dicts_cross_between_neurarust_and_pytorch(
    name: str, options: dict[str, Any]
) -> None:
    """A state dict saved by one framework resumes in the other on the same trajectory."""
    problem = Problem(seed=8)
    tol = TOLERANCES["float64"]
    th_params = torch_params(problem, "float64")
    th_opt = getattr(torch.optim, name)(th_params, foreach=False, **options)
    run(th_opt, th_params, problem, torch, 10)
    th_rest = run(th_opt, th_params, problem, torch, 10, start=10)

    # PyTorch -> neurarust, after 10 steps: the next 10 match PyTorch's
    th_params = torch_params(problem, "float64")
    th_opt = getattr(torch.optim, name)(th_params, foreach=False, **options)
    run(th_opt, th_params, problem, torch, 10)
    params = [nr.tensor(p.detach().numpy(), requires_grad=True) for p in th_params]
    opt = getattr(optim, name)(params)
    opt.load_state_dict(_convert(th_opt.state_dict(), _to_nr))
    assert_trajectories_close(run(opt, params, problem, nr, 10, start=10), th_rest, *tol)

    # neurarust -> PyTorch
    nr_ps = nr_params(problem, "float64")
    nr_opt = getattr(optim, name)(nr_ps, **options)
    run(nr_opt, nr_ps, problem, nr, 10)
    th_params = [torch.tensor(p.detach().numpy(), requires_grad=True) for p in nr_ps]
    th_opt = getattr(torch.optim, name)(th_params, foreach=False)
    th_opt.load_state_dict(_convert(nr_opt.state_dict(), _to_torch))
    assert_trajectories_close(run(th_opt, th_params, problem, torch, 10, start=10), th_rest, *tol)
