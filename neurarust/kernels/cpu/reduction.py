"""numpy kernels for reductions."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ...ops.registry import kernel

Array = np.ndarray  # type: ignore[type-arg]


def _axis(dim: Sequence[int] | None) -> tuple[int, ...] | None:
    return None if dim is None or len(dim) == 0 else tuple(dim)


@kernel("sum", backend="cpu")
def sum_(a: Array, *, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Array:
    out_dtype = dtype.np_dtype if dtype is not None else (
        np.int64 if a.dtype.kind in "biu" else a.dtype)
    return np.sum(a, axis=_axis(dim), keepdims=keepdim, dtype=out_dtype)


@kernel("mean", backend="cpu")
def mean(a: Array, *, dim: Any = None, keepdim: bool = False) -> Array:
    return np.mean(a, axis=_axis(dim), keepdims=keepdim, dtype=a.dtype)
