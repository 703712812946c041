"""``nr.cuda``: the CUDA backend's public face, as ``torch.cuda``.

Importing it imports neither pycuda nor z3. ``is_available()`` is True with pycuda and a GPU,
or with the emulator (``NEURARUST_CUDA_EMULATE=1``, see docs/cuda.md).
"""

from __future__ import annotations

from collections import Counter

from .kernels.cuda import INSTALL_HINT, is_available

__all__ = ["INSTALL_HINT", "device_count", "driver_name", "fallback_counts", "is_available",
           "synchronize"]


def device_count() -> int:
    """Number of usable CUDA devices (0 without pycuda or a GPU; 1 under the emulator)."""
    if not is_available():
        return 0
    from .kernels.cuda.driver import emulating

    if emulating():
        return 1
    from .kernels.cuda import require_pycuda

    count: int = require_pycuda().Device.count()
    return count


def fallback_counts() -> Counter[str]:
    """What ran on the host for cuda tensors since start: ops without a CUDA kernel for
    their arguments, and numpy functions applied to device arrays, with counts."""
    from .kernels.cuda.array import HOST_ROUND_TRIPS

    return Counter(HOST_ROUND_TRIPS)


def driver_name() -> str:
    """The driver in use (pycuda with the GPU's name, or the emulator)."""
    from .kernels.cuda.backend import load

    return load().name


def synchronize() -> None:
    """Wait for all queued device work (as ``torch.cuda.synchronize``)."""
    from .kernels.cuda.backend import load

    load().synchronize()
