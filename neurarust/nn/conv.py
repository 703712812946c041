"""Convolution layers: ``Conv1d``, ``Conv2d``, ``ConvTranspose1d``, ``ConvTranspose2d``, as
``torch.nn``'s (arguments, defaults, initialisation, repr).

The layers hold weights and arguments; the work is the registered ``conv*`` ops (through
:mod:`~neurarust.nn.functional`), whose shape rules report a mismatched input. A non-zero
``padding_mode`` pads explicitly with :func:`~neurarust.nn.functional.pad` first, as PyTorch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .. import functions as _fn
from ..device import Device
from ..tensor import Tensor
from ..types.dtype import DType
from . import functional as F
from . import init
from .linear import _init_bias
from .module import Module
from .parameter import Parameter

__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]

DeviceArg = Device | str | None
IntOrTuple = int | Sequence[int]
_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(value: IntOrTuple, n: int, what: str, layer: str) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * n
    out = tuple(value)
    if len(out) != n or not all(isinstance(v, int) for v in out):
        raise ValueError(f"{layer}: {what} must be an int or a tuple of {n} ints, got {value!r}")
    return out


class _ConvNd(Module):
    """What the convolution layers share: argument checks, parameters, init, repr."""

    _spatial: int = 2
    _transposed: bool = False
    weight: Parameter
    bias: Parameter | None

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrTuple,
                 stride: IntOrTuple, padding: IntOrTuple | str, dilation: IntOrTuple,
                 groups: int, bias: bool, padding_mode: str, output_padding: IntOrTuple,
                 device: DeviceArg, dtype: DType | None) -> None:
        super().__init__()
        name, n = type(self).__name__, self._spatial
        if groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups}")
        if in_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) must be divisible by groups "
                             f"({groups})")
        if out_channels % groups:
            raise ValueError(f"{name}: out_channels ({out_channels}) must be divisible by "
                             f"groups ({groups})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, but got "
                             f"padding_mode={padding_mode!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _ntuple(kernel_size, n, "kernel_size", name)
        self.stride = _ntuple(stride, n, "stride", name)
        self.dilation = _ntuple(dilation, n, "dilation", name)
        self.padding: tuple[int, ...] | str
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: invalid padding string {padding!r}, should be one "
                                 "of {'valid', 'same'}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided "
                                 f"convolutions (got stride={self.stride})")
            self.padding = padding
        else:
            self.padding = _ntuple(padding, n, "padding", name)
        self.output_padding = _ntuple(output_padding, n, "output_padding", name)
        self.groups = groups
        self.padding_mode = padding_mode
        # F.pad amounts (last dim first) for a padding_mode other than 'zeros'.
        self._reversed_padding_repeated_twice = self._explicit_padding()
        if self._transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(_fn.empty(*shape, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(_fn.empty(out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def _explicit_padding(self) -> list[int]:
        pads: list[int] = []
        for i in reversed(range(self._spatial)):
            if self.padding == "same":
                total = self.dilation[i] * (self.kernel_size[i] - 1)
                pads += [total // 2, total - total // 2]
            elif self.padding == "valid":
                pads += [0, 0]
            else:
                assert not isinstance(self.padding, str)
                pads += [self.padding[i], self.padding[i]]
        return pads

    def reset_parameters(self) -> None:
        """PyTorch's default: ``kaiming_uniform_(weight, a=sqrt(5))``, bias from
        U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with ``fan_in = weight.shape[1] * prod(kernel)``."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        _init_bias(self.bias, self.weight)

    def extra_repr(self) -> str:
        n = self._spatial
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrTuple,
                 stride: IntOrTuple = 1, padding: IntOrTuple | str = 0,
                 dilation: IntOrTuple = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: DeviceArg = None,
                 dtype: DType | None = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, 0, device, dtype)

    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        conv = F.conv2d if self._spatial == 2 else F.conv1d
        if self.padding_mode != "zeros":
            padded = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return conv(padded, weight, bias, self.stride, 0, self.dilation, self.groups)
        return conv(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input: Tensor) -> Tensor:
        return self._conv_forward(input, self.weight, self.bias)


class Conv1d(_Conv):
    """1-d cross-correlation over ``(N, C_in, L)`` (or unbatched ``(C_in, L)``).

    Args:
        in_channels, out_channels: channel counts.
        kernel_size, stride, dilation: ints (or 1-tuples).
        padding: an int, ``'valid'`` or ``'same'`` (stride 1). Default: 0.
        groups: independent channel groups; both channel counts divisible by it.
        bias: learn a per-output-channel bias. Default: True.
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.

    Attributes:
        weight: ``(out_channels, in_channels / groups, kernel_size)``, PyTorch's
            ``kaiming_uniform_(a=sqrt(5))``; bias ``(out_channels,)`` from
            U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    Shape:
        ``(N, C_in, L) -> (N, C_out, (L + 2p - d(k-1) - 1) // s + 1)``
    """

    _spatial = 1


class Conv2d(_Conv):
    """2-d cross-correlation over ``(N, C_in, H, W)`` (or unbatched ``(C_in, H, W)``).

    Args:
        in_channels, out_channels: channel counts.
        kernel_size: an int or ``(kH, kW)``.
        stride: an int or ``(sH, sW)``. Default: 1.
        padding: an int, ``(pH, pW)``, ``'valid'`` (none) or ``'same'`` (output size =
            input size; stride 1 only). Default: 0.
        dilation: spacing between kernel taps. Default: 1.
        groups: independent channel groups; both channel counts divisible by it. Default: 1.
        bias: learn a per-output-channel bias. Default: True.
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.

    Attributes:
        weight: ``(out_channels, in_channels / groups, kH, kW)``, PyTorch's
            ``kaiming_uniform_(a=sqrt(5))``; bias ``(out_channels,)`` from
            U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    Shape:
        ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)`` with
        ``H_out = (H + 2 pH - dH (kH - 1) - 1) // sH + 1``, likewise W.

    Example:
        >>> nr.nn.Conv2d(1, 32, 3)(nr.zeros(8, 1, 28, 28)).shape
        (8, 32, 26, 26)
    """

    _spatial = 2


class _ConvTranspose(_ConvNd):
    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrTuple,
                 stride: IntOrTuple = 1, padding: IntOrTuple = 0,
                 output_padding: IntOrTuple = 0, groups: int = 1, bias: bool = True,
                 dilation: IntOrTuple = 1, padding_mode: str = "zeros",
                 device: DeviceArg = None, dtype: DType | None = None) -> None:
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for '
                             f"{type(self).__name__}, got {padding_mode!r}")
        if isinstance(padding, str):
            raise TypeError(f"{type(self).__name__}: padding must be an int or a tuple, got "
                             f"{padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, device, dtype)

    def _output_padding(self, input: Tensor, output_size: Sequence[int] | None) -> tuple[int, ...]:
        """``output_padding``, or the one that gives ``output_size`` (as PyTorch)."""
        if output_size is None:
            return self.output_padding
        n = self._spatial
        lead = 2 if input.ndim == n + 2 else 1
        sizes = list(output_size)
        if len(sizes) == lead + n:
            sizes = sizes[lead:]
        if len(sizes) != n:
            raise ValueError(f"{type(self).__name__}: for {input.ndim}D input, output_size "
                             f"must have {n} or {lead + n} elements (got {len(sizes)})")
        assert not isinstance(self.padding, str)
        low = [(input.shape[lead + d] - 1) * self.stride[d] - 2 * self.padding[d]
               + self.dilation[d] * (self.kernel_size[d] - 1) + 1 for d in range(n)]
        high = [lo + self.stride[d] - 1 for d, lo in enumerate(low)]
        for size, lo, hi in zip(sizes, low, high):
            if not lo <= size <= hi:
                raise ValueError(f"requested an output size of {sizes}, but valid sizes range "
                                 f"from {low} to {high} (for an input of "
                                 f"{list(input.shape[lead:])})")
        return tuple(s - lo for s, lo in zip(sizes, low))

    def forward(self, input: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        conv = F.conv_transpose2d if self._spatial == 2 else F.conv_transpose1d
        assert not isinstance(self.padding, str)
        return conv(input, self.weight, self.bias, self.stride, self.padding,
                    self._output_padding(input, output_size), self.groups, self.dilation)


class ConvTranspose1d(_ConvTranspose):
    """1-d transposed convolution over ``(N, C_in, L)``; see :class:`ConvTranspose2d`."""

    _spatial = 1


class ConvTranspose2d(_ConvTranspose):
    """2-d transposed convolution ("deconvolution"): the gradient of a Conv2d with respect
    to its input, used to upsample.

    Args:
        in_channels, out_channels, kernel_size, stride, dilation, groups, bias: as
            :class:`Conv2d` (of the convolution this transposes).
        padding: the output loses ``padding`` on both sides (the padding of the
            convolution this transposes). Default: 0.
        output_padding: extra size on one side, to pick among the sizes a strided conv maps
            to one size. Default: 0.

    Attributes:
        weight: ``(in_channels, out_channels / groups, kH, kW)``, PyTorch's default init.

    Shape:
        ``(N, C_in, H, W) -> (N, C_out, H_out, W_out)`` with
        ``H_out = (H - 1) sH - 2 pH + dH (kH - 1) + output_padding + 1``.

    ``forward(input, output_size=None)``: ``output_size`` picks the output padding.
    """

    _spatial = 2

