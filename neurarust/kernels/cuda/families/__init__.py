"""Kernel families: each module pairs one ``.cu`` source's index contract(s) with the host
code that launches it, and exposes

* ``CONTRACTS``: its :class:`~..contract.KernelContract` s (proven by ``neurarust verify
  --kernels``; the launch path computes grid/block with the same contract);
* ``NATIVE``: op name -> native kernel (raising :class:`.common.Unsupported` for arguments
  it does not cover, so the counted host fallback runs);
* optionally ``NATIVE_FROM_CPU``: op name -> factory taking the op's CPU kernel.

A new family is one module here: :data:`FAMILIES` lists every module of this package except
:mod:`.common` (sorted by name, so the order of contracts and kernels is stable).
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

__all__ = ["FAMILIES"]


def _discover() -> tuple[ModuleType, ...]:
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "common")
    return tuple(importlib.import_module(f"{__name__}.{name}") for name in names)


FAMILIES: tuple[ModuleType, ...] = _discover()
