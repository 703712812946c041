"""ACAS Xu networks for tests: ONNX initializers read with `onnx` into nn.Sequential (TEST code
only; the production path is nr.onnx.load)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import neurarust as nr
from neurarust import nn

ACAS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "vnncomp", "acasxu")
if not os.path.isdir(ACAS):
    ACAS = "/work/shared/vnncomp/acasxu"


def need_acas() -> str:
    if not os.path.isdir(ACAS):
        pytest.skip("ACAS Xu benchmark data (../shared/vnncomp/acasxu) is absent")
    return ACAS


def load_acas(path: str) -> nn.Sequential:
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    m = onnx.load(path)
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    assert not init["input_AvgImg"].any()  # the input shift is zero in these files
    mats = [k for k in init if k.endswith("MatMul_W")]
    layers: list[nn.Module] = []
    for i, k in enumerate(mats):
        w, b = init[k], init[k.replace("MatMul_W", "Add_B")]
        lin = nn.Linear(w.shape[0], w.shape[1])
        with nr.no_grad():
            lin.weight.copy_(nr.tensor(np.ascontiguousarray(w.T)))
            lin.bias.copy_(nr.tensor(b))
        layers.append(lin)
        if i < len(mats) - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)
