"""The edge scripts (``deploy/edge/``): an exported model runs with onnxruntime alone and gives
neurarust's outputs, and its int8-weight version stays close to the float32 one."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import neurarust as nr
from neurarust.examples.mnist import SmallCNN

EDGE = Path(__file__).resolve().parents[2] / "deploy" / "edge"
Exported = tuple[Path, NDArray[Any], NDArray[Any]]  # folder, inputs, neurarust's logits
SPEC = {"x": "f32[B, 1, 28, 28]"}

# Runs run.py as a device would: importing neurarust (or the project) there fails.
WITHOUT_NEURARUST = (
    "import runpy, sys\n"
    "sys.modules['neurarust'] = None\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"edge_{name}", EDGE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """The seeded CNN exported once, with random inputs and neurarust's logits for them."""
    folder = tmp_path_factory.mktemp("edge")
    nr.manual_seed(0)
    model = SmallCNN()
    model.eval()
    nr.onnx.export(model, SPEC, folder / "model.onnx")
    x = np.random.default_rng(0).standard_normal((6, 1, 28, 28)).astype(np.float32)
    with nr.no_grad():
        want = model(nr.tensor(x)).numpy()
    return folder, x, want


def test_run_script_needs_only_onnxruntime(
        exported: Exported) -> None:
    folder, x, want = exported
    np.save(folder / "x.npy", x)
    np.save(folder / "labels.npy", want.argmax(axis=1))
    proc = subprocess.run(
        [sys.executable, "-c", WITHOUT_NEURARUST, str(EDGE / "run.py"), str(folder / "model.onnx"),
         str(folder / "x.npy"), "--labels", str(folder / "labels.npy"),
         "--out", str(folder / "y.npy"), "--threads", "1", "--repeat", "1"],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "output float32[6, 10]" in proc.stdout and "accuracy 100.0% on 6 rows" in proc.stdout
    np.testing.assert_allclose(np.load(folder / "y.npy"), want, rtol=1e-4, atol=1e-5)


def test_quantize_folds_constants_and_stores_int8_weights(
        exported: Exported) -> None:
    pytest.importorskip("onnxruntime.quantization")
    folder, x, want = exported
    quantize = _module("quantize")
    quantize.fold_constants(str(folder / "model.onnx"), str(folder / "folded.onnx"))
    folded = onnx.load(str(folder / "folded.onnx"))
    # The linear layers' MatMul(x, Transpose(weight)) became Gemms on constant weights.
    assert [n.op_type for n in folded.graph.node].count("Gemm") == 2
    assert "Transpose" not in [n.op_type for n in folded.graph.node]

    quantize.quantize(str(folder / "model.onnx"), str(folder / "int8.onnx"))
    int8 = onnx.load(str(folder / "int8.onnx"))
    int8_weights = sum(int(np.prod(t.dims)) for t in int8.graph.initializer
                       if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 2)
    assert int8_weights == 32 * 7 * 7 * 128 + 128 * 10  # both linear layers, not the convs
    size = (folder / "int8.onnx").stat().st_size
    assert size < 0.3 * (folder / "model.onnx").stat().st_size

    for path, tolerance in (("folded.onnx", 1e-5), ("int8.onnx", 0.03)):
        sess = ort.InferenceSession(str(folder / path), providers=["CPUExecutionProvider"])
        got = sess.run(None, {"x": x})[0]
        # Relative to the logits' scale: int8 weights cost about 1% here.
        error = float(np.abs(got - want).max() / np.abs(want).max())
        assert error < tolerance, (path, error)
