"""Public convolution and pooling functions, with ``torch.nn.functional``'s names, arguments
and defaults.

``conv1d`` is its own registered op (the same rules as ``conv2d`` with one spatial dim), so
its errors show the 3-d shapes the user passed. Arguments are normalised here into the ops'
attributes: one entry per spatial dim, and padding as (before, after) pairs.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..ops.arguments import (
    IntOrTuple,
    Padding,
    conv_padding,
    int_tuple,
    output_sizes,
    pool_attrs,
)
from ..tensor import Tensor
from ._call import apply

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "conv1d",
    "conv1d_weight",
    "conv2d",
    "conv2d_weight",
    "conv_transpose1d",
    "conv_transpose2d",
    "max_pool1d",
    "max_pool2d",
]

def _conv(n: int, input: Tensor, weight: Tensor, bias: Tensor | None, stride: IntOrTuple,
          padding: Padding, dilation: IntOrTuple, groups: int) -> Tensor:
    op = f"conv{n}d"
    st = int_tuple(stride, n, "stride", op)
    di = int_tuple(dilation, n, "dilation", op)
    pads = conv_padding(padding, weight.shape[2:], st, di, n, op)
    return apply(op, input, weight, bias, stride=st, padding=pads, dilation=di, groups=groups)


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
           padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1) -> Tensor:
    """1-d cross-correlation over (N, C_in, L) or unbatched (C_in, L) inputs.

    Args as :func:`conv2d`, with one value per argument. weight: (C_out, C_in / groups, k).

    Shape:
        ``(N, C_in, L) -> (N, C_out, (L + 2*padding - dilation*(k-1) - 1) // stride + 1)``
    """
    return _conv(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntOrTuple = 1,
           padding: Padding = 0, dilation: IntOrTuple = 1, groups: int = 1) -> Tensor:
    """2-d cross-correlation, as ``torch.nn.functional.conv2d``.

    Args:
        input: (N, C_in, H, W), or unbatched (C_in, H, W).
        weight: (C_out, C_in / groups, kH, kW).
        bias: optional (C_out,).
        stride: step between windows; an int or (sH, sW). Default: 1.
        padding: zeros added on both sides: an int, (pH, pW), ``'valid'`` (none) or
            ``'same'`` (output size = input size, stride 1 only; an odd total puts the
            extra zero after, as PyTorch). Default: 0.
        dilation: spacing between kernel elements. Default: 1.
        groups: split channels into ``groups`` independent convolutions; C_in and C_out
            must be divisible by it. Default: 1.

    Shape:
        ``H_out = (H + 2*pH - dH*(kH-1) - 1) // sH + 1``, likewise W.

    Example:
        >>> nr.conv2d(nr.zeros(8, 1, 28, 28), nr.zeros(32, 1, 3, 3)).shape
        (8, 32, 26, 26)
    """
    return _conv(2, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(n: int, input: Tensor, weight: Tensor, bias: Tensor | None,
                    stride: IntOrTuple, padding: IntOrTuple, output_padding: IntOrTuple,
                    groups: int, dilation: IntOrTuple) -> Tensor:
    op = f"conv_transpose{n}d"
    st = int_tuple(stride, n, "stride", op)
    di = int_tuple(dilation, n, "dilation", op)
    p = int_tuple(padding, n, "padding", op)
    extra = int_tuple(output_padding, n, "output_padding", op)
    if any(v < 0 for v in p) or any(v < 0 for v in extra):
        raise ValueError(f"{op}: negative padding is not supported, got padding={padding!r}, "
                         f"output_padding={output_padding!r}")
    for e, s, d in zip(extra, st, di):
        if e >= max(s, d):
            raise ValueError(f"{op}: output padding must be smaller than either stride or "
                             f"dilation, got output_padding={extra}, stride={st}, dilation={di}")
    pads = tuple((v, v - e) for v, e in zip(p, extra))
    return apply(op, input, weight, bias, stride=st, padding=pads, dilation=di, groups=groups)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: IntOrTuple = 1, padding: IntOrTuple = 0,
                     output_padding: IntOrTuple = 0, groups: int = 1,
                     dilation: IntOrTuple = 1) -> Tensor:
    """1-d transposed convolution; see :func:`conv_transpose2d`."""
    return _conv_transpose(1, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: IntOrTuple = 1, padding: IntOrTuple = 0,
                     output_padding: IntOrTuple = 0, groups: int = 1,
                     dilation: IntOrTuple = 1) -> Tensor:
    """2-d transposed convolution ("deconvolution"), as
    ``torch.nn.functional.conv_transpose2d``: the gradient of conv2d with respect to its
    input, used to upsample.

    Args:
        input: (N, C_in, H, W), or unbatched (C_in, H, W).
        weight: (C_in, C_out / groups, kH, kW).
        bias: optional (C_out,).
        stride, dilation, groups: those of the convolution this transposes.
        padding: ``dilation * (k - 1) - padding`` zeros are added on both sides, i.e. the
            output is cropped by ``padding`` on both sides.
        output_padding: extra size added after (one side only), to pick among the input
            sizes a strided conv maps to one size; smaller than stride or dilation.

    Shape:
        ``H_out = (H - 1)*sH - 2*pH + dH*(kH-1) + output_padding + 1``, likewise W.
    """
    return _conv_transpose(2, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def _conv_weight(n: int, input: Tensor, weight_size: Sequence[int], grad_output: Tensor,
                 stride: IntOrTuple, padding: IntOrTuple, dilation: IntOrTuple,
                 groups: int) -> Tensor:
    op = f"conv{n}d_weight"
    st = int_tuple(stride, n, "stride", op)
    di = int_tuple(dilation, n, "dilation", op)
    p = int_tuple(padding, n, "padding", op)
    return apply(op, input, grad_output, kernel_size=tuple(weight_size)[2:], stride=st,
                 padding=tuple((v, v) for v in p), dilation=di, groups=groups)


def conv1d_weight(input: Tensor, weight_size: Sequence[int], grad_output: Tensor,
                  stride: IntOrTuple = 1, padding: IntOrTuple = 0, dilation: IntOrTuple = 1,
                  groups: int = 1) -> Tensor:
    """The gradient of conv1d with respect to its weight (``torch.nn.grad.conv1d_weight``)."""
    return _conv_weight(1, input, weight_size, grad_output, stride, padding, dilation, groups)


def conv2d_weight(input: Tensor, weight_size: Sequence[int], grad_output: Tensor,
                  stride: IntOrTuple = 1, padding: IntOrTuple = 0, dilation: IntOrTuple = 1,
                  groups: int = 1) -> Tensor:
    """The gradient of conv2d with respect to its weight of shape ``weight_size``, given the
    convolution's input and output gradient (``torch.nn.grad.conv2d_weight``)."""
    return _conv_weight(2, input, weight_size, grad_output, stride, padding, dilation, groups)


# -- pooling ------------------------------------------------------------------------------------
def _max_pool(n: int, input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None,
              padding: IntOrTuple, dilation: IntOrTuple, ceil_mode: bool,
              return_indices: bool) -> Tensor | tuple[Tensor, Tensor]:
    op = f"max_pool{n}d"
    attrs = pool_attrs(n, op, kernel_size, stride, padding)
    out = apply(op, input, **attrs, dilation=int_tuple(dilation, n, "dilation", op),
                ceil_mode=bool(ceil_mode))
    if not return_indices:
        return out
    indices = apply(f"{op}_indices", input, **attrs, dilation=int_tuple(dilation, n, "dilation", op),
                    ceil_mode=bool(ceil_mode))
    return out, indices


def max_pool1d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0, dilation: IntOrTuple = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """1-d max pooling over (N, C, L) or (C, L); see :func:`max_pool2d`."""
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0, dilation: IntOrTuple = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """2-d max pooling, as ``torch.nn.functional.max_pool2d``: the maximum of each window.

    Args:
        input: (N, C, H, W) or (C, H, W), floating point.
        kernel_size: the window size, an int or (kH, kW).
        stride: the step between windows. Default: ``kernel_size`` (windows do not overlap).
        padding: implicit -inf padding on both sides, at most half the (dilated) window.
        dilation: spacing between window elements. Default: 1.
        ceil_mode: round the output size up (a last partial window, if it starts inside the
            input or the left padding). Default: False.
        return_indices: also return each maximum's flat index within its input plane.

    Shape:
        ``H_out = (H + 2*pH - dH*(kH-1) - 1) // sH + 1`` (rounded up with ``ceil_mode``).

    The gradient flows to the first maximal element of each window, as in PyTorch.
    """
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _avg_pool(n: int, input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None,
              padding: IntOrTuple, ceil_mode: bool, count_include_pad: bool,
              divisor_override: int | None) -> Tensor:
    op = f"avg_pool{n}d"
    return apply(op, input, **pool_attrs(n, op, kernel_size, stride, padding),
                 ceil_mode=bool(ceil_mode), count_include_pad=bool(count_include_pad),
                 divisor_override=divisor_override)


def avg_pool1d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """1-d average pooling over (N, C, L) or (C, L); see :func:`avg_pool2d`."""
    return _avg_pool(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input: Tensor, kernel_size: IntOrTuple, stride: IntOrTuple | None = None,
               padding: IntOrTuple = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """2-d average pooling, as ``torch.nn.functional.avg_pool2d``: the mean of each window.

    Args:
        input: (N, C, H, W) or (C, H, W), floating point.
        kernel_size, stride, padding, ceil_mode: as :func:`max_pool2d` (zero padding).
        count_include_pad: divide by the window size including the zero padding (True) or
            by the number of input elements in the window (False). Default: True.
        divisor_override: divide every window by this instead.

    Shape:
        ``H_out = (H + 2*pH - kH) // sH + 1`` (rounded up with ``ceil_mode``).
    """
    return _avg_pool(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def adaptive_avg_pool1d(input: Tensor, output_size: int | Sequence[int | None]) -> Tensor:
    """1-d adaptive average pooling over (N, C, L) or (C, L); see :func:`adaptive_avg_pool2d`."""
    return apply("adaptive_avg_pool1d", input,
                 output_size=output_sizes(output_size, 1, "adaptive_avg_pool1d"))


def adaptive_avg_pool2d(input: Tensor, output_size: int | None | Sequence[int | None]) -> Tensor:
    """Average pooling to a fixed output size, as ``torch.nn.functional.adaptive_avg_pool2d``.

    Output cell ``i`` of a dim of size ``H`` pooled to ``oH`` averages input rows
    ``floor(i*H/oH)`` to ``ceil((i+1)*H/oH) - 1``; ``output_size`` is an int, ``(oH, oW)``,
    with None to keep a dim. ``adaptive_avg_pool2d(x, 1)`` is global average pooling.

    Shape:
        ``(N, C, H, W) -> (N, C, oH, oW)``
    """
    return apply("adaptive_avg_pool2d", input,
                 output_size=output_sizes(output_size, 2, "adaptive_avg_pool2d"))
