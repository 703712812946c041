"""The CUDA backend's kernels: CUDA C sources (``sources/*.cu``, package data) and their index
contracts (:mod:`.contracts`, proven in bounds by ``neurarust verify --kernels``).

Importing this package never imports pycuda; :func:`require_pycuda` does, on first GPU use,
and fails with an error naming what to install. The launch path: :mod:`.driver` (pycuda or
the emulator), :mod:`.array` (device arrays), :mod:`.kernels`, :mod:`.backend`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from types import ModuleType

__all__ = ["INSTALL_HINT", "is_available", "require_pycuda", "source_path", "sources"]

INSTALL_HINT = ("the CUDA backend needs pycuda and an NVIDIA driver: pip install "
                "neurarust[cuda] (on a machine with a GPU and the CUDA toolkit)")


def source_path(name: str) -> Path:
    """Path of a kernel source shipped as package data, e.g. ``source_path("softmax.cu")``."""
    return Path(str(resources.files(__name__).joinpath("sources", name)))


def sources() -> list[Path]:
    """Every ``.cu`` source of the backend."""
    return sorted(source_path("").glob("*.cu"))


def require_pycuda() -> ModuleType:
    """Import pycuda (and create its context) or raise a RuntimeError saying what to install."""
    try:
        import pycuda.autoinit  # type: ignore[import-not-found]  # noqa: F401
        import pycuda.driver as drv  # type: ignore[import-not-found]
    except ImportError as err:
        raise RuntimeError(f"{INSTALL_HINT} ({err})") from err
    except Exception as err:  # pycuda present, but no driver/GPU
        raise RuntimeError(f"no usable CUDA device: {err}. {INSTALL_HINT}") from err
    module: ModuleType = drv
    return module


def is_available() -> bool:
    """True when pycuda imports and a CUDA device can be opened, or when the emulator is
    selected (``NEURARUST_CUDA_EMULATE=1``); never raises."""
    import importlib.util

    from .driver import emulating

    if emulating():
        return True
    if importlib.util.find_spec("pycuda") is None:
        return False
    try:
        require_pycuda()
    except RuntimeError:
        return False
    return True
