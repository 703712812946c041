"""Pooling layers: ``MaxPool1d/2d``, ``AvgPool1d/2d``, ``AdaptiveAvgPool1d/2d``, as
``torch.nn``'s. Max and average pooling are registered ops (their shape rules report a
window larger than the padded input); adaptive pooling is average pooling or, for uneven
windows, a product with averaging matrices (see :func:`~neurarust.nn.functional.
adaptive_avg_pool2d`)."""

from __future__ import annotations

from collections.abc import Sequence

from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = [
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AvgPool1d", "AvgPool2d", "MaxPool1d",
    "MaxPool2d",
]

IntOrTuple = int | Sequence[int]


class _MaxPoolNd(Module):
    def __init__(self, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
                 padding: IntOrTuple = 0, dilation: IntOrTuple = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """1-d max pooling over ``(N, C, L)``; see :class:`MaxPool2d`."""

    def forward(self, input: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return F.max_pool1d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)


class MaxPool2d(_MaxPoolNd):
    """2-d max pooling: the maximum of each window.

    Args:
        kernel_size: window size, an int or ``(kH, kW)``.
        stride: step between windows. Default: ``kernel_size``.
        padding: implicit -inf padding on both sides, at most half the kernel. Default: 0.
        dilation: spacing between window elements. Default: 1.
        return_indices: also return the flat index of each maximum (for unpooling).
        ceil_mode: round the output size up instead of down.

    Shape:
        ``(N, C, H, W) -> (N, C, H_out, W_out)`` with
        ``H_out = (H + 2 pH - dH (kH - 1) - 1) // sH + 1`` (rounded up with ``ceil_mode``).

    Example:
        >>> nr.nn.MaxPool2d(2)(nr.zeros(8, 32, 26, 26)).shape
        (8, 32, 13, 13)
    """

    def forward(self, input: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)


class _AvgPoolNd(Module):
    def __init__(self, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
                 padding: IntOrTuple = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def _single(value: IntOrTuple) -> tuple[int, ...]:
    return (value,) if isinstance(value, int) else tuple(value)


class AvgPool1d(_AvgPoolNd):
    """1-d average pooling over ``(N, C, L)``; see :class:`AvgPool2d`."""

    def __init__(self, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
                 padding: IntOrTuple = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True) -> None:
        # PyTorch stores AvgPool1d's sizes as 1-tuples (they show in its repr).
        super().__init__(_single(kernel_size), _single(stride if stride is not None
                                                       else kernel_size), _single(padding),
                         ceil_mode, count_include_pad)

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)


class AvgPool2d(_AvgPoolNd):
    """2-d average pooling: the mean of each window.

    Args:
        kernel_size, stride, padding, ceil_mode: as :class:`MaxPool2d` (zero padding).
        count_include_pad: divide by the whole window including padding (True) or by the
            input elements it covers. Default: True.
        divisor_override: divide every window by this instead.

    Shape:
        ``(N, C, H, W) -> (N, C, H_out, W_out)`` with ``H_out = (H + 2 pH - kH) // sH + 1``.
    """

    def __init__(self, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
                 padding: IntOrTuple = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)


class _AdaptiveAvgPoolNd(Module):
    def __init__(self, output_size: int | None | Sequence[int | None]) -> None:
        super().__init__()
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """Average pooling of ``(N, C, L)`` to a fixed length ``output_size``."""

    def forward(self, input: Tensor) -> Tensor:
        size = self.output_size
        if size is None or not isinstance(size, int) and None in size:
            raise ValueError("AdaptiveAvgPool1d: output_size must be an int")
        return F.adaptive_avg_pool1d(input, size)  # type: ignore[arg-type]


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """Average pooling of ``(N, C, H, W)`` to a fixed ``output_size`` (an int, or
    ``(oH, oW)`` where None keeps that input size), whatever the input size.

    Shape:
        ``(N, C, H, W) -> (N, C, oH, oW)``

    Example:
        >>> nr.nn.AdaptiveAvgPool2d(1)(nr.zeros(8, 64, 5, 5)).shape
        (8, 64, 1, 1)
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(input, self.output_size)
