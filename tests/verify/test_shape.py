"""``verify_shapes`` and ``neurarust verify``: trace obligations proven or refuted by z3, and
counterexamples that reproduce as real errors when the model runs at those sizes."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

import neurarust as nr
from neurarust import nn
from neurarust.cli import main
from neurarust.examples.mnist import SmallCNN
from neurarust.verify import parse_assumption, verify_shapes

z3 = pytest.importorskip("z3")
from neurarust.types.z3_algebra import Z3Algebra  # noqa: E402


def test_parse_assumptions() -> None:
    z = Z3Algebra()
    c = parse_assumption("1 <= B <= 4096 and T % 8 == 0", z)
    s = z3.Solver()
    s.add(c, z.dim("B") == 5000)
    assert s.check() == z3.unsat
    assert z.prove(z.dim("B") <= 4096, [c]).proven
    with pytest.raises(ValueError, match="expected comparisons"):
        parse_assumption("B", z)
    with pytest.raises(ValueError, match="cannot parse"):
        parse_assumption("B <=", z)


def test_broadcast_obligation_refuted_and_the_counterexample_reproduces() -> None:
    def f(a: nr.Tensor, b: nr.Tensor) -> nr.Tensor:
        return a + b

    g = nr.trace(f, {"a": "f32[N, 4]", "b": "f32[M, 4]"})
    report = verify_shapes(g, ["1 <= N <= 64", "1 <= M <= 64"])
    (result,) = report.results
    assert result.status == "refuted" and report.exit_code == 1 and not report.ok
    cex = result.counterexample
    assert cex is not None and list(cex)[:2] == ["N", "M"]
    assert result.shapes["a"] == (cex["N"], 4) and result.shapes["b"] == (cex["M"], 4)
    assert "counterexample: N=" in str(report) and f"{result.node.source}" in str(report)
    with pytest.raises(nr.ShapeError, match="add: shapes are not broadcastable"):
        f(nr.zeros(cex["N"], 4), nr.zeros(cex["M"], 4))
    assert verify_shapes(g, ["N == M or M == 1"]).exit_code == 0


def test_conv_size_obligations_under_assumptions() -> None:
    conv = nn.Conv2d(3, 8, 3, stride=2)
    g = nr.trace(conv, {"x": "f32[B, 3, H, W]"})
    bad = verify_shapes(g, ["1 <= B <= 4096", "H <= 64"])
    assert bad.refuted
    cex = bad.refuted[0].counterexample
    assert cex is not None
    with pytest.raises(nr.ShapeError, match="conv2d: the output size must be at least 1"):
        conv(nr.zeros(cex["B"], 3, cex["H"], cex["W"]))
    good = verify_shapes(g, ["1 <= B <= 4096", "H >= 3", "W >= 3"])
    assert good.ok and good.exit_code == 0 and len(good.results) == 2


def test_reshape_divisibility_needs_the_assumption() -> None:
    g = nr.trace(lambda x: x.reshape(x.shape[0], -1, 128), {"x": "f32[B, T, 64]"})
    assert verify_shapes(g, ["T % 2 == 0"]).ok
    report = verify_shapes(g, ["T <= 100"])
    cex = report.refuted[0].counterexample
    assert cex is not None and cex["T"] % 2 == 1
    with pytest.raises(nr.ShapeError, match="reshape"):
        nr.zeros(cex["B"], cex["T"], 64).reshape(cex["B"], -1, 128)


def test_mnist_cnn_is_shape_safe_for_every_batch_size() -> None:
    g = nr.trace(SmallCNN(), {"x": "f32[B, 1, 28, 28]"})
    report = verify_shapes(g, ["1 <= B <= 4096"])
    assert report.ok and report.exit_code == 0


MODEL = textwrap.dedent("""
    import neurarust as nr
    from neurarust import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 4)

        def forward(self, x, y):
            return self.fc(x) + y

    class Wrong(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(10, 4)

        def forward(self, x):
            return self.fc(x)
""")


def test_cli_verify_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "model.py"
    path.write_text(MODEL)
    target = f"{path}:Net"
    ins = ["--input", "x: f32[B, 16]", "--input", "y: f32[N, 4]"]
    assert main(["verify", target, *ins, "--assume", "1 <= B <= 4096", "--assume",
                 "N == B"]) == 0
    assert "1/1 obligations proven" in capsys.readouterr().out
    assert main(["verify", target, *ins, "--assume", "1 <= B <= 4096"]) == 1
    out = capsys.readouterr().out
    assert "refuted: add at" in out and "counterexample: B=" in out
    assert main(["verify", f"{path}:Wrong", "--input", "x: f32[B, 16]"]) == 1
    assert "linear: input has 16 features, the weight expects 10" in capsys.readouterr().out
    assert main(["verify", f"{path}:Missing", "--input", "x: f32[B, 16]"]) == 2
    assert "has no attribute 'Missing'" in capsys.readouterr().err
    assert main(["verify", target, "--input", "x f32[B]"]) == 2
    assert main(["verify", target, *ins, "--assume", "B <="]) == 2
    assert os.path.exists(path)
