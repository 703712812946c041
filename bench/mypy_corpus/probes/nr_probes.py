# ruff: noqa: F821, UP037  (one-name dim strings such as "B" read as forward references)
"""Feature probes: one construct per marked line, valid or not, for comparing what each checker
reads. A line marked ``# probe: <id> <valid|invalid>: <what>`` is flagged when the checker
reports an error on it; the PyTorch twin is ``torch_probes.py`` (same ids)."""
from __future__ import annotations

from typing import Final

import neurarust as nr
from neurarust import Tensor, nn
from neurarust.types import Float32, Int64, dims


def row_sums(x: Float32[Tensor, "B 4"]) -> Float32[Tensor, "B"]:
    return x.sum(1)


def call_with_ints(i: Int64[Tensor, "3 4"]) -> None:
    row_sums(i)  # probe: dtype invalid: int64 tensor passed where float32 is annotated


def merge_time(x: Float32[Tensor, "B T C"]) -> Float32[Tensor, "B*T C"]:
    return x.reshape(-1, x.shape[2])  # probe: product valid: [B*T, C] from reshape(-1, C)


def merge_wrong(x: Float32[Tensor, "B T C"]) -> Float32[Tensor, "B*T C"]:
    return x.reshape(x.shape[0], -1)  # probe: product-wrong invalid: [B, T*C] returned as [B*T, C] (right only if T == 1)


@dims("D H", assume="D % H == 0")
class Heads(nn.Module):
    def merge(self, x: Float32[Tensor, "B T H D//H"]) -> Float32[Tensor, "B T D"]:
        return x.reshape(x.shape[0], x.shape[1], -1)  # probe: class-dims valid: H*(D//H) is D when H divides D


class TwoLayers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(8, 16)
        self.b = nn.Linear(16, 4)

    def forward(self, x: Float32[Tensor, "B 8"]) -> Float32[Tensor, "B 4"]:
        h = self.a(x)
        h = self.b(h)
        return h  # probe: reassign valid: a variable re-assigned with a new shape


def numel(m: Float32[Tensor, "3 4"]) -> None:
    m.reshape(5, 2)  # probe: reshape-numel invalid: 12 elements reshaped to [5, 2]


def numel_symbolic(x: Float32[Tensor, "B T 192"]) -> None:
    x.reshape(x.shape[0], x.shape[1], 4, 4, 16)  # probe: reshape-numel-symbolic invalid: 192*B*T elements to 256*B*T


def reduce_dim(x: Float32[Tensor, "B 4"]) -> None:
    x.sum(3)  # probe: sum-dim invalid: dim 3 of a 2-d tensor


def softmax_dim(x: Float32[Tensor, "B 4"]) -> None:
    nn.functional.log_softmax(x, dim=2)  # probe: softmax-dim invalid: dim 2 of a 2-d tensor


def maybe_broadcast(a: Float32[Tensor, "N"], b: Float32[Tensor, "M"]) -> None:
    a + b  # probe: broadcast-unknown valid: runs whenever N == M or one is 1


def return_variable(x: Float32[Tensor, "B 4"]) -> Float32[Tensor, "B 5"]:
    h = x * 2
    return h  # probe: return-variable invalid: [B, 4] returned as [B, 5]


def concat(a: Float32[Tensor, "B 5"], b: Float32[Tensor, "B 3"]) -> None:
    nr.cat([a, b], dim=0)  # probe: cat invalid: sizes 5 and 3 outside the cat dim


def index(a: Float32[Tensor, "B 5"]) -> None:
    a[:, 5]  # probe: index invalid: index 5 of a size-5 dim


def matmul(a: Float32[Tensor, "B 5"], w: Float32[Tensor, "6 7"]) -> None:
    a @ w  # probe: matmul invalid: inner sizes 5 and 6


class Norms(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(63)
        self.bn = nn.BatchNorm2d(7)
        self.lstm = nn.LSTM(32, 48, batch_first=True)
        self.out = nn.Linear(47, 9)

    def forward(self, x: Float32[Tensor, "B 64"], y: Float32[Tensor, "B 8 4 4"],
                s: Float32[Tensor, "B T 32"]) -> None:
        self.norm(x)  # probe: layernorm invalid: LayerNorm(63) on 64 features
        self.bn(y)  # probe: batchnorm invalid: BatchNorm2d(7) on 8 channels
        out, _ = self.lstm(s)
        self.out(out)  # probe: lstm invalid: LSTM hidden 48 into Linear(47, 9)


HIDDEN: Final = 128


class Constants(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(784, HIDDEN)
        self.b = nn.Linear(100, 10)
        self.square = nn.Linear(16, 8)

    def forward(self, x: Float32[Tensor, "B 784"]) -> None:
        self.b(self.a(x))  # probe: final-constant invalid: Linear(784, HIDDEN=128) into Linear(100, 10)

    def loop(self, x: Float32[Tensor, "B 16"]) -> None:
        h = x
        for _ in range(2):
            h = self.square(h)  # probe: loop invalid: Linear(16, 8) applied twice


def size_variable(x: Float32[Tensor, "B 4 4"]) -> Float32[Tensor, "B 8"]:
    b = x.shape[0]
    return x.reshape(b, -1)  # probe: size-variable invalid: [B, 16] returned as [B, 8]


def creation(x: Float32[Tensor, "B 4"]) -> None:
    nr.zeros(x.shape[0], 5) + x  # probe: creation invalid: [B, 5] + [B, 4]
