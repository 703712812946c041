"""Every ``return`` is checked against a shaped return annotation: call results, but also
local variables, parameters, attributes and returns nested in branches and inner functions."""
import neurarust as nr
from neurarust import Tensor, nn
from neurarust.types import Float32, Int64, dims


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(784, 128)

    def forward(self, x: Float32[Tensor, "B 784"]) -> Float32[Tensor, "B 10"]:
        h = self.fc(x)
        return h  # E: return value has shape [B, 128], expected [B, 10] (dim 1 is 128, expected 10)  [nr-shape]


def same(x: Float32[Tensor, "B 784"]) -> Float32[Tensor, "B 10"]:
    return x  # E: return value has shape [B, 784], expected [B, 10] (dim 1 is 784, expected 10)  [nr-shape]


def rebound(x: Float32[Tensor, "B 784"], w: Float32[Tensor, "784 10"]) -> Float32[Tensor, "B 10"]:
    h = x
    h = h @ w
    h @ w  # E: matmul: inner dimensions must match: h is [B, 10], w is [784, 10] (expected input.shape[-1] == other.shape[-2], got 10 != 784; hint: is other transposed? other.mT has shape [10, 784])  [nr-shape]
    return h


def branches(x: Float32[Tensor, "B 4"], flag: bool) -> Float32[Tensor, "B"]:
    if flag:
        y = x.sum(1)
        return y
    z = x.sum(0)
    return z  # N: return value: undecided: B == 4 (left to neurarust verify)


def dtype(x: Int64[Tensor, "B"]) -> Float32[Tensor, "B"]:
    y = x
    return y  # E: return value has dtype int64, expected float32  [nr-dtype]


def outer(x: Float32[Tensor, "B 3"]) -> None:
    def inner(y: Float32[Tensor, "N 3"]) -> Float32[Tensor, "N"]:
        s = y.sum(0)
        return s  # N: return value: undecided: N == 3 (left to neurarust verify)

    inner(x)


def unknown(x: Tensor) -> Float32[Tensor, "B 10"]:
    y = nr.relu(x)
    return y  # an unshaped tensor: nothing to check


@dims("D H", assume="D % H == 0")
class Heads(nn.Module):
    def merge(self, x: Float32[Tensor, "B T H D//H"]) -> Float32[Tensor, "B T D"]:
        y = x.reshape(x.shape[0], x.shape[1], -1)
        return y  # D == H*(D//H) holds under the class's fact: no note


def broadcast(a: Float32[Tensor, "N"], b: Float32[Tensor, "M"]) -> Float32[Tensor, "N"]:
    c = a + b  # N: add: undecided: N == M or N == 1 or M == 1 (left to neurarust verify)
    return c


class Reassigned(nn.Module):
    """mypy keeps a name's first type; the plugin reads the assignment that reaches a use."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.fc1 = nn.Linear(8 * 28 * 28, 256)
        self.fc2 = nn.Linear(256, 128)
        self.fc3 = nn.Linear(128, 10)

    def forward(self, x: Float32[Tensor, "B 1 28 28"]) -> Float32[Tensor, "B 10"]:
        x = self.conv(x)
        h = nr.relu(self.fc1(x.flatten(1)))
        h = nr.relu(self.fc2(h))
        h = self.fc3(h)
        return h

    def short(self, x: Float32[Tensor, "B 1 28 28"]) -> Float32[Tensor, "B 10"]:
        x = self.conv(x)
        h = nr.relu(self.fc1(x.flatten(1)))
        h = nr.relu(self.fc2(h))
        self.fc2(h)  # E: self.fc2: inner dimensions must match: h is [B, 128], self.fc2.weight.T is [256, 128] (expected input.shape[-1] == other.shape[-2], got 128 != 256; hint: is other transposed? other.mT has shape [128, 256])  [nr-shape]
        return h  # E: return value has shape [B, 128], expected [B, 10] (dim 1 is 128, expected 10)  [nr-shape]

    def branches(self, x: Float32[Tensor, "B 256"], flag: bool) -> Float32[Tensor, "B 10"]:
        # the first trip reads x; the second reads the first trip's [B, 128]: an error there.
        # After the loop, and after the branch, h is unknown.
        h = x
        for _ in range(3):
            h = self.fc2(h)  # E: self.fc2: inner dimensions must match: h is [B, 128], self.fc2.weight.T is [256, 128] (expected input.shape[-1] == other.shape[-2], got 128 != 256; hint: is other transposed? other.mT has shape [128, 256])  [nr-shape]
        if flag:
            h = self.fc2(x)
        return h

    def unpack(self, x: Float32[Tensor, "B 256"]) -> Float32[Tensor, "B 128"]:
        a, b = x, self.fc2(x)
        a, b = b, a
        return a


def provoked(x: Float32[Tensor, "32 784"], w: Float32[Tensor, "128 784"]) -> None:
    """Inside ``try: ... except ShapeError`` the code means to provoke one: no error."""
    try:
        x @ w
    except nr.ShapeError:
        pass
    x @ w  # E: matmul: inner dimensions must match: x is [32, 784], w is [128, 784] (expected input.shape[-1] == other.shape[-2], got 784 != 128; hint: is other transposed? other.mT has shape [784, 128])  [nr-shape]
