"""MLPs and CNNs: correct ones, and planted shape bugs (a Linear whose in_features does not
match, for fixed sizes and in a factory with a symbolic width; a flatten size that is right
for one input size only; a CNN given no lower bound on its image size)."""

from __future__ import annotations

import neurarust as nr
from neurarust import nn


class MLP(nn.Module):
    """``(B, 1, 28, 28) -> (B, 10)``."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(),
                                 nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))

    def forward(self, x: nr.Tensor) -> nr.Tensor:
        return self.net(x)


class MLPWrongWidth(nn.Module):
    """Bug: the second Linear expects 100 features, the first gives 128 (for every size)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(100, 10)

    def forward(self, x: nr.Tensor) -> nr.Tensor:
        return self.fc2(self.fc1(x.flatten(1)).relu())


def make_mlp(D: int) -> nn.Module:
    """A factory with a symbolic hidden width D; the second layer is written for 128."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, D), nn.ReLU(), nn.Linear(128, 10))


class CNN(nn.Module):
    """``(B, 1, H, W) -> (B, 10)`` for any H, W >= 8: a global mean fixes the classifier's
    input size whatever the image size."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(16, 32, 3), nn.ReLU())
        self.fc = nn.Linear(32, 10)

    def forward(self, x: nr.Tensor) -> nr.Tensor:
        return self.fc(self.features(x).mean((2, 3)))  # (B, 32) for every H, W


class CNNFlattenBug(nn.Module):
    """Bug: the classifier's 32*5*5 inputs are right only for 28x28 images."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2))
        self.fc = nn.Linear(32 * 5 * 5, 10)

    def forward(self, x: nr.Tensor) -> nr.Tensor:
        return self.fc(self.features(x).flatten(1))  # (B, 32 * ((H-2)//2 - 2)//2 ...)


CASES = [
    {"name": "mlp", "target": "MLP", "inputs": {"x": "f32[B, 1, 28, 28]"},
     "assume": ["1 <= B <= 4096"], "expect": "proven"},
    {"name": "mlp wrong in_features (bug)", "target": "MLPWrongWidth",
     "inputs": {"x": "f32[B, 1, 28, 28]"}, "assume": ["1 <= B <= 4096"], "expect": "refuted",
     "error": "linear: input has 128 features, the weight expects 100"},
    {"name": "make_mlp(D), D in {100, 128} (bug at D=100)", "target": "make_mlp",
     "config": {"D": "D"}, "inputs": {"x": "f32[B, 1, 28, 28]"},
     "assume": ["D == 100 or D == 128"], "expect": "refuted",
     "error": "linear: input has 100 features, the weight expects 128"},
    {"name": "make_mlp(D), D == 128", "target": "make_mlp", "config": {"D": "D"},
     "inputs": {"x": "f32[B, 1, 28, 28]"}, "assume": ["D == 128"], "expect": "proven"},
    {"name": "cnn, symbolic H/W", "target": "CNN", "inputs": {"x": "f32[B, 1, H, W]"},
     "assume": ["1 <= B <= 4096", "28 <= H <= 512", "28 <= W <= 512"], "expect": "proven"},
    {"name": "cnn, no lower bound on H/W (bug)", "target": "CNN",
     "inputs": {"x": "f32[B, 1, H, W]"}, "assume": ["1 <= B <= 64", "H <= 512", "W <= 512"],
     "expect": "refuted", "error": "conv2d: the output size must be at least 1"},
    {"name": "cnn flatten size for one H only (bug)", "target": "CNNFlattenBug",
     "inputs": {"x": "f32[B, 1, H, W]"},
     "assume": ["1 <= B <= 4096", "28 <= H <= 512", "28 <= W <= 512"], "expect": "refuted",
     "error": "matmul: inner dimensions must match"},
    {"name": "cnn flatten, H == W == 28", "target": "CNNFlattenBug",
     "inputs": {"x": "f32[B, 1, H, W]"}, "assume": ["1 <= B <= 4096", "H == 28", "W == 28"],
     "expect": "proven"},
]
