"""Dimension algebras: the one interface every shape rule is written against.

A shape rule never computes with Python ``if`` on a dim. It asks the algebra: ``dims.eq``,
``dims.require``, ``dims.select``, ``dims.broadcast``, ``dims.floordiv`` ... Three algebras
implement the interface, so one rule serves three readers:

- :class:`ConcreteAlgebra` (here): dims are ints, conditions are bools, ``require`` raises at
  once. Eager mode uses it; it must cost next to nothing.
- ``SymbolicAlgebra`` (``types.symbolic``): dims are :class:`~neurarust.types.dim.Dim`
  polynomials; used by the mypy plugin and in messages.
- ``Z3Algebra`` (``types.z3_algebra``): dims are z3 integer terms; each ``require`` becomes a
  proof obligation for ``neurarust verify``.

Ranks (``len(shape)``) and attributes are plain Python values in every algebra, so rules may
branch on those freely.
"""

from __future__ import annotations

from typing import Any, Generic, Sequence, TypeVar

from .errors import RuleViolation

__all__ = ["DimAlgebra", "ConcreteAlgebra", "CONCRETE", "Shape"]

D = TypeVar("D")  # a dimension value in this algebra
C = TypeVar("C")  # a condition value in this algebra

Shape = tuple[Any, ...]
"""A shape: a tuple of dims of whichever algebra is in use."""


class DimAlgebra(Generic[D, C]):
    """The operations a shape rule may use on dims and conditions.

    Subclasses implement the primitive methods; ``broadcast``, ``numel`` and the checked
    helpers are written once here in terms of them.
    """

    name: str = "abstract"

    # -- primitives -------------------------------------------------------------------------
    def const(self, n: int) -> D:
        raise NotImplementedError(f"{type(self).__name__}.const")

    def eq(self, a: D | int, b: D | int) -> C:
        raise NotImplementedError(f"{type(self).__name__}.eq")

    def lt(self, a: D | int, b: D | int) -> C:
        raise NotImplementedError(f"{type(self).__name__}.lt")

    def le(self, a: D | int, b: D | int) -> C:
        raise NotImplementedError(f"{type(self).__name__}.le")

    def and_(self, *conds: C | bool) -> C:
        raise NotImplementedError(f"{type(self).__name__}.and_")

    def or_(self, *conds: C | bool) -> C:
        raise NotImplementedError(f"{type(self).__name__}.or_")

    def not_(self, cond: C | bool) -> C:
        raise NotImplementedError(f"{type(self).__name__}.not_")

    def select(self, cond: C | bool, if_true: D | int, if_false: D | int) -> D:
        """``if_true`` where ``cond`` holds, else ``if_false`` (``z3.If`` in the z3 algebra)."""
        raise NotImplementedError(f"{type(self).__name__}.select")

    def floordiv(self, a: D | int, b: D | int) -> D:
        raise NotImplementedError(f"{type(self).__name__}.floordiv")

    def mod(self, a: D | int, b: D | int) -> D:
        raise NotImplementedError(f"{type(self).__name__}.mod")

    def require(self, cond: C | bool, message: str, *, hint: str | None = None) -> None:
        """State a condition the inputs must meet; what happens depends on the algebra."""
        raise NotImplementedError(f"{type(self).__name__}.require")

    def decide(self, cond: C | bool, why: str) -> bool:
        """A Python bool for ``cond``, for the rare rule whose output *rank* depends on sizes
        (``squeeze()`` without a dim). Algebras that cannot decide raise ``UndecidedShape``."""
        raise NotImplementedError(f"{type(self).__name__}.decide")

    # -- derived ----------------------------------------------------------------------------
    def ne(self, a: D | int, b: D | int) -> C:
        return self.not_(self.eq(a, b))

    def gt(self, a: D | int, b: D | int) -> C:
        return self.lt(b, a)

    def ge(self, a: D | int, b: D | int) -> C:
        return self.le(b, a)

    def min(self, a: D | int, b: D | int) -> D:
        return self.select(self.le(a, b), a, b)

    def max(self, a: D | int, b: D | int) -> D:
        return self.select(self.le(a, b), b, a)

    def numel(self, shape: Sequence[D | int]) -> D:
        """The product of the dims (1 for a scalar)."""
        out: Any = self.const(1)
        for d in shape:
            out = out * d
        return out  # type: ignore[no-any-return]

    def broadcast(self, *shapes: Shape) -> Shape:
        """The broadcast of shapes, as numpy/PyTorch: align right, sizes equal or 1."""
        out: Shape = ()
        for shape in shapes:
            out = self._broadcast_two(out, shape)
        return out

    def _broadcast_two(self, a: Shape, b: Shape) -> Shape:
        n = max(len(a), len(b))
        a = (1,) * (n - len(a)) + tuple(a)
        b = (1,) * (n - len(b)) + tuple(b)
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            self.require(
                self.or_(self.eq(x, y), self.eq(x, 1), self.eq(y, 1)),
                "shapes are not broadcastable",
                hint=f"dimension {i - n} must be equal on both sides or 1 on one side",
            )
            # against a literal 1 the result is the other side, whatever it is: writing it
            # as select(x == 1, 1, x) would nest one more select per broadcast (a conv net
            # with batch norm would grow its symbolic sizes exponentially)
            out.append(x if _is_one(y) else self.select(self.eq(x, 1), y, x))
        return tuple(out)

    def check_dim(self, dim: int, ndim: int, what: str = "dim") -> int:
        """Normalise a possibly negative dimension index; a RuleViolation when out of range.

        Ranks are concrete in every algebra, so this is plain Python.
        """
        lo, hi = (-ndim, ndim - 1) if ndim > 0 else (-1, 0)
        if not isinstance(dim, int) or not lo <= dim <= hi:
            raise RuleViolation(
                f"{what} out of range",
                detail=f"expected {what} in [{lo}, {hi}] for a {ndim}-d input, got {dim}",
            )
        return dim + ndim if dim < 0 and ndim > 0 else (0 if dim < 0 else dim)


def _is_one(d: Any) -> bool:
    """True for a literal 1 (an int, or a constant Dim); False for anything symbolic."""
    if isinstance(d, bool):
        return False
    if isinstance(d, int):
        return d == 1
    return getattr(d, "is_constant", False) is True and d.as_int() == 1


class ConcreteAlgebra(DimAlgebra[int, bool]):
    """Dims are ints and conditions bools; ``require`` raises a RuleViolation at once.

    This is the eager-mode algebra, on every op's hot path: each method is one Python
    expression, and ``broadcast`` has a fast path for equal shapes.
    """

    name = "concrete"

    def const(self, n: int) -> int:
        return n

    def eq(self, a: int, b: int) -> bool:
        return a == b

    def ne(self, a: int, b: int) -> bool:
        return a != b

    def lt(self, a: int, b: int) -> bool:
        return a < b

    def le(self, a: int, b: int) -> bool:
        return a <= b

    def and_(self, *conds: bool) -> bool:
        return all(conds)

    def or_(self, *conds: bool) -> bool:
        return any(conds)

    def not_(self, cond: bool) -> bool:
        return not cond

    def select(self, cond: bool, if_true: int, if_false: int) -> int:
        return if_true if cond else if_false

    def floordiv(self, a: int, b: int) -> int:
        if b == 0:
            raise RuleViolation("division of a dim by zero")
        return a // b

    def mod(self, a: int, b: int) -> int:
        if b == 0:
            raise RuleViolation("modulo of a dim by zero")
        return a % b

    def min(self, a: int, b: int) -> int:
        return a if a <= b else b

    def max(self, a: int, b: int) -> int:
        return a if a >= b else b

    def require(self, cond: bool, message: str, *, hint: str | None = None) -> None:
        if not cond:
            raise RuleViolation(message, hint)

    def decide(self, cond: bool, why: str) -> bool:
        return bool(cond)

    def numel(self, shape: Sequence[int]) -> int:
        n = 1
        for d in shape:
            n *= d
        return n

    def broadcast(self, *shapes: Shape) -> Shape:
        out = tuple(shapes[0]) if shapes else ()
        for shape in shapes[1:]:
            if shape != out:
                out = self._broadcast_two(out, tuple(shape))
        return out

    def _broadcast_two(self, a: Shape, b: Shape) -> Shape:
        # Same semantics as the generic version, in plain ints: this runs on every binary op.
        if not b:
            return a
        if not a:
            return b
        n = max(len(a), len(b))
        a = (1,) * (n - len(a)) + a
        b = (1,) * (n - len(b)) + b
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            if x == y or y == 1:
                out.append(x)
            elif x == 1:
                out.append(y)
            else:
                raise RuleViolation(
                    "shapes are not broadcastable",
                    hint=f"dimension {i - n} must be equal on both sides or 1 on one side",
                )
        return tuple(out)


CONCRETE: ConcreteAlgebra = ConcreteAlgebra()
"""The shared concrete algebra (stateless)."""
