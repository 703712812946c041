"""The runtime half of ``import neurarust``: tensors, dispatch, autograd, nn, optim, kernels.

``neurarust/__init__.py`` imports only the core (``neurarust.types`` and ``neurarust.ops``) so
that the declaration layer, and the mypy plugin that reads it, load without numpy kernels,
autograd or nn. The first attribute of ``neurarust`` outside the core (``nr.zeros``,
``nr.Tensor``, ``from neurarust import nn``) imports this module, and the package copies the
names of ``__all__`` below into its own namespace. Importing the dispatcher registers the CPU
kernels (see ``neurarust._dispatch``), so no op can run before its kernels exist.
"""

from . import (
    autograd,
    cuda,  # nr.cuda.is_available(); pycuda is imported only on GPU use
    functions,
    kernels,  # noqa: F401
    nn,
    optim,
)
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .device import Device, device, get_default_device, set_default_device
from .functions import *
from .functions import Generator, manual_seed
from .kernels import cpu as _cpu_kernels  # noqa: F401  (registers the numpy backend)
from .serialization import CheckpointError, load, save
from .tensor import Tensor
from .trace import trace

__all__ = [
    "CheckpointError", "Device", "Generator", "Tensor", "autograd", "cuda", "device",
    "enable_grad", "functions", "get_default_device", "is_grad_enabled", "load", "manual_seed",
    "nn", "no_grad", "optim", "save", "set_default_device", "set_grad_enabled", "trace",
]
__all__ += functions.conv.__all__
__all__ += functions.creation.__all__
__all__ += functions.elementwise.__all__
__all__ += functions.indexing.__all__
__all__ += functions.joining.__all__
__all__ += functions.linalg.__all__
__all__ += functions.reduction.__all__
__all__ += functions.shaping.__all__
