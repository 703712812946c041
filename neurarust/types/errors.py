"""The project's error types: every shape or dtype mistake is one of these."""

from __future__ import annotations

__all__ = ["ShapeError", "DTypeError", "RuleViolation", "UndecidedShape"]


class ShapeError(ValueError):
    """An op was given shapes its rule does not accept.

    The message names the op, shows the input shapes and says what was expected.
    Subclasses ValueError so code catching PyTorch-style errors still catches it.
    """


class DTypeError(TypeError):
    """An op was given dtypes its rule does not accept (named op, dtypes, expectation)."""


class RuleViolation(Exception):
    """Raised by a dimension algebra when a rule's ``require`` fails.

    It carries only the rule's own words; the dispatcher that called the rule knows the op
    and the inputs and turns this into a :class:`ShapeError` with the full context.
    """

    def __init__(self, message: str, hint: str | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.detail = detail


class UndecidedShape(Exception):
    """A rule needed a yes/no answer about dims that the algebra cannot decide (symbolic sizes)."""
