"""nn.Linear configured in __init__ and called in forward; user functions bind dims."""
import neurarust as nr
from neurarust import Tensor, nn
from neurarust.types import Bool, Float32, Int64


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(128, 10)
        self.bad = nn.Linear(100, 10)

    def forward(self, x: Float32[Tensor, "B 784"]) -> Float32[Tensor, "B 10"]:
        h = self.act(self.fc1(x))
        reveal_type(h)  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 128]']]"
        self.bad(h)  # E: self.bad: inner dimensions must match: h is [B, 128], self.bad.weight.T is [100, 10] (expected input.shape[-1] == other.shape[-2], got 128 != 100; hint: is other transposed? other.mT has shape [10, 100])  [nr-shape]
        return self.fc2(h)


class Wrong(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 128)

    def forward(self, x: Float32[Tensor, "B 784"]) -> Float32[Tensor, "B 10"]:
        return self.fc(x)  # E: return value has shape [B, 128], expected [B, 10] (dim 1 is 128, expected 10)  [nr-shape]


def masked(x: Float32[Tensor, "B T"], mask: Bool[Tensor, "B T"]) -> Float32[Tensor, "B"]:
    return (x * mask).sum(1)


def use(x: Float32[Tensor, "32 10"], m: Bool[Tensor, "16 10"], i: Int64[Tensor, "32 10"],
        net: MLP, img: Float32[Tensor, "N 784"]) -> None:
    masked(x, m)  # E: masked: argument mask has shape [16, 10], expected [B, T] (B was 32 from x, got 16 in mask)  [nr-shape]
    masked(i, m)  # E: masked: argument x has dtype int64, expected float32  [nr-dtype]
    reveal_type(masked(x, x > 0))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[32]']]"
    reveal_type(net(img))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[N, 10]']]"
    reveal_type(nr.relu(img))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[N, 784]']]"
