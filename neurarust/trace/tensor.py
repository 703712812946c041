"""``SymbolicTensor``: a tensor with a symbolic shape and no data, the value tracing runs on.

It subclasses :class:`~neurarust.Tensor` so that every Tensor method and every public function
(which all end in ``_dispatch.call``) accept it unchanged; it is not in the dispatcher's fast
types, so each op it meets takes the general path, where the active tracer records the op
instead of running a kernel. Reading data (``numpy()``, ``item()``, ``bool()`` of a tensor,
printing values) is an error naming what was asked: a traced model must not depend on values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, NoReturn

from ..device import CPU
from ..tensor import Tensor
from ..types.dim import Dim
from ..types.dtype import DType
from ..types.format import format_shape
from .dims import TracedDim, traced

if TYPE_CHECKING:
    import numpy as np

    from .tracer import Tracer

__all__ = ["SymbolicTensor"]


class SymbolicTensor(Tensor):
    """A graph value during tracing: ``name`` in the tracer's graph, a shape of Dims, a dtype.

    Create them through the tracer only (``nr.trace`` makes the inputs and parameters).
    """

    __slots__ = ("_sym_shape", "_shape", "_name", "_tracer")

    _sym_shape: tuple[Dim, ...]
    _shape: tuple[TracedDim | int, ...]
    _name: str
    _tracer: Tracer

    @classmethod
    def _make(cls, tracer: Tracer, name: str, shape: tuple[Dim, ...],
              dtype: DType) -> SymbolicTensor:
        t = object.__new__(cls)
        t._storage = None  # type: ignore[assignment]
        t._base = None
        t.dtype = dtype
        t.device = CPU
        t.requires_grad = False
        t.grad = None
        t.grad_fn = None
        t._accumulate = None
        t._retains_grad = False
        t._sym_shape = shape
        # constant dims are plain ints, so model code may do int arithmetic on them
        # (np.arange(size), split sizes); only named dims are TracedDims
        t._shape = tuple(d.as_int() if d.is_constant else traced(d) for d in shape)
        t._name = name
        t._tracer = tracer
        return t

    # -- metadata, from the symbolic shape ---------------------------------------------------
    @property
    def shape(self) -> tuple[Any, ...]:
        """The shape as :class:`TracedDim` s (``B``, ``(H - 3)//2 + 1``, or constants, which
        equal ints); comparing them decides from the trace's facts or raises TraceError."""
        return self._shape

    def size(self, dim: int | None = None) -> Any:
        if dim is None:
            return self._shape
        n = len(self._sym_shape)
        if not -max(n, 1) <= dim < max(n, 1):
            raise IndexError(f"size: dimension out of range (got {dim} for a {n}-d tensor)")
        return self._shape[dim % max(n, 1)]

    @property
    def ndim(self) -> int:
        return len(self._sym_shape)

    def dim(self) -> int:
        return len(self._sym_shape)

    def numel(self) -> Any:
        out = Dim.const(1)
        for d in self._sym_shape:
            out = out * d
        return out.as_int() if out.is_constant else traced(out)

    nelement = numel

    def is_contiguous(self) -> bool:
        return True

    def contiguous(self) -> Tensor:
        return self

    def detach(self) -> Tensor:
        # a traced value carries no gradient history: detaching changes nothing
        return self

    def __len__(self) -> int:
        if not self._sym_shape:
            raise TypeError("len() of a 0-d tensor")
        first = self._sym_shape[0]
        if not first.is_constant:
            self._no_values(f"len() (the first dim is the symbolic size {first})")
        return first.as_int()

    def __iter__(self) -> Iterator[Tensor]:
        n = len(self)
        return (self[i] for i in range(n))

    # -- values do not exist -----------------------------------------------------------------
    def _no_values(self, what: str) -> NoReturn:
        from .tracer import TraceError, user_frame

        raise TraceError(
            f"{what} needs the values of a traced tensor {format_shape(self._sym_shape, self.dtype)}"
            f", which tracing does not have\n  at {user_frame()}\n"
            "  hint: keep the model's Python control flow independent of tensor values"
        )

    def numpy(self, *, force: bool = False) -> np.ndarray:  # type: ignore[type-arg]
        self._no_values("numpy()")

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:  # type: ignore[type-arg]
        self._no_values("converting to a numpy array")

    def item(self) -> Any:
        self._no_values("item()")

    def tolist(self) -> Any:
        self._no_values("tolist()")

    def __bool__(self) -> bool:
        self._no_values("bool() of a tensor (an `if` on a tensor's value)")

    def __float__(self) -> float:
        self._no_values("float()")

    def __int__(self) -> int:
        self._no_values("int()")

    def __index__(self) -> int:
        self._no_values("using a tensor as an index")

    def data_ptr(self) -> int:
        self._no_values("data_ptr()")

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"SymbolicTensor({self._name}: {format_shape(self._sym_shape, self.dtype)})"
