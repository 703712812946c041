"""Shortcuts the function modules use to reach the dispatcher."""

from __future__ import annotations

from typing import Any

from .. import _dispatch  # the module: the runtime may be entered through _dispatch itself
from ..ops.registry import _REGISTRY, get
from ..tensor import Tensor

__all__ = ["apply", "inplace"]


def apply(name: str, *inputs: Any, **attrs: Any) -> Tensor:
    """Run registered op ``name`` through the dispatcher."""
    op = _REGISTRY.get(name)
    return _dispatch.call(op if op is not None else get(name), *inputs, **attrs)


def inplace(target: Tensor, name: str, *others: Any, **attrs: Any) -> Tensor:
    """Run registered op ``name`` in place on ``target`` (``target.name_(...)``)."""
    return _dispatch.call_inplace(get(name), target, *others, **attrs)
