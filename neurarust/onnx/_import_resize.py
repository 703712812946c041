"""ONNX ``Resize`` / ``Upsample`` import: separable interpolation, one axis at a time.

Resize is separable, so each resized axis is one step. The source coordinates and the
interpolation taps depend only on the sizes, so they are computed here in numpy (float64, as
ONNX's reference does) and the data path is registered ops only: ``nearest`` is an
``index_select`` (exact for every dtype), ``linear``/``cubic`` (with ``antialias``,
``exclude_outside``) a matmul with the ``(out, in)`` interpolation matrix, so the imported
resize differentiates with respect to its input.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import functions as fn
from ..tensor import Tensor
from ._importers import ImportContext, OnnxUnsupported, _check_size, _reg, _text

__all__: list[str] = []

_Coeffs = Any  # (m, taps) float64 coefficients


def _source_coords(mode: str, m: int, n: int, scale: float, roi: tuple[float, float] | None
                   ) -> tuple[np.ndarray, np.ndarray | None]:  # type: ignore[type-arg]
    """Source coordinate of each output index (and, for tf_crop_and_resize, which fall
    outside the input and take the extrapolation value)."""
    y = np.arange(m, dtype=np.float64)
    width = scale * n  # the real-valued output length
    outside = None
    if mode == "align_corners":
        x = np.zeros(m) if width == 1 else y * (n - 1) / (width - 1)
    elif mode == "asymmetric":
        x = y / scale
    elif mode == "tf_crop_and_resize":
        lo, hi = roi if roi is not None else (0.0, 1.0)
        x = (np.full(m, (hi - lo) * (n - 1) / 2) if width == 1
             else y * (hi - lo) * (n - 1) / (width - 1))
        x = x + lo * (n - 1)
        outside = (x < 0) | (x > n - 1)
    elif mode == "pytorch_half_pixel":
        x = np.full(m, -0.5) if width == 1 else (y + 0.5) / scale - 0.5
    elif mode == "half_pixel":
        x = (y + 0.5) / scale - 0.5
    elif mode == "half_pixel_symmetric":
        offset = n / 2 * (1 - m / width)
        x = offset + (y + 0.5) / scale - 0.5
    else:
        raise OnnxUnsupported(f"Resize coordinate_transformation_mode={mode!r}")
    return x, outside


def _nearest_index(x: np.ndarray, n: int, how: str) -> np.ndarray:  # type: ignore[type-arg]
    base = np.floor(x)
    frac = x - base
    integral = frac == 0
    if how == "round_prefer_floor":
        up = frac > 0.5
    elif how == "round_prefer_ceil":
        up = frac >= 0.5
    elif how == "floor":
        up = np.zeros_like(integral)
    elif how == "ceil":
        up = ~integral
    else:
        raise OnnxUnsupported(f"Resize nearest_mode={how!r}")
    idx = base.astype(np.int64) + (up & ~integral)
    return np.asarray(np.clip(idx, 0, n - 1), dtype=np.int64)


def _taps(ratio: float, scale: float, mode: str, a: float, antialias: bool) -> np.ndarray:  # type: ignore[type-arg]
    """Filter weights of one output point, from its fractional offset ``ratio`` in (0, 1]."""
    if not antialias:
        if mode == "linear":
            return np.array([1 - ratio, ratio])
        r = ratio
        return np.array([((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a,
                         ((a + 2) * r - (a + 3)) * r * r + 1,
                         ((a + 2) * (1 - r) - (a + 3)) * (1 - r) * (1 - r) + 1,
                         ((a * (2 - r) - 5 * a) * (2 - r) + 8 * a) * (2 - r) - 4 * a])
    s = min(scale, 1.0)  # the filter widens only when downsampling
    if mode == "linear":
        start = int(np.floor(-1 / s) + 1)
        args = (np.arange(start, 2 - start) - ratio) * s
        w = np.clip(1 - np.abs(args), 0, 1)
    else:
        start = int(np.floor(-2 / s) + 1)
        t = np.abs((np.arange(start, 2 - start) - ratio) * s)
        w = np.where(t <= 1, (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1,
                     np.where(t < 2, a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a, 0.0))
    return w / w.sum()  # type: ignore[no-any-return]


def _matrix(x: np.ndarray, n: int, scale: float, mode: str, a: float, antialias: bool,  # type: ignore[type-arg]
            exclude_outside: bool) -> np.ndarray:  # type: ignore[type-arg]
    """The ``(m, n)`` interpolation matrix: each row the taps of one output point, placed
    at the nearest source indices (edges replicated, i.e. indices clamped)."""
    m = len(x)
    base = np.floor(x)
    ratios = np.where(x == base, 1.0, x - base)
    coeffs = np.stack([_taps(float(r), scale, mode, a, antialias) for r in ratios]) if m else \
        np.zeros((0, 2))
    k = coeffs.shape[1]
    pad = int(math.ceil(k / 2))
    xp = x + pad
    p = np.floor(xp).astype(np.int64)
    frac = xp - p
    if k % 2 == 0:
        offset = np.where(frac == 0, -(k // 2), -(k // 2) + 1)
    else:
        offset = np.where(frac <= 0.5, -((k - 1) // 2), -((k - 1) // 2) + 1)
    idx = (p + offset)[:, None] + np.arange(k)[None, :] - pad
    if exclude_outside:
        coeffs = np.where((idx < 0) | (idx >= n), 0.0, coeffs)
        total = coeffs.sum(axis=1, keepdims=True)
        coeffs = coeffs / np.where(total == 0, 1.0, total)
    out = np.zeros((m, n))
    rows = np.repeat(np.arange(m), k)
    np.add.at(out, (rows, np.clip(idx, 0, n - 1).reshape(-1)), coeffs.reshape(-1))
    return out


def _resize_axis(x: Tensor, axis: int, m: int, scale: float, roi: tuple[float, float] | None,
                 a: dict[str, Any]) -> Tensor:
    n = int(x.shape[axis])
    mode = _text(a.get("mode", "nearest"))
    coords, outside = _source_coords(
        _text(a.get("coordinate_transformation_mode", "half_pixel")), m, n, scale, roi)
    if mode == "nearest":
        idx = _nearest_index(coords, n, _text(a.get("nearest_mode", "round_prefer_floor")))
        y = fn.index_select(x, axis, fn.tensor(idx))
    elif mode in ("linear", "cubic"):
        mat = _matrix(coords, n, scale, mode, float(a.get("cubic_coeff_a", -0.75)),
                      bool(a.get("antialias", 0)), bool(a.get("exclude_outside", 0)))
        work = x if x.dtype.is_floating_point else fn.cast(x, dtype=_float32())
        moved = fn.movedim(work, axis, -1)
        y = fn.movedim(fn.matmul(moved, fn.tensor(mat.T.astype(work.dtype.np_dtype))), -1, axis)
        if not x.dtype.is_floating_point:
            y = fn.cast(fn.round(y), dtype=x.dtype)
    else:
        raise OnnxUnsupported(f"Resize mode={mode!r}")
    if outside is not None and outside.any():
        shape = [1] * x.ndim
        shape[axis] = m
        mask = fn.tensor(outside.reshape(shape))
        y = fn.where(mask, fn.full([], float(a.get("extrapolation_value", 0.0)), dtype=y.dtype),
                     y)
    return y


def _float32() -> Any:
    from ..types.dtype import float32
    return float32


def _floats(t: Any) -> list[float]:
    if t is None:
        return []
    return [float(v) for v in ImportContext.array(t).reshape(-1)]


@_reg("Resize", "Upsample")
def _resize(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    r = x.ndim
    roi_t: Tensor | None = None
    sizes: list[int] = []
    if "scales" in a:  # Upsample-7 and older
        scales = [float(v) for v in a["scales"]]
    elif ctx.opset < 11 or len(xs) == 2:  # Resize-10 / Upsample-9: (X, scales)
        scales = _floats(xs[1])
    else:
        roi_t = xs[1]
        scales = _floats(xs[2]) if len(xs) > 2 else []
        sizes = ctx.ints(xs[3]) if len(xs) > 3 else []
    if ctx.opset < 11 or "scales" in a or len(xs) == 2:
        a = {**a}
        a.setdefault("coordinate_transformation_mode", "asymmetric")
        a.setdefault("nearest_mode", "floor")
    axes = [int(v) % r for v in a.get("axes", range(r))]
    roi = _floats(roi_t)
    if sizes:
        factors = [sizes[i] / int(x.shape[ax]) for i, ax in enumerate(axes)]
        policy = _text(a.get("keep_aspect_ratio_policy", "stretch"))
        if policy != "stretch":
            s = min(factors) if policy == "not_larger" else max(factors)
            factors = [s] * len(axes)
            sizes = [int(s * int(x.shape[ax]) + 0.5) for ax in axes]
    elif scales:
        factors = scales
        sizes = [int(np.floor(s * int(x.shape[ax]))) for s, ax in zip(scales, axes)]
    else:
        raise OnnxUnsupported("Resize with neither scales nor sizes")
    if len(factors) != len(axes):
        raise OnnxUnsupported(f"Resize: {len(factors)} scales/sizes for {len(axes)} axes")
    if not all(math.isfinite(f) and f > 0 for f in factors):
        raise OnnxUnsupported(f"Resize: scales must be finite and > 0, got {factors}")
    out_shape = [int(v) for v in x.shape]
    for ax, m in zip(axes, sizes):
        out_shape[ax] = m
    _check_size(out_shape, "Resize")
    if axes:
        _check_size([max(sizes), max(int(x.shape[ax]) for ax in axes)], "Resize (its matrix)")
    for i, ax in enumerate(axes):
        n = int(x.shape[ax])
        box = (roi[i], roi[i + len(axes)]) if len(roi) == 2 * len(axes) else None
        if math.isclose(factors[i], 1.0) and sizes[i] == n and \
                (box is None or (math.isclose(box[0], 0.0) and math.isclose(box[1], 1.0))):
            continue
        x = _resize_axis(x, ax, sizes[i], factors[i], box, a)
    return [x]
