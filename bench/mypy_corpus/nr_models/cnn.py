"""Small CNN for 28x28 images: two conv/pool stages, then a two-layer head."""
from __future__ import annotations

from neurarust import Tensor, nn
from neurarust.types import Float32


class CNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.flatten = nn.Flatten()
        self.head = nn.Sequential(nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x: Float32[Tensor, "B 1 28 28"]) -> Float32[Tensor, "B 10"]:
        return self.head(self.flatten(self.features(x)))
