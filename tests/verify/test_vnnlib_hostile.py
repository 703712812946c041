"""Hostile VNN-LIB files: every one ends in a VnnlibError (a ValueError; exit 2 in the CLI)
that says what is wrong, quickly and in bounded memory: malformed text, huge or deeply
nested input, out-of-range or non-decimal numbers, variables the network does not have,
vacuous properties (empty boxes, empty disjunctions, boxes without a float32 point)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from neurarust.verify.vnnlib import VnnlibError, parse_vnnlib, read_vnnlib

HEAD = "(declare-const X_0 Real)(declare-const Y_0 Real)"
BOX = "(assert (>= X_0 0))(assert (<= X_0 1))"


@pytest.mark.parametrize("text, message", [
    ("(" * 100_000, "nested deeper"),
    ("(" * 1_000_000, "expressions"),
    (HEAD + "(assert " + "(and " * 10_000 + ")" * 10_001, "nested deeper"),
    ("()" * 5_000_000, "expressions"),
    (HEAD + "(assert (<= X_0 1))()", "empty expression"),
    (HEAD + BOX + "(assert (<= Y_0 " + "9" * 10_000_000 + "))", "token of 10000000"),
    (HEAD + "(assert (<= X_0 Y_0))" * 800_000, "expressions"),
    (HEAD + BOX + "(assert (or (<= Y_0 1) (>= Y_0 2)))" * 40, "disjunctive normal form"),
    (HEAD + BOX + "(assert (<= (* " + "1.00001 " * 5000 + "Y_0) 1))", "too precise"),
    (HEAD + "(assert (<= X_0 nan))(assert (>= X_0 0))(assert (<= Y_0 1))", "'nan'"),
    (HEAD + "(assert (<= X_0 inf))(assert (>= X_0 0))(assert (<= Y_0 1))", "'inf'"),
    (HEAD + BOX + "(assert (<= Y_0 0x1p3))", "malformed number"),
    (HEAD + BOX + "(assert (<= Y_0 1_000))", "malformed number"),
    (HEAD + BOX + "(assert (<= Y_0 1e400))", "outside the float64 range"),
    (HEAD + BOX + "(assert (<= Y_0 1e-400))", "outside the float64 range"),
    (HEAD + BOX + "(assert (<= Y_0 1e99999999))", "malformed number"),
    (HEAD + BOX + "(assert (<= (* 1e300 1e300 Y_0) 1))", "outside the float64 range"),
    (HEAD + "(assert (>= X_0 1))(assert (<= X_0 0))(assert (<= Y_0 1))", "no float32 value"),
    (HEAD + "(assert (>= X_0 0.1))(assert (<= X_0 0.1))(assert (<= Y_0 1))",
     "no float32 value"),
    (HEAD + "(assert (>= X_0 1e39))(assert (<= X_0 2e39))(assert (<= Y_0 1))",
     "no float32 value"),
    (HEAD + BOX + "(assert (or))", r"empty \(or\)"),
    (HEAD + BOX + "(assert (<= 1 0))", "unsafe region is empty"),
    (HEAD + BOX + "(assert (<= Y_1 0))", "undeclared name 'Y_1'"),
    ("(declare-const X_01 Real)", "leading zeros"),
    (HEAD + "(declare-const X_0 Real)", "declared twice"),
    ("(declare-const X_0 Real)(declare-const X_2 Real)(declare-const Y_0 Real)", "gaps"),
    ("(declare-const Y_0 Real)(assert (<= Y_0 1))", "no input"),
    (HEAD + "(assert (<= X_0 1))(assert (<= Y_0 1))", "lower and an upper bound"),
    (HEAD + BOX + "(assert (<= (+) 1))", "needs an operand"),
    (HEAD + BOX + "(check-sat)", "unsupported command"),
    (HEAD + BOX + "(assert (<= |Y_0| 1))", "undeclared name"),
], ids=lambda v: str(v)[-24:] if isinstance(v, str) else None)
def test_hostile_text_is_a_vnnlib_error(text: str, message: str) -> None:
    with pytest.raises(VnnlibError, match=message):
        parse_vnnlib(text)


def test_files_too_large_or_not_text(tmp_path: object) -> None:
    p = os.path.join(str(tmp_path), "bad.vnnlib")
    with open(p, "wb") as f:
        f.write(HEAD.encode() + b"\xff\xfe" + BOX.encode())
    with pytest.raises(VnnlibError, match="bad.vnnlib: not UTF-8"):
        read_vnnlib(p)
    assert issubclass(VnnlibError, ValueError)


def test_strict_and_degenerate_boxes_are_the_float32_points_they_name() -> None:
    p = parse_vnnlib(HEAD + "(assert (> X_0 0))(assert (< X_0 1))(assert (<= Y_0 1))")
    (c,) = p.cases
    assert c.lo[0] == float(np.nextafter(np.float32(0), np.float32(1)))
    assert c.hi[0] == float(np.nextafter(np.float32(1), np.float32(0)))
    p = parse_vnnlib(HEAD + "(assert (>= X_0 0.5))(assert (<= X_0 0.5))(assert (<= Y_0 1))")
    assert p.cases[0].lo[0] == p.cases[0].hi[0] == 0.5
    p = parse_vnnlib(HEAD + "(assert (>= X_0 -1e39))(assert (<= X_0 1e39))(assert (<= Y_0 1))")
    assert p.cases[0].hi[0] == float(np.finfo(np.float32).max)  # every finite float32
    # a disjunct with an empty box is dropped, the others stay
    p = parse_vnnlib(HEAD + "(assert (or (and (>= X_0 0) (<= X_0 1)) (and (>= X_0 3) "
                     "(<= X_0 2))))(assert (<= Y_0 1))")
    assert len(p.cases) == 1


def test_the_cli_answers_exit_2_for_a_hostile_property(tmp_path: object,
                                                       capsys: pytest.CaptureFixture[str],
                                                       ) -> None:
    pytest.importorskip("onnx")
    import neurarust as nr
    from neurarust import nn
    from neurarust.cli import main

    d = str(tmp_path)
    net = os.path.join(d, "net.onnx")
    nr.onnx.export(nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1)),
                   {"x": "f32[1, 1]"}, net)
    cases = {"deep.vnnlib": "(" * 100_000,
             "other.vnnlib": "(declare-const X_0 Real)(declare-const X_1 Real)"
                             "(declare-const Y_0 Real)(assert (>= X_0 0))(assert (<= X_0 1))"
                             "(assert (>= X_1 0))(assert (<= X_1 1))(assert (<= Y_0 0))",
             "nan.vnnlib": HEAD + BOX + "(assert (<= Y_0 nan))"}
    for name, text in cases.items():
        path = os.path.join(d, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        assert main(["verify", net, "--vnnlib", path, "--timeout", "5"]) == 2, name
        err = capsys.readouterr().err
        assert "error:" in err and "Traceback" not in err


def test_counterexamples_are_judged_exactly_even_for_long_constants() -> None:
    """A 4,950-digit coefficient times a float32 output needs more digits than parsing keeps:
    the check stays exact (no exception, no rounding)."""
    k = "1." + "0" * 987 + "1"  # 1 + 1e-988, to the fifth power below
    (c,) = parse_vnnlib(HEAD + BOX + f"(assert (<= (* {k} {k} {k} {k} {k} Y_0) 1))").cases
    y = float(np.nextafter(np.float32(1), np.float32(0)))  # 1 - 2**-24
    assert c.unsafe([0.5], [y])  # (1 + 1e-988)**5 (1 - 2**-24) < 1
    assert not c.unsafe([0.5], [1.0])  # (1 + 1e-988)**5 > 1
    assert not c.unsafe([1.5], [y])  # outside the box
