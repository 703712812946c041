"""Strided gather (``gather.cu``) and the view ops built on it.

``permute``/``expand`` copy the strided view into a contiguous array; ``view``/``reshape``/
``flatten``/``squeeze``/``unsqueeze`` of a C-contiguous device array are true views (a new
header over the same buffer)."""

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
from .common import FLOATS, I64, Unsupported, launch, padded_strides

__all__ = ["CONTRACTS", "GATHER", "NATIVE", "NATIVE_FROM_CPU", "gather"]

GATHER = KernelContract(
    name="gather",
    source="gather.cu",
    functions=("nr_gather_f32", "nr_gather_f64", "nr_gather_i64"),
    params=tuple(Param(d) for d in DIMS4) + tuple(Param(f"s{k}", 0, INT32_MAX) for k in range(4)),
    assume=lambda c: [numel4(c) <= INT32_MAX],
    grid=lambda c: c.ops.min(c.ops.cdiv(numel4(c), BLOCK), MAX_GRID),
    block=lambda c: BLOCK,
    # the source view spans 1 + sum((d_k - 1) * s_k) elements; the host checks its buffer
    # holds that many before launching
    buffers=lambda c: {"x": extent4(c, "s"), "out": numel4(c)},
    loops=(grid_stride("i"),),
    lemmas=tuple(coord(k) for k in (3, 2, 1, 0)),
    accesses=(
        Access("x", "read", lambda c: offset4(c, "s"), lambda c: [c.v["i"] < numel4(c)],
               "x[c0*s0 + c1*s1 + c2*s2 + c3*s3]"),
        Access("out", "write", lambda c: c.v["i"], lambda c: [c.v["i"] < numel4(c)], "out[i]"),
    ),
)

CONTRACTS = (GATHER,)

_GATHER_TYPES = {**FLOATS, np.dtype(np.int64): "i64"}


def gather(x: DeviceArray, shape: tuple[int, ...], strides: list[int]) -> DeviceArray:
    """A contiguous copy of the strided view ``(shape, strides)`` of ``x`` (``gather.cu``)."""
    if x.dtype not in _GATHER_TYPES or len(shape) > 4:
        raise Unsupported
    d = (1,) * (4 - len(shape)) + tuple(shape)
    st = [0] * (4 - len(shape)) + list(strides)
    if 1 + sum((n - 1) * k for n, k in zip(d, st)) > max(x.size, 1):
        raise RuntimeError(f"internal: gather view {shape} / {strides} exceeds its buffer "
                           f"of {x.size} elements")
    out = DeviceArray.empty(tuple(shape), x.dtype, x.driver)
    if out.size:
        launch(GATHER, f"nr_gather_{_GATHER_TYPES[x.dtype]}", x.driver,
               [x.buffer, out.buffer, I64(out.size), *map(I64, d), *map(I64, st)],
               d0=d[0], d1=d[1], d2=d[2], d3=d[3])
    return out


def _permute(a: Any, *, dims_order: Any) -> DeviceArray:
    if not isinstance(a, DeviceArray):
        raise Unsupported
    order = [int(k) % a.ndim for k in dims_order] if a.ndim else []
    elems = [s // a.itemsize for s in a.strides]
    return gather(a, tuple(a.shape[k] for k in order), [elems[k] for k in order])


def _shape_of(cpu: Callable[..., Any], a: DeviceArray, attrs: dict[str, Any]) -> tuple[int, ...]:
    """The result shape of a shape-only CPU kernel, from an uninitialised host stand-in
    (``np.empty`` reserves, never touches, its pages)."""
    return tuple(cpu(np.empty(a.shape, np.uint8), **attrs).shape)


def _expand_kernel(cpu: Callable[..., Any]) -> Callable[..., DeviceArray]:
    def run(a: Any, **attrs: Any) -> DeviceArray:
        if not isinstance(a, DeviceArray):
            raise Unsupported
        shape = _shape_of(cpu, a, attrs)
        if len(shape) > 4:
            raise Unsupported
        return gather(a, shape, padded_strides(a, shape)[4 - len(shape):])

    return run


def _reshape_kernel(cpu: Callable[..., Any]) -> Callable[..., DeviceArray]:
    """A C-contiguous array reshapes in place: the result is a view of the same buffer."""

    def run(a: Any, **attrs: Any) -> DeviceArray:
        if not isinstance(a, DeviceArray):
            raise Unsupported
        return a.reshape(_shape_of(cpu, a, attrs))

    return run


NATIVE: dict[str, Callable[..., DeviceArray]] = {"permute": _permute}

NATIVE_FROM_CPU: dict[str, Callable[[Callable[..., Any]], Callable[..., DeviceArray]]] = {
    "view": _reshape_kernel, "reshape": _reshape_kernel, "flatten": _reshape_kernel,
    "squeeze": _reshape_kernel, "unsqueeze": _reshape_kernel, "expand": _expand_kernel,
}
"""Shape ops whose native kernel derives the result shape from the op's CPU kernel."""
