"""No vacuous proof: contradictory assumptions, infeasible paths and misspelt dims are usage
errors (exit 2, no certificate written), never a "proven"."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import neurarust as nr
from neurarust import nn
from neurarust.cli import main

z3 = pytest.importorskip("z3")
from neurarust.verify.assumptions import AssumptionError, check_assumptions

from .model_sources import LINEAR_NET

MODEL = LINEAR_NET + textwrap.dedent("""

    def make(D):
        return nn.Linear(D, 4)
""")


@pytest.fixture
def target(tmp_path: Path) -> str:
    path = tmp_path / "model.py"
    path.write_text(MODEL)
    return f"{path}:Net"


def test_unsat_core_names_the_conflicting_assumptions() -> None:
    with pytest.raises(AssumptionError) as info:
        check_assumptions(["T >= 600 and T <= 4", "B <= 64"], ["T", "B"])
    msg = str(info.value)
    assert "'T >= 600'" in msg and "'T <= 4'" in msg and "B <= 64" not in msg
    assert info.value.core == ["T >= 600", "T <= 4"]
    with pytest.raises(AssumptionError, match=r"'1 <= B'.*'B <= 0'"):
        check_assumptions(["1 <= B <= 0"], ["B"])
    # the implicit size fact takes part in the core
    with pytest.raises(AssumptionError, match=r"'B <= 0' and B >= 1 \(every dim >= 1\)"):
        check_assumptions(["B <= 0", "T <= 4"], ["B", "T"], min_size=1)
    assert check_assumptions(["B <= 0"], ["B"], min_size=0) == "sat"
    assert check_assumptions(["1 <= B <= 4096", "T % 8 == 0"], ["B", "T"]) == "sat"
    # two separate assumptions that contradict each other
    with pytest.raises(AssumptionError, match=r"'H == 3'.*'H % 2 == 0'|'H % 2 == 0'.*'H == 3'"):
        check_assumptions(["H == 3", "W >= 2", "H % 2 == 0"], ["H", "W"])
    assert issubclass(AssumptionError, ValueError)


def test_a_dim_no_input_uses_is_an_error() -> None:
    with pytest.raises(AssumptionError, match="'C'.*no input"):
        check_assumptions(["1 <= C <= 4"], ["B", "T"])
    with pytest.raises(AssumptionError, match="no input"):
        nr.verify.verify(nn.Linear(4, 2), {"x": "f32[B, 4]"}, ["1 <= b <= 8"])
    # config parameters count as used
    report = nr.verify.verify(nn.Linear, {"x": "f32[B, D]"}, ["1 <= D <= 8", "O == 2"],
                              config={"in_features": "D", "out_features": "O"})
    assert report.status == "proven"


def test_verify_refuses_contradictory_assumptions(target: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    ins = ["--input", "x: f32[B, 8]"]
    assert main(["verify", target, *ins, "--assume", "1 <= B <= 0"]) == 2
    captured = capsys.readouterr()
    assert "proven" not in captured.out and "'B <= 0'" in captured.err
    assert "contradict" in captured.err
    assert main(["verify", target, "--input", "x: f32[T, 8]", "--assume",
                 "T >= 600 and T <= 4"]) == 2
    err = capsys.readouterr().err
    assert "'T >= 600'" in err and "'T <= 4'" in err
    assert main(["verify", target, *ins, "--assume", "1 <= C <= 4"]) == 2
    assert "'C'" in capsys.readouterr().err
    assert main(["verify", target, *ins, "--assume", "1 <= B <= 4"]) == 0
    with pytest.raises(AssumptionError):
        nr.verify.verify(nn.Linear(8, 4), {"x": "f32[B, 8]"}, ["B >= 600", "B <= 4"])


def test_export_certify_writes_nothing_under_contradictory_assumptions(
        target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "net.onnx"
    base = ["export", target, "--input", "x: f32[B, 8]", "-o", str(out), "--certify"]
    assert main([*base, "--assume", "1 <= B <= 0"]) == 2
    assert not out.exists()
    assert "'B <= 0'" in capsys.readouterr().err
    assert main([*base, "--assume", "1 <= Q <= 4"]) == 2
    assert not out.exists()
    assert main([*base, "--assume", "1 <= B <= 4"]) == 0
    assert out.exists()


def test_infeasible_paths_are_not_explored() -> None:
    from neurarust.verify.paths import explore

    def f(x: nr.Tensor) -> nr.Tensor:
        if x.shape[0] > 4:
            return x.log()
        return x.exp()

    explored = explore(f, {"x": "f32[T]"}, ["T <= 4"])
    assert len(explored.paths) == 1
    report = nr.verify.verify(f, {"x": "f32[T]"}, ["T <= 4"])
    assert report.status == "proven" and len(report.paths) == 1


def test_a_side_kept_on_z3_unknown_is_dropped_when_its_path_is_empty(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """z3 answering 'unknown' for every side keeps both; the one the assumptions exclude is
    dropped once its whole path is checked, so no path is verified vacuously."""
    from neurarust.verify import paths

    def undecided(self: paths._Z3Oracle, term: object) -> bool:
        self.uncertain = True
        return True

    monkeypatch.setattr(paths._Z3Oracle, "_feasible", undecided)

    def f(x: nr.Tensor) -> nr.Tensor:
        if x.shape[0] > 4:
            return x.log()
        return x.exp()

    explored = paths.explore(f, {"x": "f32[T]"}, ["T <= 4"])
    assert [str(p.conditions[0]) for p in explored.paths] == ["T <= 4"]


def test_unknown_satisfiability_is_never_proven() -> None:
    """When z3 cannot tell whether the assumptions have a model, nothing is proven."""
    from neurarust.verify.shape import verify_shapes

    def f(a: nr.Tensor, b: nr.Tensor) -> nr.Tensor:
        return a + b

    g = nr.trace(f, {"a": "f32[N]", "b": "f32[M]"})
    hard = ["N**3 + M**3 == K**3", "K >= 2"]  # no model (Fermat, n=3): z3 cannot tell
    assert check_assumptions(hard, ["N", "M", "K"], timeout_ms=200) == "unknown"
    report = verify_shapes(g, [*hard, "N == M"], timeout_ms=200, dims=["K"])
    assert report.results and all(r.status == "unknown" for r in report.results)


def test_a_certificate_with_contradictory_assumptions_fails(target: str, tmp_path: Path) -> None:
    import json

    import onnx

    from neurarust.verify.certificate import CERT_KEY, verify_file

    out = tmp_path / "net.onnx"
    assert main(["export", target, "--input", "x: f32[B, 8]", "-o", str(out), "--certify",
                 "--assume", "1 <= B <= 64"]) == 0
    proto = onnx.load(str(out))
    (entry,) = [p for p in proto.metadata_props if p.key == CERT_KEY]
    for assumptions, why in [(["1 <= B <= 0"], "contradict"), (["1 <= Q <= 4"], "'Q'")]:
        cert = json.loads(entry.value)
        cert["assumptions"] = assumptions
        entry.value = json.dumps(cert)
        onnx.save(proto, str(tmp_path / "forged.onnx"))
        result = verify_file(str(tmp_path / "forged.onnx"))
        assert result.exit_code != 0 and why in str(result)
