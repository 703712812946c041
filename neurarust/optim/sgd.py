"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay."""

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
    _bump_version,
    _check_ge,
    _check_number,
    _decayed_grad,
)

__all__ = ["SGD"]

_L = TypeVar("_L")


class SGD(Optimizer):
    r"""Stochastic gradient descent (optionally with momentum), as ``torch.optim.SGD``.

    With learning rate :math:`\gamma`, momentum :math:`\mu`, dampening :math:`\tau` and weight
    decay :math:`\lambda`, each step on parameter :math:`\theta` with gradient :math:`g_t` is

    .. math::
        g_t &\leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) + \lambda\theta_{t-1}
            \quad(- \text{ when maximize}) \\
        b_t &\leftarrow g_t \text{ if } t = 1 \text{ else } \mu b_{t-1} + (1-\tau) g_t \\
        g_t &\leftarrow g_t + \mu b_t \text{ if nesterov else } b_t
            \quad(\text{only when } \mu \ne 0) \\
        \theta_t &\leftarrow \theta_{t-1} - \gamma g_t

    This is the heavy-ball momentum of Polyak (1964) in the form of Sutskever et al. (2013),
    "On the importance of initialization and momentum in deep learning" (ICML), where the
    learning rate multiplies the whole velocity; Nesterov momentum follows the same paper.

    Args:
        params: Tensors or parameter groups (dicts) to optimize.
        lr: learning rate :math:`\gamma`. Default: 1e-3.
        momentum: momentum factor :math:`\mu`. Default: 0.
        dampening: dampening :math:`\tau` for momentum. Default: 0.
        weight_decay: L2 penalty :math:`\lambda`, added to the gradient. Default: 0.
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening 0). Default: False.
        maximize: maximize the objective instead of minimizing it. Default: False.

    State (per parameter): ``momentum_buffer`` (when momentum != 0).

    Example:
        >>> w = nr.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = nr.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> (w * w).sum().backward()
        >>> opt.step()
        >>> w.tolist()
        [0.800000011920929, -1.600000023841858]
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        _check_ge("SGD", "lr", lr)
        _check_ge("SGD", "momentum", momentum)
        _check_number("SGD", "dampening", dampening)
        _check_ge("SGD", "weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(
                "SGD: Nesterov momentum requires a momentum > 0 and zero dampening, got "
                f"momentum={momentum}, dampening={dampening}"
            )
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], _L] | None = None) -> _L | None:
        """Perform one optimization step; see the class docstring for the rule."""
        loss = self._begin_step(closure)
        with no_grad():
            for group in self.param_groups:
                lr = float(group["lr"])
                momentum = float(group["momentum"])
                dampening = float(group["dampening"])
                weight_decay = float(group["weight_decay"])
                nesterov = bool(group["nesterov"])
                maximize = bool(group["maximize"])
                for p, grad in self._grads(group):
                    state = self.state[p] if momentum != 0 else None
                    buf = state.get("momentum_buffer") if state is not None else None
                    buf_data = _sgd_update(
                        p._data,
                        grad,
                        None if buf is None else buf._data,
                        lr=lr,
                        momentum=momentum,
                        dampening=dampening,
                        weight_decay=weight_decay,
                        nesterov=nesterov,
                        maximize=maximize,
                    )
                    if state is not None and buf is None and buf_data is not None:
                        state["momentum_buffer"] = p._wrap_like(buf_data)
                    _bump_version(p)
        return loss


def _sgd_update(
    param: Array,
    grad: Array,
    buf: Array | None,
    *,
    lr: float,
    momentum: float,
    dampening: float,
    weight_decay: float,
    nesterov: bool,
    maximize: bool,
) -> Array | None:
    """One SGD step on one parameter, in place; returns the (possibly new) momentum buffer.
    A cuda parameter's step is one fused kernel launch (``sgd.cu``), with the same
    operations."""
    if not isinstance(param, np.ndarray):
        from ..kernels.cuda.families.optim import sgd_step  # no pycuda: device arrays only

        done, new_buf = sgd_step(param, grad, buf, lr=lr, momentum=momentum,
                                 dampening=dampening, weight_decay=weight_decay,
                                 nesterov=nesterov, maximize=maximize)
        if done:
            return new_buf
    owned = maximize or weight_decay != 0  # grad is then our own copy, usable as scratch
    grad = _decayed_grad(grad, param, weight_decay, maximize)
    if momentum != 0:
        if buf is None:
            buf = np.copy(grad, order="K")  # first step: b_1 = g_1
        else:
            buf *= momentum
            _add_scaled_(buf, grad, 1 - dampening)
        if nesterov:
            scaled = np.multiply(buf, momentum, out=np.empty_like(buf))
            grad = np.add(grad, scaled, out=grad if owned else scaled)  # grad.add(buf, alpha=mu)
            owned = True
        else:
            grad = buf
            owned = False
    _add_scaled_(param, grad, -lr, tmp=grad if owned else None)
    return buf
