"""``nr.cuda``: the CUDA backend's public face, as ``torch.cuda``.

Importing it imports neither pycuda nor z3. ``is_available()`` is False without pycuda or a
GPU; ``nr.device("cuda")`` keeps raising a clear error until the launch path is wired.
"""

from __future__ import annotations

from .kernels.cuda import INSTALL_HINT, is_available

__all__ = ["INSTALL_HINT", "device_count", "is_available"]


def device_count() -> int:
    """Number of usable CUDA devices (0 without pycuda or a GPU)."""
    if not is_available():
        return 0
    from .kernels.cuda import require_pycuda

    count: int = require_pycuda().Device.count()
    return count
