"""Fused optimizer steps (``adam.cu``, ``sgd.cu``): one launch per parameter tensor updates
the parameter and its state in place, with the CPU update's operations in its order.

The optimizers call :func:`adam_step` / :func:`sgd_step` when a parameter's data is a
:class:`~..array.DeviceArray` (``neurarust/optim/adam.py``, ``sgd.py``); each returns False
for arrays it does not cover (then the numpy update runs, through device ufuncs and counted
host round trips). Scalars are rounded to the parameter's dtype on the host, as numpy rounds
a Python float multiplying a float32 array, so both paths compute the same roundings.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ..array import DeviceArray
from ..contract import BLOCK, MAX_GRID, Access, Ctx, Expr, KernelContract, Param, grid_stride
from .common import FLOATS, I64, launch

__all__ = ["ADAM", "CONTRACTS", "NATIVE", "SGD", "adam_step", "sgd_step"]


def _n(c: Ctx) -> Expr:
    return c.p["n"]


def _elementwise(buffer: str, kind: Literal["read", "write"]) -> Access:
    return Access(buffer, kind, lambda c: c.v["i"], lambda c: [c.v["i"] < _n(c)],
                  f"{buffer}[i]")


def _contract(name: str, functions: tuple[str, ...], reads: tuple[str, ...],
              updates: tuple[str, ...]) -> KernelContract:
    """One thread per element, grid-stride: ``buf[i]`` for every buffer of ``n`` elements,
    read (``reads``) or read and written (``updates``)."""
    return KernelContract(
        name=name,
        source=f"{name}.cu",
        functions=functions,
        params=(Param("n"),),
        assume=lambda c: [],
        grid=lambda c: c.ops.min(c.ops.cdiv(_n(c), BLOCK), MAX_GRID),
        block=lambda c: BLOCK,
        buffers=lambda c: {b: _n(c) for b in reads + updates},
        loops=(grid_stride("i"),),
        lemmas=(),
        accesses=tuple(_elementwise(b, "read") for b in reads + updates)
        + tuple(_elementwise(b, "write") for b in updates),
    )


ADAM = _contract("adam", ("nr_adam_f32", "nr_adam_f64"),
                 reads=("grad",), updates=("param", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"))
"""Every buffer is read and written at ``i`` only (grad is read only)."""
SGD = _contract("sgd", ("nr_sgd_f32", "nr_sgd_f64"), reads=("grad",), updates=("param", "buf"))

CONTRACTS = (ADAM, SGD)

NATIVE: dict[str, Any] = {}  # optimizer steps are not registry ops


def _covered(param: Any, *arrays: Any) -> bool:
    """Device arrays of one float dtype and shape (what the fused kernels update)."""
    return isinstance(param, DeviceArray) and param.dtype in FLOATS and all(
        isinstance(a, DeviceArray) and a.dtype == param.dtype and a.shape == param.shape
        for a in arrays)


def adam_step(param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, max_exp_avg_sq: Any,
              step: float, *, lr: float, beta1: float, beta2: float, eps: float,
              weight_decay: float, maximize: bool, decoupled: bool) -> bool:
    """One Adam/AdamW step on a device parameter by ``adam.cu``, in place (the rule of
    :class:`neurarust.optim.Adam`); False (nothing done) when the arrays are not covered."""
    extra = () if max_exp_avg_sq is None else (max_exp_avg_sq,)
    if not _covered(param, grad, exp_avg, exp_avg_sq, *extra):
        return False
    if param.size == 0:
        return True
    T = param.dtype.type
    w = T(1 - beta1)  # ATen rounds lerp's weight first, then picks the exact branch
    lerp_from_end = not abs(w) < 0.5
    decoupled = decoupled and weight_decay != 0
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    args = [param.buffer, grad.buffer, exp_avg.buffer, exp_avg_sq.buffer,
            (max_exp_avg_sq if max_exp_avg_sq is not None else exp_avg_sq).buffer,
            I64(param.size), np.int32(maximize), np.int32(decoupled),
            np.int32(max_exp_avg_sq is not None), T(1 - lr * weight_decay),
            T(0 if decoupled else weight_decay), np.int32(lerp_from_end),
            w - T(1) if lerp_from_end else w, T(beta2), T(1 - beta2),
            T(bias_correction2**0.5), T(eps), T(-(lr / bias_correction1))]
    launch(ADAM, f"nr_adam_{FLOATS[param.dtype]}", param.driver, args, n=param.size)
    return True


def sgd_step(param: Any, grad: Any, buf: Any, *, lr: float, momentum: float,
             dampening: float, weight_decay: float, nesterov: bool, maximize: bool
             ) -> tuple[bool, Any]:
    """One SGD step on a device parameter by ``sgd.cu``, in place (the rule of
    :class:`neurarust.optim.SGD`): ``(True, momentum buffer or None)``, or ``(False, None)``
    (nothing done) when the arrays are not covered. The first momentum step allocates the
    buffer (``b_1 = g_1``)."""
    if not _covered(param, grad, *(() if buf is None else (buf,))):
        return False, None
    first = momentum != 0 and buf is None
    if first:
        buf = DeviceArray.empty(param.shape, param.dtype, param.driver)
    if param.size:
        T = param.dtype.type
        args = [param.buffer, grad.buffer, (param if buf is None else buf).buffer,
                I64(param.size), np.int32(maximize), T(weight_decay), np.int32(momentum != 0),
                np.int32(first), np.int32(nesterov), T(momentum), T(1 - dampening), T(-lr)]
        launch(SGD, f"nr_sgd_{FLOATS[param.dtype]}", param.driver, args, n=param.size)
    return True, buf if momentum != 0 else None
