"""Elementwise unary kernels (``unary.cu``) on contiguous float arrays."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..array import DeviceArray
from ..contract import BLOCK, MAX_GRID, Access, Ctx, Expr, KernelContract, Param, grid_stride
from .common import FLOATS, I64, Unsupported, launch

__all__ = ["CONTRACTS", "MATH_OPS", "NATIVE", "UNARY", "UNARY_OPS", "unary"]

UNARY_OPS = ("neg", "abs", "exp", "log", "tanh", "sqrt", "relu", "sigmoid", "rsqrt")
MATH_OPS = ("sign", "reciprocal", "exp2", "expm1", "log2", "log10", "log1p", "sin", "cos",
            "floor", "ceil", "trunc")


def _N(c: Ctx) -> Expr:
    return c.p["n"]


UNARY = KernelContract(
    name="unary",
    source="unary.cu",
    functions=tuple(f"nr_{op}_{t}" for t in ("f32", "f64") for op in UNARY_OPS + MATH_OPS),
    params=(Param("n"),),
    assume=lambda c: [],
    grid=lambda c: c.ops.min(c.ops.cdiv(_N(c), BLOCK), MAX_GRID),
    block=lambda c: BLOCK,
    buffers=lambda c: {"x": _N(c), "out": _N(c)},
    loops=(grid_stride("i"),),
    lemmas=(),
    accesses=(
        Access("x", "read", lambda c: c.v["i"], lambda c: [c.v["i"] < _N(c)], "x[i]"),
        Access("out", "write", lambda c: c.v["i"], lambda c: [c.v["i"] < _N(c)], "out[i]"),
    ),
)

CONTRACTS = (UNARY,)


def unary(op: str, a: Any, out: DeviceArray | None = None) -> DeviceArray:
    """``nr_{op}`` of ``unary.cu`` on a float device array, into ``out`` if given."""
    if not isinstance(a, DeviceArray) or a.dtype not in FLOATS:
        raise Unsupported
    if out is None:
        out = DeviceArray.empty(a.shape, a.dtype, a.driver)
    if out.size:
        launch(UNARY, f"nr_{op}_{FLOATS[a.dtype]}", a.driver,
               [a.buffer, out.buffer, I64(out.size)], n=out.size)
    return out


def _unary_kernel(op: str) -> Callable[..., DeviceArray]:
    def run(a: Any) -> DeviceArray:
        return unary(op, a)

    return run


NATIVE: dict[str, Callable[..., DeviceArray]] = {
    op: _unary_kernel(op) for op in UNARY_OPS + MATH_OPS}
