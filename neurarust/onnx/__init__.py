"""ONNX export (``nr.onnx.export``, from the same traced graph that ``verify`` proves) and
import (``nr.onnx.load``, onto the registered ops).

Needs the optional ``onnx`` extra (``pip install 'neurarust[onnx]'``); importing this package
works without it, and using it says how to install it. Each op's ONNX mapping lives on its
OpDef (``to_onnx``); this package holds only the shared machinery.
"""

from .builder import OnnxBuilder, OnnxValue
from .export import DEFAULT_OPSET, OnnxExportError, export, export_graph, has_mapping
from .import_ import ImportLimits, OnnxImportError, OnnxModule, load, supported_ops

__all__ = ["DEFAULT_OPSET", "ImportLimits", "OnnxBuilder", "OnnxExportError", "OnnxImportError",
           "OnnxModule", "OnnxValue", "export", "export_graph", "has_mapping", "load",
           "supported_ops"]
