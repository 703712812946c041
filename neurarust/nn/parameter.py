"""``Parameter`` and ``Buffer``: tensors that a :class:`~neurarust.nn.Module` registers when
they are assigned as attributes.

Both are :class:`~neurarust.Tensor` subclasses that *share* the data they are built from (no
copy), as in PyTorch. Ops never return them: any op on a Parameter returns a plain Tensor, so
a parameter is only ever a leaf. The dispatcher's fast path tests ``type(x) is Tensor``; a
Parameter input takes its general path (``isinstance``), which gives the same result.
"""

from __future__ import annotations

from typing import Any

from ..tensor import _FAST_TYPES, Tensor, _Storage
from ..types import dtype as _dt

__all__ = ["Parameter", "Buffer", "is_lazy"]


def _empty() -> Tensor:
    import numpy as np

    return Tensor._from_parts(np.empty((0,), _dt.get_default_dtype().np_dtype),
                              _dt.get_default_dtype(), _device_cpu(), _Storage())


def _device_cpu() -> Any:
    from ..device import CPU

    return CPU


class Parameter(Tensor):
    """A tensor that is a module parameter: assigning it to a Module attribute registers it
    in ``parameters()`` and ``state_dict()``, as ``torch.nn.Parameter``.

    Args:
        data: the initial values; shared with the parameter, not copied. Default: an empty
            tensor.
        requires_grad: whether the parameter receives a gradient. Default: True.

    Example:
        >>> w = nr.nn.Parameter(nr.zeros(2, 3))
        >>> w.requires_grad, w.shape
        (True, (2, 3))
    """

    __slots__ = ()

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:
        if data is None:
            data = _empty()
        if not isinstance(data, Tensor):
            raise TypeError(
                f"Parameter: data must be a Tensor, got {type(data).__name__}; "
                "hint: wrap it first, e.g. nn.Parameter(nr.tensor(values))"
            )
        if requires_grad and not data.dtype.is_floating_point:
            raise RuntimeError(
                f"Parameter: only floating point tensors can require gradients, got "
                f"{data.dtype.name}; pass requires_grad=False for an integer parameter"
            )
        p = cls._from_parts(data._data, data.dtype, data.device, data._storage)
        p.requires_grad = bool(requires_grad)
        return p  # type: ignore[return-value]

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        pass  # everything happens in __new__ (Tensor.__init__ refuses direct construction)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo: dict[int, Any]) -> Parameter:
        if id(self) in memo:
            return memo[id(self)]  # type: ignore[no-any-return]
        import copy

        result = Parameter(self.detach().clone(), self.requires_grad)
        memo[id(self)] = result
        if self.grad is not None:
            result.grad = copy.deepcopy(self.grad, memo)
        return result

    def __reduce_ex__(self, protocol: Any) -> Any:
        # Rebuilt from a plain tensor copy, never from the slots of a live graph.
        return (_rebuild_parameter, (self.detach(), self.requires_grad))


def _rebuild_parameter(data: Tensor, requires_grad: bool) -> Parameter:
    return Parameter(data, requires_grad)


class Buffer(Tensor):
    """Marks a tensor as a module buffer when assigned as an attribute, as
    ``torch.nn.Buffer``: ``self.running_mean = nn.Buffer(nr.zeros(3))`` is
    ``self.register_buffer("running_mean", nr.zeros(3))``.

    Args:
        data: the buffer's values; shared, not copied. Default: an empty tensor.
        persistent: whether the buffer is part of ``state_dict()``. Default: True.

    The module stores a plain Tensor sharing this buffer's data (so ops on buffers stay on
    the dispatcher's fast path).
    """

    __slots__ = ("persistent",)

    persistent: bool

    def __new__(cls, data: Tensor | None = None, *, persistent: bool = True) -> Buffer:
        if data is None:
            data = _empty()
        if not isinstance(data, Tensor):
            raise TypeError(f"Buffer: data must be a Tensor, got {type(data).__name__}")
        b = cls._from_parts(data._data, data.dtype, data.device, data._storage)
        assert isinstance(b, Buffer)
        b.requires_grad = data.requires_grad and data.grad_fn is None
        b.persistent = bool(persistent)
        return b

    def __init__(self, data: Tensor | None = None, *, persistent: bool = True) -> None:
        pass


def as_plain_tensor(t: Tensor) -> Tensor:
    """A plain :class:`Tensor` object for ``t``'s data, storage and leaf state."""
    if type(t) is Tensor:
        return t
    plain = Tensor._from_parts(t._data, t.dtype, t.device, t._storage)
    plain.requires_grad = t.requires_grad
    plain.grad = t.grad
    return plain


def is_lazy(param: Any) -> bool:
    """Always False: there are no lazy (shape-inferred) parameters (PyTorch API parity)."""
    return False


# Parameters and buffers are plain tensors to every kernel: let them take the dispatcher's
# fast path (a type check there, not isinstance, keeps small ops cheap).
_FAST_TYPES.update((Parameter, Buffer))
