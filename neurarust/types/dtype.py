"""Data types and PyTorch's type-promotion rules.

A :class:`DType` is a small immutable value naming a numpy dtype plus the facts
the promotion rules and error messages need (category, short name, bit width).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

__all__ = [
    "DType",
    "bool_",
    "float16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "promote_types",
    "result_type_of_scalar",
    "get_default_dtype",
    "set_default_dtype",
    "from_numpy_dtype",
    "ALL_DTYPES",
]

# Categories, ordered: promotion across categories picks the higher one.
_BOOL: Final = 0
_INT: Final = 1
_FLOAT: Final = 2


@dataclass(frozen=True, eq=False)
class DType:
    """A tensor element type (``nr.float32``, ``nr.int64``, ...)."""

    name: str
    short: str  # as printed in shapes: f32[B, 784]
    np_dtype: np.dtype  # type: ignore[type-arg]
    category: int
    bits: int

    @property
    def is_floating_point(self) -> bool:
        return self.category == _FLOAT

    @property
    def is_integer(self) -> bool:
        """True for integer and bool dtypes (what true division promotes to float)."""
        return self.category != _FLOAT

    @property
    def is_bool(self) -> bool:
        return self.category == _BOOL

    @property
    def itemsize(self) -> int:
        return self.np_dtype.itemsize

    def __repr__(self) -> str:
        return f"neurarust.{self.name}"

    def __reduce__(self) -> str:
        # Pickled by name, so worker processes share the same singletons.
        return self.name if self.name != "bool" else "bool_"


bool_: Final = DType("bool", "b8", np.dtype(np.bool_), _BOOL, 8)
uint8: Final = DType("uint8", "u8", np.dtype(np.uint8), _INT, 8)
int8: Final = DType("int8", "i8", np.dtype(np.int8), _INT, 8)
int16: Final = DType("int16", "i16", np.dtype(np.int16), _INT, 16)
int32: Final = DType("int32", "i32", np.dtype(np.int32), _INT, 32)
int64: Final = DType("int64", "i64", np.dtype(np.int64), _INT, 64)
float16: Final = DType("float16", "f16", np.dtype(np.float16), _FLOAT, 16)
float32: Final = DType("float32", "f32", np.dtype(np.float32), _FLOAT, 32)
float64: Final = DType("float64", "f64", np.dtype(np.float64), _FLOAT, 64)

ALL_DTYPES: Final = (bool_, uint8, int8, int16, int32, int64, float16, float32, float64)
_BY_NUMPY: Final = {d.np_dtype: d for d in ALL_DTYPES}

_default_float: list[DType] = [float32]


def get_default_dtype() -> DType:
    """The dtype of float tensors created from Python floats (float32 unless changed)."""
    return _default_float[0]


def set_default_dtype(dtype: DType) -> None:
    """Set the default float dtype, as ``torch.set_default_dtype``."""
    if not dtype.is_floating_point:
        raise TypeError(f"set_default_dtype: only floating dtypes are allowed, got {dtype.name}")
    _default_float[0] = dtype


def from_numpy_dtype(np_dtype: np.dtype) -> DType:  # type: ignore[type-arg]
    """The DType for a numpy dtype; a TypeError naming the dtype when there is none."""
    try:
        return _BY_NUMPY[np.dtype(np_dtype)]
    except KeyError:
        supported = ", ".join(d.name for d in ALL_DTYPES)
        raise TypeError(f"unsupported numpy dtype {np_dtype}; supported: {supported}") from None


def _promote_same_category(a: DType, b: DType) -> DType:
    if a.category == _INT and (a is uint8) != (b is uint8):
        # uint8 with a signed int: the smallest signed type holding both (PyTorch rule).
        other = b if a is uint8 else a
        return int16 if other.bits <= 8 else other
    return a if a.bits >= b.bits else b


def promote_types(a: DType, b: DType) -> DType:
    """The dtype of a binary op's result on tensors of dtypes a and b (``torch.promote_types``)."""
    if a is b:
        return a
    if a.category != b.category:
        return a if a.category > b.category else b
    return _promote_same_category(a, b)


def result_type_of_scalar(tensor_dtype: DType, scalar: bool | int | float) -> DType:
    """Promotion of a tensor with a Python scalar: the scalar only raises the category.

    ``int_tensor * 2.5`` is float (default dtype); ``f16_tensor * 2.5`` stays float16;
    ``bool_tensor + 1`` is int64.
    """
    if isinstance(scalar, (bool, np.bool_)):
        category = _BOOL
    elif isinstance(scalar, (int, np.integer)):
        category = _INT
    else:
        category = _FLOAT
    if category <= tensor_dtype.category:
        return tensor_dtype
    return get_default_dtype() if category == _FLOAT else int64
