"""CPU kernels of the creation ops (``neurarust.ops.creation``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ops.registry import kernel


@kernel("arange", backend="cpu")
def arange(start: Any, *, end: int, step: int) -> Any:
    return np.arange(start.item(), end, step).astype(start.dtype)
