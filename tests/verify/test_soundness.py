"""The soundness fuzzer in miniature: a seeded campaign of random graphs whose every proven
claim is attacked on the eager float model (bench/soundness.py runs it at scale), its coverage
of the ops with a range rule, and proof that it catches an unsound rule."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from neurarust.types import interval
from neurarust.verify import numeric, soundness


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def test_seeded_campaign_breaks_no_claim() -> None:
    camp = soundness.run(10**9, seed=13, graphs=250, exact_every=15, ort_every=8)
    assert not camp.broken, "\n".join(str(b) for b in camp.broken)
    assert camp.claims >= 8000  # claims were made and attacked
    assert camp.proven >= 60 and camp.hazards >= 20  # both verdicts occur
    assert camp.ort_graphs >= 10  # some attacked on onnxruntime too


def test_every_op_with_a_range_rule_is_generated() -> None:
    missing = soundness.rule_ops() - soundness.coverage(40)
    assert missing == set(soundness.NOT_TRACEABLE), sorted(missing)


def test_the_fuzzer_catches_an_unsound_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sum rule that forgets rounding and infinities must be broken by the attack."""

    def naive_sum(a: interval.Interval, dim: Any = None, keepdim: bool = False,
                  **_: Any) -> interval.RangeResult:
        axes = interval._axes(a, dim)
        lo, hi = a.lo, a.hi
        with np.errstate(all="ignore"):
            lo, hi = lo.sum(axis=axes, keepdims=keepdim), hi.sum(axis=axes, keepdims=keepdim)
        return interval.RangeResult(interval.Interval(
            lo, hi, interval._reduced_shape(a, axes, keepdim), a.dtype), [])

    monkeypatch.setattr(interval, "sum_", naive_sum)
    numeric._rule.cache_clear()
    try:
        camp = soundness.run(10**9, seed=5, graphs=60, recipes=["sum", "exp", "mul"])
    finally:
        numeric._rule.cache_clear()
    assert camp.broken
    b = camp.broken[0]
    text = str(b)
    assert "sum" in b.chain and "box lo=" in text and "input=" in text
