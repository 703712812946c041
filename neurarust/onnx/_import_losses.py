"""ONNX losses: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (class weights,
``ignore_index``, none/sum/mean reductions), on registered ops so they differentiate."""

from __future__ import annotations

from typing import Any

from .. import functions as fn
from ..nn import functional as F
from ..tensor import Tensor
from ._importers import (
    ImportContext,
    OnnxUnsupported,
    _int64,
    _reg,
    _text,
)

__all__: list[str] = []


# -- losses ---------------------------------------------------------------------------------------
def _nll(log_prob: Tensor, target: Tensor, weight: Tensor | None, a: dict[str, Any]) -> Tensor:
    """ONNX's negative log-likelihood of ``log_prob`` (N, C, *d) at ``target`` (N, *d):
    weighted per class, ``ignore_index`` entries weigh 0, ``mean`` divides by the total
    weight. Every step is a registered op on tensors (the targets are data, not sizes)."""
    ignore = a.get("ignore_index")
    safe = target
    keep: Tensor | None = None
    if ignore is not None:
        keep = fn.ne(target, int(ignore))
        safe = fn.where(keep, target, fn.zeros_like(target))
    safe = fn.cast(safe, dtype=_int64())
    picked = fn.squeeze(fn.gather(log_prob, 1, fn.unsqueeze(safe, 1)), 1)
    if weight is not None:
        w = fn.reshape(fn.index_select(weight, 0, fn.reshape(safe, [-1])), list(safe.shape))
    else:
        w = fn.ones_like(picked)
    if keep is not None:
        w = fn.mul(w, fn.cast(keep, dtype=w.dtype))
    loss = fn.neg(fn.mul(picked, w))
    reduction = _text(a.get("reduction", "mean"))
    if reduction == "none":
        return loss
    if reduction == "sum":
        return fn.sum(loss)
    if reduction == "mean":
        return fn.div(fn.sum(loss), fn.sum(w))
    raise OnnxUnsupported(f"loss reduction={reduction!r}")


@_reg("NegativeLogLikelihoodLoss")
def _nll_loss(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    return [_nll(xs[0], xs[1], xs[2] if len(xs) > 2 else None, a)]


@_reg("SoftmaxCrossEntropyLoss")
def _softmax_ce(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    log_prob = F.log_softmax(xs[0], dim=1)
    return [_nll(log_prob, xs[1], xs[2] if len(xs) > 2 else None, a), log_prob]
