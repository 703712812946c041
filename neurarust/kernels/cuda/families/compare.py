"""Broadcasting comparisons (eq/ne/lt/le/gt/ge, bool result) and ``where`` (``compare.cu``),
strided up to rank 4 like :mod:`.elementwise`.

Operands of different dtypes are first converted on the device (:func:`.cast.cast`) to the
dtype the dispatcher would compute in on the CPU: the promotion of the tensors' dtypes, a
Python scalar raising only the category (``int_tensor < 2.5`` compares in float)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ....types.dtype import DType, from_numpy_dtype, promote_types, result_type_of_scalar
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
from .cast import CAST_TYPES, cast
from .common import I64, Unsupported, as_device, launch, padded_strides

__all__ = ["COMPARE", "COMPARE_OPS", "CONTRACTS", "NATIVE", "WHERE", "compare", "where"]

COMPARE_OPS = ("eq", "ne", "lt", "le", "gt", "ge")
_WHERE_TYPES = ("f32", "f64", "i64", "i32")


def _strided(buffer: str, s: str) -> Access:
    return Access(buffer, "read", lambda c: offset4(c, s), lambda c: [c.v["i"] < numel4(c)],
                  f"{buffer}[c0*{s}0 + c1*{s}1 + c2*{s}2 + c3*{s}3]")


def _contract(name: str, functions: tuple[str, ...], operands: tuple[tuple[str, str], ...],
              ) -> KernelContract:
    """A one-thread-per-output-element kernel over (buffer, stride prefix) ``operands``."""
    return KernelContract(
        name=name,
        source="compare.cu",
        functions=functions,
        params=tuple(Param(d) for d in DIMS4)
        + tuple(Param(f"{s}{k}", 0, INT32_MAX) for _, s in operands for k in range(4)),
        assume=lambda c: [numel4(c) <= INT32_MAX],
        grid=lambda c: c.ops.min(c.ops.cdiv(numel4(c), BLOCK), MAX_GRID),
        block=lambda c: BLOCK,
        buffers=lambda c: {**{b: extent4(c, s) for b, s in operands}, "out": numel4(c)},
        loops=(grid_stride("i"),),
        lemmas=tuple(coord(k) for k in (3, 2, 1, 0)),
        accesses=(*(_strided(b, s) for b, s in operands),
                  Access("out", "write", lambda c: c.v["i"], lambda c: [c.v["i"] < numel4(c)],
                         "out[i]")),
    )


COMPARE = _contract("compare", tuple(f"nr_{op}_{t}" for t in CAST_TYPES.values()
                                     for op in COMPARE_OPS), (("a", "sa"), ("b", "sb")))
WHERE = _contract("where", tuple(f"nr_where_{t}" for t in _WHERE_TYPES),
                  (("cond", "sc"), ("a", "sa"), ("b", "sb")))

CONTRACTS = (COMPARE, WHERE)


def _promoted(values: tuple[Any, ...]) -> np.dtype[Any]:
    """The CPU dispatcher's computation dtype for these device arrays and Python scalars."""
    arrays = [v for v in values if isinstance(v, DeviceArray)]
    if not arrays:
        raise Unsupported
    common: DType = from_numpy_dtype(arrays[0].dtype)
    for v in arrays[1:]:
        common = promote_types(common, from_numpy_dtype(v.dtype))
    for v in values:
        if not isinstance(v, DeviceArray):
            if not isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating)):
                raise Unsupported
            scalar: bool | int | float = v.item() if isinstance(v, np.generic) else v
            common = promote_types(common, result_type_of_scalar(common, scalar))
    return common.np_dtype


def _operand(v: Any, dtype: np.dtype[Any], driver: Any) -> DeviceArray:
    if isinstance(v, DeviceArray) and v.dtype != dtype:
        return cast(v, dtype)
    return as_device(v, dtype, driver)


def _launch(contract: KernelContract, function: str, operands: list[DeviceArray],
            out: DeviceArray) -> DeviceArray:
    shape = out.shape
    n = out.size
    if n:
        d = (1,) * (4 - len(shape)) + shape
        strides = [I64(s) for x in operands for s in padded_strides(x, shape)]
        launch(contract, function, out.driver,
               [*(x.buffer for x in operands), out.buffer, I64(n), *map(I64, d), *strides],
               d0=d[0], d1=d[1], d2=d[2], d3=d[3])
    return out


def compare(op: str, a: Any, b: Any) -> DeviceArray:
    """``nr_{op}`` of ``compare.cu``: a bool device array, ``a`` and ``b`` broadcast."""
    dtype = _promoted((a, b))
    if dtype not in CAST_TYPES:
        raise Unsupported
    driver = (a if isinstance(a, DeviceArray) else b).driver
    x, y = _operand(a, dtype, driver), _operand(b, dtype, driver)
    shape = tuple(np.broadcast_shapes(x.shape, y.shape))
    if len(shape) > 4:
        raise Unsupported
    out = DeviceArray.empty(shape, np.bool_, driver)
    return _launch(COMPARE, f"nr_{op}_{CAST_TYPES[dtype]}", [x, y], out)


def where(cond: Any, a: Any, b: Any) -> DeviceArray:
    """``a`` where ``cond`` else ``b`` (``compare.cu``), in the promotion of ``a`` and ``b``."""
    if not isinstance(cond, DeviceArray) or cond.dtype != np.bool_:
        raise Unsupported
    dtype = _promoted((a, b))
    if dtype not in CAST_TYPES or CAST_TYPES[dtype] not in _WHERE_TYPES:
        raise Unsupported
    x, y = _operand(a, dtype, cond.driver), _operand(b, dtype, cond.driver)
    shape = tuple(np.broadcast_shapes(cond.shape, x.shape, y.shape))
    if len(shape) > 4:
        raise Unsupported
    out = DeviceArray.empty(shape, dtype, cond.driver)
    return _launch(WHERE, f"nr_where_{CAST_TYPES[dtype]}", [cond, x, y], out)


def _compare_kernel(op: str) -> Callable[..., DeviceArray]:
    def run(a: Any, b: Any) -> DeviceArray:
        return compare(op, a, b)

    return run


NATIVE: dict[str, Callable[..., DeviceArray]] = {
    **{op: _compare_kernel(op) for op in COMPARE_OPS}, "where": where}
