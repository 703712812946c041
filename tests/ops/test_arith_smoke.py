"""Smoke test of the shared reference helper on the first ops (add, mul, div, exp, sum)."""

import numpy as np

from tests.reference import check_op, random_array

rng = np.random.default_rng(0)


def test_add_broadcast() -> None:
    check_op(lambda m, a, b: m.add(a, b), [random_array(rng, (3, 1, 4)), random_array(rng, (5, 1))],
             np.add)


def test_mul_div_exp_sum_chain() -> None:
    check_op(lambda m, a, b: (a * b / (b * b + 1)).exp().sum(1),
             [random_array(rng, (2, 3)), random_array(rng, (3,))],
             lambda a, b: np.exp(a * b / (b * b + 1)).sum(1))
