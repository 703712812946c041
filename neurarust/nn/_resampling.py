"""Adaptive pooling, padding and resampling for :mod:`neurarust.nn.functional` (which
re-exports them): ``adaptive_avg_pool1d/2d``, ``pad``, ``interpolate``/``upsample``.

Each is a composition of registered ops with constant index or weight tensors computed here
in numpy (PyTorch's sampling positions and weights): gathers (``index_select``), products
with averaging matrices (``matmul``) and concatenation (``cat``), so every gradient is exact
and of every order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import functions as _fn
from ..functions.conv import avg_pool1d, avg_pool2d
from ..tensor import Tensor
from ..types.errors import ShapeError
from ..types.format import format_value

__all__ = ["adaptive_avg_pool1d", "adaptive_avg_pool2d", "interpolate", "pad", "upsample"]


# -- pooling --------------------------------------------------------------------------------------
def _sizes(value: int | None | Sequence[int | None], n: int, input: Tensor,
           op: str) -> tuple[int, ...]:
    """Per spatial dim output sizes, None keeping the input's."""
    values = [value] * n if value is None or isinstance(value, int) else list(value)
    if len(values) != n:
        raise ValueError(f"{op}: output_size must have {n} elements, got {value!r}")
    spatial = input.shape[input.ndim - n:]
    return tuple(s if v is None else int(v) for v, s in zip(values, spatial))


def _const(values: np.ndarray, like: Tensor) -> Tensor:  # type: ignore[type-arg]
    """Host-computed indices or weights as a tensor on ``like``'s device."""
    t = _fn.from_numpy(values)
    return t if like.device.backend == "cpu" else t.to(like.device)


def _adaptive_matrix(size: int, out: int, like: Tensor) -> Tensor:
    """``(out, size)`` averaging matrix of adaptive pooling: row i averages the window
    ``[floor(i * size / out), ceil((i + 1) * size / out))``."""
    i = np.arange(out)
    start = (i * size) // out
    end = -((-(i + 1) * size) // out)
    cols = np.arange(size)
    inside = (cols >= start[:, None]) & (cols < end[:, None])
    return _const((inside / (end - start)[:, None]).astype(like.dtype.np_dtype), like)


def _adaptive_avg_pool(input: Tensor, output_size: Any, n: int) -> Tensor:
    op = f"adaptive_avg_pool{n}d"
    if input.ndim not in (n + 1, n + 2):
        raise ShapeError(f"{op}: expected a {n + 1}-d or {n + 2}-d input, got "
                         f"{format_value(input)}")
    out = _sizes(output_size, n, input, op)
    if any(o <= 0 for o in out):
        raise ValueError(f"{op}: output sizes must be positive, got {out}")
    spatial = input.shape[input.ndim - n:]
    if all(o == 1 for o in out):
        return input.mean(tuple(range(-n, 0)), keepdim=True)
    if all(s % o == 0 for s, o in zip(spatial, out)):
        kernel = tuple(s // o for s, o in zip(spatial, out))
        pool = avg_pool2d if n == 2 else avg_pool1d
        return pool(input, kernel, kernel)
    # Windows of unequal sizes: the average over a box is the product of averages along
    # each dim, so one averaging matrix per spatial dim (a matmul each) does it.
    result = input
    if n == 2:
        result = _fn.matmul(_adaptive_matrix(spatial[0], out[0], input), result)
    weights = _adaptive_matrix(spatial[-1], out[-1], input)
    return _fn.matmul(result, weights.t())


def adaptive_avg_pool1d(input: Tensor, output_size: int | Sequence[int]) -> Tensor:
    """Average pooling of ``(N, C, L)`` to a fixed output length, as
    ``F.adaptive_avg_pool1d``."""
    return _adaptive_avg_pool(input, output_size, 1)


def adaptive_avg_pool2d(input: Tensor,
                        output_size: int | None | Sequence[int | None]) -> Tensor:
    """Average pooling of ``(N, C, H, W)`` (or ``(C, H, W)``) to a fixed output size, as
    ``F.adaptive_avg_pool2d``: output cell ``(i, j)`` averages rows
    ``[floor(i*H/oH), ceil((i+1)*H/oH))`` and likewise columns. ``None`` keeps a size.

    Shape:
        ``(N, C, H, W) -> (N, C, oH, oW)``
    """
    return _adaptive_avg_pool(input, output_size, 2)


# -- padding and resampling ---------------------------------------------------------------------
def _pad_index(size: int, lo: int, hi: int, mode: str) -> np.ndarray:  # type: ignore[type-arg]
    """Source index of every output position of a ``mode`` padding along one dim."""
    j = np.arange(-lo, size + hi)
    if mode == "replicate":
        return np.clip(j, 0, size - 1)
    if mode == "circular":
        return np.mod(j, size)
    period = 2 * (size - 1)  # reflect: mirror about the first and last element
    j = np.mod(j, period) if period else np.zeros_like(j)
    return np.where(j < size, j, period - j)


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant",
        value: float | None = None) -> Tensor:
    """Pad (or, with negative amounts, crop) the last dims, as ``F.pad``.

    ``pad`` lists ``(before, after)`` amounts starting from the last dim:
    ``(left, right, top, bottom, ...)``. Modes: ``'constant'`` (``value``, default 0),
    ``'reflect'`` (mirror without repeating the edge), ``'replicate'`` (repeat the edge),
    ``'circular'`` (wrap around).
    """
    amounts = [int(p) for p in pad]
    if len(amounts) % 2:
        raise ValueError(f"pad: padding length must be divisible by 2, got {len(amounts)}")
    if len(amounts) // 2 > input.ndim:
        raise ValueError(f"pad: padding length should be less than or equal to two times the "
                         f"input dimension but got padding length {len(amounts)} and input of "
                         f"dimension {input.ndim}")
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise NotImplementedError(f"pad: mode {mode!r} is not supported; expected 'constant', "
                                  "'reflect', 'replicate' or 'circular'")
    if mode != "constant" and value not in (None, 0, 0.0):
        raise ValueError(f"pad: padding mode {mode!r} doesn't take in value argument")
    out = input
    for i in range(len(amounts) // 2):
        dim = input.ndim - 1 - i
        lo, hi = amounts[2 * i], amounts[2 * i + 1]
        if lo == 0 and hi == 0:
            continue
        size = out.shape[dim]
        if mode == "constant":
            out = _constant_pad(out, dim, lo, hi, 0.0 if value is None else value)
            continue
        limit = size - 1 if mode == "reflect" else size
        if mode != "replicate" and (lo > limit or hi > limit or lo < -size or hi < -size):
            raise ValueError(f"pad: padding size should be less than the corresponding input "
                             f"dimension for {mode} padding, got pad ({lo}, {hi}) for dim "
                             f"{dim} of size {size}")
        if size == 0:
            raise ValueError(f"pad: cannot {mode}-pad an empty dim {dim}")
        index = _pad_index(size, lo, hi, mode)
        out = out.index_select(dim, _const(index.astype(np.int64), out))
    return out


def _constant_pad(x: Tensor, dim: int, lo: int, hi: int, value: float) -> Tensor:
    size = x.shape[dim]
    if lo < 0 or hi < 0:  # crop first
        start, stop = max(-lo, 0), size - max(-hi, 0)
        if stop < start:
            raise ValueError(f"pad: the padded dim {dim} would have negative size")
        x = _fn.narrow(x, dim, start, stop - start)
        lo, hi = max(lo, 0), max(hi, 0)
    parts = []
    for amount in (lo, None, hi):
        if amount is None:
            parts.append(x)
        elif amount > 0:
            shape = list(x.shape)
            shape[dim] = amount
            parts.append(_fn.full(shape, value, dtype=x.dtype, device=x.device))
    return parts[0] if len(parts) == 1 else _fn.cat(parts, dim)


_LINEAR_MODES = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}


def interpolate(input: Tensor, size: int | Sequence[int] | None = None,
                scale_factor: float | Sequence[float] | None = None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resample the spatial dims of ``(N, C, *spatial)``, as ``F.interpolate``.

    Modes: ``'nearest'`` (PyTorch's legacy floor rule), ``'nearest-exact'``, ``'linear'``
    (3-d), ``'bilinear'`` and ``'bicubic'`` (4-d), ``'trilinear'`` (5-d), and ``'area'``
    (adaptive average pooling). Give either ``size`` or ``scale_factor``; the output size is
    ``floor(input_size * scale_factor)``. ``align_corners`` (interpolating modes only) maps
    the corner pixels' centres onto each other.

    Every mode is separable: one gather-and-weight per spatial dim (index_select, mul, add),
    so the gradient is exact and of every order.
    """
    n = input.ndim - 2
    if n < 1:
        raise ShapeError(f"interpolate: expected an input of shape (N, C, *spatial), got "
                         f"{format_value(input)}")
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    if mode in _LINEAR_MODES:
        if _LINEAR_MODES[mode] != n:
            raise NotImplementedError(f"interpolate: got {input.ndim}D input, but {mode} mode "
                                      f"needs {_LINEAR_MODES[mode] + 2}D input")
        align = bool(align_corners)
    elif mode in ("nearest", "nearest-exact", "area"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating "
                             "modes: linear | bilinear | bicubic | trilinear")
        align = False
    else:
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported")
    spatial = input.shape[2:]
    out_size, scales = _output_size(spatial, size, scale_factor, recompute_scale_factor, mode)
    if mode == "area":
        return _adaptive_avg_pool(input, out_size, n) if n <= 2 else _area_nd(input, out_size)
    out = input
    for i in range(n):
        dim = 2 + i
        out = _resample(out, dim, spatial[i], out_size[i], scales[i], mode, align)
    return out


def upsample(input: Tensor, size: int | Sequence[int] | None = None,
             scale_factor: float | Sequence[float] | None = None, mode: str = "nearest",
             align_corners: bool | None = None) -> Tensor:
    """Deprecated alias of :func:`interpolate`."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def _area_nd(input: Tensor, out_size: tuple[int, ...]) -> Tensor:
    out = input
    for i, o in enumerate(out_size):
        dim = 2 + i
        m = _adaptive_matrix(input.shape[dim], o, input)
        out = _fn.movedim(_fn.matmul(_fn.movedim(out, dim, -1), m.t()), -1, dim)
    return out


def _output_size(spatial: Sequence[int], size: int | Sequence[int] | None,
                 scale_factor: float | Sequence[float] | None,
                 recompute: bool | None, mode: str) -> tuple[tuple[int, ...],
                                                          tuple[float | None, ...]]:
    n = len(spatial)
    if size is not None and scale_factor is not None:
        raise ValueError("interpolate: only one of size or scale_factor should be defined")
    if size is not None:
        sizes = [size] * n if isinstance(size, int) else list(size)
        if len(sizes) != n:
            raise ValueError(f"interpolate: input and output must have the same number of "
                             f"spatial dimensions, but got input with spatial dimensions of "
                             f"{list(spatial)} and output size of {list(sizes)}")
        if recompute:
            raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
        return tuple(int(s) for s in sizes), (None,) * n
    if scale_factor is None:
        raise ValueError("interpolate: either size or scale_factor should be defined")
    factors = ([float(scale_factor)] * n if isinstance(scale_factor, (int, float))
               else [float(f) for f in scale_factor])
    if len(factors) != n:
        raise ValueError(f"interpolate: scale_factor must have {n} elements, got "
                         f"{scale_factor!r}")
    out = tuple(math.floor(s * f) for s, f in zip(spatial, factors))
    if recompute or mode == "area":
        return out, (None,) * n
    return out, tuple(factors)


def _scale(size: int, out: int, scale: float | None, align: bool) -> float:
    """PyTorch's area_pixel_compute_scale: source step per output step."""
    if align:
        return (size - 1) / (out - 1) if out > 1 else 0.0
    return 1.0 / scale if scale is not None and scale > 0 else size / out


def _resample(x: Tensor, dim: int, size: int, out: int, scale: float | None, mode: str,
              align: bool) -> Tensor:
    """Resample one spatial dim: a weighted sum of gathered rows (one per tap)."""
    dst = np.arange(out, dtype=np.float64)
    if mode == "nearest":
        if out == size:
            return x
        if out == 2 * size:
            src = np.arange(out) // 2
        else:
            step32 = np.float32(_scale(size, out, scale, False))  # PyTorch computes in float32
            src = np.minimum(np.floor(dst.astype(np.float32) * step32).astype(np.int64), size - 1)
        return x.index_select(dim, _const(src.astype(np.int64), x))
    if mode == "nearest-exact":
        step32 = np.float32(_scale(size, out, scale, False))
        pos = np.floor((dst.astype(np.float32) + np.float32(0.5)) * step32).astype(np.int64)
        return x.index_select(dim, _const(np.minimum(pos, size - 1), x))
    step = _scale(size, out, scale, align)
    real = step * dst if align else step * (dst + 0.5) - 0.5
    if mode == "bicubic":
        taps = _cubic_taps(real, size)
    else:
        real = np.maximum(real, 0.0)
        low = real.astype(np.int64)
        high = low + (low < size - 1)
        frac = real - low
        taps = [(low, 1.0 - frac), (high, frac)]
    shape = (out,) + (1,) * (x.ndim - 1 - dim)
    result: Tensor | None = None
    for index, weight in taps:
        w = _const(weight.astype(x.dtype.np_dtype).reshape(shape), x)
        term = x.index_select(dim, _const(index.astype(np.int64), x)) * w
        result = term if result is None else result + term
    assert result is not None
    return result


def _cubic_taps(real: Any, size: int) -> list[tuple[Any, Any]]:
    """The four taps of PyTorch's bicubic (A = -0.75), indices clamped to the input."""
    a = -0.75
    base = np.floor(real)
    t = real - base

    def near(x: Any) -> Any:  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x: Any) -> Any:  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    weights = [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]
    return [(np.clip(base.astype(np.int64) - 1 + k, 0, size - 1), w)
            for k, w in enumerate(weights)]
