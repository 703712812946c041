"""``DeviceArray``: a cuda tensor's data, a C-contiguous array in device memory.

It offers the small part of numpy's ndarray surface the core reads (``shape``, ``dtype``,
``ndim``, ``size``, ``strides``, ``flags``, ``astype``, ``reshape``, ``item``), so tensors,
autograd and the dispatcher treat it like a CPU buffer. numpy code that meets one (an
optimizer's in-place update, ``np.copyto`` of an in-place op) goes through
``__array_ufunc__``/``__array_function__``: ``np.add/subtract/multiply/divide/sqrt/negative``
on float arrays and scalars run the device kernels (also with ``out=``); anything else
copies the inputs to the host, runs numpy, and writes results (and ``out=`` targets) back. Every such round trip is
counted in :data:`HOST_ROUND_TRIPS` (``nr.cuda.fallback_counts()``) so that it is visible,
and ``NEURARUST_CUDA_STRICT=1`` turns it into an error.

This module imports neither pycuda nor z3; memory comes from :func:`.driver.get_driver`.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any, Self

import numpy as np

__all__ = ["HOST_ROUND_TRIPS", "DeviceArray", "count_round_trip", "to_host", "upload"]

HOST_ROUND_TRIPS: Counter[str] = Counter()
"""What ran on the host for cuda tensors: op names (kernels without a CUDA version) and
numpy functions, each with how many times."""


def count_round_trip(what: str) -> None:
    """Record a host round trip; raise instead under ``NEURARUST_CUDA_STRICT=1``."""
    if os.environ.get("NEURARUST_CUDA_STRICT", "") not in ("", "0"):
        raise NotImplementedError(
            f"{what}: no CUDA kernel; it would run on the host through copies "
            "(NEURARUST_CUDA_STRICT=1 forbids that)")
    HOST_ROUND_TRIPS[what] += 1


class _Flags:
    c_contiguous = True
    f_contiguous = False
    owndata = True
    writeable = True


class _ViewFlags(_Flags):
    owndata = False  # a reshape: another array's buffer (autograd copies before keeping it)


_FLAGS = _Flags()
_VIEW_FLAGS = _ViewFlags()


class DeviceArray:
    """``shape``/``dtype`` over a device :class:`~.driver.Buffer` (C order, no offset)."""

    __slots__ = ("buffer", "driver", "dtype", "shape", "owner")
    __array_priority__ = 2000

    def __init__(self, buffer: Any, shape: tuple[int, ...], dtype: np.dtype[Any],
                 driver: Any, owner: bool = True) -> None:
        self.buffer = buffer
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.driver = driver
        self.owner = owner  # False for a reshape of another array (flags.owndata, as numpy)

    @classmethod
    def empty(cls, shape: tuple[int, ...], dtype: Any, driver: Any) -> DeviceArray:
        dt = np.dtype(dtype)
        n = int(np.prod(shape, dtype=np.int64))
        return cls(driver.alloc(n * dt.itemsize), shape, dt, driver)

    # -- ndarray surface ------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def strides(self) -> tuple[int, ...]:
        out, step = [], self.dtype.itemsize
        for s in reversed(self.shape):
            out.append(step)
            step *= max(s, 1)
        return tuple(reversed(out))

    @property
    def flags(self) -> _Flags:
        return _FLAGS if self.owner else _VIEW_FLAGS

    @property
    def T(self) -> DeviceArray:
        return _host_op("transpose", lambda h: h.T, self)

    def get(self) -> np.ndarray:  # type: ignore[type-arg]
        """A host copy (a new numpy array)."""
        host = np.empty(self.shape, self.dtype)
        if host.nbytes:
            self.driver.download(self.buffer, host)
        return host

    def set(self, host: Any) -> None:
        """Write host values (broadcast and cast to this array's shape and dtype)."""
        src = np.ascontiguousarray(np.broadcast_to(np.asarray(host, self.dtype), self.shape))
        if src.nbytes:
            self.driver.upload(self.buffer, src)

    def fill(self, value: Any) -> None:
        """Set every element to ``value`` (one upload)."""
        self.set(np.full(self.shape, value, self.dtype))

    def reshape(self, *shape: Any) -> DeviceArray:
        """A new array header over the same buffer (C order makes every reshape a view)."""
        dims = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        new = [int(d) for d in dims]
        if new.count(-1) > 1:
            raise ValueError(f"reshape: only one dimension can be -1, got {tuple(new)}")
        known = int(np.prod([d for d in new if d != -1], dtype=np.int64))
        if -1 in new:
            new[new.index(-1)] = self.size // known if known else 0
        if int(np.prod(new, dtype=np.int64)) != self.size:
            raise ValueError(f"cannot reshape array of size {self.size} into shape {tuple(dims)}")
        return DeviceArray(self.buffer, tuple(new), self.dtype, self.driver, owner=False)

    def astype(self, dtype: Any, copy: bool = True, **_: Any) -> DeviceArray:
        from .kernels import cast_array

        return cast_array(self, np.dtype(dtype))

    def copy(self, order: str = "C") -> DeviceArray:
        out = DeviceArray.empty(self.shape, self.dtype, self.driver)
        if self.nbytes:
            self.driver.copy(out.buffer, self.buffer, self.nbytes)
        return out

    def item(self) -> Any:
        return self.get().item()

    def __deepcopy__(self, memo: dict[int, Any]) -> DeviceArray:
        return self.copy()  # a device-to-device copy

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled as host values; unpickled into a new array on the process's driver."""
        return _unpickle, (self.get(),)

    def tolist(self) -> Any:
        return self.get().tolist()

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"DeviceArray({self.get()!r}, device={self.driver.name})"

    # -- numpy interop: explicit host round trips -------------------------------------------
    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:  # type: ignore[type-arg]
        count_round_trip("numpy conversion")
        host = self.get()
        return host if dtype is None else host.astype(dtype)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method == "__call__":
            from .kernels import ufunc_on_device

            done = ufunc_on_device(ufunc, inputs, kwargs)
            if done is not None:
                return done
        return _host_call(f"np.{ufunc.__name__}", getattr(ufunc, method), inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func is np.copyto:
            dst, src = args[0], args[1]
            if isinstance(dst, DeviceArray) and isinstance(src, DeviceArray) \
                    and src.shape == dst.shape and src.dtype == dst.dtype:
                dst.driver.copy(dst.buffer, src.buffer, src.nbytes)
                return None
        return _host_call(f"np.{func.__name__}", func, args, kwargs)

    def _inplace(self, ufunc: Any, other: Any) -> Self:
        ufunc(self, other, out=self)
        return self

    def __iadd__(self, other: Any) -> Self:
        from .kernels import inplace_add

        if inplace_add(self, other):
            return self
        return self._inplace(np.add, other)

    def __isub__(self, other: Any) -> Self:
        return self._inplace(np.subtract, other)

    def __imul__(self, other: Any) -> Self:
        return self._inplace(np.multiply, other)

    def __itruediv__(self, other: Any) -> Self:
        return self._inplace(np.true_divide, other)

    def __getitem__(self, key: Any) -> DeviceArray:
        return _host_op("indexing", lambda h: np.ascontiguousarray(h[key]), self)


def _unpickle(host: np.ndarray) -> DeviceArray:  # type: ignore[type-arg]
    from .driver import get_driver

    result: DeviceArray = upload(host, get_driver())
    return result


def _driver_of(values: Any) -> Any:
    for v in values:
        if isinstance(v, DeviceArray):
            return v.driver
        if isinstance(v, (tuple, list)):
            d = _driver_of(v)
            if d is not None:
                return d
    return None


def to_host(v: Any) -> Any:
    """DeviceArrays (also inside tuples/lists) replaced by host copies."""
    if isinstance(v, DeviceArray):
        return v.get()
    if isinstance(v, (tuple, list)):
        return type(v)(to_host(x) for x in v)
    return v


def upload(v: Any, driver: Any) -> Any:
    """numpy arrays (also inside tuples/lists) replaced by new DeviceArrays."""
    if isinstance(v, np.generic):
        v = np.asarray(v)
    if isinstance(v, np.ndarray):
        out = DeviceArray.empty(v.shape, v.dtype, driver)
        out.set(v)
        return out
    if isinstance(v, (tuple, list)):
        return type(v)(upload(x, driver) for x in v)
    return v


def _host_call(what: str, fn: Any, args: Any, kwargs: dict[str, Any]) -> Any:
    """Run numpy ``fn`` on host copies; write ``out=`` device targets back; results that are
    arrays come back as DeviceArrays."""
    count_round_trip(what)
    driver = _driver_of(list(args) + list(kwargs.values()))
    out = kwargs.get("out")
    targets = out if isinstance(out, tuple) else (out,) if out is not None else ()
    host_kwargs = {k: to_host(v) for k, v in kwargs.items()}
    result = fn(*to_host(tuple(args)), **host_kwargs)
    if targets:
        host_out = host_kwargs["out"]
        host_out = host_out if isinstance(host_out, tuple) else (host_out,)
        for dev, host in zip(targets, host_out):
            if isinstance(dev, DeviceArray):
                dev.set(host)
        return out[0] if isinstance(out, tuple) and len(out) == 1 else out
    return upload(result, driver) if driver is not None else result


def _host_op(what: str, fn: Any, a: DeviceArray) -> DeviceArray:
    count_round_trip(what)
    result: DeviceArray = upload(np.asarray(fn(a.get())), a.driver)
    return result
