"""Tracing: run a model on symbolic tensors and record an :class:`~neurarust.ir.Graph`.

``nr.trace(model, {"x": "f32[B, 1, 28, 28]"})``; see :mod:`.tracer`. Control flow on sizes
that the dims leave open goes to a :class:`PathOracle` (:mod:`.paths`) when one is given.
"""

from .paths import Decision, PathOracle
from .tensor import SymbolicTensor
from .tracer import ConstructionError, TraceError, Tracer, parse_spec, trace, user_frame

__all__ = ["ConstructionError", "Decision", "PathOracle", "SymbolicTensor", "TraceError",
           "Tracer", "parse_spec", "trace", "user_frame"]
