"""numpy kernels for convolutions: im2col through a strided view, then one GEMM per group.

For any number of spatial dims. The kernels work in a *batch-last* layout: the input is
copied once to (C, *spatial, N), whose window view (C, *kernel, *out, N) costs nothing and
copies into the GEMM's columns (C * prod(kernel), prod(out) * N) in long contiguous runs
(``prod(out) * N`` elements when the stride is 1), where the batch-first layout gives runs of
one output row (a 28x28 image: 26 elements). The transposed convolution is the same GEMM run
backwards, whose columns are added back into the output by one strided add per kernel offset
(col2im), again in runs that span the batch. The results are copied back to batch-first.

Internal buffers (the batch-last copy of the input, the columns, the GEMM product or col2im
accumulator) live in three :mod:`.scratch` buffers (slots ``input``, ``columns``,
``product``) reused from call to call and shared by the three kernels: in a training loop
the same sizes come back every step, and a fresh multi-megabyte array costs a page fault per
4 KiB every time (a quarter of a small CNN's step, measured). Every returned array is
freshly allocated and never shares memory with scratch.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ...ops.conv import Pads
from ...ops.registry import kernel
from .scratch import scratch as _scratch

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
    element at ``p*s + k*d`` of each spatial dim. (Pooling's layout.)"""
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


def _batch_last(x: Array, padding: Pads, slot: str) -> Array:
    """(N, C, *spatial) -> a scratch (C, *padded spatial, N) copy, zero-padded (positive
    pads) or cropped (negative pads)."""
    crop = tuple(slice(max(-lo, 0), size - max(-hi, 0))
                 for (lo, hi), size in zip(padding, x.shape[2:]))
    x = x[(slice(None), slice(None)) + crop]
    n = x.ndim - 2
    before = [max(lo, 0) for lo, _ in padding]
    sizes = [size + b + max(hi, 0) for size, b, (_, hi) in zip(x.shape[2:], before, padding)]
    buf = _scratch(slot, (x.shape[1], *sizes, x.shape[0]), x.dtype)
    if sizes != list(x.shape[2:]):
        buf.fill(0)
    inside = (slice(None),) + tuple(slice(b, b + size) for b, size in zip(before, x.shape[2:]))
    np.copyto(buf[inside], x.transpose(tuple(range(1, n + 2)) + (0,)))
    return buf


def _columns(xn: Array, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
             out_sizes: Sequence[int], groups: int, slot: str) -> Array:
    """Batch-last padded input (C, *spatial, N) -> scratch columns
    (G, C/G * prod(kernel), prod(out) * N): the im2col copy, one matrix per group, so that
    ``weight @ columns`` is a single GEMM over the whole batch."""
    channels, batch = xn.shape[0], xn.shape[-1]
    st = xn.strides
    spatial = st[1:-1]
    win = as_strided(
        xn,
        shape=(channels,) + tuple(kernel) + tuple(out_sizes) + (batch,),
        strides=(st[0],) + tuple(s * d for s, d in zip(spatial, dilation))
        + tuple(s * k for s, k in zip(spatial, stride)) + (st[-1],),
        writeable=False,
    )
    cols = _scratch(slot, win.shape, xn.dtype)
    np.copyto(cols, win)
    return cols.reshape(groups, channels // groups * math.prod(kernel), -1)


def _to_batch_first(y: Array, out: Array) -> Array:
    """Copy (C, *spatial, N) ``y`` into ``out`` (N, C, *spatial); return ``out``."""
    np.copyto(out, y.transpose((y.ndim - 1,) + tuple(range(y.ndim - 1))))
    return out


def _batched(fn_ndim: int, *arrays: Array) -> tuple[bool, list[Array]]:
    """Give unbatched (C, *spatial) arrays a batch of 1; report whether they had one."""
    batched = arrays[0].ndim == fn_ndim
    return batched, [a if batched else a[None] for a in arrays]


def _conv_out_sizes(sizes: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                    padding: Pads, dilation: Sequence[int]) -> list[int]:
    return [(size + lo + hi - d * (k - 1) - 1) // s + 1
            for size, k, s, (lo, hi), d in zip(sizes, kernel, stride, padding, dilation)]


def conv(x: Array, w: Array, b: Array | None, *, stride: Sequence[int], padding: Pads,
         dilation: Sequence[int], groups: int) -> Array:
    n = w.ndim - 2
    batched, (x,) = _batched(n + 2, x)
    batch, out_ch = x.shape[0], w.shape[0]
    ksize = w.shape[2:]
    out_sizes = _conv_out_sizes(x.shape[2:], ksize, stride, padding, dilation)
    xn = _batch_last(x, padding, "input")
    cols = _columns(xn, ksize, stride, dilation, out_sizes, groups, "columns")
    wm = w.reshape(groups, out_ch // groups, -1)  # (G, O/G, C/G * K)
    y = _scratch("product", (groups, out_ch // groups, cols.shape[-1]), x.dtype)
    np.matmul(wm, cols, out=y)  # (G, O/G, L * N): one GEMM per group
    out = _to_batch_first(y.reshape((out_ch,) + tuple(out_sizes) + (batch,)),
                          np.empty((batch, out_ch) + tuple(out_sizes), dtype=x.dtype))
    if b is not None:
        out += b.reshape((out_ch,) + (1,) * n)
    return out if batched else out[0]


def conv_transpose(x: Array, w: Array, b: Array | None, *, stride: Sequence[int],
                   padding: Pads, dilation: Sequence[int], groups: int) -> Array:
    n = w.ndim - 2
    batched, (x,) = _batched(n + 2, x)
    batch, in_ch = x.shape[:2]
    sizes = x.shape[2:]
    ksize = tuple(w.shape[2:])
    kprod = math.prod(ksize)
    out_g = w.shape[1]
    # rows ordered (kernel offset, output channel): (G, K * C_out/G, C_in/G)
    wk = (w.reshape(groups, in_ch // groups, out_g, kprod).transpose(0, 3, 2, 1)
          .reshape(groups, kprod * out_g, in_ch // groups))
    xn = _batch_last(x, ((0, 0),) * n, "input")
    cols = _scratch("columns", (groups, kprod * out_g, xn[0].size), x.dtype)
    np.matmul(wk, xn.reshape(groups, in_ch // groups, -1), out=cols)
    # as (G, *K, C_out/G, *L, N): each kernel offset's slice is contiguous
    cols = cols.reshape((groups,) + ksize + (out_g,) + tuple(sizes) + (batch,))
    # col2im: one strided add per kernel offset, into a batch-last buffer holding the full
    # output plus any negative padding (zeros); each add runs along (last spatial dim, N).
    full = [(size - 1) * s + d * (k - 1) + 1
            for size, k, s, d in zip(sizes, ksize, stride, dilation)]
    before = [max(-lo, 0) for lo, _ in padding]
    after = [max(-hi, 0) for _, hi in padding]
    buf = _scratch("product", (groups, out_g) + tuple(
        f + a + z for f, a, z in zip(full, before, after)) + (batch,), x.dtype)
    buf.fill(0)
    lead = (slice(None),) * 2
    for offset in itertools.product(*(range(k) for k in ksize)):
        target = tuple(
            slice(a + o * d, a + o * d + (size - 1) * s + 1, s)
            for a, o, d, size, s in zip(before, offset, dilation, sizes, stride)
        )
        buf[lead + target] += cols[(slice(None),) + offset]
    keep = tuple(slice(lo + a, a + f - hi) for (lo, hi), a, f in zip(padding, before, full))
    kept = buf[lead + keep]  # (G, C_out/G, *out, N)
    kept = kept.reshape((groups * out_g,) + kept.shape[2:])
    out = _to_batch_first(kept, np.empty((batch, groups * out_g) + kept.shape[1:-1],
                                         dtype=x.dtype))
    if b is not None:
        out += b.reshape((-1,) + (1,) * n)
    return out if batched else out[0]


def conv_weight(x: Array, g: Array, *, kernel_size: Sequence[int], stride: Sequence[int],
                padding: Pads, dilation: Sequence[int], groups: int) -> Array:
    n = len(kernel_size)
    _, (x, g) = _batched(n + 2, x, g)
    out_ch = g.shape[1]
    xn = _batch_last(x, padding, "input")
    cols = _columns(xn, kernel_size, stride, dilation, g.shape[2:], groups,
                    "columns")  # (G, C/G * K, L * N)
    gn = _batch_last(g, ((0, 0),) * n, "product").reshape(groups, out_ch // groups, -1)
    # Sum over batch and positions in one GEMM per group: (G, O/G, L*N) @ (G, L*N, C/G*K)
    out: Array = np.matmul(gn, cols.transpose(0, 2, 1))
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


def _window_max(win: Array, n: int, out: Array | None = None) -> Array:
    """The max over the last n (kernel) axes of a strided window view (into ``out``).

    A loop over the k*k kernel offsets of elementwise ``np.maximum`` on strided slices: a
    reduction over the window axes of the view itself walks memory badly (10x slower here).
    ``np.maximum`` propagates nan, as PyTorch's max pooling does.
    """
    offsets = np.ndindex(*win.shape[-n:])
    first = win[(..., *next(offsets))]
    if out is None:
        out = first.copy()
    else:
        np.copyto(out, first)
    for k in offsets:
        np.maximum(out, win[(..., *k)], out=out)
    return out


def _window_argmax(win: Array, n: int) -> Array:
    """The flat kernel offset of each window's first maximum (a nan counts as the largest,
    its first occurrence wins), as an int64 scratch array.

    The maximum comes from :func:`_window_max` (which propagates nan); then each kernel offset
    k that holds it scores ``K - k`` (K offsets), and the running maximum of the scores
    leaves ``K - first offset``: elementwise SIMD passes with no data-dependent branch (a
    masked write per offset is several times slower on random masks). A window's maximum is
    nan exactly when the window holds a nan, so ``isnan(v)`` only matters where it picks the
    first nan.
    """
    shape = win.shape[:-n]
    best = _window_max(win, n, out=_scratch("pool.max", shape, win.dtype))
    offsets = list(np.ndindex(*win.shape[-n:]))
    count = len(offsets)
    score_dtype = np.uint8 if count < 256 else np.int64
    with_nan = bool(np.isnan(best).any())
    hit = _scratch("pool.hit", shape, bool)
    score = _scratch("pool.score", shape, score_dtype)
    top = _scratch("pool.top", shape, score_dtype)
    top.fill(0)
    for flat, k in enumerate(offsets):
        v = win[(..., *k)]
        np.equal(v, best, out=hit)
        if with_nan:
            hit |= np.isnan(v)
        np.multiply(hit, score_dtype(count - flat), out=score)
        np.maximum(top, score, out=top)
    np.subtract(score_dtype(count), top, out=top)
    index = _scratch("pool.offset", shape, np.int64)
    np.copyto(index, top)
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
    return _max_pool_index(x, kernel_size, stride, padding, dilation, ceil_mode)[0]


def _max_pool_index(x: Array, kernel_size: Sequence[int], stride: Sequence[int],
                    padding: Sequence[int], dilation: Sequence[int], ceil_mode: bool,
                    into_scratch: bool = False) -> tuple[Array, bool]:
    """Each window's first maximum as a flat index into its input plane (-1 for a window
    with no input element), and whether any window has none. With ``into_scratch`` the
    index may be a scratch array (for a caller that only reads it)."""
    n = len(kernel_size)
    xb = _as_batched(x, n)
    sizes = xb.shape[2:]
    win = _pool_windows(xb, kernel_size, stride, padding, dilation, ceil_mode, -np.inf)
    out_sizes = win.shape[2:2 + n]
    # the first maximum (PyTorch's choice, which fixes where gradients go), as a kernel offset
    best = _window_argmax(win, n)
    kernel_at = [a.reshape(-1) for a in np.indices(tuple(kernel_size))]  # offset -> coords
    inner = [math.prod(sizes[i + 1:]) for i in range(n)]  # flat stride of each spatial dim
    _, pads = _pool_geometry(sizes, kernel_size, stride, padding, dilation, ceil_mode)
    if all(lo == 0 and hi == 0 for lo, hi in pads):
        # Every window lies inside the input: flat = window start + the offset's flat shift,
        # one small table lookup per output element.
        shift = sum(k * d * st for k, d, st in zip(kernel_at, dilation, inner))
        start = np.zeros((), dtype=np.int64)
        for o, s, st in zip(out_sizes, stride, inner):
            start = np.add.outer(start, np.arange(o, dtype=np.int64) * (s * st))
        flat = (_scratch("pool.flat", best.shape, np.int64) if into_scratch
                else np.empty(best.shape, dtype=np.int64))
        np.take(shift.astype(np.int64), best, out=flat)
        flat += start
        return flat.reshape(x.shape[:-n] + tuple(out_sizes)), False
    positions, inside = [], np.ones(best.shape, dtype=bool)
    for i in range(n):
        grid = np.arange(out_sizes[i]).reshape((-1,) + (1,) * (n - 1 - i)) * stride[i]
        position = grid + np.take(kernel_at[i] * dilation[i], best) - padding[i]
        inside &= (position >= 0) & (position < sizes[i])
        positions.append(position)
    empty = np.zeros((), dtype=bool)
    if not inside.all():
        # A padding -inf won: the window holds only -inf (or nothing). Take its first input
        # element instead, as PyTorch does; a window with none gets -1 (and no gradient).
        for i in range(n):
            first = _first_inside(out_sizes[i], sizes[i], kernel_size[i], stride[i],
                                  padding[i], dilation[i]).reshape((-1,) + (1,) * (n - 1 - i))
            positions[i] = np.where(inside, positions[i], first)
            empty = empty | (first < 0)
    flat = np.zeros(best.shape, dtype=np.int64)
    for i in range(n):
        flat = flat * sizes[i] + positions[i]
    any_empty = bool(empty.any())
    if any_empty:
        flat = np.where(empty, -1, flat)
    return flat.reshape(x.shape[:-n] + tuple(out_sizes)), any_empty


def max_pool_backward(g: Array, x: Array, *, kernel_size: Sequence[int],
                      stride: Sequence[int], padding: Sequence[int], dilation: Sequence[int],
                      ceil_mode: bool) -> Array:
    """Zeros shaped like x, with each gradient added at its window's first maximum: one 1-d
    assignment at global flat positions when windows cannot overlap (distinct targets),
    else a bincount (summing in float64, rounding once, as ``scatter_add``)."""
    n = len(kernel_size)
    index, any_empty = _max_pool_index(x, kernel_size, stride, padding, dilation, ceil_mode,
                                       into_scratch=True)
    plane = math.prod(x.shape[-n:])
    rows = math.prod(x.shape[:-n])
    values: Array = g.reshape(rows, -1)
    flat: Array = index.reshape(rows, -1)
    if any_empty:  # windows wholly in the padding pass nothing
        keep = flat >= 0
        flat = (flat + (np.arange(rows, dtype=np.int64) * plane)[:, None])[keep]
        values = values[keep]
    else:
        flat += np.arange(0, rows * plane, plane, dtype=np.int64)[:, None]  # global positions
    flat, values = flat.reshape(-1), values.reshape(-1)
    disjoint = all(s >= d * (k - 1) + 1 for s, k, d in zip(stride, kernel_size, dilation))
    out: Array
    if disjoint:
        out = np.zeros(rows * plane, dtype=g.dtype)
        out[flat] = values
    elif g.dtype.itemsize >= 4:
        sums = np.bincount(flat, weights=values, minlength=rows * plane)
        out = sums.astype(g.dtype)
    else:
        out = np.zeros(rows * plane, dtype=g.dtype)
        np.add.at(out, flat, values)
    return out.reshape(x.shape)


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
    kernel(f"max_pool{_n}d_backward", backend="cpu")(max_pool_backward)
    kernel(f"avg_pool{_n}d", backend="cpu")(avg_pool)
    kernel(f"avg_pool{_n}d_backward", backend="cpu")(avg_pool_backward)
    kernel(f"adaptive_avg_pool{_n}d", backend="cpu")(adaptive_avg_pool)
    kernel(f"adaptive_avg_pool{_n}d_backward", backend="cpu")(adaptive_avg_pool_backward)
