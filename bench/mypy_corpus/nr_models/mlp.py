"""MLP on flattened 28x28 images: 784 -> 256 -> 128 -> 10."""
from __future__ import annotations

import neurarust as nr
from neurarust import Tensor, nn
from neurarust.types import Float32


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 256)
        self.fc2 = nn.Linear(256, 128)
        self.fc3 = nn.Linear(128, 10)

    def forward(self, x: Float32[Tensor, "B 1 28 28"]) -> Float32[Tensor, "B 10"]:
        h = nr.relu(self.fc1(x.flatten(1)))
        h = nr.relu(self.fc2(h))  # re-assigned: [B, 256] -> [B, 128]
        return nn.functional.log_softmax(self.fc3(h), dim=1)
