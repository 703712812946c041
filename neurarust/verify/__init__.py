"""Verification of traced graphs: shape safety by z3 (:mod:`.shape`), explored over every
shape-dependent path (:mod:`.paths`), reported by :mod:`.report`; ``verify`` does it all."""

from .api import verify
from .report import PathReport, Report
from .shape import ObligationResult, ShapeReport, parse_assumption, verify_shapes

__all__ = ["ObligationResult", "PathReport", "Report", "ShapeReport", "parse_assumption",
           "verify", "verify_shapes"]
