"""Collation: a list of samples -> one batch, as ``torch.utils.data.default_collate``.

Tensors (and numpy arrays) are stacked with one ``np.stack`` of the underlying arrays and
wrapped zero-copy, rather than through the ``stack`` op: a batch is data, never part of an
autograd graph, and one numpy call per field is the fastest way to build it.
"""

from __future__ import annotations

import collections.abc
import copy
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..functions.creation import from_numpy
from ..tensor import Tensor

__all__ = ["collate", "default_collate", "default_collate_fn_map", "default_convert"]

CollateFn = Callable[..., Any]
CollateFnMap = dict[type | tuple[type, ...], CollateFn]

_STR_OBJ_DTYPE = re.compile(r"[SaUO]")  # numpy dtypes that have no tensor equivalent

_ERR_FORMAT = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
    "found {}"
)


def _stack_arrays(arrays: Sequence[np.ndarray]) -> Tensor:  # type: ignore[type-arg]
    first = arrays[0].shape
    for i, a in enumerate(arrays):
        if a.shape != first:
            raise RuntimeError(
                "default_collate: stack expects each tensor to be equal size, but got "
                f"{list(first)} at entry 0 and {list(a.shape)} at entry {i}"
            )
    return from_numpy(np.stack(arrays))


def collate_tensor_fn(batch: Sequence[Tensor], *, collate_fn_map: CollateFnMap | None = None) -> Tensor:
    """Stack along a new first dimension (tensors that require grad are detached)."""
    return _stack_arrays([np.asarray(t) for t in batch])


def collate_numpy_array_fn(batch: Sequence[np.ndarray], *,  # type: ignore[type-arg]
                           collate_fn_map: CollateFnMap | None = None) -> Tensor:
    elem = batch[0]
    if _STR_OBJ_DTYPE.search(elem.dtype.str) is not None:
        raise TypeError(_ERR_FORMAT.format(elem.dtype))
    return _stack_arrays(batch)


def collate_numpy_scalar_fn(batch: Sequence[Any], *,
                            collate_fn_map: CollateFnMap | None = None) -> Tensor:
    return from_numpy(np.array(batch))


def collate_float_fn(batch: Sequence[float], *, collate_fn_map: CollateFnMap | None = None) -> Tensor:
    return from_numpy(np.array(batch, dtype=np.float64))  # PyTorch: Python floats -> float64


def collate_int_fn(batch: Sequence[int], *, collate_fn_map: CollateFnMap | None = None) -> Tensor:
    array = np.array(batch)
    return from_numpy(array if array.dtype == np.bool_ else array.astype(np.int64))


def collate_str_fn(batch: Sequence[Any], *,
                    collate_fn_map: CollateFnMap | None = None) -> Sequence[Any]:
    return batch


default_collate_fn_map: CollateFnMap = {
    Tensor: collate_tensor_fn,
    np.ndarray: collate_numpy_array_fn,
    (np.bool_, np.number, np.object_): collate_numpy_scalar_fn,
    float: collate_float_fn,
    int: collate_int_fn,
    str: collate_str_fn,
    bytes: collate_str_fn,
}


def collate(batch: Any, *, collate_fn_map: CollateFnMap | None = None) -> Any:
    """Collate ``batch`` (a list of samples) by the type of its first element.

    ``collate_fn_map`` maps element types to functions ``fn(batch, *, collate_fn_map)``: an
    exact type match wins, then the first entry (in insertion order) the element is an
    instance of. Mappings, named tuples and sequences are collated field by field.
    """
    elem = batch[0]
    elem_type = type(elem)
    if collate_fn_map is not None:
        if elem_type in collate_fn_map:
            return collate_fn_map[elem_type](batch, collate_fn_map=collate_fn_map)
        for collate_type in collate_fn_map:
            if isinstance(elem, collate_type):
                return collate_fn_map[collate_type](batch, collate_fn_map=collate_fn_map)
    if isinstance(elem, collections.abc.Mapping):
        fields = {key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map)
                  for key in elem}
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                clone = copy.copy(elem)
                clone.update(fields)
                return clone
            return elem_type(fields)
        except TypeError:
            return fields
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(collate(s, collate_fn_map=collate_fn_map) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError(
                "default_collate: each element in list of batch should be of equal size, got "
                f"sizes {sorted({len(e) for e in batch})}"
            )
        columns = [collate(s, collate_fn_map=collate_fn_map) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return columns  # a list, as PyTorch (backwards compatibility)
        try:
            if isinstance(elem, collections.abc.MutableSequence):
                clone_seq = copy.copy(elem)
                for i, column in enumerate(columns):
                    clone_seq[i] = column
                return clone_seq
            return elem_type(columns)  # type: ignore[call-arg]
        except TypeError:
            return columns
    raise TypeError(_ERR_FORMAT.format(elem_type))


def default_collate(batch: Any) -> Any:
    """Put a list of samples into a batch, with a new outer dimension of size ``len(batch)``.

    * tensors and numpy arrays -> one stacked tensor (same dtype);
    * Python ``float`` -> float64 tensor; ``int`` -> int64 tensor; ``bool`` -> bool tensor;
    * ``str``/``bytes`` -> left as a list;
    * mappings, named tuples, lists -> the same structure with each field collated; tuples
      become lists (as PyTorch does).

    Example:
        >>> default_collate([(np.zeros(2), 1), (np.ones(2), 0)])[1]
        tensor([1, 0])
    """
    return collate(batch, collate_fn_map=default_collate_fn_map)


def default_convert(data: Any) -> Any:
    """Convert numpy arrays (and numpy scalars) anywhere in ``data`` to tensors, keeping the
    structure; the collate function used when automatic batching is off (``batch_size=None``)."""
    elem_type = type(data)
    if isinstance(data, Tensor):
        return data
    if elem_type.__module__ == "numpy" and elem_type.__name__ not in ("str_", "bytes_"):
        if isinstance(data, np.ndarray) and _STR_OBJ_DTYPE.search(data.dtype.str) is not None:
            return data
        return from_numpy(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        fields = {key: default_convert(data[key]) for key in data}
        try:
            if isinstance(data, collections.abc.MutableMapping):
                clone = copy.copy(data)
                clone.update(fields)
                return clone
            return elem_type(fields)
        except TypeError:
            return fields
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return elem_type(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        converted = [default_convert(d) for d in data]
        try:
            if isinstance(data, collections.abc.MutableSequence):
                clone_seq = copy.copy(data)
                for i, d in enumerate(converted):
                    clone_seq[i] = d
                return clone_seq
            return elem_type(converted)  # type: ignore[call-arg]
        except TypeError:
            return converted
    return data
