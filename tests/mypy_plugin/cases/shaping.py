"""reshape/view (with -1), transpose/permute/t, flatten, (un)squeeze, sum/mean."""
import neurarust as nr
from neurarust import Tensor
from neurarust.types import Float32


def shapes(x: Float32[Tensor, "B T C"], m: Float32[Tensor, "3 4"]) -> None:
    reveal_type(x.reshape(-1, x.shape[2]))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B*T, C]']]"
    reveal_type(x.view(x.size(0), -1))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, C*T]']]"
    reveal_type(m.reshape(2, -1))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[2, 6]']]"
    reveal_type(x.transpose(0, 1))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[T, B, C]']]"
    reveal_type(x.permute(2, 0, 1))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[C, B, T]']]"
    reveal_type(m.t())  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[4, 3]']]"
    reveal_type(x.flatten(1))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, C*T]']]"
    reveal_type(x.unsqueeze(1))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 1, T, C]']]"
    reveal_type(x.unsqueeze(1).squeeze(1))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, T, C]']]"
    reveal_type(x.sum(1))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, C]']]"
    reveal_type(x.mean(-1, keepdim=True))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, T, 1]']]"
    reveal_type(x.sum())  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[]']]"


def errors(x: Float32[Tensor, "B 12"], m: Float32[Tensor, "3 4"]) -> None:
    m.reshape(5, 2)  # E: reshape: number of elements must not change: m is [3, 4] (expected 12 == 10; hint: shape [5, 2] is invalid for input of size 12)  [nr-shape]
    m.view(5, -1)  # E: view: number of elements must be divisible by the known sizes: m is [3, 4] (expected 2 == 0; hint: shape [5, -1] is invalid for input of size 12)  [nr-shape]
    x.transpose(0, 2)  # E: transpose: dim out of range: x is [B, 12] (expected dim in [-2, 1] for a 2-d input, got 2)  [nr-shape]
    x.sum(3)  # E: sum: dim out of range: x is [B, 12] (expected dim in [-2, 1] for a 2-d input, got 3)  [nr-shape]


def undecided(x: Float32[Tensor, "B T"], n: int) -> None:
    x.reshape(-1, 128)  # needs B*T % 128 == 0: the verifier's job, not an error  # N: reshape: undecided: B*T % 128 == 0 (left to neurarust verify)
    reveal_type(x.reshape(n, -1))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[...]']]"


def more_errors(x: Float32[Tensor, "B T C"]) -> None:
    x.permute(0, 1)  # E: permute: number of dims in the permutation does not match the input: x is [B, T, C] (input has 3 dims, got permutation [0, 1])  [nr-shape]
    x.permute(0, 1, 3)  # E: permute: dim out of range: x is [B, T, C] (expected dim in [-3, 2] for a 3-d input, got 3)  [nr-shape]
    x.unsqueeze(4)  # E: unsqueeze: dim out of range: x is [B, T, C] (expected dim in [-4, 3] for a 4-d input, got 4)  [nr-shape]
    x.squeeze(3)  # E: squeeze: dim out of range: x is [B, T, C] (expected dim in [-3, 2] for a 3-d input, got 3)  [nr-shape]
    x.t()  # E: t: expects a tensor with <= 2 dims, got x of shape [B, T, C]  [nr-shape]
    x.flatten(2, 1)  # E: flatten: start_dim cannot come after end_dim: x is [B, T, C] (start_dim=2, end_dim=1)  [nr-shape]


HIDDEN = 16


def size_variables(x: Float32[Tensor, "B 4 4"]) -> Float32[Tensor, "B 8"]:
    """Sizes read into local names (and module constants) stand for their dims."""
    b = x.shape[0]
    n, h, w = x.shape
    reveal_type(x.reshape(n, h * w))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 16]']]"
    reveal_type(x.reshape(b, HIDDEN))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 16]']]"
    return x.reshape(b, -1)  # E: return value has shape [B, 16], expected [B, 8] (dim 1 is 16, expected 8)  [nr-shape]


def creation(x: Float32[Tensor, "B 4"]) -> None:
    reveal_type(nr.zeros(x.shape[0], 5))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 5]']]"
    nr.zeros(x.shape[0], 5) + x  # E: add: shapes are not broadcastable: input is [B, 5], x is [B, 4] (expected 5 == 4 or 5 == 1 or 4 == 1; hint: dimension -1 must be equal on both sides or 1 on one side)  [nr-shape]
    reveal_type(nr.ones((3, 4), dtype=nr.int64))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['i64[3, 4]']]"
    reveal_type(nr.full((2, x.shape[1]), 1))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['i64[2, 4]']]"
    reveal_type(nr.zeros_like(x))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 4]']]"
    reveal_type(nr.randn(2, 3, dtype=nr.float64))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f64[2, 3]']]"
    reveal_type(nr.zeros(x.shape[0], HIDDEN) @ nr.ones(HIDDEN, 2))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 2]']]"
