"""The cuda backend's kernels, registered with the op registry under backend ``"cuda"``.

Native kernels (each launches a ``.cu`` function with its contract's own launch function):
``add``/``sub``/``mul``/``div`` (float32/float64, broadcasting up to rank 4, scalars as
stride-0 operands; ``elementwise.cu``), ``sum`` over the last dim or all elements
(``rowsum.cu``), ``softmax`` over the last dim in float32 (``softmax.cu``, real GPU only: it
uses block barriers, which the emulator does not run; called directly, as the registry's
softmax is a composite), and ``matmul`` of 2-D operands or
``(..., n, k) @ (k, m)`` (cuBLAS GEMM; numpy in emulation).

Every other op, and the cases above that a native kernel does not cover (other dtypes, rank
> 4, ``alpha != 1``, other reduction dims), runs its CPU kernel on host copies: explicit,
counted per op in ``nr.cuda.fallback_counts()``, and an error under
``NEURARUST_CUDA_STRICT=1``. View ops therefore return copies on cuda: an in-place write
into a view of a cuda tensor does not reach its base (documented in docs/cuda.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ...ops.registry import all_ops
from .array import DeviceArray, count_round_trip, to_host, upload
from .contracts import ELEMENTWISE, GATHER, ROWSUM, SOFTMAX, UNARY, UNARY_OPS
from .driver import Buffer, EmulationDriver, get_driver

__all__ = ["cast_array", "inplace_add", "register_all", "softmax_lastdim"]

_FLOATS = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}
_I64 = np.int64


class _Unsupported(Exception):
    """The native kernel does not cover these arguments; the host fallback runs instead."""


def _padded_strides(x: DeviceArray, out_shape: tuple[int, ...]) -> list[int]:
    """Element strides of contiguous ``x`` broadcast to ``out_shape`` padded to rank 4."""
    shape = (1,) * (4 - x.ndim) + x.shape
    strides = (0,) * (4 - x.ndim) + tuple(s // x.itemsize for s in x.strides)
    full = (1,) * (4 - len(out_shape)) + out_shape
    return [0 if n == 1 and m != 1 else s for n, m, s in zip(shape, full, strides)]


def _as_device(x: Any, dtype: np.dtype[Any], driver: Any) -> DeviceArray:
    if isinstance(x, DeviceArray):
        if x.dtype != dtype:
            raise _Unsupported
        return x
    if isinstance(x, (int, float, np.number, np.bool_)):
        out: DeviceArray = upload(np.asarray(x, dtype), driver)
        return out
    raise _Unsupported


def _binary(op: str, a: Any, b: Any, out: DeviceArray | None = None) -> DeviceArray:
    ref = a if isinstance(a, DeviceArray) else b
    dtype = ref.dtype
    if dtype not in _FLOATS:
        raise _Unsupported
    driver = ref.driver
    x, y = _as_device(a, dtype, driver), _as_device(b, dtype, driver)
    shape = tuple(np.broadcast_shapes(x.shape, y.shape))
    if len(shape) > 4:
        raise _Unsupported
    if out is None:
        out = DeviceArray.empty(shape, dtype, driver)
    n = out.size
    if n:
        d = (1,) * (4 - len(shape)) + shape
        launch = ELEMENTWISE.launch(d0=d[0], d1=d[1], d2=d[2], d3=d[3])
        args = [x.buffer, y.buffer, out.buffer, _I64(n), *map(_I64, d),
                *map(_I64, _padded_strides(x, shape)), *map(_I64, _padded_strides(y, shape))]
        driver.launch(ELEMENTWISE.source, f"nr_{op}_{_FLOATS[dtype]}", launch.grid,
                      launch.block, args)
    return out


def inplace_add(target: DeviceArray, other: Any) -> bool:
    """``target += other`` on the device when the elementwise kernel covers it."""
    try:
        if isinstance(other, DeviceArray) and np.broadcast_shapes(
                target.shape, other.shape) != target.shape:
            return False
        _binary("add", target, other, out=target)
    except _Unsupported:
        return False
    return True


def _rowsum(x: DeviceArray, rows: int, cols: int, shape: tuple[int, ...]) -> DeviceArray:
    out = DeviceArray.empty(shape, x.dtype, x.driver)
    if rows:
        launch = ROWSUM.launch(rows=rows, cols=max(cols, 1))
        x.driver.launch(ROWSUM.source, f"nr_rowsum_{_FLOATS[x.dtype]}", launch.grid,
                        launch.block, [x.buffer, out.buffer, _I64(rows), _I64(cols)])
    return out


def _sum(a: Any, *, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> DeviceArray:
    if not isinstance(a, DeviceArray) or dtype is not None or a.dtype not in _FLOATS \
            or a.size == 0:
        raise _Unsupported
    if dim is None:
        return _rowsum(a, 1, a.size, (1,) * a.ndim if keepdim else ())
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    if len(dims) != 1 or a.ndim == 0 or int(dims[0]) % a.ndim != a.ndim - 1:
        raise _Unsupported
    cols = a.shape[-1]
    shape = a.shape[:-1] + ((1,) if keepdim else ())
    return _rowsum(a, a.size // cols, cols, shape)


def softmax_lastdim(a: DeviceArray, dim: int = -1) -> DeviceArray:
    """Softmax over the last dim (float32) by ``softmax.cu``; the registry's ``softmax`` is a
    composite of primitives, so this kernel is called directly (GPU parity and bench)."""
    if not isinstance(a, DeviceArray) or isinstance(a.driver, EmulationDriver) \
            or a.dtype != np.float32 or a.ndim == 0 or int(dim) % a.ndim != a.ndim - 1 \
            or a.size == 0:
        raise _Unsupported  # the emulator runs no block barriers: host fallback there
    cols = a.shape[-1]
    rows = a.size // cols
    out = DeviceArray.empty(a.shape, a.dtype, a.driver)
    launch = SOFTMAX.launch(rows=rows, cols=cols)
    a.driver.launch(SOFTMAX.source, "nr_softmax_f32", launch.grid, launch.block,
                    [a.buffer, out.buffer, _I64(rows), _I64(cols)])
    return out


def _matmul(a: Any, b: Any) -> DeviceArray:
    if not (isinstance(a, DeviceArray) and isinstance(b, DeviceArray)) or a.dtype != b.dtype \
            or a.dtype not in _FLOATS or b.ndim != 2 or a.ndim < 2:
        raise _Unsupported
    k, n = b.shape
    m = a.size // k if k else 0
    out = DeviceArray.empty(a.shape[:-1] + (n,), a.dtype, a.driver)
    if m and n and k:
        a.driver.gemm(a.buffer, b.buffer, out.buffer, m, n, k, a.dtype)
    elif out.size:
        out.set(np.zeros(out.shape, out.dtype))
    return out


_GATHER_TYPES = {**_FLOATS, np.dtype(np.int64): "i64"}


def _gather(x: DeviceArray, shape: tuple[int, ...], strides: list[int]) -> DeviceArray:
    """A contiguous copy of the strided view ``(shape, strides)`` of ``x`` (``gather.cu``)."""
    if x.dtype not in _GATHER_TYPES or len(shape) > 4:
        raise _Unsupported
    d = (1,) * (4 - len(shape)) + tuple(shape)
    st = [0] * (4 - len(shape)) + list(strides)
    if 1 + sum((n - 1) * k for n, k in zip(d, st)) > max(x.size, 1):
        raise RuntimeError(f"internal: gather view {shape} / {strides} exceeds its buffer "
                           f"of {x.size} elements")
    out = DeviceArray.empty(tuple(shape), x.dtype, x.driver)
    if out.size:
        launch = GATHER.launch(d0=d[0], d1=d[1], d2=d[2], d3=d[3])
        x.driver.launch(GATHER.source, f"nr_gather_{_GATHER_TYPES[x.dtype]}", launch.grid,
                        launch.block, [x.buffer, out.buffer, _I64(out.size), *map(_I64, d),
                                       *map(_I64, st)])
    return out


def _permute(a: Any, *, dims_order: Any) -> DeviceArray:
    if not isinstance(a, DeviceArray):
        raise _Unsupported
    order = [int(k) % a.ndim for k in dims_order] if a.ndim else []
    elems = [s // a.itemsize for s in a.strides]
    return _gather(a, tuple(a.shape[k] for k in order), [elems[k] for k in order])


def _shape_of(cpu: Callable[..., Any], a: DeviceArray, attrs: dict[str, Any]) -> tuple[int, ...]:
    """The result shape of a shape-only CPU kernel, from an uninitialised host stand-in
    (``np.empty`` reserves, never touches, its pages)."""
    return tuple(cpu(np.empty(a.shape, np.uint8), **attrs).shape)


def _expand_kernel(cpu: Callable[..., Any]) -> Callable[..., DeviceArray]:
    def run(a: Any, **attrs: Any) -> DeviceArray:
        if not isinstance(a, DeviceArray):
            raise _Unsupported
        shape = _shape_of(cpu, a, attrs)
        if len(shape) > 4:
            raise _Unsupported
        return _gather(a, shape, _padded_strides(a, shape)[4 - len(shape):])

    return run


def _reshape_kernel(cpu: Callable[..., Any]) -> Callable[..., DeviceArray]:
    """view/reshape/flatten/squeeze/unsqueeze: a C-contiguous array reshapes in place, so
    the result is a true view of the same device buffer."""

    def run(a: Any, **attrs: Any) -> DeviceArray:
        if not isinstance(a, DeviceArray):
            raise _Unsupported
        return a.reshape(_shape_of(cpu, a, attrs))

    return run


def _unary_kernel(op: str) -> Callable[..., DeviceArray]:
    def run(a: Any, out: DeviceArray | None = None) -> DeviceArray:
        if not isinstance(a, DeviceArray) or a.dtype not in _FLOATS:
            raise _Unsupported
        if out is None:
            out = DeviceArray.empty(a.shape, a.dtype, a.driver)
        if out.size:
            launch = UNARY.launch(n=out.size)
            a.driver.launch(UNARY.source, f"nr_{op}_{_FLOATS[a.dtype]}", launch.grid,
                            launch.block, [a.buffer, out.buffer, _I64(out.size)])
        return out

    return run


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
            return _binary(_UFUNC_BINARY[ufunc], a, b, out=target)
        if ufunc in _UFUNC_UNARY and len(inputs) == 1 and isinstance(inputs[0], DeviceArray):
            x = inputs[0]
            if target is not None and (target.dtype != x.dtype or target.shape != x.shape):
                return None
            return _unary_kernel(_UFUNC_UNARY[ufunc])(x, out=target)
    except _Unsupported:
        return None
    return None


def cast_array(a: DeviceArray, dtype: np.dtype[Any]) -> DeviceArray:
    """``a.astype(dtype)``: on the host for now (counted as a round trip of ``cast``)."""
    if dtype == a.dtype:
        return a.copy()
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
        except _Unsupported:
            return fallback(*args, **attrs)

    run.__name__ = f"{name}_cuda"
    return run


def _binary_kernel(op: str) -> Callable[..., DeviceArray]:
    def run(a: Any, b: Any, **attrs: Any) -> DeviceArray:
        if attrs.get("alpha", 1) != 1 or attrs.get("rounding_mode") is not None:
            raise _Unsupported
        return _binary(op, a, b)

    return run


NATIVE: dict[str, Callable[..., DeviceArray]] = {
    "add": _binary_kernel("add"), "sub": _binary_kernel("sub"), "mul": _binary_kernel("mul"),
    "div": _binary_kernel("div"), "sum": _sum, "matmul": _matmul, "permute": _permute,
}
"""Ops with a native CUDA kernel (falling back to the host for cases it does not cover)."""
NATIVE.update({op: _unary_kernel(op) for op in UNARY_OPS})


def _threshold_backward(g: Any, x: Any, *, threshold: float) -> DeviceArray:
    if threshold != 0 or not isinstance(g, DeviceArray) or not isinstance(x, DeviceArray) \
            or g.shape != x.shape:
        raise _Unsupported
    return _binary("relu_backward", g, x)


NATIVE["threshold_backward"] = _threshold_backward


_SHAPE_ONLY: dict[str, Callable[[Callable[..., Any]], Callable[..., DeviceArray]]] = {
    "view": _reshape_kernel, "reshape": _reshape_kernel, "flatten": _reshape_kernel,
    "squeeze": _reshape_kernel, "unsqueeze": _reshape_kernel, "expand": _expand_kernel,
}
"""Shape ops whose native kernel derives the result shape from the op's CPU kernel."""


def register_all() -> None:
    """Give every op with a CPU kernel a ``cuda`` kernel: native where one exists, else the
    counted host fallback. Idempotent."""
    for name, op in all_ops().items():
        cpu = op.kernels.get("cpu")
        if cpu is None or "cuda" in op.kernels:
            continue
        fallback = _host_fallback(name, cpu)
        native = NATIVE.get(name)
        if name in _SHAPE_ONLY:
            native = _SHAPE_ONLY[name](cpu)
        op.kernels["cuda"] = fallback if native is None else _native(name, native, fallback)


def buffer_of(x: DeviceArray) -> Buffer:
    """The device buffer behind an array (for tests and benchmarks)."""
    buffer: Buffer = x.buffer
    return buffer
