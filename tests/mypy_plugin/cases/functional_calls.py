"""nn.functional calls with literal arguments, through the registered ops they compose."""
from neurarust import Tensor, nn
from neurarust.nn import functional as F
from neurarust.types import Float32, Int64


def activations(a: Float32[Tensor, "B 5"], w: Float32[Tensor, "10 5"],
                bias: Float32[Tensor, "10"], bad_bias: Float32[Tensor, "7"],
                v: Float32[Tensor, "5"]) -> Float32[Tensor, "B 10"]:
    reveal_type(F.relu(a))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 5]']]"
    reveal_type(F.gelu(a))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 5]']]"
    reveal_type(F.linear(a, w))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 10]']]"
    reveal_type(F.linear(a, v))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B]']]"
    F.linear(w.t(), w)  # E: linear: inner dimensions must match: input is [5, 10], w.T is [5, 10] (expected input.shape[-1] == other.shape[-2], got 10 != 5; hint: is other transposed? other.mT has shape [10, 5])  [nr-shape]
    F.linear(a, w, bad_bias)  # E: linear: shapes are not broadcastable: linear(...) is [B, 10], bad_bias is [7] (expected 10 == 7 or 10 == 1 or 7 == 1; hint: dimension -1 must be equal on both sides or 1 on one side)  [nr-shape]
    reveal_type(F.softmax(a, dim=1))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 5]']]"
    reveal_type(F.log_softmax(a, -1))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 5]']]"
    F.softmax(a, dim=2)  # E: softmax: dim out of range: a is [B, 5] (expected dim in [-2, 1] for a 2-d input, got 2)  [nr-shape]
    return F.linear(a, w, bias)


def losses(logits: Float32[Tensor, "B 10"], y: Int64[Tensor, "B"], y3: Int64[Tensor, "3"],
           seq: Float32[Tensor, "B 10 T"], yt: Int64[Tensor, "B T"],
           probs: Float32[Tensor, "B 10"]) -> None:
    reveal_type(F.cross_entropy(logits, y))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[]']]"
    reveal_type(F.cross_entropy(logits, y, reduction="none"))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B]']]"
    reveal_type(F.cross_entropy(seq, yt, reduction="none"))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, T]']]"
    reveal_type(F.cross_entropy(logits, probs))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[...]']]"
    reveal_type(F.nll_loss(F.log_softmax(logits, 1), y))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[]']]"
    F.cross_entropy(logits, yt)  # E: cross_entropy: the target must be the input's shape without the class dim: logits is [B, 10], yt is [B, T] (expected a 1-d target of shape [B], got [B, T])  [nr-shape]
    F.cross_entropy(logits[0:3], y3)  # N: cross_entropy: undecided: 3 == min(3, B) (left to neurarust verify)
    F.cross_entropy(logits, y, reduction="avg")  # E: cross_entropy: 'avg' is not a valid value for reduction: logits is [B, 10], y is [B] (expected one of ('none', 'mean', 'sum'))  [nr-shape]


def convs(img: Float32[Tensor, "N 1 28 28"], k: Float32[Tensor, "8 1 3 3"],
          k3: Float32[Tensor, "8 3 3 3"], b8: Float32[Tensor, "8"], s: int) -> None:
    reveal_type(F.conv2d(img, k))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[N, 8, 26, 26]']]"
    reveal_type(F.conv2d(img, k, b8, padding=1))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[N, 8, 28, 28]']]"
    reveal_type(F.conv2d(img, k, stride=2, dilation=2))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[N, 8, 12, 12]']]"
    reveal_type(F.conv2d(img, k, padding="same"))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[N, 8, 28, 28]']]"
    reveal_type(F.conv2d(img, k, stride=s))  # N: Revealed type is "neurarust.tensor.Tensor"
    reveal_type(F.max_pool2d(img, 2))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[N, 1, 14, 14]']]"
    reveal_type(F.max_pool2d(img, kernel_size=3, stride=2, padding=1))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[N, 1, 14, 14]']]"
    reveal_type(F.avg_pool2d(img, 3, 1, 1))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[N, 1, 28, 28]']]"
    reveal_type(F.layer_norm(img, (28, 28)))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[N, 1, 28, 28]']]"
    F.conv2d(img, k3)  # E: conv2d: input channels must match the weight: img is [N, 1, 28, 28], k3 is [8, 3, 3, 3] (expected in_channels == weight.shape[1] * groups, got 1 != 3 * 1; hint: weight is (out_channels, in_channels / groups, *kernel_size))  [nr-shape]
    F.conv2d(img[0, 0], k)  # E: conv2d: expected a 3-d (unbatched) or 4-d (batched) input: input is [28, 28], k is [8, 1, 3, 3] (got a 2-d input of shape [28, 28]; layout is (N, C, H, W) or without N)  [nr-shape]
    F.conv2d(img, k, padding=-1)  # E: conv2d: negative padding is not supported, got padding=-1  [nr-shape]
    F.max_pool2d(img, 4, padding=3)  # E: max_pool2d: pad should be at most half of kernel size: img is [N, 1, 28, 28] (got padding=(3, 3), kernel_size=(4, 4), dilation=(1, 1))  [nr-shape]
    reveal_type(F.adaptive_avg_pool2d(img, (7, None)))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[N, 1, 7, 28]']]"
    reveal_type(nn.AdaptiveAvgPool2d(1)(img).flatten(1))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[N, 1]']]"
    F.layer_norm(img, 27)  # E: layer_norm: the input's last dims must equal normalized_shape: img is [N, 1, 28, 28], normalized_shape is [27]  [nr-shape]


def lookups(tok: Int64[Tensor, "B T"], table: Float32[Tensor, "1000 64"],
            x: Float32[Tensor, "B T"]) -> Float32[Tensor, "B T 64"]:
    F.embedding(x, table)  # E: embedding: expects integer indices, got x of dtype float32  [nr-dtype]
    return F.embedding(tok, table)
