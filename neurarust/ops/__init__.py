"""The op registry: every op declared once (see :mod:`neurarust.ops.registry`).

Importing this package declares all ops; it imports only ``neurarust.types``.
"""

from . import conv, elementwise, indexing, joining, linalg, reduction, shaping  # noqa: F401
from . import nn_ops  # noqa: F401
from . import creation  # noqa: F401
from . import recurrent  # noqa: F401
from .registry import OpDef, all_ops, get, kernel, register

__all__ = ["OpDef", "all_ops", "get", "kernel", "register"]
