"""numpy kernels for shape ops: views of the input's buffer wherever numpy allows."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import _sizes
from ...ops.registry import kernel
from ...types.dtype import from_numpy_dtype

Array = np.ndarray  # type: ignore[type-arg]


def _target(a: Array, shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(a.size // max(1, -int(np.prod(shape))) if s == -1 else s for s in shape) \
        if -1 in shape else tuple(shape)


@kernel("reshape", backend="cpu")
def reshape(a: Array, *, shape: Sequence[int]) -> Array:
    return a.reshape(_target(a, shape))


@kernel("view", backend="cpu")
def view(a: Array, *, shape: Sequence[int]) -> Array:
    try:
        return np.reshape(a, _target(a, shape), copy=False)
    except ValueError:
        raise RuntimeError(
            f"view: size {list(shape)} is not compatible with the input's size {list(a.shape)} "
            f"and stride {[s // a.itemsize for s in a.strides]} (at least one dimension spans "
            "across two contiguous subspaces). hint: use .reshape(...) instead"
        ) from None


@kernel("permute", backend="cpu")
def permute(a: Array, *, dims_order: Sequence[int]) -> Array:
    return a.transpose(dims_order)


@kernel("expand", backend="cpu")
def expand(a: Array, *, size: Sequence[int]) -> Array:
    extra = len(size) - a.ndim
    shape = tuple(size[:extra]) + tuple(d if s == -1 else s for d, s in zip(a.shape, size[extra:]))
    if math.prod(shape) * a.itemsize > _sizes.MAX_BYTES:  # numpy's words otherwise
        _sizes.check_elements("expand", from_numpy_dtype(a.dtype).short, shape, a.itemsize)
    return np.broadcast_to(a, shape)


@kernel("unsqueeze", backend="cpu")
def unsqueeze(a: Array, *, dim: int) -> Array:
    return np.expand_dims(a, dim if dim >= 0 else dim + a.ndim + 1)


@kernel("squeeze", backend="cpu")
def squeeze(a: Array, *, dim: tuple[int, ...] | None) -> Array:
    if dim is None:
        return np.squeeze(a)
    axes = tuple({d % a.ndim for d in dim if a.shape[d] == 1}) if a.ndim else ()
    return np.squeeze(a, axis=axes) if axes else a.view()


@kernel("flatten", backend="cpu")
def flatten(a: Array, *, start_dim: int, end_dim: int) -> Array:
    if a.ndim == 0:
        return a.reshape(1)
    s, e = start_dim % a.ndim, end_dim % a.ndim
    return a.reshape(a.shape[:s] + (-1 if a.size else int(np.prod(a.shape[s:e + 1])),) + a.shape[e + 1:])


@kernel("flip", backend="cpu")
def flip(a: Array, *, dims_to_flip: Any) -> Array:
    return np.flip(a, axis=tuple(dims_to_flip)).copy()


@kernel("repeat", backend="cpu")
def repeat(a: Array, *, repeats: Sequence[int]) -> Array:
    return np.tile(a, tuple(repeats))
