"""Reusable scratch arrays for kernels' internal temporaries.

A fresh multi-megabyte numpy array costs a page fault per 4 KiB page the first time it is
written: glibc serves large allocations with ``mmap`` (or trims the freed heap back to the
system), so a temporary allocated and freed every training step is faulted in again every
step. Measured on a small CNN, that was a quarter of the step's time, and 35x the arithmetic
of an Adam update of a 784 x 256 weight. Kernels therefore take their temporaries (never their
results) from per-thread buffers that stay allocated: the same sizes come back every step.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["MAX_BYTES", "scratch"]

Array = np.ndarray  # type: ignore[type-arg]

MAX_BYTES = 64 << 20
"""Requests larger than this get a fresh array (and are not kept)."""

_local = threading.local()


def scratch(slot: str, shape: Sequence[int], dtype: Any) -> Array:
    """An uninitialised C-contiguous array of ``shape`` and ``dtype`` in this thread's reusable
    buffer named ``slot`` (grown as needed; a fresh array beyond :data:`MAX_BYTES`).

    Its contents are garbage, and valid only until the next request for the same slot in
    the same thread: a caller must never return it, or a view of it, and must not hold two
    arrays from one slot at once.
    """
    dt = np.dtype(dtype)
    nbytes = math.prod(shape) * dt.itemsize
    if nbytes > MAX_BYTES:
        return np.empty(tuple(shape), dtype=dt)
    buffers: dict[str, Array] | None = getattr(_local, "buffers", None)
    if buffers is None:
        buffers = _local.buffers = {}
    buf = buffers.get(slot)
    if buf is None or buf.nbytes < nbytes:
        buf = buffers[slot] = np.empty(max(nbytes, 1), dtype=np.uint8)
    out: Array = buf[:nbytes].view(dt).reshape(tuple(shape))
    return out
