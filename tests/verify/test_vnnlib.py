"""VNN-LIB parsing (never evaluated): boxes, output conditions, or/and in DNF."""

from __future__ import annotations

import glob
import os
from fractions import Fraction

import numpy as np
import pytest

from neurarust.verify.vnnlib import VnnlibError, parse_vnnlib, read_vnnlib

from .acasxu_helpers import need_acas

HEAD = "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n" \
       "(declare-const Y_1 Real)\n"


def test_box_and_output_disjunction() -> None:
    p = parse_vnnlib(HEAD + """; a comment
(assert (>= X_0 -1)) (assert (<= X_0 1.5)) (assert (<= X_1 2)) (assert (>= X_1 0))
(assert (or (and (<= Y_0 Y_1) (>= Y_0 0.5)) (and (< (+ Y_1 (* 2 Y_0)) 3))))""")
    assert (p.n_inputs, p.n_outputs, len(p.cases)) == (2, 2, 2)
    a, b = p.cases
    np.testing.assert_array_equal(a.lo, [-1, 0])
    np.testing.assert_array_equal(a.hi, [1.5, 2])
    np.testing.assert_array_equal(a.c, [[1, -1], [-1, 0]])
    np.testing.assert_array_equal(a.d, [0, -0.5])
    np.testing.assert_array_equal(b.c, [[2, 1]])
    assert b.strict == (True,) and a.strict == (False, False)
    assert a.unsafe(np.array([0.0, 1.0]), np.array([0.5, 0.6]))
    assert not a.unsafe(np.array([0.0, 1.0]), np.array([0.7, 0.6]))
    assert not a.unsafe(np.array([2.0, 1.0]), np.array([0.5, 0.6]))  # outside the box


def test_input_disjunction_gives_one_case_per_box() -> None:
    p = parse_vnnlib(HEAD + """(assert (or (and (>= X_0 0) (<= X_0 1) (>= X_1 0) (<= X_1 1))
(and (>= X_0 2) (<= X_0 3) (>= X_1 0) (<= X_1 1)))) (assert (or (>= Y_0 1) (>= Y_1 1)))""")
    assert len(p.cases) == 4
    assert sorted({float(c.lo[0]) for c in p.cases}) == [0.0, 2.0]


@pytest.mark.parametrize("text, message", [
    ("(assert (>= X_0 1)", "unbalanced"),
    ("(declare-const Z Real)", "X_i or Y_j"),
    ("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (>= (* X_0 X_0) 1))",
     "non-linear"),
    ("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (>= X_0 Y_0))", "mixes"),
    ("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (>= X_0 0))", "upper bound"),
    ("(declare-const X_0 Real)(assert (>= (exp X_0) 0))", "unsupported function"),
])
def test_unsupported_files_are_rejected_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(VnnlibError, match=message):
        parse_vnnlib(text)


def test_every_acasxu_property_parses() -> None:
    d = need_acas()
    files = sorted(glob.glob(os.path.join(d, "prop_*.vnnlib")))
    assert len(files) == 10
    for f in files:
        p = read_vnnlib(f)
        assert (p.n_inputs, p.n_outputs) == (5, 5) and p.cases
        for c in p.cases:
            assert np.all(c.lo <= c.hi) and c.c.shape[1] == 5
    p1 = read_vnnlib(os.path.join(d, "prop_1.vnnlib"))
    (c1,) = p1.cases
    np.testing.assert_array_equal(c1.c, [[-1, 0, 0, 0, 0]])  # Y_0 >= 3.99...: -Y_0 <= -3.99
    # the decimal is kept exactly; d is its float64 rounding upward (sound for proofs)
    exact = Fraction("-3.991125645861615")
    assert c1.exact[0][1] == exact
    assert Fraction(float(c1.d[0])) >= exact > Fraction(float(np.nextafter(c1.d[0], -np.inf)))
    assert len(read_vnnlib(os.path.join(d, "prop_6.vnnlib")).cases) == 8  # 2 boxes x 4
    assert len(read_vnnlib(os.path.join(d, "prop_2.vnnlib")).cases) == 1
