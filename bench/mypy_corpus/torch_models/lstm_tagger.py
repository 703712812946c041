# ruff: noqa: F821, UP037  (dims inside Shaped strings are declared by @shape_vars)
"""Sequence tagger: a token embedding (vocabulary 1000, width 32) joined with a case-feature
embedding (4 classes: lower, Capitalised, UPPER, other; width 8), a batch-first LSTM with 48
hidden units, and a linear layer to 9 tag scores per token.

The PyTorch version, annotated for Pyrefly's tensor-shape checking."""
from __future__ import annotations

import torch
from shape_extensions import Shaped, shape_vars
from torch import Tensor, nn


class Tagger(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(1000, 32)
        self.case = nn.Embedding(4, 8)
        self.lstm = nn.LSTM(40, 48, batch_first=True)
        self.tags = nn.Linear(48, 9)

    @shape_vars("B, T")
    def forward(self, tokens: Shaped[Tensor, "[B, T]"], case: Shaped[Tensor, "[B, T]"]
                ) -> Shaped[Tensor, "[B, T, 9]"]:
        features = torch.cat([self.embed(tokens), self.case(case)], dim=-1)  # (B, T, 40)
        out, _ = self.lstm(features)
        return nn.functional.log_softmax(self.tags(out), dim=-1)
