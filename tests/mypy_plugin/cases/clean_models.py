"""Correct code that must type-check with no diagnostics at all."""
from __future__ import annotations

import neurarust as nr
from neurarust import Tensor, nn
from neurarust.types import Float, Float32, Int64, Shaped


class MLP(nn.Module):
    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, hidden)  # non-literal width: the shape degrades to unknown
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x: Float32[Tensor, "B 784"]) -> Float32[Tensor, "B 10"]:
        h = nr.relu(self.fc1(x))
        return self.fc2(h)


def attention(q: Float32[Tensor, "B T D"], k: Float32[Tensor, "B S D"],
              v: Float32[Tensor, "B S D"]) -> Float32[Tensor, "B T D"]:
    scores = q @ k.transpose(1, 2) / 8.0
    return nn.functional.softmax(scores, -1) @ v


def heads(x: Float32[Tensor, "B T C"], n: int) -> Float32[Tensor, "B T C"]:
    y = x.reshape(x.shape[0], x.shape[1], n, -1)  # n is not literal: unknown, no error
    return y.reshape(x.shape[0], x.shape[1], -1)


def one_name(x: Float[Tensor, "B"], y: Shaped[Tensor, "*batch 3"], z: Int64[Tensor, "_ ..."],
             w: Float32[Tensor, "T*C C//2 H+2"]) -> None:
    x + x
    y.sum(-1)
    z.flatten()
    w * 2


def broadcasts(a: Float32[Tensor, "N"], b: Float32[Tensor, "M"],
               c: Float32[Tensor, "N 1"]) -> Float32[Tensor, "N M"]:
    a + b  # N: add: undecided: N == M or N == 1 or M == 1 (left to neurarust verify)
    return c * b


def optional(x: Float32[Tensor, "B 4"], mask: Float32[Tensor, "B 4"] | None = None) -> Tensor:
    return x if mask is None else x * mask


class CNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        )
        self.flat = nn.Flatten()
        self.head = nn.Sequential(nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Dropout(0.1),
                                  nn.Linear(64, 10))

    def forward(self, x: Float32[Tensor, "B 1 28 28"]) -> Float32[Tensor, "B 10"]:
        return self.head(self.flat(self.features(x)))


class Tagger(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(5000, 64)
        self.norm = nn.LayerNorm(64)
        self.out = nn.Linear(64, 12)

    def forward(self, tok: Int64[Tensor, "B T"], y: Int64[Tensor, "B T"]) -> Tensor:
        h = self.norm(self.emb(tok))
        q, k = h[:, :, :32], h[:, :, 32:]
        scores = nr.nn.functional.softmax(nr.einsum("btd,bsd->bts", q, k), dim=-1)
        mixed = nr.cat([scores @ q, k], dim=-1)
        logits = self.out(mixed)
        first = logits[:, 0]
        both = nr.stack([first, logits[:, -1]], dim=1)
        del both
        return nr.nn.functional.cross_entropy(logits.transpose(1, 2), y)
