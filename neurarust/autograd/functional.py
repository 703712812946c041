"""``backward`` and ``grad``: the entry points to the engine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from .engine import GraphItem, run_backward

if TYPE_CHECKING:
    from ..tensor import Tensor

__all__ = ["backward", "grad"]


def _roots(outputs: Sequence[Tensor], grad_outputs: Sequence[Tensor | None] | None,
           who: str) -> list[tuple[GraphItem, Tensor]]:
    from ..functions.creation import ones_like

    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"{who}: got {len(outputs)} outputs but {len(grad_outputs)} gradients")
    roots: list[tuple[GraphItem, Tensor]] = []
    for out, g in zip(outputs, grad_outputs):
        if not out.requires_grad:
            raise RuntimeError(
                f"{who}: element 0 of tensors does not require grad and does not have a "
                "grad_fn (was it computed under no_grad, or from tensors without "
                "requires_grad=True?)"
            )
        if g is None:
            if out.numel() != 1:
                raise RuntimeError(
                    f"{who}: grad can be implicitly created only for scalar outputs; got shape "
                    f"{list(out.shape)}. hint: pass gradient=nr.ones_like(out), or reduce first"
                )
            g = ones_like(out)
        elif g.shape != out.shape:
            raise RuntimeError(f"{who}: gradient has shape {list(g.shape)} but the output has "
                               f"shape {list(out.shape)}")
        item = out.grad_fn if out.grad_fn is not None else out._accumulator()
        roots.append((item, g))
    return roots


def backward(tensors: Sequence[Tensor], grad_tensors: Sequence[Tensor | None] | None = None,
             retain_graph: bool | None = None, create_graph: bool = False,
             inputs: Sequence[Tensor] | None = None) -> None:
    """Accumulate gradients of ``tensors`` into the ``.grad`` of the leaves they depend on
    (only of ``inputs`` when given)."""
    if retain_graph is None:
        retain_graph = create_graph
    roots = _roots(list(tensors), grad_tensors, "backward")
    if inputs is not None:
        grads = grad(list(tensors), list(inputs), grad_tensors, retain_graph=retain_graph,
                     create_graph=create_graph, allow_unused=True)
        for t, g in zip(inputs, grads):
            if g is not None:
                t._accumulator().accumulate(g, create_graph)
        return
    run_backward(roots, retain_graph=retain_graph, create_graph=create_graph)


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Sequence[Tensor | None] | None = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple[Tensor | None, ...]:
    """The gradients of ``outputs`` with respect to ``inputs``, without touching ``.grad``.

    With ``create_graph=True`` the results carry history, so they can be differentiated again.
    """
    from ..tensor import Tensor

    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is not None and isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    if retain_graph is None:
        retain_graph = create_graph
    capture: dict[GraphItem, int] = {}
    for i, t in enumerate(ins):
        if not t.requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad")
        item = t.grad_fn if t.grad_fn is not None else t._accumulator()
        capture.setdefault(item, i)
    slots = {item: i for i, item in enumerate(dict.fromkeys(capture))}
    result = run_backward(_roots(outs, grad_outputs, "grad"), retain_graph=retain_graph,
                          create_graph=create_graph, capture=slots)
    grads = []
    for i, t in enumerate(ins):
        item = t.grad_fn if t.grad_fn is not None else t._accumulator()
        g = result[slots[item]]
        if g is None and not allow_unused:
            raise RuntimeError(
                f"grad: input {i} was not used in the graph of the outputs; set allow_unused=True "
                "if this is intended"
            )
        if g is not None and not create_graph:
            g = g.detach()
        grads.append(g)
    return tuple(grads)
