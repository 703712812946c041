"""Prove with z3 that every CUDA kernel's memory accesses are within its buffers.

For each :class:`~neurarust.kernels.cuda.contracts.KernelContract`: shape parameters are
symbolic within their bounds; the launch configuration is the host's own formula
(``contract.grid``/``contract.block``); ``0 <= blockIdx.x < gridDim.x`` and
``0 <= threadIdx.x < blockDim.x``. Obligations, each proven for all of these at once:

* the launch is valid: ``1 <= gridDim.x <= 2^31-1``, ``1 <= blockDim.x <= max_block``;
* each lemma's range follows from its definition (then only the range is used);
* each access's index is in ``[0, size)`` of its buffer whenever its guard holds;
* and, before these, the contract matches its C source: functions, parameters and the
  ``buffer[index]`` expressions (:mod:`neurarust.kernels.cuda.source_check`).

A refuted obligation carries a counterexample: shapes, launch configuration, thread ids and
the offending index. Imports z3 (not pycuda).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import z3

from ..kernels.cuda.contracts import CONTRACTS, INT32_MAX, Ctx, Expr, KernelContract

__all__ = ["KernelReport", "Obligation", "Z3Ops", "verify_kernel", "verify_kernels"]


class Z3Ops:
    """Contract arithmetic on z3 Int terms (integer division/mod: C's for nonnegatives)."""

    def div(self, a: Expr, b: Expr) -> Expr:
        return a / b

    def mod(self, a: Expr, b: Expr) -> Expr:
        return a % b

    def min(self, a: Expr, b: Expr) -> Expr:
        return z3.If(a <= b, a, b)

    def cdiv(self, a: Expr, b: Expr) -> Expr:
        return (a + b - 1) / b


@dataclass(frozen=True)
class Obligation:
    what: str
    status: str  # proven / refuted / unknown
    counterexample: dict[str, int] | None = None

    def __str__(self) -> str:
        text = f"{self.status}: {self.what}"
        if self.counterexample:
            text += "; counterexample: " + ", ".join(
                f"{k}={v}" for k, v in self.counterexample.items())
        return text


@dataclass
class KernelReport:
    contract: KernelContract
    obligations: list[Obligation] = field(default_factory=list)

    @property
    def proven(self) -> bool:
        return all(o.status == "proven" for o in self.obligations)

    @property
    def status(self) -> str:
        if self.proven:
            return "proven"
        return "refuted" if any(o.status == "refuted" for o in self.obligations) else "unknown"

    def __str__(self) -> str:
        c = self.contract
        head = (f"{c.name} ({c.source}: {', '.join(c.functions)}): {self.status} "
                f"({len(self.obligations)} obligations)")
        bad = [f"  {o}" for o in self.obligations if o.status != "proven"]
        return "\n".join([head, *bad])


def _as_int(v: Any) -> int:
    return int(v.as_long()) if z3.is_int_value(v) else int(str(v))


def _source_obligations(contract: KernelContract) -> list[Obligation]:
    """The contract checked against its C source (:mod:`~..kernels.cuda.source_check`)."""
    import shutil

    from ..kernels.cuda.source_check import check_source

    if shutil.which("g++") is None:
        return [Obligation("source: contract vs C source (needs g++ on PATH)", "unknown")]
    return [Obligation(f.what, "proven" if f.ok else "refuted") for f in check_source(contract)]


def verify_kernel(contract: KernelContract, timeout_ms: int = 20000,
                  source: bool = True) -> KernelReport:
    """Prove every obligation of one contract (see the module docstring); with ``source``,
    first check that the contract's functions, parameters and accesses are the C source's."""
    ops = Z3Ops()
    p = {q.name: z3.Int(q.name) for q in contract.params}
    hyps: list[Any] = []
    for q in contract.params:
        hyps += [p[q.name] >= q.lo, p[q.name] <= q.hi]
    ctx = Ctx(ops, p)
    hyps += contract.assume(ctx)
    grid, block = z3.Int("gridDim.x"), z3.Int("blockDim.x")
    bx, tx = z3.Int("blockIdx.x"), z3.Int("threadIdx.x")
    hyps += [grid == contract.grid(ctx), block == contract.block(ctx)]
    ctx.grid, ctx.block, ctx.bx, ctx.tx = grid, block, bx, tx
    report = KernelReport(contract)
    if source:
        report.obligations += _source_obligations(contract)
    shown = [*p.values(), grid, block]

    def prove(what: str, claim: Any, extra: Sequence[Any], show: Iterable[Any]) -> bool:
        s = z3.Solver()
        s.set("timeout", timeout_ms)
        s.add(*hyps, *extra, z3.Not(claim))
        r = s.check()
        if r == z3.unsat:
            report.obligations.append(Obligation(what, "proven"))
            return True
        if r == z3.sat:
            m = s.model()
            cex = {str(t): _as_int(m.eval(t, model_completion=True)) for t in show}
            report.obligations.append(Obligation(what, "refuted", cex))
        else:
            report.obligations.append(Obligation(what, "unknown"))
        return False

    prove("launch: 1 <= gridDim.x <= 2^31-1", z3.And(grid >= 1, grid <= INT32_MAX), [], shown)
    prove(f"launch: 1 <= blockDim.x <= {contract.max_block}",
          z3.And(block >= 1, block <= contract.max_block), [], shown)
    hyps += [bx >= 0, bx < grid, tx >= 0, tx < block]
    shown += [bx, tx]
    for loop in contract.loops:
        ctx.v[loop.name] = z3.Int(loop.name)
        shown.append(ctx.v[loop.name])
    for loop in contract.loops:
        hyps += loop.facts(ctx)
    for lemma in contract.lemmas:
        value = z3.Int(lemma.name)
        defined = lemma.define(ctx)
        lo, hi = lemma.lo(ctx), lemma.hi(ctx)
        prove(f"lemma {lemma.name} in [{lo}, {hi})", z3.And(defined >= lo, defined < hi), [],
              shown)
        ctx.v[lemma.name] = value
        hyps += [value >= lo, value < hi]  # abstract: only the (proven) range is kept
        shown.append(value)
    for acc in contract.accesses:
        size = contract.buffers(ctx)[acc.buffer]
        index = acc.index(ctx)
        idx = z3.Int("index")
        size_text = " ".join(str(size).split())
        prove(f"{acc.kind} {acc.code} within {acc.buffer}[{size_text}]",
              z3.And(index >= 0, index < size), [*acc.guard(ctx), idx == index],
              [*shown, idx])
    return report


def verify_kernels(contracts: Iterable[KernelContract] = CONTRACTS) -> list[KernelReport]:
    """Prove every kernel contract (all of the backend's by default)."""
    return [verify_kernel(c) for c in contracts]
