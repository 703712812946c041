"""ONNX ``GridSample`` (nearest / linear / cubic, zeros / border / reflection padding, any
number of spatial dims) and ``AffineGrid``, as ONNX's reference computes them.

The sampling coordinates come from the grid, which is data: they are computed with
registered ops (so gradients reach both the input and the grid through the interpolation
weights), and each interpolation tap is a ``gather`` from the flattened spatial dims.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from .. import functions as fn
from ..tensor import Tensor
from ._importers import ImportContext, OnnxUnsupported, _check_size, _reg, _text

__all__: list[str] = []

_MODES = {"bilinear": "linear", "linear": "linear", "nearest": "nearest",
          "bicubic": "cubic", "cubic": "cubic"}
_A = -0.75  # the cubic convolution constant ONNX and PyTorch use


def _reflect(v: Tensor, lo: float, hi: float) -> Tensor:
    """Coordinates outside ``[lo, hi]`` folded back in by repeated reflection."""
    span = hi - lo
    if span <= 0:
        return fn.full_like(v, lo)
    below, above = fn.lt(v, lo), fn.gt(v, hi)
    dx = fn.where(below, fn.sub(lo, v), fn.sub(v, hi))
    k = fn.floor(fn.div(dx, span))
    r = fn.sub(dx, fn.mul(k, span))
    even = fn.eq(fn.remainder(k, 2.0), 0.0)
    from_lo, from_hi = fn.add(r, lo), fn.sub(hi, r)
    return fn.where(below, fn.where(even, from_lo, from_hi),
                    fn.where(above, fn.where(even, from_hi, from_lo), v))


def _cubic_weights(t: Tensor) -> list[Tensor]:
    """Keys' cubic weights of the taps at -1, 0, 1, 2 for a fractional offset ``t``."""
    def far(d: Tensor) -> Tensor:  # 1 < |d| < 2
        return fn.sub(fn.mul(fn.add(fn.mul(fn.sub(fn.mul(d, _A), 5 * _A), d), 8 * _A), d),
                      4 * _A)

    def near(d: Tensor) -> Tensor:  # |d| <= 1
        return fn.add(fn.mul(fn.mul(fn.sub(fn.mul(d, _A + 2), _A + 3), d), d), 1.0)
    u = fn.sub(1.0, t)
    return [far(fn.add(t, 1.0)), near(t), near(u), far(fn.add(u, 1.0))]


@_reg("GridSample")
def _grid_sample(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x, grid = xs
    mode = _MODES.get(_text(a.get("mode", "bilinear" if ctx.opset < 20 else "linear")))
    padding = _text(a.get("padding_mode", "zeros"))
    if mode is None or padding not in ("zeros", "border", "reflection"):
        raise OnnxUnsupported(f"GridSample mode={a.get('mode')!r} padding_mode={padding!r}")
    align = bool(a.get("align_corners", 0))
    n, c = int(x.shape[0]), int(x.shape[1])
    dims = [int(v) for v in x.shape[2:]]
    nd = len(dims)
    out_spatial = [int(v) for v in grid.shape[1:-1]]
    points = int(np.prod(out_spatial, dtype=np.int64))
    g = fn.reshape(grid, [n, points, nd])
    taps_per_dim: list[list[tuple[Tensor, Tensor | None, Tensor | None]]] = []
    for i, size in enumerate(dims):
        v = g[:, :, nd - 1 - i]  # the grid lists coordinates innermost dim first
        xi = (fn.mul(fn.add(v, 1.0), (size - 1) / 2.0) if align
              else fn.div(fn.sub(fn.mul(fn.add(v, 1.0), float(size)), 1.0), 2.0))
        if mode == "nearest":
            xi = fn.round(xi)  # half to even, as PyTorch
        lo, hi = (0.0, size - 1.0) if align else (-0.5, size - 0.5)
        outside = fn.logical_or(fn.lt(xi, lo), fn.gt(xi, hi))
        if padding == "border":
            xi = fn.where(outside, fn.clamp(xi, 0.0, size - 1.0), xi)
        elif padding == "reflection":
            xi = fn.where(outside, _reflect(xi, lo, hi), xi)
        taps: list[tuple[Tensor, Tensor | None]] = []
        if mode == "nearest":
            taps.append((fn.trunc(xi), None))
        else:
            base = fn.floor(xi)
            t = fn.sub(xi, base)
            if mode == "linear":
                taps += [(base, fn.sub(1.0, t)), (fn.add(base, 1.0), t)]
            else:
                taps += [(fn.add(base, float(k - 1)), w) for k, w in enumerate(_cubic_weights(t))]
        resolved = []
        for pos, w in taps:  # each tap's index under the padding mode (and its validity)
            valid = None
            if padding == "zeros":
                valid = fn.logical_and(fn.ge(pos, 0.0), fn.le(pos, size - 1.0))
            elif padding == "reflection":
                pos = fn.trunc(_reflect(pos, lo, hi))
            index = fn.cast(fn.clamp(pos, 0.0, size - 1.0), dtype=_int64())
            resolved.append((index, w, valid))
        taps_per_dim.append(resolved)
    strides = [int(np.prod(dims[i + 1:], dtype=np.int64)) for i in range(nd)]
    flat_x = fn.reshape(x, [n, c, -1])
    out: Tensor | None = None
    for combo in itertools.product(*taps_per_dim):
        flat = None
        weight: Tensor | None = None
        for (index, w, valid), stride in zip(combo, strides):
            term = fn.mul(index, stride) if stride != 1 else index
            flat = term if flat is None else fn.add(flat, term)
            for factor in (w, None if valid is None else fn.cast(valid, dtype=x.dtype)):
                if factor is not None:
                    weight = factor if weight is None else fn.mul(weight, factor)
        assert flat is not None
        picked = fn.gather(flat_x, 2, fn.expand(fn.unsqueeze(flat, 1), [n, c, points]))
        if weight is not None:
            picked = fn.mul(picked, fn.unsqueeze(weight, 1))
        out = picked if out is None else fn.add(out, picked)
    assert out is not None
    return [fn.reshape(out, [n, c, *out_spatial])]


@_reg("AffineGrid")
def _affine_grid(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    """Normalised base coordinates (a constant) times ``theta`` (N, nd, nd + 1)."""
    theta = xs[0]
    size = [int(v) for v in ctx.ints(xs[1])]
    align = bool(a.get("align_corners", 0))
    spatial = size[2:]
    _check_size([*size[:1], *spatial, len(spatial) + 1], "AffineGrid (its grid)")
    axes = []
    for length in spatial:
        if align:
            axes.append(np.linspace(-1.0, 1.0, length) if length > 1 else np.zeros(1))
        else:
            axes.append((2 * np.arange(length) + 1) / length - 1)
    mesh = np.meshgrid(*axes, indexing="ij")  # one array per spatial dim, outermost first
    base = np.stack([*mesh[::-1], np.ones_like(mesh[0])], axis=-1).reshape(-1, len(spatial) + 1)
    out = fn.matmul(fn.tensor(base.astype(theta.dtype.np_dtype)), fn.transpose(theta, 1, 2))
    return [fn.reshape(out, [size[0], *spatial, len(spatial)])]


def _int64() -> Any:
    from ..types.dtype import int64
    return int64
