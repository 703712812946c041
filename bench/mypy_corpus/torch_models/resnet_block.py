# ruff: noqa: F821, UP037  (dims inside Shaped strings are declared by @shape_vars)
"""ResNet basic block that halves the resolution and doubles the channels (16 -> 32), with a
1x1 strided convolution on the shortcut.

The PyTorch version, annotated for Pyrefly's tensor-shape checking."""
from __future__ import annotations

import torch
from shape_extensions import Shaped, shape_vars
from torch import Tensor, nn


class BasicBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(16, 32, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 32, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(32)
        self.shortcut = nn.Sequential(
            nn.Conv2d(16, 32, kernel_size=1, stride=2, bias=False), nn.BatchNorm2d(32)
        )

    @shape_vars("B")
    def forward(self, x: Shaped[Tensor, "[B, 16, 16, 16]"]) -> Shaped[Tensor, "[B, 32, 8, 8]"]:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))
