"""Allocation limits and their error messages, shared by tensor creation and the kernels.

An array can't hold more than ``2**63 - 1`` bytes or elements (numpy's ``intp``, PyTorch's
``int64`` numel). A request past that, or past the memory the machine can give, is a
``RuntimeError`` (the class PyTorch raises for both) naming the op, the dtype and shape, and
the size asked for, instead of numpy's words.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["MAX_BYTES", "check", "check_elements", "describe", "human_bytes", "out_of_memory",
           "too_big"]

MAX_BYTES = 2 ** 63 - 1
"""The most bytes (and elements) one array can index."""


def human_bytes(n: int) -> str:
    """``n`` bytes in decimal units: ``73.8 EB``."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB"):
        if value < 1000 or unit == "ZB":
            return f"{value:.0f} {unit}" if unit == "B" else (
                f"{value:.1f} {unit}" if value < 1000 else f"{value:.3g} {unit}")
        value /= 1000
    raise AssertionError("unreachable")


def describe(short: str, shape: tuple[Any, ...]) -> str:
    """``f32[4294967296, 4294967296]``."""
    return f"{short}[{', '.join(str(d) for d in shape)}]"


def too_big(op: str, short: str, shape: tuple[int, ...], itemsize: int) -> RuntimeError:
    numel = math.prod(shape)
    if numel == 0:  # empty, but numpy still multiplies each dim by the item size
        return RuntimeError(
            f"{op}: cannot allocate {describe(short, shape)}: a dim of {max(shape)} elements "
            f"of {itemsize} bytes exceeds the {MAX_BYTES} bytes an array can index")
    return RuntimeError(
        f"{op}: cannot allocate {describe(short, shape)} ({human_bytes(numel * itemsize)}): "
        f"{numel} elements of {itemsize} bytes exceed the {MAX_BYTES} bytes an array can index")


def out_of_memory(op: str, short: str, shape: tuple[int, ...], itemsize: int) -> RuntimeError:
    return RuntimeError(
        f"{op}: cannot allocate {describe(short, shape)} "
        f"({human_bytes(math.prod(shape) * itemsize)}): out of memory")


def check(op: str, short: str, shape: tuple[Any, ...], itemsize: int) -> None:
    """Raise :func:`too_big` when ``shape`` (plain ints) can't be one array; shapes with
    symbolic or non-integer entries are left to the op's own checks."""
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        return
    if 0 in shape:
        return
    numel = math.prod(shape)
    if numel > MAX_BYTES or numel * itemsize > MAX_BYTES:
        raise too_big(op, short, shape, itemsize)


def check_elements(op: str, short: str, shape: tuple[Any, ...], itemsize: int) -> None:
    """Raise when a view of ``shape`` (plain ints) would have more elements than a tensor can
    index (as PyTorch's ``numel: integer multiplication overflow``), or span more bytes than
    a numpy array can (numpy checks this even for a broadcast view, which uses no memory)."""
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        return
    numel = math.prod(shape)
    if numel > MAX_BYTES:
        raise RuntimeError(f"{op}: the result {describe(short, shape)} would have {numel} "
                           f"elements, more than the {MAX_BYTES} a tensor can index")
    if numel * itemsize > MAX_BYTES:
        raise RuntimeError(f"{op}: the result {describe(short, shape)} would span "
                           f"{human_bytes(numel * itemsize)}, more than the {MAX_BYTES} bytes "
                           "a cpu tensor (a numpy array, even a broadcast view) can index")
