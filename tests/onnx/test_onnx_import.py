"""ONNX import (``nr.onnx.load``): ACAS Xu vs onnxruntime, export->import round trips, the
unsupported-op error, malformed files, fine-tuning, and a fast conformance slice."""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import neurarust as nr
from neurarust import nn
from neurarust.onnx import OnnxImportError

RNG = np.random.default_rng(0)
ACAS = sorted(glob.glob(str(Path(__file__).resolve().parents[2] / ".." / "shared" / "vnncomp"
                            / "acasxu" / "*.onnx")))


@pytest.mark.skipif(not ACAS, reason="ACAS Xu networks (../shared/vnncomp/acasxu) absent")
def test_acasxu_matches_onnxruntime() -> None:
    worst = 0.0
    for path in ACAS[::9]:
        net = nr.onnx.load(path)
        sess = ort.InferenceSession(path)
        for _ in range(3):
            x = RNG.uniform(-1, 1, (1, 1, 1, 5)).astype(np.float32)
            with nr.no_grad():
                got = net(nr.tensor(x)).numpy()
            want = sess.run(None, {sess.get_inputs()[0].name: x})[0]
            assert got.shape == want.shape
            worst = max(worst, float(np.abs(got - want).max()))
    assert worst < 1e-5, worst


def _round_trip(model: nn.Module, spec: str, shape: tuple[int, ...], tmp: Path) -> None:
    model.eval()
    path = tmp / "m.onnx"
    nr.onnx.export(model, {"x": spec}, path)
    net = nr.onnx.load(path)
    assert len(list(net.parameters())) == len(list(model.parameters()))
    for b in (1, 3):
        x = RNG.standard_normal((b, *shape)).astype(np.float32)
        with nr.no_grad():
            want = model(nr.tensor(x)).numpy()
            got = net(nr.tensor(x)).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_round_trip_small_cnn(tmp_path: Path) -> None:
    from neurarust.examples.mnist import SmallCNN

    _round_trip(SmallCNN(), "f32[B, 1, 28, 28]", (1, 28, 28), tmp_path)


def test_round_trip_mlp(tmp_path: Path) -> None:
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 16),
                        nn.Tanh(), nn.Linear(16, 10), nn.LogSoftmax(dim=1))
    _round_trip(mlp, "f32[B, 1, 28, 28]", (1, 28, 28), tmp_path)


def test_imported_model_fine_tunes(tmp_path: Path) -> None:
    mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    path = tmp_path / "m.onnx"
    nr.onnx.export(mlp, {"x": "f32[B, 4]"}, path)
    net = nr.onnx.load(path)
    params = list(net.parameters())
    assert params and all(p.requires_grad for p in params)
    x, y = nr.tensor(RNG.standard_normal((16, 4)).astype(np.float32)), nr.zeros(16, 2)
    opt = nr.optim.SGD(net.parameters(), lr=0.1)
    first = None
    for _ in range(20):
        loss = ((net(x) - y) ** 2).mean()
        first = float(loss.item()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.item()) < first


def _model(nodes: list, inputs: list, outputs: list, inits: list = (), opset: int = 17):  # type: ignore[no-untyped-def, assignment]
    g = onnx.helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return onnx.helper.make_model(g, opset_imports=[onnx.helper.make_opsetid("", opset)])


def _vi(name: str, shape: list) -> object:  # type: ignore[type-arg]
    return onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape)


def test_unsupported_ops_listed_with_counts() -> None:
    h = onnx.helper
    m = _model([h.make_node("Foo", ["x"], ["a"]), h.make_node("Foo", ["a"], ["b"]),
                h.make_node("Bar", ["b"], ["c"]), h.make_node("Relu", ["c"], ["y"])],
               [_vi("x", [2])], [_vi("y", [2])])
    with pytest.raises(OnnxImportError) as err:
        nr.onnx.load(m.SerializeToString())
    msg = str(err.value)
    assert "2 unsupported op type(s) (3 node(s))" in msg
    assert "Foo x2" in msg and "Bar x1" in msg


def test_gemm_reshape_and_shape_arithmetic() -> None:
    h = onnx.helper
    w = RNG.standard_normal((3, 4)).astype(np.float32)
    c = RNG.standard_normal((3,)).astype(np.float32)
    m = _model([h.make_node("Gemm", ["x", "w", "c"], ["g"], alpha=0.5, beta=2.0, transB=1),
                h.make_node("Shape", ["g"], ["s"]),
                h.make_node("Constant", [], ["minus1"], value_ints=[0, -1, 1]),
                h.make_node("Reshape", ["g", "minus1"], ["y"])],
               [_vi("x", ["N", 4])], [_vi("y", ["N", 3, 1])],
               [onnx.numpy_helper.from_array(w, "w"), onnx.numpy_helper.from_array(c, "c")])
    net = nr.onnx.load(m)
    x = RNG.standard_normal((5, 4)).astype(np.float32)
    want = ort.InferenceSession(m.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_allclose(net(x).detach().numpy(), want, rtol=1e-5, atol=1e-6)


def test_truncated_and_mutated_files_give_clear_errors(tmp_path: Path) -> None:
    mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    data = nr.onnx.export(mlp, {"x": "f32[B, 4]"}).SerializeToString()
    for cut in (0, 1, 10, len(data) // 2, len(data) - 3):
        with pytest.raises(OnnxImportError):
            nr.onnx.load(data[:cut])
    path = tmp_path / "bad.onnx"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(OnnxImportError, match="not a valid ONNX|no graph|malformed"):
        nr.onnx.load(path)
    with pytest.raises(OnnxImportError, match="cannot read"):
        nr.onnx.load(tmp_path / "missing.onnx")
    rng = np.random.default_rng(1)
    x = np.ones((2, 4), np.float32)
    for _ in range(60):
        buf = bytearray(data)
        for i in rng.integers(0, len(buf), 4):
            buf[i] = int(rng.integers(0, 256))
        try:
            net = nr.onnx.load(bytes(buf))
            with nr.no_grad():
                net(x)
        except (OnnxImportError, nr.ShapeError, nr.DTypeError, TypeError, ValueError,
                KeyError, IndexError):
            pass


def test_external_data_is_refused() -> None:
    h = onnx.helper
    t = onnx.numpy_helper.from_array(np.ones(2, np.float32), "w")
    t.data_location = onnx.TensorProto.EXTERNAL
    t.ClearField("raw_data")
    e = t.external_data.add()
    e.key, e.value = "location", "/etc/passwd"
    m = _model([h.make_node("Add", ["x", "w"], ["y"])], [_vi("x", [2])], [_vi("y", [2])], [t])
    with pytest.raises(OnnxImportError, match="external data"):
        nr.onnx.load(m.SerializeToString())


def test_conformance_slice() -> None:
    from neurarust.onnx import conformance

    res = conformance.run(ops=["Relu", "Gemm", "Reshape", "Transpose", "Softmax"], with_ort=False)
    passed, total = res.total()
    assert total >= 20
    assert passed / total >= 0.8, dict(res.ours)


def test_composed_importers_conformance() -> None:
    """Importers composed from existing ops (Attention, ConvTranspose, TopK, GatherND,
    Scatter*, RMSNormalization, Hardmax, DepthToSpace/SpaceToDepth, hyperbolic ops)."""
    from neurarust.onnx import conformance

    ops = ["Attention", "ConvTranspose", "TopK", "GatherND", "ScatterND", "ScatterElements",
           "RMSNormalization", "Hardmax", "DepthToSpace", "SpaceToDepth", "Sinh", "Cosh",
           "Tan", "Asinh", "Acosh", "Atanh", "BitShift"]
    res = conformance.run(ops=ops, with_ort=False)
    minimum = {"Attention": 74, "ConvTranspose": 10, "TopK": 6, "GatherND": 3,
               "RMSNormalization": 19, "Hardmax": 7, "DepthToSpace": 2, "SpaceToDepth": 4,
               "Sinh": 2, "Cosh": 2, "Tan": 2, "Asinh": 2, "Acosh": 2, "Atanh": 2,
               "BitShift": 18, "ScatterND": 2, "ScatterElements": 4}
    got = {op: res.ours[op]["pass"] for op in ops}
    assert all(got[op] >= n for op, n in minimum.items()), got


def test_scatter_reductions_match_numpy() -> None:
    """max/min/mul with repeated indices (applied in rounds); an unknown reduction is named."""
    h = onnx.helper
    x = np.array([1.0, 5.0, -2.0, 4.0], np.float32)
    idx = np.array([0, 2, 0, 3, 0], np.int64)
    upd = np.array([3.0, -1.0, 7.0, 0.5, 2.0], np.float32)
    for red, ufunc in (("max", np.maximum), ("min", np.minimum), ("mul", np.multiply)):
        m = _model([h.make_node("ScatterElements", ["x", "i", "u"], ["y"], reduction=red)],
                   [_vi("x", [4]), h.make_tensor_value_info("i", onnx.TensorProto.INT64, [5]),
                    _vi("u", [5])], [_vi("y", [4])], opset=18)
        want = x.copy()
        ufunc.at(want, idx, upd)
        got = nr.onnx.load(m)(x, idx, upd).numpy()
        np.testing.assert_allclose(got, want, err_msg=red)
    m = _model([h.make_node("ScatterElements", ["x", "i", "u"], ["y"], reduction="median")],
               [_vi("x", [4]), h.make_tensor_value_info("i", onnx.TensorProto.INT64, [5]),
                _vi("u", [5])], [_vi("y", [4])], opset=18)
    with pytest.raises(OnnxImportError, match="reduction='median' is not supported"):
        nr.onnx.load(m)(x, idx, upd)


def test_new_importer_families_pass_their_conformance_cases() -> None:
    """Every counted backend case of these op families passes (resize, recurrent, pooling,
    losses, control flow, recent sequence ops, scans and crops, scatter reductions)."""
    from neurarust.onnx import conformance

    ops = ["Resize", "Upsample", "LSTM", "GRU", "RNN", "MaxPool", "AveragePool", "LpPool",
           "NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss", "If", "Loop",
           "LinearAttention", "CausalConvWithState", "RotaryEmbedding", "CumProd",
           "LpNormalization", "CenterCropPad", "Pad", "ScatterND", "ScatterElements",
           "GridSample", "AffineGrid", "QuantizeLinear", "DequantizeLinear", "QLinearMatMul",
           "GroupNormalization", "LRN", "ReverseSequence", "Col2Im", "NonZero", "Compress",
           "Unique"]
    res = conformance.run(ops=ops, with_ort=False)
    failing = {op: dict(c) for op, c in res.ours.items() if c["pass"] != sum(c.values())}
    minimum = {"Resize": 39, "LSTM": 6, "MaxPool": 19, "AveragePool": 20, "LpPool": 8,
               "NegativeLogLikelihoodLoss": 13, "LinearAttention": 7, "CumProd": 9,
               "GridSample": 18, "QLinearMatMul": 8}
    assert not failing, failing
    assert all(res.ours[op]["pass"] >= n for op, n in minimum.items()), dict(res.ours)


def test_unsupported_ops_inside_subgraphs_are_listed_too() -> None:
    h = onnx.helper
    branch = h.make_graph([h.make_node("Foo", ["x"], ["z"])], "b", [], [_vi("z", [2])])
    m = _model([h.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch),
                h.make_node("Bar", ["y"], ["w"])],
               [h.make_tensor_value_info("c", onnx.TensorProto.BOOL, []), _vi("x", [2])],
               [_vi("w", [2])])
    with pytest.raises(OnnxImportError) as err:
        nr.onnx.load(m)
    assert "2 unsupported op type(s) (3 node(s))" in str(err.value)
    assert "Foo x2" in str(err.value) and "Bar x1" in str(err.value)


def test_grid_sample_forward_and_gradients_match_torch() -> None:
    """The imported GridSample differentiates with respect to both the input and the grid."""
    torch = pytest.importorskip("torch")
    h = onnx.helper
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    grid = rng.uniform(-1.2, 1.2, (2, 6, 7, 2)).astype(np.float32)
    # ONNX clamps/reflects the coordinate before taking cubic taps, PyTorch each tap: they
    # agree for cubic only with zero padding
    cases = [("linear", "bilinear", p) for p in ("zeros", "border", "reflection")]
    for mode, torch_mode, padding in [*cases, ("cubic", "bicubic", "zeros")]:
        m = _model([h.make_node("GridSample", ["x", "g"], ["y"], mode=mode,
                                padding_mode=padding, align_corners=0)],
                   [_vi("x", list(x.shape)), _vi("g", list(grid.shape))],
                   [_vi("y", [None] * 4)], opset=20)
        xn, gn = nr.tensor(x, requires_grad=True), nr.tensor(grid, requires_grad=True)
        yn = nr.onnx.load(m)(xn, gn)
        (yn * yn).sum().backward()
        xt = torch.tensor(x, requires_grad=True)
        gt = torch.tensor(grid, requires_grad=True)
        yt = torch.nn.functional.grid_sample(xt, gt, mode=torch_mode, padding_mode=padding,
                                             align_corners=False)
        (yt * yt).sum().backward()
        what = f"{mode}/{padding}"
        np.testing.assert_allclose(yn.detach().numpy(), yt.detach().numpy(), rtol=1e-4,
                                   atol=1e-5, err_msg=what)
        np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), rtol=1e-3, atol=1e-4,
                                   err_msg=what)
        np.testing.assert_allclose(gn.grad.numpy(), gt.grad.numpy(), rtol=1e-3, atol=1e-3,
                                   err_msg=what)


@pytest.mark.parametrize("attrs", [{"pads": [0, 1, 2, 0]}, {"auto_pad": "SAME_UPPER"},
                                   {"auto_pad": "SAME_LOWER", "strides": [2, 2]}])
def test_conv_with_asymmetric_padding_matches_onnxruntime(attrs: dict) -> None:  # type: ignore[type-arg]
    ort = pytest.importorskip("onnxruntime")
    h = onnx.helper
    rng = np.random.default_rng(4)
    w = onnx.numpy_helper.from_array(rng.standard_normal((3, 2, 2, 4)).astype(np.float32), "w")
    m = _model([h.make_node("Conv", ["x", "w"], ["y"], **attrs)], [_vi("x", [1, 2, 5, 6])],
               [_vi("y", [None] * 4)], [w])
    x = rng.standard_normal((1, 2, 5, 6)).astype(np.float32)
    want = ort.InferenceSession(m.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = nr.onnx.load(m)(x).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
