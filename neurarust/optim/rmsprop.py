"""RMSprop: gradients divided by a running root mean square, optionally centered."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from ..autograd import no_grad
from .optimizer import (
    Array,
    Optimizer,
    ParamsT,
    _add_scaled_,
    _addcdiv_,
    _addcmul_,
    _bump_version,
    _check_ge,
    _decayed_grad,
    _increment_step,
    _lerp_,
    _step_state,
    _zeros_state,
)

__all__ = ["RMSprop"]

_L = TypeVar("_L")


class RMSprop(Optimizer):
    r"""RMSprop, as ``torch.optim.RMSprop``: Tieleman & Hinton (2012), "Lecture 6.5 -
    rmsprop: Divide the gradient by a running average of its recent magnitude" (COURSERA:
    Neural Networks for Machine Learning); the centered form is from Graves (2013),
    "Generating Sequences With Recurrent Neural Networks" (arXiv:1308.0850).

    With learning rate :math:`\gamma`, smoothing constant :math:`\alpha`, :math:`\epsilon`,
    weight decay :math:`\lambda` and momentum :math:`\mu`, each step on :math:`\theta` is

    .. math::
        g_t &\leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) + \lambda\theta_{t-1}
            \quad(- \text{ when maximize}) \\
        v_t &\leftarrow \alpha v_{t-1} + (1-\alpha) g_t^2 \\
        \tilde v_t &\leftarrow v_t - \bar g_t^2, \quad
            \bar g_t \leftarrow \alpha \bar g_{t-1} + (1-\alpha) g_t
            \quad(\text{centered; else } \tilde v_t = v_t) \\
        b_t &\leftarrow \mu b_{t-1} + g_t / (\sqrt{\tilde v_t} + \epsilon), \quad
            \theta_t \leftarrow \theta_{t-1} - \gamma b_t \quad(\mu > 0) \\
        \theta_t &\leftarrow \theta_{t-1} - \gamma\, g_t / (\sqrt{\tilde v_t} + \epsilon)
            \quad(\mu = 0)

    Args:
        params: Tensors or parameter groups (dicts) to optimize.
        lr: learning rate :math:`\gamma`. Default: 1e-2.
        alpha: smoothing constant :math:`\alpha` of the squared-gradient average.
            Default: 0.99.
        eps: term added to the denominator for numerical stability. Default: 1e-8.
        weight_decay: L2 penalty :math:`\lambda`, added to the gradient. Default: 0.
        momentum: momentum factor :math:`\mu`. Default: 0.
        centered: normalise by an estimate of the gradient's variance (subtracting the
            squared running mean of the gradient) instead of its raw second moment.
            Default: False.
        maximize: maximize the objective instead of minimizing it. Default: False.

    State (per parameter): ``step``, ``square_avg`` (:math:`v`), ``momentum_buffer``
    (momentum > 0), ``grad_avg`` (:math:`\bar g`, centered).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        _check_ge("RMSprop", "lr", lr)
        _check_ge("RMSprop", "eps", eps)
        _check_ge("RMSprop", "momentum", momentum)
        _check_ge("RMSprop", "weight_decay", weight_decay)
        _check_ge("RMSprop", "alpha", alpha)
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], _L] | None = None) -> _L | None:
        """Perform one optimization step; see the class docstring for the rule."""
        loss = self._begin_step(closure)
        with no_grad():
            for group in self.param_groups:
                lr = float(group["lr"])
                alpha = float(group["alpha"])
                eps = float(group["eps"])
                weight_decay = float(group["weight_decay"])
                momentum = float(group["momentum"])
                centered = bool(group["centered"])
                maximize = bool(group["maximize"])
                for p, grad in self._grads(group):
                    state = self.state[p]
                    if len(state) == 0:
                        state["step"] = _step_state()
                        state["square_avg"] = _zeros_state(p)
                        if momentum > 0:
                            state["momentum_buffer"] = _zeros_state(p)
                        if centered:
                            state["grad_avg"] = _zeros_state(p)
                    # options switched on after the first step (e.g. OneCycleLR's momentum)
                    if momentum > 0 and "momentum_buffer" not in state:
                        state["momentum_buffer"] = _zeros_state(p)
                    if centered and "grad_avg" not in state:
                        state["grad_avg"] = _zeros_state(p)
                    _increment_step(state)
                    _rmsprop_update(
                        p._data,
                        grad,
                        state["square_avg"]._data,
                        state["grad_avg"]._data if centered else None,
                        state["momentum_buffer"]._data if momentum > 0 else None,
                        lr=lr,
                        alpha=alpha,
                        eps=eps,
                        weight_decay=weight_decay,
                        momentum=momentum,
                        maximize=maximize,
                    )
                    _bump_version(p)
        return loss


def _rmsprop_update(
    param: Array,
    grad: Array,
    square_avg: Array,
    grad_avg: Array | None,
    buf: Array | None,
    *,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    maximize: bool,
) -> None:
    """One RMSprop step on one parameter, in place (PyTorch's ``_single_tensor_rmsprop``)."""
    grad = _decayed_grad(grad, param, weight_decay, maximize)
    tmp = np.empty_like(param)
    square_avg *= alpha
    _addcmul_(square_avg, grad, grad, 1 - alpha, tmp)
    if grad_avg is not None:
        _lerp_(grad_avg, grad, 1 - alpha, tmp)
        avg = np.empty_like(param)
        _copy_addcmul(avg, square_avg, grad_avg, -1.0, tmp)  # v - g_avg^2
        np.sqrt(avg, out=avg)
    else:
        avg = np.sqrt(square_avg, out=np.empty_like(param))
    avg += eps
    if buf is not None:
        buf *= momentum
        _addcdiv_(buf, grad, avg, 1.0, tmp)
        _add_scaled_(param, buf, -lr, tmp)
    else:
        _addcdiv_(param, grad, avg, -lr, tmp)


def _copy_addcmul(out: Array, base: Array, t1: Array, value: float, tmp: Array) -> None:
    """``out = base.addcmul(t1, t1, value=value)`` (out-of-place addcmul)."""
    np.multiply(t1, value, out=tmp)
    np.multiply(tmp, t1, out=tmp)
    np.add(base, tmp, out=out)
