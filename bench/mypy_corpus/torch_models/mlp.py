# ruff: noqa: F821, UP037  (dims inside Shaped strings are declared by @shape_vars)
"""MLP on flattened 28x28 images: 784 -> 256 -> 128 -> 10.

The PyTorch version, annotated for Pyrefly's tensor-shape checking."""
from __future__ import annotations

import torch
from shape_extensions import Shaped, shape_vars
from torch import Tensor, nn


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 256)
        self.fc2 = nn.Linear(256, 128)
        self.fc3 = nn.Linear(128, 10)

    @shape_vars("B")
    def forward(self, x: Shaped[Tensor, "[B, 1, 28, 28]"]) -> Shaped[Tensor, "[B, 10]"]:
        h = torch.relu(self.fc1(x.flatten(1)))
        h = torch.relu(self.fc2(h))  # re-assigned: [B, 256] -> [B, 128]
        return nn.functional.log_softmax(self.fc3(h), dim=1)
