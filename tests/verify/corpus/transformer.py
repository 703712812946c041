"""A 12-layer Transformer encoder (``nn.TransformerEncoder``) with symbolic batch B and length T,
and attention models with planted shape bugs: a reshape into blocks of 8 steps (needs
``T % 8 == 0``), a manual head split of a width D by 8 heads (needs ``D % 8 == 0``), and a
factory ``make(D, H)`` whose ``nn.MultiheadAttention(D, H)`` needs ``D % H == 0``."""

from __future__ import annotations

import neurarust as nr
from neurarust import nn
from neurarust.nn import functional as F


class Encoder12(nn.Module):
    """``(B, T, 256) -> (B, T, 256)``: 12 pre-built encoder layers, 8 heads, width 1024."""

    def __init__(self, d_model: int = 256, heads: int = 8, layers: int = 12) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers)

    def forward(self, x: nr.Tensor) -> nr.Tensor:
        return self.encoder(x)


class BlockPool(nn.Module):
    """Pools each block of 8 time steps: correct only when T % 8 == 0."""

    def forward(self, x: nr.Tensor) -> nr.Tensor:
        b, t, d = x.shape
        return x.reshape(b, t // 8, 8, d).mean(2)  # (B, T//8, D)


class HeadSplit(nn.Module):
    """Splits the width into 8 heads by hand: correct only when D % 8 == 0."""

    def forward(self, x: nr.Tensor) -> nr.Tensor:
        b, t, d = x.shape
        q = x.reshape(b, t, 8, d // 8).transpose(1, 2)  # (B, 8, T, D//8)
        scores = F.softmax(q @ q.transpose(-2, -1), dim=-1)  # (B, 8, T, T)
        return (scores @ q).transpose(1, 2).reshape(b, t, d)


class SelfAttention(nn.Module):
    """Self-attention of width D with H heads, built from symbolic config."""

    def __init__(self, D: int, H: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(D, H, batch_first=True)

    def forward(self, x: nr.Tensor) -> nr.Tensor:
        return self.attn(x, x, x, need_weights=False)[0]


def make(D: int, H: int) -> nn.Module:
    """A factory: ``neurarust verify corpus/transformer.py:make`` with symbolic D and H."""
    return SelfAttention(D, H)


CASES = [
    {"name": "encoder12", "target": "Encoder12", "inputs": {"x": "f32[B, T, 256]"},
     "assume": ["1 <= B <= 4096", "1 <= T <= 2048"], "expect": "proven"},
    {"name": "block_pool (bug)", "target": "BlockPool", "inputs": {"x": "f32[B, T, 16]"},
     "assume": ["1 <= T <= 1024"], "expect": "refuted", "error": "reshape"},
    {"name": "block_pool, T % 8 == 0", "target": "BlockPool", "inputs": {"x": "f32[B, T, 16]"},
     "assume": ["1 <= T <= 1024", "T % 8 == 0"], "expect": "proven"},
    {"name": "head_split (bug)", "target": "HeadSplit", "inputs": {"x": "f32[B, T, D]"},
     "assume": ["8 <= D <= 1024"], "expect": "refuted", "error": "reshape"},
    {"name": "head_split, D % 8 == 0", "target": "HeadSplit", "inputs": {"x": "f32[B, T, D]"},
     "assume": ["8 <= D <= 1024", "D % 8 == 0"], "expect": "proven"},
    {"name": "make(D, H) (bug: D % H)", "target": "make", "inputs": {"x": "f32[B, T, D]"},
     "config": {"D": "D", "H": "H"},
     "assume": ["H == 4 or H == 8", "D == 64 or D == 100"], "expect": "refuted",
     "error": "MultiheadAttention: embed_dim must be divisible by num_heads"},
    {"name": "make(D, H), D % H == 0", "target": "make", "inputs": {"x": "f32[B, T, D]"},
     "config": {"D": "D", "H": "H"},
     "assume": ["H == 4 or H == 8", "D == 64 or D == 96", "D % H == 0"], "expect": "proven"},
]
