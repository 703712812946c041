"""Parameter initialisation, as ``torch.nn.init``: same names, arguments and formulas.

Every function fills its tensor in place, without recording autograd history (as under
``no_grad``), draws from :data:`neurarust.functions.random.default_generator` (or the
``generator`` given), and returns the tensor. Samples are drawn in float64 and cast to the
tensor's dtype, so a seed gives the same values in float32 and float64 up to rounding.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Literal

import numpy as np

from ..autograd import grad_mode
from ..device import CPU
from ..functions.random import Generator, default_generator
from ..tensor import Tensor, _Storage

__all__ = [
    "calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_",
    "eye_", "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
    "kaiming_normal_", "orthogonal_",
]

Array = np.ndarray  # type: ignore[type-arg]
FanMode = Literal["fan_in", "fan_out"]

_LINEAR_FNS = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
               "conv_transpose3d")


def _rng(generator: Generator | None) -> np.random.Generator:
    return (generator or default_generator).numpy


def _write(tensor: Tensor, values: Array) -> Tensor:
    """Copy ``values`` into ``tensor`` in place, with no autograd record (one registered
    ``copy`` op, so the storage version advances as for any in-place write)."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"nn.init: expected a Tensor, got {type(tensor).__name__}")
    src = Tensor._from_parts(np.asarray(values, dtype=tensor.dtype.np_dtype),
                             tensor.dtype, CPU, _Storage())
    with grad_mode.no_grad():
        if tensor.device.backend != "cpu":  # drawn on the host, one upload
            src = src.to(tensor.device)
        tensor.copy_(src)
    return tensor


def calculate_gain(nonlinearity: str, param: int | float | None = None) -> float:
    """The recommended gain for a nonlinearity (``torch.nn.init.calculate_gain``).

    ==================  =====================
    nonlinearity        gain
    ==================  =====================
    linear / conv / sigmoid  1
    tanh                5/3
    relu                sqrt(2)
    leaky_relu          sqrt(2 / (1 + negative_slope^2)), slope ``param`` (default 0.01)
    selu                3/4
    ==================  =====================
    """
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            negative_slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(
        f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; expected one of "
        f"{', '.join(_LINEAR_FNS)}, sigmoid, tanh, relu, leaky_relu, selu"
    )


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight shaped ``(out, in, *kernel)``: in (resp. out) times
    the receptive field size."""
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions, "
            f"got shape {list(shape)}"
        )
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0,
             generator: Generator | None = None) -> Tensor:
    """Fill with samples from U(a, b)."""
    return _write(tensor, _rng(generator).uniform(a, b, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: Generator | None = None) -> Tensor:
    """Fill with samples from N(mean, std^2)."""
    return _write(tensor, _rng(generator).normal(mean, std, tensor.shape))


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator: Generator | None = None) -> Tensor:
    """Fill with samples from N(mean, std^2) truncated to [a, b] (bounds in values, not
    stds), by inverse-CDF sampling as PyTorch: uniform in [cdf(a), cdf(b)], then the normal
    quantile function, then a clamp that only guards rounding."""
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
                      "The distribution of values may be incorrect.", stacklevel=2)
    lo = _norm_cdf((a - mean) / std)
    hi = _norm_cdf((b - mean) / std)
    p = _rng(generator).uniform(lo, hi, tensor.shape)
    values = mean + std * _ndtri(p)
    return _write(tensor, np.clip(values, a, b))


def _norm_cdf(x: float) -> float:
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


# Acklam's rational approximation of the standard normal quantile function (relative error
# below 1.2e-9 over (0, 1)); numpy has no erfinv/ndtri and scipy is not a dependency.
_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
      1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
      6.680131188771972e01, -1.328068155288572e01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
      -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
      3.754408661907416e00)
_P_LOW = 0.02425


def _polyval(coefs: tuple[float, ...], x: Array) -> Array:
    out = np.full_like(x, coefs[0])
    for c in coefs[1:]:
        out = out * x + c
    return out


def _ndtri(p: Array) -> Array:
    """The standard normal quantile of each probability in ``p`` (vectorised)."""
    p = np.asarray(p, dtype=np.float64)
    out = np.empty_like(p)
    with np.errstate(divide="ignore", invalid="ignore"):
        low = p < _P_LOW
        high = p > 1 - _P_LOW
        mid = ~(low | high)
        q = p[mid] - 0.5
        r = q * q
        out[mid] = q * _polyval(_A, r) / (_polyval(_B, r) * r + 1.0)
        t = np.sqrt(-2.0 * np.log(p[low]))
        out[low] = _polyval(_C, t) / (_polyval(_D, t) * t + 1.0)
        t = np.sqrt(-2.0 * np.log1p(-p[high]))
        out[high] = -_polyval(_C, t) / (_polyval(_D, t) * t + 1.0)
    return out


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    return _write(tensor, np.full(tensor.shape, val))


def ones_(tensor: Tensor) -> Tensor:
    """Fill with ones."""
    return constant_(tensor, 1.0)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with zeros."""
    return constant_(tensor, 0.0)


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity (ones on the diagonal, as ``torch.eye``)."""
    if tensor.ndim != 2:
        raise ValueError(f"eye_: only tensors with 2 dimensions are supported, got shape "
                         f"{list(tensor.shape)}")
    rows, cols = tensor.shape
    return _write(tensor, np.eye(rows, cols))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a 3-, 4- or 5-D convolution weight with the Dirac delta, so the convolution is
    the identity on as many channels as possible (per group)."""
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"dirac_: only tensors with 3, 4, or 5 dimensions are supported, got "
                         f"shape {list(tensor.shape)}")
    out_channels = tensor.shape[0]
    if out_channels % groups != 0:
        raise ValueError(f"dirac_: dim 0 ({out_channels}) must be divisible by groups={groups}")
    out_per_group = out_channels // groups
    n = min(out_per_group, tensor.shape[1])
    values = np.zeros(tensor.shape)
    centre = tuple(k // 2 for k in tensor.shape[2:])
    d = np.arange(n)
    for g in range(groups):
        index: tuple[Any, ...] = (g * out_per_group + d, d, *centre)
        values[index] = 1.0
    return _write(tensor, values)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0,
                    generator: Generator | None = None) -> Tensor:
    """Glorot & Bengio (2010): U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0,
                   generator: Generator | None = None) -> Tensor:
    """Glorot & Bengio (2010): N(0, std^2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float | None:
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return None
    fan = _calculate_correct_fan(tensor, mode)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu",
                     generator: Generator | None = None) -> Tensor:
    """He et al. (2015): U(-bound, bound) with ``bound = gain * sqrt(3 / fan_mode)``, the gain
    of ``nonlinearity`` (``a`` is leaky_relu's negative slope). ``nn.Linear``'s default is
    ``kaiming_uniform_(weight, a=math.sqrt(5))``."""
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu",
                    generator: Generator | None = None) -> Tensor:
    """He et al. (2015): N(0, std^2) with ``std = gain / sqrt(fan_mode)``."""
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    return normal_(tensor, 0.0, std, generator)


def orthogonal_(tensor: Tensor, gain: float = 1.0,
                generator: Generator | None = None) -> Tensor:
    """Saxe et al. (2013): a (semi-)orthogonal matrix from the QR decomposition of a Gaussian
    one (signs fixed so the distribution is uniform), reshaped to the tensor, times
    ``gain``. Trailing dims are flattened."""
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: only tensors with 2 or more dimensions are supported, "
                         f"got shape {list(tensor.shape)}")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _rng(generator).standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))  # makes Q unique: a uniform (Haar) sample
    if rows < cols:
        q = q.T
    return _write(tensor, gain * q.reshape(tensor.shape))
