"""Shape arithmetic on the host: ONNX's ``Shape -> Gather -> Concat -> Reshape`` chains.

Exporters compute sizes inside the graph (``Shape``, then ``Gather``/``Slice``/``Concat``/
``Unsqueeze``, integer ``Add``/``Mul``/``Div``, ...), and feed them to ``Reshape``,
``Expand``, ``Slice`` or ``ConstantOfShape``. Those values are sizes, not data: the importer
keeps them as :class:`HostValue` s (a small numpy *object* array whose entries are ints or
symbolic :class:`~neurarust.types.dim.Dim` s) and folds the chain here, so that while tracing
``Shape(x)`` of an ``f32[B, T, 8]`` value gives ``[B, T, 8]`` and the final ``Reshape`` gets
``[B, T, 2, 4]``: the imported model traces with its batch and sequence dims symbolic. In
eager mode the same folding just saves small kernel calls.

A host value that reaches an op as data becomes a constant tensor (an error naming the op if
it still holds a symbolic size). Integer initializers up to :data:`MAX_HOST_ELEMENTS` start as
host values too (keeping their buffer, which is what a data use gets).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import functions as fn
from ..tensor import Tensor
from ..types import dtype as dt
from ..types.dim import Dim
from ..types.dtype import DType

__all__ = [
    "HOST_FOLDS",
    "MAX_HOST_ELEMENTS",
    "SHAPE_OPERANDS",
    "HostValue",
    "host_of",
    "materialize",
]

MAX_HOST_ELEMENTS = 4096
"""Integer initializers/constants up to this size are also kept as host values."""

Array = Any  # numpy object array of int | Dim (or float/bool after a Cast)


def _plain(v: Any) -> Any:
    """A size as an int when constant, else a plain (non-traced) Dim."""
    from ..trace.dims import plain

    v = plain(v)
    if isinstance(v, Dim):
        return v.as_int() if v.is_constant else v
    return int(v) if isinstance(v, (int, np.integer)) else v


class HostValue:
    """A small tensor whose values the importer knows: ``values`` (object array), ``dtype``,
    and, when it came from an initializer, the ``tensor`` that stands for it as data."""

    __slots__ = ("dtype", "tensor", "values")

    def __init__(self, values: Array, dtype: DType, tensor: Tensor | None = None) -> None:
        self.values = np.asarray(values, dtype=object)
        self.dtype = dtype
        self.tensor = tensor

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape)

    @property
    def ndim(self) -> int:
        return int(self.values.ndim)

    @property
    def symbolic(self) -> bool:
        return any(isinstance(v, Dim) for v in self.values.reshape(-1))

    def concrete(self, what: str = "this value") -> np.ndarray:  # type: ignore[type-arg]
        """The values as a numpy array of ``dtype``; an error when a size is symbolic."""
        if self.symbolic:
            from ._importers import OnnxUnsupported

            shown = [str(v) for v in self.values.reshape(-1)]
            raise OnnxUnsupported(f"{what} needs the values [{', '.join(shown)}], which hold a "
                                  "symbolic size (only shape operands may be symbolic)")
        return np.asarray(self.values.tolist(), dtype=self.dtype.np_dtype).reshape(self.shape)

    def __repr__(self) -> str:
        return f"HostValue({self.values.tolist()}, {self.dtype.name})"


def materialize(x: Any, op: str) -> Any:
    """A host value as the tensor an op reads as data (others unchanged)."""
    if not isinstance(x, HostValue):
        return x
    if x.tensor is not None:
        return x.tensor
    return fn.tensor(x.concrete(f"{op} (reading a computed size as data)"))


def host_of(arr: np.ndarray, tensor: Tensor | None) -> HostValue | None:  # type: ignore[type-arg]
    """An integer/bool initializer as a host value, or None (floats, or too large)."""
    if arr.dtype.kind not in "biu" or arr.size > MAX_HOST_ELEMENTS:
        return None
    try:
        dtype = dt.from_numpy_dtype(arr.dtype)
    except TypeError:
        return None
    return HostValue(arr.astype(object), dtype, tensor)


# -- the folds: fn(inputs, attrs, opset) -> outputs, or None when this node cannot fold ----------
Fold = Callable[[list[Any], dict[str, Any], int], "list[HostValue] | None"]
HOST_FOLDS: dict[str, Fold] = {}

SHAPE_OPERANDS: dict[str, tuple[int, ...]] = {
    "Reshape": (1,), "Expand": (1,), "Tile": (1,), "Slice": (1, 2, 3, 4), "Squeeze": (1,),
    "Unsqueeze": (1,), "Split": (1,), "ConstantOfShape": (0,), "Pad": (1, 2, 3),
    "TopK": (1,), "Range": (0, 1, 2), "Clip": (1, 2), "CumSum": (1,), "Trilu": (1,),
    "Resize": (1, 2, 3), "Upsample": (1,), "Gather": (1,), "GatherElements": (1,),
    "GatherND": (1,), "ScatterElements": (1,), "Scatter": (1,), "ScatterND": (1,),
    "OneHot": (1,), "ReduceSum": (1,), "ReduceMean": (1,), "ReduceMax": (1,),
    "ReduceMin": (1,), "ReduceProd": (1,), "ReduceSumSquare": (1,), "ReduceL1": (1,),
    "ReduceL2": (1,), "ReduceLogSum": (1,), "ReduceLogSumExp": (1,), "LSTM": (4,),
    "GRU": (4,), "RNN": (4,), "Compress": (1,), "ReverseSequence": (1,), "CumProd": (1,),
    "CenterCropPad": (1,), "Loop": (0, 1), "If": (0,), "AffineGrid": (1,),
    "Col2Im": (1, 2),
}
"""Per op, the input positions read as sizes/indices (passed to the importer as host
values, read through ``ImportContext.ints``/``array``); all other inputs arrive as tensors."""


def _fold(*names: str) -> Callable[[Fold], Fold]:
    def deco(f: Fold) -> Fold:
        for n in names:
            HOST_FOLDS[n] = f
        return f
    return deco


def _all_host(xs: list[Any]) -> bool:
    return all(x is None or isinstance(x, HostValue) for x in xs) and bool(xs)


@_fold("Shape")
def _shape(xs: list[Any], a: dict[str, Any], opset: int) -> list[HostValue] | None:
    x = xs[0]
    dims = [_plain(d) for d in x.shape]
    start, end = a.get("start", 0), a.get("end", None)
    return [HostValue(np.array(dims[slice(start, end)] if dims else [], dtype=object), dt.int64)]


@_fold("Size")
def _size(xs: list[Any], a: dict[str, Any], opset: int) -> list[HostValue] | None:
    total: Any = 1
    for d in xs[0].shape:
        total = total * _plain(d)
    return [HostValue(np.array(_plain(total), dtype=object), dt.int64)]


def _int_axes(x: Any, default: list[int] | None = None) -> list[int] | None:
    if x is None:
        return default
    return [int(v) for v in x.concrete("axes").reshape(-1)]


@_fold("Gather")
def _gather(xs: list[Any], a: dict[str, Any], opset: int) -> list[HostValue] | None:
    x, idx = xs
    if not (isinstance(x, HostValue) and isinstance(idx, HostValue)) or x.ndim == 0:
        return None
    axis = int(a.get("axis", 0)) % x.ndim
    raw = idx.concrete("Gather indices").astype(np.int64)
    raw = np.where(raw < 0, raw + x.shape[axis], raw)
    from ._budget import current

    current().shape([*x.shape[:axis], *raw.shape, *x.shape[axis + 1:]], "Gather (on sizes)")
    return [HostValue(np.take(x.values, raw, axis=axis), x.dtype)]


@_fold("Unsqueeze")
def _unsqueeze(xs: list[Any], a: dict[str, Any], opset: int) -> list[HostValue] | None:
    if not _all_host(xs):
        return None
    x = xs[0]
    axes = _int_axes(xs[1] if len(xs) > 1 else None, a.get("axes"))
    out = x.values
    rank = x.ndim + len(axes or [])
    for ax in sorted(v % rank for v in axes or []):
        out = np.expand_dims(out, ax)
    return [HostValue(out, x.dtype)]


@_fold("Squeeze")
def _squeeze(xs: list[Any], a: dict[str, Any], opset: int) -> list[HostValue] | None:
    if not _all_host(xs):
        return None
    x = xs[0]
    axes = _int_axes(xs[1] if len(xs) > 1 else None, a.get("axes"))
    if axes is None:
        return [HostValue(np.squeeze(x.values), x.dtype)]
    return [HostValue(np.squeeze(x.values, tuple(v % x.ndim for v in axes)), x.dtype)]


@_fold("Concat")
def _concat(xs: list[Any], a: dict[str, Any], opset: int) -> list[HostValue] | None:
    parts = [x for x in xs if x is not None]
    if not _all_host(parts) or len({p.dtype for p in parts}) != 1:
        return None
    return [HostValue(np.concatenate([p.values for p in parts], axis=int(a["axis"])),
                      parts[0].dtype)]


@_fold("Slice")
def _slice(xs: list[Any], a: dict[str, Any], opset: int) -> list[HostValue] | None:
    if not _all_host(xs) or xs[0].ndim == 0:
        return None
    x = xs[0]
    if opset >= 10:
        starts, ends = _int_axes(xs[1]) or [], _int_axes(xs[2]) or []
        axes = _int_axes(xs[3] if len(xs) > 3 else None, list(range(len(starts))))
        steps = _int_axes(xs[4] if len(xs) > 4 else None, [1] * len(starts))
    else:
        starts, ends = list(a["starts"]), list(a["ends"])
        axes, steps = list(a.get("axes", range(len(starts)))), [1] * len(starts)
    index: list[Any] = [slice(None)] * x.ndim
    for s, e, ax, st in zip(starts, ends, axes or [], steps or []):
        index[ax % x.ndim] = slice(s, e, st)
    return [HostValue(x.values[tuple(index)], x.dtype)]


@_fold("Identity")
def _identity(xs: list[Any], a: dict[str, Any], opset: int) -> list[HostValue] | None:
    return [xs[0]] if _all_host(xs) else None


@_fold("Cast")
def _cast(xs: list[Any], a: dict[str, Any], opset: int) -> list[HostValue] | None:
    from ._importers import onnx_to_dtype

    if not _all_host(xs):
        return None
    x, to = xs[0], onnx_to_dtype(int(a["to"]))
    if to.is_floating_point or to.is_bool or x.dtype.is_floating_point:
        if x.symbolic:
            return None
        return [HostValue(x.concrete().astype(to.np_dtype).astype(object), to)]
    return [HostValue(x.values, to)]


@_fold("Reshape")
def _reshape(xs: list[Any], a: dict[str, Any], opset: int) -> list[HostValue] | None:
    if not _all_host(xs) or opset < 5:
        return None
    x = xs[0]
    shape = [int(v) for v in xs[1].concrete("Reshape shape").reshape(-1)]
    shape = [x.shape[i] if v == 0 and not a.get("allowzero", 0) else v
             for i, v in enumerate(shape)]
    return [HostValue(x.values.reshape(shape), x.dtype)]


def _binary(f: Callable[[Any, Any], Any], result: DType | None = None) -> Fold:
    def run(xs: list[Any], a: dict[str, Any], opset: int) -> list[HostValue] | None:
        if not _all_host(xs) or len(xs) != 2:
            return None
        x, y = xs
        if x.dtype.is_floating_point or y.dtype.is_floating_point:
            return None
        try:
            out = np.asarray(np.frompyfunc(f, 2, 1)(x.values, y.values), dtype=object)
        except _Undecided:
            return None
        _check_int64(out)
        return [HostValue(out, result or x.dtype)]
    return run


def _check_int64(values: Array) -> None:
    """Host arithmetic is on Python ints: refuse a result outside int64, the dtype the file
    declared (ONNX would wrap; a size that large is never meant, and repeated squaring would
    otherwise build integers of millions of digits)."""
    from ._importers import OnnxUnsupported

    for v in values.reshape(-1):
        if isinstance(v, int) and not -(1 << 63) <= v < (1 << 63):
            raise OnnxUnsupported(f"a size computed on the host, {str(v)[:40]}..., overflows "
                                  "int64")


class _Undecided(Exception):
    """A comparison of symbolic sizes that the structure alone does not decide."""


def _trunc_div(p: Any, q: Any) -> Any:
    if isinstance(p, Dim) or isinstance(q, Dim):
        return p // q  # sizes are >= 0, where truncation and floor agree
    return int(p / q) if q else _raise_zero()


def _raise_zero() -> Any:
    raise ZeroDivisionError("Div: integer division by zero in a shape computation")


def _equal(p: Any, q: Any) -> bool:
    if isinstance(p, Dim) or isinstance(q, Dim):
        dp, dq = Dim.of(p), Dim.of(q)
        if dp == dq:
            return True
        diff = dp - dq
        if diff.is_constant:
            return False
        # a named size is >= 1: it never equals a constant <= 0 (ONNX's -1 / 0 markers)
        if (dq.is_constant and dq.as_int() <= 0) or (dp.is_constant and dp.as_int() <= 0):
            return False
        raise _Undecided
    return bool(p == q)


HOST_FOLDS.update({
    "Add": _binary(lambda p, q: p + q), "Sub": _binary(lambda p, q: p - q),
    "Mul": _binary(lambda p, q: p * q), "Div": _binary(_trunc_div),
    "Equal": _binary(_equal, dt.bool_),
})


@_fold("Where")
def _where(xs: list[Any], a: dict[str, Any], opset: int) -> list[HostValue] | None:
    if not _all_host(xs) or len(xs) != 3:
        return None
    c, x, y = xs
    if c.symbolic or x.dtype is not y.dtype:
        return None
    cond = c.concrete().astype(bool)
    return [HostValue(np.where(cond, x.values, y.values), x.dtype)]


@_fold("Neg")
def _neg(xs: list[Any], a: dict[str, Any], opset: int) -> list[HostValue] | None:
    if not _all_host(xs) or xs[0].dtype.is_floating_point:
        return None
    return [HostValue(np.asarray(-xs[0].values, dtype=object), xs[0].dtype)]
