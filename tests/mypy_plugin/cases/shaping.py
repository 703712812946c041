"""reshape/view (with -1), transpose/permute/t, flatten, (un)squeeze, sum/mean."""
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
