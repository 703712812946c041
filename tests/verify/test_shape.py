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
    assert "refuted: add: shapes are not broadcastable" in out and "counterexample: B=" in out
    assert main(["verify", f"{path}:Wrong", "--input", "x: f32[B, 16]"]) == 1
    assert "linear: input has 16 features, the weight expects 10" in capsys.readouterr().out
    assert main(["verify", f"{path}:Missing", "--input", "x: f32[B, 16]"]) == 2
    assert "has no attribute 'Missing'" in capsys.readouterr().err
    assert main(["verify", target, "--input", "x f32[B]"]) == 2
    assert main(["verify", target, *ins, "--assume", "B <="]) == 2
    assert os.path.exists(path)


# -- paths: shape-dependent Python control flow ---------------------------------------------------
from neurarust.trace import parse_spec  # noqa: E402
from neurarust.types.dim import Dim  # noqa: E402
from neurarust.verify import Report, verify  # noqa: E402

CORPUS = Path(__file__).parent / "corpus"


def _line_of(fn: object, text: str) -> str:
    import inspect

    lines, start = inspect.getsourcelines(fn)  # type: ignore[arg-type]
    return str(start + next(i for i, line in enumerate(lines) if text in line))


def test_both_sides_of_a_branch_are_verified_each_under_its_condition() -> None:
    table = nr.zeros(512, 4)

    def f(x: nr.Tensor) -> nr.Tensor:
        if x.shape[1] > 512:
            return x[:, :512] + table
        return x + table  # wrong unless T == 512

    report = verify(f, {"x": "f32[B, T, 4]"}, ["T <= 4096"])
    assert [p.condition for p in report.paths] == ["T > 512", "T <= 512"]
    assert [p.status for p in report.paths] == ["proven", "refuted"]
    assert report.status == "refuted" and report.exit_code == 1
    (bad,) = report.refuted
    cex = bad.counterexample
    assert cex is not None and cex["T"] <= 512 and cex["T"] != 512
    assert bad.node.source.endswith(":" + _line_of(f, "return x + table"))
    line = _line_of(f, "if x.shape[1] > 512")
    text = str(report)
    assert f"fork T > 512  [branch at {bad.node.source.rsplit(':', 1)[0]}:{line}" in text
    with pytest.raises(nr.ShapeError, match="add: shapes are not broadcastable"):
        f(nr.zeros(cex["B"], cex["T"], 4))
    # the assumptions decide the branch: one path, no fork
    one = verify(f, {"x": "f32[B, T, 4]"}, ["T >= 600"])
    assert len(one.paths) == 1 and one.ok and not any(d.forked for d in one.paths[0].decisions)


def test_min_of_a_size_and_a_symbolic_slice_bound() -> None:
    def f(x: nr.Tensor) -> nr.Tensor:
        return x[:, : min(x.shape[1], 256)] * 2

    report = verify(f, {"x": "f32[B, T]"}, [])
    assert report.ok and [p.condition for p in report.paths] == ["T > 256", "T <= 256"]
    table = nr.zeros(64, 3)
    past = verify(lambda x: x + table[: x.shape[0]], {"x": "f32[T, 3]"}, ["T <= 100"])
    (bad,) = past.refuted
    assert bad.counterexample == {"T": 65}  # the smallest size past the table's end


def test_path_limit_is_reported_not_proven() -> None:
    def f(x: nr.Tensor) -> nr.Tensor:
        for k in (2, 4, 8, 16, 32):
            if x.shape[0] > k:
                x = x * 2
        return x

    report = verify(f, {"x": "f32[N]"}, [], max_paths=3)
    assert report.status == "unknown" and report.exit_code == 3
    assert report.limit is not None and "more than 3 paths" in report.limit
    assert "not verified: more than 3 paths" in str(report)
    assert verify(f, {"x": "f32[N]"}, []).ok  # 6 paths


def test_loops_over_a_symbolic_count_unroll_when_bounded_else_unknown() -> None:
    def f(x: nr.Tensor) -> nr.Tensor:
        y = x[0]
        for i in range(x.shape[0]):
            y = y + x[i]
        return y

    small = verify(f, {"x": "f32[T, 4]"}, ["T <= 3"])
    assert small.ok and [p.condition for p in small.paths] == ["T == 1", "T == 2", "T == 3"]
    assert [len(p.shape.graph.nodes) for p in small.paths if p.shape] == [3, 5, 7]
    assert any("followed value by value" in n for n in small.notes)
    big = verify(f, {"x": "f32[T, 4]"}, ["T <= 4096"], max_values=4)
    assert [p.condition for p in big.paths] == ["T == 1", "T == 2", "T == 3", "T == 4", "T > 4"]
    assert [p.status for p in big.paths] == ["proven"] * 4 + ["unknown"]
    path = big.paths[-1]
    assert big.status == "unknown" and path.failure is not None
    assert path.failure.source.endswith(":" + _line_of(f, "for i in range"))
    assert "also takes values above 4" in path.failure.message
    assert "T <= 4" in path.failure.message  # the assumption that would bound it

    def bug_at_3(x: nr.Tensor) -> nr.Tensor:
        y = x[0]
        for i in range(x.shape[0]):
            y = y + x[i]
        return y + nr.zeros(4)[: 5 - x.shape[0]]  # wrong unless T == 1 or T == 4

    found = verify(bug_at_3, {"x": "f32[T, 4]"}, ["T <= 4096"], max_values=4)
    assert found.status == "refuted"  # the bounded part finds it
    assert [p.status for p in found.paths] == ["proven", "refuted", "refuted", "proven", "unknown"]


def test_construction_errors_from_symbolic_config_are_refuted_with_the_line() -> None:
    class Attn(nn.Module):
        def __init__(self, D: int, H: int) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(D, H, batch_first=True)

        def forward(self, x: nr.Tensor) -> nr.Tensor:
            return self.attn(x, x, x, need_weights=False)[0]

    report = verify(Attn, {"x": "f32[B, T, D]"}, ["D == 64 or D == 100", "H == 8"],
                    config={"D": "D", "H": "H"})
    bad = [p for p in report.paths if p.status == "refuted"]
    assert report.status == "refuted" and len(bad) == 1
    failure = bad[0].failure
    assert failure is not None and failure.kind == "construction"
    assert failure.source.endswith(":" + _line_of(Attn, "nn.MultiheadAttention(D, H"))
    assert failure.counterexample is not None and failure.counterexample["D"] == 100
    assert bad[0].condition == "D % H != 0"
    with pytest.raises(ValueError, match="embed_dim must be divisible by num_heads"):
        Attn(failure.counterexample["D"], failure.counterexample["H"])
    assert verify(Attn, {"x": "f32[B, T, D]"}, ["D == 64 or D == 96", "H == 8"],
                  config={"D": "D", "H": "H"}).ok


def test_an_exception_that_tracing_alone_raises_is_unknown_not_refuted() -> None:
    pool = nn.AdaptiveAvgPool2d((4, 4))  # its kernel size from symbolic sizes is not traced
    report = verify(pool, {"x": "f32[B, 3, H, W]"}, ["8 <= H <= 64", "8 <= W <= 64"])
    assert report.status == "unknown" and not report.refuted
    assert all(p.status == "unknown" for p in report.paths)


def test_report_json_follows_the_documented_schema() -> None:
    import json

    table = nr.zeros(8, 2)
    report = verify(lambda x: x + table[: x.shape[0]], {"x": "f32[T, 2]"}, ["T <= 9"])
    data = json.loads(json.dumps(report.to_json()))
    assert set(data) == {"schema", "model", "inputs", "assumptions", "min_size", "ranges",
                         "status", "exit_code", "seconds", "limit", "notes", "paths"}
    assert data["schema"] == "neurarust.verify/1" and data["status"] == "refuted"
    (path,) = data["paths"]
    assert set(path) == {"index", "status", "condition", "seconds", "decisions",
                         "obligations", "failure", "numeric"}
    ob = next(o for o in path["obligations"] if o["status"] == "refuted")
    assert set(ob) == {"status", "op", "source", "scope", "message", "hint", "condition",
                       "counterexample", "shapes"}
    assert ob["op"] == "add" and ob["counterexample"] == {"T": 9}


# -- the corpus: correct models and planted bugs with their expected verdicts ---------------------
def _load(path: Path) -> object:
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_corpus_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _corpus_cases() -> list[object]:
    cases = []
    for path in sorted(CORPUS.glob("*.py")):
        module = _load(path)
        for case in getattr(module, "CASES"):
            cases.append(pytest.param(module, case, id=f"{path.stem}: {case['name']}"))
    return cases


def _rerun(module: object, case: dict[str, object], sizes: dict[str, int]) -> BaseException:
    """Build and run the corpus model for real at ``sizes``; the exception it raises."""
    obj = getattr(module, str(case["target"]))
    config = case.get("config")
    try:
        model = obj(**{k: Dim.parse(v).evaluate(sizes) for k, v in config.items()}) \
            if isinstance(config, dict) else obj()
        args = [nr.zeros(*(d.evaluate(sizes) for d in parse_spec(spec)[1]))
                for spec in case["inputs"].values()]  # type: ignore[attr-defined]
        model.eval()
        model(*args)
    except Exception as err:  # noqa: BLE001 - the test inspects it
        return err
    raise AssertionError(f"the model ran at the counterexample {sizes} without error")


def _messages(err: BaseException) -> str:
    out = []
    e: BaseException | None = err
    while e is not None:
        out.append(str(e))
        e = e.__cause__
    return "\n".join(out)


@pytest.mark.parametrize("module, case", _corpus_cases())
def test_corpus_verdicts_and_counterexamples_reproduce(module: object,
                                                       case: dict[str, object]) -> None:
    obj = getattr(module, str(case["target"]))
    config = case.get("config")
    model = obj if config is not None else obj()
    report: Report = verify(model, case["inputs"], case["assume"], config=config)  # type: ignore[arg-type]
    assert report.status == case["expect"], str(report)
    if "paths" in case:
        assert len(report.paths) == case["paths"], str(report)
    if case["expect"] != "refuted":
        return
    assert str(case["error"]) in str(report)
    replayed = 0
    for p in report.paths:
        if p.failure is not None and p.failure.status == "refuted":
            assert p.failure.counterexample is not None
            err = _rerun(module, case, p.failure.counterexample)
            assert str(case["error"]) in _messages(err), (p.failure, err)
            replayed += 1
        first = next((r for r in (p.shape.results if p.shape else [])
                      if r.status == "refuted"), None)
        if first is not None:  # the first failing requirement on the path is what runs into
            assert first.counterexample is not None
            err = _rerun(module, case, first.counterexample)
            assert f"{first.node.op}: {first.obligation.message}" in _messages(err), err
            assert str(case["error"]) in _messages(err)
            replayed += 1
    assert replayed


FACTORY = textwrap.dedent("""
    import neurarust as nr
    from neurarust import nn

    class Attn(nn.Module):
        def __init__(self, D, H):
            super().__init__()
            self.attn = nn.MultiheadAttention(D, H, batch_first=True)

        def forward(self, x):
            return self.attn(x, x, x, need_weights=False)[0]

    def make(D, H):
        return Attn(D, H)

    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(30, 4)

        def forward(self, x):
            return x

    def loop(x):
        for i in range(x.shape[0]):
            x = x * 2
        return x
""")


def test_cli_paths_factories_json_and_unknown(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    import json

    path = tmp_path / "attn.py"
    path.write_text(FACTORY)
    ins = ["--input", "x: f32[B, T, D]"]
    ok = ["--assume", "D == 64 or D == 96", "--assume", "H == 4 or H == 8"]
    assert main(["verify", f"{path}:make", *ins, *ok, "--assume", "D % H == 0"]) == 0
    assert main(["verify", f"{path}:make", *ins, *ok, "--assume", "D == 96", "--json"]) == 0
    capsys.readouterr()
    assert main(["verify", f"{path}:make", *ins, "--assume", "D == 100", "--assume", "H == 8",
                 "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "neurarust.verify/1" and data["status"] == "refuted"
    (failed,) = [p for p in data["paths"] if p["status"] == "refuted"]
    assert failed["failure"]["kind"] == "construction"
    assert failed["failure"]["source"].endswith(f"{path.name}:8")
    assert failed["failure"]["counterexample"]["D"] == 100
    # a Module class whose constructor fails for fixed sizes: refuted, not a crash
    assert main(["verify", f"{path}:Broken", "--input", "x: f32[B, 30]"]) == 1
    out = capsys.readouterr().out
    assert "construction error" in out and "embed_dim must be divisible by num_heads" in out
    # a loop over a count with too many values: unknown (3), naming the line
    assert main(["verify", f"{path}:loop", "--input", "x: f32[T]"]) == 3
    assert f"{path.name}:25" in capsys.readouterr().out
    assert main(["verify", f"{path}:loop", "--input", "x: f32[T]", "--assume", "T <= 3"]) == 0
    assert "T == 3" in capsys.readouterr().out
    assert main(["verify", f"{path}:loop", "--input", "x: f32[T]", "--max-values", "2",
                 "--assume", "T <= 3"]) == 3
    assert main(["verify", f"{path}:make", *ins, "--assume", "D <"]) == 2


def test_timeout_is_unknown_and_ranges_join_each_path(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    report = verify(nn.Linear(4, 2), {"x": "f32[B, 4]"}, timeout=0.0)
    assert report.status == "unknown" and report.limit is not None and "timed out" in report.limit
    path = tmp_path / "model.py"
    path.write_text(MODEL)
    assert main(["verify", f"{path}:Wrong", "--input", "x: f32[B, 16]", "--timeout", "0"]) == 3
    capsys.readouterr()

    def f(x: nr.Tensor) -> nr.Tensor:
        return x.log() if x.shape[1] > 2 else x.exp()

    both = verify(f, {"x": "f32[B, N]"}, [], ranges=["x in [0, 1]"])
    assert [p.condition for p in both.paths] == ["N > 2", "N <= 2"]
    assert [p.status for p in both.paths] == ["refuted", "proven"]  # log(0) on the first path
    assert all(p.numeric is not None for p in both.paths)
    assert both.to_json()["ranges"] == {"x": [0.0, 1.0]}
