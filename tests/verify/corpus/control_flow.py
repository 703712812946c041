"""Shape-dependent Python control flow: branches on a size, ``min`` of a size, slicing a
table of 512 positions by a symbolic length, and a loop over the time steps; planted bugs: a
branch whose else side is wrong, and a slice past the table's end."""

from __future__ import annotations

import neurarust as nr
from neurarust import nn

MAX_LEN = 512


class Truncate(nn.Module):
    """Crops sequences longer than the position table, then adds positions: correct."""

    def __init__(self) -> None:
        super().__init__()
        self.pos = nn.Parameter(nr.zeros(MAX_LEN, 16))

    def forward(self, x: nr.Tensor) -> nr.Tensor:  # (B, T, 16)
        if x.shape[1] > MAX_LEN:
            x = x[:, :MAX_LEN]
        return x + self.pos[: x.shape[1]]


class ElseBug(nn.Module):
    """Bug: the else side adds the whole table, right only when T == 512."""

    def __init__(self) -> None:
        super().__init__()
        self.pos = nn.Parameter(nr.zeros(MAX_LEN, 16))

    def forward(self, x: nr.Tensor) -> nr.Tensor:
        if x.shape[1] >= MAX_LEN:
            return x[:, :MAX_LEN] + self.pos
        else:
            return x + self.pos  # should be self.pos[: x.shape[1]]


class TableEnd(nn.Module):
    """Slices the table by the length: past its end when T > 512 (a bug unless T <= 512)."""

    def __init__(self) -> None:
        super().__init__()
        self.pos = nn.Parameter(nr.zeros(MAX_LEN, 16))

    def forward(self, x: nr.Tensor) -> nr.Tensor:
        return x + self.pos[: x.shape[1]]


class Window(nn.Module):
    """Keeps at most 256 steps (``min`` of a size), then projects: correct."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(16, 8)

    def forward(self, x: nr.Tensor) -> nr.Tensor:
        n = min(x.shape[1], 256)
        return self.proj(x[:, :n])  # (B, min(T, 256), 8)


class Recurrent(nn.Module):
    """An Elman RNN written as a Python loop over the time steps (``range(T)``)."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(16, 32)
        self.rec = nn.Linear(32, 32)

    def forward(self, x: nr.Tensor) -> nr.Tensor:  # (B, T, 16) -> (B, 32)
        h = self.inp(x[:, 0]) * 0.0
        for t in range(x.shape[1]):
            h = nr.tanh(self.inp(x[:, t]) + self.rec(h))
        return h


CASES = [
    {"name": "truncate then add positions", "target": "Truncate",
     "inputs": {"x": "f32[B, T, 16]"}, "assume": ["1 <= T <= 4096"], "expect": "proven",
     "paths": 2},
    {"name": "branch, else side wrong (bug)", "target": "ElseBug",
     "inputs": {"x": "f32[B, T, 16]"}, "assume": ["1 <= T <= 4096"], "expect": "refuted",
     "error": "add: shapes are not broadcastable", "paths": 2},
    {"name": "slice past the table's end (bug)", "target": "TableEnd",
     "inputs": {"x": "f32[B, T, 16]"}, "assume": ["1 <= T <= 1024"], "expect": "refuted",
     "error": "add: shapes are not broadcastable"},
    {"name": "slice within the table", "target": "TableEnd", "inputs": {"x": "f32[B, T, 16]"},
     "assume": ["1 <= T <= 512"], "expect": "proven"},
    {"name": "min(T, 256) window", "target": "Window", "inputs": {"x": "f32[B, T, 16]"},
     "assume": ["1 <= T <= 4096"], "expect": "proven", "paths": 2},
    {"name": "loop over T <= 6 (unrolled)", "target": "Recurrent",
     "inputs": {"x": "f32[B, T, 16]"}, "assume": ["1 <= T <= 6"], "expect": "proven",
     "paths": 6},
    {"name": "loop over T <= 1000 (not bounded enough)", "target": "Recurrent",
     "inputs": {"x": "f32[B, T, 16]"}, "assume": ["1 <= T <= 1000"], "expect": "unknown"},
]
