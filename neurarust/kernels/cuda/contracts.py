"""Index contracts of the CUDA kernels in ``sources/``: what each kernel reads and writes.

Each :class:`KernelContract` mirrors one ``.cu`` source: the shape parameters and their
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
    "CONTRACTS",
    "ELEMENTWISE",
    "GATHER",
    "INT32_MAX",
    "ROWSUM",
    "SOFTMAX",
    "UNARY",
    "Access",
    "Ctx",
    "IntOps",
    "KernelContract",
    "Launch",
    "Lemma",
    "LoopVar",
    "Ops",
    "Param",
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
MAX_GRID = 65535
SOFTMAX_BLOCK = 256  # must equal NR_SOFTMAX_BLOCK in softmax.cu

_D = ("d0", "d1", "d2", "d3")


def _numel(c: Ctx) -> Expr:
    return c.p["d0"] * c.p["d1"] * c.p["d2"] * c.p["d3"]


def _extent(c: Ctx, s: str) -> Expr:
    # elements a strided view spans: 1 + sum((d_k - 1) * stride_k); the host allocates this
    return 1 + sum((c.p[d] - 1) * c.p[f"{s}{k}"] for k, d in enumerate(_D))


def _offset(c: Ctx, s: str) -> Expr:
    return sum(c.v[f"c{k}"] * c.p[f"{s}{k}"] for k in range(4))


def _grid_stride(var: str) -> LoopVar:
    # for (var = blockIdx.x * blockDim.x + threadIdx.x; ...; var += blockDim.x * gridDim.x)
    return LoopVar(var, lambda c: [c.v[var] >= c.bx * c.block + c.tx])


def _coord(k: int) -> Lemma:
    # r = i; c3 = r % d3; r /= d3; c2 = r % d2; r /= d2; ...
    def define(c: Ctx) -> Expr:
        r = c.v["i"]
        for d in _D[k + 1:][::-1]:
            r = c.ops.div(r, c.p[d])
        return c.ops.mod(r, c.p[_D[k]])

    def hi(c: Ctx) -> Expr:
        return c.p[_D[k]]

    return Lemma(f"c{k}", define, lambda c: 0, hi)


ELEMENTWISE = KernelContract(
    name="elementwise_binary",
    source="elementwise.cu",
    functions=tuple(f"nr_{op}_{t}" for t in ("f32", "f64")
                    for op in ("add", "sub", "mul", "div", "relu_backward")),
    params=tuple(Param(d) for d in _D)
    + tuple(Param(f"{s}{k}", 0, INT32_MAX) for s in ("sa", "sb") for k in range(4)),
    assume=lambda c: [_numel(c) <= INT32_MAX],
    grid=lambda c: c.ops.min(c.ops.cdiv(_numel(c), BLOCK), MAX_GRID),
    block=lambda c: BLOCK,
    buffers=lambda c: {"a": _extent(c, "sa"), "b": _extent(c, "sb"), "out": _numel(c)},
    loops=(_grid_stride("i"),),
    lemmas=tuple(_coord(k) for k in (3, 2, 1, 0)),
    accesses=(
        Access("a", "read", lambda c: _offset(c, "sa"), lambda c: [c.v["i"] < _numel(c)],
               "a[c0*sa0 + c1*sa1 + c2*sa2 + c3*sa3]"),
        Access("b", "read", lambda c: _offset(c, "sb"), lambda c: [c.v["i"] < _numel(c)],
               "b[c0*sb0 + c1*sb1 + c2*sb2 + c3*sb3]"),
        Access("out", "write", lambda c: c.v["i"], lambda c: [c.v["i"] < _numel(c)], "out[i]"),
    ),
)

GATHER = KernelContract(
    name="gather",
    source="gather.cu",
    functions=("nr_gather_f32", "nr_gather_f64", "nr_gather_i64"),
    params=tuple(Param(d) for d in _D) + tuple(Param(f"s{k}", 0, INT32_MAX) for k in range(4)),
    assume=lambda c: [_numel(c) <= INT32_MAX],
    grid=lambda c: c.ops.min(c.ops.cdiv(_numel(c), BLOCK), MAX_GRID),
    block=lambda c: BLOCK,
    # the source view spans 1 + sum((d_k - 1) * s_k) elements; the host checks its buffer
    # holds that many before launching
    buffers=lambda c: {"x": _extent(c, "s"), "out": _numel(c)},
    loops=(_grid_stride("i"),),
    lemmas=tuple(_coord(k) for k in (3, 2, 1, 0)),
    accesses=(
        Access("x", "read", lambda c: _offset(c, "s"), lambda c: [c.v["i"] < _numel(c)],
               "x[c0*s0 + c1*s1 + c2*s2 + c3*s3]"),
        Access("out", "write", lambda c: c.v["i"], lambda c: [c.v["i"] < _numel(c)], "out[i]"),
    ),
)

UNARY_OPS = ("neg", "abs", "exp", "log", "tanh", "sqrt", "relu", "sigmoid")


def _N(c: Ctx) -> Expr:
    return c.p["n"]


UNARY = KernelContract(
    name="unary",
    source="unary.cu",
    functions=tuple(f"nr_{op}_{t}" for t in ("f32", "f64") for op in UNARY_OPS),
    params=(Param("n"),),
    assume=lambda c: [],
    grid=lambda c: c.ops.min(c.ops.cdiv(_N(c), BLOCK), MAX_GRID),
    block=lambda c: BLOCK,
    buffers=lambda c: {"x": _N(c), "out": _N(c)},
    loops=(_grid_stride("i"),),
    lemmas=(),
    accesses=(
        Access("x", "read", lambda c: c.v["i"], lambda c: [c.v["i"] < _N(c)], "x[i]"),
        Access("out", "write", lambda c: c.v["i"], lambda c: [c.v["i"] < _N(c)], "out[i]"),
    ),
)

_RC = (Param("rows"), Param("cols"))


def _rc_assume(c: Ctx) -> list[Any]:
    return [c.p["rows"] * c.p["cols"] <= INT32_MAX]


ROWSUM = KernelContract(
    name="rowsum",
    source="rowsum.cu",
    functions=("nr_rowsum_f32", "nr_rowsum_f64"),
    params=_RC,
    assume=_rc_assume,
    grid=lambda c: c.ops.min(c.ops.cdiv(c.p["rows"], BLOCK), MAX_GRID),
    block=lambda c: BLOCK,
    buffers=lambda c: {"x": c.p["rows"] * c.p["cols"], "out": c.p["rows"]},
    loops=(_grid_stride("r"), LoopVar("j", lambda c: [c.v["j"] >= 0])),
    lemmas=(),
    accesses=(
        Access("x", "read", lambda c: c.v["r"] * c.p["cols"] + c.v["j"],
               lambda c: [c.v["r"] < c.p["rows"], c.v["j"] < c.p["cols"]], "x[r * cols + j]"),
        Access("out", "write", lambda c: c.v["r"], lambda c: [c.v["r"] < c.p["rows"]], "out[r]"),
    ),
)


def _row_j(c: Ctx) -> list[Any]:
    # blockIdx.x < rows (grid == rows) and the strided loop guard j < cols
    return [c.v["j"] < c.p["cols"]]


_ROWJ = lambda c: c.bx * c.p["cols"] + c.v["j"]

SOFTMAX = KernelContract(
    name="softmax",
    source="softmax.cu",
    functions=("nr_softmax_f32",),
    params=_RC,
    assume=_rc_assume,
    grid=lambda c: c.p["rows"],
    block=lambda c: SOFTMAX_BLOCK,
    buffers=lambda c: {"x": c.p["rows"] * c.p["cols"], "y": c.p["rows"] * c.p["cols"],
                       "buf (shared)": SOFTMAX_BLOCK},
    loops=(
        # for (j = tid; j < cols; j += blockDim.x)
        LoopVar("j", lambda c: [c.v["j"] >= c.tx]),
        # for (s = blockDim.x / 2; s > 0; s >>= 1): s only halves, so 1 <= s <= blockDim.x / 2
        LoopVar("s", lambda c: [c.v["s"] >= 1, c.v["s"] <= c.ops.div(c.block, 2)]),
    ),
    lemmas=(),
    accesses=(
        Access("x", "read", _ROWJ, _row_j, "x[row * cols + j]"),
        Access("y", "write", _ROWJ, _row_j, "y[row * cols + j]"),
        Access("buf (shared)", "write", lambda c: c.tx, lambda c: [], "buf[tid]"),
        Access("buf (shared)", "read", lambda c: c.tx + c.v["s"],
               lambda c: [c.tx < c.v["s"]], "buf[tid + s]"),
        Access("buf (shared)", "read", lambda c: 0, lambda c: [], "buf[0]"),
    ),
)

CONTRACTS: tuple[KernelContract, ...] = (ELEMENTWISE, GATHER, ROWSUM, SOFTMAX, UNARY)
