"""ResNet basic block that halves the resolution and doubles the channels (16 -> 32), with a
1x1 strided convolution on the shortcut."""
from __future__ import annotations

import neurarust as nr
from neurarust import Tensor, nn
from neurarust.types import Float32


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

    def forward(self, x: Float32[Tensor, "B 16 16 16"]) -> Float32[Tensor, "B 32 8 8"]:
        out = nr.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return nr.relu(out + self.shortcut(x))
