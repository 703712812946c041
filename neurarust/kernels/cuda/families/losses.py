"""nll_loss and its adjoint (``losses.cu``): class-index targets checked on the device.

A target is data, so the contracts model the loaded value ``c = t[i]`` as a free variable
(a :class:`~..contract.LoopVar` with no facts): every access it indexes is guarded by the
kernel's own check ``0 <= c < classes``, and the proof holds for every target value. An
out-of-range target is recorded in a one-element device buffer (the smallest offending
target index, by ``atomicMin``), which the host reads after the launch and turns into the
CPU kernel's ``IndexError`` (PyTorch raises a device-side assert; this is a Python error).
"""

from __future__ import annotations

from collections.abc import Callable
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

__all__ = ["CONTRACTS", "NATIVE", "NLL_BLOCK", "NLL_LOSS_BACKWARD", "NLL_LOSS_NONE",
           "NLL_LOSS_TOTAL", "NLL_WEIGHT_TOTAL", "nll_loss", "nll_loss_backward"]

NLL_BLOCK = 256  # must equal NR_NLL_BLOCK in losses.cu (a power of two)

_LAYOUT = (Param("outer"), Param("classes"), Param("inner"), Param("has_weight", 0, 1))
"""The input viewed as ``[outer, classes, inner]``; ``has_weight``: w is read."""


def _n(c: Ctx) -> Expr:
    return c.p["outer"] * c.p["inner"]


def _numel(c: Ctx) -> Expr:
    return c.p["outer"] * c.p["classes"] * c.p["inner"]


def _class_ok(c: Ctx) -> list[Any]:
    """nr_nll_valid(c, ...) returned true: the target value is a class."""
    return [c.v["c"] >= 0, c.v["c"] < c.p["classes"]]


_TARGET = LoopVar("c", lambda c: [])  # c = t[i]: any value a target holds
_K_O = (  # k = i % inner, o = (i / inner) % outer (% outer: a no-op for i < n)
    Lemma("k", lambda c: c.ops.mod(c.v["i"], c.p["inner"]), lambda c: 0, lambda c: c.p["inner"]),
    Lemma("o", lambda c: c.ops.mod(c.ops.div(c.v["i"], c.p["inner"]), c.p["outer"]),
          lambda c: 0, lambda c: c.p["outer"]),
)
_ERR = Access("err", "write", lambda c: 0, lambda c: [], "err[0]")
_SHARED = (  # nr_nll_block_sum
    Access("buf (shared)", "write", lambda c: c.tx, lambda c: [], "buf[tid]"),
    Access("buf (shared)", "read", lambda c: c.tx + c.v["s"], lambda c: [c.tx < c.v["s"]],
           "buf[tid + s]"),
    Access("buf (shared)", "read", lambda c: 0, lambda c: [], "buf[0]"),
)
_TREE = LoopVar("s", lambda c: [c.v["s"] >= 1, c.v["s"] <= c.ops.div(c.block, 2)])


def _reads(guard: Callable[[Ctx], list[Any]]) -> tuple[Access, ...]:
    """t[i] under ``guard``, then w[c] and x[o, c, k] once the target is checked."""
    return (
        Access("t", "read", lambda c: c.v["i"], guard, "t[i]"),
        Access("w", "read", lambda c: c.v["c"],
               lambda c: [*guard(c), *_class_ok(c), c.p["has_weight"] == 1], "w[c]"),
        Access("x", "read", lambda c: (c.v["o"] * c.p["classes"] + c.v["c"]) * c.p["inner"]
               + c.v["k"], lambda c: [*guard(c), *_class_ok(c)],
               "x[(o * classes + c) * inner + k]"),
    )


def _in_n(c: Ctx) -> list[Any]:
    return [c.v["i"] < _n(c)]


def _fns(stem: str) -> tuple[str, ...]:
    return (f"nr_{stem}_f32", f"nr_{stem}_f64")


NLL_LOSS_NONE = KernelContract(
    name="nll_loss_none",
    source="losses.cu",
    functions=_fns("nll_loss_none"),
    params=_LAYOUT,
    assume=lambda c: [_numel(c) <= INT32_MAX],
    grid=lambda c: c.ops.min(c.ops.cdiv(_n(c), BLOCK), MAX_GRID),
    block=lambda c: BLOCK,
    buffers=lambda c: {"x": _numel(c), "t": _n(c), "w": c.p["classes"], "loss": _n(c),
                       "err": 1},
    loops=(grid_stride("i"), _TARGET),
    lemmas=_K_O,
    accesses=(*_reads(_in_n), Access("loss", "write", lambda c: c.v["i"], _in_n, "loss[i]"),
              _ERR),
)

NLL_LOSS_TOTAL = KernelContract(
    name="nll_loss_total",
    source="losses.cu",
    functions=_fns("nll_loss_total"),
    params=_LAYOUT,
    assume=lambda c: [_numel(c) <= INT32_MAX],
    grid=lambda c: 1,
    block=lambda c: NLL_BLOCK,
    buffers=lambda c: {"x": _numel(c), "t": _n(c), "w": c.p["classes"], "total": 1, "err": 1,
                       "buf (shared)": NLL_BLOCK},
    # for (i = threadIdx.x; i < n; i += blockDim.x)
    loops=(LoopVar("i", lambda c: [c.v["i"] >= c.tx]), _TARGET, _TREE),
    lemmas=_K_O,
    accesses=(*_reads(_in_n), Access("total", "write", lambda c: 0, lambda c: [], "total[0]"),
              _ERR, *_SHARED),
)

NLL_WEIGHT_TOTAL = KernelContract(
    name="nll_weight_total",
    source="losses.cu",
    functions=_fns("nll_weight_total"),
    params=(Param("n"), Param("classes"), Param("has_weight", 0, 1)),
    assume=lambda c: [],
    grid=lambda c: 1,
    block=lambda c: NLL_BLOCK,
    buffers=lambda c: {"t": c.p["n"], "w": c.p["classes"], "wsum": 1, "err": 1,
                       "buf (shared)": NLL_BLOCK},
    loops=(LoopVar("i", lambda c: [c.v["i"] >= c.tx]), _TARGET, _TREE),
    lemmas=(),
    accesses=(
        Access("t", "read", lambda c: c.v["i"], lambda c: [c.v["i"] < c.p["n"]], "t[i]"),
        Access("w", "read", lambda c: c.v["c"],
               lambda c: [c.v["i"] < c.p["n"], *_class_ok(c), c.p["has_weight"] == 1], "w[c]"),
        Access("wsum", "write", lambda c: 0, lambda c: [], "wsum[0]"),
        _ERR, *_SHARED),
)


def _in_numel(c: Ctx) -> list[Any]:
    return [c.v["q"] < _numel(c)]


NLL_LOSS_BACKWARD = KernelContract(
    name="nll_loss_backward",
    source="losses.cu",
    functions=_fns("nll_loss_backward"),
    params=(*_LAYOUT, Param("g_stride", 0, 1), Param("mean", 0, 1)),
    assume=lambda c: [_numel(c) <= INT32_MAX],
    grid=lambda c: c.ops.min(c.ops.cdiv(_numel(c), BLOCK), MAX_GRID),
    block=lambda c: BLOCK,
    # g: one value per target (g_stride 1) or one in all (g_stride 0)
    buffers=lambda c: {"g": (_n(c) - 1) * c.p["g_stride"] + 1, "t": _n(c), "w": c.p["classes"],
                       "wsum": 1, "dx": _numel(c), "err": 1},
    loops=(grid_stride("q"), _TARGET),
    # k = q % inner, o = (q / inner / classes) % outer, i = o * inner + k
    lemmas=(
        Lemma("k", lambda c: c.ops.mod(c.v["q"], c.p["inner"]), lambda c: 0,
              lambda c: c.p["inner"]),
        Lemma("o", lambda c: c.ops.mod(c.ops.div(c.ops.div(c.v["q"], c.p["inner"]),
                                                 c.p["classes"]), c.p["outer"]),
              lambda c: 0, lambda c: c.p["outer"]),
        Lemma("i", lambda c: c.v["o"] * c.p["inner"] + c.v["k"], lambda c: 0, _n),
    ),
    accesses=(
        Access("t", "read", lambda c: c.v["i"], _in_numel, "t[i]"),
        Access("w", "read", lambda c: c.v["c"],
               lambda c: [*_in_numel(c), *_class_ok(c), c.p["has_weight"] == 1], "w[c]"),
        Access("g", "read", lambda c: c.v["i"] * c.p["g_stride"],
               lambda c: [*_in_numel(c), *_class_ok(c)], "g[i * g_stride]"),
        Access("wsum", "read", lambda c: 0,
               lambda c: [*_in_numel(c), *_class_ok(c), c.p["mean"] == 1], "wsum[0]"),
        Access("dx", "write", lambda c: c.v["q"], _in_numel, "dx[q]"),
        _ERR,
    ),
)

CONTRACTS = (NLL_LOSS_NONE, NLL_LOSS_TOTAL, NLL_WEIGHT_TOTAL, NLL_LOSS_BACKWARD)


def _layout(shape: tuple[int, ...], class_dim: int) -> tuple[int, int, int]:
    """``shape`` as ``(outer, classes, inner)`` around ``class_dim``."""
    return (int(np.prod(shape[:class_dim], dtype=np.int64)), shape[class_dim],
            int(np.prod(shape[class_dim + 1:], dtype=np.int64)))


def _check_args(ref: Any, t: Any, weight: Any, n: int, classes: int) -> None:
    """Unsupported unless float ``ref``, int64 ``t`` of ``n`` targets and ``weight`` (None or
    ``classes`` of ref's dtype) are device arrays the kernels take."""
    if not isinstance(ref, DeviceArray) or ref.dtype not in FLOATS \
            or not isinstance(t, DeviceArray) or t.dtype != np.int64 or t.size != n \
            or (weight is not None and (not isinstance(weight, DeviceArray) or weight.dtype
                                        != ref.dtype or weight.shape != (classes,))) \
            or classes == 0 or n * classes > INT32_MAX:
        raise Unsupported


def _error_buffer(ref: DeviceArray, n: int) -> DeviceArray:
    """err[0] = n: no target out of range (yet)."""
    err = DeviceArray.empty((1,), np.int64, ref.driver)
    err.fill(n)
    return err


def _raise_bad_target(err: DeviceArray, t: DeviceArray, classes: int) -> None:
    """The CPU kernel's IndexError when a kernel recorded an out-of-range target."""
    i = int(err.get()[0])
    if i < t.size:
        value = int(t.get().reshape(-1)[i])
        raise IndexError(f"nll_loss: target {value} is out of bounds for {classes} classes")


def nll_loss(x: Any, t: Any, weight: Any, *, ignore_index: int, reduction: str) -> DeviceArray:
    """``-weight[t] * x[t]`` per target, reduced as the CPU kernel (see ``losses.cu``)."""
    if not isinstance(x, DeviceArray) or x.ndim == 0:
        raise Unsupported
    class_dim = 0 if x.ndim == 1 else 1
    outer, classes, inner = _layout(x.shape, class_dim)
    n = outer * inner
    _check_args(x, t, weight, n, classes)
    shape = t.shape if reduction == "none" else ()
    out = DeviceArray.empty(shape, x.dtype, x.driver)
    if n == 0:  # no targets: an empty loss, a sum of 0, a mean of 0 / 0
        if reduction != "none":
            out.fill(0.0 if reduction == "sum" else np.nan)
        return out
    err = _error_buffer(x, n)
    w = x.buffer if weight is None else weight.buffer  # not read without a weight
    args = [x.buffer, t.buffer, w, out.buffer, err.buffer, I64(outer), I64(classes),
            I64(inner), I64(ignore_index), np.int32(weight is not None)]
    shape_args = {"outer": outer, "classes": classes, "inner": inner,
                  "has_weight": int(weight is not None)}
    suffix = FLOATS[x.dtype]
    if reduction == "none":
        launch(NLL_LOSS_NONE, f"nr_nll_loss_none_{suffix}", x.driver, args, **shape_args)
    else:
        launch(NLL_LOSS_TOTAL, f"nr_nll_loss_total_{suffix}", x.driver,
               [*args, np.int32(reduction == "mean")], **shape_args)
    _raise_bad_target(err, t, classes)
    return out


def nll_loss_backward(g: Any, t: Any, weight: Any, *, classes: int, ignore_index: int,
                      reduction: str) -> DeviceArray:
    """The adjoint of :func:`nll_loss` in its input: ``-g * weight[t]`` (/ the targets'
    total weight for ``'mean'``) at each target's class, 0 elsewhere."""
    if not isinstance(t, DeviceArray):
        raise Unsupported
    classes = int(classes)
    shape = (classes,) if t.ndim == 0 else (t.shape[0], classes) + t.shape[1:]
    outer, _, inner = _layout(shape, 0 if t.ndim == 0 else 1)
    n = outer * inner
    _check_args(g, t, weight, n, classes)
    if g.size != (n if reduction == "none" else 1):
        raise Unsupported
    out = DeviceArray.empty(shape, g.dtype, g.driver)
    if out.size == 0:
        return out
    err = _error_buffer(g, n)
    w = g.buffer if weight is None else weight.buffer  # not read without a weight
    has_weight = int(weight is not None)
    suffix = FLOATS[g.dtype]
    wsum = g  # not read unless 'mean'
    if reduction == "mean":
        wsum = DeviceArray.empty((1,), g.dtype, g.driver)
        launch(NLL_WEIGHT_TOTAL, f"nr_nll_weight_total_{suffix}", g.driver,
               [t.buffer, w, wsum.buffer, err.buffer, I64(n), I64(classes), I64(ignore_index),
                np.int32(has_weight)], n=n, classes=classes, has_weight=has_weight)
    g_stride = int(reduction == "none")
    launch(NLL_LOSS_BACKWARD, f"nr_nll_loss_backward_{suffix}", g.driver,
           [g.buffer, t.buffer, w, wsum.buffer, out.buffer, err.buffer, I64(outer),
            I64(classes), I64(inner), I64(ignore_index), np.int32(has_weight), I64(g_stride),
            np.int32(reduction == "mean")],
           outer=outer, classes=classes, inner=inner, has_weight=has_weight,
           g_stride=g_stride, mean=int(reduction == "mean"))
    _raise_bad_target(err, t, classes)
    return out


NATIVE: dict[str, Callable[..., DeviceArray]] = {
    "nll_loss": nll_loss, "nll_loss_backward": nll_loss_backward}
