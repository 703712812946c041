"""The plugin's static output shapes of each layer it models agree with the runtime's and with
PyTorch's (where installed), for concrete sample inputs: one generated program, one mypy run.

Each case is a layer constructor (valid as ``neurarust.nn`` and ``torch.nn`` source) and the
input shapes it is called with; ``reveal_type`` of the call gives the plugin's shapes (every
tensor of a returned tuple, in order), which must equal the shapes the layer really returns.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

api = pytest.importorskip("mypy.api")

import neurarust as nr  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

CASES: list[tuple[str, list[tuple[int, ...]], str]] = [
    # (constructor, input shapes, extra call arguments)
    ("nn.Linear(5, 3)", [(2, 4, 5)], ""),
    ("nn.Conv1d(3, 8, 3, stride=2, padding=1)", [(2, 3, 17)], ""),
    ("nn.Conv1d(4, 6, 2, dilation=3, groups=2, bias=False)", [(4, 13)], ""),
    ("nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=1)", [(2, 3, 9, 8)], ""),
    ("nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1)", [(2, 4, 7)], ""),
    ("nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)",
     [(2, 4, 5, 7)], ""),
    ("nn.ConvTranspose2d(3, 2, 2, stride=2, dilation=2)", [(3, 4, 4)], ""),
    ("nn.MaxPool1d(3, stride=2)", [(2, 3, 11)], ""),
    ("nn.AvgPool1d(2, padding=1)", [(2, 3, 11)], ""),
    ("nn.AdaptiveAvgPool2d((2, 3))", [(2, 3, 7, 8)], ""),
    ("nn.AdaptiveAvgPool2d(1)", [(3, 5, 4)], ""),
    ("nn.AdaptiveAvgPool2d((None, 2))", [(2, 3, 7, 8)], ""),
    ("nn.AdaptiveAvgPool1d(4)", [(2, 3, 9)], ""),
    ("nn.BatchNorm1d(6)", [(4, 6, 9)], ""),
    ("nn.BatchNorm1d(6)", [(4, 6)], ""),
    ("nn.BatchNorm2d(3)", [(2, 3, 5, 4)], ""),
    ("nn.GroupNorm(2, 6)", [(2, 6, 5)], ""),
    ("nn.GroupNorm(3, 6, affine=False)", [(2, 6, 3, 3)], ""),
    ("nn.Softmax(dim=1)", [(2, 3, 4)], ""),
    ("nn.LogSoftmax(dim=-1)", [(2, 3)], ""),
    ("nn.RNN(5, 7, num_layers=3)", [(4, 3, 5)], ""),
    ("nn.RNN(5, 7, batch_first=True, bidirectional=True)", [(3, 4, 5)], ""),
    ("nn.GRU(5, 7)", [(4, 5)], ""),
    ("nn.GRU(5, 7, num_layers=2, bidirectional=True, batch_first=True)", [(3, 4, 5)], ""),
    ("nn.LSTM(5, 7, num_layers=2, bidirectional=True, batch_first=True)", [(3, 4, 5)], ""),
    ("nn.LSTM(5, 8, proj_size=3)", [(4, 3, 5)], ""),
    ("nn.LSTM(5, 8, proj_size=3, num_layers=2, bidirectional=True)", [(4, 5)], ""),
    ("nn.MultiheadAttention(8, 2, batch_first=True)", [(3, 4, 8), (3, 6, 8), (3, 6, 8)], ""),
    ("nn.MultiheadAttention(8, 2, kdim=5, vdim=3)", [(4, 3, 8), (6, 3, 5), (6, 3, 3)], ""),
    ("nn.MultiheadAttention(8, 4)", [(4, 8), (6, 8), (6, 8)], ""),
    ("nn.MultiheadAttention(8, 2)", [(4, 3, 8), (6, 3, 8), (6, 3, 8)],
     "average_attn_weights=False"),
    ("nn.MultiheadAttention(8, 2)", [(4, 3, 8), (6, 3, 8), (6, 3, 8)], "need_weights=False"),
    ("nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)", [(5, 3, 8)], ""),
    ("nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True)", [(3, 5, 8)], ""),
    ("nn.Sequential(nn.Conv1d(2, 4, 3), nn.GELU(), nn.BatchNorm1d(4), nn.Flatten())",
     [(2, 2, 9)], ""),
]


def _program() -> str:
    lines = ["from neurarust import Tensor, nn", "from neurarust.types import Float32", ""]
    for i, (layer, shapes, extra) in enumerate(CASES):
        params = ", ".join(f'x{j}: Float32[Tensor, "{" ".join(map(str, s))}"]'
                           for j, s in enumerate(shapes))
        args = ", ".join([f"x{j}" for j in range(len(shapes))] + ([extra] if extra else []))
        lines += [f"def case_{i}({params}) -> None:", f"    reveal_type({layer}({args}))", ""]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def static_shapes(tmp_path_factory: pytest.TempPathFactory) -> dict[int, list[tuple[Any, ...]]]:
    tmp = tmp_path_factory.mktemp("agreement")
    source = tmp / "layers.py"
    source.write_text(_program())
    config = tmp / "mypy.ini"
    config.write_text(f"[mypy]\nplugins = neurarust_mypy\nmypy_path = {ROOT}\n"
                      "follow_imports = silent\n")
    stdout, stderr, _ = api.run(["--config-file", str(config), "--cache-dir",
                                 str(tmp_path_factory.getbasetemp() / "mypy-cache"), str(source)])
    assert "Traceback" not in stdout + stderr, stdout + stderr
    by_line: dict[int, list[tuple[Any, ...]]] = {}
    for line in stdout.splitlines():
        m = re.match(r"^[^:]+:(\d+): note: Revealed type is \"(.*)\"$", line)
        if m is None:
            continue
        found = re.findall(r"f32\[([^\]]*)\]", m[2])
        by_line[int(m[1])] = [tuple(int(d) if d.isdigit() else d for d in f.split(", ") if d)
                              for f in found]
    # case i's reveal_type sits on line 5 + 3*i
    return {i: by_line.get(5 + 3 * i, []) for i in range(len(CASES))}


def _shapes(value: Any) -> list[tuple[int, ...]]:
    if value is None:
        return []
    if isinstance(value, (tuple, list)):
        return [s for v in value for s in _shapes(v)]
    return [tuple(int(d) for d in value.shape)]


def _run(namespace: Any, module: Any, layer: str, shapes: list[tuple[int, ...]], extra: str,
         make: Any) -> list[tuple[int, ...]]:
    built = eval(layer, {"nn": namespace})  # noqa: S307 - literal constructors from CASES
    if hasattr(built, "eval"):
        built.eval()
    kwargs = eval(f"dict({extra})")  # noqa: S307
    return _shapes(built(*[make(s) for s in shapes], **kwargs))


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[0] for c in CASES])
def test_plugin_matches_runtime(index: int,
                                static_shapes: dict[int, list[tuple[Any, ...]]]) -> None:
    layer, shapes, extra = CASES[index]
    with nr.no_grad():
        runtime = _run(nr.nn, nr, layer, shapes, extra, lambda s: nr.randn(*s))
    assert static_shapes[index] == runtime, (layer, static_shapes[index], runtime)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[0] for c in CASES])
def test_plugin_matches_torch(index: int,
                              static_shapes: dict[int, list[tuple[Any, ...]]]) -> None:
    torch = pytest.importorskip("torch")
    layer, shapes, extra = CASES[index]
    with torch.no_grad():
        reference = _run(torch.nn, torch, layer, shapes, extra, lambda s: torch.randn(*s))
    assert static_shapes[index] == reference, (layer, static_shapes[index], reference)
