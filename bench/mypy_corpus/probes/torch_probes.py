# ruff: noqa: F821, UP037  (dims inside Shaped strings are declared by @shape_vars)
"""Feature probes, the PyTorch twin of ``nr_probes.py`` (same ids), annotated for Pyrefly."""
from __future__ import annotations

from typing import Final

import torch
from shape_extensions import Shaped, shape_vars
from torch import Tensor, nn


@shape_vars("B")
def row_sums(x: Shaped[Tensor, "[B, 4]"]) -> Shaped[Tensor, "[B]"]:
    return x.sum(1)


def call_with_ints(i: Shaped[Tensor, "[3, 4]"]) -> None:
    row_sums(i.long())  # probe: dtype invalid: int64 tensor passed where float32 is meant


@shape_vars("B, T, C")
def merge_time(x: Shaped[Tensor, "[B, T, C]"]) -> Shaped[Tensor, "[B*T, C]"]:
    return x.reshape(-1, x.shape[2])  # probe: product valid: [B*T, C] from reshape(-1, C)


@shape_vars("B, T, C")
def merge_wrong(x: Shaped[Tensor, "[B, T, C]"]) -> Shaped[Tensor, "[B*T, C]"]:
    return x.reshape(x.shape[0], -1)  # probe: product-wrong invalid: [B, T*C] returned as [B*T, C] (right only if T == 1)


@shape_vars("D, H")
class Heads(nn.Module):
    @shape_vars("B, T")
    def merge(self, x: Shaped[Tensor, "[B, T, H, D // H]"]) -> Shaped[Tensor, "[B, T, D]"]:
        return x.reshape(x.shape[0], x.shape[1], -1)  # probe: class-dims valid: H*(D//H) is D when H divides D


class TwoLayers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(8, 16)
        self.b = nn.Linear(16, 4)

    @shape_vars("B")
    def forward(self, x: Shaped[Tensor, "[B, 8]"]) -> Shaped[Tensor, "[B, 4]"]:
        h = self.a(x)
        h = self.b(h)
        return h  # probe: reassign valid: a variable re-assigned with a new shape


def numel(m: Shaped[Tensor, "[3, 4]"]) -> None:
    m.reshape(5, 2)  # probe: reshape-numel invalid: 12 elements reshaped to [5, 2]


@shape_vars("B, T")
def numel_symbolic(x: Shaped[Tensor, "[B, T, 192]"]) -> None:
    x.reshape(x.shape[0], x.shape[1], 4, 4, 16)  # probe: reshape-numel-symbolic invalid: 192*B*T elements to 256*B*T


@shape_vars("B")
def reduce_dim(x: Shaped[Tensor, "[B, 4]"]) -> None:
    x.sum(3)  # probe: sum-dim invalid: dim 3 of a 2-d tensor


@shape_vars("B")
def softmax_dim(x: Shaped[Tensor, "[B, 4]"]) -> None:
    nn.functional.log_softmax(x, dim=2)  # probe: softmax-dim invalid: dim 2 of a 2-d tensor


@shape_vars("N, M")
def maybe_broadcast(a: Shaped[Tensor, "[N]"], b: Shaped[Tensor, "[M]"]) -> None:
    a + b  # probe: broadcast-unknown valid: runs whenever N == M or one is 1


@shape_vars("B")
def return_variable(x: Shaped[Tensor, "[B, 4]"]) -> Shaped[Tensor, "[B, 5]"]:
    h = x * 2
    return h  # probe: return-variable invalid: [B, 4] returned as [B, 5]


@shape_vars("B")
def concat(a: Shaped[Tensor, "[B, 5]"], b: Shaped[Tensor, "[B, 3]"]) -> None:
    torch.cat([a, b], dim=0)  # probe: cat invalid: sizes 5 and 3 outside the cat dim


@shape_vars("B")
def index(a: Shaped[Tensor, "[B, 5]"]) -> None:
    a[:, 5]  # probe: index invalid: index 5 of a size-5 dim


@shape_vars("B")
def matmul(a: Shaped[Tensor, "[B, 5]"], w: Shaped[Tensor, "[6, 7]"]) -> None:
    a @ w  # probe: matmul invalid: inner sizes 5 and 6


class Norms(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(63)
        self.bn = nn.BatchNorm2d(7)
        self.lstm = nn.LSTM(32, 48, batch_first=True)
        self.out = nn.Linear(47, 9)

    @shape_vars("B, T")
    def forward(self, x: Shaped[Tensor, "[B, 64]"], y: Shaped[Tensor, "[B, 8, 4, 4]"],
                s: Shaped[Tensor, "[B, T, 32]"]) -> None:
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

    @shape_vars("B")
    def forward(self, x: Shaped[Tensor, "[B, 784]"]) -> None:
        self.b(self.a(x))  # probe: final-constant invalid: Linear(784, HIDDEN=128) into Linear(100, 10)

    @shape_vars("B")
    def loop(self, x: Shaped[Tensor, "[B, 16]"]) -> None:
        h = x
        for _ in range(2):
            h = self.square(h)  # probe: loop invalid: Linear(16, 8) applied twice


@shape_vars("B")
def size_variable(x: Shaped[Tensor, "[B, 4, 4]"]) -> Shaped[Tensor, "[B, 8]"]:
    b = x.shape[0]
    return x.reshape(b, -1)  # probe: size-variable invalid: [B, 16] returned as [B, 8]


@shape_vars("B")
def creation(x: Shaped[Tensor, "[B, 4]"]) -> None:
    torch.zeros(x.shape[0], 5) + x  # probe: creation invalid: [B, 5] + [B, 4]
