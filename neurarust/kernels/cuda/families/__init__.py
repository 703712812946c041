"""Kernel families: each module pairs one ``.cu`` source's index contract(s) with the host
code that launches it, and exposes

* ``CONTRACTS``: its :class:`~..contract.KernelContract` s (proven by ``neurarust verify
  --kernels``; the launch path computes grid/block with the same contract);
* ``NATIVE``: op name -> native kernel (raising :class:`.common.Unsupported` for arguments
  it does not cover, so the counted host fallback runs);
* optionally ``NATIVE_FROM_CPU``: op name -> factory taking the op's CPU kernel.

A new family is one module here plus its entry in :data:`FAMILIES`.
"""

from __future__ import annotations

from types import ModuleType

from . import elementwise, gather, gemm, reduce, softmax, unary

__all__ = ["FAMILIES"]

FAMILIES: tuple[ModuleType, ...] = (elementwise, gather, gemm, reduce, softmax, unary)
