"""Sequence tagger: a token embedding (vocabulary 1000, width 32) joined with a case-feature
embedding (4 classes: lower, Capitalised, UPPER, other; width 8), a batch-first LSTM with 48
hidden units, and a linear layer to 9 tag scores per token."""
from __future__ import annotations

import neurarust as nr
from neurarust import Tensor, nn
from neurarust.types import Float32, Int64


class Tagger(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(1000, 32)
        self.case = nn.Embedding(4, 8)
        self.lstm = nn.LSTM(40, 48, batch_first=True)
        self.tags = nn.Linear(48, 9)

    def forward(self, tokens: Int64[Tensor, "B T"], case: Int64[Tensor, "B T"]
                ) -> Float32[Tensor, "B T 9"]:
        features = nr.cat([self.embed(tokens), self.case(case)], dim=-1)  # (B, T, 40)
        out, _ = self.lstm(features)
        return nn.functional.log_softmax(self.tags(out), dim=-1)
