"""numpy kernels for joining ops: concatenate, stack, and narrow as a numpy view."""

from __future__ import annotations

import numpy as np

from ...ops.joining import cat_inputs
from ...ops.registry import kernel
from ...types.algebra import CONCRETE

Array = np.ndarray  # type: ignore[type-arg]


@kernel("cat", backend="cpu")
def cat(*arrays: Array, dim: int) -> Array:
    rank, kept = cat_inputs(CONCRETE, tuple(a.shape for a in arrays))
    return np.concatenate([arrays[i] for i in kept], axis=dim % rank)


@kernel("stack", backend="cpu")
def stack(*arrays: Array, dim: int) -> Array:
    return np.stack(arrays, axis=dim % (arrays[0].ndim + 1))


@kernel("narrow", backend="cpu")
def narrow(a: Array, *, dim: int, start: int, length: int) -> Array:
    d = dim % a.ndim
    begin = start + a.shape[d] if start < 0 else start
    return a[(slice(None),) * d + (slice(begin, begin + length),)]
