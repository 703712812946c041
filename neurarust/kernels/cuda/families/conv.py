"""Convolutions on the device: im2col (``im2col.cu``) + the driver's GEMM, and col2im.

The three conv ops of :mod:`neurarust.ops.conv` (whose gradients are each other) in the
layout of the CPU kernels, for 2-d and 1-d (as 2-d with a height of 1), any ``groups``:

* ``conv2d``: ``cols = im2col(x)`` [C*KH*KW, N*OH*OW]; ``y = weight [O, C*KH*KW] @ cols``
  [O, N*OH*OW]; a gather permutes y to [N, O, OH, OW]; the bias is one broadcast add;
* ``conv_transpose2d`` (conv2d's input gradient): the input permuted to [Ci, N*H*W];
  ``cols = weight^T [Co*KH*KW, Ci] @ input``; ``col2im`` sums each output pixel's
  contributions (gather form: no atomics, a fixed order);
* ``conv2d_weight``: ``im2col(x)`` [C*KH*KW, N*L] ``@ grad^T`` [N*L, O], transposed.

Padding pairs may be asymmetric or negative (a crop, inside gradients): im2col reads zeros
outside the input, whatever the pads. With ``groups > 1`` the columns and weights are
stacked by group and each group is one GEMM on sub-buffers (:meth:`..driver.Buffer.sub`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..array import DeviceArray
from ..contract import (
    BLOCK,
    INT32_MAX,
    MAX_GRID,
    Access,
    Ctx,
    Expr,
    KernelContract,
    Lemma,
    LoopVar,
    Param,
    grid_stride,
)
from .common import FLOATS, I64, Unsupported, launch
from .elementwise import binary
from .gather import gather

__all__ = ["COL2IM", "CONTRACTS", "IM2COL", "NATIVE", "coords", "derived", "im2col"]

Pads = Sequence[tuple[int, int]]


def coords(var: str, dims: Sequence[tuple[str, str]]) -> tuple[Lemma, ...]:
    """The coordinates of ``var`` in a C-order shape, innermost first: ``dims`` lists
    ``(coordinate, size parameter)``; as the kernels compute them, ``r = var; a = r % A;
    r /= A; b = r % B; ...``."""
    out = []
    for k, (name, size) in enumerate(dims):
        inner = [s for _, s in dims[:k]]

        def define(c: Ctx, inner: list[str] = inner, size: str = size) -> Expr:
            r = c.v[var]
            for s in inner:
                r = c.ops.div(r, c.p[s])
            return c.ops.mod(r, c.p[size])

        def hi(c: Ctx, size: str = size) -> Expr:
            return c.p[size]

        out.append(Lemma(name, define, lambda c: 0, hi))
    return tuple(out)


def derived(*names: str) -> tuple[LoopVar, ...]:
    """Values a kernel computes and then checks against its bounds (a window's input row
    ``ih``, ...): free in the proof, so each access is proven for EVERY value its guard lets
    through, whatever the formula (pads, strides, dilations) that computed it."""
    return tuple(LoopVar(name, lambda c: []) for name in names)


_SIZES = ("N", "H", "W", "KH", "KW", "OH", "OW")
_GEOMETRY = (Param("sh"), Param("sw"), Param("dh"), Param("dw"),
             Param("ph", -INT32_MAX, INT32_MAX), Param("pw", -INT32_MAX, INT32_MAX))
"""Strides and dilations (>= 1) and the leading pads (any sign: a negative pad crops)."""


def _p(c: Ctx, *names: str) -> Expr:
    out = 1
    for name in names:
        out = out * c.p[name]
    return out


def _im2col_total(c: Ctx) -> Expr:
    return _p(c, "C", "KH", "KW", "N", "OH", "OW")


def _in_input(c: Ctx) -> list[Any]:
    """The kernel's padding check ``0 <= ih && ih < H && 0 <= iw && iw < W``."""
    return [0 <= c.v["ih"], c.v["ih"] < c.p["H"], 0 <= c.v["iw"], c.v["iw"] < c.p["W"]]


IM2COL = KernelContract(
    name="im2col",
    source="im2col.cu",
    functions=("nr_im2col_f32", "nr_im2col_f64"),
    params=tuple(Param(d) for d in ("C", *_SIZES)) + _GEOMETRY,
    assume=lambda c: [_im2col_total(c) <= INT32_MAX, _p(c, "N", "C", "H", "W") <= INT32_MAX],
    grid=lambda c: c.ops.min(c.ops.cdiv(_im2col_total(c), BLOCK), MAX_GRID),
    block=lambda c: BLOCK,
    buffers=lambda c: {"x": _p(c, "N", "C", "H", "W"), "cols": _im2col_total(c)},
    # ih = oh*sh - ph + kh*dh, iw likewise: free, bounded by the padding check alone
    loops=(grid_stride("i"), *derived("ih", "iw")),
    lemmas=coords("i", [("ow", "OW"), ("oh", "OH"), ("n", "N"), ("kw", "KW"), ("kh", "KH"),
                        ("c", "C")]),
    accesses=(
        Access("x", "read",
               lambda c: ((c.v["n"] * c.p["C"] + c.v["c"]) * c.p["H"] + c.v["ih"]) * c.p["W"]
               + c.v["iw"],
               lambda c: [c.v["i"] < _im2col_total(c), *_in_input(c)],
               "x[((n * C + c) * H + ih) * W + iw]"),
        Access("cols", "write", lambda c: c.v["i"],
               lambda c: [c.v["i"] < _im2col_total(c)], "cols[i]"),
    ),
)


def _col2im_total(c: Ctx) -> Expr:
    return _p(c, "N", "Co", "OH", "OW")


def _col2im_guard(c: Ctx) -> list[Any]:
    return [c.v["i"] < _col2im_total(c), c.v["kh"] < c.p["KH"], c.v["kw"] < c.p["KW"],
            *_in_input(c)]


def _col2im_read(c: Ctx) -> Expr:
    return (((c.v["co"] * c.p["KH"] + c.v["kh"]) * c.p["KW"] + c.v["kw"])
            * _p(c, "N", "H", "W") + (c.v["n"] * c.p["H"] + c.v["ih"]) * c.p["W"] + c.v["iw"])


COL2IM = KernelContract(
    name="col2im",
    source="im2col.cu",
    functions=("nr_col2im_f32", "nr_col2im_f64"),
    params=tuple(Param(d) for d in ("Co", *_SIZES)) + _GEOMETRY,
    assume=lambda c: [_col2im_total(c) <= INT32_MAX,
                      _p(c, "Co", "KH", "KW", "N", "H", "W") <= INT32_MAX],
    grid=lambda c: c.ops.min(c.ops.cdiv(_col2im_total(c), BLOCK), MAX_GRID),
    block=lambda c: BLOCK,
    buffers=lambda c: {"columns": _p(c, "Co", "KH", "KW", "N", "H", "W"),
                       "out": _col2im_total(c)},
    # ih = (oy + ph - kh*dh) / sh where that divides exactly, iw likewise: free, bounded by
    # the kernel's check 0 <= ih < H, 0 <= iw < W
    loops=(grid_stride("i"), LoopVar("kh", lambda c: [c.v["kh"] >= 0]),
           LoopVar("kw", lambda c: [c.v["kw"] >= 0]), *derived("ih", "iw")),
    lemmas=coords("i", [("ox", "OW"), ("oy", "OH"), ("co", "Co"), ("n", "N")]),
    accesses=(
        # the kernel loops kh < KH, kw < KW and skips taps outside the input
        Access("columns", "read", _col2im_read, _col2im_guard,
               "columns[((co * KH + kh) * KW + kw) * NHW + (n * H + ih) * W + iw]"),
        Access("out", "write", lambda c: c.v["i"],
               lambda c: [c.v["i"] < _col2im_total(c)], "out[i]"),
    ),
)

CONTRACTS = (IM2COL, COL2IM)


# -- host side ------------------------------------------------------------------------------
def _geometry_args(stride: Sequence[int], padding: Pads,
                   dilation: Sequence[int]) -> list[np.int64]:
    return [I64(stride[0]), I64(stride[1]), I64(padding[0][0]), I64(padding[1][0]),
            I64(dilation[0]), I64(dilation[1])]


def _check_size(*counts: int) -> None:
    if any(n > INT32_MAX for n in counts):
        raise Unsupported  # beyond the element count the contracts cover


def im2col(x: DeviceArray, kernel: Sequence[int], out_sizes: Sequence[int],
           stride: Sequence[int], padding: Pads, dilation: Sequence[int]) -> DeviceArray:
    """x [N, C, H, W] -> columns [C*KH*KW, N*OH*OW] (``im2col.cu``), zeros in the padding."""
    n, ch, h, w = x.shape
    (kh, kw), (oh, ow) = kernel, out_sizes
    out = DeviceArray.empty((ch * kh * kw, n * oh * ow), x.dtype, x.driver)
    _check_size(out.size, x.size)
    if out.size:
        if x.size == 0:
            raise Unsupported
        launch(IM2COL, f"nr_im2col_{FLOATS[x.dtype]}", x.driver,
               [x.buffer, out.buffer, I64(out.size), *map(I64, (n, ch, h, w, kh, kw, oh, ow)),
                *_geometry_args(stride, padding, dilation)],
               C=ch, N=n, H=h, W=w, KH=kh, KW=kw, OH=oh, OW=ow)
    return out


def _col2im(cols: DeviceArray, n: int, co: int, in_sizes: Sequence[int],
            kernel: Sequence[int], out_sizes: Sequence[int], stride: Sequence[int],
            padding: Pads, dilation: Sequence[int]) -> DeviceArray:
    """cols [Co*KH*KW, N*H*W] -> [N, Co, OH, OW]: each output pixel sums its taps."""
    (h, w), (kh, kw), (oh, ow) = in_sizes, kernel, out_sizes
    out = DeviceArray.empty((n, co, oh, ow), cols.dtype, cols.driver)
    _check_size(out.size, cols.size)
    if out.size:
        if cols.size == 0:
            out.set(np.zeros(out.shape, out.dtype))
            return out
        launch(COL2IM, f"nr_col2im_{FLOATS[cols.dtype]}", cols.driver,
               [cols.buffer, out.buffer, I64(out.size), *map(I64, (n, co, h, w, kh, kw, oh, ow)),
                *_geometry_args(stride, padding, dilation)],
               Co=co, N=n, H=h, W=w, KH=kh, KW=kw, OH=oh, OW=ow)
    return out


def _grouped_gemm(a: DeviceArray, b: DeviceArray, groups: int, m: int, n: int,
                  k: int) -> DeviceArray:
    """For each group g: a[g] [m, k] @ b[g] [k, n] -> out[g] [m, n], the groups stacked
    along the rows of ``a``, ``b`` and the result ``[groups * m, n]``; one driver GEMM per
    group on sub-buffers (zeros when k == 0)."""
    out = DeviceArray.empty((groups * m, n), a.dtype, a.driver)
    if not (m and n and k):
        if out.size:
            out.set(np.zeros(out.shape, out.dtype))
        return out
    size = a.itemsize
    for g in range(groups):
        a.driver.gemm(a.buffer.sub(g * m * k * size, m * k * size),
                      b.buffer.sub(g * k * n * size, k * n * size),
                      out.buffer.sub(g * m * n * size, m * n * size), m, n, k, a.dtype)
    return out


def _swap01(a: DeviceArray) -> DeviceArray:
    """[A, B, L] -> [B, A, L] (``gather.cu``)."""
    d0, d1, d2 = a.shape
    return gather(a, (d1, d0, d2), [d2, d1 * d2, 1])


def _swap12(a: DeviceArray) -> DeviceArray:
    """[G, A, B] -> [G, B, A]: each group's matrix transposed (``gather.cu``)."""
    g, d1, d2 = a.shape
    return gather(a, (g, d2, d1), [d1 * d2, 1, d2])


def _add_bias(y: DeviceArray, b: Any) -> DeviceArray:
    """y [N, O, ...] + b [O] (one broadcast add)."""
    if b is None:
        return y
    if not isinstance(b, DeviceArray) or b.dtype != y.dtype or b.shape != (y.shape[1],):
        raise Unsupported
    return binary("add", y.reshape(y.shape[0], y.shape[1], -1), b.reshape(-1, 1)).reshape(
        y.shape)


def _floats(*arrays: Any) -> np.dtype[Any]:
    if not all(isinstance(a, DeviceArray) for a in arrays):
        raise Unsupported
    dtype: np.dtype[Any] = arrays[0].dtype
    if dtype not in FLOATS or any(a.dtype != dtype for a in arrays):
        raise Unsupported
    return dtype


def _out_sizes(sizes: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
               padding: Pads, dilation: Sequence[int]) -> list[int]:
    return [(s + lo + hi - d * (k - 1) - 1) // st + 1
            for s, k, st, (lo, hi), d in zip(sizes, kernel, stride, padding, dilation)]


def _batched(x: Any, *others: Any) -> tuple[bool, DeviceArray]:
    """x with a batch dim (an unbatched (C, H, W) gets one of 1), and whether it had one."""
    _floats(x, *others)
    if x.ndim not in (3, 4):
        raise Unsupported
    return x.ndim == 4, x if x.ndim == 4 else x.reshape(1, *x.shape)


def _conv2d(x: Any, w: Any, b: Any = None, *, stride: Sequence[int], padding: Pads,
            dilation: Sequence[int], groups: int) -> DeviceArray:
    batched, xb = _batched(x, w)
    n, _, h, wd = xb.shape
    o, kernel = w.shape[0], w.shape[2:]
    og, cgk = o // groups, w.size // max(o, 1)  # per group: out channels, C/G * KH * KW
    oh, ow = _out_sizes((h, wd), kernel, stride, padding, dilation)
    cols = im2col(xb, kernel, (oh, ow), stride, padding, dilation)  # [G * cgk, N*OH*OW]
    y = _grouped_gemm(w, cols, groups, og, n * oh * ow, cgk)  # [O, N*OH*OW]
    out = _add_bias(_swap01(y.reshape(o, n, oh * ow)).reshape(n, o, oh, ow), b)
    return out if batched else out.reshape(o, oh, ow)


def _conv_transpose2d(x: Any, w: Any, b: Any = None, *, stride: Sequence[int],
                      padding: Pads, dilation: Sequence[int], groups: int) -> DeviceArray:
    batched, xb = _batched(x, w)
    n, ci, h, wd = xb.shape
    cog, kernel = w.shape[1], w.shape[2:]
    cig, cogk = ci // groups, cog * kernel[0] * kernel[1]
    out_sizes = [(s - 1) * st - lo - hi + d * (k - 1) + 1
                 for s, k, st, (lo, hi), d in zip((h, wd), kernel, stride, padding, dilation)]
    wt = _swap12(w.reshape(groups, cig, cogk))  # per group [Co/G * KH * KW, Ci/G]
    xt = _swap01(xb.reshape(n, ci, h * wd))  # [Ci, N*H*W]
    cols = _grouped_gemm(wt, xt, groups, cogk, n * h * wd, cig)  # [Co * KH * KW, N*H*W]
    out = _add_bias(_col2im(cols, n, groups * cog, (h, wd), kernel, out_sizes, stride,
                            padding, dilation), b)
    return out if batched else out.reshape(out.shape[1:])


def _conv2d_weight(x: Any, g: Any, *, kernel_size: Sequence[int], stride: Sequence[int],
                   padding: Pads, dilation: Sequence[int], groups: int) -> DeviceArray:
    _, xb = _batched(x, g)
    if g.ndim != x.ndim:
        raise Unsupported
    gb = g if g.ndim == 4 else g.reshape(1, *g.shape)
    n, ch = xb.shape[:2]
    o, oh, ow = gb.shape[1:]
    og, cgk = o // groups, ch // groups * kernel_size[0] * kernel_size[1]
    cols = im2col(xb, kernel_size, (oh, ow), stride, padding, dilation)  # [G * cgk, N*L]
    # per group, grad^T [N*L, O/G]: (n, g, o, l) -> (g, n, l, o)
    lo = oh * ow
    gt = gather(gb, (groups, n, lo, og), [og * lo, o * lo, 1, lo])
    wt = _grouped_gemm(cols, gt, groups, cgk, og, n * lo)  # per group [cgk, O/G]
    return _swap12(wt.reshape(groups, cgk, og)).reshape(o, ch // groups, *kernel_size)


def _as_2d(fn: Callable[..., DeviceArray], spatial_inputs: int) -> Callable[..., DeviceArray]:
    """The 1-d op through its 2-d kernel: a height of 1 (stride/dilation 1, no pads)."""

    def run(*args: Any, **attrs: Any) -> DeviceArray:
        arrays = [a.reshape(*a.shape[:-1], 1, a.shape[-1]) if isinstance(a, DeviceArray)
                  and k < spatial_inputs else a for k, a in enumerate(args)]
        lifted = {**attrs, "stride": (1, *attrs["stride"]), "dilation": (1, *attrs["dilation"]),
                  "padding": ((0, 0), *attrs["padding"])}
        if "kernel_size" in attrs:
            lifted["kernel_size"] = (1, *attrs["kernel_size"])
        out = fn(*arrays, **lifted)
        shape = out.shape[:-2] + out.shape[-1:]
        return out.reshape(shape)

    return run


NATIVE: dict[str, Callable[..., DeviceArray]] = {
    "conv2d": _conv2d, "conv_transpose2d": _conv_transpose2d, "conv2d_weight": _conv2d_weight,
    "conv1d": _as_2d(_conv2d, 2), "conv_transpose1d": _as_2d(_conv_transpose2d, 2),
    "conv1d_weight": _as_2d(_conv2d_weight, 2),
}
