"""Public linear algebra functions: matmul (and ``@``), mm, bmm, dot, outer, einsum."""

from __future__ import annotations

from collections.abc import Sequence

from ..ops.linalg import parse_einsum
from ..tensor import Tensor
from ..types.errors import RuleViolation
from ._call import apply

__all__ = ["bmm", "dot", "einsum", "ger", "matmul", "mm", "outer"]


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """Matrix product with PyTorch's rules for every rank (``input @ other``).

    - 1-d, 1-d: the dot product, a 0-d tensor;
    - 2-d, 2-d: the matrix product;
    - 1-d, n-d: the vector is a row (a 1 prepended), removed from the result;
    - n-d, 1-d: the vector is a column (a 1 appended), removed from the result;
    - otherwise a batched product whose batch dims (all but the last two) broadcast.

    Shape:
        ``(*b1, n, k) @ (*b2, k, m) -> (*broadcast(b1, b2), n, m)``

    Both operands must have the same dtype (no promotion, as PyTorch).

    Example:
        >>> (nr.ones(32, 784) @ nr.ones(784, 128)).shape
        (32, 128)
    """
    return apply("matmul", input, other)


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """The product of two 2-d tensors, ``(n, k) @ (k, m) -> (n, m)``; no broadcasting."""
    return apply("mm", input, mat2)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched matrix product of 3-d tensors with equal batch sizes:
    ``(b, n, k) @ (b, k, m) -> (b, n, m)`` (use matmul to broadcast batches)."""
    return apply("bmm", input, mat2)


def dot(input: Tensor, tensor: Tensor) -> Tensor:
    """The inner product of two 1-d tensors of equal size, as a 0-d tensor."""
    return apply("dot", input, tensor)


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    """The outer product of two 1-d tensors: ``out[i, j] = input[i] * vec2[j]``."""
    return apply("outer", input, vec2)


ger = outer


def einsum(equation: str, *operands: Tensor | Sequence[Tensor]) -> Tensor:
    """Einstein summation, as ``torch.einsum``: ``einsum("bij,bjk->bik", a, b)``.

    Each operand gets one letter per dim (``...`` for any number of broadcast dims).
    A letter repeated within one operand takes the diagonal; letters absent from the
    output are summed over. Without ``->`` the output is the ellipsis dims followed by the
    letters used exactly once, in alphabetical (ASCII) order; an explicit output may omit
    ``...`` to sum the ellipsis dims. Sizes of one letter agree across operands or are 1.
    Operands may also be given as one list: ``einsum("ij,jk", [a, b])``.

    The gradient of each operand is itself an einsum, so higher-order gradients work.
    """
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        tensors = tuple(operands[0])
    else:
        tensors = tuple(operands)  # type: ignore[arg-type]
    try:
        canonical = parse_einsum(equation).explicit
    except RuleViolation:
        canonical = equation  # the op's shape rule reports it, with the operands' shapes
    return apply("einsum", *tensors, equation=canonical)
