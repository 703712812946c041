"""Adagrad: per-coordinate learning rates from the accumulated squared gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor
from .optimizer import (
    Array,
    Optimizer,
    ParamsT,
    _addcdiv_,
    _bump_version,
    _check_ge,
    _decayed_grad,
    _increment_step,
    _step_state,
)

__all__ = ["Adagrad"]

_L = TypeVar("_L")


class Adagrad(Optimizer):
    r"""Adagrad, as ``torch.optim.Adagrad``: Duchi, Hazan & Singer (2011), "Adaptive
    Subgradient Methods for Online Learning and Stochastic Optimization" (JMLR 12).

    With learning rate :math:`\gamma`, learning-rate decay :math:`\eta`, weight decay
    :math:`\lambda`, initial accumulator value :math:`\tau` and :math:`\epsilon`, step
    :math:`t = 1, 2, \dots` on :math:`\theta` is

    .. math::
        g_t &\leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) + \lambda\theta_{t-1}
            \quad(- \text{ when maximize}) \\
        \tilde\gamma &\leftarrow \gamma / (1 + (t-1)\eta) \\
        s_t &\leftarrow s_{t-1} + g_t^2, \quad s_0 = \tau \\
        \theta_t &\leftarrow \theta_{t-1} - \tilde\gamma\, g_t / (\sqrt{s_t} + \epsilon)

    Args:
        params: Tensors or parameter groups (dicts) to optimize.
        lr: learning rate :math:`\gamma`. Default: 1e-2.
        lr_decay: learning-rate decay :math:`\eta`. Default: 0.
        weight_decay: L2 penalty :math:`\lambda`, added to the gradient. Default: 0.
        initial_accumulator_value: starting value :math:`\tau` of the sums of squares.
            Default: 0.
        eps: term added to the denominator for numerical stability. Default: 1e-10.
        maximize: maximize the objective instead of minimizing it. Default: False.

    State (per parameter, created at construction as in PyTorch): ``step``, ``sum``
    (:math:`s`).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ) -> None:
        _check_ge("Adagrad", "lr", lr)
        _check_ge("Adagrad", "lr_decay", lr_decay)
        _check_ge("Adagrad", "weight_decay", weight_decay)
        _check_ge("Adagrad", "initial_accumulator_value", initial_accumulator_value)
        _check_ge("Adagrad", "eps", eps)
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "maximize": maximize,
        }
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                _init_state(self.state[p], p, group)

    def step(self, closure: Callable[[], _L] | None = None) -> _L | None:
        """Perform one optimization step; see the class docstring for the rule."""
        loss = self._begin_step(closure)
        with no_grad():
            for group in self.param_groups:
                lr = float(group["lr"])
                lr_decay = float(group["lr_decay"])
                eps = float(group["eps"])
                weight_decay = float(group["weight_decay"])
                maximize = bool(group["maximize"])
                for p, grad in self._grads(group):
                    state = self.state[p]
                    if len(state) == 0:  # a group added after construction
                        _init_state(state, p, group)
                    step = _increment_step(state)
                    _adagrad_update(
                        p._data,
                        grad,
                        state["sum"]._data,
                        step,
                        lr=lr,
                        lr_decay=lr_decay,
                        eps=eps,
                        weight_decay=weight_decay,
                        maximize=maximize,
                    )
                    _bump_version(p)
        return loss


def _init_state(state: dict[str, Any], p: Tensor, group: dict[str, Any]) -> None:
    state["step"] = _step_state()
    state["sum"] = p._wrap_like(np.full_like(p._data, float(group["initial_accumulator_value"])))


def _adagrad_update(
    param: Array,
    grad: Array,
    state_sum: Array,
    step: float,
    *,
    lr: float,
    lr_decay: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    """One Adagrad step on one parameter, in place (PyTorch's ``_single_tensor_adagrad``)."""
    grad = _decayed_grad(grad, param, weight_decay, maximize)
    clr = lr / (1 + (step - 1) * lr_decay)
    # addcmul_(grad, grad, value=1): (1 * g) * g is g * g exactly
    tmp = np.multiply(grad, grad, out=np.empty_like(param))
    np.add(state_sum, tmp, out=state_sum)
    std = np.sqrt(state_sum, out=np.empty_like(param))
    std += eps
    _addcdiv_(param, grad, std, -clr, tmp)
