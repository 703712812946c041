"""Layers built from several registered rules: BatchNorm/GroupNorm, Conv1d and transposed
convolutions, softmax modules, RNN/LSTM/GRU (output and states, batch_first, bidirectional,
num_layers, proj_size, unbatched), MultiheadAttention and the Transformer encoder layer."""
from neurarust import Tensor, nn
from neurarust.types import Float32, Int64


class Convs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(16, 32, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.bad_bn = nn.BatchNorm2d(33)
        self.gn = nn.GroupNorm(4, 32)
        self.gn_bad = nn.GroupNorm(4, 16)
        self.c1 = nn.Conv1d(8, 16, 3, padding=1)
        self.up = nn.ConvTranspose2d(32, 16, 2, stride=2)
        self.up1 = nn.ConvTranspose1d(16, 8, 3)
        self.sm = nn.Softmax(dim=1)
        self.bn1d = nn.BatchNorm1d(16)
        self.pool1 = nn.MaxPool1d(2)

    def forward(self, x: Float32[Tensor, "B 16 16 16"], s: Float32[Tensor, "B 8 L"]) -> None:
        h = self.bn1(self.conv1(x))
        reveal_type(h)  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 32, 8, 8]']]"  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 32, 8, 8]']]"
        self.bad_bn(self.conv1(x))  # E: self.bad_bn: batch_norm: running_mean should have one entry per channel: input is [B, 32, 8, 8], running_mean is [33] (expected 33 == 32, input.shape[1])  [nr-shape]  # E: self.bad_bn: batch_norm: running_mean should have one entry per channel: input is [B, 32, 8, 8], running_mean is [33] (expected 33 == 32, input.shape[1])  [nr-shape]
        reveal_type(self.gn(h))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 32, 8, 8]']]"  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 32, 8, 8]']]"
        self.gn_bad(h)  # E: self.gn_bad: number of elements must not change: self.gn_bad.weight is [16] (expected 16 == 32; hint: shape [1, 32, 1, 1] is invalid for input of size 16)  [nr-shape]  # E: self.gn_bad: number of elements must not change: self.gn_bad.weight is [16] (expected 16 == 32; hint: shape [1, 32, 1, 1] is invalid for input of size 16)  [nr-shape]
        reveal_type(self.c1(s))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 16, L]']]"  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 16, L]']]"
        self.c1(x)  # E: self.c1: expected a 2-d (unbatched) or 3-d (batched) input: x is [B, 16, 16, 16], self.c1.weight is [16, 8, 3], self.c1.bias is [16] (got a 4-d input of shape [B, 16, 16, 16]; layout is (N, C, L) or without N)  [nr-shape]  # E: self.c1: expected a 2-d (unbatched) or 3-d (batched) input: x is [B, 16, 16, 16], self.c1.weight is [16, 8, 3], self.c1.bias is [16] (got a 4-d input of shape [B, 16, 16, 16]; layout is (N, C, L) or without N)  [nr-shape]
        reveal_type(self.up(h))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 16, 16, 16]']]"  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 16, 16, 16]']]"
        reveal_type(self.up1(self.c1(s)))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 8, L+2]']]"  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 8, L+2]']]"
        self.up1(s)  # E: self.up1: input channels must match the weight: s is [B, 8, L], self.up1.weight is [16, 8, 3], self.up1.bias is [8] (expected in_channels == weight.shape[0], got 8 != 16; hint: a transposed convolution's weight is (in_channels, out_channels / groups, *kernel_size))  [nr-shape]  # E: self.up1: input channels must match the weight: s is [B, 8, L], self.up1.weight is [16, 8, 3], self.up1.bias is [8] (expected in_channels == weight.shape[0], got 8 != 16; hint: a transposed convolution's weight is (in_channels, out_channels / groups, *kernel_size))  [nr-shape]
        reveal_type(self.sm(h))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 32, 8, 8]']]"  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 32, 8, 8]']]"
        self.bn1d(h)  # E: self.bn1d: expected 2D or 3D input (got 4D input h of shape [B, 32, 8, 8])  [nr-shape]  # E: self.bn1d: expected 2D or 3D input (got 4D input h of shape [B, 32, 8, 8])  [nr-shape]
        reveal_type(self.bn1d(self.c1(s)))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 16, L]']]"  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 16, L]']]"
        reveal_type(self.pool1(self.c1(s)))  # N: self.pool1: undecided: L - 2 >= 0 (left to neurarust verify)  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 16, (L-2)//2+1]']]"  # N: self.pool1: undecided: L - 2 >= 0 (left to neurarust verify)  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, 16, (L-2)//2+1]']]"
        nn.Softmax(dim=4)(h)  # E: softmax: dim out of range: h is [B, 32, 8, 8] (expected dim in [-4, 3] for a 4-d input, got 4)  [nr-shape]  # E: softmax: dim out of range: h is [B, 32, 8, 8] (expected dim in [-4, 3] for a 4-d input, got 4)  [nr-shape]


class Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(1000, 32)
        self.lstm = nn.LSTM(32, 48, batch_first=True)
        self.bi = nn.GRU(32, 24, num_layers=2, bidirectional=True, batch_first=True)
        self.seq_first = nn.GRU(32, 24)
        self.rnn = nn.RNN(31, 8)
        self.proj = nn.LSTM(32, 48, proj_size=16, num_layers=3, batch_first=True)
        self.tags = nn.Linear(48, 9)

    def forward(self, tokens: Int64[Tensor, "B T"], h0: Float32[Tensor, "1 B 48"],
                h1: Float32[Tensor, "2 B 48"], m: Float32[Tensor, "T 32"]
                ) -> Float32[Tensor, "B T 9"]:
        e = self.embed(tokens)
        out, (h, c) = self.lstm(e)
        reveal_type(out)  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, T, 48]']]"  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, T, 48]']]"
        reveal_type(h)  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[1, B, 48]']]"  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[1, B, 48]']]"
        reveal_type(self.bi(e))  # N: Revealed type is "tuple[neurarust.tensor.Tensor[Literal['f32[B, T, 48]']], neurarust.tensor.Tensor[Literal['f32[4, B, 24]']]]"  # N: Revealed type is "tuple[neurarust.tensor.Tensor[Literal['f32[B, T, 48]']], neurarust.tensor.Tensor[Literal['f32[4, B, 24]']]]"
        reveal_type(self.seq_first(e))  # N: Revealed type is "tuple[neurarust.tensor.Tensor[Literal['f32[B, T, 24]']], neurarust.tensor.Tensor[Literal['f32[1, T, 24]']]]"  # N: Revealed type is "tuple[neurarust.tensor.Tensor[Literal['f32[B, T, 24]']], neurarust.tensor.Tensor[Literal['f32[1, T, 24]']]]"
        reveal_type(self.proj(e))  # N: Revealed type is "tuple[neurarust.tensor.Tensor[Literal['f32[B, T, 16]']], tuple[neurarust.tensor.Tensor[Literal['f32[3, B, 16]']], neurarust.tensor.Tensor[Literal['f32[3, B, 48]']]]]"  # N: Revealed type is "tuple[neurarust.tensor.Tensor[Literal['f32[B, T, 16]']], tuple[neurarust.tensor.Tensor[Literal['f32[3, B, 16]']], neurarust.tensor.Tensor[Literal['f32[3, B, 48]']]]]"
        self.rnn(e)  # E: self.rnn: RNN: input.size(-1) must be equal to input_size. Expected 31, got 32 (e of shape [B, T, 32])  [nr-shape]  # E: self.rnn: RNN: input.size(-1) must be equal to input_size. Expected 31, got 32 (e of shape [B, T, 32])  [nr-shape]
        self.lstm(e, (h0, h0))
        self.lstm(e, (h1, h0))  # E: self.lstm: LSTM: Expected hidden[0] size (1, B, 48), got (2, B, 48)  [nr-shape]  # E: self.lstm: LSTM: Expected hidden[0] size (1, B, 48), got (2, B, 48)  [nr-shape]
        reveal_type(self.lstm(m))  # N: Revealed type is "tuple[neurarust.tensor.Tensor[Literal['f32[T, 48]']], tuple[neurarust.tensor.Tensor[Literal['f32[1, 48]']], neurarust.tensor.Tensor[Literal['f32[1, 48]']]]]"  # N: Revealed type is "tuple[neurarust.tensor.Tensor[Literal['f32[T, 48]']], tuple[neurarust.tensor.Tensor[Literal['f32[1, 48]']], neurarust.tensor.Tensor[Literal['f32[1, 48]']]]]"
        return self.tags(out)


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(32, 4, batch_first=True)
        self.cross = nn.MultiheadAttention(32, 4, kdim=16, vdim=8)
        self.enc = nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, batch_first=True)
        self.stack = nn.TransformerEncoder(self.enc, 2)

    def forward(self, e: Float32[Tensor, "B T 32"], f: Float32[Tensor, "B T 48"],
                q: Float32[Tensor, "L N 32"], k: Float32[Tensor, "S N 16"],
                v: Float32[Tensor, "S N 8"]) -> Float32[Tensor, "B T 32"]:
        reveal_type(self.attn(e, e, e))  # N: Revealed type is "tuple[neurarust.tensor.Tensor[Literal['f32[B, T, 32]']], neurarust.tensor.Tensor[Literal['f32[B, T, T]']]]"  # N: Revealed type is "tuple[neurarust.tensor.Tensor[Literal['f32[B, T, 32]']], neurarust.tensor.Tensor[Literal['f32[B, T, T]']]]"
        reveal_type(self.attn(e, e, e, need_weights=False))  # N: Revealed type is "tuple[neurarust.tensor.Tensor[Literal['f32[B, T, 32]']], None]"  # N: Revealed type is "tuple[neurarust.tensor.Tensor[Literal['f32[B, T, 32]']], None]"
        reveal_type(self.attn(e, e, e, average_attn_weights=False))  # N: Revealed type is "tuple[neurarust.tensor.Tensor[Literal['f32[B, T, 32]']], neurarust.tensor.Tensor[Literal['f32[B, 4, T, T]']]]"  # N: Revealed type is "tuple[neurarust.tensor.Tensor[Literal['f32[B, T, 32]']], neurarust.tensor.Tensor[Literal['f32[B, 4, T, T]']]]"
        reveal_type(self.cross(q, k, v))  # N: Revealed type is "tuple[neurarust.tensor.Tensor[Literal['f32[L, N, 32]']], neurarust.tensor.Tensor[Literal['f32[N, L, S]']]]"  # N: Revealed type is "tuple[neurarust.tensor.Tensor[Literal['f32[L, N, 32]']], neurarust.tensor.Tensor[Literal['f32[N, L, S]']]]"
        self.cross(q, v, v)  # E: self.cross: inner dimensions must match: v is [S, N, 8], self.cross.k_proj_weight.T is [16, 32] (expected input.shape[-1] == other.shape[-2], got 8 != 16; hint: is other transposed? other.mT has shape [32, 16])  [nr-shape]  # E: self.cross: inner dimensions must match: v is [S, N, 8], self.cross.k_proj_weight.T is [16, 32] (expected input.shape[-1] == other.shape[-2], got 8 != 16; hint: is other transposed? other.mT has shape [32, 16])  [nr-shape]
        self.attn(e, f, f)  # E: self.attn: inner dimensions must match: f is [B, T, 48], self.attn.k_proj_weight.T is [32, 32] (expected input.shape[-1] == other.shape[-2], got 48 != 32; hint: is other transposed? other.mT has shape [32, 32])  [nr-shape]  # E: self.attn: inner dimensions must match: f is [B, T, 48], self.attn.k_proj_weight.T is [32, 32] (expected input.shape[-1] == other.shape[-2], got 48 != 32; hint: is other transposed? other.mT has shape [32, 32])  [nr-shape]
        self.attn(f, e, e)  # E: self.attn: MultiheadAttention: was expecting embedding dimension of 32, but got 48 (f of shape [B, T, 48])  [nr-shape]  # E: self.attn: MultiheadAttention: was expecting embedding dimension of 32, but got 48 (f of shape [B, T, 48])  [nr-shape]
        out, _ = self.attn(e, e, e)
        reveal_type(self.enc(e))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, T, 32]']]"  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, T, 32]']]"
        reveal_type(self.stack(e))  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, T, 32]']]"  # N: Revealed type is "neurarust.tensor.Tensor[Literal['f32[B, T, 32]']]"
        self.enc(f)  # E: self.enc.self_attn: MultiheadAttention: was expecting embedding dimension of 32, but got 48 (f of shape [B, T, 48])  [nr-shape]  # E: self.enc.self_attn: MultiheadAttention: was expecting embedding dimension of 32, but got 48 (f of shape [B, T, 48])  [nr-shape]
        return self.enc(out)
