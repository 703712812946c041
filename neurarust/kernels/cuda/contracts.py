"""Every CUDA kernel's index contract, collected from the kernel families.

The contracts themselves are declared next to the host code that launches each kernel
(:mod:`.families`), in the language of :mod:`.contract`; this module is the list
``neurarust verify --kernels`` proves. It never imports z3 or pycuda.
"""

from __future__ import annotations

from .contract import INT32_MAX, Access, Ctx, Expr, KernelContract, Lemma, LoopVar, Param
from .families import FAMILIES
from .families.elementwise import ELEMENTWISE
from .families.gather import GATHER
from .families.reduce import ROWSUM
from .families.softmax import SOFTMAX
from .families.unary import UNARY, UNARY_OPS

__all__ = ["CONTRACTS", "ELEMENTWISE", "GATHER", "INT32_MAX", "ROWSUM", "SOFTMAX", "UNARY",
           "UNARY_OPS", "Access", "Ctx", "Expr", "KernelContract", "Lemma", "LoopVar", "Param"]

CONTRACTS: tuple[KernelContract, ...] = tuple(
    c for family in FAMILIES for c in family.CONTRACTS)
