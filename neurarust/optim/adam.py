"""Adam and AdamW: adaptive moment estimation, with L2 or decoupled weight decay."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from ..autograd import no_grad
from ..kernels.cpu.scratch import scratch
from .optimizer import (
    Array,
    Optimizer,
    ParamsT,
    _addcdiv_,
    _addcmul_,
    _bump_version,
    _check_beta,
    _check_ge,
    _decayed_grad,
    _increment_step,
    _lerp_,
    _step_state,
    _zeros_state,
)

__all__ = ["Adam", "AdamW"]

_L = TypeVar("_L")


class Adam(Optimizer):
    r"""Adam, as ``torch.optim.Adam``: Kingma & Ba (2015), "Adam: A Method for Stochastic
    Optimization" (ICLR); AMSGrad from Reddi, Kale & Kumar (2018), "On the Convergence of
    Adam and Beyond" (ICLR).

    With learning rate :math:`\gamma`, betas :math:`(\beta_1, \beta_2)`, :math:`\epsilon` and
    weight decay :math:`\lambda`, step :math:`t = 1, 2, \dots` on parameter :math:`\theta` is

    .. math::
        g_t &\leftarrow \pm\nabla_\theta f_t(\theta_{t-1}) \quad(- \text{ when maximize}) \\
        g_t &\leftarrow g_t + \lambda\theta_{t-1}
            \quad(\text{or, when decoupled: } \theta_{t-1} \leftarrow
            \theta_{t-1}(1 - \gamma\lambda)) \\
        m_t &\leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t \\
        v_t &\leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
        \hat v_t &\leftarrow \max(\hat v_{t-1}, v_t) \text{ if amsgrad else } v_t \\
        \theta_t &\leftarrow \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\,
            \frac{m_t}{\sqrt{\hat v_t}/\sqrt{1-\beta_2^t} + \epsilon}

    :math:`\epsilon` is added after the bias correction of :math:`\sqrt{v_t}`, as in PyTorch.

    Args:
        params: Tensors or parameter groups (dicts) to optimize.
        lr: learning rate :math:`\gamma`. Default: 1e-3.
        betas: decay rates :math:`(\beta_1, \beta_2)` of the first and second moment running
            averages, each in [0, 1). Default: (0.9, 0.999).
        eps: term added to the denominator for numerical stability. Default: 1e-8.
        weight_decay: weight decay :math:`\lambda` (an L2 penalty added to the gradient,
            unless ``decoupled_weight_decay``). Default: 0.
        amsgrad: use the AMSGrad variant (normalise by the running maximum of
            :math:`v_t`). Default: False.
        maximize: maximize the objective instead of minimizing it. Default: False.
        decoupled_weight_decay: decay the weights directly, as AdamW does. Default: False.

    State (per parameter): ``step`` (0-d float tensor), ``exp_avg`` (:math:`m`),
    ``exp_avg_sq`` (:math:`v`), ``max_exp_avg_sq`` (with amsgrad).

    Example:
        >>> w = nr.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = nr.optim.Adam([w], lr=0.1)
        >>> (w * w).sum().backward()
        >>> opt.step()
        >>> [round(v, 4) for v in w.tolist()]
        [0.9, -1.9]
    """

    _name = "Adam"

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        name = self._name
        _check_ge(name, "lr", lr)
        _check_ge(name, "eps", eps)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        _check_beta(name, "betas[0]", betas[0])
        _check_beta(name, "betas[1]", betas[1])
        _check_ge(name, "weight_decay", weight_decay)
        defaults = {
            "lr": lr,
            "betas": (betas[0], betas[1]),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], _L] | None = None) -> _L | None:
        """Perform one optimization step; see the class docstring for the rule."""
        loss = self._begin_step(closure)
        with no_grad():
            for group in self.param_groups:
                beta1, beta2 = (float(b) for b in group["betas"])
                lr = float(group["lr"])
                eps = float(group["eps"])
                weight_decay = float(group["weight_decay"])
                amsgrad = bool(group["amsgrad"])
                maximize = bool(group["maximize"])
                decoupled = bool(group["decoupled_weight_decay"])
                for p, grad in self._grads(group):
                    state = self.state[p]
                    if len(state) == 0:
                        state["step"] = _step_state()
                        state["exp_avg"] = _zeros_state(p)
                        state["exp_avg_sq"] = _zeros_state(p)
                    if amsgrad and "max_exp_avg_sq" not in state:
                        state["max_exp_avg_sq"] = _zeros_state(p)
                    step = _increment_step(state)
                    _adam_update(
                        p._data,
                        grad,
                        state["exp_avg"]._data,
                        state["exp_avg_sq"]._data,
                        state["max_exp_avg_sq"]._data if amsgrad else None,
                        step,
                        lr=lr,
                        beta1=beta1,
                        beta2=beta2,
                        eps=eps,
                        weight_decay=weight_decay,
                        maximize=maximize,
                        decoupled=decoupled,
                    )
                    _bump_version(p)
        return loss


def _adam_update(
    param: Array,
    grad: Array,
    exp_avg: Array,
    exp_avg_sq: Array,
    max_exp_avg_sq: Array | None,
    step: float,
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
    decoupled: bool,
) -> None:
    """One Adam step on one parameter, in place (PyTorch's ``_single_tensor_adam``); a cuda
    parameter's step is one fused kernel launch (``adam.cu``), with the same operations."""
    if not isinstance(param, np.ndarray):
        from ..kernels.cuda.families.optim import adam_step  # no pycuda: device arrays only

        if adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr=lr,
                     beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                     maximize=maximize, decoupled=decoupled):
            return
    if weight_decay != 0 and decoupled:
        param *= 1 - lr * weight_decay
        grad = _decayed_grad(grad, param, 0.0, maximize)
    else:
        grad = _decayed_grad(grad, param, weight_decay, maximize)
    # Temporaries from reusable scratch buffers: a fresh parameter-sized array per step
    # costs more in page faults than the arithmetic (see kernels.cpu.scratch).
    tmp = scratch("optim.tmp", param.shape, param.dtype)
    _lerp_(exp_avg, grad, 1 - beta1, tmp)  # m_t
    exp_avg_sq *= beta2
    _addcmul_(exp_avg_sq, grad, grad, 1 - beta2, tmp)  # v_t

    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    step_size = lr / bias_correction1
    bias_correction2_sqrt = bias_correction2**0.5

    denom = scratch("optim.denom", param.shape, param.dtype)
    if max_exp_avg_sq is not None:  # amsgrad
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        np.sqrt(max_exp_avg_sq, out=denom)
    else:
        np.sqrt(exp_avg_sq, out=denom)
    denom /= bias_correction2_sqrt
    denom += eps
    _addcdiv_(param, exp_avg, denom, -step_size, tmp)


class AdamW(Adam):
    r"""AdamW, as ``torch.optim.AdamW``: Adam with decoupled weight decay, from Loshchilov &
    Hutter (2019), "Decoupled Weight Decay Regularization" (ICLR).

    The weights decay directly, outside the adaptive update, so the decay is not rescaled by
    :math:`1/\sqrt{v_t}` as an L2 penalty in Adam's gradient would be:

    .. math::
        \theta_{t-1} &\leftarrow \theta_{t-1}(1 - \gamma\lambda) \\
        m_t, v_t, \hat v_t &\text{ as in } \texttt{Adam} \text{ (with no decay in } g_t) \\
        \theta_t &\leftarrow \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\,
            \frac{m_t}{\sqrt{\hat v_t}/\sqrt{1-\beta_2^t} + \epsilon}

    Args:
        params: Tensors or parameter groups (dicts) to optimize.
        lr: learning rate :math:`\gamma`. Default: 1e-3.
        betas: :math:`(\beta_1, \beta_2)`, each in [0, 1). Default: (0.9, 0.999).
        eps: term added to the denominator for numerical stability. Default: 1e-8.
        weight_decay: decoupled weight decay :math:`\lambda`. Default: 1e-2.
        amsgrad: use the AMSGrad variant. Default: False.
        maximize: maximize the objective instead of minimizing it. Default: False.

    State (per parameter): as :class:`Adam`.
    """

    _name = "AdamW"

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
        )

    def _after_load(self) -> None:
        for group in self.param_groups:  # an AdamW always decouples, whatever was saved
            group["decoupled_weight_decay"] = True
