"""numpy kernels for reductions.

float16 inputs accumulate in float32 (as PyTorch's CPU kernels do) and the dispatcher casts
the result back; empty reductions give PyTorch's values (sum 0, prod 1, mean nan, all True).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...ops.registry import kernel

Array = np.ndarray  # type: ignore[type-arg]


def _axis(a: Array, dim: Sequence[int] | None) -> tuple[int, ...] | None:
    """numpy's axis for ``dim``: None for all dims (and for a 0-d input, whose dim 0 or -1
    names the tensor itself)."""
    if a.ndim == 0 or dim is None or len(dim) == 0:
        return None
    return tuple(d % a.ndim for d in dim)


def _count(a: Array, axis: tuple[int, ...] | None) -> int:
    if axis is None:
        return int(a.size)
    count = 1
    for d in axis:
        count *= a.shape[d]
    return count


_FLOAT16 = np.dtype(np.float16)


def _acc(np_dtype: Any) -> Any:
    """The accumulation dtype: float32 for float16, else the dtype itself."""
    return np.float32 if np_dtype is _FLOAT16 or np_dtype == _FLOAT16 else np_dtype


def _int64_if_integer(a: Array, dtype: Any) -> Any:
    if dtype is not None:
        return dtype.np_dtype
    return np.int64 if a.dtype.kind in "biu" else a.dtype


@kernel("sum", backend="cpu")
def sum_(a: Array, *, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Any:
    out = _int64_if_integer(a, dtype)
    # np.add.reduce is np.sum without its Python-level dispatch (half the time on small inputs).
    reduce: Any = np.add.reduce
    return reduce(a, axis=_axis(a, dim), dtype=_acc(out), keepdims=keepdim)


@kernel("mean", backend="cpu")
def mean(a: Array, *, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Any:
    axis = _axis(a, dim)
    out = a.dtype if dtype is None else dtype.np_dtype
    total = np.sum(a, axis=axis, keepdims=keepdim, dtype=_acc(out))
    with np.errstate(all="ignore"):
        return np.true_divide(total, _count(a, axis))  # nan over an empty dim


@kernel("prod", backend="cpu")
def prod(a: Array, *, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Any:
    with np.errstate(all="ignore"):
        return np.prod(a, axis=_axis(a, dim), keepdims=keepdim,
                       dtype=_acc(_int64_if_integer(a, dtype)))


@kernel("cumsum", backend="cpu")
def cumsum(a: Array, *, dim: int, dtype: Any = None) -> Any:
    out = _int64_if_integer(a, dtype)
    if a.ndim == 0:
        return np.cumsum(a.reshape(1), dtype=_acc(out)).reshape(())
    return np.cumsum(a, axis=dim % a.ndim, dtype=_acc(out))


@kernel("amax", backend="cpu")
def amax(a: Array, *, dim: Any = None, keepdim: bool = False) -> Any:
    return np.amax(a, axis=_axis(a, dim), keepdims=keepdim)


@kernel("amin", backend="cpu")
def amin(a: Array, *, dim: Any = None, keepdim: bool = False) -> Any:
    return np.amin(a, axis=_axis(a, dim), keepdims=keepdim)


def _select(a: Array, dim: Sequence[int], keepdim: bool, arg: Any) -> Any:
    """The element at ``arg``'s index along one dim, so values and indices always agree."""
    if a.ndim == 0:
        return a.copy()
    d = dim[0] % a.ndim
    picked = np.take_along_axis(a, arg(a, axis=d, keepdims=True), axis=d)
    return picked if keepdim else np.squeeze(picked, axis=d)


@kernel("max", backend="cpu")
def max_(a: Array, *, dim: Sequence[int], keepdim: bool = False) -> Any:
    return _select(a, dim, keepdim, np.argmax)


@kernel("min", backend="cpu")
def min_(a: Array, *, dim: Sequence[int], keepdim: bool = False) -> Any:
    return _select(a, dim, keepdim, np.argmin)


def _arg(a: Array, dim: Sequence[int] | None, keepdim: bool, arg: Any) -> Any:
    if dim is None or a.ndim == 0:  # the index into the flattened input
        index = np.asarray(arg(a))
        return index.reshape((1,) * a.ndim) if keepdim else index
    return arg(a, axis=dim[0] % a.ndim, keepdims=keepdim)  # type: ignore[no-any-return]


@kernel("argmax", backend="cpu")
def argmax(a: Array, *, dim: Sequence[int] | None = None, keepdim: bool = False) -> Any:
    return _arg(a, dim, keepdim, np.argmax)


@kernel("argmin", backend="cpu")
def argmin(a: Array, *, dim: Sequence[int] | None = None, keepdim: bool = False) -> Any:
    return _arg(a, dim, keepdim, np.argmin)


@kernel("var", backend="cpu")
def var(a: Array, *, dim: Any = None, correction: float = 1, keepdim: bool = False) -> Any:
    axis = _axis(a, dim)
    x = a.astype(_acc(a.dtype), copy=False)
    count = _count(a, axis)
    with np.errstate(all="ignore"):
        centred = x - np.sum(x, axis=axis, keepdims=True) / count
        squares = np.sum(centred * centred, axis=axis, keepdims=keepdim)
        return np.true_divide(squares, max(count - correction, 0))  # inf or nan when <= 0


@kernel("std", backend="cpu")
def std(a: Array, *, dim: Any = None, correction: float = 1, keepdim: bool = False) -> Any:
    return np.sqrt(var(a, dim=dim, correction=correction, keepdim=keepdim))


@kernel("logsumexp", backend="cpu")
def logsumexp(a: Array, *, dim: Any = None, keepdim: bool = False) -> Any:
    axis = _axis(a, dim)
    x = a.astype(_acc(a.dtype), copy=False)
    with np.errstate(all="ignore"):
        top = np.amax(x, axis=axis, keepdims=True, initial=-np.inf)
        shift = np.where(np.isinf(top), 0, top)  # all -inf (or an inf): shifting would give nan
        out = np.log(np.sum(np.exp(x - shift), axis=axis, keepdims=True)) + shift
    if keepdim:
        return out  # type: ignore[no-any-return]
    return out.reshape(()) if axis is None else np.squeeze(out, axis=axis)


@kernel("norm", backend="cpu")
def norm(a: Array, *, p: float = 2.0, dim: Any = None, keepdim: bool = False) -> Any:
    axis = _axis(a, dim)
    x = np.abs(a.astype(_acc(a.dtype), copy=False))
    with np.errstate(all="ignore"):
        if p == 2:
            return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdim))
        if p == 1:
            return np.sum(x, axis=axis, keepdims=keepdim)
        if p == np.inf:
            return np.amax(x, axis=axis, keepdims=keepdim)
        if p == -np.inf:
            return np.amin(x, axis=axis, keepdims=keepdim)
        if p == 0:
            return np.sum(x != 0, axis=axis, keepdims=keepdim, dtype=x.dtype)
        return np.power(np.sum(np.power(x, p), axis=axis, keepdims=keepdim), 1.0 / p)


@kernel("all", backend="cpu")
def all_(a: Array, *, dim: Any = None, keepdim: bool = False) -> Any:
    return np.all(a, axis=_axis(a, dim), keepdims=keepdim)


@kernel("any", backend="cpu")
def any_(a: Array, *, dim: Any = None, keepdim: bool = False) -> Any:
    return np.any(a, axis=_axis(a, dim), keepdims=keepdim)
