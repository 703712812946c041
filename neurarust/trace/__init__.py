"""Tracing: run a model on symbolic tensors and record an :class:`~neurarust.ir.Graph`.

``nr.trace(model, {"x": "f32[B, 1, 28, 28]"})``; see :mod:`.tracer`.
"""

from .tensor import SymbolicTensor
from .tracer import TraceError, Tracer, parse_spec, trace, user_frame

__all__ = ["SymbolicTensor", "TraceError", "Tracer", "parse_spec", "trace", "user_frame"]
