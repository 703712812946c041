"""``nr.nn``: modules, parameters, containers and initialisation, as ``torch.nn``.

Layers are modules written with registered ops, so a model traces, verifies and exports
without special cases; this package holds the machinery they stand on.
"""

from . import init as init
from .container import ModuleDict as ModuleDict
from .container import ModuleList as ModuleList
from .container import ParameterDict as ParameterDict
from .container import ParameterList as ParameterList
from .container import Sequential as Sequential
from .module import IncompatibleKeys as IncompatibleKeys
from .module import Module as Module
from .module import RemovableHandle as RemovableHandle
from .parameter import Buffer as Buffer
from .parameter import Parameter as Parameter

__all__ = [
    "Buffer", "IncompatibleKeys", "Module", "ModuleDict", "ModuleList", "Parameter",
    "ParameterDict", "ParameterList", "RemovableHandle", "Sequential", "init",
]
