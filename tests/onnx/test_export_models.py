"""ONNX export of the example models (MLP, CNN, ResNet block, Transformer encoder, LSTM and
GRU sequence models), each with a symbolic batch dim (and a symbolic sequence dim for the
sequence models), run in onnxruntime at two sizes and compared with eager neurarust."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import neurarust as nr  # noqa: E402
from neurarust import nn  # noqa: E402
from neurarust.trace import parse_spec  # noqa: E402


class ResidualBlock(nn.Module):
    """A ResNet basic block with a projection shortcut (stride 2)."""

    def __init__(self, cin: int, cout: int, stride: int = 2) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x: nr.Tensor) -> nr.Tensor:
        h = self.bn1(self.conv1(x)).relu()
        h = self.bn2(self.conv2(h))
        return (h + self.shortcut(x)).relu()


class ResNetTiny(nn.Module):
    """Stem, two residual blocks, global average pooling and a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.blocks = nn.Sequential(ResidualBlock(8, 16), ResidualBlock(16, 16, stride=1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: nr.Tensor) -> nr.Tensor:
        return self.fc(self.pool(self.blocks(self.stem(x))).flatten(1))


class TransformerClassifier(nn.Module):
    """Token embedding, learned positions (cut to the sequence length), a two-layer
    ``nn.TransformerEncoder`` and mean pooling over time."""

    def __init__(self, vocab: int = 20, d: int = 16, max_len: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(nr.randn(max_len, d) * 0.1)
        layer = nn.TransformerEncoderLayer(d, 4, 32, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(d))
        self.head = nn.Linear(d, 3)

    def forward(self, tokens: nr.Tensor) -> nr.Tensor:
        h = self.embed(tokens) + self.pos[:tokens.shape[1]]
        return self.head(self.encoder(h).mean(1))


class SequenceTagger(nn.Module):
    """A recurrent tagger: ``rnn`` over (B, T, 6) features, a linear head per step."""

    def __init__(self, rnn: nn.Module, out: int) -> None:
        super().__init__()
        self.rnn = rnn
        self.head = nn.Linear(out, 4)

    def forward(self, x: nr.Tensor) -> nr.Tensor:
        y, _ = self.rnn(x)
        return nn.functional.log_softmax(self.head(y), dim=-1)


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 32),
                         nn.Tanh(), nn.Linear(32, 10), nn.LogSoftmax(dim=1))


def _cnn() -> nn.Module:
    from neurarust.examples.mnist import SmallCNN

    return SmallCNN()


def _with_batch_stats(model: nn.Module) -> nn.Module:
    """Non-trivial running statistics in every batch norm (a trained model has them)."""
    rng = np.random.default_rng(3)
    with nr.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(nr.tensor(rng.normal(0, 0.5, m.num_features)
                                               .astype(np.float32)))
                m.running_var.copy_(nr.tensor(rng.uniform(0.5, 2, m.num_features)
                                              .astype(np.float32)))
    return model


# name -> (factory, input spec, input kind, sizes per symbolic dim for the two runs, atol)
MODELS: dict[str, tuple[Callable[[], nn.Module], str, str, list[dict[str, int]], float]] = {
    "mlp": (_mlp, "f32[B, 1, 28, 28]", "normal", [{"B": 1}, {"B": 7}], 1e-5),
    "cnn": (_cnn, "f32[B, 1, 28, 28]", "normal", [{"B": 1}, {"B": 7}], 1e-5),
    "resnet_block": (lambda: _with_batch_stats(ResNetTiny()), "f32[B, 3, 16, 16]", "normal",
                     [{"B": 2}, {"B": 5}], 1e-4),
    "transformer_encoder": (TransformerClassifier, "i64[B, T]", "int20",
                            [{"B": 2, "T": 7}, {"B": 5, "T": 12}], 1e-4),
    "lstm": (lambda: SequenceTagger(nn.LSTM(6, 8, num_layers=2, batch_first=True), 8),
             "f32[B, T, 6]", "normal", [{"B": 2, "T": 5}, {"B": 5, "T": 9}], 1e-5),
    "gru": (lambda: SequenceTagger(nn.GRU(6, 8, batch_first=True, bidirectional=True), 16),
            "f32[B, T, 6]", "normal", [{"B": 2, "T": 5}, {"B": 5, "T": 9}], 1e-5),
}


def _draw(rng: np.random.Generator, spec: str, sizes: dict[str, int],
          kind: str) -> np.ndarray:  # type: ignore[type-arg]
    dtype, shape = parse_spec(spec)
    dims = tuple(d.as_int() if d.is_constant else sizes[str(d)] for d in shape)
    if kind.startswith("int"):
        return rng.integers(0, int(kind[3:]), dims).astype(dtype.np_dtype)
    return rng.standard_normal(dims).astype(dtype.np_dtype)


def export_and_compare(name: str, path: str | None = None, opset: int = 17) -> float:
    """Export model ``name`` (to ``path`` when given), run it at both sizes in one
    onnxruntime session; returns the largest absolute difference from eager neurarust."""
    make, spec, kind, runs, atol = MODELS[name]
    nr.manual_seed(0)
    model = make()
    model.eval()
    proto = nr.onnx.export(model, {"x": spec}, path, opset=opset)
    assert proto.opset_import[0].version == opset
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in dims if d.dim_param] == [
        str(d) for d in parse_spec(spec)[1] if not d.is_constant]
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    worst = 0.0
    for sizes in runs:
        x = _draw(rng, spec, sizes, kind)
        with nr.no_grad():
            want = model(nr.tensor(x)).numpy()
        (got,) = sess.run(None, {"x": x})
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=atol)
        worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - want))))
    return worst


@pytest.mark.parametrize("name", list(MODELS))
def test_model_matches_onnxruntime(name: str) -> None:
    export_and_compare(name)


@pytest.mark.parametrize("opset", [13, 18])
def test_other_opsets(opset: int) -> None:
    """Opset 13 (reduction axes as attributes, Shape without start/end) and 18 (axes as
    inputs) on the models that use both."""
    export_and_compare("transformer_encoder", opset=opset)
    export_and_compare("lstm", opset=opset)


def test_cli_export_of_a_model_file(tmp_path: object) -> None:
    """``neurarust export path/model.py:Name --input ... -o net.onnx`` on a model file
    written here, with two symbolic dims, checked by onnxruntime."""
    from pathlib import Path

    from neurarust.cli import main

    tmp = Path(str(tmp_path))
    (tmp / "tagger.py").write_text(
        "import neurarust as nr\n"
        "from neurarust import nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv1d(4, 6, 3, padding=1)\n"
        "        self.norm = nn.LayerNorm(6)\n\n"
        "    def forward(self, x):\n"
        "        return self.norm(self.conv(x).relu().transpose(1, 2))\n")
    out = tmp / "net.onnx"
    assert main(["export", f"{tmp / 'tagger.py'}:Net", "--input", "x: f32[B, 4, T]", "-o",
                 str(out)]) == 0
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert [d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim] == [
        "B", "", "T"]
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for b, t in ((1, 3), (4, 10)):
        (y,) = sess.run(None, {"x": np.zeros((b, 4, t), np.float32)})
        assert y.shape == (b, t, 6)
