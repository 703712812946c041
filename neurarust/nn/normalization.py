"""Normalization layers: ``BatchNorm1d``, ``BatchNorm2d``, ``LayerNorm``, ``GroupNorm``,
``RMSNorm``, as ``torch.nn``'s (arguments, defaults, buffers, state-dict keys, repr).

BatchNorm keeps ``running_mean``/``running_var`` (updated in training, used in eval) and
``num_batches_tracked`` as buffers; ``momentum=None`` makes the running statistics a
cumulative average over all batches seen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .. import functions as _fn
from ..device import Device
from ..tensor import Tensor
from ..types import dtype as _dt
from ..types.dtype import DType
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "GroupNorm", "LayerNorm", "RMSNorm"]

DeviceArg = Device | str | None


class _BatchNorm(Module):
    """What the BatchNorm layers share; subclasses state the input ranks they accept."""

    _ranks: tuple[int, ...] = ()
    weight: Parameter | None
    bias: Parameter | None
    running_mean: Tensor | None
    running_var: Tensor | None
    num_batches_tracked: Tensor | None

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 device: DeviceArg = None, dtype: DType | None = None, *,
                 bias: bool = True) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(_fn.empty(num_features, device=device, dtype=dtype))
            if bias:
                self.bias = Parameter(_fn.empty(num_features, device=device, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean",
                                 _fn.zeros(num_features, device=device, dtype=dtype))
            self.register_buffer("running_var", _fn.ones(num_features, device=device, dtype=dtype))
            self.register_buffer("num_batches_tracked",
                                 _fn.tensor(0, dtype=_dt.int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches tracked."""
        if self.running_mean is not None and self.running_var is not None:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
        if self.num_batches_tracked is not None:
            init.zeros_(self.num_batches_tracked)

    def reset_parameters(self) -> None:
        """Reset the running statistics; weight 1, bias 0."""
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim not in self._ranks:
            expected = " or ".join(f"{r}D" for r in self._ranks)
            raise ValueError(f"{type(self).__name__}: expected {expected} input (got "
                             f"{input.ndim}D input)")

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.item())
        use_batch_stats = self.training or (self.running_mean is None
                                            and self.running_var is None)
        keep = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if keep else None,
                            self.running_var if keep else None, self.weight, self.bias,
                            use_batch_stats, factor, self.eps)

    def _load_from_state_dict(self, state_dict: Mapping[str, Any], prefix: str,
                              missing_keys: list[str], unexpected_keys: list[str],
                              error_msgs: list[str], assign: bool) -> None:
        # Checkpoints written before num_batches_tracked existed load with a count of 0, as
        # in PyTorch.
        key = prefix + "num_batches_tracked"
        if self.track_running_stats and key not in state_dict:
            state_dict = {**state_dict, key: _fn.tensor(0, dtype=_dt.int64)}
        super()._load_from_state_dict(state_dict, prefix, missing_keys, unexpected_keys,
                                      error_msgs, assign)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization over ``(N, C)`` or ``(N, C, L)``: each channel is normalised by
    the batch's mean and (biased) variance in training, by the running estimates in eval,
    then scaled by ``weight`` and shifted by ``bias`` (Ioffe & Szegedy, 2015).

    Args:
        num_features: C.
        eps: added to the variance. Default: 1e-5.
        momentum: running-statistics update factor, ``running = (1 - m) running + m batch``
            (unbiased batch variance); None averages all batches equally. Default: 0.1.
        affine: learn ``weight`` (init 1) and ``bias`` (init 0). Default: True.
        track_running_stats: keep running statistics (else batch statistics are used in eval
            too). Default: True.
        bias: with ``affine``, also learn the bias. Default: True.

    Shape:
        ``(N, C) -> (N, C)``, ``(N, C, L) -> (N, C, L)``
    """

    _ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of each channel of ``(N, C, H, W)``, over N, H and W; see
    :class:`BatchNorm1d` for the arguments.

    Shape:
        ``(N, C, H, W) -> (N, C, H, W)``
    """

    _ranks = (4,)


def _shape_tuple(normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(normalized_shape, int):
        return (normalized_shape,)
    return tuple(int(s) for s in normalized_shape)



def _register_affine(module: Module, shape: tuple[int, ...], affine: bool, bias: bool,
                     device: DeviceArg, dtype: DType | None) -> None:
    """Register a normalization layer's ``weight`` and ``bias`` of ``shape`` (None when not
    learned), uninitialised: ``_reset_affine`` sets them to ones and zeros."""
    weight = Parameter(_fn.empty(*shape, device=device, dtype=dtype)) if affine else None
    module.register_parameter("weight", weight)
    shift = Parameter(_fn.empty(*shape, device=device, dtype=dtype)) if affine and bias else None
    module.register_parameter("bias", shift)


def _reset_affine(module: Module) -> None:
    """PyTorch's initialisation of a normalization's affine part: weight 1, bias 0."""
    weight, bias = getattr(module, "weight"), getattr(module, "bias")
    if weight is not None:
        init.ones_(weight)
    if bias is not None:
        init.zeros_(bias)

class LayerNorm(Module):
    """Layer normalization (Ba et al., 2016): each sample is normalised over its last
    ``len(normalized_shape)`` dims (biased variance), then scaled and shifted elementwise.

    Args:
        normalized_shape: the trailing input shape to normalise over (an int for one dim).
        eps: added to the variance. Default: 1e-5.
        elementwise_affine: learn ``weight`` (init 1) and ``bias`` (init 0) of shape
            ``normalized_shape``. Default: True.
        bias: with ``elementwise_affine``, also learn the bias. Default: True.

    Shape:
        ``(*, *normalized_shape) -> (*, *normalized_shape)``
    """

    weight: Parameter | None
    bias: Parameter | None

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, device: DeviceArg = None,
                 dtype: DType | None = None) -> None:
        super().__init__()
        self.normalized_shape = _shape_tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _register_affine(self, self.normalized_shape, elementwise_affine, bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class GroupNorm(Module):
    """Group normalization (Wu & He, 2018): the channels of each sample are split into
    ``num_groups`` groups, each normalised over its channels and spatial positions, then
    scaled and shifted per channel.

    Args:
        num_groups: number of groups; divides ``num_channels``.
        num_channels: C.
        eps: added to the variance. Default: 1e-5.
        affine: learn per-channel ``weight`` (init 1) and ``bias`` (init 0). Default: True.

    Shape:
        ``(N, C, *) -> (N, C, *)``
    """

    weight: Parameter | None
    bias: Parameter | None

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device: DeviceArg = None, dtype: DType | None = None, *,
                 bias: bool = True) -> None:
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        _register_affine(self, (num_channels,), affine, bias, device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
                f"affine={self.affine}, bias={self.bias is not None}")


class RMSNorm(Module):
    """Root-mean-square normalization (Zhang & Sennrich, 2019):
    ``x / sqrt(mean(x^2) + eps) * weight`` over the trailing ``normalized_shape``.

    Args:
        normalized_shape: trailing shape to normalise over.
        eps: added inside the root; None uses the dtype's machine epsilon. Default: None.
        elementwise_affine: learn ``weight`` (init 1). Default: True.

    Shape:
        ``(*, *normalized_shape) -> (*, *normalized_shape)``
    """

    weight: Parameter | None

    def __init__(self, normalized_shape: int | Sequence[int], eps: float | None = None,
                 elementwise_affine: bool = True, device: DeviceArg = None,
                 dtype: DType | None = None) -> None:
        super().__init__()
        self.normalized_shape = _shape_tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(_fn.empty(*self.normalized_shape, device=device, dtype=dtype))
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, input: Tensor) -> Tensor:
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
