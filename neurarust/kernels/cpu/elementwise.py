"""numpy kernels for elementwise ops (ufuncs: SIMD underneath).

The dispatcher hands each kernel arrays already cast to the computation dtype (and Python
scalars converted to it) for ops with ``promote_inputs``, and casts the result to the rule's
dtype, so most kernels are one ufunc. Kernels whose results may be inf or nan run under
``np.errstate(all="ignore")``: PyTorch returns those values silently, and so do we.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from ...ops.registry import kernel

Array = np.ndarray  # type: ignore[type-arg]
F = Callable[..., Any]


def _quiet(fn: F) -> F:
    """Run ``fn`` with numpy's floating point warnings off (log(0), 0/0, exp overflow)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)

    return run


def _is_int(x: Any) -> bool:
    return np.asarray(x).dtype.kind in "biu"


def _check_int_divisor(name: str, a: Any, b: Any) -> None:
    """Integer division by zero is an error in PyTorch (numpy would return 0 and warn)."""
    if _is_int(a) and _is_int(b) and not np.all(b):
        raise ZeroDivisionError(f"{name}: integer division by zero")


# -- arithmetic ---------------------------------------------------------------------------------
@kernel("add", backend="cpu")
def add(a: Any, b: Any, *, alpha: Any = 1) -> Any:
    return np.add(a, b) if alpha == 1 else np.add(a, np.multiply(b, alpha))


@kernel("sub", backend="cpu")
def sub(a: Any, b: Any, *, alpha: Any = 1) -> Any:
    return np.subtract(a, b) if alpha == 1 else np.subtract(a, np.multiply(b, alpha))


@kernel("mul", backend="cpu")
def mul(a: Any, b: Any) -> Any:
    return np.multiply(a, b)


@kernel("div", backend="cpu")
@_quiet
def div(a: Any, b: Any, *, rounding_mode: str | None = None) -> Any:
    if rounding_mode is None:
        return np.true_divide(a, b)
    if not (_is_int(a) and _is_int(b)):
        # Same algorithm as PyTorch for floats (fmod-corrected floor; trunc of the quotient).
        return np.floor_divide(a, b) if rounding_mode == "floor" else np.trunc(np.true_divide(a, b))
    _check_int_divisor("div", a, b)
    q = np.floor_divide(a, b)
    if rounding_mode == "trunc":  # floor differs from trunc when the signs differ, inexactly
        q = q + ((np.multiply(q, b) != a) & ((np.less(a, 0)) != (np.less(b, 0))))
    return q


@kernel("remainder", backend="cpu")
@_quiet
def remainder(a: Any, b: Any) -> Any:
    _check_int_divisor("remainder", a, b)
    return np.remainder(a, b)  # the divisor's sign, as Python and PyTorch


@kernel("pow", backend="cpu")
@_quiet
def pow_(a: Any, b: Any) -> Any:
    if not (_is_int(a) and _is_int(b)):
        return np.power(a, b)
    negative = np.less(b, 0)
    if not np.any(negative):
        return np.power(a, b)
    scalar_exponent = not isinstance(b, np.ndarray)
    if scalar_exponent:  # tensor ** negative int scalar: an error, as in PyTorch
        raise ValueError("pow: integers to negative integer powers are not allowed; use a "
                         "float base or exponent")
    # tensor ** tensor with negative exponents, as PyTorch: 1 stays 1, -1 alternates, else 0.
    base = np.asarray(a)
    magnitude = np.power(base, np.where(negative, 0, b))
    odd = np.remainder(b, 2) != 0
    inverse = np.where(base == 1, 1, np.where(base == -1, np.where(odd, -1, 1), 0))
    return np.where(negative, inverse, magnitude).astype(magnitude.dtype)


@kernel("neg", backend="cpu")
def neg(a: Array) -> Any:
    return np.negative(a)


@kernel("abs", backend="cpu")
def abs_(a: Array) -> Any:
    return np.abs(a)


@kernel("sign", backend="cpu")
def sign(a: Array) -> Any:
    if a.dtype.kind == "b":
        return a.copy()
    s = np.sign(a)
    return np.where(np.isnan(s), 0, s).astype(a.dtype) if a.dtype.kind == "f" else s


# -- unary float math ---------------------------------------------------------------------------
def _unary(name: str, ufunc: Callable[[Array], Array]) -> None:
    kernel(name, backend="cpu")(_quiet(ufunc))


for _name, _ufunc in {
    "exp": np.exp, "exp2": np.exp2, "expm1": np.expm1, "log": np.log, "log2": np.log2,
    "log10": np.log10, "log1p": np.log1p, "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos,
    "tanh": np.tanh, "isnan": np.isnan, "isinf": np.isinf, "isfinite": np.isfinite,
    "logical_not": np.logical_not, "bitwise_not": np.invert,
}.items():
    _unary(_name, _ufunc)


@kernel("rsqrt", backend="cpu")
@_quiet
def rsqrt(a: Array) -> Any:
    return np.reciprocal(np.sqrt(a))


@kernel("reciprocal", backend="cpu")
@_quiet
def reciprocal(a: Array) -> Any:
    return np.reciprocal(a)


@kernel("sigmoid", backend="cpu")
@_quiet
def sigmoid(a: Array) -> Any:
    # exp(-|x|) never overflows: 1/(1+e) for x >= 0, e/(1+e) for x < 0.
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype)


@kernel("relu", backend="cpu")
def relu(a: Array) -> Any:
    return np.maximum(a, 0)  # nan stays nan, as PyTorch


# -- rounding -----------------------------------------------------------------------------------
def _rounding(name: str, ufunc: Callable[[Array], Array]) -> None:
    def run(a: Array) -> Any:
        return a.copy() if a.dtype.kind in "biu" else ufunc(a)

    kernel(name, backend="cpu")(run)


for _name, _ufunc in {"floor": np.floor, "ceil": np.ceil, "trunc": np.trunc}.items():
    _rounding(_name, _ufunc)


@kernel("round", backend="cpu")
def round_(a: Array, *, decimals: int = 0) -> Any:
    if a.dtype.kind in "biu":
        return a.copy()
    return np.round(a, decimals)  # half to even, as PyTorch


# -- clamping and selection ---------------------------------------------------------------------
@kernel("clamp", backend="cpu")
def clamp(a: Array, *, min: Any = None, max: Any = None) -> Any:
    if a.dtype.kind in "iu":  # bounds in the tensor's dtype (the rule checked they fit)
        min, max = (None if v is None else np.asarray(v).astype(a.dtype) for v in (min, max))
    out = a if min is None else np.maximum(a, min)  # nan propagates, as PyTorch
    return out if max is None else np.minimum(out, max)


@kernel("clamp_tensor", backend="cpu")
def clamp_tensor(a: Array, lo: Any, hi: Any) -> Any:
    out = a if lo is None else np.maximum(a, lo)
    return out if hi is None else np.minimum(out, hi)  # a new array: lo or hi is set


@kernel("maximum", backend="cpu")
def maximum(a: Any, b: Any) -> Any:
    return np.maximum(a, b)


@kernel("minimum", backend="cpu")
def minimum(a: Any, b: Any) -> Any:
    return np.minimum(a, b)


@kernel("where", backend="cpu")
def where(c: Array, a: Any, b: Any) -> Any:
    # Python scalars as 0-d int64/float64 arrays: numpy may not fit them into a narrow
    # tensor dtype; the dispatcher casts the result to the promoted dtype. Beside a float
    # array, a real scalar takes the array's dtype at once (the result's dtype, as the
    # scalar is weak): the same values without a float64 result to cast back.
    if type(a) is np.ndarray and a.dtype.kind == "f" and type(b) in (int, float, bool):
        b = np.asarray(b, dtype=a.dtype)
    elif type(b) is np.ndarray and b.dtype.kind == "f" and type(a) in (int, float, bool):
        a = np.asarray(a, dtype=b.dtype)
    return np.where(c, np.asarray(a), np.asarray(b))


# -- comparisons and logic ----------------------------------------------------------------------
for _name, _ufunc2 in {
    "eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater,
    "ge": np.greater_equal, "logical_and": np.logical_and, "logical_or": np.logical_or,
    "logical_xor": np.logical_xor, "bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or,
    "bitwise_xor": np.bitwise_xor,
}.items():
    kernel(_name, backend="cpu")(_ufunc2)


# -- conversion and copies ----------------------------------------------------------------------
@kernel("cast", backend="cpu")
@_quiet
def cast(a: Array, *, dtype: Any) -> Any:
    return a.astype(dtype.np_dtype)


@kernel("clone", backend="cpu")
def clone(a: Array) -> Any:
    return np.array(a, copy=True, order="C")


@kernel("copy", backend="cpu")
def copy(dst: Array, src: Array) -> Any:
    return np.array(np.broadcast_to(src, dst.shape), dtype=dst.dtype, copy=True)
