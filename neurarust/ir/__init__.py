"""The intermediate representation: a traced model as a graph of registry op applications.

Produced by :func:`neurarust.trace`; read by ``verify``, ``onnx`` export and later compilers.
"""

from .graph import Constant, Graph, GraphError, Input, Literal, Node, NodeInput, Value

__all__ = ["Constant", "Graph", "GraphError", "Input", "Literal", "Node", "NodeInput", "Value"]
