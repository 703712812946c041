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


class Chains(nn.Module):
    """A Sequential whose widths provably do not chain is reported where it is built, once;
    its calls then stop before the broken layer."""

    def __init__(self) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(64, 10))  # E: Sequential[2]: inner dimensions must match: Sequential[1](...) is [N, 128], Sequential[2].weight.T is [64, 10] (expected input.shape[-1] == other.shape[-2], got 128 != 64; hint: is other transposed? other.mT has shape [10, 64])  [nr-shape]
        self.cnn = nn.Sequential(nn.Conv2d(1, 16, 3), nn.ReLU(), nn.Conv2d(32, 8, 3))  # symbolic sizes: at the call

    def forward(self, x: Float32[Tensor, "B 784"], y: Float32[Tensor, "B 1 28 28"]) -> None:
        self.mlp(x)
        self.mlp(x)
        self.cnn(y)  # E: self.cnn[2]: input channels must match the weight: self.cnn[1](...) is [B, 16, 26, 26], self.cnn[2].weight is [8, 32, 3, 3], self.cnn[2].bias is [8] (expected in_channels == weight.shape[1] * groups, got 16 != 32 * 1; hint: weight is (out_channels, in_channels / groups, *kernel_size))  [nr-shape]
        self.mlp(y)  # E: self.mlp[0]: inner dimensions must match: y is [B, 1, 28, 28], self.mlp[0].weight.T is [784, 128] (expected input.shape[-1] == other.shape[-2], got 28 != 784; hint: is other transposed? other.mT has shape [128, 784])  [nr-shape]
