"""The language of index contracts: what a CUDA kernel in ``sources/`` reads and writes.

Each :class:`KernelContract` (declared next to its kernel's launch code, in
:mod:`.families`) mirrors one ``.cu`` source: the shape parameters and their
bounds, the launch configuration the host computes from them (:meth:`KernelContract.launch`
is THE host-side launch computation, used by the launch path and by the proof alike), the
buffers and their sizes, the loop variables (with the facts their loop structure gives),
derived values (``lemmas``: a value defined from others plus a claimed range, proven first,
then used abstractly) and every memory access with the path condition under which it runs.

Expressions are Python functions of a :class:`Ctx`; they use only ``+ - *``, comparisons and
``ctx.ops`` (``div``, ``mod``, ``min``, ``cdiv``) so they evaluate both on ints (the host) and
on z3 terms (``neurarust.verify.kernels``). This module never imports z3 or pycuda.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = [
    "BLOCK",
    "DIMS4",
    "INT32_MAX",
    "MAX_GRID",
    "Access",
    "Ctx",
    "IntOps",
    "KernelContract",
    "Launch",
    "Lemma",
    "LoopVar",
    "Ops",
    "Param",
    "coord",
    "extent4",
    "grid_stride",
    "numel4",
    "offset4",
]

INT32_MAX = 2**31 - 1
"""Largest element count a kernel is launched for (and gridDim.x's limit)."""

Expr = Any
"""An int on the host, a z3 ArithRef in the proof."""


class Ops(Protocol):
    """The arithmetic a contract may use besides operators (C semantics for nonnegatives)."""

    def div(self, a: Expr, b: Expr) -> Expr: ...
    def mod(self, a: Expr, b: Expr) -> Expr: ...
    def min(self, a: Expr, b: Expr) -> Expr: ...
    def cdiv(self, a: Expr, b: Expr) -> Expr: ...


class IntOps:
    """Ops on Python ints, for the host's launch computation."""

    def div(self, a: Expr, b: Expr) -> Expr:
        return a // b

    def mod(self, a: Expr, b: Expr) -> Expr:
        return a % b

    def min(self, a: Expr, b: Expr) -> Expr:
        return min(a, b)

    def cdiv(self, a: Expr, b: Expr) -> Expr:
        return (a + b - 1) // b


@dataclass
class Ctx:
    """What a contract expression sees: params, launch dims, thread ids, loop/derived vars."""

    ops: Ops
    p: Mapping[str, Expr]
    grid: Expr = None
    block: Expr = None
    bx: Expr = None
    tx: Expr = None
    v: dict[str, Expr] = field(default_factory=dict)


Fn = Callable[[Ctx], Expr]
Conds = Callable[[Ctx], list[Any]]


@dataclass(frozen=True)
class Param:
    """A shape parameter with inclusive bounds."""

    name: str
    lo: int = 1
    hi: int = INT32_MAX


@dataclass(frozen=True)
class Launch:
    grid: int
    block: int


@dataclass(frozen=True)
class LoopVar:
    """A loop variable: ``facts`` hold for every value it takes (e.g. ``i >= start`` for a
    grid-stride loop, whose step is positive); the loop guard goes in the accesses' guards."""

    name: str
    facts: Conds


@dataclass(frozen=True)
class Lemma:
    """A derived value ``name = define(ctx)`` with ``lo <= name < hi``, proven from its
    definition; later proofs use only the range."""

    name: str
    define: Fn
    lo: Fn
    hi: Fn


@dataclass(frozen=True)
class Access:
    """``buffer[index]`` read or written whenever ``guard`` (the path condition) holds."""

    buffer: str
    kind: Literal["read", "write"]
    index: Fn
    guard: Conds
    code: str  # the C expression, for reports


@dataclass(frozen=True)
class KernelContract:
    name: str
    source: str
    functions: tuple[str, ...]
    params: tuple[Param, ...]
    assume: Conds  # further conditions on params (e.g. numel <= INT32_MAX)
    grid: Fn
    block: Fn
    buffers: Callable[[Ctx], dict[str, Expr]]
    loops: tuple[LoopVar, ...]
    lemmas: tuple[Lemma, ...]
    accesses: tuple[Access, ...]
    max_block: int = 1024

    def launch(self, **shape: int) -> Launch:
        """The launch configuration the host uses for these shape parameters."""
        ctx = Ctx(IntOps(), shape)
        return Launch(int(self.grid(ctx)), int(self.block(ctx)))


BLOCK = 256
"""Threads per block of the one-thread-per-element kernels."""
MAX_GRID = 65535
"""The grid size cap of grid-stride kernels (each thread then loops)."""

DIMS4 = ("d0", "d1", "d2", "d3")
"""The shape parameters of kernels over shapes padded to rank 4."""


def numel4(c: Ctx) -> Expr:
    """Elements of the rank-4 shape ``d0..d3``."""
    return c.p["d0"] * c.p["d1"] * c.p["d2"] * c.p["d3"]


def extent4(c: Ctx, s: str) -> Expr:
    """Elements a strided view with strides ``{s}0..{s}3`` spans: 1 + sum((d_k - 1) * s_k);
    the host allocates (or checks) this many."""
    return 1 + sum((c.p[d] - 1) * c.p[f"{s}{k}"] for k, d in enumerate(DIMS4))


def offset4(c: Ctx, s: str) -> Expr:
    """The strided offset of coordinates ``c0..c3`` (lemmas of :func:`coord`)."""
    return sum(c.v[f"c{k}"] * c.p[f"{s}{k}"] for k in range(4))


def grid_stride(var: str) -> LoopVar:
    """``for (var = blockIdx.x * blockDim.x + threadIdx.x; ...; var += blockDim.x * gridDim.x)``"""
    return LoopVar(var, lambda c: [c.v[var] >= c.bx * c.block + c.tx])


def coord(k: int) -> Lemma:
    """Coordinate ``c{k}`` of ``i`` in ``d0..d3``:
    ``r = i; c3 = r % d3; r /= d3; c2 = r % d2; r /= d2; ...``"""

    def define(c: Ctx) -> Expr:
        r = c.v["i"]
        for d in DIMS4[k + 1:][::-1]:
            r = c.ops.div(r, c.p[d])
        return c.ops.mod(r, c.p[DIMS4[k]])

    def hi(c: Ctx) -> Expr:
        return c.p[DIMS4[k]]

    return Lemma(f"c{k}", define, lambda c: 0, hi)
