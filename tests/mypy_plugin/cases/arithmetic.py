"""Elementwise arithmetic: broadcasting by the registry's rule."""
from neurarust import Tensor
from neurarust.types import Float32, Int64


def broadcast(x: Float32[Tensor, "B 1 5"], y: Float32[Tensor, "3 1"]) -> None:
    reveal_type(x + y)  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 3, 5]']]"
    reveal_type(x * 2.0)  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 1, 5]']]"
    reveal_type(1 - x)  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 1, 5]']]"


def symbolic(a: Float32[Tensor, "N"], b: Float32[Tensor, "M"]) -> None:
    a + b  # undecided (N == M or N == 1 or M == 1): left to the verifier, no error  # N: add: undecided: N == M or N == 1 or M == 1 (left to neurarust verify)
    a / a


def mismatch(a: Float32[Tensor, "B 3"], b: Float32[Tensor, "B 4"]) -> None:
    a - b  # E: sub: shapes are not broadcastable: a is [B, 3], b is [B, 4] (expected 3 == 4 or 3 == 1 or 4 == 1; hint: dimension -1 must be equal on both sides or 1 on one side)  [nr-shape]


def promotion(i: Int64[Tensor, "B"], f: Float32[Tensor, "B"]) -> None:
    reveal_type(i + f)  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B]']]"
    reveal_type(i / 2)  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B]']]"
    reveal_type(i < 3)  # N: Revealed type is "neurarust.tensor.Tensor[Literal['b8[B]']]"
