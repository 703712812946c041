"""Loss modules, as ``torch.nn``'s: each holds its arguments (and, for class weights, a
buffer) and calls its :mod:`~neurarust.nn.functional` form.

``reduction`` is ``'none'`` (one loss per element or sample), ``'mean'`` (the default) or
``'sum'``; the legacy ``size_average``/``reduce`` flags are accepted as in PyTorch.
"""

from __future__ import annotations

from ..tensor import Tensor
from . import functional as F
from ._loss_functional import legacy_reduction
from .module import Module

__all__ = [
    "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "HuberLoss", "KLDivLoss", "L1Loss",
    "MSELoss", "NLLLoss", "SmoothL1Loss",
]


class _Loss(Module):
    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = legacy_reduction(size_average, reduce, reduction)


class _WeightedLoss(_Loss):
    weight: Tensor | None

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class MSELoss(_Loss):
    """Mean squared error: ``(input - target)^2``, reduced.

    Shape:
        input ``(*)``, target ``(*)`` (same shape) -> scalar, or ``(*)`` with
        ``reduction='none'``.

    Example:
        >>> nr.nn.MSELoss()(nr.tensor([1.0, 2.0]), nr.tensor([1.0, 4.0])).item()
        2.0
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error: ``|input - target|``, reduced.

    Shape:
        input ``(*)``, target ``(*)`` -> scalar, or ``(*)`` with ``reduction='none'``.
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (``d = input -
    target``): quadratic near 0, linear beyond, so outliers pull less than with MSE.

    Shape:
        input ``(*)``, target ``(*)`` -> scalar, or ``(*)`` with ``reduction='none'``.
    """

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``.

    Shape:
        input ``(*)``, target ``(*)`` -> scalar, or ``(*)`` with ``reduction='none'``.
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of class indices given log-probabilities (pair it with
    ``LogSoftmax``, or use :class:`CrossEntropyLoss` on logits).

    Args:
        weight: optional per-class weights ``(C,)`` (a buffer).
        ignore_index: targets equal to it are skipped. Default: -100.
        reduction: ``'mean'`` divides by the summed weights of the targets taken.

    Shape:
        input ``(N, C)`` or ``(N, C, d1, ...)``, target ``(N)`` or ``(N, d1, ...)`` ->
        scalar, or the target's shape with ``reduction='none'``.
    """

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 ignore_index: int = -100, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy between logits and class indices or class probabilities:
    ``log_softmax`` over the class dim (stable log-sum-exp) and the negative log-likelihood.

    Args:
        weight: optional per-class weights ``(C,)`` (a buffer).
        ignore_index: class-index targets equal to it are skipped. Default: -100.
        reduction: ``'mean'`` divides by the summed weights of the targets taken (class
            indices) or by the number of samples (probabilities).
        label_smoothing: in [0, 1]; the target becomes ``(1 - s) target + s / C``.

    Shape:
        input ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)``; target: class indices of the input's
        shape without C (int64), or probabilities of the input's shape (float) -> scalar, or
        per sample with ``reduction='none'``.

    Example:
        >>> loss = nr.nn.CrossEntropyLoss()(nr.zeros(2, 10), nr.tensor([3, 7]))
        >>> round(loss.item(), 4)  # log(10)
        2.3026
    """

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 ignore_index: int = -100, reduce: bool | None = None,
                 reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities: ``-w (t log x + (1 - t) log(1 - x))``, each
    log clamped at -100. On logits prefer :class:`BCEWithLogitsLoss` (stable).

    Shape:
        input ``(*)`` in [0, 1], target ``(*)`` -> scalar, or ``(*)`` with
        ``reduction='none'``.
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid and binary cross-entropy in one stable expression:
    ``(1 - t) x - (1 + (pos_weight - 1) t) logsigmoid(x)``.

    Args:
        weight: optional elementwise weight (a buffer), broadcast to the input.
        pos_weight: optional weight of positive examples per class (last dim), a buffer.

    Shape:
        input ``(*)`` logits, target ``(*)`` -> scalar, or ``(*)`` with ``reduction='none'``.
    """

    weight: Tensor | None
    pos_weight: Tensor | None

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean",
                 pos_weight: Tensor | None = None) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)


class KLDivLoss(_Loss):
    """Kullback-Leibler divergence ``target * (log(target) - input)`` with ``input`` as
    log-probabilities (``target`` too if ``log_target``).

    ``reduction='batchmean'`` gives the true KL divergence (sum / batch size); ``'mean'``
    averages over all elements, with PyTorch's warning.

    Shape:
        input ``(*)``, target ``(*)`` -> scalar, or ``(*)`` with ``reduction='none'``.
    """

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)
