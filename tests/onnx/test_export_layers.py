"""ONNX export of every layer and loss in ``nr.nn``, checked against onnxruntime.

The layer list is read from ``nr.nn`` itself (every ``Module`` subclass it exports), so a new
layer without a case here fails ``test_every_layer_has_a_case``. Each case is traced once
with a symbolic batch ``B`` (``N`` for losses), exported (``check_model(full_check=True)`` and
ONNX shape inference vs the traced shapes run inside ``export``), then run in one
onnxruntime session at two batch sizes and compared with eager neurarust (eval mode).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import neurarust as nr  # noqa: E402
from neurarust import nn  # noqa: E402
from neurarust.trace import parse_spec  # noqa: E402

BATCHES = (2, 5)

# Modules with no forward of their own (containers of parameters or modules, bases).
NOT_LAYERS = {"Module", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict",
              "RNNBase", "RNNCellBase"}


@dataclass
class Case:
    """A module factory, its input specs (in forward order) and how to draw each input:
    ``normal`` (default), ``pos`` (in [0.5, 2]), ``prob`` (in (0.05, 0.95)), ``simplex``
    (rows summing to 1 over dim 1), ``intK`` (integers in [0, K))."""

    make: Callable[[], nn.Module]
    specs: dict[str, str]
    kinds: dict[str, str] = field(default_factory=dict)
    atol: float = 1e-5


def _with_stats(bn: nn.Module) -> nn.Module:
    """A batch norm whose running statistics are not the trivial 0 and 1."""
    rng = np.random.default_rng(1)
    with nr.no_grad():
        bn.running_mean.copy_(nr.tensor(rng.standard_normal(bn.running_mean.shape)
                                        .astype(np.float32)))
        bn.running_var.copy_(nr.tensor(rng.uniform(0.5, 2.0, bn.running_var.shape)
                                       .astype(np.float32)))
    return bn


X = {"x": "f32[B, 3, 4]"}
SEQ = {"x": "f32[B, 5, 3]"}

LAYERS: dict[str, list[Case]] = {
    # activations
    **{name: [Case(getattr(nn, name), X)] for name in [
        "CELU", "ELU", "GELU", "SELU", "Hardsigmoid", "Hardswish", "Hardtanh", "LeakyReLU",
        "LogSigmoid", "Mish", "ReLU", "ReLU6", "Sigmoid", "SiLU", "Softsign", "Tanh",
        "Tanhshrink", "Identity"]},
    "GELU_tanh": [Case(lambda: nn.GELU(approximate="tanh"), X)],
    "GLU": [Case(nn.GLU, {"x": "f32[B, 3, 4]"})],
    "Softplus": [Case(nn.Softplus, X), Case(lambda: nn.Softplus(beta=2.0, threshold=1.0), X)],
    "Threshold": [Case(lambda: nn.Threshold(0.1, 2.0), X)],
    "Softmax": [Case(lambda: nn.Softmax(dim=1), X)],
    "Softmin": [Case(lambda: nn.Softmin(dim=-1), X)],
    "LogSoftmax": [Case(lambda: nn.LogSoftmax(dim=1), X)],
    # linear, shape
    "Linear": [Case(lambda: nn.Linear(4, 3), X), Case(lambda: nn.Linear(4, 2, bias=False), X)],
    "Bilinear": [Case(lambda: nn.Bilinear(4, 3, 2), {"x1": "f32[B, 4]", "x2": "f32[B, 3]"})],
    "Flatten": [Case(nn.Flatten, X)],
    "Unflatten": [Case(lambda: nn.Unflatten(2, (2, 2)), X)],
    "Embedding": [Case(lambda: nn.Embedding(10, 4, padding_idx=0), {"x": "i64[B, 3]"},
                       {"x": "int10"})],
    "Dropout": [Case(nn.Dropout, X)],
    "Dropout1d": [Case(nn.Dropout1d, X)],
    "Dropout2d": [Case(nn.Dropout2d, {"x": "f32[B, 2, 3, 4]"})],
    # convolution and pooling
    "Conv1d": [Case(lambda: nn.Conv1d(2, 4, 3, padding=1, dilation=2), {"x": "f32[B, 2, 9]"}),
               Case(lambda: nn.Conv1d(4, 4, 3, groups=2, padding="same"),
                    {"x": "f32[B, 4, 8]"})],
    "Conv2d": [Case(lambda: nn.Conv2d(2, 3, 3, stride=2, padding=1), {"x": "f32[B, 2, 7, 7]"}),
               Case(lambda: nn.Conv2d(2, 4, (3, 2), groups=2, bias=False),
                    {"x": "f32[B, 2, 6, 5]"})],
    "ConvTranspose1d": [Case(lambda: nn.ConvTranspose1d(2, 3, 3, stride=2, padding=1,
                                                        output_padding=1),
                             {"x": "f32[B, 2, 5]"})],
    "ConvTranspose2d": [Case(lambda: nn.ConvTranspose2d(2, 4, 3, stride=2, groups=2),
                             {"x": "f32[B, 2, 4, 4]"})],
    "MaxPool1d": [Case(lambda: nn.MaxPool1d(3, 2, padding=1), {"x": "f32[B, 2, 9]"})],
    "MaxPool2d": [Case(lambda: nn.MaxPool2d(2), {"x": "f32[B, 2, 6, 6]"}),
                  Case(lambda: nn.MaxPool2d(3, 2, ceil_mode=True), {"x": "f32[B, 2, 8, 8]"})],
    "AvgPool1d": [Case(lambda: nn.AvgPool1d(3, 2, padding=1), {"x": "f32[B, 2, 9]"})],
    "AvgPool2d": [Case(lambda: nn.AvgPool2d(2), {"x": "f32[B, 2, 6, 6]"}),
                  Case(lambda: nn.AvgPool2d(3, 2, padding=1, count_include_pad=False),
                       {"x": "f32[B, 2, 7, 7]"})],
    "AdaptiveAvgPool1d": [Case(lambda: nn.AdaptiveAvgPool1d(3), {"x": "f32[B, 2, 8]"})],
    "AdaptiveAvgPool2d": [Case(lambda: nn.AdaptiveAvgPool2d((3, 2)), {"x": "f32[B, 2, 7, 5]"}),
                          Case(lambda: nn.AdaptiveAvgPool2d(1), {"x": "f32[B, 2, 7, 5]"})],
    # normalisation
    "BatchNorm1d": [Case(lambda: _with_stats(nn.BatchNorm1d(3)), {"x": "f32[B, 3, 5]"})],
    "BatchNorm2d": [Case(lambda: _with_stats(nn.BatchNorm2d(3)), {"x": "f32[B, 3, 4, 4]"})],
    "GroupNorm": [Case(lambda: nn.GroupNorm(2, 4), {"x": "f32[B, 4, 3, 3]"})],
    "LayerNorm": [Case(lambda: nn.LayerNorm(4), X), Case(lambda: nn.LayerNorm((3, 4)), X)],
    "RMSNorm": [Case(lambda: nn.RMSNorm(4), X)],
    # recurrent, attention
    "RNN": [Case(lambda: nn.RNN(3, 4, num_layers=2, batch_first=True), SEQ),
            Case(lambda: nn.RNN(3, 4, nonlinearity="relu", bidirectional=True),
                 {"x": "f32[5, B, 3]"})],
    "LSTM": [Case(lambda: nn.LSTM(3, 4, batch_first=True, bidirectional=True), SEQ),
             Case(lambda: nn.LSTM(3, 4, num_layers=2, proj_size=2), {"x": "f32[5, B, 3]"})],
    "GRU": [Case(lambda: nn.GRU(3, 4, num_layers=2, batch_first=True), SEQ)],
    # a symbolic sequence length: each layer is one rnn_layer op, ONNX's RNN/LSTM/GRU node
    "RNN_symbolic_T": [Case(lambda: nn.RNN(3, 4, nonlinearity="relu", bidirectional=True),
                            {"x": "f32[T, B, 3]"}),
                       Case(lambda: nn.RNN(3, 4, num_layers=2, bias=False), {"x": "f32[T, 3]"})],
    "LSTM_symbolic_T": [Case(lambda: nn.LSTM(3, 4, num_layers=2, batch_first=True,
                                             bidirectional=True), {"x": "f32[B, T, 3]"})],
    "GRU_symbolic_T": [Case(lambda: nn.GRU(3, 4, bidirectional=True), {"x": "f32[T, B, 3]"})],
    "RNNCell": [Case(lambda: nn.RNNCell(3, 4), {"x": "f32[B, 3]"})],
    "LSTMCell": [Case(lambda: nn.LSTMCell(3, 4), {"x": "f32[B, 3]"})],
    "GRUCell": [Case(lambda: nn.GRUCell(3, 4), {"x": "f32[B, 3]"})],
    "MultiheadAttention": [Case(lambda: nn.MultiheadAttention(8, 2, batch_first=True),
                                {"q": "f32[B, 5, 8]", "k": "f32[B, 6, 8]", "v": "f32[B, 6, 8]"},
                                atol=2e-5)],
    "TransformerEncoderLayer": [Case(lambda: nn.TransformerEncoderLayer(
        8, 2, 16, batch_first=True), {"x": "f32[B, 5, 8]"}, atol=5e-5), Case(
        lambda: nn.TransformerEncoderLayer(8, 2, 16, activation="gelu", norm_first=True),
        {"x": "f32[5, B, 8]"}, atol=5e-5)],
    "TransformerEncoder": [Case(lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(
        8, 2, 16, batch_first=True), 2, norm=nn.LayerNorm(8)), {"x": "f32[B, 5, 8]"},
        atol=5e-5)],
    "Sequential": [Case(lambda: nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2)), X)],
}

# losses: (input, target) with a symbolic batch N, each reduction
_CLASSES = {"input": "f32[N, 5]", "target": "i64[N]"}
_PAIR = {"input": "f32[N, 3, 4]", "target": "f32[N, 3, 4]"}
for _reduction in ("mean", "sum", "none"):
    _r = {"reduction": _reduction}
    LAYERS.setdefault("MSELoss", []).append(Case(lambda r=_r: nn.MSELoss(**r), _PAIR))
    LAYERS.setdefault("L1Loss", []).append(Case(lambda r=_r: nn.L1Loss(**r), _PAIR))
    LAYERS.setdefault("SmoothL1Loss", []).append(
        Case(lambda r=_r: nn.SmoothL1Loss(beta=0.5, **r), _PAIR))
    LAYERS.setdefault("HuberLoss", []).append(
        Case(lambda r=_r: nn.HuberLoss(delta=0.7, **r), _PAIR))
    LAYERS.setdefault("BCELoss", []).append(
        Case(lambda r=_r: nn.BCELoss(**r), _PAIR, {"input": "prob", "target": "prob"}))
    LAYERS.setdefault("BCEWithLogitsLoss", []).append(Case(
        lambda r=_r: nn.BCEWithLogitsLoss(pos_weight=nr.tensor([0.5, 1.0, 2.0, 3.0]), **r),
        _PAIR, {"target": "prob"}))
    LAYERS.setdefault("KLDivLoss", []).append(Case(
        lambda r=_r: nn.KLDivLoss(**r) if r["reduction"] != "mean" else
        nn.KLDivLoss(reduction="batchmean"), _PAIR, {"target": "prob"}))
    LAYERS.setdefault("NLLLoss", []).append(Case(
        lambda r=_r: nn.NLLLoss(weight=nr.tensor([1.0, 2.0, 0.5, 1.0, 3.0]), **r), _CLASSES,
        {"target": "int5"}))
    LAYERS.setdefault("CrossEntropyLoss", []).append(Case(
        lambda r=_r: nn.CrossEntropyLoss(label_smoothing=0.1, **r), _CLASSES,
        {"target": "int5"}))
LAYERS["NLLLoss"].append(Case(lambda: nn.NLLLoss(ignore_index=2),
                              {"input": "f32[N, 5, 3]", "target": "i64[N, 3]"},
                              {"target": "int5"}))
LAYERS["CrossEntropyLoss"].append(Case(lambda: nn.CrossEntropyLoss(
    weight=nr.tensor([1.0, 2.0, 0.5, 1.0, 3.0])), {"input": "f32[N, 5]", "target": "f32[N, 5]"},
    {"target": "simplex"}))
LAYERS["KLDivLoss"].append(Case(lambda: nn.KLDivLoss(reduction="sum", log_target=True), _PAIR))


def _draw(rng: np.random.Generator, spec: str, batch: int, kind: str) -> np.ndarray:  # type: ignore[type-arg]
    dtype, shape = parse_spec(spec)
    dims = tuple(d.as_int() if d.is_constant else batch for d in shape)
    if kind == "pos":
        return rng.uniform(0.5, 2.0, dims).astype(np.float32)
    if kind == "prob":
        return rng.uniform(0.05, 0.95, dims).astype(np.float32)
    if kind == "simplex":
        p = rng.uniform(0.05, 1.0, dims)
        return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)
    if kind.startswith("int"):
        return rng.integers(0, int(kind[3:]), dims).astype(dtype.np_dtype)
    return rng.standard_normal(dims).astype(dtype.np_dtype)


def _flat(out: Any) -> list[nr.Tensor]:
    if isinstance(out, (tuple, list)):
        return [t for x in out for t in _flat(x)]
    return [out]


def export_and_compare(case: Case, seed: int = 0) -> float:
    """Export ``case``'s module, run it in onnxruntime at each batch size and compare every
    output with eager neurarust; returns the largest absolute difference seen."""
    rng = np.random.default_rng(seed)
    nr.manual_seed(seed)
    module = case.make()
    module.eval()
    proto = nr.onnx.export(module, case.specs)
    symbolic = {d.dim_param for i in proto.graph.input for d in i.type.tensor_type.shape.dim
                if d.dim_param}
    assert symbolic, "the batch dim should be an ONNX dim_param"
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    worst = 0.0
    for batch in BATCHES:
        feeds = {k: _draw(rng, s, batch, case.kinds.get(k, "normal"))
                 for k, s in case.specs.items()}
        with nr.no_grad():
            want = [t.numpy() for t in _flat(module(*[nr.tensor(v) for v in feeds.values()]))]
        got = sess.run(None, feeds)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=case.atol)
            if w.size:
                worst = max(worst, float(np.max(np.abs(g.astype(np.float64) - w))))
    return worst


def _layer_classes() -> list[str]:
    return sorted(name for name in nn.__all__
                  if inspect.isclass(getattr(nn, name)) and issubclass(getattr(nn, name),
                                                                      nn.Module)
                  and name not in NOT_LAYERS)


def test_every_layer_has_a_case() -> None:
    covered = {name.split("_")[0] for name in LAYERS}
    missing = [name for name in _layer_classes() if name not in covered]
    assert not missing, f"nn layers without an ONNX export case: {missing}"


IDS = [f"{name}-{i}" for name, cases in LAYERS.items() for i in range(len(cases))]
ALL = [c for cases in LAYERS.values() for c in cases]


@pytest.mark.parametrize("case", ALL, ids=IDS)
def test_layer_matches_onnxruntime(case: Case) -> None:
    export_and_compare(case)
