"""Creation functions: tensor, zeros, ones, full, empty, arange, linspace, eye, random ..."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _sizes
from ..device import CPU, Device, _default
from ..device import device as to_device
from ..tensor import Tensor, _shape_args, _Storage
from ..types import dtype as dt
from ..types.dtype import DType, from_numpy_dtype
from .random import Generator, default_generator

__all__ = [
    "arange",
    "as_tensor",
    "empty",
    "empty_like",
    "eye",
    "from_dlpack",
    "from_numpy",
    "full",
    "full_like",
    "linspace",
    "ones",
    "ones_like",
    "rand",
    "rand_like",
    "randint",
    "randint_like",
    "randn",
    "randn_like",
    "randperm",
    "tensor",
    "zeros",
    "zeros_like",
]

DeviceArg = str | Device | None


def _make(data: np.ndarray, dtype: DType, device: DeviceArg, requires_grad: bool) -> Tensor:  # type: ignore[type-arg]
    """A tensor over host ``data`` on ``device`` (None: the default device)."""
    target = _default[0] if device is None else to_device(device)
    if target.backend != "cpu":  # built on the host, then copied (one upload)
        return Tensor._from_parts(data, dtype, CPU, _Storage()).to(target) \
            .requires_grad_(requires_grad)
    t = Tensor._from_parts(data, dtype, target, _Storage())
    if requires_grad:
        t.requires_grad_(True)
    return t


def _infer_dtype(array: np.ndarray) -> DType:  # type: ignore[type-arg]
    """PyTorch's inference for Python data: floats -> default dtype, ints -> int64."""
    kind = array.dtype.kind
    if kind == "f":
        return dt.get_default_dtype()
    if kind in "iu":
        return dt.int64
    if kind == "b":
        return dt.bool_
    raise TypeError(f"tensor: can't build a tensor from data of numpy dtype {array.dtype}")


def tensor(data: Any, *, dtype: DType | None = None, device: DeviceArg = None,
           requires_grad: bool = False) -> Tensor:
    """A new tensor copying ``data`` (nested lists, scalars, numpy arrays, tensors).

    Python floats become the default float dtype; numpy arrays keep their dtype.
    """
    if isinstance(data, Tensor):
        array = np.array(data._data, copy=True)
        inferred = data.dtype
    elif isinstance(data, np.ndarray):
        array = np.array(data, copy=True)
        inferred = from_numpy_dtype(array.dtype)
    else:
        if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flat(data)):
            data = _to_lists(data)
        array = np.array(data)
        inferred = _infer_dtype(array)
    out_dtype = dtype or inferred
    if array.dtype != out_dtype.np_dtype:
        array = array.astype(out_dtype.np_dtype)
    # ascontiguousarray would turn a 0-d array into shape (1,)
    array = np.ascontiguousarray(array) if array.ndim else array
    return _make(array, out_dtype, device, requires_grad)


def _flat(data: Any) -> list[Any]:
    out: list[Any] = []
    stack = [data]
    while stack:
        x = stack.pop()
        if isinstance(x, (list, tuple)):
            stack.extend(x)
        else:
            out.append(x)
    return out


def _to_lists(data: Any) -> Any:
    if isinstance(data, Tensor):
        return data.tolist()
    if isinstance(data, (list, tuple)):
        return [_to_lists(x) for x in data]
    return data


def as_tensor(data: Any, dtype: DType | None = None, device: DeviceArg = None) -> Tensor:
    """Like :func:`tensor`, but shares memory with a numpy array or tensor when it can (a
    CPU target: ``device``, else the default device)."""
    target = _default[0] if device is None else to_device(device)
    if isinstance(data, Tensor):
        t: Tensor = data.to(target) if device is not None or target.backend != "cpu" else data
        return t if dtype is None else t.to(dtype)
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == dtype.np_dtype) \
            and target.backend == "cpu":
        return from_numpy(data)
    return tensor(data, dtype=dtype, device=target)


def from_numpy(array: np.ndarray) -> Tensor:  # type: ignore[type-arg]
    """A tensor sharing memory with ``array`` (zero-copy, as ``torch.from_numpy``)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    return Tensor._from_parts(array, from_numpy_dtype(array.dtype), CPU, _Storage())


def from_dlpack(obj: Any) -> Tensor:
    """A tensor sharing memory with any DLPack producer on the CPU (numpy, PyTorch, ...)."""
    return from_numpy(np.from_dlpack(obj))


def _alloc(op: str, shape: tuple[Any, ...], dtype: DType, make: Any) -> Any:
    """``make()``, the host array of ``shape`` for ``op``, with PyTorch's error class and
    words (op, dtype and shape, size) when it can't be allocated."""
    _sizes.check(op, dtype.short, shape, dtype.itemsize)
    try:
        return make()
    except MemoryError:
        raise _sizes.out_of_memory(op, dtype.short, shape, dtype.itemsize) from None
    except ValueError as exc:
        if "too big" in str(exc) or "Maximum allowed" in str(exc):
            raise _sizes.too_big(op, dtype.short, shape, dtype.itemsize) from None
        raise


def _dtype_or_default(dtype: DType | None) -> DType:
    return dt.get_default_dtype() if dtype is None else dtype


def _symbolic_fill(size: tuple[Any, ...], value: float, dtype: DType,
                   device: DeviceArg) -> Tensor | None:
    """While tracing, a fill whose size names a symbolic dim (``zeros(B, H)``, an RNN's
    initial state) is ``expand`` of a 0-d constant, which the tracer records; else None."""
    from .. import _dispatch
    from ..ops.registry import get
    from ..types.dim import Dim

    if not any(isinstance(n, Dim) and not n.is_constant for n in size):
        return None
    fill = _make(np.full((), value, dtype.np_dtype), dtype, device, False)
    # the general path: the one-tensor fast path does not consult the tracer
    return _dispatch._call_general(get("expand"), (fill,), {"size": tuple(size)})


def zeros(*size: Any, dtype: DType | None = None, device: DeviceArg = None,
          requires_grad: bool = False) -> Tensor:
    d = _dtype_or_default(dtype)
    shape = _shape_args(size)
    traced = None if requires_grad else _symbolic_fill(shape, 0, d, device)
    if traced is not None:
        return traced
    return _make(_alloc("zeros", shape, d, lambda: np.zeros(shape, d.np_dtype)), d, device,
                 requires_grad)


def ones(*size: Any, dtype: DType | None = None, device: DeviceArg = None,
         requires_grad: bool = False) -> Tensor:
    d = _dtype_or_default(dtype)
    shape = _shape_args(size)
    traced = None if requires_grad else _symbolic_fill(shape, 1, d, device)
    if traced is not None:
        return traced
    return _make(_alloc("ones", shape, d, lambda: np.ones(shape, d.np_dtype)), d, device,
                 requires_grad)


def empty(*size: Any, dtype: DType | None = None, device: DeviceArg = None,
          requires_grad: bool = False) -> Tensor:
    d = _dtype_or_default(dtype)
    shape = _shape_args(size)
    return _make(_alloc("empty", shape, d, lambda: np.empty(shape, d.np_dtype)), d, device,
                 requires_grad)


def full(size: Sequence[int], fill_value: bool | float, *, dtype: DType | None = None,
         device: DeviceArg = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value`` (dtype inferred from it, as PyTorch)."""
    if dtype is None:
        dtype = dt.bool_ if isinstance(fill_value, bool) else (
            dt.int64 if isinstance(fill_value, int) else dt.get_default_dtype())
    d, shape = dtype, tuple(size)
    return _make(_alloc("full", shape, d, lambda: np.full(shape, fill_value, d.np_dtype)), d,
                 device, requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, *,
           dtype: DType | None = None, device: DeviceArg = None,
           requires_grad: bool = False) -> Tensor:
    """Values ``start, start+step, ...`` below ``end`` (int64 when all arguments are ints)."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    traced = _symbolic_arange(start, end, step, dtype)
    if traced is not None:
        return traced
    if dtype is None:
        all_int = all(isinstance(v, int) for v in (start, end, step))
        dtype = dt.int64 if all_int else dt.get_default_dtype()
    n = max(0, math.ceil((end - start) / step))
    index = np.arange(n, dtype=np.float64 if dtype.is_floating_point else np.int64)
    values = np.add(start, np.multiply(index, step))
    return _make(values.astype(dtype.np_dtype), dtype, device, requires_grad)


def _symbolic_arange(start: Any, end: Any, step: Any, dtype: DType | None) -> Tensor | None:
    """While tracing, ``arange`` over a symbolic size (``arange(T)``) is the registry's
    ``arange`` op, so the graph knows its values; else None."""
    from .. import _dispatch
    from ..ops.registry import get
    from ..trace.dims import plain
    from ..types.dim import Dim

    if _dispatch._tracer is None or not any(isinstance(plain(v), Dim)
                                            for v in (start, end, step)):
        return None
    if isinstance(plain(start), Dim) or isinstance(plain(step), Dim):
        raise TypeError("arange: while tracing, only `end` may be a symbolic size")
    if not (start == 0 and step == 1):  # n values for end = start + n * step
        raise TypeError("arange: while tracing, a symbolic size needs arange(end) or "
                        "arange(0, end, 1)")
    d = dt.int64 if dtype is None else dtype
    first = _make(np.full((), start, d.np_dtype), d, None, False)
    return _dispatch._call_general(get("arange"), (first,), {"end": plain(end), "step": 1})


def linspace(start: float, end: float, steps: int, *, dtype: DType | None = None,
             device: DeviceArg = None, requires_grad: bool = False) -> Tensor:
    d = _dtype_or_default(dtype)
    if steps < 0:
        raise ValueError(f"linspace: number of steps must be non-negative, got {steps}")
    return _make(np.linspace(start, end, steps).astype(d.np_dtype), d, device, requires_grad)


def eye(n: int, m: int | None = None, *, dtype: DType | None = None, device: DeviceArg = None,
        requires_grad: bool = False) -> Tensor:
    d = _dtype_or_default(dtype)
    return _make(np.eye(n, m, dtype=d.np_dtype), d, device, requires_grad)


def _gen(generator: Generator | None) -> np.random.Generator:
    return (generator or default_generator).numpy


def rand(*size: Any, generator: Generator | None = None, dtype: DType | None = None,
         device: DeviceArg = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1)."""
    d = _dtype_or_default(dtype)
    shape = _shape_args(size)
    data = _alloc("rand", shape, d, lambda: _gen(generator).random(shape, dtype=np.float64)
                  .astype(d.np_dtype))
    return _make(data, d, device, requires_grad)


def randn(*size: Any, generator: Generator | None = None, dtype: DType | None = None,
          device: DeviceArg = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples."""
    d = _dtype_or_default(dtype)
    shape = _shape_args(size)
    data = _alloc("randn", shape, d, lambda: _gen(generator).standard_normal(shape)
                  .astype(d.np_dtype))
    return _make(data, d, device, requires_grad)


def randint(low: int, high: int | None = None, size: Sequence[int] = (), *,
            generator: Generator | None = None, dtype: DType | None = None,
            device: DeviceArg = None) -> Tensor:
    """Integers uniform in ``[low, high)`` (``randint(high, size)`` also accepted)."""
    if high is None:
        low, high = 0, low
    if low >= high:
        raise ValueError(f"randint: expects low < high, got low={low}, high={high}")
    d = dt.int64 if dtype is None else dtype
    data = _gen(generator).integers(low, high, tuple(size)).astype(d.np_dtype)
    return _make(data, d, device, False)


def randperm(n: int, *, generator: Generator | None = None, dtype: DType | None = None,
             device: DeviceArg = None) -> Tensor:
    d = dt.int64 if dtype is None else dtype
    return _make(_gen(generator).permutation(n).astype(d.np_dtype), d, device, False)


def _like(fn: Any, input: Tensor, dtype: DType | None, requires_grad: bool, **kw: Any) -> Tensor:
    out: Tensor = fn(input.shape, dtype=dtype or input.dtype, device=input.device,
                     requires_grad=requires_grad, **kw)
    return out


def zeros_like(input: Tensor, *, dtype: DType | None = None, requires_grad: bool = False) -> Tensor:
    return _like(zeros, input, dtype, requires_grad)


def ones_like(input: Tensor, *, dtype: DType | None = None, requires_grad: bool = False) -> Tensor:
    return _like(ones, input, dtype, requires_grad)


def empty_like(input: Tensor, *, dtype: DType | None = None, requires_grad: bool = False) -> Tensor:
    return _like(empty, input, dtype, requires_grad)


def full_like(input: Tensor, fill_value: bool | float, *, dtype: DType | None = None,
              requires_grad: bool = False) -> Tensor:
    return full(input.shape, fill_value, dtype=dtype or input.dtype, device=input.device,
                requires_grad=requires_grad)


def rand_like(input: Tensor, *, dtype: DType | None = None,
              generator: Generator | None = None) -> Tensor:
    return rand(input.shape, dtype=dtype or input.dtype, device=input.device, generator=generator)


def randn_like(input: Tensor, *, dtype: DType | None = None,
               generator: Generator | None = None) -> Tensor:
    return randn(input.shape, dtype=dtype or input.dtype, device=input.device, generator=generator)


def randint_like(input: Tensor, low: int, high: int | None = None, *,
                 dtype: DType | None = None) -> Tensor:
    return randint(low, high, input.shape, dtype=dtype or input.dtype, device=input.device)
