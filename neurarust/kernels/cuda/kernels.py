"""The cuda backend's kernels, registered with the op registry under backend ``"cuda"``.

Native kernels come from the kernel families (:mod:`.families`: each pairs a ``.cu`` source's
index contract with its launch code). Every other op, and the cases a native kernel does not
cover (other dtypes, rank > 4, ``alpha != 1``, other reduction dims, ...), runs its CPU
kernel on host copies: explicit, counted per op in ``nr.cuda.fallback_counts()``, and an
error under ``NEURARUST_CUDA_STRICT=1``. View ops other than reshapes return copies on cuda:
an in-place write into such a view of a cuda tensor does not reach its base (docs/cuda.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ...ops.registry import all_ops
from .array import DeviceArray, count_round_trip, to_host, upload
from .driver import Buffer, get_driver
from .families import FAMILIES
from .families.cast import cast
from .families.common import Unsupported
from .families.elementwise import binary, inplace_add
from .families.softmax import softmax_lastdim
from .families.unary import unary

__all__ = ["NATIVE", "cast_array", "inplace_add", "native_kernels", "register_all",
           "softmax_lastdim", "ufunc_on_device"]

_UFUNC_BINARY = {np.add: "add", np.subtract: "sub", np.multiply: "mul", np.true_divide: "div"}
_UFUNC_UNARY = {np.sqrt: "sqrt", np.negative: "neg", np.exp: "exp", np.absolute: "abs"}


def _shape(v: Any) -> tuple[int, ...]:
    return v.shape if isinstance(v, DeviceArray) else ()  # a device array or a scalar


def ufunc_on_device(ufunc: Any, inputs: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> DeviceArray | None:
    """numpy ufunc calls on device arrays that a device kernel covers (the optimizers'
    elementwise updates), run on the device; None when not covered (the host runs it)."""
    out = kwargs.get("out")
    if set(kwargs) - {"out"} or (out is not None and (len(out) != 1 or
                                                      not isinstance(out[0], DeviceArray))):
        return None
    target = None if out is None else out[0]
    try:
        if ufunc in _UFUNC_BINARY and len(inputs) == 2:
            a, b = inputs
            ref = a if isinstance(a, DeviceArray) else b
            if target is not None and (target.dtype != ref.dtype or target.shape != tuple(
                    np.broadcast_shapes(_shape(a), _shape(b)))):
                return None
            return binary(_UFUNC_BINARY[ufunc], a, b, out=target)
        if ufunc in _UFUNC_UNARY and len(inputs) == 1 and isinstance(inputs[0], DeviceArray):
            x = inputs[0]
            if target is not None and (target.dtype != x.dtype or target.shape != x.shape):
                return None
            return unary(_UFUNC_UNARY[ufunc], x, out=target)
    except Unsupported:
        return None
    return None


def cast_array(a: DeviceArray, dtype: np.dtype[Any]) -> DeviceArray:
    """``a.astype(dtype)``: by ``cast.cu`` between float32/float64/int64/int32/bool, else on
    the host (counted as a round trip of ``cast``)."""
    if dtype == a.dtype:
        return a.copy()
    try:
        return cast(a, dtype)
    except Unsupported:
        pass
    count_round_trip("cast")
    result: DeviceArray = upload(a.get().astype(dtype), a.driver)
    return result


def _host_fallback(name: str, cpu: Callable[..., Any]) -> Callable[..., Any]:
    """Run the CPU kernel of op ``name`` on host copies of the device inputs."""

    def run(*args: Any, **attrs: Any) -> Any:
        count_round_trip(name)
        driver = get_driver()
        result = cpu(*to_host(args), **{k: to_host(v) for k, v in attrs.items()})
        if isinstance(result, np.generic):
            result = np.asarray(result)
        return upload(result, driver)

    run.__name__ = f"{name}_host_fallback"
    return run


def _native(name: str, fn: Callable[..., DeviceArray],
            fallback: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **attrs: Any) -> Any:
        try:
            return fn(*args, **attrs)
        except Unsupported:
            return fallback(*args, **attrs)

    run.__name__ = f"{name}_cuda"
    return run


NATIVE: dict[str, Callable[..., Any]] = {
    name: fn for family in FAMILIES for name, fn in family.NATIVE.items()}
"""Ops with a native CUDA kernel (falling back to the host for cases it does not cover)."""

_NATIVE_FROM_CPU: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    name: make for family in FAMILIES
    for name, make in getattr(family, "NATIVE_FROM_CPU", {}).items()}


def native_kernels() -> list[str]:
    """The ops with a native CUDA kernel, sorted."""
    return sorted(set(NATIVE) | set(_NATIVE_FROM_CPU))


def register_all() -> None:
    """Give every op with a CPU kernel a ``cuda`` kernel: native where one exists, else the
    counted host fallback. Idempotent."""
    for name, op in all_ops().items():
        cpu = op.kernels.get("cpu")
        if cpu is None or "cuda" in op.kernels:
            continue
        fallback = _host_fallback(name, cpu)
        native = NATIVE.get(name)
        if name in _NATIVE_FROM_CPU:
            native = _NATIVE_FROM_CPU[name](cpu)
        op.kernels["cuda"] = fallback if native is None else _native(name, native, fallback)


def buffer_of(x: DeviceArray) -> Buffer:
    """The device buffer behind an array (for tests and benchmarks)."""
    buffer: Buffer = x.buffer
    return buffer
