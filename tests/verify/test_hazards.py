"""Every numeric hazard class, each flagged on a planted bug and proven absent on its fix.

Pairs: a model with the bug (the verifier must report the hazard, with its op, source line
and the interval that reaches it) and the same computation written safely, or under
assumptions / ranges that exclude it (the verifier must prove it). Where a verdict depends
on sizes, the counterexample it names is replayed eagerly and must fail for real.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import neurarust as nr
import neurarust.nn as nn
import neurarust.nn.functional as F
from neurarust.verify.numeric import verify_ranges


def kinds(report: object) -> set[tuple[str, str]]:
    return {(h.node.op, h.hazard.kind) for h in report.found}  # type: ignore[attr-defined]


class Positions(nn.Module):
    """A learned position table of 64 rows, indexed by ``arange(T)``."""

    def __init__(self) -> None:
        super().__init__()
        self.pos = nn.Embedding(64, 8)

    def forward(self, x: nr.Tensor) -> nr.Tensor:
        return x + self.pos(nr.arange(x.shape[1]))


class Tokens(nn.Module):
    def __init__(self, rows: int) -> None:
        super().__init__()
        self.tok = nn.Embedding(rows, 8)

    def forward(self, ids: nr.Tensor) -> nr.Tensor:
        return self.tok(ids)  # type: ignore[no-any-return]


def test_arange_into_a_64_row_table_is_proven_for_t_le_64_and_refuted_at_t_65() -> None:
    g = nr.trace(Positions(), {"x": "f32[B, T, 8]"})
    proven = verify_ranges(g, {"x": (-1.0, 1.0)}, ["T <= 64"])
    assert proven.ok, proven
    refuted = verify_ranges(g, {"x": (-1.0, 1.0)}, ["T <= 100"])
    (h,) = refuted.found
    assert (h.node.op, h.hazard.kind) == ("index_select", "index-range")
    assert (h.hazard.lo, h.hazard.hi) == (0.0, 99.0)
    assert h.hazard.counterexample == {"T": 65}
    assert "test_hazards.py" in h.node.source and "counterexample: T=65" in str(refuted)
    # the counterexample fails for real
    with pytest.raises(IndexError):
        Positions()(nr.zeros(1, 65, 8))
    Positions()(nr.zeros(1, 64, 8))


def test_token_ids_from_a_range_against_the_table_size() -> None:
    spec = {"ids": "i64[B, T]"}
    assert verify_ranges(nr.trace(Tokens(1000), spec), {"ids": (0, 999)}).ok
    small = verify_ranges(nr.trace(Tokens(500), spec), {"ids": (0, 999)})
    assert kinds(small) == {("index_select", "index-range")}
    assert "size 500 (valid 0..499)" in str(small)
    negative = verify_ranges(nr.trace(Tokens(1000), spec), {"ids": (-1, 10)})
    assert kinds(negative) == {("index_select", "index-range")}


@pytest.mark.parametrize("fn,spec", [
    (lambda x, i: x.gather(1, i), {"x": "f32[4, 16]", "i": "i64[4, 3]"}),
    (lambda x, i: x.index_select(1, i), {"x": "f32[4, 16]", "i": "i64[5]"}),
    (lambda x, i: x[i], {"x": "f32[16, 2]", "i": "i64[5]"}),
])
def test_gather_index_select_and_indexing_check_their_indices(fn: object, spec: dict[str, str],
                                                                ) -> None:
    g = nr.trace(fn, spec)  # type: ignore[arg-type]
    assert verify_ranges(g, {"x": (0.0, 1.0), "i": (0, 15)}).ok
    bad = verify_ranges(g, {"x": (0.0, 1.0), "i": (0, 16)})
    assert [h.hazard.kind for h in bad.found] == ["index-range"]


def test_int32_sum_overflow_depends_on_the_count_bound() -> None:
    g = nr.trace(lambda x: x.sum(1, dtype=nr.int32), {"x": "i32[B, T]"})
    assert verify_ranges(g, {"x": (0, 100)}, ["T <= 1000"]).ok
    for assume in ([], ["T <= 100000000"]):
        r = verify_ranges(g, {"x": (0, 100)}, assume)
        assert kinds(r) == {("sum", "int-overflow")}, r
    concrete = nr.trace(lambda x: x.sum(dtype=nr.int32), {"x": "i32[1000, 1000]"})
    assert kinds(verify_ranges(concrete, {"x": (0, 3000)})) == {("sum", "int-overflow")}
    assert verify_ranges(concrete, {"x": (0, 2000)}).ok
    # the default int64 accumulator (as PyTorch) does not overflow there
    assert verify_ranges(nr.trace(lambda x: x.sum(), {"x": "i32[1000, 1000]"}),
                         {"x": (0, 3000)}).ok


def test_zero_times_inf_and_inf_minus_inf() -> None:
    g = nr.trace(lambda x, y: x.exp() * y, {"x": "f32[4]", "y": "f32[4]"})
    assert ("mul", "nan") in kinds(verify_ranges(g, {"x": (0.0, 100.0), "y": (-1.0, 1.0)}))
    assert verify_ranges(g, {"x": (0.0, 80.0), "y": (-1.0, 1.0)}).ok
    g = nr.trace(lambda x: x.exp() - x.exp(), {"x": "f32[4]"})
    assert ("sub", "nan") in kinds(verify_ranges(g, {"x": (0.0, 100.0)}))
    assert verify_ranges(g, {"x": (0.0, 80.0)}).ok


@pytest.mark.parametrize("bound,safe", [(200.0, True), (300.0, False)])
def test_float16_overflow_after_a_cast(bound: float, safe: bool) -> None:
    g = nr.trace(lambda x: (x * x).to(nr.float16), {"x": "f32[3]"})
    r = verify_ranges(g, {"x": (0.0, bound)})  # 200**2 = 40000 < 65504 < 300**2
    assert r.ok is safe and (safe or kinds(r) == {("cast", "overflow")}), r


def test_pow_and_exp_overflow_for_float16() -> None:
    g = nr.trace(lambda x: x ** 3, {"x": "f16[3]"})
    assert verify_ranges(g, {"x": (0.0, 40.0)}).ok  # 64000
    assert ("pow", "overflow") in kinds(verify_ranges(g, {"x": (0.0, 41.0)}))  # 68921
    g = nr.trace(lambda x: x.exp(), {"x": "f16[3]"})
    assert ("exp", "overflow") in kinds(verify_ranges(g, {"x": (0.0, 12.0)}))


def _naive_logsumexp(x: nr.Tensor) -> nr.Tensor:
    return x.exp().sum(1).log()


def _naive_softmax(x: nr.Tensor) -> nr.Tensor:
    e = x.exp()
    return e / e.sum(1, keepdim=True)


def _naive_layer_norm(x: nr.Tensor) -> nr.Tensor:
    mean = x.mean(-1, keepdim=True)
    return (x - mean) / x.var(-1, correction=0, keepdim=True).sqrt()


@pytest.mark.parametrize("stable,naive,spec,box,hazard", [
    (lambda x: x.logsumexp(1), _naive_logsumexp, "f32[B, 10]", (0.0, 100.0), ("exp", "overflow")),
    (lambda x: F.softmax(x, 1), _naive_softmax, "f32[B, 10]", (0.0, 100.0), ("exp", "overflow")),
    # exp(-60) / (9 exp(60)) underflows float32 to 0 (at -50..50 it does not: ~4e-45)
    (lambda x: F.log_softmax(x, 1), lambda x: _naive_softmax(x).log(), "f32[B, 10]",
     (-60.0, 60.0), ("log", "log-domain")),
    (lambda x: F.layer_norm(x, (8,)), _naive_layer_norm, "f32[B, 8]", (-10.0, 10.0),
     ("div", "div-by-zero")),
])
def test_stable_forms_are_proven_and_their_naive_counterparts_flagged(
        stable: object, naive: object, spec: str, box: tuple[float, float],
        hazard: tuple[str, str]) -> None:
    ok = verify_ranges(nr.trace(stable, {"x": spec}), {"x": box})  # type: ignore[arg-type]
    assert ok.ok and all(np.isfinite([iv.min, iv.max]).all() for iv in ok.outputs.values()), ok
    bad = verify_ranges(nr.trace(naive, {"x": spec}), {"x": box})  # type: ignore[arg-type]
    assert hazard in kinds(bad), bad
    (h,) = [h for h in bad.found if (h.node.op, h.hazard.kind) == hazard][:1]
    assert "test_hazards.py" in h.node.source


def test_var_with_correction_over_one_element_divides_by_zero() -> None:
    g = nr.trace(lambda x: x.var(1), {"x": "f32[B, T]"})
    assert kinds(verify_ranges(g, {"x": (0.0, 1.0)})) == {("var", "div-by-zero")}
    assert verify_ranges(g, {"x": (0.0, 1.0)}, ["T >= 2"]).ok


def test_exact_removes_a_false_alarm_of_interval_arithmetic() -> None:
    g = nr.trace(lambda x: (x - x + 1).log() + (x - x).relu() * 3, {"x": "f32[4]"})
    ibp = verify_ranges(g, {"x": (0.0, 1.0)})
    assert kinds(ibp) == {("log", "log-domain")}
    exact = verify_ranges(g, {"x": (0.0, 1.0)}, exact=True)
    assert exact.ok, exact
    out = next(iter(exact.outputs.values()))
    assert -1e-5 < out.min <= 0 <= out.max < 1e-5  # log(1) + 0, up to float32 rounding
    assert any("log-domain excluded" in t for t in exact.tightened)
    x = nr.tensor(np.linspace(0, 1, 4, dtype=np.float32))
    with nr.no_grad():
        assert out.contains(((x - x + 1).log() + (x - x).relu() * 3).numpy())


POSITIONS_SRC = '''
import neurarust as nr
import neurarust.nn as nn


class Positions(nn.Module):
    def __init__(self):
        super().__init__()
        self.pos = nn.Embedding(64, 8)

    def forward(self, x):
        return x + self.pos(nr.arange(x.shape[1]))


def cancel(x):
    return (x - x + 1).log()
'''


def test_cli_assume_bounds_index_ranges_and_exact_tightens(
        tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    from neurarust.cli import main

    src = os.path.join(str(tmp_path), "model.py")
    with open(src, "w") as f:
        f.write(POSITIONS_SRC)
    args = ["verify", f"{src}:Positions", "--input", "x: f32[B, T, 8]", "--range", "x in [-1, 1]"]
    assert main([*args, "--assume", "T <= 64"]) == 0
    capsys.readouterr()
    assert main([*args, "--assume", "T <= 100"]) == 1
    out = capsys.readouterr().out
    assert "index-range" in out and "counterexample: T=65" in out and "model.py:12" in out
    cancel = ["verify", f"{src}:cancel", "--input", "x: f32[4]", "--range", "x in [0, 1]"]
    assert main(cancel) == 1
    assert "log-domain" in capsys.readouterr().out
    assert main([*cancel, "--exact"]) == 0
    assert "log-domain excluded" in capsys.readouterr().out
