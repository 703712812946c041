"""``nr.nn.functional``: the functional form of every layer, activation and loss, with
``torch.nn.functional``'s names, arguments and defaults.

Each function is a composition of registered ops (``linear`` is ``matmul`` + ``add``,
``layer_norm`` is mean/var/rsqrt, ``softmax`` is ``exp(log_softmax)``), so it inherits the
ops' shape rules, dtype rules, gradients (of every order) and, later, their range rules and
ONNX mappings: nothing here restates a shape rule. Convolution and pooling are ops of their
own (:mod:`neurarust.functions.conv`), re-exported here; ``log_softmax`` and ``nll_loss`` are
fused ops (:mod:`neurarust.ops.nn_ops`) because a benchmark showed it pays.

Where a textbook formula overflows, the stable form is used: log-sum-exp for softmax and
cross-entropy, ``max(x, 0) + log1p(exp(-|x|))`` for softplus and the logits form of binary
cross-entropy, and clamped logarithms (as PyTorch, at -100) for ``binary_cross_entropy``.
Both sides of every ``where`` stay finite, so no nan leaks into a gradient from the side that
is not taken.

Losses live in :mod:`neurarust.nn._loss_functional`, adaptive pooling, padding and
resampling in :mod:`neurarust.nn._resampling`; both are re-exported here.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from .. import functions as _fn
from ..autograd import grad_mode
from ..functions._call import apply
from ..functions.conv import (
    avg_pool1d,
    avg_pool2d,
    conv1d,
    conv2d,
    conv_transpose1d,
    conv_transpose2d,
    max_pool1d,
    max_pool2d,
)
from ..tensor import Tensor
from ..types import dtype as _dt
from ..types.dtype import DType
from ..types.errors import DTypeError, ShapeError
from ..types.format import format_value
from ._loss_functional import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    logsigmoid,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from ._resampling import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    interpolate,
    pad,
    upsample,
)

__all__ = [
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "avg_pool1d", "avg_pool2d", "batch_norm",
    "bilinear", "binary_cross_entropy", "binary_cross_entropy_with_logits", "celu", "conv1d",
    "conv2d", "conv_transpose1d", "conv_transpose2d", "cosine_similarity", "cross_entropy",
    "dropout", "dropout1d", "dropout2d", "elu", "embedding", "erf", "gelu", "glu", "group_norm",
    "hardsigmoid", "hardswish", "hardtanh", "huber_loss", "interpolate", "kl_div", "l1_loss",
    "layer_norm", "leaky_relu", "linear", "log_softmax", "logsigmoid", "max_pool1d", "max_pool2d",
    "mish", "mse_loss", "nll_loss", "normalize", "one_hot", "pad", "relu", "relu6", "relu_",
    "rms_norm", "scaled_dot_product_attention", "selu", "sigmoid", "silu", "smooth_l1_loss",
    "softmax", "softmin", "softplus", "softsign", "tanh", "tanhshrink", "threshold", "upsample",
]

IntOrTuple = int | Sequence[int]


# -- linear ---------------------------------------------------------------------------------------
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Affine map of the last dim, ``input @ weight.T + bias``, as ``F.linear``.

    Args:
        input: ``(*, in_features)``.
        weight: ``(out_features, in_features)`` (or ``(in_features,)``, which drops the dim).
        bias: optional ``(out_features,)``.

    Shape:
        ``(*, in_features) -> (*, out_features)``

    A feature-count mismatch raises a ShapeError naming ``linear`` (and, chained, the
    ``matmul`` rule that failed).
    """
    try:
        out = _fn.matmul(input, weight.t() if weight.ndim == 2 else weight)
    except ShapeError as err:
        raise _linear_error(input, weight, err) from err
    return out if bias is None else out + bias


def _linear_error(input: Tensor, weight: Tensor, err: ShapeError) -> ShapeError:
    if input.ndim == 0 or weight.ndim not in (1, 2):
        return err
    got, expected = input.shape[-1], weight.shape[-1]
    fix = (f"nn.Linear({got}, {weight.shape[0]}) fits this input"
           if weight.ndim == 2 else f"a weight of shape [{got}] fits this input")
    return ShapeError(
        f"linear: input has {got} features, the weight expects {expected}\n"
        f"  input: {format_value(input)}   weight: {format_value(weight)}\n"
        f"  expected input.shape[-1] == weight.shape[-1] (in_features), got {got} != {expected}\n"
        f"  hint: {fix}; or flatten/reshape the input so its last dim has {expected} entries"
    )


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``y[..., k] = input1[..., i] * weight[k, i, j] * input2[..., j] + bias[k]``.

    Shape:
        ``(*, in1), (*, in2), weight (out, in1, in2) -> (*, out)``
    """
    out = _fn.einsum("...i,kij,...j->...k", input1, weight, input2)
    return out if bias is None else out + bias


# -- activations ----------------------------------------------------------------------------------
def _activate(input: Tensor, inplace: bool, fn: Callable[[Tensor], Tensor]) -> Tensor:
    """``fn(input)``, or (``inplace=True``) its result written into ``input``. While autograd
    records, ``fn`` reads a copy of the input, so the write cannot invalidate the values its
    backward saved."""
    if not inplace:
        return fn(input)
    source = input.clone() if input.requires_grad and grad_mode.is_grad_enabled() else input
    return input.copy_(fn(source))


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """``max(input, 0)``; the gradient at 0 is 0."""
    return input.relu_() if inplace else apply("relu", input)


def relu_(input: Tensor) -> Tensor:
    """In-place :func:`relu`."""
    return input.relu_()


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """``clamp(input, min_val, max_val)``, with PyTorch's gradient: 1 strictly inside the
    interval, 0 at and beyond its ends."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val cannot be greater than max_val, got "
                         f"min_val={min_val}, max_val={max_val}")

    def fn(x: Tensor) -> Tensor:
        inside = x.gt(min_val).logical_and(x.lt(max_val))
        return _fn.where(inside, x, x.detach().clamp(min_val, max_val))

    return _activate(input, inplace, fn)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """``min(max(input, 0), 6)``."""
    return hardtanh(input, 0.0, 6.0, inplace)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``input`` where positive, else ``negative_slope * input`` (the slope's gradient at 0)."""
    return _activate(input, inplace, lambda x: _fn.where(x.gt(0), x, x * negative_slope))


def _expm1_negative(input: Tensor, alpha: float = 1.0) -> Tensor:
    # expm1 of the non-positive part only: the side ``where`` drops stays finite, so its
    # zero gradient times exp(x) is 0, never 0 * inf.
    x = input.clamp(max=0.0)
    return (x if alpha == 1.0 else x / alpha).expm1()


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``input`` where positive, else ``alpha * (exp(input) - 1)``."""
    return _activate(input, inplace,
                     lambda x: _fn.where(x.gt(0), x, _expm1_negative(x) * alpha))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """``scale * elu(input, alpha)`` with the self-normalising constants of Klambauer et al."""
    return _activate(input, inplace, lambda x: _fn.where(
        x.gt(0), x * _SELU_SCALE, _expm1_negative(x) * (_SELU_ALPHA * _SELU_SCALE)))


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    return _activate(input, inplace,
                     lambda x: _fn.where(x.gt(0), x, _expm1_negative(x, alpha) * alpha))


def erf(input: Tensor) -> Tensor:
    """The Gauss error function, ``torch.erf`` (a registered op, for the exact GELU)."""
    return apply("erf", input)


_SQRT1_2 = 1.0 / math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit: ``x * Phi(x)`` with the exact normal CDF
    (``approximate='none'``) or its tanh approximation (``'tanh'``), as ``F.gelu``."""
    if approximate == "none":
        return input * (apply("erf", input * _SQRT1_2) + 1.0) * 0.5
    if approximate == "tanh":
        inner = (input + input * input * input * 0.044715) * _SQRT_2_OVER_PI
        return input * (inner.tanh() + 1.0) * 0.5
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * sigmoid(x)`` (swish)."""
    return _activate(input, inplace, lambda x: x * x.sigmoid())


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * tanh(softplus(x))``."""
    return _activate(input, inplace, lambda x: x * softplus(x).tanh())


def sigmoid(input: Tensor) -> Tensor:
    """``1 / (1 + exp(-x))``."""
    return apply("sigmoid", input)


def tanh(input: Tensor) -> Tensor:
    """Hyperbolic tangent."""
    return apply("tanh", input)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """``relu6(x + 3) / 6``."""
    return _activate(input, inplace, lambda x: relu6(x + 3.0) / 6.0)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * relu6(x + 3) / 6``."""
    return _activate(input, inplace, lambda x: x * relu6(x + 3.0) / 6.0)


def softsign(input: Tensor) -> Tensor:
    """``x / (1 + |x|)``."""
    return input / (input.abs() + 1.0)


def tanhshrink(input: Tensor) -> Tensor:
    """``x - tanh(x)``."""
    return input - input.tanh()


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """``input`` where ``input > threshold``, else ``value``."""
    return _activate(input, inplace, lambda x: _fn.where(x.gt(threshold), x, value))


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """Gated linear unit: ``a * sigmoid(b)`` for the two halves ``a, b`` of ``dim``."""
    if input.ndim == 0 or input.shape[dim] % 2:
        raise ShapeError(f"glu: halving dimension must be even, but dimension {dim} is size "
                         f"{input.shape[dim] if input.ndim else 0} (input "
                         f"{format_value(input)})")
    a, b = _fn.chunk(input, 2, dim)
    return a * b.sigmoid()


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta * x)) / beta``, and ``x`` itself where ``beta * x > threshold``.

    Computed as ``max(z, 0) + log1p(exp(-|z|))`` with ``z = beta * x``, which neither
    overflows nor loses the small values; its gradient is ``sigmoid(z)`` everywhere (0.5 at 0,
    where ``max`` splits it evenly).
    """
    z = input if beta == 1.0 else input * beta
    soft = apply("maximum", z, z.new_zeros(())) + z.abs().neg().exp().log1p()
    if beta != 1.0:
        soft = soft / beta
    return _fn.where(z.gt(threshold), input, soft)


def _softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  "to include dim=X as an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def _softmax_input(input: Tensor, dtype: DType | None) -> Tensor:
    return input if dtype is None or dtype is input.dtype else input.to(dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype: DType | None = None) -> Tensor:
    """``x - logsumexp(x, dim)``: log-probabilities over ``dim``, stable for any logits (the
    registered ``log_softmax`` op, one kernel: see :mod:`neurarust.ops.nn_ops`).

    ``dtype`` casts the input first (accumulate in float64, say). ``dim=None`` picks PyTorch's
    legacy default (0 for 0-, 1- and 3-d inputs, else 1) with a deprecation warning.
    """
    if dim is None:
        dim = _softmax_dim("log_softmax", input.ndim, _stacklevel)
    return apply("log_softmax", _softmax_input(input, dtype), dim=dim)


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype: DType | None = None) -> Tensor:
    """``exp(x) / sum(exp(x))`` over ``dim``, computed as ``exp(log_softmax(x))`` (no
    overflow for large logits). ``dtype`` and ``dim=None`` as :func:`log_softmax`."""
    if dim is None:
        dim = _softmax_dim("softmax", input.ndim, _stacklevel)
    return apply("log_softmax", _softmax_input(input, dtype), dim=dim).exp()


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype: DType | None = None) -> Tensor:
    """``softmax(-input)``."""
    if dim is None:
        dim = _softmax_dim("softmin", input.ndim, _stacklevel)
    return softmax(-_softmax_input(input, dtype), dim)


# -- normalization -------------------------------------------------------------------------------
def _channel_shape(input: Tensor) -> tuple[int, ...]:
    """``(1, C, 1, ...)``: per-channel values broadcast against ``(N, C, *)``."""
    return (1, input.shape[1]) + (1,) * (input.ndim - 2)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel of ``(N, C, *)`` by its batch statistics (``training``) or by
    the running ones, then scale by ``weight`` and shift by ``bias``, as ``F.batch_norm``.

    In training, the running statistics (when given) are updated in place:
    ``running = (1 - momentum) * running + momentum * batch``, with the unbiased batch
    variance. The normalisation itself uses the biased variance.

    Shape:
        ``(N, C, *) -> (N, C, *)``; statistics, weight and bias are ``(C,)``.
    """
    if input.ndim < 2:
        raise ShapeError(f"batch_norm: expected an input of shape (N, C, *), got "
                         f"{format_value(input)}")
    shape = _channel_shape(input)
    for what, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (input.shape[1],):
            raise ShapeError(f"batch_norm: {what} should have one entry per channel\n"
                             f"  input: {format_value(input)}   {what}: {format_value(t)}\n"
                             f"  expected {what}.shape == [{input.shape[1]}] (input.shape[1])")
    if training:
        count = input.numel() // max(input.shape[1], 1)
        if count <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input "
                             f"size {list(input.shape)}")
        dims = (0,) + tuple(range(2, input.ndim))
        mean = input.mean(dims, keepdim=True)
        var = input.var(dims, correction=0, keepdim=True)
        with grad_mode.no_grad():
            if running_mean is not None:
                running_mean.mul_(1.0 - momentum).add_(mean.reshape(-1) * momentum)
            if running_var is not None:
                running_var.mul_(1.0 - momentum).add_(
                    var.reshape(-1) * (momentum * count / (count - 1)))
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var must be given when "
                             "training=False")
        mean, var = running_mean.reshape(shape), running_var.reshape(shape)
    out = (input - mean) * (var + eps).rsqrt()
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def _normalized_dims(input: Tensor, normalized_shape: IntOrTuple, op: str) -> tuple[int, ...]:
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise ShapeError(
            f"{op}: the input's last dims must equal normalized_shape\n"
            f"  input: {format_value(input)}   normalized_shape: {list(shape)}\n"
            f"  expected input.shape[-{k}:] == {list(shape)}, got "
            f"{list(input.shape[max(input.ndim - k, 0):])}")
    return tuple(range(-k, 0))


def layer_norm(input: Tensor, normalized_shape: IntOrTuple, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the last ``len(normalized_shape)`` dims (biased variance), then apply
    the elementwise ``weight`` and ``bias`` of shape ``normalized_shape``, as ``F.layer_norm``.
    """
    dims = _normalized_dims(input, normalized_shape, "layer_norm")
    mean = input.mean(dims, keepdim=True)
    var = input.var(dims, correction=0, keepdim=True)
    out = (input - mean) * (var + eps).rsqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def rms_norm(input: Tensor, normalized_shape: IntOrTuple, weight: Tensor | None = None,
             eps: float | None = None) -> Tensor:
    """``x / sqrt(mean(x^2) + eps) * weight`` over the last dims; ``eps`` defaults to the
    dtype's machine epsilon, as ``F.rms_norm``."""
    dims = _normalized_dims(input, normalized_shape, "rms_norm")
    if eps is None:
        eps = float(np.finfo(input.dtype.np_dtype).eps)
    out = input * ((input * input).mean(dims, keepdim=True) + eps).rsqrt()
    return out if weight is None else out * weight


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise each group of ``C / num_groups`` channels of each sample, then apply the
    per-channel ``weight`` and ``bias``, as ``F.group_norm``.

    Shape:
        ``(N, C, *) -> (N, C, *)``
    """
    if input.ndim < 2:
        raise ShapeError(f"group_norm: expected an input of shape (N, C, *), got "
                         f"{format_value(input)}")
    n, c = input.shape[0], input.shape[1]
    if num_groups <= 0 or c % num_groups:
        raise ShapeError(f"group_norm: expected the number of channels to be divisible by "
                         f"num_groups, got input {format_value(input)} and num_groups="
                         f"{num_groups}")
    grouped = input.reshape((n, num_groups, -1))
    mean = grouped.mean(-1, keepdim=True)
    var = grouped.var(-1, correction=0, keepdim=True)
    out = ((grouped - mean) * (var + eps).rsqrt()).reshape(input.shape)
    shape = _channel_shape(input)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12,
              out: Tensor | None = None) -> Tensor:
    """``input / max(||input||_p, eps)`` along ``dim``, as ``F.normalize``."""
    result = input / input.norm(p, dim, keepdim=True).clamp(min=eps)
    return result if out is None else out.copy_(result)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps))`` along ``dim`` (inputs
    broadcast), as ``F.cosine_similarity``."""
    n1 = x1.norm(2.0, dim, keepdim=True).clamp(min=eps)
    n2 = x2.norm(2.0, dim, keepdim=True).clamp(min=eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


# -- dropout --------------------------------------------------------------------------------------
def _check_p(p: float, op: str) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")


def _dropout_mask(input: Tensor, shape: tuple[int, ...], p: float) -> Tensor:
    """A constant tensor of ``shape``: ``1 / (1 - p)`` with probability ``1 - p``, else 0,
    drawn from the default generator (so ``nr.manual_seed`` makes it reproducible)."""
    rng = _fn.default_generator.numpy
    keep = rng.random(shape, dtype=np.float32) < (1.0 - p) if p < 1.0 else np.zeros(shape, bool)
    scale = 0.0 if p >= 1.0 else 1.0 / (1.0 - p)
    values = keep.astype(input.dtype.np_dtype) * input.dtype.np_dtype.type(scale)
    return _fn.from_numpy(values).to(input.device)


def _dropout(input: Tensor, p: float, training: bool, inplace: bool, op: str,
             shape: tuple[int, ...]) -> Tensor:
    _check_p(p, op)
    if not training or p == 0.0:
        return input
    if not input.dtype.is_floating_point:
        raise DTypeError(f"{op}: expects a floating point input, got {input.dtype.name}")
    return _activate(input, inplace, lambda x: x * _dropout_mask(x, shape, p))


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)`` (in
    training; the identity otherwise), as ``F.dropout``."""
    return _dropout(input, p, training, inplace, "dropout", tuple(input.shape))


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of ``(N, C, L)`` (or ``(C, L)``) with probability ``p``."""
    if input.ndim not in (2, 3):
        raise ShapeError(f"dropout1d: expected a 2-d or 3-d input, got {format_value(input)}")
    lead = input.shape[:-1] if input.ndim == 2 else input.shape[:2]
    shape = (lead[0], 1) if input.ndim == 2 else (lead[0], lead[1], 1)
    return _dropout(input, p, training, inplace, "dropout1d", shape)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels (feature maps) of ``(N, C, H, W)`` with probability ``p``, as
    ``F.dropout2d`` (a 3-d input is taken as ``(N, C, L)``, with PyTorch's warning)."""
    if input.ndim not in (3, 4):
        warnings.warn(f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is "
                      "deprecated and will result in an error in a future release.",
                      stacklevel=2)
    elif input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that "
                      "channel-wise 1D dropout behavior is desired - input is interpreted as "
                      "shape (N, C, L), where C is the channel dim.", stacklevel=2)
    if input.ndim < 2:
        raise ShapeError(f"dropout2d: expected a 4-d input, got {format_value(input)}")
    shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)
    return _dropout(input, p, training, inplace, "dropout2d", shape)


# -- embedding ------------------------------------------------------------------------------------
def _check_indices(input: Tensor, op: str) -> None:
    if not input.dtype.is_integer or input.dtype.is_bool:
        raise DTypeError(f"{op}: expected integer indices (int64 or int32), got "
                         f"{input.dtype.name}; convert with .long()")


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` looked up by integer ``input``, as ``F.embedding``.

    Args:
        padding_idx: the row at this index receives no gradient (its value is still
            returned).
        max_norm: rows looked up whose ``norm_type``-norm exceeds it are rescaled to it, in
            place in ``weight`` (as PyTorch), before the lookup.
        scale_grad_by_freq: scale each row's gradient by the inverse of its count in the
            batch.

    Shape:
        ``(*) int -> (*, embedding_dim)``
    """
    _check_indices(input, "embedding")
    if sparse:
        raise NotImplementedError("embedding: sparse gradients are not supported; use "
                                  "sparse=False")
    num = weight.shape[0]
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"embedding: padding_idx must be within num_embeddings ({num}), "
                             f"got {padding_idx}")
        padding_idx %= num
    flat = input.reshape(-1)
    if max_norm is not None:
        _embedding_renorm_(weight, flat, max_norm, norm_type)
    out = weight.index_select(0, flat)
    if padding_idx is not None:
        out = _fn.where(flat.eq(padding_idx).unsqueeze(1), out.detach(), out)
    if scale_grad_by_freq:
        host = flat.cpu().numpy()
        counts = np.bincount(host.astype(np.int64), minlength=num)[host]
        scale = _fn.from_numpy((1.0 / counts).astype(weight.dtype.np_dtype)).to(weight.device) \
            .unsqueeze(1)
        # The same values, with the gradient scaled: out.detach() + (out - out.detach()) * s.
        out = out.detach() + (out - out.detach()) * scale
    return out.reshape(tuple(input.shape) + (weight.shape[1],))


def _embedding_renorm_(weight: Tensor, flat: Tensor, max_norm: float, norm_type: float) -> None:
    rows = _fn.tensor(np.unique(flat.cpu().numpy()), dtype=_dt.int64, device=weight.device)
    with grad_mode.no_grad():
        selected = weight.index_select(0, rows)
        norms = selected.norm(norm_type, 1, keepdim=True)
        scale = _fn.where(norms.gt(max_norm), max_norm / (norms + 1e-7), 1.0)
        weight[rows] = selected * scale


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding: ``out[..., c] = (tensor[...] == c)``, as ``F.one_hot``;
    ``num_classes=-1`` uses ``tensor.max() + 1``."""
    if tensor.dtype is not _dt.int64:
        raise DTypeError(f"one_hot: is only applicable to index tensor of type int64, got "
                         f"{tensor.dtype.name}")
    values = tensor.cpu().numpy()  # one download on a device: the checks need the values
    if num_classes == -1:
        if values.size == 0:
            raise ValueError("one_hot: can not infer total number of classes from empty tensor")
        num_classes = int(values.max()) + 1
    if values.size and values.min() < 0:
        raise ValueError("one_hot: class values must be non-negative")
    if values.size and values.max() >= num_classes:
        raise ValueError(f"one_hot: class values must be smaller than num_classes "
                         f"({num_classes}), got {int(values.max())}")
    classes = _fn.arange(num_classes, dtype=_dt.int64, device=tensor.device)
    return tensor.unsqueeze(-1).eq(classes).long()


# -- attention ------------------------------------------------------------------------------------
def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """``softmax(query @ key^T * scale + mask) @ value``, as
    ``F.scaled_dot_product_attention``: defined with ``MultiheadAttention`` in
    :mod:`neurarust.nn.attention` (see it for the arguments), which imports this module, so
    the call is forwarded at run time.

    Shape:
        ``(..., L, E), (..., S, E), (..., S, Ev) -> (..., L, Ev)``
    """
    from .attention import scaled_dot_product_attention as attention

    return attention(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)
