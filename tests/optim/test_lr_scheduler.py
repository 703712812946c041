"""Learning-rate schedulers: the lr (and momentum) sequences are PyTorch's, step for step."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import pytest

import neurarust as nr
from neurarust.optim import lr_scheduler

from ._harness import HAS_TORCH, torch

needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="PyTorch (the oracle) is not installed")

LRS = (0.1, 0.03)  # two param groups with different lrs


def _optimizer(lib: Any, name: str, **kwargs: Any) -> Any:
    params = [lib.zeros(2, requires_grad=True), lib.zeros(3, requires_grad=True)]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, LRS)]
    if lib is torch:
        kwargs["foreach"] = False
    return getattr(lib.optim, name)(groups, **kwargs)


def _sequence(
    lib: Any,
    make: Callable[[Any, Any], Any],
    name: str,
    steps: int,
    metrics: list[float] | None = None,
    **opt_kwargs: Any,
) -> list[Any]:
    """lrs (and momenta / beta1s) per group after construction and after each step."""
    opt = _optimizer(lib, name, **opt_kwargs)
    sched = make(lib.optim.lr_scheduler, opt)

    def snapshot() -> Any:
        momenta = [g.get("momentum", g.get("betas", (None,))[0]) for g in opt.param_groups]
        return list(sched.get_last_lr()), [g["lr"] for g in opt.param_groups], momenta

    out = [snapshot()]
    for k in range(steps):
        opt.step()  # no grads: a no-op that keeps the step order PyTorch expects
        if metrics is not None:
            sched.step(metrics[k])
        else:
            sched.step()
        out.append(snapshot())
    return out


SCHEDULES: dict[str, tuple[Callable[[Any, Any], Any], int]] = {
    "LambdaLR": (lambda m, o: m.LambdaLR(o, lambda e: 1.0 / (1 + e)), 12),
    "LambdaLR-per-group": (
        lambda m, o: m.LambdaLR(o, [lambda e: 0.9**e, lambda e: 1 + 0.1 * e]),
        12,
    ),
    "StepLR": (lambda m, o: m.StepLR(o, step_size=3, gamma=0.5), 15),
    "MultiStepLR": (lambda m, o: m.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3), 12),
    "ExponentialLR": (lambda m, o: m.ExponentialLR(o, gamma=0.9), 25),
    "CosineAnnealingLR": (lambda m, o: m.CosineAnnealingLR(o, T_max=10), 35),
    "CosineAnnealingLR-eta_min": (lambda m, o: m.CosineAnnealingLR(o, T_max=7, eta_min=0.01), 30),
    "OneCycleLR-cos": (lambda m, o: m.OneCycleLR(o, max_lr=1.0, total_steps=20), 20),
    "OneCycleLR-linear-3phase": (
        lambda m, o: m.OneCycleLR(
            o,
            max_lr=[1.0, 0.5],
            epochs=4,
            steps_per_epoch=5,
            anneal_strategy="linear",
            three_phase=True,
            pct_start=0.25,
            base_momentum=0.8,
            max_momentum=[0.9, 0.95],
        ),
        20,
    ),
    "OneCycleLR-no-momentum": (
        lambda m, o: m.OneCycleLR(
            o,
            max_lr=0.4,
            total_steps=13,
            cycle_momentum=False,
            div_factor=10.0,
            final_div_factor=100.0,
        ),
        13,
    ),
}


@needs_torch
@pytest.mark.parametrize("case", sorted(SCHEDULES))
@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
def test_sequence_matches_pytorch(case: str, opt_name: str) -> None:
    make, steps = SCHEDULES[case]
    kwargs = {"momentum": 0.9} if opt_name == "SGD" else {}
    ours = _sequence(nr, make, opt_name, steps, **kwargs)
    theirs = _sequence(torch, make, opt_name, steps, **kwargs)
    assert ours == theirs  # same formulas in the same order: equal, rounding included


PLATEAU_METRICS = [
    5.0,
    4.0,
    4.0,
    4.0,
    3.9999,
    4.1,
    4.2,
    3.0,
    3.0,
    3.0,
    3.0,
    3.0,
    2.9,
    2.9,
    2.9,
    2.9,
    2.9,
    2.9,
    2.9,
    2.9,
]
PLATEAUS: dict[str, Callable[[Any, Any], Any]] = {
    "min-rel": lambda m, o: m.ReduceLROnPlateau(o, patience=1),
    "min-abs-cooldown": lambda m, o: m.ReduceLROnPlateau(
        o, factor=0.5, patience=0, threshold=0.05, threshold_mode="abs", cooldown=2
    ),
    "max-rel-min_lr": lambda m, o: m.ReduceLROnPlateau(
        o, mode="max", factor=0.3, patience=2, min_lr=[0.01, 0.02]
    ),
    "max-abs-eps": lambda m, o: m.ReduceLROnPlateau(
        o, mode="max", factor=0.5, patience=0, threshold_mode="abs", eps=0.02
    ),
}


@needs_torch
@pytest.mark.parametrize("case", sorted(PLATEAUS))
def test_reduce_on_plateau_matches_pytorch(case: str) -> None:
    make = PLATEAUS[case]
    n = len(PLATEAU_METRICS)
    ours = _sequence(nr, make, "SGD", n, metrics=PLATEAU_METRICS)
    theirs = _sequence(torch, make, "SGD", n, metrics=PLATEAU_METRICS)
    assert ours == theirs
    assert ours[-1][1] != [*LRS] or case == "max-abs-eps"  # something happened


def test_cosine_annealing_follows_the_closed_form() -> None:
    opt = _optimizer(nr, "SGD")
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=8, eta_min=0.001)
    for epoch in range(1, 20):
        opt.step()
        sched.step()
        for base, lr in zip(LRS, sched.get_last_lr()):
            expected = 0.001 + (base - 0.001) * (1 + math.cos(math.pi * epoch / 8)) / 2
            assert lr == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("case", ["StepLR", "CosineAnnealingLR", "OneCycleLR-cos", "LambdaLR"])
def test_scheduler_state_dict_round_trip(case: str) -> None:
    make, steps = SCHEDULES[case]
    straight = _sequence(nr, make, "SGD", steps, momentum=0.9)

    opt = _optimizer(nr, "SGD", momentum=0.9)
    sched = make(lr_scheduler, opt)
    for _ in range(5):
        opt.step()
        sched.step()
    opt_state, sched_state = opt.state_dict(), sched.state_dict()

    opt2 = _optimizer(nr, "SGD", momentum=0.9)
    opt2.load_state_dict(opt_state)
    sched2 = make(lr_scheduler, opt2)
    sched2.load_state_dict(sched_state)
    assert sched2.get_last_lr() == straight[5][0]
    for k in range(6, steps + 1):
        opt2.step()
        sched2.step()
        assert sched2.get_last_lr() == straight[k][0]
        assert [g["lr"] for g in opt2.param_groups] == straight[k][1]


def test_plateau_state_dict_round_trip() -> None:
    make = PLATEAUS["min-abs-cooldown"]
    opt = _optimizer(nr, "SGD")
    sched = make(lr_scheduler, opt)
    for m in PLATEAU_METRICS[:6]:
        sched.step(m)
    opt2 = _optimizer(nr, "SGD")
    opt2.load_state_dict(opt.state_dict())
    sched2 = make(lr_scheduler, opt2)
    sched2.load_state_dict(sched.state_dict())
    for m in PLATEAU_METRICS[6:]:
        sched.step(m)
        sched2.step(m)
        assert sched2.get_last_lr() == sched.get_last_lr()


def test_one_cycle_drives_adams_beta1() -> None:
    opt = _optimizer(nr, "Adam", betas=(0.9, 0.99))
    sched = lr_scheduler.OneCycleLR(
        opt, max_lr=1.0, total_steps=10, base_momentum=0.8, max_momentum=0.95
    )
    assert opt.param_groups[0]["betas"] == (0.95, 0.99)
    for _ in range(2):  # the peak: phase one ends at step 0.3 * 10 - 1 = 2
        opt.step()
        sched.step()
    beta1, beta2 = opt.param_groups[0]["betas"]
    assert beta1 == pytest.approx(0.8) and beta2 == 0.99


def test_scheduler_errors() -> None:
    opt = _optimizer(nr, "SGD")
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        lr_scheduler.StepLR([], step_size=1)  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="'initial_lr' is not specified in param_groups\\[0\\]"):
        lr_scheduler.StepLR(opt, step_size=1, last_epoch=3)
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        lr_scheduler.LambdaLR(opt, [lambda e: 1.0])
    with pytest.raises(ValueError, match="You must define either total_steps OR"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(
        ValueError,
        match="max_lr must have the same length as optimizer.param_groups. max_lr has 3 values",
    ):
        lr_scheduler.OneCycleLR(opt, max_lr=[0.1, 0.2, 0.3], total_steps=5)
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        lr_scheduler.OneCycleLR(_optimizer(nr, "Adagrad"), max_lr=0.1, total_steps=5)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=2)
    opt.step()
    sched.step()
    sched.step()
    with pytest.raises(
        ValueError, match="Tried to step 3 times. The specified number of total steps is 2"
    ):
        sched.step()
    with pytest.raises(ValueError, match="factor must be < 1.0, got 1.5"):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.5)
    with pytest.raises(ValueError, match="mode must be 'min' or 'max', got 'up'"):
        lr_scheduler.ReduceLROnPlateau(opt, mode="up")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected 2 min_lrs, got 1"):
        lr_scheduler.ReduceLROnPlateau(opt, min_lr=[0.1])


def test_warns_when_stepped_before_the_optimizer() -> None:
    opt = _optimizer(nr, "SGD")
    sched = lr_scheduler.StepLR(opt, step_size=1)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    opt = _optimizer(nr, "SGD")
    sched = lr_scheduler.StepLR(opt, step_size=1)
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step()
