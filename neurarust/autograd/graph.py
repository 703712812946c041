"""Graph nodes recorded by ops: one :class:`Node` per differentiable op application.

A node keeps what its op's ``backward`` needs (the saved inputs and output, with their
storage versions at save time), the attributes the op was called with, and one edge per
input: the input's own node, the :class:`AccumulateGrad` of a leaf, or None.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional, Union

import numpy as np

from ..ops.registry import InputMeta
from ..types.dtype import DType
from . import anomaly as _anomaly
from . import grad_mode

if TYPE_CHECKING:
    from ..ops.registry import OpDef
    from ..tensor import Tensor

__all__ = ["Node", "AccumulateGrad", "Edge", "GradHook", "InputMeta"]

GradHook = Callable[["Tensor"], Optional["Tensor"]]
Edge = Union["Node", "AccumulateGrad", None]

_FREED = (
    "Trying to backward through the graph a second time (or to use saved tensors after they "
    "were freed): {op}'s saved values were released by the first backward. "
    "Specify retain_graph=True on the first backward if you need to backward twice."
)
_MODIFIED = (
    "one of the tensors needed for gradient computation has been modified by an inplace "
    "operation: {what} of {op} was saved at version {saved} and is now at version {now}. "
    "hint: replace the in-place op (x += y, x.add_(y), x[i] = v) by its out-of-place form."
)


class AccumulateGrad:
    """The sink for a leaf tensor: adds the incoming gradient to ``leaf.grad``."""

    __slots__ = ("leaf", "pre_hooks", "__weakref__")

    def __init__(self, leaf: Tensor) -> None:
        self.leaf = leaf
        self.pre_hooks: list[GradHook] = []

    @property
    def name(self) -> str:
        return "AccumulateGrad"

    def accumulate(self, grad: Tensor, create_graph: bool) -> None:
        leaf = self.leaf
        if grad.dtype is not leaf.dtype:
            grad = grad.to(leaf.dtype)
        if leaf.grad is None:
            if create_graph:
                leaf.grad = grad
            else:
                data = grad._data
                c_leaf = leaf._data.flags.c_contiguous
                if (not data.flags.owndata or not data.flags.writeable
                        or (c_leaf and not data.flags.c_contiguous)):
                    # Never alias a buffer someone else owns; and lay a C-contiguous leaf's
                    # gradient out as the leaf (``linear``'s weight gradient arrives
                    # transposed), as PyTorch's layout contract does: an optimizer's
                    # elementwise update over mixed layouts runs ~3x slower.
                    data = np.array(data, copy=True, order="C" if c_leaf else "K") \
                        if isinstance(data, np.ndarray) else data.copy()  # a device array
                leaf.grad = grad._wrap_like(data)
        elif create_graph:
            leaf.grad = leaf.grad + grad
        else:
            with grad_mode.no_grad():
                leaf.grad._data += grad._data

    def __repr__(self) -> str:
        return "<AccumulateGrad>"


class _SavedOutput:
    """An op's output, saved without a reference to the output Tensor (which would make a
    cycle through ``grad_fn``); rebuilt as a Tensor attached to its node at backward time."""

    __slots__ = ("data", "dtype", "device", "storage", "version")

    def __init__(self, out: Tensor) -> None:
        self.data = out._data
        self.dtype = out.dtype
        self.device = out.device
        self.storage = out._storage
        self.version = out._storage.version


class Node:
    """One recorded op application: what ``backward`` of that op needs, and the edges out."""

    __slots__ = (
        "op",
        "attrs",
        "saved",
        "saved_versions",
        "saved_out",
        "input_meta",
        "next",
        "pre_hooks",
        "released",
        "__weakref__",
    )

    def __init__(
        self,
        op: OpDef,
        attrs: dict[str, Any],
        inputs: tuple[Any, ...],
        input_meta: tuple[InputMeta | None, ...],
        edges: tuple[Edge, ...],
    ) -> None:
        self.op = op
        self.attrs = attrs
        self.input_meta = input_meta
        self.next = edges
        self.pre_hooks: list[GradHook] = []
        self.released = False
        self.saved_out: _SavedOutput | None = None
        if op.save_inputs:
            keep = op.saves_for(tuple(e is not None for e in edges))
            # Unsaved inputs are passed to backward as their InputMeta (shape and dtype only).
            self.saved: tuple[Any, ...] | None = tuple(
                x if k else meta for x, k, meta in zip(inputs, keep, input_meta)
            )
            # Every saved tensor is checked, grad or not: mul's gradient for a uses b's values.
            self.saved_versions: tuple[int, ...] = tuple(
                x._storage.version if k and meta is not None else -1
                for x, k, meta in zip(inputs, keep, input_meta)
            )
        else:
            self.saved = None
            self.saved_versions = ()

    @property
    def name(self) -> str:
        return f"{self.op.name.capitalize()}Backward"

    def save_output(self, out: Tensor) -> None:
        self.saved_out = _SavedOutput(out)

    def _unpack_inputs(self) -> tuple[Any, ...]:
        if self.saved is None:
            return self.input_meta
        for x, version in zip(self.saved, self.saved_versions):
            if version >= 0 and x._storage.version != version:
                raise RuntimeError(
                    _MODIFIED.format(
                        what="an input", op=self.op.name, saved=version, now=x._storage.version
                    )
                )
        return self.saved

    def _unpack_output(self) -> Tensor | None:
        saved = self.saved_out
        if saved is None:
            return None
        if saved.storage.version != saved.version:
            raise RuntimeError(
                _MODIFIED.format(
                    what="the output", op=self.op.name, saved=saved.version,
                    now=saved.storage.version,
                )
            )
        from ..tensor import Tensor

        out = Tensor._from_parts(saved.data, saved.dtype, saved.device, saved.storage)
        out.requires_grad = True
        out.grad_fn = self
        return out

    def apply(self, grad: Tensor, retain_graph: bool, create_graph: bool) -> tuple[Any, ...]:
        """The gradients for each input, summed back to the input's shape and dtype."""
        if self.released:
            raise RuntimeError(_FREED.format(op=self.op.name))
        inputs = self._unpack_inputs()
        out = self._unpack_output() if self.op.save_output else None
        with grad_mode.set_grad_enabled(create_graph):
            grads = self.op.backward(grad, *inputs, out=out, **self.attrs)
            if len(grads) != len(self.input_meta):
                raise RuntimeError(
                    f"{self.op.name}.backward returned {len(grads)} gradients for "
                    f"{len(self.input_meta)} inputs"
                )
            result = tuple(
                _fit(g, meta) if g is not None and edge is not None else None
                for g, meta, edge in zip(grads, self.input_meta, self.next)
            )
        if _anomaly.state.enabled:
            _anomaly.check_backward(self, grad, result)
        if not retain_graph:
            self.release()
        return result

    def release(self) -> None:
        """Drop saved values (called after backward unless retain_graph)."""
        self.saved = None
        self.saved_out = None
        self.released = True

    def __repr__(self) -> str:
        return f"<{self.name}>"


def _fit(grad: Tensor, meta: InputMeta | None) -> Tensor:
    """Sum a gradient back over broadcast dims to the input's shape, in the input's dtype."""
    assert meta is not None  # inputs with an edge are tensors
    shape, dtype = meta.shape, meta.dtype
    if grad.shape != shape:
        grad = grad.sum_to_size(shape)
    if grad.dtype is not dtype:
        grad = grad.to(dtype)
    return grad
