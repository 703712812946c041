"""ResNet-18 (He et al. 2016, the torchvision layout) built from ``nr.nn``, with symbolic batch
and spatial size: shape-safe for every ``B >= 1`` and ``32 <= H, W <= 512`` (the adaptive
pool makes the classifier's input size independent of H and W)."""

from __future__ import annotations

import neurarust as nr
from neurarust import nn


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual; a strided 1x1 projection when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU()
        self.downsample: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(c_out))

    def forward(self, x: nr.Tensor) -> nr.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)  # (B, C, H', W') both sides


class ResNet18(nn.Module):
    """``(B, 3, H, W) -> (B, num_classes)``."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
                                  nn.BatchNorm2d(64), nn.ReLU(),
                                  nn.MaxPool2d(3, stride=2, padding=1))
        layers: list[nn.Module] = []
        c = 64
        for c_out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [BasicBlock(c, c_out, stride), BasicBlock(c_out, c_out)]
            c = c_out
        self.layers = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: nr.Tensor) -> nr.Tensor:
        h = self.pool(self.layers(self.stem(x)))
        return self.fc(h.flatten(1))


CASES = [
    {"name": "resnet18", "target": "ResNet18", "inputs": {"x": "f32[B, 3, H, W]"},
     "assume": ["1 <= B <= 4096", "32 <= H <= 512", "32 <= W <= 512"], "expect": "proven"},
]
