"""Max and average pooling on the device (``pool.cu``), forward and backward, 2-d and 1-d
(as 2-d with a height of 1), with the CPU kernels' semantics: kernel_size, stride, padding,
dilation (max), ceil_mode, count_include_pad and divisor_override (avg).

``max_pool2d_backward`` runs ``max_pool2d_indices`` (each window's first maximum) and then
a gather: each input element sums the gradients of the windows whose argmax it is, so there
are no atomics and the order of the sum is fixed (float64 accumulation, as the CPU kernel's
bincount). ``avg_pool2d_backward`` is the same gather over each window's share.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ....ops.conv import pool_output_size
from ....types.algebra import CONCRETE
from ..array import DeviceArray
from ..contract import (
    BLOCK,
    INT32_MAX,
    MAX_GRID,
    Access,
    Ctx,
    Expr,
    KernelContract,
    LoopVar,
    Param,
    grid_stride,
)
from .common import FLOATS, I64, Unsupported, launch
from .conv import coords, derived

__all__ = ["AVG_POOL", "AVG_POOL_BACKWARD", "CONTRACTS", "MAX_POOL", "MAX_POOL_BACKWARD",
           "MAX_POOL_INDICES", "NATIVE"]

_PARAMS = tuple(Param(d) for d in ("P", "H", "W", "KH", "KW", "OH", "OW", "sh", "sw", "dh",
                                   "dw")) \
    + (Param("ph", -INT32_MAX, INT32_MAX), Param("pw", -INT32_MAX, INT32_MAX))
_TAPS = (LoopVar("kh", lambda c: [c.v["kh"] >= 0]), LoopVar("kw", lambda c: [c.v["kw"] >= 0]))
"""The kernel-offset loops ``for (kh = 0; kh < KH; ++kh)`` (the bound is in each guard)."""


def _input_size(c: Ctx) -> Expr:
    return c.p["P"] * c.p["H"] * c.p["W"]


def _output_size(c: Ctx) -> Expr:
    return c.p["P"] * c.p["OH"] * c.p["OW"]


def _assume(c: Ctx) -> list[Any]:
    return [_input_size(c) <= INT32_MAX, _output_size(c) <= INT32_MAX]


def _forward_guard(c: Ctx) -> list[Any]:
    """Output element i's tap (kh, kw) at input (ih, iw) = (oh*sh - ph + kh*dh, ...), read
    when inside the input (ih, iw free: any value the check lets through)."""
    return [c.v["i"] < _output_size(c), c.v["kh"] < c.p["KH"], c.v["kw"] < c.p["KW"],
            0 <= c.v["ih"], c.v["ih"] < c.p["H"], 0 <= c.v["iw"], c.v["iw"] < c.p["W"]]


def _x_index(c: Ctx) -> Expr:
    return (c.v["p"] * c.p["H"] + c.v["ih"]) * c.p["W"] + c.v["iw"]


def _backward_guard(c: Ctx) -> list[Any]:
    """Input element i's window (oh, ow) through tap (kh, kw): oh = (ih + ph - kh*dh) / sh
    where that divides exactly (ow likewise), read when 0 <= oh < OH and 0 <= ow < OW (oh,
    ow free: any value the check lets through)."""
    return [c.v["i"] < _input_size(c), c.v["kh"] < c.p["KH"], c.v["kw"] < c.p["KW"],
            0 <= c.v["oh"], c.v["oh"] < c.p["OH"], 0 <= c.v["ow"], c.v["ow"] < c.p["OW"]]


def _g_index(c: Ctx) -> Expr:
    return (c.v["p"] * c.p["OH"] + c.v["oh"]) * c.p["OW"] + c.v["ow"]


_X = Access("x", "read", _x_index, _forward_guard, "x[(p * H + ih) * W + iw]")
_G = Access("g", "read", _g_index, _backward_guard, "g[(p * OH + oh) * OW + ow]")


def _written(buffer: str, size: Callable[[Ctx], Expr]) -> Access:
    return Access(buffer, "write", lambda c: c.v["i"], lambda c: [c.v["i"] < size(c)],
                  f"{buffer}[i]")


def _contract(name: str, kernels: str, forward: bool, reads: tuple[Access, ...],
              written: str) -> KernelContract:
    size, other = (_output_size, _input_size) if forward else (_input_size, _output_size)
    inputs = {a.buffer: other for a in reads}
    lemmas = (coords("i", [("ow", "OW"), ("oh", "OH"), ("p", "P")]) if forward
              else coords("i", [("iw", "W"), ("ih", "H"), ("p", "P")]))
    return KernelContract(
        name=name, source="pool.cu",
        functions=tuple(f"nr_{kernels}_{t}" for t in ("f32", "f64")),
        params=_PARAMS, assume=_assume,
        grid=lambda c: c.ops.min(c.ops.cdiv(size(c), BLOCK), MAX_GRID),
        block=lambda c: BLOCK,
        buffers=lambda c: {**{b: s(c) for b, s in inputs.items()}, written: size(c)},
        loops=(grid_stride("i"), *_TAPS, *(derived("ih", "iw") if forward
                                            else derived("oh", "ow"))), lemmas=lemmas,
        accesses=(*reads, _written(written, size)))


MAX_POOL = _contract("max_pool", "max_pool", True, (_X,), "out")
MAX_POOL_INDICES = _contract("max_pool_indices", "max_pool_indices", True, (_X,), "index")
MAX_POOL_BACKWARD = _contract(
    "max_pool_backward", "max_pool_backward", False,
    (Access("idx", "read", _g_index, _backward_guard, "idx[(p * OH + oh) * OW + ow]"), _G),
    "out")
AVG_POOL = _contract("avg_pool", "avg_pool", True, (_X,), "out")
AVG_POOL_BACKWARD = _contract("avg_pool_backward", "avg_pool_backward", False, (_G,), "out")

CONTRACTS = (MAX_POOL, MAX_POOL_INDICES, MAX_POOL_BACKWARD, AVG_POOL, AVG_POOL_BACKWARD)

# -- host side ------------------------------------------------------------------------------
class _Geometry:
    """Planes, sizes and window attributes of one pooling, as kernel arguments."""

    def __init__(self, lead: tuple[int, ...], sizes: Sequence[int], kernel_size: Sequence[int],
                 stride: Sequence[int], padding: Sequence[int], dilation: Sequence[int],
                 ceil_mode: bool) -> None:
        if len(sizes) != 2 or len(kernel_size) != 2:
            raise Unsupported
        self.lead = lead
        self.planes = int(np.prod(lead, dtype=np.int64))
        self.sizes = tuple(int(s) for s in sizes)
        self.out = tuple(int(pool_output_size(CONCRETE, s, k, st, p, d, ceil_mode))
                         for s, k, st, p, d in zip(sizes, kernel_size, stride, padding,
                                                   dilation))
        self.kernel, self.stride = tuple(kernel_size), tuple(stride)
        self.padding, self.dilation = tuple(padding), tuple(dilation)
        if self.planes * max(1, int(np.prod(self.sizes))) > INT32_MAX or \
                self.planes * max(1, int(np.prod(self.out))) > INT32_MAX:
            raise Unsupported

    def shape(self) -> dict[str, int]:
        (h, w), (kh, kw), (oh, ow) = self.sizes, self.kernel, self.out
        (sh, sw), (ph, pw), (dh, dw) = self.stride, self.padding, self.dilation
        return {"P": self.planes, "H": h, "W": w, "KH": kh, "KW": kw, "OH": oh, "OW": ow,
                "sh": sh, "sw": sw, "ph": ph, "pw": pw, "dh": dh, "dw": dw}

    def args(self, total: int) -> list[np.int64]:
        s = self.shape()
        return [I64(total), *(I64(s[k]) for k in ("P", "H", "W", "KH", "KW", "OH", "OW", "sh",
                                                  "sw", "ph", "pw", "dh", "dw"))]


def _float(x: Any) -> str:
    if not isinstance(x, DeviceArray) or x.dtype not in FLOATS or x.ndim < 3:
        raise Unsupported
    return FLOATS[x.dtype]


def _run(contract: KernelContract, kernel: str, geo: _Geometry, buffers: list[Any],
         out: DeviceArray, extra: Sequence[Any] = ()) -> DeviceArray:
    if out.size:
        launch(contract, kernel, out.driver, [*buffers, out.buffer, *geo.args(out.size), *extra],
               **geo.shape())
    return out


def _max_geometry(x: DeviceArray, attrs: dict[str, Any]) -> _Geometry:
    return _Geometry(x.shape[:-2], x.shape[-2:], attrs["kernel_size"], attrs["stride"],
                     attrs["padding"], attrs["dilation"], attrs["ceil_mode"])


def _empty_input(geo: _Geometry) -> bool:
    return geo.planes == 0 or 0 in geo.sizes


def _max_pool2d(x: Any, **attrs: Any) -> DeviceArray:
    t = _float(x)
    geo = _max_geometry(x, attrs)
    out = DeviceArray.empty(geo.lead + geo.out, x.dtype, x.driver)
    if out.size and _empty_input(geo):
        raise Unsupported
    return _run(MAX_POOL, f"nr_max_pool_{t}", geo, [x.buffer], out)


def _indices(x: DeviceArray, geo: _Geometry) -> DeviceArray:
    out = DeviceArray.empty(geo.lead + geo.out, np.int64, x.driver)
    if out.size and _empty_input(geo):
        raise Unsupported
    return _run(MAX_POOL_INDICES, f"nr_max_pool_indices_{FLOATS[x.dtype]}", geo, [x.buffer],
                out)


def _max_pool2d_indices(x: Any, **attrs: Any) -> DeviceArray:
    _float(x)
    return _indices(x, _max_geometry(x, attrs))


def _max_pool2d_backward(g: Any, x: Any, **attrs: Any) -> DeviceArray:
    t = _float(x)
    geo = _max_geometry(x, attrs)
    if not isinstance(g, DeviceArray) or g.dtype != x.dtype or g.shape != geo.lead + geo.out:
        raise Unsupported
    index = _indices(x, geo)
    out = DeviceArray.empty(x.shape, x.dtype, x.driver)
    return _run(MAX_POOL_BACKWARD, f"nr_max_pool_backward_{t}", geo,
                [g.buffer, index.buffer], out)


def _avg_extra(attrs: dict[str, Any]) -> list[Any]:
    divisor = attrs["divisor_override"]
    if divisor is not None and int(divisor) <= 0:
        raise Unsupported
    return [np.int32(bool(attrs["count_include_pad"])), I64(0 if divisor is None else divisor)]


def _avg_geometry(lead: tuple[int, ...], sizes: Sequence[int],
                  attrs: dict[str, Any]) -> _Geometry:
    return _Geometry(lead, sizes, attrs["kernel_size"], attrs["stride"], attrs["padding"],
                     (1, 1), attrs["ceil_mode"])


def _avg_pool2d(x: Any, **attrs: Any) -> DeviceArray:
    t = _float(x)
    geo = _avg_geometry(x.shape[:-2], x.shape[-2:], attrs)
    out = DeviceArray.empty(geo.lead + geo.out, x.dtype, x.driver)
    if out.size and _empty_input(geo):
        raise Unsupported
    return _run(AVG_POOL, f"nr_avg_pool_{t}", geo, [x.buffer], out, _avg_extra(attrs))


def _avg_pool2d_backward(g: Any, *, input_size: Sequence[int], **attrs: Any) -> DeviceArray:
    t = _float(g)
    geo = _avg_geometry(g.shape[:-2], input_size, attrs)
    if g.shape != geo.lead + geo.out:
        raise Unsupported
    out = DeviceArray.empty(geo.lead + geo.sizes, g.dtype, g.driver)
    if out.size and g.size == 0:
        out.set(np.zeros(out.shape, out.dtype))
        return out
    return _run(AVG_POOL_BACKWARD, f"nr_avg_pool_backward_{t}", geo, [g.buffer], out,
                _avg_extra(attrs))


def _as_2d(fn: Callable[..., DeviceArray], arrays: int) -> Callable[..., DeviceArray]:
    """The 1-d op through its 2-d kernel: a height of 1 (one tap, stride 1, no padding)."""

    def run(*args: Any, **attrs: Any) -> DeviceArray:
        lifted_args = [a.reshape(*a.shape[:-1], 1, a.shape[-1])
                       if isinstance(a, DeviceArray) and k < arrays else a
                       for k, a in enumerate(args)]
        lifted = dict(attrs)
        for key, one in (("kernel_size", 1), ("stride", 1), ("padding", 0), ("dilation", 1),
                         ("input_size", 1)):
            if key in attrs:
                lifted[key] = (one, *attrs[key])
        out = fn(*lifted_args, **lifted)
        return out.reshape(out.shape[:-2] + out.shape[-1:])

    return run


NATIVE: dict[str, Callable[..., DeviceArray]] = {
    "max_pool2d": _max_pool2d, "max_pool2d_indices": _max_pool2d_indices,
    "max_pool2d_backward": _max_pool2d_backward, "avg_pool2d": _avg_pool2d,
    "avg_pool2d_backward": _avg_pool2d_backward,
    "max_pool1d": _as_2d(_max_pool2d, 1), "max_pool1d_indices": _as_2d(_max_pool2d_indices, 1),
    "max_pool1d_backward": _as_2d(_max_pool2d_backward, 2),
    "avg_pool1d": _as_2d(_avg_pool2d, 1), "avg_pool1d_backward": _as_2d(_avg_pool2d_backward, 1),
}
