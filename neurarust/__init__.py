"""NeuraRust: a PyTorch-like deep-learning framework whose ops are declared once and read by
the runtime, the mypy plugin, the verifier and ONNX export alike."""

from . import ops  # declares every op
from . import kernels  # noqa: F401
from .kernels import cpu as _cpu_kernels  # noqa: F401  (registers the numpy backend)
from . import autograd, functions, nn, optim, types
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .device import Device, device, get_default_device, set_default_device
from .functions import *  # noqa: F403
from .functions import Generator, manual_seed
from .serialization import CheckpointError, load, save
from .tensor import Tensor
from .trace import trace
from . import cuda  # nr.cuda.is_available(); pycuda is imported only on GPU use
from .types import (
    DType,
    DTypeError,
    ShapeError,
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

# PyTorch's short dtype names; the builtins stay reachable through `builtins`.
bool = bool_  # noqa: A001
half = float16
float = float32  # noqa: A001
double = float64
long = int64
int = int32  # noqa: A001

__version__ = "0.1.0"

from typing import TYPE_CHECKING as _TYPE_CHECKING  # noqa: E402

if _TYPE_CHECKING:
    from . import data as data
    from . import onnx as onnx
    from . import verify as verify
else:
    # nr.data, nr.onnx and nr.verify (z3, linear bounds) load on first use: `import
    # neurarust` stays light for scripts and for the mypy plugin, which imports the registry.
    _LAZY = frozenset({"data", "onnx", "verify"})

    def __getattr__(name: str) -> object:
        if name in _LAZY:
            import importlib

            return importlib.import_module(f"{__name__}.{name}")
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "DType", "DTypeError", "Device", "data", "Generator", "ShapeError", "Tensor", "autograd", "bool",
    "bool_", "cuda", "device", "double", "enable_grad", "float", "float16", "float32", "float64",
    "functions", "get_default_device", "get_default_dtype", "half", "int", "int8", "int16", "int32", "int64",
    "is_grad_enabled", "load", "long", "manual_seed", "nn", "no_grad", "onnx", "ops", "optim",
    "promote_types", "save", "CheckpointError",
    "set_default_device", "set_default_dtype", "set_grad_enabled", "trace", "types", "uint8",
]
__all__ += functions.conv.__all__
__all__ += functions.creation.__all__
__all__ += functions.elementwise.__all__
__all__ += functions.indexing.__all__
__all__ += functions.joining.__all__
__all__ += functions.linalg.__all__
__all__ += functions.reduction.__all__
__all__ += functions.shaping.__all__
