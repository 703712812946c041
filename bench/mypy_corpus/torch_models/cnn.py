# ruff: noqa: F821, UP037  (dims inside Shaped strings are declared by @shape_vars)
"""Small CNN for 28x28 images: two conv/pool stages, then a two-layer head.

The PyTorch version, annotated for Pyrefly's tensor-shape checking."""
from __future__ import annotations

from shape_extensions import Shaped, shape_vars
from torch import Tensor, nn


class CNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.flatten = nn.Flatten()
        self.head = nn.Sequential(nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10))

    @shape_vars("B")
    def forward(self, x: Shaped[Tensor, "[B, 1, 28, 28]"]) -> Shaped[Tensor, "[B, 10]"]:
        return self.head(self.flatten(self.features(x)))
