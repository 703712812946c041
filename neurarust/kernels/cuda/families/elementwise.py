"""Elementwise binary kernels (``elementwise.cu``): add/sub/mul/div/pow/maximum/minimum with
strided broadcasting up to rank 4 (scalars as stride-0 operands), relu's backward, and what
is built from them (clamp by scalars, clone, copy)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..array import DeviceArray
from ..contract import (
    BLOCK,
    DIMS4,
    INT32_MAX,
    MAX_GRID,
    Access,
    KernelContract,
    Param,
    coord,
    extent4,
    grid_stride,
    numel4,
    offset4,
)
from .common import FLOATS, I64, Unsupported, as_device, launch, padded_strides

__all__ = ["CONTRACTS", "ELEMENTWISE", "NATIVE", "binary", "inplace_add"]

ELEMENTWISE = KernelContract(
    name="elementwise_binary",
    source="elementwise.cu",
    functions=tuple(f"nr_{op}_{t}" for t in ("f32", "f64")
                    for op in ("add", "sub", "mul", "div", "pow", "maximum", "minimum",
                               "relu_backward")),
    params=tuple(Param(d) for d in DIMS4)
    + tuple(Param(f"{s}{k}", 0, INT32_MAX) for s in ("sa", "sb") for k in range(4)),
    assume=lambda c: [numel4(c) <= INT32_MAX],
    grid=lambda c: c.ops.min(c.ops.cdiv(numel4(c), BLOCK), MAX_GRID),
    block=lambda c: BLOCK,
    buffers=lambda c: {"a": extent4(c, "sa"), "b": extent4(c, "sb"), "out": numel4(c)},
    loops=(grid_stride("i"),),
    lemmas=tuple(coord(k) for k in (3, 2, 1, 0)),
    accesses=(
        Access("a", "read", lambda c: offset4(c, "sa"), lambda c: [c.v["i"] < numel4(c)],
               "a[c0*sa0 + c1*sa1 + c2*sa2 + c3*sa3]"),
        Access("b", "read", lambda c: offset4(c, "sb"), lambda c: [c.v["i"] < numel4(c)],
               "b[c0*sb0 + c1*sb1 + c2*sb2 + c3*sb3]"),
        Access("out", "write", lambda c: c.v["i"], lambda c: [c.v["i"] < numel4(c)], "out[i]"),
    ),
)

CONTRACTS = (ELEMENTWISE,)


def binary(op: str, a: Any, b: Any, out: DeviceArray | None = None) -> DeviceArray:
    """``nr_{op}`` of ``elementwise.cu`` on device arrays or scalars, into ``out`` if given."""
    ref = a if isinstance(a, DeviceArray) else b
    dtype = ref.dtype
    if dtype not in FLOATS:
        raise Unsupported
    driver = ref.driver
    x, y = as_device(a, dtype, driver), as_device(b, dtype, driver)
    shape = tuple(np.broadcast_shapes(x.shape, y.shape))
    if len(shape) > 4:
        raise Unsupported
    if out is None:
        out = DeviceArray.empty(shape, dtype, driver)
    n = out.size
    if n:
        d = (1,) * (4 - len(shape)) + shape
        args = [x.buffer, y.buffer, out.buffer, I64(n), *map(I64, d),
                *map(I64, padded_strides(x, shape)), *map(I64, padded_strides(y, shape))]
        launch(ELEMENTWISE, f"nr_{op}_{FLOATS[dtype]}", driver, args,
               d0=d[0], d1=d[1], d2=d[2], d3=d[3])
    return out


def inplace_add(target: DeviceArray, other: Any) -> bool:
    """``target += other`` on the device when the elementwise kernel covers it."""
    try:
        if isinstance(other, DeviceArray) and np.broadcast_shapes(
                target.shape, other.shape) != target.shape:
            return False
        binary("add", target, other, out=target)
    except Unsupported:
        return False
    return True


def _binary_kernel(op: str) -> Callable[..., DeviceArray]:
    def run(a: Any, b: Any, **attrs: Any) -> DeviceArray:
        if attrs.get("alpha", 1) != 1 or attrs.get("rounding_mode") is not None:
            raise Unsupported
        return binary(op, a, b)

    return run


def _threshold_backward(g: Any, x: Any, *, threshold: float) -> DeviceArray:
    if threshold != 0 or not isinstance(g, DeviceArray) or not isinstance(x, DeviceArray) \
            or g.shape != x.shape:
        raise Unsupported
    return binary("relu_backward", g, x)


def _clamp(a: Any, *, min: Any = None, max: Any = None) -> DeviceArray:
    # scalar bounds only (tensor bounds are clamp_tensor); ints run on the host (bound casts)
    if not isinstance(a, DeviceArray) or a.dtype not in FLOATS or isinstance(
            min, DeviceArray) or isinstance(max, DeviceArray) or (min is None and max is None):
        raise Unsupported
    out = a if min is None else binary("maximum", a, min)
    return out if max is None else binary("minimum", out, max)


def _clone(a: Any) -> DeviceArray:
    if not isinstance(a, DeviceArray):
        raise Unsupported
    return a.copy()


NATIVE: dict[str, Callable[..., DeviceArray]] = {
    "add": _binary_kernel("add"), "sub": _binary_kernel("sub"), "mul": _binary_kernel("mul"),
    "div": _binary_kernel("div"), "pow": _binary_kernel("pow"),
    "maximum": _binary_kernel("maximum"), "minimum": _binary_kernel("minimum"),
    "clamp": _clamp, "clone": _clone, "threshold_backward": _threshold_backward,
}
