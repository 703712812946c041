"""Compact text for shapes and values in messages: ``f32[32, 784]``, ``i64[B]``."""

from __future__ import annotations

from typing import Any, Iterable

__all__ = ["format_shape", "format_value"]


def format_shape(shape: Iterable[Any], dtype: Any = None) -> str:
    """``f32[B, 784]`` (dims printed with ``str``, so symbolic dims read naturally)."""
    prefix = getattr(dtype, "short", "") if dtype is not None else ""
    return f"{prefix}[{', '.join(str(d) for d in shape)}]"


def format_value(x: Any) -> str:
    """A tensor-like as its dtype and shape, a scalar as itself, None as ``None``."""
    shape = getattr(x, "shape", None)
    if shape is not None and hasattr(x, "dtype"):
        return format_shape(shape, x.dtype)
    return repr(x)
