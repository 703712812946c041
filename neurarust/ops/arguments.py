"""PyTorch-style call arguments turned into op attributes, for every reader of the ops.

``F.conv2d(x, w, stride=2, padding="same")`` and ``x[0, 1:3, ..., None]`` are what users write;
the ops take normalised attributes (``stride=(2, 2)``, ``padding=((1, 1), (1, 1))``, a list of
:data:`~neurarust.ops.indexing.IndexItem`). The runtime's functions and the mypy plugin both
call these functions, so a literal argument means the same thing to both and an invalid one
fails with the same message. Pure: they read sizes and Python values only, never tensors
(advanced index items are handed back to the caller, which knows what a tensor is).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

from ..types.dim import Dim
from .conv import Pads
from .indexing import FULL, IndexItem, Slice

__all__ = [
    "AdvancedIndex", "IntOrTuple", "Padding", "conv_padding", "int_tuple", "output_sizes",
    "parse_index", "pool_attrs",
]

IntOrTuple = int | Sequence[int]
Padding = int | Sequence[int] | str


# -- convolution and pooling ---------------------------------------------------------------------
def int_tuple(value: IntOrTuple, n: int, what: str, op: str) -> tuple[int, ...]:
    """``value`` (an int, or 1 or ``n`` ints) as ``n`` ints: ``stride=2`` -> ``(2, 2)``."""
    if isinstance(value, int):
        return (value,) * n
    out = tuple(value)
    if len(out) == 1:
        return out * n
    if len(out) != n or not all(isinstance(v, int) for v in out):
        raise ValueError(f"{op}: expected {what} to be an int or a tuple of {n} ints, got "
                         f"{value!r}")
    return out


def conv_padding(padding: Padding, kernel: Sequence[Any], stride: tuple[int, ...],
                 dilation: tuple[int, ...], n: int, op: str) -> Pads:
    """PyTorch's padding argument as (before, after) pairs; 'same' puts any odd unit after.
    ``kernel``: the weight's spatial sizes (``weight.shape[2:]``)."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' is not supported for strided "
                                 f"convolutions (got stride={stride})")
            pads = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        raise ValueError(f"{op}: invalid padding string {padding!r}, expected 'same' or 'valid'")
    p = int_tuple(padding, n, "padding", op)
    if any(v < 0 for v in p):
        raise ValueError(f"{op}: negative padding is not supported, got padding={padding!r}")
    return tuple((v, v) for v in p)


def pool_attrs(n: int, op: str, kernel_size: IntOrTuple, stride: IntOrTuple | None,
               padding: IntOrTuple) -> dict[str, tuple[int, ...]]:
    """A pooling op's ``kernel_size``/``stride``/``padding`` attrs; no stride (None or ``()``)
    means ``stride = kernel_size``, as in PyTorch."""
    k = int_tuple(kernel_size, n, "kernel_size", op)
    no_stride = stride is None or (not isinstance(stride, int) and len(stride) == 0)
    s = k if no_stride else int_tuple(stride, n, "stride", op)  # type: ignore[arg-type]
    return {"kernel_size": k, "stride": s, "padding": int_tuple(padding, n, "padding", op)}


def output_sizes(output_size: int | None | Sequence[int | None], n: int,
                 op: str) -> tuple[int | None, ...]:
    """An adaptive pooling op's ``output_size`` as ``n`` sizes (None: keep the input's)."""
    if output_size is None or isinstance(output_size, int):
        return (output_size,) * n
    out = tuple(output_size)
    if len(out) != n:
        raise ValueError(f"{op}: expected output_size to be an int or {n} sizes, got "
                         f"{output_size!r}")
    return out


# -- indexing ------------------------------------------------------------------------------------
class AdvancedIndex(Exception):
    """Raised by :func:`parse_index` without an ``advanced`` handler when the index holds an
    item other than an int, slice, None, ``...`` or True (a tensor, a mask, False)."""


Advanced = Callable[[Any, int, int], tuple[list[IndexItem], int]]
"""``advanced(item, in_dim, out_dim) -> (index items, input dims consumed)`` for an advanced
item at input dim ``in_dim`` that lands on dim ``out_dim`` of the basic result."""


def _is_basic(item: Any) -> bool:
    return (item is None or item is Ellipsis or item is True or isinstance(item, slice)
            or (isinstance(item, int) and not isinstance(item, bool)))


def parse_index(items: Sequence[Any], ndim: int, advanced: Advanced | None = None,
                advanced_dims: Callable[[Any], int] | None = None) -> list[IndexItem]:
    """The ``getitem`` op's ``index`` attr for a Python index on an ``ndim``-d tensor.

    ``items``: ints, slices, None, ``...``, bools and advanced items (anything else), already
    normalised by the caller. ``advanced_dims(item)`` says how many input dims an advanced
    item indexes (to expand ``...``) and ``advanced`` turns it into index items; without them
    an advanced item raises :class:`AdvancedIndex`.
    """
    if advanced is None or advanced_dims is None:
        if not all(_is_basic(item) for item in items):
            raise AdvancedIndex("getitem: the index holds a tensor, list or bool mask")
        advanced_dims = _no_dims
    if sum(1 for item in items if item is Ellipsis) > 1:
        raise IndexError("getitem: an index can only have a single ellipsis ('...')")
    used = sum(_consumed(item) if _is_basic(item) else advanced_dims(item) for item in items)
    index: list[IndexItem] = []
    in_dim = 0  # the input dim the next item applies to
    for item in items:
        if item is Ellipsis:
            rest = max(ndim - used, 0)
            index.extend([FULL] * rest)
            in_dim += rest
        elif item is None or item is True:
            index.append(None)
        elif isinstance(item, slice):
            index.append(_slice(item))
            in_dim += 1
        elif isinstance(item, int) and not isinstance(item, bool):
            index.append(item)
            in_dim += 1
        else:
            assert advanced is not None
            out_dim = sum(1 for i in index if i is None or isinstance(i, Slice))
            produced, consumed = advanced(item, in_dim, out_dim)
            index.extend(produced)
            in_dim += consumed
    return index


def _no_dims(item: Any) -> int:
    raise AdvancedIndex(f"getitem: advanced index item {item!r}")


def _consumed(item: Any) -> int:
    """How many input dims a basic item indexes (to expand the Ellipsis)."""
    return 1 if isinstance(item, (int, slice)) and not isinstance(item, bool) else 0


def _slice(item: slice) -> Slice:
    step = 1 if item.step is None else operator.index(item.step)
    if step == 0:
        raise ValueError("getitem: slice step cannot be zero")
    if step < 0:
        raise ValueError(f"getitem: step must be greater than zero, got {step}\n"
                         "  hint: use x.flip(dim) to reverse a dim")
    return Slice(_bound(item.start), _bound(item.stop), step)


def _bound(value: Any) -> Any:
    """A slice bound as an int, or as a plain symbolic Dim while tracing (``table[:T]``:
    the rule clamps it to the dim's size, as for an int)."""
    if value is None:
        return None
    if isinstance(value, Dim) and not value.is_constant:
        return Dim.__add__(value, 0)  # a plain Dim: rules compare structurally
    return operator.index(value)
