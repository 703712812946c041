"""Ops that the ``nn`` layers need and no other family declares.

- ``erf``: the Gauss error function, for the exact GELU (``x * Phi(x)``); numpy has none.
- ``log_softmax``: ``x - logsumexp(x)`` along ``dim`` in one kernel (ONNX ``LogSoftmax``),
  and its gradient ``log_softmax_backward``.
- ``threshold_backward``: ``relu``'s gradient, ``grad`` where ``input > threshold`` else 0.
- ``nll_loss`` and its adjoint ``nll_loss_backward``: the negative log-likelihood of class
  indices, with class weights, ``ignore_index`` and a reduction (ONNX
  ``NegativeLogLikelihoodLoss``). Each is the other's gradient, so every order works.

Everything else in ``nn.functional`` is a composition of registered ops. ``log_softmax`` and
``nll_loss`` were fused because a measurement showed the composition of ~13 small ops costing
~7x PyTorch's time per cross-entropy call (about 7% of a 784-256-128-10 MLP epoch, batch 64);
fused, cross-entropy is two ops forward and two backward (~340 -> ~130 us per call on a
64 x 10 batch; PyTorch ~45 us).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..types import dtype as dt
from ..types.algebra import DimAlgebra, Shape
from ..types.dtype import DType, promote_types
from ..types.errors import RuleViolation
from .elementwise import FloatUnary
from .linalg import require_with_detail
from .registry import OpDef, register
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..onnx.builder import OnnxBuilder, OnnxValue

__all__ = ["REDUCTIONS"]

Dims = DimAlgebra[Any, Any]
REDUCTIONS = ("none", "mean", "sum")

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _show(shape: Sequence[Any]) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


@register
class Erf(FloatUnary):
    """``erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt``, as ``torch.erf``."""

    name = "erf"

    range_rule = "erf"

    def to_onnx(self, g: OnnxBuilder, a: OnnxValue, **attrs: Any) -> OnnxValue:
        return g.node("Erf", a)

    onnx_import = ("Erf",)

    def backward(self, g: Any, a: Any, *, out: Any) -> tuple[Any, ...]:
        return (g * (a * a).neg().exp() * _TWO_OVER_SQRT_PI,)


@register
class LogSoftmax(OpDef):
    """``log(softmax(x))`` along ``dim``: ``x - max - log(sum(exp(x - max)))``, exact for any
    logits (no overflow, no log of an underflowed 0)."""

    name = "log_softmax"

    range_rule = "log_softmax"

    def to_onnx(self, g: OnnxBuilder, x: OnnxValue, *, dim: int) -> OnnxValue:
        return g.node("LogSoftmax", x, axis=dim)

    onnx_import = ("LogSoftmax",)
    input_names = ("input",)
    save_inputs = False
    save_output = True

    def shape(self, dims: Dims, x: Shape, *, dim: int) -> Shape:
        dims.check_dim(dim, max(len(x), 1))  # a 0-d input takes dim 0 or -1, as PyTorch
        return x

    def dtype(self, x: DType, *, dim: int) -> DType:
        if not x.is_floating_point:
            raise self.dtype_error("expects a floating point input; convert with .float() "
                                   "or pass dtype=", x)
        return x

    def backward(self, g: Any, x: Any, *, out: Any, dim: int) -> tuple[Any, ...]:
        return (g._apply("log_softmax_backward", out, dim=dim),)


@register
class LogSoftmaxBackward(OpDef):
    """The gradient of ``log_softmax``: ``grad - exp(output) * sum(grad, dim)`` (the VJP of
    ``x - lse(x)``), one kernel; its own gradient is written with registered ops."""

    name = "log_softmax_backward"
    input_names = ("grad_output", "output")

    def shape(self, dims: Dims, g: Shape, y: Shape, *, dim: int) -> Shape:
        if len(g) != len(y):
            raise RuleViolation("grad_output and output must have the same shape",
                                detail=f"got {_show(g)} and {_show(y)}")
        for a, b in zip(g, y):
            require_with_detail(dims, dims.eq(a, b),
                                "grad_output and output must have the same shape",
                                lambda: f"got {_show(g)} and {_show(y)}")
        dims.check_dim(dim, max(len(y), 1))
        return g

    def dtype(self, g: DType, y: DType, *, dim: int) -> DType:
        if not g.is_floating_point or g is not y:
            raise self.dtype_error("expects floating point tensors of one dtype", g, y)
        return g

    def backward(self, gg: Any, g: Any, y: Any, *, out: Any, dim: int) -> tuple[Any, ...]:
        # r_j = g_j - s_j * S with s = exp(y), S = sum_i g_i:
        # d<gg, r>/dg_i = gg_i - sum_j gg_j s_j;  d<gg, r>/dy_j = -gg_j s_j S.
        s = y.exp()
        weighted = gg * s
        return (gg - weighted.sum(dim, keepdim=True),
                -weighted * g.sum(dim, keepdim=True))


@register
class ThresholdBackward(OpDef):
    """The gradient of ``relu`` (PyTorch's ``threshold_backward``): ``grad_output`` where
    ``input > threshold``, else 0; ``relu`` passes its output (``out > 0`` exactly where
    ``x > 0``). One op and one branch-free kernel instead of ``gt`` + ``where`` (which cost
    ~10x more on a conv layer's activations). Linear in ``grad_output``, so its gradient is
    itself with the same mask; ``input`` gets none (the mask is piecewise constant)."""

    name = "threshold_backward"
    input_names = ("grad_output", "input")
    nondiff_inputs = (1,)
    promote_inputs = True

    def saves_for(self, needs_grad: tuple[bool, ...]) -> tuple[bool, ...]:
        return False, True  # the gradient reads the mask's input, never grad_output

    def shape(self, dims: Dims, g: Shape, x: Shape, *, threshold: float) -> Shape:
        if len(g) != len(x):
            raise RuleViolation("grad_output and input must have the same shape",
                                detail=f"got {_show(g)} and {_show(x)}")
        for a, b in zip(g, x):
            require_with_detail(dims, dims.eq(a, b),
                                "grad_output and input must have the same shape",
                                lambda: f"got {_show(g)} and {_show(x)}")
        return g

    def dtype(self, g: DType, x: DType, *, threshold: float) -> DType:
        if not g.is_floating_point or not x.is_floating_point:
            raise self.dtype_error("expects floating point tensors", g, x)
        return promote_types(g, x)

    def backward(self, gg: Any, g: Any, x: Any, *, out: Any,
                 threshold: float) -> tuple[Any, ...]:
        return gg._apply("threshold_backward", x, threshold=threshold), None


class _NllFamily(OpDef):
    """What ``nll_loss`` and its adjoint share: the layout of input, target and weight."""

    def _check_reduction(self, reduction: str) -> None:
        if reduction not in REDUCTIONS:
            raise RuleViolation(f"{reduction!r} is not a valid value for reduction",
                                detail=f"expected one of {REDUCTIONS}")

    def _check_layout(self, dims: Dims, x: Shape, t: Shape, w: Shape | None) -> None:
        """``t`` is ``x`` without its class dim (1, or 0 for an unbatched ``(C,)`` input);
        ``w`` has one entry per class."""
        if len(x) == 0:
            raise RuleViolation("expected an input of shape (C,), (N, C) or (N, C, d1, ...)",
                                detail="got a 0-d input")
        class_dim = 0 if len(x) == 1 else 1
        expected = tuple(x[:class_dim]) + tuple(x[class_dim + 1:])
        if len(t) != len(expected):
            raise RuleViolation("the target must be the input's shape without the class dim",
                                detail=f"expected a {len(expected)}-d target of shape "
                                       f"{_show(expected)}, got {_show(t)}")
        for i, (a, b) in enumerate(zip(t, expected)):
            require_with_detail(
                dims, dims.eq(a, b),
                "the target must be the input's shape without the class dim",
                lambda: f"expected target shape {_show(expected)}, got {_show(t)}"
                        + (" (batch sizes differ)" if i == 0 else ""),  # noqa: B023
                hint="a class-index target holds one int per sample (and position)")
        if w is not None:
            if len(w) != 1:
                raise RuleViolation("weight must be 1-d, one entry per class",
                                    detail=f"got weight of shape {_show(w)}")
            require_with_detail(dims, dims.eq(w[0], x[class_dim]),
                                "weight must have one entry per class",
                                lambda: f"expected weight.shape[0] == {x[class_dim]}, got {w[0]}")

    def _check_dtypes(self, x: DType, t: DType, w: DType | None) -> None:
        if not x.is_floating_point or (w is not None and w is not x):
            given = (x, t) if w is None else (x, t, w)
            raise self.dtype_error("expects a floating point input (and weight of the same "
                                   "dtype)", *given)
        if not t.is_integer or t.is_bool:
            raise self.dtype_error("expects class indices of an integer dtype (int64) as "
                                   "target; for class probabilities use cross_entropy with a "
                                   "float target of the input's shape", x, t)


@register
class NllLoss(_NllFamily):
    """``-weight[t] * input[t]`` per sample (class dim 1, or 0 when unbatched), 0 where
    ``t == ignore_index``, reduced: ``'mean'`` divides by the summed weights of the targets
    taken (nan when none is), as ``torch.nn.functional.nll_loss``."""

    name = "nll_loss"

    range_rule = "nll_loss"

    def to_onnx(self, g: OnnxBuilder, x: OnnxValue, t: OnnxValue, w: OnnxValue | None = None, *, ignore_index: int, reduction: str) -> OnnxValue:
        return g.node("NegativeLogLikelihoodLoss", x, g.cast(t, dt.int64), w, reduction=reduction,
                      ignore_index=ignore_index)

    onnx_import = ("NegativeLogLikelihoodLoss",)
    input_names = ("input", "target", "weight")
    nondiff_inputs = (1, 2)

    def saves_for(self, needs_grad: tuple[bool, ...]) -> tuple[bool, ...]:
        return False, True, True  # the gradient reads the targets and weights, not the input

    def shape(self, dims: Dims, x: Shape, t: Shape, w: Shape | None = None, *,
              ignore_index: int, reduction: str) -> Shape:
        self._check_reduction(reduction)
        self._check_layout(dims, x, t, w)
        return tuple(t) if reduction == "none" else ()

    def dtype(self, x: DType, t: DType, w: DType | None = None, **attrs: Any) -> DType:
        self._check_dtypes(x, t, w)
        return x

    def backward(self, g: Any, x: Any, t: Any, w: Any, *, out: Any, ignore_index: int,
                 reduction: str) -> tuple[Any, ...]:
        classes = x.shape[0 if len(x.shape) == 1 else 1]
        return (g._apply("nll_loss_backward", t, w, classes=classes,
                          ignore_index=ignore_index, reduction=reduction), None, None)


@register
class NllLossBackward(_NllFamily):
    """The adjoint of ``nll_loss`` in its input: ``-grad * weight[t] (/ total weight for
    'mean')`` at each target's class, 0 elsewhere. Linear in ``grad``; its own gradient is
    ``nll_loss`` of the upstream gradient."""

    name = "nll_loss_backward"
    input_names = ("grad_output", "target", "weight")
    nondiff_inputs = (1, 2)

    def saves_for(self, needs_grad: tuple[bool, ...]) -> tuple[bool, ...]:
        return False, True, True

    def shape(self, dims: Dims, g: Shape, t: Shape, w: Shape | None = None, *, classes: Any,
              ignore_index: int, reduction: str) -> Shape:
        self._check_reduction(reduction)
        out = (classes,) if len(t) == 0 else (t[0], classes) + tuple(t[1:])
        self._check_layout(dims, out, t, w)
        expected = tuple(t) if reduction == "none" else ()
        if len(g) != len(expected):
            raise RuleViolation("grad_output must have the loss's shape",
                                detail=f"expected {_show(expected)}, got {_show(g)}")
        for a, b in zip(g, expected):
            require_with_detail(dims, dims.eq(a, b), "grad_output must have the loss's shape",
                                lambda: f"expected {_show(expected)}, got {_show(g)}")
        return out

    def dtype(self, g: DType, t: DType, w: DType | None = None, **attrs: Any) -> DType:
        self._check_dtypes(g, t, w)
        return g

    def backward(self, gg: Any, g: Any, t: Any, w: Any, *, out: Any, classes: Any,
                 ignore_index: int, reduction: str) -> tuple[Any, ...]:
        return (gg._apply("nll_loss", t, w, ignore_index=ignore_index, reduction=reduction),
                None, None)
