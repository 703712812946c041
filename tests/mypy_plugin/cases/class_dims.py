"""Class-wide dims and facts: @dims("D H", assume="D % H == 0")."""
from neurarust import Tensor, nn
from neurarust.types import Float32, dims


@dims("D H", assume="D % H == 0")
class Heads(nn.Module):
    def __init__(self, heads: int) -> None:
        super().__init__()
        self.heads = heads

    def split(self, x: Float32[Tensor, "B T D"]) -> Float32[Tensor, "B T H D//H"]:
        return x.reshape(x.shape[0], x.shape[1], self.heads, -1)  # H is not literal: unknown

    def merge(self, x: Float32[Tensor, "B T H D//H"], y: Float32[Tensor, "B T D"]
              ) -> Float32[Tensor, "B T D"]:
        reveal_type(x.reshape(y.shape[0], y.shape[1], y.shape[2]))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, T, D]']]"
        return x.reshape(x.shape[0], x.shape[1], -1)

    def forward(self, x: Float32[Tensor, "B T D"]) -> Tensor:
        # H and D are the class's: the same symbols here as in split and merge.
        reveal_type(self.split(x))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, T, H, D//H]']]"
        reveal_type(self.merge(self.split(x), x))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, T, D]']]"
        self.merge(x, x)  # E: Heads.merge: argument x has shape [B, T, D], expected [B, T, H, D//H] (3 dims, expected 4)  [nr-shape]
        return self.split(x).sum(4)  # E: sum: dim out of range: input is [B, T, H, D//H] (expected dim in [-4, 3] for a 4-d input, got 4)  [nr-shape]


class NoFacts(nn.Module):
    """The same code without the fact: each step is left to the verifier, with a note."""

    def merge(self, x: Float32[Tensor, "B T H D//H"], y: Float32[Tensor, "B T D"]
              ) -> Float32[Tensor, "B T D"]:
        x.reshape(y.shape[0], y.shape[1], y.shape[2])  # N: reshape: undecided: B*H*T*(D//H) == B*D*T (left to neurarust verify)
        return x.reshape(x.shape[0], x.shape[1], -1)  # N: return value: undecided: D == H*(D//H) (left to neurarust verify)

    def split(self, x: Float32[Tensor, "B T D"]) -> Float32[Tensor, "B T H D//H"]:
        return x.reshape(x.shape[0], x.shape[1], 4, -1)  # N: reshape: undecided: B*T*(D % 4) == 0 (left to neurarust verify)  # N: return value: undecided: H == 4 (left to neurarust verify)  # N: return value: undecided: D//H == D//4 (left to neurarust verify)

    def forward(self, x: Float32[Tensor, "B T D"]) -> None:
        reveal_type(self.split(x))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[...]']]"


@dims("D", assume="D %% 2")  # E: bad assumption 'D %% 2' in 'D %% 2': expected a comparison such as 'D % H == 0' or 'T >= 1'  [nr-shape]
class Bad:
    pass


@dims("D H", assume=["D % H == 0", "H >= 2"])
class Wrong(nn.Module):
    def forward(self, x: Float32[Tensor, "B T H D//H"]) -> Float32[Tensor, "B T D"]:
        return x.reshape(x.shape[0], -1)  # E: return value has shape [B, H*T*(D//H)], expected [B, T, D] (2 dims, expected 3)  [nr-shape]


@dims("D")
class Block(nn.Module):
    """Class dims bind per instance, as at run time: the first call of any method binds D."""

    def forward(self, x: Float32[Tensor, "B T D"]) -> Float32[Tensor, "B T D"]:
        return x

    def project(self, x: Float32[Tensor, "B D"]) -> Float32[Tensor, "B D"]:
        return x


def per_instance(a: Float32[Tensor, "B T 64"], b: Float32[Tensor, "B T 32"],
                 c: Float32[Tensor, "N 32"]) -> None:
    net, other = Block(), Block()
    net(a)
    other(b)
    other.project(c)
    net.project(c)  # E: Block.project: argument x has shape [N, 32], expected [B, D] (D was 64 from x in an earlier net(...) call, got 32 in x)  [nr-shape]
    net(b)  # E: net: argument x has shape [B, T, 32], expected [B, T, D] (D was 64 from x in an earlier net(...) call, got 32 in x)  [nr-shape]


class Outer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = Block()

    def forward(self, a: Float32[Tensor, "B T 64"]) -> None:
        self.block(a)

    def later(self, b: Float32[Tensor, "B T 32"]) -> None:
        self.block(b)  # E: self.block: argument x has shape [B, T, 32], expected [B, T, D] (D was 64 from x in an earlier self.block(...) call, got 32 in x)  [nr-shape]
