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


class ResidualBlock(nn.Module):
    """ResNet basic block with a strided 1x1 shortcut, written the usual way (``x``
    re-assigned at each step)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(16, 32, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 32, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(32)
        self.shortcut = nn.Sequential(nn.Conv2d(16, 32, 1, stride=2, bias=False),
                                      nn.BatchNorm2d(32))
        self.gn = nn.GroupNorm(8, 32)
        self.pool = nn.AvgPool2d(8)
        self.fc = nn.Linear(32, 10)

    def forward(self, x: Float32[Tensor, "B 16 16 16"]) -> Float32[Tensor, "B 10"]:
        out = nr.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = nr.relu(out + self.shortcut(x))
        out = self.gn(out)
        out = self.pool(out).flatten(1)
        return self.fc(out)


class Encoder(nn.Module):
    """A Transformer encoder: token embedding, two library encoder layers, and one block
    written out with heads, then a classifier on the first token."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(1000, 64)
        layer = nn.TransformerEncoderLayer(64, 4, dim_feedforward=128, batch_first=True)
        self.layers = nn.TransformerEncoder(layer, 2)
        self.attn = nn.MultiheadAttention(64, 4, batch_first=True)
        self.qkv = nn.Linear(64, 192)
        self.proj = nn.Linear(64, 64)
        self.norm = nn.LayerNorm(64)
        self.ff = nn.Sequential(nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 64))
        self.head = nn.Linear(64, 5)

    def forward(self, tok: Int64[Tensor, "B T"]) -> Float32[Tensor, "B 5"]:
        x = self.layers(self.emb(tok))
        a, _ = self.attn(x, x, x, need_weights=False)
        x = self.norm(x + a)
        qkv = self.qkv(x).reshape(x.shape[0], x.shape[1], 3, 4, 16).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = nn.functional.softmax(q @ k.transpose(-2, -1) / 4.0, dim=-1) @ v
        x = x + self.proj(att.transpose(1, 2).reshape(x.shape[0], x.shape[1], 64))
        x = x + self.ff(self.norm(x))
        return self.head(x[:, 0])


class LSTMTagger(nn.Module):
    """Embedding, a bidirectional two-layer LSTM, and per-token tag scores."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(1000, 32)
        self.lstm = nn.LSTM(32, 48, num_layers=2, batch_first=True, bidirectional=True)
        self.gru = nn.GRU(96, 24, batch_first=True)
        self.tags = nn.Linear(24, 9)

    def forward(self, tok: Int64[Tensor, "B T"], y: Int64[Tensor, "B T"]
                ) -> Float32[Tensor, "B T 9"]:
        out, (h, c) = self.lstm(self.emb(tok))
        out, _ = self.gru(out)
        scores = nn.functional.log_softmax(self.tags(out), dim=-1)
        nr.nn.functional.nll_loss(scores.transpose(1, 2), y)
        return scores


class Audio(nn.Module):
    """1-d convolutions down and transposed convolutions back up."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Sequential(nn.Conv1d(1, 8, 4, stride=2, padding=1), nn.BatchNorm1d(8),
                                  nn.ReLU(), nn.Conv1d(8, 16, 4, stride=2, padding=1))
        self.up = nn.Sequential(nn.ConvTranspose1d(16, 8, 4, stride=2, padding=1), nn.Tanh(),
                                nn.ConvTranspose1d(8, 1, 4, stride=2, padding=1))

    def forward(self, x: Float32[Tensor, "B 1 256"]) -> Float32[Tensor, "B 1 256"]:
        return self.up(self.down(x))
