"""Dropout layers, as ``torch.nn``'s: active in training mode, the identity in eval mode.

Masks are drawn from the default generator, so ``nr.manual_seed`` makes a run reproducible.
"""

from __future__ import annotations

from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d"]


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """In training, zeroes each element with probability ``p`` and scales the others by
    ``1 / (1 - p)`` (Srivastava et al., 2014), so the expected output equals the input;
    in eval mode, returns the input.

    Shape:
        ``(*) -> (*)``
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, self.inplace)


class Dropout1d(_DropoutNd):
    """Zeroes whole channels of ``(N, C, L)`` (or ``(C, L)``) with probability ``p``."""

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zeroes whole channels (feature maps) of ``(N, C, H, W)`` with probability ``p``
    (Tompson et al., 2015): adjacent pixels are correlated, so element dropout would not
    regularise.

    Shape:
        ``(N, C, H, W) -> (N, C, H, W)``
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout2d(input, self.p, self.training, self.inplace)
