"""Conv2d / pooling / Flatten / LayerNorm / Embedding layers configured with literals in
__init__ and called in forward; Sequential of such layers applied in order."""
from neurarust import Tensor, nn
from neurarust.types import Float32, Int64


class CNN(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=(3, 3), stride=2)
        self.dil = nn.Conv2d(1, 4, 3, dilation=2, bias=False)
        self.grouped = nn.Conv2d(32, 64, 3, groups=4)
        self.same = nn.Conv2d(1, 8, 5, padding="same")
        self.var = nn.Conv2d(1, width, 3)
        self.pool = nn.MaxPool2d(2)
        self.pool3 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=True)
        self.avg = nn.AvgPool2d(3, stride=1, padding=1)
        self.flat = nn.Flatten()
        self.flat_all = nn.Flatten(0)
        self.norm = nn.LayerNorm(64)
        self.norm2 = nn.LayerNorm((28, 28))
        self.emb = nn.Embedding(1000, 64)
        self.body = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Flatten(), nn.Linear(16 * 14 * 14, 10))
        self.head = nn.Sequential(self.body, nn.Dropout(0.1), nn.Linear(10, 2))
        self.broken = nn.Sequential(nn.Conv2d(1, 16, 3), nn.Flatten(), nn.Linear(100, 10))
        self.opaque = nn.Sequential(nn.Conv2d(1, width, 3), nn.Flatten())

    def forward(self, x: Float32[Tensor, "B 1 28 28"], tok: Int64[Tensor, "B T"],
                e: Float32[Tensor, "B T 64"], h: Float32[Tensor, "B 32 H W"],
                ) -> Float32[Tensor, "B 10"]:
        reveal_type(self.conv1(x))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 32, 28, 28]']]"
        reveal_type(self.conv2(self.conv1(x)))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 64, 13, 13]']]"
        reveal_type(self.dil(x))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 4, 24, 24]']]"
        reveal_type(self.grouped(h))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 64, H-2, W-2]']]"  # N: self.grouped: undecided: H - 3 >= 0 (left to neurarust verify)  # N: self.grouped: undecided: W - 3 >= 0 (left to neurarust verify)
        reveal_type(self.same(x))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 8, 28, 28]']]"
        reveal_type(self.var(x))  # N: Revealed type is "neurarust.tensor.Tensor"
        reveal_type(self.pool(x))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 1, 14, 14]']]"
        reveal_type(self.pool(h))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 32, (H-2)//2+1, (W-2)//2+1]']]"  # N: self.pool: undecided: H - 2 >= 0 (left to neurarust verify)  # N: self.pool: undecided: W - 2 >= 0 (left to neurarust verify)
        reveal_type(self.pool3(x))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 1, 15, 15]']]"
        reveal_type(self.avg(x))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 1, 28, 28]']]"
        reveal_type(self.flat(x))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 784]']]"
        reveal_type(self.flat_all(x))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[784*B]']]"
        reveal_type(self.norm(e))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, T, 64]']]"
        reveal_type(self.norm2(x))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 1, 28, 28]']]"
        reveal_type(self.emb(tok))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, T, 64]']]"
        reveal_type(self.body(x))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 10]']]"
        reveal_type(self.head(x))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 2]']]"
        reveal_type(self.opaque(x))  # N: Revealed type is "neurarust.tensor.Tensor"
        self.conv2(x)  # E: self.conv2: input channels must match the weight: x is [B, 1, 28, 28], self.conv2.weight is [64, 32, 3, 3], self.conv2.bias is [64] (expected in_channels == weight.shape[1] * groups, got 1 != 32 * 1; hint: weight is (out_channels, in_channels / groups, *kernel_size))  [nr-shape]
        self.grouped(x)  # E: self.grouped: input channels must match the weight: x is [B, 1, 28, 28], self.grouped.weight is [64, 8, 3, 3], self.grouped.bias is [64] (expected in_channels == weight.shape[1] * groups, got 1 != 8 * 4; hint: weight is (out_channels, in_channels / groups, *kernel_size))  [nr-shape]
        self.conv1(e)  # N: self.conv1: undecided: B == 1 (left to neurarust verify)
        self.pool(e[0])  # E: self.pool: expected a 3-d (unbatched) or 4-d (batched) input: input is [T, 64] (got a 2-d input of shape [T, 64]; layout is (N, C, H, W) or without N)  [nr-shape]
        self.norm(x)  # E: self.norm: the input's last dims must equal normalized_shape: x is [B, 1, 28, 28], normalized_shape is [64]  [nr-shape]
        self.norm2(e)  # E: self.norm2: the input's last dims must equal normalized_shape: e is [B, T, 64], normalized_shape is [28, 28]  [nr-shape]
        self.emb(e)  # E: self.emb: expects integer indices, got e of dtype float32  [nr-dtype]
        self.broken(x)  # E: self.broken[2]: inner dimensions must match: self.broken[1](...) is [B, 10816], self.broken[2].weight.T is [100, 10] (expected input.shape[-1] == other.shape[-2], got 10816 != 100; hint: is other transposed? other.mT has shape [10, 100])  [nr-shape]
        self.head(h)  # E: self.head[0][0]: input channels must match the weight: h is [B, 32, H, W], self.head[0][0].weight is [16, 1, 3, 3], self.head[0][0].bias is [16] (expected in_channels == weight.shape[1] * groups, got 32 != 1 * 1; hint: weight is (out_channels, in_channels / groups, *kernel_size))  [nr-shape]
        return self.body(x)


class Wrong(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2))
        self.fc = nn.Linear(8 * 14 * 14, 10)

    def forward(self, x: Float32[Tensor, "B 1 28 28"]) -> Float32[Tensor, "B 10"]:
        return self.fc(self.features(x).flatten(1))  # E: self.fc: inner dimensions must match: input is [B, 1352], self.fc.weight.T is [1568, 10] (expected input.shape[-1] == other.shape[-2], got 1352 != 1568; hint: is other transposed? other.mT has shape [10, 1568])  [nr-shape]
