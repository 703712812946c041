"""cat/stack over lists of shaped tensors, einsum with a literal equation, and indexing with
literal ints/slices/None/... through the registry's getitem rule."""
import neurarust as nr
from neurarust import Tensor
from neurarust.types import Float32, Int64


def joining(a: Float32[Tensor, "B 5"], b: Float32[Tensor, "B 3"], c: Float32[Tensor, "7 5"],
            n: Float32[Tensor, "N 5"], i: Int64[Tensor, "B 5"], dim: int) -> None:
    reveal_type(nr.cat([a, b], dim=1))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 8]']]"
    reveal_type(nr.cat((a, c)))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B+7, 5]']]"
    reveal_type(nr.cat([a, n]))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B+N, 5]']]"
    reveal_type(nr.cat([a, i]))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[2*B, 5]']]"
    reveal_type(nr.cat([a, b], dim))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[...]']]"
    nr.cat([a, b])  # E: cat: sizes of tensors must match except in dimension 0: expected size 5 but got size 3 for tensor 1 at dimension 1: a is [B, 5], b is [B, 3] (expected 3 == 5)  [nr-shape]
    nr.cat([a, b], dim=2)  # E: cat: dim out of range: a is [B, 5], b is [B, 3] (expected dim in [-2, 1] for a 2-d input, got 2)  [nr-shape]
    reveal_type(nr.stack([a, a], 1))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 2, 5]']]"
    reveal_type(nr.stack([a, a, a], dim=-1))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 5, 3]']]"
    nr.stack([a, b])  # E: stack: stack expects each tensor to be equal size, but got [B, 5] at entry 0 and [B, 3] at entry 1: a is [B, 5], b is [B, 3] (expected 3 == 5)  [nr-shape]
    nr.stack([a, c], dim=0)  # N: stack: undecided: 7 == B (left to neurarust verify)
    reveal_type(nr.stack([a, n]))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[2, B, 5]']]"  # N: stack: undecided: N == B (left to neurarust verify)


def einsums(a: Float32[Tensor, "B 5"], c: Float32[Tensor, "7 5"],
            q: Float32[Tensor, "B H T D"], k: Float32[Tensor, "B H S D"],
            eq: str) -> None:
    reveal_type(nr.einsum("ij,kj->ik", a, c))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 7]']]"
    reveal_type(nr.einsum("ij,kj", [a, c]))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 7]']]"
    reveal_type(nr.einsum("bhtd,bhsd->bhts", q, k))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, H, T, S]']]"
    reveal_type(nr.einsum("ii->i", c))  # E: einsum: a subscript repeated within one operand must have one size: c is [7, 5] (subscript 'i' of operand 0: 7 != 5)  [nr-shape]  # N: Revealed type is "neurarust.tensor.Tensor"
    reveal_type(nr.einsum(eq, a, c))  # N: Revealed type is "neurarust.tensor.Tensor"
    nr.einsum("ij,jk->ik", a, c)  # E: einsum: operands disagree on the size of a subscript: a is [B, 5], c is [7, 5] (subscript 'j': operand 0 has 5, operand 1 has 7; hint: sizes must be equal (or 1, which broadcasts))  [nr-shape]
    nr.einsum("ijk,kj->ik", a, c)  # E: einsum: an operand's number of dims does not match its subscripts: a is [B, 5], c is [7, 5] (operand 0 has 2 dims, subscripts 'ijk' name 3)  [nr-shape]


def indexing(a: Float32[Tensor, "B 5"], x: Float32[Tensor, "B T 8"], idx: Int64[Tensor, "K"],
             j: int) -> None:
    reveal_type(a[0])  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[5]']]"
    reveal_type(a[-1, 2])  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[]']]"
    reveal_type(a[:, 1:3])  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 2]']]"
    reveal_type(a[..., None])  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 5, 1]']]"
    reveal_type(x[:, -1])  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 8]']]"
    reveal_type(x[..., 2:])  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, T, 6]']]"
    reveal_type(x[None, :, 0, ::2])  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[1, B, 4]']]"
    reveal_type(x[:, 1:100])  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, min(100,T)-1, 8]']]"
    reveal_type(a[idx])  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[...]']]"
    reveal_type(a[j])  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[...]']]"
    reveal_type(a[:, :j])  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[...]']]"
    a[:, 5]  # E: getitem: index 5 is out of bounds for dimension 1 with size 5: a is [B, 5] (expected 5 < 5)  [nr-shape]
    a[:, -6]  # E: getitem: index -6 is out of bounds for dimension 1 with size 5: a is [B, 5] (expected 6 <= 5)  [nr-shape]
    a[0, 0, 0]  # E: getitem: too many indices for tensor of dimension 2: a is [B, 5] (3 dims indexed by [0, 0, 0])  [nr-shape]
    x[..., 0, ...]  # E: getitem: an index can only have a single ellipsis ('...'): x is [B, T, 8]  [nr-shape]
    a[:, ::-1]  # E: getitem: step must be greater than zero, got -1: a is [B, 5]  [nr-shape]
