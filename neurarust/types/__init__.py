"""Types the whole project shares: dtypes, dims, dimension algebras and errors."""

from .algebra import CONCRETE, ConcreteAlgebra, DimAlgebra, Shape
from .dtype import (
    ALL_DTYPES,
    DType,
    bool_,
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int16,
    int32,
    int64,
    promote_types,
    set_default_dtype,
    uint8,
)
from .cond import Cond
from .dim import Dim
from .errors import DTypeError, RuleViolation, ShapeError, UndecidedShape
from .symbolic import Obligation, SymbolicAlgebra
from .annotations import (
    Bool,
    Float,
    Float16,
    Float32,
    Float64,
    Int,
    Int8,
    Int16,
    Int32,
    Int64,
    Integer,
    Shaped,
    TensorSpec,
    UInt8,
    check,
    dims,
)

# Z3Algebra lives in neurarust.types.z3_algebra and is imported on demand (it loads z3).

__all__ = [
    "ALL_DTYPES", "CONCRETE", "ConcreteAlgebra", "Cond", "Dim", "DimAlgebra", "DType",
    "DTypeError", "Obligation", "SymbolicAlgebra",
    "RuleViolation", "Shape", "ShapeError", "UndecidedShape", "bool_", "float16", "float32",
    "float64", "get_default_dtype", "int8", "int16", "int32", "int64", "promote_types",
    "set_default_dtype", "uint8",
    # annotations: Float32[Tensor, "B 784"] and the @check decorator
    "Bool", "Float", "Float16", "Float32", "Float64", "Int", "Int8", "Int16", "Int32", "Int64",
    "Integer", "Shaped", "TensorSpec", "UInt8", "check", "dims",
]
