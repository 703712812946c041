"""ONNX export: every mapped op, the example models, the CLI and the unmapped-op error.

Each case is traced once with a symbolic batch ``B``, exported, checked
(``check_model(full_check=True)`` and ONNX shape inference vs the traced shapes, inside
``export``), then run in onnxruntime at two batch sizes and compared with eager neurarust.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import neurarust as nr  # noqa: E402
from neurarust import nn  # noqa: E402
from neurarust.nn import functional as F  # noqa: E402
from neurarust.onnx import OnnxExportError  # noqa: E402

RNG = np.random.default_rng(0)


def _data(spec: str, batch: int, kind: str) -> np.ndarray:  # type: ignore[type-arg]
    dtype, shape = nr.trace.__globals__["parse_spec"](spec)
    dims = tuple(batch if not d.is_constant else d.as_int() for d in shape)
    if kind == "pos":
        return RNG.uniform(0.5, 2.0, dims).astype(np.float32)
    if kind.startswith("int"):
        hi = int(kind[3:] or 4)
        return RNG.integers(0, hi, dims).astype(dtype.np_dtype)
    if kind == "bool":
        return RNG.random(dims) > 0.5
    return RNG.standard_normal(dims).astype(dtype.np_dtype)


def _run(fn: Callable[..., Any], specs: dict[str, str], kinds: dict[str, str] | None = None,
         tmp: Path | None = None, batches: tuple[int, ...] = (2, 5), atol: float = 1e-5) -> Any:
    kinds = kinds or {}
    proto = nr.onnx.export(fn, specs)
    sess = ort.InferenceSession(proto.SerializeToString())
    for b in batches:
        feeds = {k: _data(s, b, kinds.get(k, "f")) for k, s in specs.items()}
        with nr.no_grad():
            ref = fn(*[nr.tensor(v) for v in feeds.values()])
        got = sess.run(None, feeds)[0]
        want = ref.numpy()
        assert got.shape == want.shape, (got.shape, want.shape)
        assert got.dtype == want.dtype, (got.dtype, want.dtype)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=atol)
    return proto


X = {"x": "f32[B, 3, 4]"}
XY = {"x": "f32[B, 3, 4]", "y": "f32[B, 3, 4]"}
POS = {"x": "pos"}

CASES: list[tuple[str, Callable[..., Any], dict[str, str], dict[str, str]]] = [
    ("add", lambda x, y: x + y, XY, {}),
    ("add_alpha_scalar", lambda x, y: nr.add(x, y, alpha=2) + 1.5, XY, {}),
    ("sub", lambda x, y: x - y - 2, XY, {}),
    ("mul", lambda x, y: x * y * 3, XY, {}),
    ("div", lambda x, y: x / (y * y + 1), XY, {}),
    ("div_int", lambda x: x / 2, {"x": "i64[B, 3]"}, {"x": "int9"}),
    ("floor_div", lambda x, y: x // (y * y + 1), XY, {}),
    ("neg", lambda x: -x, X, {}),
    ("exp", lambda x: x.exp(), X, {}),
    ("log", lambda x: x.log(), X, POS),
    ("sqrt", lambda x: x.sqrt(), X, POS),
    ("rsqrt", lambda x: x.rsqrt(), X, POS),
    ("tanh", lambda x: x.tanh(), X, {}),
    ("sigmoid", lambda x: x.sigmoid(), X, {}),
    ("relu", lambda x: x.relu(), X, {}),
    ("abs", lambda x: x.abs(), X, {}),
    ("pow", lambda x: x ** 2 + x.pow(x * 0 + 3), X, {}),
    ("pow_tensor", lambda x, y: x ** y, XY, {"x": "pos"}),
    ("erf", lambda x: F.erf(x), X, {}),
    ("gelu", lambda x: F.gelu(x), X, {}),
    ("matmul", lambda x, w: x @ w, {"x": "f32[B, 3, 4]", "w": "f32[4, 5]"}, {}),
    ("mm", lambda x, w: nr.mm(x, w), {"x": "f32[B, 4]", "w": "f32[4, 5]"}, {}),
    ("permute", lambda x: x.permute(2, 0, 1), X, {}),
    ("reshape", lambda x: x.reshape(-1, 12), X, {}),
    ("reshape_sym", lambda x: x.reshape(x.shape[0] * 3, 4), X, {}),
    ("view", lambda x: x.view(x.shape[0], 2, 6), X, {}),
    ("flatten", lambda x: x.flatten(1), X, {}),
    ("unsqueeze", lambda x: x.unsqueeze(1).unsqueeze(-1), X, {}),
    ("squeeze", lambda x: x.unsqueeze(2).squeeze(2), X, {}),
    ("expand", lambda x: x[:, :1, :].expand(x.shape[0], 3, 4) + x, X, {}),
    ("cast", lambda x: (x * 3).to(nr.int64), X, {}),
    ("clone", lambda x: x.clone() + 1, X, {}),
    ("sum", lambda x: x.sum(1) + x.sum(), X, {}),
    ("sum_keepdim", lambda x: x.sum((1, 2), keepdim=True), X, {}),
    ("mean", lambda x: x.mean(-1) + x.mean(), X, {}),
    ("amax", lambda x: x.amax(1, keepdim=True) - x.amin(2, keepdim=True), X, {}),
    ("conv2d", lambda x, w: nr.conv2d(x, w, padding=1, stride=2),
     {"x": "f32[B, 2, 6, 6]", "w": "f32[3, 2, 3, 3]"}, {}),
    ("max_pool2d", lambda x: nr.max_pool2d(x, 2), {"x": "f32[B, 2, 6, 6]"}, {}),
    ("avg_pool2d", lambda x: nr.avg_pool2d(x, 3, stride=2, padding=1),
     {"x": "f32[B, 2, 6, 6]"}, {}),
    ("log_softmax", lambda x: F.log_softmax(x, dim=-1), X, {}),
    ("nll_loss", lambda x, t: F.nll_loss(F.log_softmax(x, dim=1), t),
     {"x": "f32[B, 5]", "t": "i64[B]"}, {"t": "int5"}),
    ("where", lambda x, y: nr.where(x > y, x, y * 2), XY, {}),
    ("clamp", lambda x: x.clamp(-0.5, 0.5) + x.clamp(min=0.1), X, {}),
    ("maximum", lambda x, y: nr.maximum(x, y) - nr.minimum(x, y), XY, {}),
    ("comparisons", lambda x, y: (x < y).float() + (x <= y).float() + (x > 0).float()
     + (x >= y).float() + (x == x).float() + (x != y).float(), XY, {}),
    ("cat", lambda x, y: nr.cat([x, y], dim=1), XY, {}),
    ("getitem", lambda x: x[:, 1:3, ::2] * 2, X, {}),
    ("getitem_int", lambda x: x[:, 0] + x[:, -1, None, 1], X, {}),
    ("gather", lambda x, i: nr.gather(x, 1, i), {"x": "f32[B, 4]", "i": "i64[B, 3]"},
     {"i": "int4"}),
    ("index_select", lambda x, i: nr.index_select(x, 1, i),
     {"x": "f32[B, 4]", "i": "i64[3]"}, {"i": "int4"}),
    ("layer_norm", lambda x, w: F.layer_norm(x, (4,), w, w * 2), {"x": "f32[B, 3, 4]",
                                                                 "w": "f32[4]"}, {}),
    ("softmax", lambda x: F.softmax(x, dim=1), X, {}),
]


@pytest.mark.parametrize("name,fn,specs,kinds", CASES, ids=[c[0] for c in CASES])
def test_op_matches_onnxruntime(name: str, fn: Callable[..., Any], specs: dict[str, str],
                                kinds: dict[str, str]) -> None:
    proto = _run(fn, specs, kinds)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "B"


def _model_check(model: nn.Module, spec: str, tmp_path: Path) -> None:
    model.eval()
    path = tmp_path / "m.onnx"
    nr.onnx.export(model, {"x": spec}, path)
    loaded = onnx.load(str(path))
    onnx.checker.check_model(loaded, full_check=True)
    sess = ort.InferenceSession(str(path))
    for b in (1, 7):
        x = _data(spec, b, "f")
        with nr.no_grad():
            want = model(nr.tensor(x)).numpy()
        np.testing.assert_allclose(sess.run(None, {"x": x})[0], want, rtol=1e-4, atol=1e-5)


def test_mnist_small_cnn(tmp_path: Path) -> None:
    from neurarust.examples.mnist import SmallCNN

    _model_check(SmallCNN(), "f32[B, 1, 28, 28]", tmp_path)


def test_mlp(tmp_path: Path) -> None:
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 32),
                        nn.Tanh(), nn.Linear(32, 10), nn.LogSoftmax(dim=1))
    _model_check(mlp, "f32[B, 1, 28, 28]", tmp_path)


def test_parameters_become_initializers_and_source_lines_kept() -> None:
    lin = nn.Linear(4, 3)
    proto = nr.onnx.export(lin, {"x": "f32[N, 4]"})
    names = {t.name for t in proto.graph.initializer}
    assert {"weight", "bias"} <= names
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "N"
    assert any("test_onnx_export.py" in n.doc_string or "linear" in n.doc_string
               for n in proto.graph.node)


def test_unmapped_ops_listed_all_at_once() -> None:
    def f(x: nr.Tensor) -> nr.Tensor:
        return x.cumsum(1) + x.cumsum(0) + x.argmax(1, keepdim=True).float()

    with pytest.raises(OnnxExportError) as info:
        nr.onnx.export(f, {"x": "f32[B, 4]"})
    msg = str(info.value)
    assert "cumsum x2" in msg and "argmax x1" in msg
    assert "test_onnx_export.py:" in msg
    assert "to_onnx" in msg


def test_file_written_atomically_and_cli(tmp_path: Path) -> None:
    from neurarust.cli import main

    out = tmp_path / "net.onnx"
    rc = main(["export", "neurarust/examples/mnist.py:SmallCNN", "--input",
               "x: f32[B,1,28,28]", "-o", str(out)])
    assert rc == 0 and out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["net.onnx"]  # no temp file left
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)
    assert main(["export", "neurarust/examples/mnist.py:Nope", "--input", "x: f32[B]",
                 "-o", str(out)]) == 2
