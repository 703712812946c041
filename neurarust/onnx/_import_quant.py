"""ONNX quantisation and a few normalisation/sequence ops, composed from registered ops.

``DequantizeLinear`` / ``QuantizeLinear`` (per tensor, per axis, blocked), ``QLinearMatMul``
and ``MatMulInteger`` compute in float32 or int32 as ONNX's reference does (quantised values
round half to even and saturate to the output type); ``GroupNormalization``, ``LRN`` and
``ReverseSequence`` are reshapes, window sums and gathers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functions as fn
from ..tensor import Tensor
from ..types import dtype as dt
from ._budget import current
from ._importers import ImportContext, OnnxUnsupported, _normalise, _reg, onnx_to_dtype

__all__: list[str] = []


def _per_axis(param: Tensor, x: Tensor, axis: int, block: int) -> Tensor:
    """A scale/zero point broadcast against ``x``: scalar, per ``axis``, or per block of
    ``block`` entries along ``axis`` (repeated to full length)."""
    if param.ndim == 0 or param.numel() == 1 and block == 0:
        return fn.reshape(param, [])
    axis %= x.ndim
    if block:  # param has x's shape but ceil(n / block) along axis: repeat each entry
        sizes = [int(v) for v in param.shape]
        wide = fn.expand(fn.unsqueeze(param, axis + 1),
                         sizes[:axis + 1] + [block] + sizes[axis + 1:])
        sizes[axis] *= block
        index: list[Any] = [slice(None)] * x.ndim
        index[axis] = slice(0, int(x.shape[axis]))
        return fn.getitem(fn.reshape(wide, sizes), tuple(index))
    shape = [1] * x.ndim
    shape[axis] = -1
    return fn.reshape(param, shape)


@_reg("DequantizeLinear")
def _dequantize(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x, scale = xs[0], xs[1]
    zp = xs[2] if len(xs) > 2 else None
    axis, block = int(a.get("axis", 1)), int(a.get("block_size", 0))
    s = _per_axis(scale, x, axis, block)
    v = fn.cast(x, dtype=dt.float32)
    if zp is not None:
        v = fn.sub(v, fn.cast(_per_axis(zp, x, axis, block), dtype=dt.float32))
    out = fn.mul(v, fn.cast(s, dtype=dt.float32))
    return [fn.cast(out, dtype=scale.dtype)]


def _saturate(v: Tensor, to: dt.DType) -> Tensor:
    info = np.iinfo(to.np_dtype)
    return fn.cast(fn.clamp(v, float(info.min), float(info.max)), dtype=to)


@_reg("QuantizeLinear")
def _quantize(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x, scale = xs[0], xs[1]
    zp = xs[2] if len(xs) > 2 else None
    axis, block = int(a.get("axis", 1)), int(a.get("block_size", 0))
    to = zp.dtype if zp is not None else (
        onnx_to_dtype(int(a["output_dtype"])) if a.get("output_dtype") else dt.uint8)
    if to.is_floating_point or to.is_bool:
        raise OnnxUnsupported(f"QuantizeLinear to {to.name}")
    v = fn.round(fn.div(fn.cast(x, dtype=dt.float32),
                        fn.cast(_per_axis(scale, x, axis, block), dtype=dt.float32)))
    if zp is not None:
        v = fn.add(v, fn.cast(_per_axis(zp, x, axis, block), dtype=dt.float32))
    return [_saturate(v, to)]


@_reg("QLinearMatMul")
def _qlinear_matmul(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    qa, sa, za, qb, sb, zb, sy, zy = xs[:8]

    def centred(q: Tensor, z: Tensor) -> Tensor:
        return fn.sub(fn.cast(q, dtype=dt.float32), fn.cast(z, dtype=dt.float32))

    acc = fn.matmul(centred(qa, za), centred(qb, zb))  # exact: small integers in float32
    factor = fn.div(fn.mul(fn.cast(sa, dtype=dt.float32), fn.cast(sb, dtype=dt.float32)),
                    fn.cast(sy, dtype=dt.float32))
    v = fn.add(fn.round(fn.mul(acc, factor)), fn.cast(zy, dtype=dt.float32))
    return [_saturate(v, zy.dtype)]


@_reg("MatMulInteger")
def _matmul_integer(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    xs = list(xs) + [None] * (4 - len(xs))
    qa, qb, za, zb = xs[:4]

    def centred(q: Tensor, z: Tensor | None) -> Tensor:
        v = fn.cast(q, dtype=dt.int32)
        return v if z is None else fn.sub(v, fn.cast(z, dtype=dt.int32))
    return [fn.matmul(centred(qa, za), centred(qb, zb))]


@_reg("GroupNormalization")
def _group_norm(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x, scale, bias = xs[:3]
    groups = int(a["num_groups"])
    n, c = int(x.shape[0]), int(x.shape[1])
    grouped = fn.reshape(x, [n, groups, -1])
    y, _, _ = _normalise(grouped, (2,), float(a.get("epsilon", 1e-5)))
    y = fn.reshape(y, list(x.shape))
    shape = [1, -1] + [1] * (x.ndim - 2)
    if int(scale.numel()) == groups and groups != c:  # opset 18: one scale/bias per group
        scale = fn.reshape(fn.expand(fn.unsqueeze(scale, 1), [-1, c // groups]), [-1])
        bias = fn.reshape(fn.expand(fn.unsqueeze(bias, 1), [-1, c // groups]), [-1])
    return [fn.add(fn.mul(y, fn.reshape(scale, shape)), fn.reshape(bias, shape))]


@_reg("LRN")
def _lrn(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    """``x / (bias + alpha / size * sum of x^2 over the channel window) ** beta``."""
    x = xs[0]
    size = int(a["size"])
    alpha, beta = float(a.get("alpha", 1e-4)), float(a.get("beta", 0.75))
    bias = float(a.get("bias", 1.0))
    c = int(x.shape[1])
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    sq = fn.mul(x, x)
    shape = list(sq.shape)
    parts = []
    for amount in (lo, hi):
        shape[1] = amount
        parts.append(fn.zeros(shape, dtype=x.dtype))
    padded = fn.cat([parts[0], sq, parts[1]], dim=1)
    total = padded[:, 0:c]
    meter = current()
    for k in range(1, size):
        meter.trip(f"window step {k} of {size}")
        total = fn.add(total, padded[:, k:k + c])
    return [fn.div(x, fn.pow(fn.add(fn.mul(total, alpha / size), bias), beta))]


@_reg("ReverseSequence")
def _reverse_sequence(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    lens = ctx.array(xs[1]).astype(np.int64).reshape(-1)
    t_axis, b_axis = int(a.get("time_axis", 0)), int(a.get("batch_axis", 1))
    steps = int(x.shape[t_axis])
    t = np.arange(steps)[None, :]
    src = np.where(t < lens[:, None], lens[:, None] - 1 - t, t)  # (batch, time)
    if b_axis > t_axis:
        src = src.T
    shape = [1] * x.ndim
    shape[t_axis], shape[b_axis] = steps, len(lens)
    index = np.broadcast_to(src.reshape(shape), [int(v) for v in x.shape])
    return [fn.gather(x, t_axis, fn.tensor(np.ascontiguousarray(index)))]
