"""Convolution ops, for any number of spatial dims (registered for 1-d and 2-d).

Three ops close under differentiation, so every gradient of every order is one of them:

- ``conv2d(input, weight, bias)``: the cross-correlation of ``torch.nn.functional.conv2d``;
- ``conv_transpose2d(input, weight, bias)``: its adjoint in the input (the input gradient);
- ``conv2d_weight(input, grad_output)``: its adjoint in the weight (the weight gradient),
  as ``torch.nn.grad.conv2d_weight``.

The gradients of each are written with the three (see the derivations in each backward).

Attributes (tuples with one entry per spatial dim): ``stride``, ``dilation``, ``groups`` and
``padding`` as ``(before, after)`` pairs, as in ONNX's ``pads``. Pairs express PyTorch's
``padding='same'`` with an even kernel (one more after than before) and the transposed op's
``output_padding`` (``after - output_padding``). Inside gradients a pair may be negative,
which crops; the public functions accept only what PyTorch accepts.

Shapes, per spatial dim (``k`` kernel size, ``d`` dilation, ``s`` stride, ``lo``/``hi`` pads)::

    conv:            out = (size + lo + hi - d*(k-1) - 1) // s + 1
    conv_transpose:  out = (size - 1)*s - lo - hi + d*(k-1) + 1
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from ..types.algebra import CONCRETE, DimAlgebra, Shape
from ..types.dtype import DType
from ..types.errors import RuleViolation
from .linalg import require_with_detail
from .registry import OpDef, has_values, register
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..onnx.builder import OnnxBuilder, OnnxValue

__all__ = ["Pads", "conv_output_size", "transpose_output_size"]

Dims = DimAlgebra[Any, Any]
Pads = tuple[tuple[int, int], ...]
"""Per spatial dim, the (before, after) padding."""

_SPATIAL_NAMES = {1: "L", 2: "H, W", 3: "D, H, W"}


def conv_output_size(dims: Dims, size: Any, kernel: Any, stride: int, pads: tuple[int, int],
                     dilation: int) -> Any:
    """One spatial output size of a convolution: ``(size + lo + hi - d*(k-1) - 1) // s + 1``."""
    return dims.floordiv(size + pads[0] + pads[1] - dilation * (kernel - 1) - 1, stride) + 1


def transpose_output_size(size: Any, kernel: Any, stride: int, pads: tuple[int, int],
                          dilation: int) -> Any:
    """One spatial output size of a transposed convolution."""
    return (size - 1) * stride - pads[0] - pads[1] + dilation * (kernel - 1) + 1


def _apply(name: str, first: Any, *others: Any, **attrs: Any) -> Any:
    """Registered op ``name`` on tensors, from a backward rule (ops never import the
    dispatcher: ``Tensor._apply`` reaches it)."""
    return first._apply(name, *others, **attrs)


def _show(shape: Sequence[Any]) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


class _ConvFamily(OpDef):
    """What the three conv ops share: attribute checks, layout, dtype rule."""

    spatial: ClassVar[int] = 2

    def _check_attrs(self, stride: Sequence[int], padding: Pads, dilation: Sequence[int],
                     groups: int) -> None:
        n = self.spatial
        if len(stride) != n or len(dilation) != n or len(padding) != n:
            raise RuleViolation(f"expected one stride, padding and dilation per spatial dim ({n})",
                                detail=f"stride={stride}, padding={padding}, dilation={dilation}")
        if any(s < 1 for s in stride):
            raise RuleViolation("stride must be positive", detail=f"got stride={tuple(stride)}")
        if any(d < 1 for d in dilation):
            raise RuleViolation("dilation must be positive",
                                detail=f"got dilation={tuple(dilation)}")
        if groups < 1:
            raise RuleViolation("groups must be positive", detail=f"got groups={groups}")

    def _split_input(self, x: Shape, what: str) -> tuple[Shape, Any, Shape]:
        """(batch dims (empty when unbatched), channels, spatial dims)."""
        n = self.spatial
        if len(x) not in (n + 1, n + 2):
            raise RuleViolation(
                f"expected a {n + 1}-d (unbatched) or {n + 2}-d (batched) {what}",
                detail=f"got a {len(x)}-d {what} of shape {_show(x)}; layout is "
                       f"(N, C, {_SPATIAL_NAMES.get(n, '...')}) or without N")
        return tuple(x[:-n - 1]), x[-n - 1], tuple(x[-n:])

    def _check_weight(self, w: Shape) -> None:
        n = self.spatial
        if len(w) != n + 2:
            raise RuleViolation(f"expected a {n + 2}-d weight",
                                detail=f"got a {len(w)}-d weight of shape {_show(w)}")

    def _check_bias(self, dims: Dims, b: Shape | None, channels: Any) -> None:
        if b is None:
            return
        if len(b) != 1:
            raise RuleViolation("expected a 1-d bias", detail=f"got bias of shape {_show(b)}")
        require_with_detail(dims, dims.eq(b[0], channels),
                            "bias must have one entry per output channel",
                            lambda: f"expected bias.shape[0] == {channels}, got {b[0]}")

    def dtype(self, *dtypes: DType | None, **attrs: Any) -> DType:
        given = [d for d in dtypes if d is not None]
        first = given[0]
        if not first.is_floating_point or any(d is not first for d in given):
            raise self.dtype_error("expects floating point tensors of one dtype; convert with "
                                   ".to(dtype)", *given)
        return first


class Conv(_ConvFamily):
    """Cross-correlation, as ``torch.nn.functional.conv2d`` (see the module docstring)."""

    input_names = ("input", "weight", "bias")

    def to_onnx(self, g: OnnxBuilder, x: OnnxValue, w: OnnxValue, b: OnnxValue | None = None,
                *, stride: Sequence[int], padding: Pads, dilation: Sequence[int],
                groups: int) -> OnnxValue:
        assert w.shape is not None
        x, added = g.batched(x, self.spatial)
        y = g.node("Conv", x, w, b, kernel_shape=[d.as_int() for d in w.shape[2:]],
                   strides=list(stride), dilations=list(dilation), group=groups,
                   pads=[p[0] for p in padding] + [p[1] for p in padding])
        return g.squeeze(y, [0]) if added else y

    def saves_for(self, needs_grad: tuple[bool, ...]) -> tuple[bool, ...]:
        need_x, need_w, _ = needs_grad
        return need_w, need_x, False  # d/dx reads the weight, d/dw the input, d/db nothing

    def shape(self, dims: Dims, x: Shape, w: Shape, b: Shape | None = None, *,
              stride: Sequence[int], padding: Pads, dilation: Sequence[int],
              groups: int) -> Shape:
        self._check_attrs(stride, padding, dilation, groups)
        batch, channels, sizes = self._split_input(x, "input")
        self._check_weight(w)
        out_ch, ch_per_group, kernel = w[0], w[1], tuple(w[2:])
        require_with_detail(
            dims, dims.eq(channels, ch_per_group * groups),
            "input channels must match the weight",
            lambda: f"expected in_channels == weight.shape[1] * groups, got {channels} != "
                    f"{ch_per_group} * {groups}",
            hint="weight is (out_channels, in_channels / groups, *kernel_size)")
        require_with_detail(
            dims, dims.eq(dims.mod(out_ch, groups), 0), "out_channels must be divisible by groups",
            lambda: f"weight.shape[0] = {out_ch} is not divisible by groups={groups}")
        self._check_bias(dims, b, out_ch)
        out = []
        for i in range(self.spatial):
            padded = sizes[i] + padding[i][0] + padding[i][1]
            span = dilation[i] * (kernel[i] - 1) + 1
            require_with_detail(
                dims, dims.ge(padded - span, 0),
                "the output size must be at least 1: the kernel is larger than the padded input",
                lambda: f"spatial dim {i}: padded input size {padded} < dilated kernel size "  # noqa: B023
                        f"{span}",  # noqa: B023
                hint="pad the input, or use a smaller kernel, dilation or fewer poolings")
            out.append(conv_output_size(dims, sizes[i], kernel[i], stride[i], padding[i],
                                        dilation[i]))
        return batch + (out_ch,) + tuple(out)

    def backward(self, g: Any, x: Any, w: Any, b: Any, *, out: Any, stride: Sequence[int],
                 padding: Pads, dilation: Sequence[int], groups: int) -> tuple[Any, ...]:
        n = self.spatial
        gx = gw = gb = None
        attrs: dict[str, Any] = {"stride": stride, "dilation": dilation, "groups": groups}
        if has_values(w):  # x needs its gradient: the adjoint, a transposed convolution
            gx = _apply(f"conv_transpose{n}d", g, w, None,
                        padding=_input_grad_pads(x.shape[-n:], w.shape[2:], **attrs,
                                                 padding=padding), **attrs)
        if has_values(x):  # w needs its gradient: correlate the input with grad
            gw = _apply(f"conv{n}d_weight", x, g, kernel_size=tuple(w.shape[2:]),
                        padding=padding, **attrs)
        if b is not None:
            gb = g.sum(tuple(d for d in range(g.ndim) if d != g.ndim - n - 1))
        return gx, gw, gb


def _input_grad_pads(sizes: Sequence[int], kernel: Sequence[int], *, stride: Sequence[int],
                     padding: Pads, dilation: Sequence[int], groups: int) -> Pads:
    """Pads for the transposed convolution that maps a conv's output gradient back onto the
    input's sizes: rows past the last window (dropped by the floor division) get zeros."""
    out = []
    for size, k, s, (lo, hi), d in zip(sizes, kernel, stride, padding, dilation):
        leftover = (size + lo + hi - d * (k - 1) - 1) % s
        out.append((lo, hi - leftover))
    return tuple(out)


class ConvTranspose(_ConvFamily):
    """Transposed convolution, as ``torch.nn.functional.conv_transpose2d``; ``padding``
    pairs crop the output (PyTorch's ``output_padding`` is ``after = padding - output_padding``).
    """

    input_names = ("input", "weight", "bias")

    def to_onnx(self, g: OnnxBuilder, x: OnnxValue, w: OnnxValue, b: OnnxValue | None = None,
                *, stride: Sequence[int], padding: Pads, dilation: Sequence[int],
                groups: int) -> OnnxValue:
        # ONNX pads must be >= 0: a negative "after" pad (PyTorch's output_padding) becomes
        # ConvTranspose's output_padding, which adds the same rows at the end.
        assert w.shape is not None
        x, added = g.batched(x, self.spatial)
        y = g.node("ConvTranspose", x, w, b, kernel_shape=[d.as_int() for d in w.shape[2:]],
                   strides=list(stride), dilations=list(dilation), group=groups,
                   pads=[p[0] for p in padding] + [max(p[1], 0) for p in padding],
                   output_padding=[max(-p[1], 0) for p in padding])
        return g.squeeze(y, [0]) if added else y

    def saves_for(self, needs_grad: tuple[bool, ...]) -> tuple[bool, ...]:
        need_x, need_w, _ = needs_grad
        return need_w, need_x, False

    def shape(self, dims: Dims, x: Shape, w: Shape, b: Shape | None = None, *,
              stride: Sequence[int], padding: Pads, dilation: Sequence[int],
              groups: int) -> Shape:
        self._check_attrs(stride, padding, dilation, groups)
        batch, channels, sizes = self._split_input(x, "input")
        self._check_weight(w)
        in_ch, out_per_group, kernel = w[0], w[1], tuple(w[2:])
        require_with_detail(
            dims, dims.eq(channels, in_ch), "input channels must match the weight",
            lambda: f"expected in_channels == weight.shape[0], got {channels} != {in_ch}",
            hint="a transposed convolution's weight is (in_channels, out_channels / groups, "
                 "*kernel_size)")
        require_with_detail(
            dims, dims.eq(dims.mod(in_ch, groups), 0), "in_channels must be divisible by groups",
            lambda: f"weight.shape[0] = {in_ch} is not divisible by groups={groups}")
        out_ch = out_per_group * groups
        self._check_bias(dims, b, out_ch)
        out = []
        for i in range(self.spatial):
            size = transpose_output_size(sizes[i], kernel[i], stride[i], padding[i], dilation[i])
            require_with_detail(
                dims, dims.ge(size, 1), "the output size must be at least 1",
                lambda: f"spatial dim {i}: ({sizes[i]} - 1) * {stride[i]} - "  # noqa: B023
                        f"{padding[i][0]} - {padding[i][1]} + {dilation[i]} * "  # noqa: B023
                        f"({kernel[i]} - 1) + 1 = {size}",  # noqa: B023
                hint="reduce the padding")
            out.append(size)
        return batch + (out_ch,) + tuple(out)

    def backward(self, g: Any, x: Any, w: Any, b: Any, *, out: Any, stride: Sequence[int],
                 padding: Pads, dilation: Sequence[int], groups: int) -> tuple[Any, ...]:
        # y[c, p*s + k*d - lo] += x[o, p] * w[o, c, k]. Then dL/dx = conv(g, w) with the same
        # attributes (it has exactly x's sizes), and dL/dw[o, c, k] = sum_p x[o, p] *
        # g[c, p*s + k*d - lo], the weight gradient of conv(g) with grad_output x.
        n = self.spatial
        attrs: dict[str, Any] = {"stride": stride, "padding": padding, "dilation": dilation,
                                    "groups": groups}
        gx = _apply(f"conv{n}d", g, w, None, **attrs) if has_values(w) else None
        gw = (_apply(f"conv{n}d_weight", g, x, kernel_size=tuple(w.shape[2:]), **attrs)
              if has_values(x) else None)
        gb = None
        if b is not None:
            gb = g.sum(tuple(d for d in range(g.ndim) if d != g.ndim - n - 1))
        return gx, gw, gb


class ConvWeight(_ConvFamily):
    """The weight gradient of a convolution, as ``torch.nn.grad.conv2d_weight``:
    ``out[o, c, k] = sum over batch and positions p of grad[o, p] * input[c, p*s + k*d - lo]``
    (channels within one group). Bilinear in (input, grad_output)."""

    input_names = ("input", "grad_output")

    def saves_for(self, needs_grad: tuple[bool, ...]) -> tuple[bool, ...]:
        need_x, need_g = needs_grad
        return need_g, need_x

    def to_onnx(self, g: OnnxBuilder, x: OnnxValue, go: OnnxValue, *,
                kernel_size: Sequence[int], stride: Sequence[int], padding: Pads,
                dilation: Sequence[int], groups: int) -> OnnxValue:
        # A Conv with batch and channels swapped: the input's channels become the batch,
        # grad_output's channels the filters and the batch the summed channel, with stride
        # and dilation exchanged; the result (C, O, k') is cut to the kernel and transposed.
        if groups != 1:
            raise NotImplementedError(f"conv{self.spatial}d_weight with groups={groups}")
        n = self.spatial
        x, _ = g.batched(x, n)
        go, _ = g.batched(go, n)
        perm = [1, 0] + list(range(2, n + 2))
        y = g.node("Conv", g.transpose(x, perm), g.transpose(go, perm), strides=list(dilation),
                   dilations=list(stride), pads=[p[0] for p in padding] + [p[1] for p in padding])
        y = g.node("Slice", y, g.ints([0] * n), g.ints(list(kernel_size)),
                   g.ints(list(range(2, n + 2))))
        return g.node("Transpose", y, perm=perm)

    def shape(self, dims: Dims, x: Shape, g: Shape, *, kernel_size: Sequence[Any],
              stride: Sequence[int], padding: Pads, dilation: Sequence[int],
              groups: int) -> Shape:
        self._check_attrs(stride, padding, dilation, groups)
        batch, channels, sizes = self._split_input(x, "input")
        gbatch, out_ch, gsizes = self._split_input(g, "grad_output")
        if len(batch) != len(gbatch) or len(kernel_size) != self.spatial:
            raise RuleViolation("input and grad_output must both be batched or both unbatched",
                                detail=f"input {_show(x)}, grad_output {_show(g)}, "
                                       f"kernel_size={tuple(kernel_size)}")
        for a, c in zip(batch, gbatch):
            require_with_detail(dims, dims.eq(a, c), "batch sizes must match",
                                lambda: f"input batch {a} != grad_output batch {c}")  # noqa: B023
        for what, ch in (("in_channels", channels), ("out_channels", out_ch)):
            require_with_detail(
                dims, dims.eq(dims.mod(ch, groups), 0), f"{what} must be divisible by groups",
                lambda: f"{what} = {ch} is not divisible by groups={groups}")  # noqa: B023
        for i in range(self.spatial):
            expected = conv_output_size(dims, sizes[i], kernel_size[i], stride[i], padding[i],
                                        dilation[i])
            require_with_detail(
                dims, dims.eq(gsizes[i], expected),
                "grad_output's size does not match the convolution of input",
                lambda: f"spatial dim {i}: expected {expected}, got {gsizes[i]}")  # noqa: B023
        return (out_ch, dims.floordiv(channels, groups)) + tuple(kernel_size)

    def backward(self, gw: Any, x: Any, g: Any, *, out: Any, kernel_size: Sequence[int],
                 stride: Sequence[int], padding: Pads, dilation: Sequence[int],
                 groups: int) -> tuple[Any, ...]:
        # out[o, c, k] = sum_p g[o, p] * x[c, p*s + k*d - lo]: for an upstream gw, dL/dx is the
        # input gradient of conv(x, gw) given g (a transposed conv), and dL/dg = conv(x, gw).
        n = self.spatial
        attrs: dict[str, Any] = {"stride": stride, "dilation": dilation, "groups": groups}
        gx = gg = None
        if has_values(g):
            gx = _apply(f"conv_transpose{n}d", g, gw, None,
                        padding=_input_grad_pads(x.shape[-n:], kernel_size, **attrs,
                                                 padding=padding), **attrs)
        if has_values(x):
            gg = _apply(f"conv{n}d", x, gw, None, padding=padding, **attrs)
        return gx, gg


@register
class Conv1d(Conv):
    """``torch.nn.functional.conv1d``: input (N, C, L), weight (O, C / groups, k)."""

    name = "conv1d"

    range_rule = "conv"

    spatial = 1


@register
class Conv2d(Conv):
    """``torch.nn.functional.conv2d``: input (N, C, H, W), weight (O, C / groups, kh, kw)."""

    name = "conv2d"

    range_rule = "conv"

    onnx_import = ("Conv",)
    spatial = 2


@register
class ConvTranspose1d(ConvTranspose):
    """``torch.nn.functional.conv_transpose1d``: input (N, C, L), weight (C, O / groups, k)."""

    name = "conv_transpose1d"
    range_rule = "conv"
    spatial = 1


@register
class ConvTranspose2d(ConvTranspose):
    """``torch.nn.functional.conv_transpose2d``: input (N, C, H, W), weight
    (C, O / groups, kh, kw)."""

    name = "conv_transpose2d"
    range_rule = "conv"
    spatial = 2


@register
class Conv1dWeight(ConvWeight):
    """``torch.nn.grad.conv1d_weight``: conv1d's weight gradient, (O, C / groups, k)."""

    name = "conv1d_weight"
    spatial = 1


@register
class Conv2dWeight(ConvWeight):
    """``torch.nn.grad.conv2d_weight``: conv2d's weight gradient, (O, C / groups, kh, kw)."""

    name = "conv2d_weight"
    spatial = 2


# -- pooling ------------------------------------------------------------------------------------
def pool_output_size(dims: Dims, size: Any, kernel: int, stride: int, padding: int,
                     dilation: int, ceil_mode: bool) -> Any:
    """One spatial output size of a pooling, as PyTorch: floor (or ceil) of the window count,
    where with ``ceil_mode`` a last window that would start in the right padding is dropped."""
    span = dilation * (kernel - 1) + 1
    out = dims.floordiv(size + 2 * padding - span + (stride - 1 if ceil_mode else 0), stride) + 1
    if ceil_mode:
        out = dims.select(dims.ge((out - 1) * stride, size + padding), out - 1, out)
    return out


class _Pool(_ConvFamily):
    """What max and average pooling share: attributes, the output size rule, layout."""

    input_names: tuple[str, ...] = ("input",)

    def _check_pool_attrs(self, kernel_size: Sequence[int], stride: Sequence[int],
                          padding: Sequence[int], dilation: Sequence[int]) -> None:
        n = self.spatial
        if not len(kernel_size) == len(stride) == len(padding) == len(dilation) == n:
            raise RuleViolation(f"expected one kernel_size, stride, padding and dilation per "
                                f"spatial dim ({n})",
                                detail=f"kernel_size={kernel_size}, stride={stride}, "
                                       f"padding={padding}, dilation={dilation}")
        for what, values in (("kernel_size", kernel_size), ("stride", stride),
                             ("dilation", dilation)):
            if any(v < 1 for v in values):
                raise RuleViolation(f"{what} must be positive", detail=f"got {what}={values}")
        for k, p in zip(kernel_size, padding):
            if p < 0 or 2 * p > k:  # PyTorch's check: the kernel size, not the dilated window
                raise RuleViolation("pad should be at most half of kernel size",
                                    detail=f"got padding={tuple(padding)}, kernel_size="
                                           f"{tuple(kernel_size)}, dilation={tuple(dilation)}")

    def pool_shape(self, dims: Dims, x: Shape, kernel_size: Sequence[int], stride: Sequence[int],
                   padding: Sequence[int], dilation: Sequence[int], ceil_mode: bool) -> Shape:
        self._check_pool_attrs(kernel_size, stride, padding, dilation)
        lead = tuple(x[:-self.spatial])
        if len(x) not in (self.spatial + 1, self.spatial + 2):
            self._split_input(x, "input")  # raises the rank error
        sizes = tuple(x[-self.spatial:])
        out = []
        for i in range(self.spatial):
            span = dilation[i] * (kernel_size[i] - 1) + 1
            padded = sizes[i] + 2 * padding[i]
            require_with_detail(
                dims, dims.ge(padded - span, 0),
                "the output size must be at least 1: the window is larger than the padded input",
                lambda: f"spatial dim {i}: padded input size {padded} < window size "  # noqa: B023
                        f"{span}",  # noqa: B023
                hint="use a smaller kernel_size, or pad the input")
            out.append(pool_output_size(dims, sizes[i], kernel_size[i], stride[i], padding[i],
                                        dilation[i], ceil_mode))
        return lead + tuple(out)

    def dtype(self, *dtypes: DType | None, **attrs: Any) -> DType:
        (a,) = dtypes
        assert a is not None
        if not a.is_floating_point:
            raise self.dtype_error("expects a floating point input; convert with .to(dtype)", a)
        return a


class MaxPool(_Pool):
    """``torch.nn.functional.max_pool2d``: the maximum of each (dilated) window; padding
    counts as -inf. The gradient goes to the first maximal element of each window."""

    def shape(self, dims: Dims, x: Shape, *, kernel_size: Sequence[int], stride: Sequence[int],
              padding: Sequence[int], dilation: Sequence[int], ceil_mode: bool) -> Shape:
        return self.pool_shape(dims, x, kernel_size, stride, padding, dilation, ceil_mode)

    def to_onnx(self, g: OnnxBuilder, x: OnnxValue, *, kernel_size: Sequence[int],
                stride: Sequence[int], padding: Sequence[int], dilation: Sequence[int],
                ceil_mode: bool) -> OnnxValue:
        return _onnx_max_pool(g, x, self.spatial, 0, kernel_size, stride, padding, dilation,
                              ceil_mode)

    def backward(self, g: Any, x: Any, *, out: Any, **attrs: Any) -> tuple[Any, ...]:
        # Each output gradient goes to its window's first maximum: the adjoint op, which
        # finds the argmax again (ops are stateless) and scatters in one kernel.
        return (_apply(f"max_pool{self.spatial}d_backward", g, x, **attrs),)


def _onnx_max_pool(g: OnnxBuilder, x: OnnxValue, spatial: int, output: int,
                   kernel_size: Sequence[int], stride: Sequence[int], padding: Sequence[int],
                   dilation: Sequence[int], ceil_mode: bool) -> OnnxValue:
    """ONNX MaxPool's values (``output`` 0) or its int64 indices (1), which ONNX flattens over
    the whole (N, C, *spatial) tensor and PyTorch over each plane: the remainder by the plane
    size converts them."""
    from ..types import dtype as dt

    xb, added = g.batched(x, spatial)
    attrs: dict[str, Any] = {"kernel_shape": list(kernel_size), "strides": list(stride),
                             "pads": list(padding) * 2, "dilations": list(dilation),
                             "ceil_mode": int(ceil_mode)}
    if output == 0:
        y = g.node("MaxPool", xb, **attrs)
    else:
        assert x.shape is not None
        plane = 1
        for d in x.shape[-spatial:]:
            if not d.is_constant:
                raise NotImplementedError("max pooling indices over a symbolic spatial size")
            plane *= d.as_int()
        _, flat = g.node_outputs("MaxPool", xb, dtypes=[x.dtype, dt.int64], **attrs)
        y = g.node("Mod", flat, g.ints([plane]), dtype=dt.int64)
    return g.squeeze(y, [0]) if added else y


class MaxPoolBackward(_Pool):
    """max_pool's gradient (PyTorch's ``max_pool2d_with_indices_backward``): a zero tensor
    shaped like ``input`` with each ``grad_output`` entry added at its window's first maximum
    (the index ``max_pool2d(..., return_indices=True)`` gives); windows wholly in the padding
    pass nothing. Linear in ``grad_output``: its gradient there is the gather at the same
    indices (``input`` gets none: the argmax is piecewise constant), so every order works."""

    input_names = ("grad_output", "input")
    nondiff_inputs = (1,)

    def saves_for(self, needs_grad: tuple[bool, ...]) -> tuple[bool, ...]:
        return False, True  # the gradient reads the input (for the argmax), never the grad

    def shape(self, dims: Dims, g: Shape, x: Shape, *, kernel_size: Sequence[int],
              stride: Sequence[int], padding: Sequence[int], dilation: Sequence[int],
              ceil_mode: bool) -> Shape:
        pooled = self.pool_shape(dims, x, kernel_size, stride, padding, dilation, ceil_mode)
        if len(g) != len(pooled):
            raise RuleViolation("grad_output must have the shape of the pooled input",
                                detail=f"expected {_show(pooled)}, got {_show(g)}")
        for i, (a, b) in enumerate(zip(g, pooled)):
            require_with_detail(
                dims, dims.eq(a, b), "grad_output must have the shape of the pooled input",
                lambda: f"dim {i}: expected {b}, got {a}; input {_show(x)}")  # noqa: B023
        return tuple(x)

    def dtype(self, *dtypes: DType | None, **attrs: Any) -> DType:
        return _ConvFamily.dtype(self, *dtypes)

    def backward(self, gg: Any, g: Any, x: Any, *, out: Any, **attrs: Any) -> tuple[Any, ...]:
        n = self.spatial
        index = _apply(f"max_pool{n}d_indices", x, **attrs)
        lead = tuple(x.shape[:-n])
        empty = _may_have_empty_windows(x.shape[-n:], **attrs)
        flat_index = (index.clamp(min=0) if empty else index).reshape(lead + (-1,))
        picked = gg.reshape(lead + (-1,)).gather(len(lead), flat_index).reshape(g.shape)
        if empty:  # windows wholly in the padding (index -1) received nothing
            picked = picked * index.ge(0).to(picked.dtype)
        return picked, None


def _may_have_empty_windows(sizes: Sequence[int], *, kernel_size: Sequence[int],
                            stride: Sequence[int], padding: Sequence[int],
                            dilation: Sequence[int], ceil_mode: bool) -> bool:
    """Whether some pooling window holds padding only: possible only with dilation (padding
    is at most half the kernel), when the dilated taps can step over the whole input."""
    for size, k, s, p, d in zip(sizes, kernel_size, stride, padding, dilation):
        if d == 1:
            continue
        out = pool_output_size(CONCRETE, size, k, s, p, d, ceil_mode)
        for o in range(out):
            start = o * s - p
            steps = (max(-start, 0) + d - 1) // d
            if steps >= k or start + steps * d >= size:
                return True
    return False


class MaxPoolIndices(_Pool):
    """The flat index (over each input plane's spatial dims) of every window's maximum, as
    ``max_pool2d(..., return_indices=True)`` returns; no gradient."""

    differentiable = False

    def shape(self, dims: Dims, x: Shape, *, kernel_size: Sequence[int], stride: Sequence[int],
              padding: Sequence[int], dilation: Sequence[int], ceil_mode: bool) -> Shape:
        return self.pool_shape(dims, x, kernel_size, stride, padding, dilation, ceil_mode)

    def dtype(self, *dtypes: DType | None, **attrs: Any) -> DType:
        from ..types import dtype as dt

        super().dtype(*dtypes)
        return dt.int64

    def to_onnx(self, g: OnnxBuilder, x: OnnxValue, *, kernel_size: Sequence[int],
                stride: Sequence[int], padding: Sequence[int], dilation: Sequence[int],
                ceil_mode: bool) -> OnnxValue:
        return _onnx_max_pool(g, x, self.spatial, 1, kernel_size, stride, padding, dilation,
                              ceil_mode)


class AvgPool(_Pool):
    """``torch.nn.functional.avg_pool2d``: the mean of each window. The divisor is the window
    size clipped to the padded input (``count_include_pad``) or to the input itself, or
    ``divisor_override``. Linear: its gradient is its adjoint, ``avg_pool2d_backward``."""

    save_inputs = False

    def shape(self, dims: Dims, x: Shape, *, kernel_size: Sequence[int], stride: Sequence[int],
              padding: Sequence[int], ceil_mode: bool, count_include_pad: bool,
              divisor_override: int | None) -> Shape:
        if divisor_override is not None and divisor_override < 1:
            raise RuleViolation("divisor_override must be positive",
                                detail=f"got divisor_override={divisor_override}")
        return self.pool_shape(dims, x, kernel_size, stride, padding, (1,) * self.spatial,
                               ceil_mode)

    def to_onnx(self, g: OnnxBuilder, x: OnnxValue, *, kernel_size: Sequence[int],
                stride: Sequence[int], padding: Sequence[int], ceil_mode: bool,
                count_include_pad: bool, divisor_override: int | None) -> OnnxValue:
        xb, added = g.batched(x, self.spatial)
        window = 1
        for k in kernel_size:
            window *= k
        if divisor_override is not None and ceil_mode:
            # ceil_mode's last windows are clipped, so their divisor is not the kernel size
            raise NotImplementedError(f"avg_pool{self.spatial}d with divisor_override and "
                                      "ceil_mode has no ONNX mapping")
        y = g.node("AveragePool", xb, kernel_shape=list(kernel_size), strides=list(stride),
                   pads=list(padding) * 2, ceil_mode=int(ceil_mode),
                   count_include_pad=int(count_include_pad or divisor_override is not None))
        if divisor_override is not None:  # the window sum over the given divisor
            y = g.node("Mul", y, g.scalar(window / divisor_override, x))
        return g.squeeze(y, [0]) if added else y

    def backward(self, g: Any, x: Any, *, out: Any, **attrs: Any) -> tuple[Any, ...]:
        n = self.spatial
        return (_apply(f"avg_pool{n}d_backward", g, input_size=tuple(x.shape[-n:]), **attrs),)


class AvgPoolBackward(_Pool):
    """The adjoint of avg_pool: each output gradient, divided by its window's divisor, is
    added to every element of the window; ``input_size`` is the pooled input's spatial size.
    Its own gradient is avg_pool again."""

    save_inputs = False
    input_names = ("grad_output",)

    def shape(self, dims: Dims, g: Shape, *, input_size: Sequence[Any],
              kernel_size: Sequence[int], stride: Sequence[int], padding: Sequence[int],
              ceil_mode: bool, count_include_pad: bool, divisor_override: int | None) -> Shape:
        n = self.spatial
        if len(input_size) != n:
            raise RuleViolation(f"expected input_size to have {n} entries",
                                detail=f"got input_size={tuple(input_size)}")
        lead = tuple(g[:-n])
        pooled = self.pool_shape(dims, lead + tuple(input_size), kernel_size, stride, padding,
                                 (1,) * n, ceil_mode)
        for i in range(n):
            require_with_detail(
                dims, dims.eq(g[len(lead) + i], pooled[len(lead) + i]),
                "grad_output's size does not match the pooling of input_size",
                lambda: f"spatial dim {i}: expected {pooled[len(lead) + i]}, got "  # noqa: B023
                        f"{g[len(lead) + i]}")  # noqa: B023
        return lead + tuple(input_size)

    def backward(self, gg: Any, g: Any, *, out: Any, input_size: Any,
                 **attrs: Any) -> tuple[Any, ...]:
        return (_apply(f"avg_pool{self.spatial}d", gg, **attrs),)


@register
class MaxPool1d(MaxPool):
    """``torch.nn.functional.max_pool1d`` over (N, C, L) or (C, L)."""

    name = "max_pool1d"

    range_rule = "max_pool"

    spatial = 1


@register
class MaxPool2d(MaxPool):
    """``torch.nn.functional.max_pool2d`` over (N, C, H, W) or (C, H, W)."""

    name = "max_pool2d"

    range_rule = "max_pool"

    onnx_import = ("MaxPool",)
    spatial = 2


@register
class MaxPool1dIndices(MaxPoolIndices):
    """The indices ``max_pool1d(..., return_indices=True)`` returns."""

    name = "max_pool1d_indices"
    range_rule = "pool_indices"
    spatial = 1


@register
class MaxPool2dIndices(MaxPoolIndices):
    """The indices ``max_pool2d(..., return_indices=True)`` returns (flat over H*W)."""

    name = "max_pool2d_indices"
    range_rule = "pool_indices"
    spatial = 2


@register
class MaxPool1dBackward(MaxPoolBackward):
    """max_pool1d's gradient (its adjoint at the argmax)."""

    name = "max_pool1d_backward"
    spatial = 1


@register
class MaxPool2dBackward(MaxPoolBackward):
    """max_pool2d's gradient (its adjoint at the argmax)."""

    name = "max_pool2d_backward"
    spatial = 2


@register
class AvgPool1d(AvgPool):
    """``torch.nn.functional.avg_pool1d`` over (N, C, L) or (C, L)."""

    name = "avg_pool1d"

    range_rule = "avg_pool"
    spatial = 1


@register
class AvgPool2d(AvgPool):
    """``torch.nn.functional.avg_pool2d`` over (N, C, H, W) or (C, H, W)."""

    name = "avg_pool2d"

    range_rule = "avg_pool"

    onnx_import = ("AveragePool",)
    spatial = 2


@register
class AvgPool1dBackward(AvgPoolBackward):
    """avg_pool1d's gradient (its adjoint)."""

    name = "avg_pool1d_backward"
    spatial = 1


@register
class AvgPool2dBackward(AvgPoolBackward):
    """avg_pool2d's gradient (its adjoint)."""

    name = "avg_pool2d_backward"
    spatial = 2


# -- adaptive average pooling ---------------------------------------------------------------------
class _AdaptiveAvgPool(_Pool):
    """Shared by adaptive_avg_pool and its adjoint: window ``i`` of a dim of size ``size``
    pooled to ``out`` spans ``[floor(i*size/out), ceil((i+1)*size/out))``, as PyTorch."""

    def _resolve(self, x: Shape, output_size: Sequence[int | None]) -> tuple[Shape, Shape]:
        n = self.spatial
        if len(x) not in (n + 1, n + 2):
            self._split_input(x, "input")  # raises the rank error
        if len(output_size) != n or any(o is not None and o < 0 for o in output_size):
            raise RuleViolation(f"expected output_size to be {n} sizes >= 0 (or None)",
                                detail=f"got output_size={tuple(output_size)}")
        sizes = tuple(x[-n:])
        out = tuple(s if o is None else o for s, o in zip(sizes, output_size))
        return tuple(x[:-n]), out


class AdaptiveAvgPool(_AdaptiveAvgPool):
    """``torch.nn.functional.adaptive_avg_pool2d``: average windows chosen so that the output
    has ``output_size`` (None keeps that dim). Linear: its gradient is its adjoint."""

    save_inputs = False

    def shape(self, dims: Dims, x: Shape, *, output_size: Sequence[int | None]) -> Shape:
        lead, out = self._resolve(x, output_size)
        for i, size in enumerate(x[-self.spatial:]):
            require_with_detail(
                dims, dims.ge(size, 1), "the input's spatial dims must not be empty",
                lambda: f"spatial dim {i} has size {size}")  # noqa: B023
        return lead + out

    def backward(self, g: Any, x: Any, *, out: Any,
                 output_size: Sequence[int | None]) -> tuple[Any, ...]:
        n = self.spatial
        return (_apply(f"adaptive_avg_pool{n}d_backward", g, input_size=tuple(x.shape[-n:])),)

    def to_onnx(self, g: OnnxBuilder, x: OnnxValue, *,
                output_size: Sequence[int | None]) -> OnnxValue:
        # Output size 1 everywhere is GlobalAveragePool; otherwise each pooled dim is a
        # MatMul with its (out, size) window-averaging matrix, which needs a concrete size.
        import numpy as np

        assert x.shape is not None
        n = self.spatial
        if all(o == 1 for o in output_size):
            xb, added = g.batched(x, n)
            y = g.node("GlobalAveragePool", xb)
            return g.squeeze(y, [0]) if added else y
        rank = len(x.shape)
        y = x
        for i, o in enumerate(output_size):
            axis = rank - n + i
            size = x.shape[axis]
            if o is None or (size.is_constant and size.as_int() == o):
                continue
            if not size.is_constant:
                raise NotImplementedError(f"adaptive_avg_pool{n}d of the symbolic size {size} "
                                          f"to {o}")
            m = size.as_int()
            matrix = np.zeros((m, o))
            for j in range(o):
                lo, hi = (j * m) // o, -(-((j + 1) * m) // o)
                matrix[lo:hi, j] = 1.0 / (hi - lo)
            if axis == rank - 1:
                y = g.node("MatMul", y, g.const(matrix, x.dtype))
            else:  # pool the dim before last: matrix.T @ y
                y = g.node("MatMul", g.const(matrix.T, x.dtype), y)
        return y if y is not x else g.node("Identity", x)


class AdaptiveAvgPoolBackward(_AdaptiveAvgPool):
    """The adjoint of adaptive_avg_pool (its gradient); ``input_size`` is the pooled input's
    spatial size. Its own gradient is adaptive_avg_pool again."""

    save_inputs = False
    input_names = ("grad_output",)

    def shape(self, dims: Dims, g: Shape, *, input_size: Sequence[Any]) -> Shape:
        n = self.spatial
        if len(input_size) != n:
            raise RuleViolation(f"expected input_size to have {n} entries",
                                detail=f"got input_size={tuple(input_size)}")
        lead = tuple(g[:-n])
        self._split_input(lead + tuple(input_size), "input")
        return lead + tuple(input_size)

    def backward(self, gg: Any, g: Any, *, out: Any, input_size: Any) -> tuple[Any, ...]:
        n = self.spatial
        return (_apply(f"adaptive_avg_pool{n}d", gg, output_size=tuple(g.shape[-n:])),)


@register
class AdaptiveAvgPool1d(AdaptiveAvgPool):
    """``torch.nn.functional.adaptive_avg_pool1d`` over (N, C, L) or (C, L)."""

    name = "adaptive_avg_pool1d"
    range_rule = "avg_pool"
    spatial = 1


@register
class AdaptiveAvgPool2d(AdaptiveAvgPool):
    """``torch.nn.functional.adaptive_avg_pool2d`` over (N, C, H, W) or (C, H, W)."""

    name = "adaptive_avg_pool2d"
    range_rule = "avg_pool"

    onnx_import = ("GlobalAveragePool",)
    spatial = 2


@register
class AdaptiveAvgPool1dBackward(AdaptiveAvgPoolBackward):
    """adaptive_avg_pool1d's gradient (its adjoint)."""

    name = "adaptive_avg_pool1d_backward"
    spatial = 1


@register
class AdaptiveAvgPool2dBackward(AdaptiveAvgPoolBackward):
    """adaptive_avg_pool2d's gradient (its adjoint)."""

    name = "adaptive_avg_pool2d_backward"
    spatial = 2
