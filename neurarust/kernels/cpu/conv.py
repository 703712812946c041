"""numpy kernels for convolutions: im2col through a strided view, then one batched GEMM.

For any number of spatial dims. The window view (N, C, *out, *kernel) costs nothing; the one
copy is its reshape into columns, which feeds ``np.matmul`` (BLAS) with the weight. The
transposed convolution is the same GEMM run backwards, whose columns are added back into
the output by one strided slice per kernel offset (col2im): no Python loop over pixels.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ...ops.conv import Pads
from ...ops.registry import kernel

Array = np.ndarray  # type: ignore[type-arg]


def _pad(x: Array, padding: Pads) -> Array:
    """Zero-pad (positive) or crop (negative) the spatial dims of (N, C, *spatial)."""
    if any(lo > 0 or hi > 0 for lo, hi in padding):
        x = np.pad(x, [(0, 0), (0, 0)] + [(max(lo, 0), max(hi, 0)) for lo, hi in padding])
    if any(lo < 0 or hi < 0 for lo, hi in padding):
        crop = tuple(slice(max(-lo, 0), x.shape[2 + i] - max(-hi, 0))
                     for i, (lo, hi) in enumerate(padding))
        x = x[(slice(None), slice(None)) + crop]
    return x


def _windows(x: Array, kernel: Sequence[int], stride: Sequence[int], padding: Pads,
             dilation: Sequence[int], out_sizes: Sequence[int] | None = None) -> Array:
    """A read-only view (N, C, *out, *kernel) of the padded input: ``[..., p, k]`` is the
    element at ``p*s + k*d`` of each spatial dim."""
    x = _pad(x, padding)
    spatial = x.shape[2:]
    if out_sizes is None:
        out_sizes = [(size - d * (k - 1) - 1) // s + 1
                     for size, k, s, d in zip(spatial, kernel, stride, dilation)]
    strides = x.strides[2:]
    return as_strided(
        x,
        shape=x.shape[:2] + tuple(out_sizes) + tuple(kernel),
        strides=x.strides[:2] + tuple(st * s for st, s in zip(strides, stride))
        + tuple(st * d for st, d in zip(strides, dilation)),
        writeable=False,
    )


def _columns(win: Array, groups: int) -> Array:
    """Windows (N, C, *out, *k) -> columns (G, C/G * prod(k), N * prod(out)): the im2col
    copy, one matrix per group, so that ``weight @ columns`` is a single GEMM over the whole
    batch (long contiguous runs along the output's last dim make the copy cheap)."""
    n = (win.ndim - 2) // 2
    batch, channels = win.shape[:2]
    out, ksize = win.shape[2:2 + n], win.shape[2 + n:]
    split = win.reshape((batch, groups, channels // groups) + out + ksize)  # a view
    order = (1, 2) + tuple(range(3 + n, 3 + 2 * n)) + (0,) + tuple(range(3, 3 + n))
    return split.transpose(order).reshape(groups, channels // groups * math.prod(ksize),
                                          batch * math.prod(out))


def _batch_last(a: Array, groups: int) -> Array:
    """(N, C, *spatial) -> (G, C/G, N * prod(spatial)): channels as rows, batch and positions
    as columns (a copy unless N == 1)."""
    batch, channels = a.shape[:2]
    split = a.reshape(batch, groups, channels // groups, -1)
    return split.transpose(1, 2, 0, 3).reshape(groups, channels // groups, -1)


def _batched(fn_ndim: int, *arrays: Array) -> tuple[bool, list[Array]]:
    """Give unbatched (C, *spatial) arrays a batch of 1; report whether they had one."""
    batched = arrays[0].ndim == fn_ndim
    return batched, [a if batched else a[None] for a in arrays]


def conv(x: Array, w: Array, b: Array | None, *, stride: Sequence[int], padding: Pads,
         dilation: Sequence[int], groups: int) -> Array:
    n = w.ndim - 2
    batched, (x,) = _batched(n + 2, x)
    batch, out_ch = x.shape[0], w.shape[0]
    win = _windows(x, w.shape[2:], stride, padding, dilation)
    out_sizes = win.shape[2:2 + n]
    cols = _columns(win, groups)  # (G, C/G * K, N * L)
    wm = w.reshape(groups, out_ch // groups, -1)  # (G, O/G, C/G * K)
    y: Array = np.matmul(wm, cols)  # (G, O/G, N * L): one GEMM per group
    y = y.reshape(groups, out_ch // groups, batch, -1).transpose(2, 0, 1, 3)  # (N, G, O/G, L)
    out = np.ascontiguousarray(y).reshape((batch, out_ch) + tuple(out_sizes))
    if b is not None:
        out += b.reshape((out_ch,) + (1,) * n)
    return out if batched else out[0]


def conv_transpose(x: Array, w: Array, b: Array | None, *, stride: Sequence[int],
                   padding: Pads, dilation: Sequence[int], groups: int) -> Array:
    n = w.ndim - 2
    batched, (x,) = _batched(n + 2, x)
    batch, in_ch = x.shape[:2]
    sizes = x.shape[2:]
    ksize = w.shape[2:]
    out_g = w.shape[1]
    # (G, C_out/G * K, C_in/G) @ (G, C_in/G, N * L) -> columns (G, C_out/G * K, N * L)
    wm = w.reshape(groups, in_ch // groups, -1).transpose(0, 2, 1)
    cols: Array = np.matmul(wm, _batch_last(x, groups))
    # as (N, G, C_out/G, *K, *L): a view whose innermost (last spatial) dim is contiguous
    cols = cols.reshape((groups, out_g) + tuple(ksize) + (batch,) + tuple(sizes))
    cols = cols.transpose((2 + n, 0, 1) + tuple(range(2, 2 + n))
                          + tuple(range(3 + n, 3 + 2 * n)))
    # col2im: one strided add per kernel offset, into a buffer holding the full output plus
    # any negative padding (zeros).
    full = [(size - 1) * s + d * (k - 1) + 1
            for size, k, s, d in zip(sizes, ksize, stride, dilation)]
    before = [max(-lo, 0) for lo, _ in padding]
    after = [max(-hi, 0) for _, hi in padding]
    lead = (slice(None),) * 3
    buf = np.zeros((batch, groups, out_g) + tuple(f + a + z for f, a, z
                                                  in zip(full, before, after)), dtype=cols.dtype)
    for offset in itertools.product(*(range(k) for k in ksize)):
        target = tuple(
            slice(a + o * d, a + o * d + (size - 1) * s + 1, s)
            for a, o, d, size, s in zip(before, offset, dilation, sizes, stride)
        )
        buf[lead + target] += cols[lead + offset]
    buf = buf.reshape((batch, groups * out_g) + buf.shape[3:])
    keep = tuple(slice(lo + a, a + f - hi) for (lo, hi), a, f in zip(padding, before, full))
    out = buf[(slice(None), slice(None)) + keep]
    if any(lo > 0 or hi > 0 for lo, hi in padding):
        out = np.ascontiguousarray(out)
    if b is not None:
        out += b.reshape((-1,) + (1,) * n)
    return out if batched else out[0]


def conv_weight(x: Array, g: Array, *, kernel_size: Sequence[int], stride: Sequence[int],
                padding: Pads, dilation: Sequence[int], groups: int) -> Array:
    n = len(kernel_size)
    _, (x, g) = _batched(n + 2, x, g)
    out_ch = g.shape[1]
    win = _windows(x, kernel_size, stride, padding, dilation, out_sizes=g.shape[2:])
    cols = _columns(win, groups)  # (G, C/G * K, N * L)
    # Sum over batch and positions in one GEMM per group: (G, O/G, N*L) @ (G, N*L, C/G*K)
    out: Array = np.matmul(_batch_last(g, groups), cols.transpose(0, 2, 1))
    return out.reshape((out_ch, x.shape[1] // groups) + tuple(kernel_size))


# -- pooling ------------------------------------------------------------------------------------
def _pool_geometry(sizes: Sequence[int], kernel_size: Sequence[int], stride: Sequence[int],
                   padding: Sequence[int], dilation: Sequence[int],
                   ceil_mode: bool) -> tuple[list[int], Pads]:
    """Output sizes (the rule's formula) and the (before, after) pads every window fits in."""
    out, pads = [], []
    for size, k, s, p, d in zip(sizes, kernel_size, stride, padding, dilation):
        span = d * (k - 1) + 1
        o = (size + 2 * p - span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (o - 1) * s >= size + p:
            o -= 1
        out.append(o)
        pads.append((p, max(p, (o - 1) * s + span - size - p)))
    return out, tuple(pads)


def _pool_windows(x: Array, kernel_size: Sequence[int], stride: Sequence[int],
                  padding: Sequence[int], dilation: Sequence[int], ceil_mode: bool,
                  fill: float) -> Array:
    """(N, C, *out, *kernel) windows of x padded with ``fill``; x is (N, C, *spatial)."""
    n = len(kernel_size)
    out, pads = _pool_geometry(x.shape[2:], kernel_size, stride, padding, dilation, ceil_mode)
    if any(hi > 0 for _, hi in pads):
        x = np.pad(x, [(0, 0), (0, 0)] + list(pads), constant_values=fill)
    return _windows(x, kernel_size, stride, ((0, 0),) * n, dilation, out_sizes=out)


def _as_batched(x: Array, n: int) -> Array:
    return x if x.ndim == n + 2 else x[None]


def _window_max(win: Array, n: int) -> Array:
    """The max over the last n (kernel) axes of a strided window view.

    A loop over the k*k kernel offsets of elementwise ``np.maximum`` on strided slices: a
    reduction over the window axes of the view itself walks memory badly (10x slower here).
    ``np.maximum`` propagates nan, as PyTorch's max pooling does.
    """
    offsets = np.ndindex(*win.shape[-n:])
    out: Array = win[(..., *next(offsets))].copy()
    for k in offsets:
        np.maximum(out, win[(..., *k)], out=out)
    return out


def _window_argmax(win: Array, n: int) -> Array:
    """The flat kernel offset of each window's first maximum (a nan counts as the largest,
    its first occurrence wins), computed as :func:`_window_max` is."""
    offsets = np.ndindex(*win.shape[-n:])
    best: Array = win[(..., *next(offsets))].copy()
    index = np.zeros(best.shape, dtype=np.int64)
    for flat, k in enumerate(offsets, start=1):
        v = win[(..., *k)]
        better = (v > best) | ((v != v) & (best == best))
        np.copyto(best, v, where=better)
        index[better] = flat
    return index


def max_pool(x: Array, *, kernel_size: Sequence[int], stride: Sequence[int],
             padding: Sequence[int], dilation: Sequence[int], ceil_mode: bool) -> Array:
    n = len(kernel_size)
    win = _pool_windows(_as_batched(x, n), kernel_size, stride, padding, dilation, ceil_mode,
                        -np.inf)
    out = _window_max(win, n)
    return out.reshape(x.shape[:-n] + out.shape[-n:])


def max_pool_indices(x: Array, *, kernel_size: Sequence[int], stride: Sequence[int],
                     padding: Sequence[int], dilation: Sequence[int], ceil_mode: bool) -> Array:
    n = len(kernel_size)
    xb = _as_batched(x, n)
    win = _pool_windows(xb, kernel_size, stride, padding, dilation, ceil_mode, -np.inf)
    out_sizes = win.shape[2:2 + n]
    # argmax returns the first maximum (PyTorch's choice, which fixes where gradients go)
    best = _window_argmax(win, n)
    offsets = np.unravel_index(best, tuple(kernel_size))
    positions, inside = [], np.ones(best.shape, dtype=bool)
    for i in range(n):
        grid = np.arange(out_sizes[i]).reshape((-1,) + (1,) * (n - 1 - i)) * stride[i]
        position = grid + offsets[i] * dilation[i] - padding[i]
        inside &= (position >= 0) & (position < xb.shape[2 + i])
        positions.append(position)
    empty = np.zeros((), dtype=bool)
    if not inside.all():
        # A padding -inf won: the window holds only -inf (or nothing). Take its first input
        # element instead, as PyTorch does; a window with none gets -1 (and no gradient).
        for i in range(n):
            first = _first_inside(out_sizes[i], xb.shape[2 + i], kernel_size[i], stride[i],
                                  padding[i], dilation[i]).reshape((-1,) + (1,) * (n - 1 - i))
            positions[i] = np.where(inside, positions[i], first)
            empty = empty | (first < 0)
    flat = np.zeros(best.shape, dtype=np.int64)
    for i in range(n):
        flat = flat * xb.shape[2 + i] + positions[i]
    flat = np.where(empty, -1, flat)
    return flat.reshape(x.shape[:-n] + tuple(out_sizes))


def _first_inside(out_size: int, size: int, k: int, s: int, p: int, d: int) -> Array:
    """Per window along one dim, the first coordinate inside the input, or -1 if none."""
    start = np.arange(out_size) * s - p
    steps = (np.maximum(-start, 0) + d - 1) // d
    coordinate = start + steps * d
    return np.where((steps < k) & (coordinate < size), coordinate, -1)


def _avg_divisor(sizes: Sequence[int], out_sizes: Sequence[int], kernel_size: Sequence[int],
                 stride: Sequence[int], padding: Sequence[int], count_include_pad: bool,
                 divisor_override: int | None) -> Array | int:
    """Each window's divisor, as PyTorch: the window clipped to the padded input (or to the
    input itself without ``count_include_pad``), a product of one factor per dim."""
    if divisor_override is not None:
        return divisor_override
    div: Array = np.ones((), dtype=np.int64)
    for size, o, k, s, p in zip(sizes, out_sizes, kernel_size, stride, padding):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, size + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, size)
        div = np.multiply.outer(div, end - start)
    return div


def avg_pool(x: Array, *, kernel_size: Sequence[int], stride: Sequence[int],
             padding: Sequence[int], ceil_mode: bool, count_include_pad: bool,
             divisor_override: int | None) -> Array:
    n = len(kernel_size)
    ones = (1,) * n
    win = _pool_windows(_as_batched(x, n), kernel_size, stride, padding, ones, ceil_mode, 0.0)
    total = win.sum(axis=tuple(range(-n, 0)), dtype=x.dtype)
    div = _avg_divisor(x.shape[-n:], total.shape[-n:], kernel_size, stride, padding,
                       count_include_pad, divisor_override)
    out: Array = (total / np.asarray(div, dtype=x.dtype)).astype(x.dtype, copy=False)
    return out.reshape(x.shape[:-n] + out.shape[-n:])


def avg_pool_backward(g: Array, *, input_size: Sequence[int], kernel_size: Sequence[int],
                      stride: Sequence[int], padding: Sequence[int], ceil_mode: bool,
                      count_include_pad: bool, divisor_override: int | None) -> Array:
    n = len(kernel_size)
    gb = _as_batched(g, n)
    out_sizes, pads = _pool_geometry(input_size, kernel_size, stride, padding, (1,) * n,
                                     ceil_mode)
    div = _avg_divisor(input_size, out_sizes, kernel_size, stride, padding, count_include_pad,
                       divisor_override)
    share = (gb / np.asarray(div, dtype=g.dtype)).astype(g.dtype, copy=False)
    buf = np.zeros(gb.shape[:2] + tuple(size + lo + hi for size, (lo, hi)
                                        in zip(input_size, pads)), dtype=g.dtype)
    for offset in itertools.product(*(range(k) for k in kernel_size)):
        target = tuple(slice(o, o + (size - 1) * s + 1, s)
                       for o, size, s in zip(offset, out_sizes, stride))
        buf[(slice(None), slice(None)) + target] += share
    keep = tuple(slice(lo, lo + size) for size, (lo, _) in zip(input_size, pads))
    out = np.ascontiguousarray(buf[(slice(None), slice(None)) + keep])
    return out.reshape(g.shape[:-n] + tuple(input_size))


def _adaptive_matrix(size: int, out: int, dtype: np.dtype) -> Array:  # type: ignore[type-arg]
    """(out, size): row i averages input positions [floor(i*size/out), ceil((i+1)*size/out))."""
    i = np.arange(out)
    start, end = (i * size) // out, -((-(i + 1) * size) // out)
    pos = np.arange(size)
    inside = (pos >= start[:, None]) & (pos < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def _along_spatial(a: Array, matrices: Sequence[Array]) -> Array:
    """Contract each of a's last len(matrices) dims with its matrix's columns."""
    n = len(matrices)
    for i, m in enumerate(matrices):
        axis = a.ndim - n + i
        a = np.moveaxis(np.tensordot(m, a, axes=([1], [axis])), 0, axis)
    return np.ascontiguousarray(a)


def adaptive_avg_pool(x: Array, *, output_size: Sequence[int | None]) -> Array:
    n = len(output_size)
    sizes = x.shape[-n:]
    out = [s if o is None else o for s, o in zip(sizes, output_size)]
    return _along_spatial(x, [_adaptive_matrix(s, o, x.dtype) for s, o in zip(sizes, out)])


def adaptive_avg_pool_backward(g: Array, *, input_size: Sequence[int]) -> Array:
    n = len(input_size)
    return _along_spatial(g, [_adaptive_matrix(s, o, g.dtype).T
                              for s, o in zip(input_size, g.shape[-n:])])


for _n in (1, 2):
    kernel(f"conv{_n}d", backend="cpu")(conv)
    kernel(f"conv_transpose{_n}d", backend="cpu")(conv_transpose)
    kernel(f"conv{_n}d_weight", backend="cpu")(conv_weight)
    kernel(f"max_pool{_n}d", backend="cpu")(max_pool)
    kernel(f"max_pool{_n}d_indices", backend="cpu")(max_pool_indices)
    kernel(f"avg_pool{_n}d", backend="cpu")(avg_pool)
    kernel(f"avg_pool{_n}d_backward", backend="cpu")(avg_pool_backward)
    kernel(f"adaptive_avg_pool{_n}d", backend="cpu")(adaptive_avg_pool)
    kernel(f"adaptive_avg_pool{_n}d_backward", backend="cpu")(adaptive_avg_pool_backward)
