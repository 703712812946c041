"""Pre-norm Transformer encoder block, width 64, 4 heads of 16, attention written out with
matmul, softmax, reshape and transpose."""
from __future__ import annotations

from neurarust import Tensor, nn
from neurarust.types import Float32


class EncoderBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(64)
        self.qkv = nn.Linear(64, 192)
        self.proj = nn.Linear(64, 64)
        self.norm2 = nn.LayerNorm(64)
        self.ff = nn.Sequential(nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 64))

    def forward(self, x: Float32[Tensor, "B T 64"]) -> Float32[Tensor, "B T 64"]:
        qkv = self.qkv(self.norm1(x)).reshape(x.shape[0], x.shape[1], 3, 4, 16)
        qkv = qkv.permute(2, 0, 3, 1, 4)  # (3, B, heads, T, 16)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = q @ k.transpose(-2, -1) / 4.0  # (B, heads, T, T)
        att = nn.functional.softmax(scores, dim=-1) @ v  # (B, heads, T, 16)
        merged = att.transpose(1, 2).reshape(x.shape[0], x.shape[1], 64)
        h = x + self.proj(merged)
        return h + self.ff(self.norm2(h))
