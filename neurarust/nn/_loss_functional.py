"""The loss functions of :mod:`neurarust.nn.functional`, as ``torch.nn.functional``'s.

Each is a composition of registered ops. ``reduction`` is ``'none'``, ``'mean'`` or
``'sum'`` (``kl_div`` adds ``'batchmean'``); the legacy ``size_average``/``reduce`` flags are
accepted with PyTorch's meaning and deprecation warning.

Class-index losses are the registered ``log_softmax`` and ``nll_loss`` ops (fused: see
:mod:`neurarust.ops.nn_ops`); ignored targets are masked there, not filtered, so a batch with
and without ignored entries runs the same ops (and traces to one graph).
"""

from __future__ import annotations

import warnings

from .. import functions as _fn
from ..functions._call import apply
from ..tensor import Tensor
from ..types.dtype import DType
from ..types.errors import ShapeError
from ..types.format import format_value

__all__ = [
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "huber_loss",
    "kl_div", "l1_loss", "legacy_reduction", "logsigmoid", "mse_loss", "nll_loss",
    "smooth_l1_loss",
]

_REDUCTIONS = ("none", "mean", "sum")


def legacy_reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """``reduction``, or the one that PyTorch's deprecated ``size_average``/``reduce`` flags
    name when either is given."""
    if size_average is None and reduce is None:
        return reduction
    warnings.warn("size_average and reduce args will be deprecated, please use "
                  "reduction='mean' (or 'sum', 'none') instead.", stacklevel=3)
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        return "mean"
    return "sum" if reduce else "none"


def _check_reduction(reduction: str, op: str, allowed: tuple[str, ...] = _REDUCTIONS) -> None:
    if reduction not in allowed:
        raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction; expected "
                         f"one of {', '.join(repr(r) for r in allowed)}")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _warn_size(input: Tensor, target: Tensor) -> None:
    if input.shape != target.shape:
        warnings.warn(f"Using a target size ({list(target.shape)}) that is different to the "
                      f"input size ({list(input.shape)}). This will likely lead to incorrect "
                      "results due to broadcasting. Please ensure they have the same size.",
                      stacklevel=3)


def _pointwise(loss: Tensor, input: Tensor, weight: Tensor | None, reduction: str,
               weighted_mean_by_weight: bool = True) -> Tensor:
    """Reduce an elementwise loss, optionally weighted (PyTorch divides a weighted mean by the
    weights' sum for MSE and L1, by the count for Huber)."""
    if weight is None:
        return _reduce(loss, reduction)
    if weight.shape != input.shape:
        raise ValueError(f"Weights and input must have the same size, got weight "
                         f"{format_value(weight)} and input {format_value(input)}")
    loss = loss * weight
    if reduction == "mean" and weighted_mean_by_weight:
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


# -- regression ---------------------------------------------------------------------------------
def mse_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
             reduce: bool | None = None, reduction: str = "mean",
             weight: Tensor | None = None) -> Tensor:
    """Squared error ``(input - target)^2``, reduced (``weight``: elementwise, same shape as
    input; the weighted mean divides by ``weight.sum()``)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "mse_loss")
    _warn_size(input, target)
    diff = input - target
    return _pointwise(diff * diff, input, weight, reduction)


def l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
            reduce: bool | None = None, reduction: str = "mean",
            weight: Tensor | None = None) -> Tensor:
    """Absolute error ``|input - target|``, reduced (weights as :func:`mse_loss`)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "l1_loss")
    _warn_size(input, target)
    return _pointwise((input - target).abs(), input, weight, reduction)


def _smooth(diff: Tensor, beta: float) -> Tensor:
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta``."""
    d = diff.abs()
    return _fn.where(d.lt(beta), d * d * (0.5 / beta), d - 0.5 * beta)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
                   reduce: bool | None = None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """Quadratic below ``beta``, linear above (``beta=0`` is the L1 loss), as
    ``F.smooth_l1_loss``."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    _warn_size(input, target)
    diff = input - target
    return _reduce(diff.abs() if beta == 0.0 else _smooth(diff, beta), reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """``delta * smooth_l1(beta=delta)``: quadratic below ``delta``, linear with slope
    ``delta`` above, as ``F.huber_loss``."""
    _check_reduction(reduction, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    _warn_size(input, target)
    d = (input - target).abs()
    loss = _fn.where(d.lt(delta), d * d * 0.5, (d - 0.5 * delta) * delta)
    return _pointwise(loss, input, weight, reduction, weighted_mean_by_weight=False)


# -- classification -----------------------------------------------------------------------------
def _target_weights(target: Tensor, weight: Tensor | None, ignore_index: int,
                    dtype: DType) -> Tensor:
    """Each target's class weight, 0 where ignored (the mean's denominator terms)."""
    valid = target.ne(ignore_index)
    if weight is None:
        return valid.to(dtype)
    safe = _fn.where(valid, target, 0)
    return weight.index_select(0, safe.reshape(-1)).reshape(safe.shape) * valid.to(dtype)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
             size_average: bool | None = None, ignore_index: int = -100,
             reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices given log-probabilities, as ``F.nll_loss``.

    Args:
        input: log-probabilities ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)``.
        target: class indices ``(N)``, ``(N, d1, ...)`` or ``()``, in ``[0, C)`` or
            ``ignore_index``.
        weight: optional per-class weights ``(C,)``.
        ignore_index: targets equal to it contribute nothing (nor to the mean's denominator).

    ``'mean'`` is ``sum(w[t_i] * loss_i) / sum(w[t_i])`` over non-ignored ``i`` (nan when all
    are ignored, as PyTorch). A registered op (see :mod:`neurarust.ops.nn_ops`): its shape
    rule checks that the target is the input's shape without the class dim, its kernel that
    each target is a class index or ``ignore_index``.
    """
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "nll_loss")
    return apply("nll_loss", input, target, weight, ignore_index=ignore_index,
                 reduction=reduction)


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  size_average: bool | None = None, ignore_index: int = -100,
                  reduce: bool | None = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between logits and a target, as ``F.cross_entropy``: ``log_softmax``
    over the class dim (log-sum-exp, stable) followed by the negative log-likelihood.

    Args:
        input: unnormalised logits ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)``.
        target: class indices (an integer tensor shaped like input without the class dim) or
            class probabilities (a float tensor shaped like input).
        weight: optional per-class weights ``(C,)``.
        ignore_index: for class indices, targets equal to it are skipped.
        label_smoothing: mixes the target with the uniform distribution:
            ``(1 - s) * target + s / C``.

    With class indices, ``'mean'`` divides by the summed weights of the non-ignored targets;
    with probabilities, by the number of samples (``input.numel() / C``), as PyTorch.
    """
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got "
                         f"{label_smoothing}")
    if input.ndim == 0:
        raise ShapeError("cross_entropy: expected an input of shape (C,), (N, C) or "
                         "(N, C, d1, ...), got a 0-d input")
    class_dim = 0 if input.ndim == 1 else 1
    logp = apply("log_softmax", input, dim=class_dim)
    classes = input.shape[class_dim]
    shape = [1] * input.ndim
    shape[class_dim] = classes
    if target.dtype.is_floating_point:
        return _cross_entropy_probs(logp, target, weight, reduction, label_smoothing,
                                    class_dim, tuple(shape))
    nll = apply("nll_loss", logp, target, weight, ignore_index=ignore_index,
                reduction=reduction)
    if label_smoothing == 0.0:
        return nll
    # PyTorch's smoothing term: -sum_c w_c logp_c per sample (0 where ignored), reduced with
    # the same denominator as the nll term, mixed as (1 - s) nll + s / C smooth.
    terms = logp if weight is None else logp * weight.reshape(shape)
    valid = target.ne(ignore_index).to(logp.dtype)
    smooth = -terms.sum(class_dim) * valid
    if reduction == "mean":
        reduced = smooth.sum() / _target_weights(target, weight, ignore_index, logp.dtype).sum()
    else:
        reduced = _reduce(smooth, reduction)
    return nll * (1.0 - label_smoothing) + reduced * (label_smoothing / classes)


def _cross_entropy_probs(logp: Tensor, target: Tensor, weight: Tensor | None, reduction: str,
                         label_smoothing: float, class_dim: int,
                         shape: tuple[int, ...]) -> Tensor:
    if target.shape != logp.shape:
        raise ShapeError(f"cross_entropy: class-probability targets must have the input's "
                         f"shape\n  input: {format_value(logp)}   target: "
                         f"{format_value(target)}\n  hint: for class indices pass an int64 "
                         "target")
    classes = logp.shape[class_dim]
    if label_smoothing > 0.0:
        target = target * (1.0 - label_smoothing) + label_smoothing / classes
    terms = logp * target
    if weight is not None:
        terms = terms * weight.reshape(shape)
    if reduction == "none":
        return -terms.sum(class_dim)
    total = -terms.sum()
    if reduction == "sum":
        return total
    samples = logp.numel() // classes if classes else 0
    return total / samples if samples else total * float("nan")


def _log_clamped(x: Tensor, positive: Tensor) -> Tensor:
    """``max(log(x), -100)`` where ``positive``, else -100; the log's input is made 1 on the
    other side, so neither side's value nor its gradient is inf or nan."""
    safe = _fn.where(positive, x, 1.0)
    return _fn.where(positive, safe.log().clamp(min=-100.0), -100.0)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         size_average: bool | None = None, reduce: bool | None = None,
                         reduction: str = "mean") -> Tensor:
    """``-w (t log(x) + (1 - t) log(1 - x))`` for probabilities ``x`` in [0, 1], each
    logarithm clamped at -100 as PyTorch (so a saturated sigmoid gives a finite loss).
    Prefer :func:`binary_cross_entropy_with_logits` on logits."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "binary_cross_entropy")
    if target.shape != input.shape:
        raise ValueError(f"Using a target size ({list(target.shape)}) that is different to the "
                         f"input size ({list(input.shape)}) is deprecated. Please ensure they "
                         "have the same size.")
    from .. import _dispatch

    values = input.detach().cpu().numpy() if _dispatch._tracer is None else None  # traced: none
    if values is not None and values.size and not ((values >= 0) & (values <= 1)).all():
        raise RuntimeError("binary_cross_entropy: all elements of input should be between 0 "
                           "and 1")
    log_x = _log_clamped(input, input.gt(0))
    log_1mx = _log_clamped(1.0 - input, input.lt(1))
    loss = -(target * log_x + (1.0 - target) * log_1mx)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def logsigmoid(input: Tensor) -> Tensor:
    """``log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))``: finite for every x, with the
    gradient ``sigmoid(-x)`` (0.5 at 0, where ``min`` splits it evenly). Defined here for
    :func:`binary_cross_entropy_with_logits`; ``nn.functional`` re-exports it."""
    zero = input.new_zeros(())
    return apply("minimum", input, zero) - input.abs().neg().exp().log1p()


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     size_average: bool | None = None,
                                     reduce: bool | None = None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross-entropy of ``sigmoid(input)``, computed from the logits in the stable
    form ``(1 - t) x - l * logsigmoid(x)`` with ``l = 1 + (pos_weight - 1) t``, as
    ``F.binary_cross_entropy_with_logits`` (``pos_weight`` broadcasts over the last dim)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "binary_cross_entropy_with_logits")
    if target.shape != input.shape:
        raise ValueError(f"Target size ({list(target.shape)}) must be the same as input size "
                         f"({list(input.shape)})")
    log_sig = logsigmoid(input)
    if pos_weight is None:
        loss = (1.0 - target) * input - log_sig
    else:
        loss = (1.0 - target) * input - ((pos_weight - 1.0) * target + 1.0) * log_sig
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(input: Tensor, target: Tensor, size_average: bool | None = None,
           reduce: bool | None = None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """Pointwise KL divergence ``target * (log(target) - input)`` with ``input`` given as
    log-probabilities (and ``target`` too when ``log_target``), as ``F.kl_div``.

    ``reduction='batchmean'`` divides the sum by the batch size (the true KL divergence);
    ``'mean'`` divides by the number of elements, with PyTorch's warning.
    """
    if size_average is not None or reduce is not None:
        reduction = legacy_reduction(size_average, reduce, reduction)
    elif reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the "
                      "support size.'batchmean' divides only by the batch size, and aligns "
                      "with the KL div math definition.'mean' will be changed to behave the "
                      "same as 'batchmean' in the next major release.", stacklevel=2)
    _check_reduction(reduction, "kl_div", _REDUCTIONS + ("batchmean",))
    if log_target:
        loss = target.exp() * (target - input)
    else:
        # xlogy(t, t) = 0 where t == 0: the log's input is made 1 there, so its gradient is 0.
        nonzero = target.ne(0)
        safe = _fn.where(nonzero, target, 1.0)
        loss = _fn.where(nonzero, target * safe.log(), 0.0) - target * input
    if reduction == "batchmean":
        total = loss.sum()
        return total / input.shape[0] if input.ndim else total
    return _reduce(loss, reduction)

