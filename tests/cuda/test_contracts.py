"""The z3 proofs that every CUDA kernel's accesses are in bounds, and that they catch bugs."""

from __future__ import annotations

import dataclasses

import pytest

from neurarust.cli import main
from neurarust.kernels.cuda.contracts import (
    CONTRACTS,
    ELEMENTWISE,
    ROWSUM,
    SOFTMAX,
    Access,
    LoopVar,
)
from neurarust.verify.kernels import verify_kernel, verify_kernels


def test_every_kernel_proven() -> None:
    reports = verify_kernels()
    assert [r.status for r in reports] == ["proven"] * len(CONTRACTS)
    assert all(len(r.obligations) >= 4 for r in reports)


def test_cli_lists_each_kernel_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--kernels"]) == 0
    out = capsys.readouterr().out
    for c in CONTRACTS:
        assert f"{c.name} ({c.source}" in out and "proven" in out
    assert f"{len(CONTRACTS)}/{len(CONTRACTS)} kernels proven" in out


def test_planted_off_by_one_in_guard_is_refuted() -> None:
    # out[i] guarded by i <= n instead of i < n
    n = lambda c: c.p["d0"] * c.p["d1"] * c.p["d2"] * c.p["d3"]
    bad = Access("out", "write", lambda c: c.v["i"], lambda c: [c.v["i"] <= n(c)], "out[i]")
    planted = dataclasses.replace(ELEMENTWISE, accesses=(*ELEMENTWISE.accesses[:2], bad))
    report = verify_kernel(planted)
    assert report.status == "refuted"
    (ob,) = [o for o in report.obligations if o.status == "refuted"]
    cex = ob.counterexample
    assert cex is not None and "write out[i]" in ob.what
    numel = cex["d0"] * cex["d1"] * cex["d2"] * cex["d3"]
    assert cex["index"] == cex["i"] == numel  # the offending index is one past the end
    assert {"gridDim.x", "blockDim.x", "blockIdx.x", "threadIdx.x"} <= cex.keys()
    assert "refuted" in str(report) and "counterexample" in str(report)


def test_planted_shared_memory_overrun_is_refuted() -> None:
    # the tree reduction starting at s = blockDim.x instead of blockDim.x / 2
    loops = (SOFTMAX.loops[0], LoopVar("s", lambda c: [c.v["s"] >= 1, c.v["s"] <= c.block]))
    report = verify_kernel(dataclasses.replace(SOFTMAX, loops=loops))
    bad = [o for o in report.obligations if o.status == "refuted"]
    assert len(bad) == 1 and "buf[tid + s]" in bad[0].what
    assert bad[0].counterexample is not None and bad[0].counterexample["index"] >= 256


def test_planted_launch_bug_is_refuted() -> None:
    # one thread per row without the grid cap would break gridDim.x's limit? it cannot: rows
    # <= 2^31-1. A block of 2048 threads does break the launch limit.
    report = verify_kernel(dataclasses.replace(ROWSUM, block=lambda c: 2048))
    assert report.status == "refuted"
    assert any("blockDim.x" in o.what and o.status == "refuted" for o in report.obligations)


def test_cli_exits_one_when_refuted(monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    import neurarust.verify.kernels as vk

    planted = dataclasses.replace(ROWSUM, block=lambda c: 2048)
    monkeypatch.setattr(vk, "CONTRACTS", (planted,))
    monkeypatch.setattr(vk.verify_kernels, "__defaults__", ((planted,),))
    assert main(["verify", "--kernels"]) == 1
    out = capsys.readouterr().out
    assert "rowsum" in out and "refuted" in out and "0/1 kernels proven" in out


@pytest.mark.parametrize("rows", [1, 255, 256, 257, 10**7])
def test_host_launch_configuration(rows: int) -> None:
    launch = ROWSUM.launch(rows=rows, cols=3)
    assert launch.block == 256 and 1 <= launch.grid <= 65535
    assert launch.grid * launch.block >= min(rows, 65535 * 256)
    assert SOFTMAX.launch(rows=rows, cols=3).grid == rows


def test_contracts_match_their_c_sources() -> None:
    from neurarust.kernels.cuda.source_check import check_source

    for c in CONTRACTS:
        findings = check_source(c)
        assert findings and all(f.ok for f in findings), [f.what for f in findings if not f.ok]


def test_contract_drifting_from_source_is_reported() -> None:
    # the contract claims out[i + 1] while elementwise.cu writes out[i]
    drifted = Access("out", "write", lambda c: c.v["i"], lambda c: [], "out[i + 1]")
    planted = dataclasses.replace(ELEMENTWISE, accesses=(*ELEMENTWISE.accesses[:2], drifted))
    report = verify_kernel(planted)
    bad = [o.what for o in report.obligations if o.status == "refuted"]
    assert report.status == "refuted"
    assert any("in the source, not the contract: out[i]" in w
               and "in the contract, not the source: out[i+1]" in w for w in bad), bad
    missing = dataclasses.replace(ROWSUM, functions=("nr_rowsum_f16",))
    assert any("nr_rowsum_f16 is not a kernel of rowsum.cu" in o.what
               for o in verify_kernel(missing).obligations if o.status == "refuted")
