"""Budgets on dim expressions: hostile specs, assumptions and certificates are refused at once
with a clear error (never a hang, a memory blowup or an escaped ValueError from int())."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from neurarust.cli import main
from neurarust.trace import parse_spec
from neurarust.types.dim import MAX_EXPONENT, Dim, DimBudgetError

z3 = pytest.importorskip("z3")
from neurarust.types.z3_algebra import Z3Algebra
from neurarust.verify.assumptions import check_assumptions, parse_assumption

from .model_sources import LINEAR_NET

LIMIT_S = 20  # a hang guard (each case is refused in milliseconds), generous for loaded CI


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail (instead of hanging) when the block runs past ``seconds`` (Python-level work)."""
    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


HOSTILE_DIMS = {
    "B**1000000000": "exponent is too large",
    "2**1000000000": "too large",
    "(B+1)**65": "exponent is too large",
    "(B+T+C+D+E+F+G+H)**64": "too large",
    "B**64*B": "degree 65",
    "B**40*T**40": "degree 80",
    "0x" + "f" * 1000: "4000 bits",
    "9" * 4000: "bits is too large",
    "9" * 5000: "4096",
    "B" + "*B" * 3000: "4096",
    "min(" * 500 + "B" + ",1)" * 500: "cannot parse dim",
    "(" * 1000 + "B" + ")" * 1000: "cannot parse dim",
    "B // 0": "B // 0",
}


@pytest.mark.parametrize("text", list(HOSTILE_DIMS), ids=lambda t: f"{t[:16]}({len(t)})")
def test_hostile_dim_expressions_are_refused_at_once(text: str) -> None:
    with deadline(LIMIT_S), pytest.raises(ValueError, match=HOSTILE_DIMS[text]) as info:
        Dim.parse(text)
    assert len(str(info.value)) < 300  # the message quotes a cut of the text, not all of it


def test_a_long_flat_sum_is_read_or_refused_at_once() -> None:
    """1,301 terms: whether Python's parser nests that deep depends on its recursion limit in
    this process, so either answer is right, as long as it comes at once and is correct."""
    with deadline(LIMIT_S):
        try:
            value = Dim.parse("B" + "+B" * 1300)
        except ValueError as err:
            assert "nested too deeply" in str(err)
        else:
            assert value == 1301 * Dim.sym("B")


def test_legitimate_expressions_stay_within_the_budgets() -> None:
    B, T = Dim.sym("B"), Dim.sym("T")
    assert Dim.parse("B**64") == B**MAX_EXPONENT
    assert str(Dim.parse("(B+1)**2")) == "B**2 + 2*B + 1"
    assert Dim.parse("(B+1)**64").evaluate({"B": 1}) == 2**64
    assert Dim.parse("2**511").as_int() == 2**511
    assert Dim.parse("(-1)**1000000001").as_int() == -1
    assert Dim.parse("0**1000000000").as_int() == 0
    assert (B * T) ** 32 == Dim.parse("B**32 * T**32")
    assert str(Dim.parse("(H-3)//2+1")) == "(H - 3)//2 + 1"
    with pytest.raises(DimBudgetError, match="exponent"):
        B ** 1_000_000_000
    with pytest.raises(ValueError, match="int exponent"):
        B ** -1


@pytest.mark.parametrize(("spec", "match"), [
    ("f32[B**1000000000, 8]", "exponent is too large"),
    ("f32[" + "1, " * 65 + "1]", "66 dims"),
    ("f32[" + "B, " * 2000 + "B]", "characters long"),
    ("f32[2**100000, 8]", "too large"),
], ids=lambda t: f"{t[:16]}({len(t)})" if isinstance(t, str) and len(t) > 30 else None)
def test_hostile_specs_are_refused(spec: str, match: str) -> None:
    with deadline(LIMIT_S), pytest.raises(ValueError, match=match):
        parse_spec(spec)


@pytest.mark.parametrize(("text", "match"), [
    ("B**1000000000 >= 1", "exponent is too large"),
    ("B <= 10**100000", "too large"),
    ("B <= 4 and " * 500 + "B >= 1", "characters long"),
], ids=lambda t: f"{t[:16]}({len(t)})" if isinstance(t, str) and len(t) > 30 else None)
def test_hostile_assumptions_are_refused(text: str, match: str) -> None:
    with deadline(LIMIT_S), pytest.raises(ValueError, match=match):
        parse_assumption(text, Z3Algebra())
    with deadline(LIMIT_S), pytest.raises(ValueError, match=match):
        check_assumptions([text], ["B"])


def test_deeply_negated_assumptions_are_read_or_refused_at_once() -> None:
    """1,000 nested ``not``s: whether they fit depends on the recursion limit the process runs
    under (a test framework may raise it), so either answer is right, if it comes at once."""
    text = "not " * 1000 + "B > 1"
    for check in (lambda: parse_assumption(text, Z3Algebra()),
                  lambda: check_assumptions([text], ["B"])):
        with deadline(LIMIT_S):
            try:
                check()
            except ValueError as err:
                assert re.search("nested too deeply|cannot parse", str(err))


def test_hard_nonlinear_assumptions_answer_unknown_in_bounded_time() -> None:
    verdict = check_assumptions(["B**64 == T**64 + C**64", "B >= 2"], ["B", "T", "C"],
                                timeout_ms=300)
    assert verdict == "unknown"


MODEL = LINEAR_NET

CLI_CASES: list[list[str]] = [
    ["verify", "{t}", "--input", "x: f32[B**1000000000, 8]"],
    ["verify", "{t}", "--input", "x: f32[B, 8]", "--assume", "B**1000000000 >= 1"],
    ["verify", "{t}", "--input", "x: f32[B, 8]", "--assume", "B <= " + "9" * 4400],
    ["export", "{t}", "--input", "x: f32[B**1000000000, 8]", "-o", "{o}", "--certify"],
    ["export", "{t}", "--input", "x: f32[B, 8]", "-o", "{o}", "--certify", "--assume",
     "B**1000000000 >= 1"],
]


def test_cli_refuses_hostile_dims_with_exit_2(tmp_path: Path) -> None:
    """End to end, in a child process with a hard time limit (a hang fails, never blocks)."""
    path = tmp_path / "model.py"
    path.write_text(MODEL)
    out = tmp_path / "net.onnx"
    cases = [[a.format(t=f"{path}:Net", o=out) for a in case] for case in CLI_CASES]
    script = ("import json, sys\nfrom neurarust.cli import main\nres = []\n"
              "for argv in json.loads(sys.argv[1]):\n"
              "    res.append(main(argv))\n"
              "print(json.dumps(res))\n")
    done = subprocess.run([sys.executable, "-c", script, json.dumps(cases)], check=False,
                          capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results == [2] * len(cases), done.stderr
    assert "Traceback" not in done.stderr and not out.exists()
    assert "exponent is too large" in done.stderr


def test_certificate_with_hostile_dims_is_rejected_quickly(tmp_path: Path) -> None:
    import onnx

    from neurarust.verify.certificate import CERT_KEY, CertificateError, verify_file

    path = tmp_path / "model.py"
    path.write_text(MODEL)
    out = tmp_path / "net.onnx"
    assert main(["export", f"{path}:Net", "--input", "x: f32[B, 8]", "-o", str(out),
                 "--certify", "--assume", "1 <= B <= 64"]) == 0
    proto = onnx.load(str(out))
    (entry,) = [p for p in proto.metadata_props if p.key == CERT_KEY]
    original = entry.value

    def forged(edit: Callable[[dict[str, Any]], None]) -> Path:
        cert = json.loads(original)
        edit(cert)
        entry.value = json.dumps(cert)
        forged_path = tmp_path / "forged.onnx"
        onnx.save(proto, str(forged_path))
        return forged_path

    edits: list[Callable[[dict[str, Any]], None]] = [
        lambda c: c.update(assumptions=["B**1000000000 >= 1"]),
        lambda c: c.update(assumptions=["1 <= B <= " + "9" * 4400]),
        lambda c: c.update(inputs={k: "f32[B**1000000000, 8]" for k in c.get("inputs", {})}),
    ]
    for edit in edits:
        target = forged(edit)
        with deadline(LIMIT_S):
            try:
                result = verify_file(str(target))
            except CertificateError:
                continue
        assert result.exit_code != 0, str(result)


def test_huge_model_values_refute_without_escaping_int_limits() -> None:
    """z3 may answer with sizes of thousands of digits; they are never converted through
    Python's 4,300-digit limit (a ValueError escaping as exit 2), the verdict stays refuted."""
    import neurarust as nr
    from neurarust.verify.shape import verify_shapes

    def f(a: nr.Tensor, b: nr.Tensor) -> nr.Tensor:
        return a + b

    g = nr.trace(f, {"a": "f32[B]", "b": "f32[T]"})
    with deadline(LIMIT_S):
        report = verify_shapes(g, ["B == 2**500", "T == B**30"])
    (result,) = report.results
    assert result.status == "refuted" and result.counterexample is None
    assert report.exit_code == 1 and "too large to print" in str(report)
