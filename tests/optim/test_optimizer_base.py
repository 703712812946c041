"""The Optimizer base: param groups, zero_grad, step's contract, validation messages."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import neurarust as nr
from neurarust import optim


def _param(*values: float) -> nr.Tensor:
    return nr.tensor(list(values), requires_grad=True)


def test_param_groups_take_defaults_and_their_own_options() -> None:
    a, b = _param(1.0), _param(2.0)
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5, "momentum": 0.9}], lr=0.1)
    g0, g1 = opt.param_groups
    assert g0["params"] == [a] and g0["lr"] == 0.1 and g0["momentum"] == 0
    assert g1["params"] == [b] and g1["lr"] == 0.5 and g1["momentum"] == 0.9
    c = _param(3.0)
    opt.add_param_group({"params": [c], "weight_decay": 0.01})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["weight_decay"] == 0.01
    for p in (a, b, c):
        p.grad = nr.ones_like(p)
    opt.step()
    assert [a.item(), b.item(), c.item()] == pytest.approx([0.9, 1.5, 3 - 0.1 * 1.03])


def test_named_parameters_are_accepted() -> None:
    w = _param(1.0, 2.0)
    opt = optim.Adam([("layer.weight", w)])
    assert opt.param_groups[0]["params"] == [w]
    assert opt.param_groups[0]["param_names"] == ["layer.weight"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["layer.weight"]


def test_param_list_errors() -> None:
    a = _param(1.0)
    with pytest.raises(TypeError, match="iterable of Tensors or dicts, but got Tensor"):
        optim.SGD(a, lr=0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {a}}], lr=0.1)
    with pytest.raises(
        TypeError,
        match="optimizer can only optimize Tensors, but one of the params is numpy.ndarray",
    ):
        optim.SGD([np.zeros(2)], lr=0.1)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([a * 2], lr=0.1)
    with pytest.raises(ValueError, match="duplicate parameters"):
        optim.SGD([a, a], lr=0.1)
    opt = optim.SGD([a], lr=0.1)
    with pytest.raises(
        ValueError, match="some parameters appear in more than one parameter group"
    ):
        opt.add_param_group({"params": [a]})
    with pytest.raises(TypeError, match="param_group must be a dict, but got list"):
        opt.add_param_group([a])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: optim.SGD(p, lr=-0.1), "SGD: lr must be >= 0, got -0.1"),
        (lambda p: optim.SGD(p, momentum=-0.5), "SGD: momentum must be >= 0, got -0.5"),
        (lambda p: optim.SGD(p, weight_decay=-1), "SGD: weight_decay must be >= 0, got -1"),
        (lambda p: optim.SGD(p, lr=float("nan")), "SGD: lr must be >= 0, got nan"),
        (
            lambda p: optim.SGD(p, nesterov=True),
            "SGD: Nesterov momentum requires a momentum > 0 and zero dampening, got momentum=0, dampening=0",
        ),
        (
            lambda p: optim.SGD(p, momentum=0.9, dampening=0.1, nesterov=True),
            "got momentum=0.9, dampening=0.1",
        ),
        (lambda p: optim.Adam(p, lr=-0.1), "Adam: lr must be >= 0, got -0.1"),
        (lambda p: optim.Adam(p, eps=-1e-8), "Adam: eps must be >= 0, got -1e-08"),
        (
            lambda p: optim.Adam(p, betas=(1.0, 0.999)),
            r"Adam: betas\[0\] must be in \[0, 1\), got 1.0",
        ),
        (
            lambda p: optim.Adam(p, betas=(0.9, -0.1)),
            r"Adam: betas\[1\] must be in \[0, 1\), got -0.1",
        ),
        (lambda p: optim.Adam(p, weight_decay=-0.1), "Adam: weight_decay must be >= 0, got -0.1"),
        (
            lambda p: optim.AdamW(p, betas=(0.9, 1.5)),
            r"AdamW: betas\[1\] must be in \[0, 1\), got 1.5",
        ),
        (lambda p: optim.RMSprop(p, alpha=-0.5), "RMSprop: alpha must be >= 0, got -0.5"),
        (lambda p: optim.RMSprop(p, momentum=-1), "RMSprop: momentum must be >= 0, got -1"),
        (lambda p: optim.RMSprop(p, eps=-1.0), "RMSprop: eps must be >= 0, got -1.0"),
        (lambda p: optim.Adagrad(p, lr_decay=-0.1), "Adagrad: lr_decay must be >= 0, got -0.1"),
        (
            lambda p: optim.Adagrad(p, initial_accumulator_value=-1),
            "Adagrad: initial_accumulator_value must be >= 0, got -1",
        ),
        (lambda p: optim.Adagrad(p, eps=-1e-10), "Adagrad: eps must be >= 0, got -1e-10"),
    ],
)
def test_invalid_options_are_named_with_their_value(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make([_param(1.0)])


def test_non_numeric_option_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="SGD: lr must be a real number, got str"):
        optim.SGD([_param(1.0)], lr="0.1")  # type: ignore[arg-type]


def test_zero_grad_sets_to_none_or_fills_zeros() -> None:
    a = _param(1.0, 2.0)
    opt = optim.SGD([a], lr=0.1)
    (a * a).sum().backward()
    grad = a.grad
    assert grad is not None
    opt.zero_grad(set_to_none=False)
    assert a.grad is grad and grad.tolist() == [0.0, 0.0] and grad._version == 1
    opt.zero_grad()
    assert a.grad is None


def test_parameters_without_grad_are_skipped() -> None:
    a, b = _param(1.0), _param(2.0)
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = nr.ones_like(a)
    opt.step()
    assert b.item() == 2.0 and b not in opt.state and b._version == 0
    assert a.item() == pytest.approx(0.9) and a._version == 1


def test_step_bumps_the_version_so_stale_graphs_are_caught() -> None:
    w = _param(1.0, 2.0)
    loss = (w * w).sum()  # saves w
    w.grad = nr.ones_like(w)
    optim.SGD([w], lr=0.1).step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_closure_runs_with_grad_enabled_and_its_loss_is_returned() -> None:
    w = _param(3.0)
    opt = optim.SGD([w], lr=0.25)

    def closure() -> nr.Tensor:
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with nr.no_grad():
        loss = opt.step(closure)
    assert loss is not None and loss.item() == 9.0
    assert w.item() == pytest.approx(3.0 - 0.25 * 6.0)
    assert opt.step() is None


def test_lr_changes_between_steps_take_effect() -> None:
    w = _param(1.0)
    opt = optim.SGD([w], lr=0.1)
    w.grad = nr.ones_like(w)
    opt.step()
    opt.param_groups[0]["lr"] = 0.5
    opt.step()
    assert w.item() == pytest.approx(1.0 - 0.1 - 0.5)


def test_update_works_in_place_on_non_contiguous_and_0d_parameters() -> None:
    base = np.arange(6.0).reshape(2, 3)
    w = nr.from_numpy(base.T).requires_grad_()  # a strided view of `base`
    s = nr.tensor(2.0, requires_grad=True)
    w.grad = nr.ones_like(w)
    s.grad = nr.ones_like(s)
    opt = optim.Adam([w, s], lr=0.5)
    opt.step()
    np.testing.assert_allclose(base, np.arange(6.0).reshape(2, 3) - 0.5)  # written through
    assert s.shape == () and s.item() == pytest.approx(1.5)


def test_repr_lists_each_group() -> None:
    text = repr(optim.SGD([_param(1.0)], lr=0.1, momentum=0.9))
    assert text.startswith("SGD (\nParameter Group 0\n")
    assert "    lr: 0.1\n" in text and "    momentum: 0.9\n" in text and "params" not in text


def test_float32_state_matches_the_parameter() -> None:
    w = _param(1.0, 2.0)
    w.grad = nr.ones_like(w)
    opt = optim.RMSprop([w], momentum=0.9, centered=True)
    opt.step()
    state = opt.state[w]
    assert {k: v.dtype for k, v in state.items()} == {
        "step": nr.float32,
        "square_avg": nr.float32,
        "momentum_buffer": nr.float32,
        "grad_avg": nr.float32,
    }


def test_adagrad_creates_state_at_construction() -> None:
    w = _param(1.0, 2.0)
    opt = optim.Adagrad([w], initial_accumulator_value=0.25)
    assert opt.state[w]["sum"].tolist() == [0.25, 0.25]
    assert float(opt.state[w]["step"]) == 0.0


def test_a_gradient_that_does_not_match_its_parameter_is_an_error() -> None:
    w = _param(1.0, 2.0)
    opt = optim.Adam([w])
    w.grad = nr.ones(2, dtype=nr.float64)
    with pytest.raises(
        RuntimeError,
        match=r"Adam: a parameter's gradient must match it, got "
        r"grad f64\[2\] for parameter f32\[2\]",
    ):
        opt.step()
    w.grad = nr.ones(3)
    with pytest.raises(RuntimeError, match=r"got grad f32\[3\] for parameter f32\[2\]"):
        opt.step()


class _SignSGD(optim.Optimizer):
    """A user-defined optimizer written against the base class, as with torch.optim."""

    def __init__(self, params: Any, lr: Any = optim.optimizer.required) -> None:
        super().__init__(params, {"lr": lr})

    def step(self, closure: Any = None) -> Any:
        with nr.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.sub_(p.grad.sign() * group["lr"])
        return None


def test_user_defined_optimizers_work_with_the_base_and_schedulers() -> None:
    w = _param(1.0, -1.0)
    with pytest.raises(
        ValueError, match="didn't specify a value of required optimization parameter lr"
    ):
        _SignSGD([w])
    opt = _SignSGD([{"params": [w], "lr": 0.5}])
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    w.grad = nr.tensor([2.0, -3.0])
    opt.step()
    sched.step()  # no "before optimizer.step()" warning: the subclass's step is tracked
    assert w.tolist() == [0.5, -0.5] and opt.param_groups[0]["lr"] == 0.25


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.AdamW, optim.RMSprop])
def test_a_module_given_as_params_points_to_model_parameters(cls: Any) -> None:
    model = nr.nn.Linear(2, 2)
    with pytest.raises(TypeError, match=rf"^{cls.__name__}: params must be an iterable of "
                                        r"Tensors or dicts, got a Module \(Linear\); pass "
                                        r"model.parameters\(\)$"):
        cls(model, lr=0.1)
    with pytest.raises(TypeError, match=rf"^{cls.__name__}: params must be an iterable of "
                                        "Tensors or dicts, got int$"):
        cls(3, lr=0.1)
    cls(model.parameters(), lr=0.1)  # the fix works
