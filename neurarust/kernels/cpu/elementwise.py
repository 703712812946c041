"""numpy kernels for elementwise ops (ufuncs: SIMD underneath)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ops.registry import kernel

Array = np.ndarray  # type: ignore[type-arg]


@kernel("add", backend="cpu")
def add(a: Any, b: Any, *, alpha: Any = 1) -> Array:
    return np.add(a, b) if alpha == 1 else np.add(a, np.multiply(b, alpha))


@kernel("sub", backend="cpu")
def sub(a: Any, b: Any, *, alpha: Any = 1) -> Array:
    return np.subtract(a, b) if alpha == 1 else np.subtract(a, np.multiply(b, alpha))


@kernel("mul", backend="cpu")
def mul(a: Any, b: Any) -> Array:
    return np.multiply(a, b)


@kernel("div", backend="cpu")
def div(a: Any, b: Any, *, rounding_mode: str | None = None) -> Array:
    if rounding_mode is None:
        return np.true_divide(a, b)
    if rounding_mode == "floor":
        return np.floor_divide(a, b)
    q = np.true_divide(a, b)
    return np.trunc(q)


@kernel("neg", backend="cpu")
def neg(a: Array) -> Array:
    return np.negative(a)


@kernel("exp", backend="cpu")
def exp(a: Array) -> Array:
    return np.exp(a)


@kernel("cast", backend="cpu")
def cast(a: Array, *, dtype: Any) -> Array:
    return a.astype(dtype.np_dtype)


@kernel("clone", backend="cpu")
def clone(a: Array) -> Array:
    return np.array(a, copy=True, order="C")


@kernel("copy", backend="cpu")
def copy(dst: Array, src: Array) -> Array:
    return np.array(np.broadcast_to(src, dst.shape), dtype=dst.dtype, copy=True)
