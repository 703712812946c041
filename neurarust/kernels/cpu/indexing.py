"""numpy kernels for indexing ops: basic indexing as numpy views, advanced indexing and
scatters as vectorised fancy indexing (``np.add.at`` where repeated indices must add up).

Index values are data, so the bounds are checked here, with one message shape for all ops:
``index_select: index 7 is out of bounds for dim 0 with size 5``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...ops.indexing import IndexItem, Slice
from ...ops.registry import kernel

Array = np.ndarray  # type: ignore[type-arg]


def _basic_key(index: Sequence[IndexItem]) -> tuple[Any, ...]:
    """The numpy key for a basic index; the trailing Ellipsis makes an all-int index return a
    0-d view rather than a numpy scalar."""
    return tuple(item.to_slice() if isinstance(item, Slice) else item for item in index) + (...,)


def _check_bounds(op: str, index: Array, size: int, dim: int, *, negative: bool) -> None:
    """IndexError unless every value is in ``[-size, size)`` (``[0, size)`` if not negative)."""
    if index.size == 0:
        return
    lo, hi = int(index.min()), int(index.max())
    low = -size if negative else 0
    if hi >= size or lo < low:
        bad = hi if hi >= size else lo
        raise IndexError(f"{op}: index {bad} is out of bounds for dim {dim} with size {size}")


def _advanced_key(op: str, view: Array, indices: Sequence[Array],
                  indexed_dims: Sequence[int]) -> tuple[Any, ...]:
    """Full slices with the index arrays at ``indexed_dims``: numpy then applies PyTorch's
    placement rule (only arrays and slices are left in the key)."""
    key: list[Any] = [slice(None)] * view.ndim
    for idx, d in zip(indices, indexed_dims):
        _check_bounds(op, idx, view.shape[d], d, negative=True)
        key[d] = idx
    return tuple(key)


@kernel("getitem", backend="cpu")
def getitem(a: Array, *, index: Sequence[IndexItem]) -> Array:
    view: Array = a[_basic_key(index)]
    return view


@kernel("index", backend="cpu")
def index(a: Array, *indices: Array, index: Sequence[IndexItem],
          indexed_dims: Sequence[int]) -> Array:
    view = a[_basic_key(index)]
    out: Array = view[_advanced_key("index", view, indices, indexed_dims)]
    return out


@kernel("index_put", backend="cpu")
def index_put(a: Array, values: Any, *indices: Array, index: Sequence[IndexItem],
              indexed_dims: Sequence[int], accumulate: bool) -> Array:
    out = np.array(a, copy=True)
    view = out[_basic_key(index)]
    values = np.asarray(values).astype(out.dtype, copy=False)
    if not indices:
        if accumulate:
            view += values
        else:
            view[...] = values
        return out
    key = _advanced_key("index_put", view, indices, indexed_dims)
    if accumulate:
        np.add.at(view, key, values)  # unbuffered: repeated indices add up
    else:
        view[key] = values
    return out


@kernel("nonzero_static", backend="cpu")
def nonzero_static(a: Array, *, size: int, fill_value: int = -1) -> Array:
    found = np.argwhere(a)
    if found.shape[0] >= size:
        return found[:size]
    pad = np.full((size - found.shape[0], a.ndim), fill_value, dtype=found.dtype)
    return np.concatenate([found, pad])


@kernel("masked_fill", backend="cpu")
def masked_fill(a: Array, mask: Array, *value_tensor: Array, value: Any = None) -> Array:
    fill = value_tensor[0] if value_tensor else value
    return np.where(mask, np.asarray(fill).astype(a.dtype), a)


def _corner(x: Array, shape: Sequence[int], skip: int | None) -> Array:
    """``x`` cut to ``shape`` in every dim but ``skip`` (index may be smaller than input)."""
    if all(d == skip or s == n for d, (s, n) in enumerate(zip(shape, x.shape))):
        return x
    return x[tuple(slice(None) if d == skip else slice(0, s) for d, s in enumerate(shape))]


def _scatter_key(index: Array, dim: int) -> tuple[Array, ...]:
    """Open grids over index's shape, with the index itself along ``dim``."""
    grids = list(np.ix_(*[np.arange(s) for s in index.shape]))
    grids[dim] = index
    return tuple(grids)


@kernel("gather", backend="cpu")
def gather(a: Array, index: Array, *, dim: int) -> Array:
    if a.ndim == 0:
        _check_bounds("gather", index, 1, 0, negative=False)
        return np.broadcast_to(a, index.shape).copy()
    dim %= a.ndim
    _check_bounds("gather", index, a.shape[dim], dim, negative=False)
    return np.take_along_axis(_corner(a, index.shape, dim), index, axis=dim)


def _scatter(op: str, a: Array, index: Array, src: Any, dim: int, add: bool) -> Array:
    out = np.array(a, copy=True)
    if a.ndim == 0:  # a 0-d input holds one element: index 0 of dim 0
        _check_bounds(op, index, 1, 0, negative=False)
        view, index, dim = out.reshape(1), index.reshape(-1), 0
        src = src if np.ndim(src) == 0 else np.asarray(src).reshape(-1)
    else:
        dim %= a.ndim
        view = out
        _check_bounds(op, index, a.shape[dim], dim, negative=False)
    if index.size == 0:
        return out
    if np.ndim(src) != 0:
        src = _corner(np.asarray(src), index.shape, None)
    values = np.asarray(src).astype(out.dtype, copy=False)
    if add and view.dtype.kind == "f" and view.dtype.itemsize >= 4:
        # bincount over flat positions: one pass, several times faster than np.add.at.
        # It accumulates in float64, then rounds once into float32/float64.
        sums = np.bincount(_flat_positions(index, dim, view.shape),
                           weights=np.broadcast_to(values, index.shape).reshape(-1),
                           minlength=view.size)
        view += sums.reshape(view.shape).astype(view.dtype, copy=False)
    elif add:
        np.add.at(view, _scatter_key(index, dim), values)
    elif view.flags.c_contiguous:
        # One 1-d fancy assignment at flat positions: the same writes in the same (C) order
        # as the n-d key, without broadcasting n index grids.
        view.reshape(-1)[_flat_positions(index, dim, view.shape)] = \
            np.broadcast_to(values, index.shape).reshape(-1)
    else:
        view[_scatter_key(index, dim)] = values
    return out


def _flat_positions(index: Array, dim: int, shape: tuple[int, ...]) -> Array:
    """The C-order flat positions, in an array of ``shape``, that a scatter along ``dim``
    with ``index`` writes (in index's own C order), as a 1-d int64 array: the index times
    ``dim``'s element stride plus each other dim's coordinate times its stride."""
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * shape[i + 1]
    offset: Array = np.zeros((1,) * index.ndim, dtype=np.int64)
    for i, size in enumerate(index.shape):
        if i != dim and size > 1:
            grid = np.arange(size, dtype=np.int64) * strides[i]
            offset = offset + grid.reshape((1,) * i + (size,) + (1,) * (index.ndim - 1 - i))
    flat: Array = index.astype(np.int64, copy=False)
    if strides[dim] != 1:
        flat = flat * strides[dim]
    positions: Array = (flat + offset).reshape(-1)
    return positions


@kernel("scatter", backend="cpu")
def scatter(a: Array, index: Array, *src: Array, dim: int, value: Any = None) -> Array:
    return _scatter("scatter", a, index, src[0] if src else value, dim, add=False)


@kernel("scatter_add", backend="cpu")
def scatter_add(a: Array, index: Array, src: Array, *, dim: int) -> Array:
    return _scatter("scatter_add", a, index, src, dim, add=True)


@kernel("index_select", backend="cpu")
def index_select(a: Array, index: Array, *, dim: int) -> Array:
    flat = index.reshape(-1)
    if a.ndim == 0:
        _check_bounds("index_select", flat, 1, 0, negative=False)
        return a.copy()
    dim %= a.ndim
    _check_bounds("index_select", flat, a.shape[dim], dim, negative=False)
    return np.take(a, flat, axis=dim)
