"""ONNX pooling import: ``MaxPool``, ``AveragePool``, ``LpPool`` over 1-3 spatial dims.

The common case (symmetric pads within half the kernel, no dilation for averages) maps onto
the registry's ``max_pool{1,2}d`` / ``avg_pool{1,2}d``. Every other case (asymmetric or
``SAME`` pads, ``ceil_mode`` windows, dilated averages, 3-d) is written separably: the input
is padded once (``-inf`` for max, zeros for sums) and each spatial axis is reduced in turn
with a 1-d window op (``max_pool1d``, or ``conv1d`` with a ones kernel for sums). Windows are
boxes, so max and sum are separable; an average divides the window sum by the number of
counted cells, computed from the sizes alone (a constant), as ONNX's reference counts them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import functions as fn
from ..tensor import Tensor
from ..types.dtype import float32
from ._budget import current
from ._importers import ImportContext, OnnxUnsupported, _reg, _text

__all__: list[str] = []


@dataclass(frozen=True)
class _Geometry:
    """Per spatial axis: kernel, stride, dilation, pads before/after, output length."""

    kernel: list[int]
    strides: list[int]
    dilations: list[int]
    begin: list[int]
    end: list[int]
    out: list[int]

    @property
    def symmetric(self) -> bool:
        return self.begin == self.end and all(
            p <= k // 2 for p, k in zip(self.begin, self.kernel))


def _geometry(x: Tensor, a: dict[str, Any], op: str) -> _Geometry:
    n = x.ndim - 2
    if n < 1:
        raise OnnxUnsupported(f"{op} of a {x.ndim}-d input (expected N, C, spatial...)")
    kernel = [int(v) for v in a["kernel_shape"]]
    strides = [int(v) for v in a.get("strides", [1] * n)]
    dil = [int(v) for v in a.get("dilations", [1] * n)]
    if len(kernel) != n or len(strides) != n or len(dil) != n:
        raise OnnxUnsupported(f"{op}: kernel_shape {kernel}, strides {strides} and dilations "
                              f"{dil} do not match {n} spatial dims")
    if min(kernel + strides + dil) < 1:
        raise OnnxUnsupported(f"{op}: kernel_shape {kernel}, strides {strides}, dilations "
                              f"{dil} must be >= 1")
    sizes = [int(v) for v in x.shape[2:]]
    auto = _text(a.get("auto_pad", "NOTSET"))
    ceil = bool(a.get("ceil_mode", 0))
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        out = [-(-size // s) for size, s in zip(sizes, strides)]
        total = [max(0, (o - 1) * s + k - size)
                 for o, s, k, size in zip(out, strides, kernel, sizes)]
        small = [t // 2 for t in total]
        big = [t - t // 2 for t in total]
        begin, end = (small, big) if auto == "SAME_UPPER" else (big, small)
        return _Geometry(kernel, strides, dil, begin, end, out)
    pads = [0] * (2 * n) if auto == "VALID" else [int(v) for v in a.get("pads", [0] * (2 * n))]
    begin, end = pads[:n], pads[n:]
    out = []
    for i in range(n):
        span = sizes[i] + begin[i] + end[i] - dil[i] * (kernel[i] - 1) - 1
        if span < 0:
            raise OnnxUnsupported(f"{op}: the window ({kernel[i]} dilated {dil[i]}) is larger "
                                  f"than the padded input along spatial dim {i} ({sizes[i]})")
        o = (-(-span // strides[i]) if ceil else span // strides[i]) + 1
        if ceil and (o - 1) * strides[i] >= sizes[i] + begin[i]:
            o -= 1  # the last window must start inside the input or its leading pad
        out.append(o)
    # the padded input is materialised: refuse absurd pads before it is
    padded = [x.shape[0], x.shape[1], *(sizes[i] + begin[i] + end[i] for i in range(n))]
    current().shape(padded, f"{op}: the input padded by {pads}")
    return _Geometry(kernel, strides, dil, begin, end, out)


def _pad_spatial(x: Tensor, g: _Geometry, value: float) -> Tensor:
    """``x`` padded by the geometry's pads, then at the end up to the last window's reach."""
    for i in range(len(g.kernel)):
        ax = 2 + i
        size = int(x.shape[ax])
        need = (g.out[i] - 1) * g.strides[i] + g.dilations[i] * (g.kernel[i] - 1) + 1
        after = max(need - size - g.begin[i], 0)
        if g.begin[i] == 0 and after == 0:
            continue
        src = np.arange(-g.begin[i], size + after, dtype=np.int64)
        inside = (src >= 0) & (src < size)
        y = fn.index_select(x, ax, fn.tensor(np.clip(src, 0, max(size - 1, 0))))
        shape = [1] * x.ndim
        shape[ax] = len(src)
        x = fn.where(fn.tensor(inside.reshape(shape)), y, fn.full([], value, dtype=x.dtype))
    return x


def _along_axes(x: Tensor, g: _Geometry, window: Callable[[Tensor, int], Tensor]) -> Tensor:
    """Apply a 1-d window reduction (``(M, 1, L) -> (M, 1, L')``) to each spatial axis."""
    for i in range(len(g.kernel)):
        ax = 2 + i
        moved = fn.movedim(x, ax, -1)
        lead = [int(v) for v in moved.shape[:-1]]
        flat = fn.reshape(moved, [-1, 1, int(moved.shape[-1])])
        y = window(flat, i)[:, :, :g.out[i]]
        x = fn.movedim(fn.reshape(y, lead + [g.out[i]]), -1, ax)
    return x


def _window_sum(x: Tensor, g: _Geometry) -> Tensor:
    def run(flat: Tensor, i: int) -> Tensor:
        ones = fn.ones([1, 1, g.kernel[i]], dtype=flat.dtype)
        return fn.conv1d(flat, ones, None, stride=g.strides[i], dilation=g.dilations[i])
    return _along_axes(_pad_spatial(x, g, 0.0), g, run)


def _counts(x: Tensor, g: _Geometry, include_pad: bool) -> np.ndarray:  # type: ignore[type-arg]
    """How many cells each window averages: inside the input, plus the explicit pads when
    ``count_include_pad`` (never the extra cells a ``ceil_mode`` window reaches)."""
    per_axis = []
    for i in range(len(g.kernel)):
        size = int(x.shape[2 + i])
        lo, hi = (-g.begin[i], size + g.end[i]) if include_pad else (0, size)
        starts = np.arange(g.out[i]) * g.strides[i] - g.begin[i]
        taps = starts[:, None] + np.arange(g.kernel[i])[None, :] * g.dilations[i]
        per_axis.append(((taps >= lo) & (taps < hi)).sum(axis=1))
    counts = per_axis[0]
    for c in per_axis[1:]:
        counts = np.multiply.outer(counts, c)
    return np.asarray(counts, dtype=np.float64)


@_reg("MaxPool")
def _maxpool(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    g = _geometry(x, a, "MaxPool")
    n = len(g.kernel)
    work = x if x.dtype.is_floating_point else fn.cast(x, dtype=float32)
    want_indices = a.get("_n_outputs", 1) > 1
    if n <= 2 and g.symmetric:
        f = fn.max_pool1d if n == 1 else fn.max_pool2d
        res = f(work, tuple(g.kernel), tuple(g.strides), tuple(g.begin), tuple(g.dilations),
                bool(a.get("ceil_mode", 0)), return_indices=want_indices)
        y, idx = res if isinstance(res, tuple) else (res, None)
    else:
        if want_indices:
            raise OnnxUnsupported(f"MaxPool indices over {n} spatial dims with these pads")

        def run(flat: Tensor, i: int) -> Tensor:
            out = fn.max_pool1d(flat, g.kernel[i], g.strides[i], 0, g.dilations[i], False)
            assert isinstance(out, Tensor)
            return out
        y = _along_axes(_pad_spatial(work, g, float("-inf")), g, run)
        idx = None
    if y.dtype is not x.dtype:
        y = fn.cast(y, dtype=x.dtype)
    if idx is None:
        return [y]
    return [y, _onnx_indices(idx, x, int(a.get("storage_order", 0)))]


def _onnx_indices(idx: Tensor, x: Tensor, storage_order: int) -> Tensor:
    """PyTorch's per-plane flat indices as ONNX's: flat over (N, C, *spatial), row-major, or
    column-major over the spatial dims when ``storage_order=1`` (2-d)."""
    sizes = [int(v) for v in x.shape]
    plane = int(np.prod(sizes[2:]))
    lead = np.arange(sizes[0] * sizes[1], dtype=np.int64).reshape(
        sizes[0], sizes[1], *([1] * (x.ndim - 2))) * plane
    if storage_order and x.ndim == 4:
        h, w = sizes[2], sizes[3]
        row = fn.div(idx, w, rounding_mode="floor")
        col = fn.sub(idx, fn.mul(row, w))
        idx = fn.add(fn.mul(col, h), row)
    return fn.add(fn.cast(idx, dtype=_int64()), fn.tensor(lead))


def _int64() -> Any:
    from ..types.dtype import int64
    return int64


@_reg("AveragePool")
def _avgpool(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    g = _geometry(x, a, "AveragePool")
    n = len(g.kernel)
    include = bool(a.get("count_include_pad", 0))
    ceil = bool(a.get("ceil_mode", 0))
    if n <= 2 and g.symmetric and all(d == 1 for d in g.dilations):
        f = fn.avg_pool1d if n == 1 else fn.avg_pool2d
        return [f(x, tuple(g.kernel), tuple(g.strides), tuple(g.begin), ceil, include)]
    total = _window_sum(x, g)
    counts = _counts(x, g, include)
    return [fn.div(total, fn.tensor(counts.astype(x.dtype.np_dtype)))]


@_reg("LpPool")
def _lppool(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    g = _geometry(x, a, "LpPool")
    p = float(a.get("p", 2))
    powered = fn.mul(x, x) if p == 2 else fn.pow(fn.abs(x), p)
    total = _window_sum(powered, g)
    return [fn.sqrt(total) if p == 2 else fn.pow(total, 1.0 / p)]


@_reg("GlobalLpPool")
def _global_lppool(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    p = float(a.get("p", 2))
    dims = tuple(range(2, x.ndim))
    return [fn.pow(fn.sum(fn.pow(fn.abs(x), p), dims, True), 1.0 / p)]
