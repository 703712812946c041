"""Matrix products: the matmul rule's own requirement is the error headline."""
import neurarust as nr
from neurarust import Tensor
from neurarust.types import Float32, Int64


def good(x: Float32[Tensor, "B 784"], w: Float32[Tensor, "784 10"]) -> None:
    reveal_type(x @ w)  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 10]']]"
    reveal_type(nr.matmul(x, w))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 10]']]"
    reveal_type(x.matmul(w))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 10]']]"


def batched(q: Float32[Tensor, "B H T D"], k: Float32[Tensor, "B H T D"]) -> None:
    reveal_type(q @ k.transpose(-2, -1))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, H, T, T]']]"


def bad(x: Float32[Tensor, "B 784"], w: Float32[Tensor, "128 10"]) -> None:
    x @ w  # E: matmul: inner dimensions must match: x is [B, 784], w is [128, 10] (expected input.shape[-1] == other.shape[-2], got 784 != 128; hint: is other transposed? other.mT has shape [10, 128])  [nr-shape]


def unknown_inner(x: Float32[Tensor, "B K"], w: Float32[Tensor, "J 10"]) -> None:
    reveal_type(x @ w)  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 10]']]"  # N: matmul: undecided: K == J (left to neurarust verify)


def mixed_dtypes(x: Float32[Tensor, "B 4"], w: Int64[Tensor, "4 2"]) -> None:
    x @ w  # E: matmul: expected all operands to have the same dtype; convert one with .to(dtype) (got float32, int64)  [nr-dtype]
