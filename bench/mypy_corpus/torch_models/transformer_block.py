# ruff: noqa: F821, UP037  (dims inside Shaped strings are declared by @shape_vars)
"""Pre-norm Transformer encoder block, width 64, 4 heads of 16, attention written out with
matmul, softmax, reshape and transpose.

The PyTorch version, annotated for Pyrefly's tensor-shape checking."""
from __future__ import annotations

from shape_extensions import Shaped, shape_vars
from torch import Tensor, nn


class EncoderBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(64)
        self.qkv = nn.Linear(64, 192)
        self.proj = nn.Linear(64, 64)
        self.norm2 = nn.LayerNorm(64)
        self.ff = nn.Sequential(nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 64))

    @shape_vars("B, T")
    def forward(self, x: Shaped[Tensor, "[B, T, 64]"]) -> Shaped[Tensor, "[B, T, 64]"]:
        qkv = self.qkv(self.norm1(x)).reshape(x.shape[0], x.shape[1], 3, 4, 16)
        qkv = qkv.permute(2, 0, 3, 1, 4)  # (3, B, heads, T, 16)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = q @ k.transpose(-2, -1) / 4.0  # (B, heads, T, T)
        att = nn.functional.softmax(scores, dim=-1) @ v  # (B, heads, T, 16)
        merged = att.transpose(1, 2).reshape(x.shape[0], x.shape[1], 64)
        h = x + self.proj(merged)
        return h + self.ff(self.norm2(h))
