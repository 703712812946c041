"""Verification of traced graphs: shape safety by z3 (:mod:`.shape`), explored over every
shape-dependent path (:mod:`.paths`), reported by :mod:`.report`; ``verify`` does it all, after :mod:`.assumptions` has checked
that the assumptions can hold."""

from .api import verify
from .assumptions import AssumptionError, check_assumptions
from .report import PathReport, Report
from .shape import ObligationResult, ShapeReport, parse_assumption, verify_shapes

__all__ = ["AssumptionError", "ObligationResult", "PathReport", "Report", "ShapeReport",
           "check_assumptions", "parse_assumption", "verify", "verify_shapes"]
