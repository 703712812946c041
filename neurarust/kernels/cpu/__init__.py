"""The numpy CPU backend: one module per op family, each registering its kernels."""

from . import conv, elementwise, indexing, joining, linalg, reduction, shaping  # noqa: F401
from . import nn_ops  # noqa: F401
from . import creation  # noqa: F401
from . import recurrent  # noqa: F401
