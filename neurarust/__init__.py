"""NeuraRust: a PyTorch-like deep-learning framework whose ops are declared once and read by
the runtime, the mypy plugin, the verifier and ONNX export alike.

``import neurarust`` loads only the core: ``neurarust.types`` (dtypes, Dim, annotations) and
``neurarust.ops`` (every op's declaration). The runtime (tensors, dispatch, autograd, nn,
optim, kernels; see ``neurarust._runtime``) loads on the first use of one of its names
(``nr.zeros``, ``nr.Tensor``, ``from neurarust import nn``), and ``nr.data``, ``nr.onnx`` and
``nr.verify`` (z3, linear bounds) on their own first use. So the mypy plugin and any tool that
reads the declarations never load tensor storage or kernels; a type checker sees every name
statically (the ``TYPE_CHECKING`` branch below).
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from . import (
    ops,  # declares every op
    types,
)
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
bool = bool_
half = float16
float = float32
double = float64
long = int64
int = int32

__version__ = "0.1.0"

__all__ = [
    "DType", "DTypeError", "ShapeError", "bool", "bool_", "data", "double", "float", "float16",
    "float32", "float64", "get_default_dtype", "half", "int", "int8", "int16", "int32", "int64",
    "long", "onnx", "ops", "promote_types", "set_default_dtype", "types", "uint8",
]

if _TYPE_CHECKING:
    from . import _runtime
    from . import data as data
    from . import onnx as onnx
    from . import verify as verify
    from ._runtime import *
    from .functions import *  # mypy re-exports a star import only one level deep

    __all__ += _runtime.__all__
else:
    import importlib as _importlib
    import importlib.util as _importlib_util
    import sys as _sys
    import types as _pytypes

    _LAZY = frozenset({"data", "onnx", "verify"})
    _CORE_ALL = tuple(__all__)
    del __all__  # rebuilt with the runtime's names on first use (`from neurarust import *`)
    _SHADOWED = frozenset({"device", "tensor", "trace"})
    """Submodules whose name is also a runtime function: ``nr.device``, ``nr.tensor`` and
    ``nr.trace`` are the functions, whichever of the submodule or the runtime loads first."""

    def _load_runtime() -> None:
        """Import the runtime and bind its public names here (once; later lookups are plain
        module attributes and never reach ``__getattr__``)."""
        runtime = _importlib.import_module(f"{__name__}._runtime")
        namespace = globals()
        for name, value in vars(runtime).items():  # every public name, as `import *` of old
            if not name.startswith("_"):
                namespace[name] = value
        namespace["__all__"] = [*_CORE_ALL, *runtime.__all__]

    def __getattr__(name: str) -> object:
        if name.startswith("__") and name != "__all__":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        if name not in _SHADOWED and (
            name in _LAZY or _importlib_util.find_spec(f"{__name__}.{name}") is not None
        ):
            # A submodule (`from neurarust import nn`, or `from . import functions` while the
            # runtime itself loads): import that one only, as Python would.
            return _importlib.import_module(f"{__name__}.{name}")
        _load_runtime()
        try:
            return globals()[name]
        except KeyError:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None

    def __dir__() -> list[str]:
        _load_runtime()
        return sorted({*globals(), *_LAZY})

    class _Package(_pytypes.ModuleType):
        """The package object: the import system does not bind the submodules ``device``,
        ``tensor`` and ``trace`` here (they stay in ``sys.modules``), so those names always
        reach the runtime's functions, as they did when the package imported everything."""

        def __setattr__(self, name: str, value: object) -> None:
            if name in _SHADOWED and isinstance(value, _pytypes.ModuleType):
                return
            super().__setattr__(name, value)

    _sys.modules[__name__].__class__ = _Package
