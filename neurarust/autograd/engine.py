"""The backward pass: walks recorded nodes in reverse topological order, iteratively.

No recursion anywhere, so a chain of 10,000 ops backpropagates without touching Python's
recursion limit. Each node runs once, after every node that feeds it a gradient has run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from .graph import AccumulateGrad, Edge, Node

if TYPE_CHECKING:
    from ..tensor import Tensor

__all__ = ["run_backward"]

GraphItem = Node | AccumulateGrad


def _count_dependencies(roots: Sequence[GraphItem]) -> dict[GraphItem, int]:
    """For every item reachable from the roots, how many edges point at it."""
    deps: dict[GraphItem, int] = {}
    seen: set[int] = set()
    stack = list(roots)
    for r in roots:
        seen.add(id(r))
    while stack:
        item = stack.pop()
        if isinstance(item, AccumulateGrad):
            continue
        for edge in item.next:
            if edge is None:
                continue
            deps[edge] = deps.get(edge, 0) + 1
            if id(edge) not in seen:
                seen.add(id(edge))
                stack.append(edge)
    return deps


def _run_hooks(hooks: list, grad: Tensor) -> Tensor:  # type: ignore[type-arg]
    for hook in hooks:
        result = hook(grad)
        if result is not None:
            grad = result
    return grad


def run_backward(
    roots: Sequence[tuple[GraphItem, Tensor]],
    *,
    retain_graph: bool,
    create_graph: bool,
    capture: dict[GraphItem, int] | None = None,
) -> list[Tensor | None]:
    """Propagate gradients from ``roots`` (item, gradient) pairs through the graph.

    Without ``capture``, leaves accumulate into ``.grad``. With ``capture`` (item -> slot), the
    gradient arriving at each captured item is returned in its slot instead, and no ``.grad``
    is touched (``autograd.grad``).
    """
    deps = _count_dependencies([item for item, _ in roots])
    buffers: dict[GraphItem, Tensor] = {}
    for root, root_grad in roots:
        buffers[root] = buffers[root] + root_grad if root in buffers else root_grad
    ready: list[GraphItem] = [item for item, _ in roots if deps.get(item, 0) == 0]
    ready = list(dict.fromkeys(ready))  # a root given twice runs once
    captured: list[Tensor | None] = [None] * (len(set(capture.values())) if capture else 0)

    while ready:
        item = ready.pop()
        grad = buffers.pop(item, None)
        if grad is not None:
            grad = _run_hooks(item.pre_hooks, grad)
            if capture is not None and item in capture:
                captured[capture[item]] = grad
        if isinstance(item, AccumulateGrad):
            if grad is not None and capture is None:
                item.accumulate(grad, create_graph)
            continue
        if grad is not None:
            input_grads = item.apply(grad, retain_graph, create_graph)
        else:
            input_grads = (None,) * len(item.next)
        _send(item.next, input_grads, buffers, deps, ready)
    return captured


def _send(
    edges: tuple[Edge, ...],
    grads: tuple[Tensor | None, ...],
    buffers: dict[GraphItem, Tensor],
    deps: dict[GraphItem, int],
    ready: list[GraphItem],
) -> None:
    for edge, g in zip(edges, grads):
        if edge is None:
            continue
        if g is not None:
            prev = buffers.get(edge)
            buffers[edge] = g if prev is None else prev + g
        deps[edge] -= 1
        if deps[edge] == 0:
            ready.append(edge)
