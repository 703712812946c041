"""ONNX ops composed from registered ones: hyperbolic and inverse-hyperbolic functions,
RMSNormalization, Hardmax, DepthToSpace/SpaceToDepth, GatherND/ScatterND/ScatterElements
(with mul/max/min reductions), BitShift, TopK, ConvTranspose, CumProd, LpNormalization and
CenterCropPad. Index inputs are read on the host (``ImportContext.array``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import functions as fn
from ..tensor import Tensor
from ._budget import current
from ._importers import (
    IMPORTERS,
    ImportContext,
    OnnxUnsupported,
    _check_size,
    _int64,
    _one,
    _reg,
    _text,
)

__all__: list[str] = []


# -- composed from existing ops: hyperbolic/trig, norms, rearrangements ---------------------------
def _half(x: Tensor) -> Tensor:
    return fn.mul(x, 0.5)


IMPORTERS["Sinh"] = _one(lambda x: _half(fn.sub(fn.exp(x), fn.exp(fn.neg(x)))))
IMPORTERS["Cosh"] = _one(lambda x: _half(fn.add(fn.exp(x), fn.exp(fn.neg(x)))))
IMPORTERS["Tan"] = _one(lambda x: fn.div(fn.sin(x), fn.cos(x)))
# asinh(x) = sign(x) log(|x| + sqrt(x^2 + 1)) (odd, and stable for large negative x)
IMPORTERS["Asinh"] = _one(lambda x: fn.mul(fn.sign(x), fn.log(fn.add(
    fn.abs(x), fn.sqrt(fn.add(fn.mul(x, x), 1.0))))))
IMPORTERS["Acosh"] = _one(lambda x: fn.log(fn.add(x, fn.sqrt(fn.sub(fn.mul(x, x), 1.0)))))
IMPORTERS["Atanh"] = _one(lambda x: _half(fn.log(fn.div(fn.add(x, 1.0), fn.sub(1.0, x)))))


@_reg("RMSNormalization")
def _rms_norm(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    axis = int(a.get("axis", -1)) % x.ndim
    dims = tuple(range(axis, x.ndim))
    inv = fn.rsqrt(fn.add(fn.mean(fn.mul(x, x), dims, True), float(a.get("epsilon", 1e-5))))
    y = fn.mul(x, inv)
    if len(xs) > 1 and xs[1] is not None:
        y = fn.mul(y, xs[1])
    return [y]


@_reg("Hardmax")
def _hardmax(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    if ctx.opset < 13:
        axis = int(a.get("axis", 1)) % max(x.ndim, 1)
        flat = fn.reshape(x, [int(np.prod(x.shape[:axis], dtype=np.int64)), -1])
        return [fn.reshape(_hardmax(ImportContext(13), [flat], {"axis": 1})[0], x.shape)]
    axis = int(a.get("axis", -1)) % x.ndim
    idx = fn.argmax(x, axis, True)
    shape = [1] * x.ndim
    shape[axis] = -1
    pos = fn.reshape(fn.arange(0, int(x.shape[axis]), 1, dtype=idx.dtype), shape)
    return [fn.cast(fn.eq(pos, idx), dtype=x.dtype)]


@_reg("DepthToSpace")
def _depth_to_space(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    bs = int(a["blocksize"])
    b, c, h, w = (int(v) for v in x.shape)
    mode = a.get("mode", b"DCR")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    if mode == "DCR":
        t = fn.permute(fn.reshape(x, [b, bs, bs, c // (bs * bs), h, w]), [0, 3, 4, 1, 5, 2])
    else:
        t = fn.permute(fn.reshape(x, [b, c // (bs * bs), bs, bs, h, w]), [0, 1, 4, 2, 5, 3])
    return [fn.reshape(t, [b, c // (bs * bs), h * bs, w * bs])]


@_reg("SpaceToDepth")
def _space_to_depth(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    bs = int(a["blocksize"])
    b, c, h, w = (int(v) for v in x.shape)
    mode = a.get("mode", b"DCR")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    perm = [0, 3, 5, 1, 2, 4] if mode == "DCR" else [0, 1, 3, 5, 2, 4]
    t = fn.permute(fn.reshape(x, [b, c, h // bs, bs, w // bs, bs]), perm)
    return [fn.reshape(t, [b, c * bs * bs, h // bs, w // bs])]


def _index_values(t: Any, size: Any) -> np.ndarray:  # type: ignore[type-arg]
    """An index input as int64 numpy, negative entries wrapped by ``size`` (broadcast)."""
    raw = ImportContext.array(t).astype(np.int64)
    return np.where(raw < 0, raw + np.asarray(size, dtype=np.int64), raw)


def _nd_index(x: Tensor, idx: Any, batch: int) -> tuple[list[Tensor], tuple[int, ...]]:
    """Per-dim index tensors of a GatherND/ScatterND ``indices`` (with ``batch`` leading
    batch dims, which index themselves), all broadcasting to ``indices.shape[:-1]``."""
    raw = ImportContext.array(idx).astype(np.int64)
    k = raw.shape[-1]
    lead = raw.shape[:-1]
    sizes = np.asarray([int(v) for v in x.shape[batch:batch + k]], dtype=np.int64)
    raw = np.where(raw < 0, raw + sizes, raw)
    out: list[Tensor] = []
    for d in range(batch):
        shape = [1] * len(lead)
        shape[d] = lead[d]
        out.append(fn.tensor(np.arange(lead[d], dtype=np.int64).reshape(shape)))
    out += [fn.tensor(np.ascontiguousarray(raw[..., i])) for i in range(k)]
    return out, lead


@_reg("GatherND")
def _gather_nd(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x, idx = xs
    index, lead = _nd_index(x, idx, int(a.get("batch_dims", 0)))
    if not lead:
        return [fn.getitem(x, tuple(int(i.item()) for i in index))]
    return [fn.getitem(x, tuple(index))]


def _reduction(a: dict[str, Any], op: str) -> str:
    red = _text(a.get("reduction", "none"))
    if red not in ("none", "add", "mul", "max", "min"):
        raise OnnxUnsupported(f"{op} reduction={red!r} is not supported")
    return red


_COMBINE: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "mul": fn.mul, "max": fn.maximum, "min": fn.minimum}


def _scatter_reduce(x: Tensor, positions: np.ndarray, updates: Tensor,  # type: ignore[type-arg]
                    red: str) -> Tensor:
    """``x`` with ``updates`` combined (mul/max/min) into the flat ``positions`` (one per
    update element). Repeated positions are applied in rounds, each round writing every
    position at most once, so the result is gathers, elementwise ops and index_puts."""
    flat = fn.reshape(x, [-1])
    values = fn.reshape(updates, [-1])
    pos = positions.reshape(-1).astype(np.int64)
    order = np.argsort(pos, kind="stable")
    sorted_pos = pos[order]
    first = np.r_[0, np.flatnonzero(np.diff(sorted_pos)) + 1] if len(pos) else np.zeros(0, int)
    rank = np.empty(len(pos), dtype=np.int64)  # which occurrence of its position each is
    rank[order] = np.arange(len(pos)) - np.repeat(first, np.diff(np.r_[first, len(pos)]))
    meter = current()
    for r in range(int(rank.max()) + 1 if len(pos) else 0):
        meter.trip(f"scatter round {r} (indices repeated {int(rank.max()) + 1} times)")
        sel = np.flatnonzero(rank == r)
        where = fn.tensor(pos[sel])
        old = fn.index_select(flat, 0, where)
        new = _COMBINE[red](old, fn.index_select(values, 0, fn.tensor(sel)))
        flat = fn.index_put(flat, [where], fn.cast(new, dtype=flat.dtype))
    return fn.reshape(flat, list(x.shape))


@_reg("ScatterND")
def _scatter_nd(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x, idx, upd = xs
    red = _reduction(a, "ScatterND")
    if red in _COMBINE:  # flat positions: each index tuple addresses a slice of x
        raw = ImportContext.array(idx).astype(np.int64)
        k = raw.shape[-1]
        sizes = [int(v) for v in x.shape]
        raw = np.where(raw < 0, raw + np.asarray(sizes[:k]), raw)
        base = np.ravel_multi_index(tuple(np.moveaxis(raw, -1, 0)), sizes[:k])
        inner = int(np.prod(sizes[k:], dtype=np.int64))
        pos = base[..., None] * inner + np.arange(inner)
        return [_scatter_reduce(x, pos, upd, red)]
    index, _ = _nd_index(x, idx, 0)
    return [fn.index_put(x, index, upd, accumulate=red == "add")]


@_reg("ScatterElements", "Scatter")
def _scatter_elements(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x, idx, upd = xs
    red = _reduction(a, "ScatterElements")
    axis = int(a.get("axis", 0)) % x.ndim
    if red in _COMBINE:
        raw = _index_values(idx, int(x.shape[axis]))
        grid = list(np.indices(raw.shape))
        grid[axis] = raw
        pos = np.asarray(np.ravel_multi_index(tuple(grid), [int(v) for v in x.shape]))
        return [_scatter_reduce(x, pos, upd, red)]
    index = fn.tensor(_index_values(idx, int(x.shape[axis])))
    if red == "add":
        return [fn.scatter_add(x, axis, index, upd)]
    return [fn.scatter(x, axis, index, upd)]


@_reg("BitShift")
def _bitshift(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x, y = xs
    direction = a["direction"]
    direction = direction.decode() if isinstance(direction, bytes) else str(direction)
    bits = x.dtype.bits
    # a shift that is negative or at least the width shifts everything out: 0 to the left,
    # the sign to the right (arithmetic shift); computed in int64 so 2**k cannot overflow
    wide = fn.cast(x, dtype=_int64())
    out_of_range = fn.logical_or(fn.lt(y, 0), fn.ge(y, bits))
    shift = fn.cast(fn.where(out_of_range, fn.zeros_like(y), y), dtype=_int64())
    factor = fn.pow(fn.full_like(shift, 2), shift)
    if direction == "LEFT":
        shifted = fn.where(out_of_range, fn.zeros_like(wide), fn.mul(wide, factor))
    else:
        sign = fn.where(fn.lt(wide, 0), fn.full_like(wide, -1), fn.zeros_like(wide))
        shifted = fn.where(out_of_range, sign, fn.div(wide, factor, rounding_mode="floor"))
    return [fn.cast(shifted, dtype=x.dtype)]


@_reg("TopK")
def _topk(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    """k rounds of (arg)max/min, each masking out the winner: ties go to the lower index as
    ONNX asks, and every step is a registered op (values differentiate through gather)."""
    x = xs[0]
    k = int(ctx.scalar(xs[1])) if ctx.opset >= 10 else int(a["k"])
    axis = int(a.get("axis", -1)) % x.ndim
    if not 0 <= k <= int(x.shape[axis]):
        raise OnnxUnsupported(f"TopK: k={k} is outside [0, {int(x.shape[axis])}] (the size "
                              f"of axis {axis} of {list(x.shape)})")
    largest = bool(a.get("largest", 1))
    if x.dtype.is_floating_point:
        fill: Any = float("-inf") if largest else float("inf")
    else:
        info = np.iinfo(x.dtype.np_dtype)
        fill = int(info.min) if largest else int(info.max)
    work, vals, idxs = x, [], []
    for _ in range(k):
        i = (fn.argmax if largest else fn.argmin)(work, axis, True)
        vals.append(fn.gather(x, axis, i))
        idxs.append(i)
        work = fn.scatter(work, axis, i, fill)
    if not idxs:
        shape = list(x.shape)
        shape[axis] = 0
        return [fn.zeros(shape, dtype=x.dtype), fn.zeros(shape, dtype=_int64())]
    return [fn.cat(vals, dim=axis), fn.cast(fn.cat(idxs, dim=axis), dtype=_int64())]


@_reg("ConvTranspose")
def _conv_transpose(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    """A transposed conv with no padding, then the ONNX pads (any, asymmetric too) cropped
    off and ``output_padding``/``output_shape`` zeros added, then the bias."""
    x, w = xs[0], xs[1]
    b = xs[2] if len(xs) > 2 else None
    n = x.ndim - 2
    if n not in (1, 2):
        raise OnnxUnsupported(f"ConvTranspose over {n} spatial dims is not supported (1 or 2)")
    kernel = [int(v) for v in a.get("kernel_shape", w.shape[2:])]
    s = [int(v) for v in a.get("strides", [1] * n)]
    d = [int(v) for v in a.get("dilations", [1] * n)]
    op = [int(v) for v in a.get("output_padding", [0] * n)]
    groups = int(a.get("group", 1))
    full = [(int(x.shape[2 + i]) - 1) * s[i] + (kernel[i] - 1) * d[i] + 1 for i in range(n)]
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    if "output_shape" in a or auto in ("SAME_UPPER", "SAME_LOWER"):
        want = ([int(v) for v in a["output_shape"]][-n:] if "output_shape" in a
                else [int(x.shape[2 + i]) * s[i] for i in range(n)])
        total = [full[i] + op[i] - want[i] for i in range(n)]
        if auto == "SAME_UPPER":
            begin = [t // 2 for t in total]
        else:
            begin = [t - t // 2 for t in total]
        pads = begin + [t - bg for t, bg in zip(total, begin)]
    elif auto == "VALID":
        pads = [0] * (2 * n)
    else:
        pads = [int(v) for v in a.get("pads", [0] * (2 * n))]
    f = fn.conv_transpose1d if n == 1 else fn.conv_transpose2d
    y = f(x, w, None, stride=tuple(s), padding=0, output_padding=0, groups=groups,
          dilation=tuple(d))
    for i in range(n):
        ax = 2 + i
        lo, hi = pads[i], pads[i + n] - op[i]
        if lo < 0:
            raise OnnxUnsupported("ConvTranspose with negative pads is not supported")
        index: list[Any] = [slice(None)] * y.ndim
        index[ax] = slice(lo, full[i] - max(hi, 0))
        y = fn.getitem(y, tuple(index))
        if hi < 0:
            shape = list(y.shape)
            shape[ax] = -hi
            y = fn.cat([y, fn.zeros(shape, dtype=y.dtype)], dim=ax)
    if b is not None:
        y = fn.add(y, fn.reshape(b, [-1] + [1] * n))
    return [y]


# -- scans, norms, crops --------------------------------------------------------------------------
@_reg("CumProd")
def _cumprod(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    """Prefix products in log2(n) doubling steps (each multiplies by a shifted copy padded
    with ones), so the result stays a handful of registered, differentiable ops."""
    x = xs[0]
    axis = int(ctx.scalar(xs[1])) % x.ndim
    rev = bool(a.get("reverse", 0))
    if rev:
        x = fn.flip(x, [axis])
    n = int(x.shape[axis])

    def shifted(t: Tensor, by: int) -> Tensor:
        shape = list(t.shape)
        shape[axis] = by
        index: list[Any] = [slice(None)] * t.ndim
        index[axis] = slice(0, n - by)
        return fn.cat([fn.ones(shape, dtype=t.dtype), fn.getitem(t, tuple(index))], dim=axis)

    out, step = x, 1
    while step < n:
        out = fn.mul(out, shifted(out, step))
        step *= 2
    if a.get("exclusive", 0) and n:
        out = shifted(out, 1)
    return [fn.flip(out, [axis]) if rev else out]


@_reg("LpNormalization")
def _lp_normalization(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    axis = int(a.get("axis", -1))
    p = int(a.get("p", 2))
    if p == 2:
        norm = fn.sqrt(fn.sum(fn.mul(x, x), axis, True))
    elif p == 1:
        norm = fn.sum(fn.abs(x), axis, True)
    else:
        raise OnnxUnsupported(f"LpNormalization p={p} (ONNX allows 1 or 2)")
    zero = fn.eq(norm, 0)  # a zero vector stays zero (ONNX: 0 / 0 = 0)
    return [fn.where(zero, fn.zeros_like(x), fn.div(x, fn.where(zero, fn.ones_like(norm),
                                                                   norm)))]


@_reg("CenterCropPad")
def _center_crop_pad(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    sizes = ctx.ints(xs[1])
    axes = [int(v) % x.ndim for v in a.get("axes", range(x.ndim))]
    for ax, want in zip(axes, sizes):
        have = int(x.shape[ax])
        if want < have:
            start = (have - want) // 2
            index: list[Any] = [slice(None)] * x.ndim
            index[ax] = slice(start, start + want)
            x = fn.getitem(x, tuple(index))
        elif want > have:
            before = (want - have) // 2
            parts = []
            for amount in (before, want - have - before):
                shape = list(x.shape)
                shape[ax] = amount
                _check_size(shape, "CenterCropPad")
                parts.append(fn.zeros(shape, dtype=x.dtype))
            x = fn.cat([parts[0], x, parts[1]], dim=ax)
    return [x]


# -- data-dependent selections: sizes read from the values (eager only, not traceable) ----------
@_reg("NonZero")
def _nonzero(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    return [fn.transpose(fn.nonzero(xs[0]), 0, 1)]  # ONNX: (rank, count)


@_reg("Compress")
def _compress(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    keep = np.flatnonzero(ctx.array(xs[1]).reshape(-1).astype(bool))
    if "axis" not in a:
        return [fn.index_select(fn.reshape(x, [-1]), 0, fn.tensor(keep))]
    return [fn.index_select(x, int(a["axis"]) % x.ndim, fn.tensor(keep))]


@_reg("Unique")
def _unique(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    """Unique values (sorted, or in order of first occurrence) gathered from the input, with
    ONNX's first indices, inverse indices and counts (computed from the values)."""
    x = xs[0]
    axis = a.get("axis")
    values = ctx.array(x)
    flat = axis is None
    data = values.reshape(-1) if flat else values
    ax = 0 if axis is None else int(axis) % x.ndim
    _, first, inverse, counts = np.unique(data, return_index=True, return_inverse=True,
                                          return_counts=True, axis=None if flat else ax)
    inverse = inverse.reshape(-1)
    if not a.get("sorted", 1):  # renumber by first occurrence
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        first, counts, inverse = first[order], counts[order], rank[inverse]
    source = fn.reshape(x, [-1]) if flat else x
    y = fn.index_select(source, ax, fn.tensor(first.astype(np.int64)))
    return [y, *(fn.tensor(v.astype(np.int64)) for v in (first, inverse, counts))]


@_reg("Col2Im")
def _col2im(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    """Sum the column blocks back into the (padded) image, the adjoint of im2col: one
    ``scatter_add`` at positions computed from the sizes, then the pads cropped off."""
    x = xs[0]
    image = [int(v) for v in ctx.ints(xs[1])]
    block = [int(v) for v in ctx.ints(xs[2])]
    nd = len(image)
    dil = [int(v) for v in a.get("dilations", [1] * nd)]
    pads = [int(v) for v in a.get("pads", [0] * (2 * nd))]
    strides = [int(v) for v in a.get("strides", [1] * nd)]
    n, ck, length = (int(v) for v in x.shape)
    _check_size(block, "Col2Im (its block)")
    _check_size([n, ck // max(int(np.prod(block)), 1), *(image[i] + pads[i] + pads[i + nd]
                                                        for i in range(nd))], "Col2Im (its image)")
    kernel = int(np.prod(block))
    c = ck // kernel
    padded = [image[i] + pads[i] + pads[i + nd] for i in range(nd)]
    counts = [(padded[i] - dil[i] * (block[i] - 1) - 1) // strides[i] + 1 for i in range(nd)]
    if int(np.prod(counts)) != length:
        raise OnnxUnsupported(f"Col2Im: {length} columns do not tile image {image} with block "
                              f"{block} (expected {int(np.prod(counts))})")
    _check_size([kernel, length, nd], "Col2Im (its coordinates)")
    offsets = np.stack(np.meshgrid(*[np.arange(b) for b in block], indexing="ij"), -1)
    starts = np.stack(np.meshgrid(*[np.arange(k) for k in counts], indexing="ij"), -1)
    coords = (offsets.reshape(-1, 1, nd) * np.asarray(dil) +
              starts.reshape(1, -1, nd) * np.asarray(strides))  # (kernel, length, nd)
    flat = np.ravel_multi_index(tuple(np.moveaxis(coords, -1, 0)), padded)  # (kernel, length)
    index = np.broadcast_to(flat.reshape(1, 1, -1), (n, c, kernel * length))
    values = fn.reshape(x, [n, c, kernel * length])
    total = int(np.prod(padded))
    out = fn.scatter_add(fn.zeros([n, c, total], dtype=x.dtype), 2,
                         fn.tensor(np.ascontiguousarray(index)), values)
    out = fn.reshape(out, [n, c, *padded])
    crop = tuple([slice(None), slice(None)] +
                 [slice(pads[i], pads[i] + image[i]) for i in range(nd)])
    return [fn.getitem(out, crop)]
