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
II = {"x": "i64[B, 3, 4]", "y": "i64[B, 3, 4]"}
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
    ("remainder", lambda x, y: nr.remainder(x, y) + x % 0.7, XY, {}),
    ("remainder_int", lambda x, y: nr.remainder(x, y + 1), II, {"x": "int9", "y": "int4"}),
    ("bitwise_bool", lambda x, y: ((x > 0) & (y > 0)).float() + ((x > 0) | (y > 0)).float()
     + ((x > 0) ^ (y > 0)).float() + (~(x > 0)).float(), XY, {}),
    ("copy", lambda x, y: x.clone().copy_(y[:, :1]), XY, {}),
    ("cumsum", lambda x: x.cumsum(1) + x.cumsum(-1), X, {}),
    ("max_min_dim", lambda x: x.max(1)[0].unsqueeze(1) + x.min(-1, keepdim=True)[0], X, {}),
    ("argmax_argmin", lambda x: x.argmax(1, keepdim=True) + x.argmin(-1, keepdim=True)
     + x.argmax(), X, {}),
    ("norm", lambda x: x.norm() + x.norm(1, dim=1).sum() + x.norm(3, dim=(1, 2)).sum()
     + x.norm(float("inf"), dim=-1).sum() + x.norm(0, dim=-1).sum(), X, {}),
    ("all_any", lambda x: (x > 0).all(1).float() + (x > 0).any(1).float()
     + x.all(-2).float(), X, {}),
    ("flip", lambda x: x.flip((0, 2)), X, {}),
    ("repeat", lambda x: x.repeat(2, 1, 1, 3), X, {}),
    ("outer", lambda a, b: nr.outer(a, b), {"a": "f32[B]", "b": "f32[4]"}, {}),
    ("einsum", lambda x, y: nr.einsum("bij,bkj->bik", x, y), XY, {}),
    ("einsum_ellipsis", lambda x, y: nr.einsum("...j,...j->...", x, y), XY, {}),
    ("index", lambda x, i: x[i], {"x": "f32[B, 3, 4]", "i": "i64[5]"}, {"i": "int2"}),
    ("index_adjacent", lambda x, i, j: x[:, i, j],
     {"x": "f32[B, 3, 4]", "i": "i64[5]", "j": "i64[5]"}, {"i": "int3", "j": "int4"}),
    ("index_apart", lambda x, i, j: x[i, :, j],
     {"x": "f32[3, B, 4]", "i": "i64[2, 5]", "j": "i64[5]"}, {"i": "int3", "j": "int4"}),
    ("index_negative", lambda x, i: x[:, i - 3], {"x": "f32[B, 3, 4]", "i": "i64[2, 2]"},
     {"i": "int3"}),
    ("index_put", lambda x, i, v: _put(x, i, v),
     {"x": "f32[B, 3, 4]", "i": "i64[2]", "v": "f32[3, 4]"}, {"i": "int2"}),
    ("index_put_basic", lambda x, v: _put_basic(x, v), {"x": "f32[3, B, 4]",
                                                        "v": "f32[B, 4]"}, {}),
    ("scatter", lambda x, i: nr.scatter(x, 1, i, x[:, :2] * 10),
     {"x": "f32[B, 3]", "i": "i64[B, 2]"}, {"i": "int3"}),
    ("scatter_value", lambda x, i: x.scatter(1, i, 5.0), {"x": "f32[B, 3]", "i": "i64[B, 2]"},
     {"i": "int3"}),
    ("scatter_add", lambda x, i: x.scatter_add(1, i, x[:, :2] * 10),
     {"x": "f32[B, 3]", "i": "i64[B, 2]"}, {"i": "int3"}),
    ("nonzero_static", lambda x: nr.nonzero_static(x > 0, size=5), {"x": "f32[B, 3]"}, {}),
    ("slice_symbolic_bound", lambda x, y: x[:, :y.shape[1]] * 2,
     {"x": "f32[B, 6]", "y": "f32[B, T]"}, {}),
    ("conv_transpose1d", lambda x, w: nr.conv_transpose1d(x, w, stride=2, padding=1,
                                                          output_padding=1),
     {"x": "f32[B, 2, 5]", "w": "f32[2, 3, 3]"}, {}),
    ("conv_transpose2d_groups", lambda x, w: nr.conv_transpose2d(x, w, stride=2, groups=2),
     {"x": "f32[B, 2, 5, 5]", "w": "f32[2, 2, 3, 3]"}, {}),
    ("conv1d_unbatched", lambda x, w: nr.conv1d(x, w), {"x": "f32[2, 5]", "w": "f32[4, 2, 3]"},
     {}),
    ("conv2d_weight", lambda x, go: nr.conv2d_weight(x, (3, 2, 3, 3), go, stride=2, padding=1),
     {"x": "f32[B, 2, 7, 7]", "go": "f32[B, 3, 4, 4]"}, {}),
    ("conv1d_weight", lambda x, go: nr.conv1d_weight(x, (3, 2, 3), go, dilation=2),
     {"x": "f32[B, 2, 9]", "go": "f32[B, 3, 5]"}, {}),
    ("avg_pool1d", lambda x: nr.avg_pool1d(x, 3, 2, 1), {"x": "f32[B, 2, 8]"}, {}),
    ("avg_pool2d_divisor", lambda x: nr.avg_pool2d(x, 2, divisor_override=3),
     {"x": "f32[B, 2, 6, 6]"}, {}),
    ("adaptive_avg_pool1d", lambda x: nr.adaptive_avg_pool1d(x, 3), {"x": "f32[B, 2, 8]"}, {}),
    ("adaptive_avg_pool2d", lambda x: nr.adaptive_avg_pool2d(x, (3, 2)),
     {"x": "f32[B, 2, 7, 5]"}, {}),
    ("adaptive_avg_pool2d_global", lambda x: nr.adaptive_avg_pool2d(x, 1),
     {"x": "f32[B, 2, 7, 5]"}, {}),
    ("max_pool2d_indices", lambda x: F.max_pool2d(x, 2, return_indices=True)[1],
     {"x": "f32[B, 2, 6, 6]"}, {}),
    ("max_pool2d_ceil", lambda x: F.max_pool2d(x, 3, 2, ceil_mode=True),
     {"x": "f32[B, 2, 6, 6]"}, {}),
]


def _put(x: nr.Tensor, i: nr.Tensor, v: nr.Tensor) -> nr.Tensor:
    y = x.clone()
    y[i] = v
    return y


def _put_basic(x: nr.Tensor, v: nr.Tensor) -> nr.Tensor:
    y = x.clone()
    y[0] = v  # a (B, 4) region
    y[1, :, 2] = v[:, 0] * 2  # a (B,) region, ints apart
    y[:, :, 1] = 5.0
    return y


@pytest.mark.parametrize("name,fn,specs,kinds", CASES, ids=[c[0] for c in CASES])
def test_op_matches_onnxruntime(name: str, fn: Callable[..., Any], specs: dict[str, str],
                                kinds: dict[str, str]) -> None:
    proto = _run(fn, specs, kinds, batches=(2, 5) if "B" in str(specs) else (1,))
    dims = [d for i in proto.graph.input for d in i.type.tensor_type.shape.dim]
    assert any(d.dim_param == "B" for d in dims) or "B" not in str(specs)


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


# Gradient ops that only backward rules call (no public function reaches them), so a traced
# forward graph never holds them: they have no ONNX mapping.
GRADIENT_ONLY = {"max_pool1d_backward", "max_pool2d_backward", "avg_pool1d_backward",
                 "avg_pool2d_backward", "adaptive_avg_pool1d_backward",
                 "adaptive_avg_pool2d_backward", "log_softmax_backward", "threshold_backward",
                 "nll_loss_backward"}


def test_every_forward_op_has_an_onnx_mapping() -> None:
    from neurarust.ops.registry import all_ops

    unmapped = {name for name, op in all_ops().items() if not nr.onnx.has_mapping(op)}
    assert unmapped <= GRADIENT_ONLY, sorted(unmapped - GRADIENT_ONLY)


def test_unmapped_ops_listed_all_at_once() -> None:
    def f(x: nr.Tensor) -> nr.Tensor:  # gradient ops, reached the way backward rules do
        return (x._apply("threshold_backward", x, threshold=0.0)
                + x._apply("threshold_backward", x, threshold=1.0)
                + x._apply("log_softmax_backward", x, dim=1))

    with pytest.raises(OnnxExportError) as info:
        nr.onnx.export(f, {"x": "f32[B, 4]"})
    msg = str(info.value)
    assert "threshold_backward x2" in msg and "log_softmax_backward x1" in msg
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


def test_bitwise_on_integers_needs_opset_18() -> None:
    def f(x: nr.Tensor, y: nr.Tensor) -> nr.Tensor:
        return (x & y) + (x | y) + (x ^ y) + ~x

    specs = {"x": "i64[B, 3]", "y": "i64[B, 3]"}
    with pytest.raises(OnnxExportError, match="BitwiseAnd on integers needs opset 18"):
        nr.onnx.export(f, specs)
    proto = nr.onnx.export(f, specs, opset=18)
    sess = ort.InferenceSession(proto.SerializeToString())
    x, y = RNG.integers(-9, 9, (4, 3)), RNG.integers(-9, 9, (4, 3))
    want = f(nr.tensor(x), nr.tensor(y)).numpy()
    np.testing.assert_array_equal(sess.run(None, {"x": x, "y": y})[0], want)
