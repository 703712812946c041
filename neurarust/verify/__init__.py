"""Verification of traced graphs: shape safety by z3 (:mod:`.shape`)."""

from .shape import ObligationResult, ShapeReport, parse_assumption, verify_shapes

__all__ = ["ObligationResult", "ShapeReport", "parse_assumption", "verify_shapes"]
