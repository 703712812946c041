"""``Tensor``: a strided view of a backend buffer, with autograd state.

On the CPU backend the data is a numpy array that *is* the strided view: ``shape``,
``stride()`` and ``storage_offset()`` are read from it, and view ops return numpy views of
the same buffer, so views share storage at zero cost. A :class:`_Storage` object, shared by a
tensor and all its views, carries the version counter that in-place ops bump and autograd
checks.

Every math method goes through the op registry (``neurarust.functions`` -> ``_dispatch.call``),
so shapes and dtypes are checked by the op's one declared rule before any kernel runs.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence, Union

import numpy as np

from .autograd import grad_mode
from .autograd.graph import AccumulateGrad, GradHook, Node
from .device import CPU, Device
from .device import device as to_device
from .types import dtype as _dt
from .types.dtype import DType, from_numpy_dtype

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["Tensor"]

HOST_NUMPY_ENV = "NEURARUST_TEST_HOST_NUMPY"
"""Test harness only: when set, ``numpy()`` and ``np.asarray`` of a device tensor return a
host copy instead of raising (see :meth:`Tensor._host_copy`)."""

_int = int
_float = float
_bool = bool
Scalar = Union[int, float, bool]
TensorOrScalar = Union["Tensor", int, float, bool]
ShapeArg = Union[int, Sequence[int]]


class _Storage:
    """Shared by a tensor and its views: the version counter for in-place checks."""

    __slots__ = ("version",)

    def __init__(self) -> None:
        self.version = 0


def _shape_args(size: tuple[Any, ...]) -> tuple[int, ...]:
    """Accept ``f(2, 3)`` and ``f((2, 3))`` as PyTorch does."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        return tuple(size[0])
    return tuple(size)


class Tensor:
    """A multi-dimensional array with autograd, as ``torch.Tensor``.

    Create tensors with :func:`neurarust.tensor`, :func:`neurarust.zeros`, ... or
    :func:`neurarust.from_numpy` (zero-copy); the constructor itself is internal.
    """

    __slots__ = (
        "_data",
        "_storage",
        "_base",
        "dtype",
        "device",
        "requires_grad",
        "grad",
        "grad_fn",
        "_accumulate",
        "_retains_grad",
        "__weakref__",
    )
    __array_priority__ = 1000  # numpy defers `ndarray + tensor` to Tensor.__radd__

    _data: np.ndarray  # type: ignore[type-arg]
    _storage: _Storage
    _base: Tensor | None
    _accumulate: AccumulateGrad | None
    _retains_grad: _bool
    dtype: DType
    device: Device
    requires_grad: _bool
    grad: Tensor | None
    grad_fn: Node | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            "use nr.tensor(data), nr.zeros(...), nr.from_numpy(array) ... to create tensors"
        )

    @classmethod
    def _from_parts(
        cls,
        data: np.ndarray,  # type: ignore[type-arg]
        dtype: DType,
        device: Device,
        storage: _Storage,
    ) -> Tensor:
        t = object.__new__(cls)
        t._data = data
        t._storage = storage
        t._base = None
        t.dtype = dtype
        t.device = device
        t.requires_grad = False
        t.grad = None
        t.grad_fn = None
        t._accumulate = None
        t._retains_grad = False
        return t

    @classmethod
    def _from_numpy(cls, data: np.ndarray, device: Device = CPU) -> Tensor:  # type: ignore[type-arg]
        return cls._from_parts(data, from_numpy_dtype(data.dtype), device, _Storage())

    def _wrap_like(self, data: np.ndarray) -> Tensor:  # type: ignore[type-arg]
        """A new tensor (new storage, no history) on this tensor's device."""
        return Tensor._from_parts(data, from_numpy_dtype(data.dtype), self.device, _Storage())

    def _alias(self) -> Tensor:
        """Another Tensor object for the same data, storage and history (for in-place ops)."""
        t = Tensor._from_parts(self._data, self.dtype, self.device, self._storage)
        t._base = self._base
        t.requires_grad = self.requires_grad
        t.grad_fn = self.grad_fn
        t._accumulate = self._accumulate
        return t

    def _accumulator(self) -> AccumulateGrad:
        acc = self._accumulate
        if acc is None:
            acc = self._accumulate = AccumulateGrad(self)
        return acc

    # -- metadata ---------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[_int, ...]:
        return self._data.shape

    def size(self, dim: _int | None = None) -> Any:
        """The shape, or the size of one dim (negative dims count from the end)."""
        if dim is None:
            return self._data.shape
        return int(self._data.shape[_check_dim(dim, self._data.ndim, "size")])

    @property
    def ndim(self) -> _int:
        return self._data.ndim

    def dim(self) -> _int:
        return self._data.ndim

    def numel(self) -> _int:
        return int(self._data.size)

    nelement = numel

    def element_size(self) -> _int:
        return self.dtype.itemsize

    def stride(self, dim: _int | None = None) -> Any:
        """Strides in elements (not bytes), as PyTorch reports them."""
        item = self._data.itemsize
        strides = tuple(s // item for s in self._data.strides)
        return strides if dim is None else strides[_check_dim(dim, self.ndim, "stride")]

    def storage_offset(self) -> _int:
        """Offset in elements of this view's first element into its base buffer (0 on a
        device: device arrays start at their buffer)."""
        base = self._data
        if not isinstance(base, np.ndarray):
            return 0
        while isinstance(base.base, np.ndarray):
            base = base.base
        delta = self._data.__array_interface__["data"][0] - base.__array_interface__["data"][0]
        return int(delta // self._data.itemsize)

    def data_ptr(self) -> _int:
        """The address of the first element (a device address for a device tensor)."""
        if not isinstance(self._data, np.ndarray):
            return int(self._data.buffer.ptr)
        return int(self._data.__array_interface__["data"][0])

    def is_contiguous(self) -> _bool:
        return bool(self._data.flags.c_contiguous)

    def is_floating_point(self) -> _bool:
        return self.dtype.is_floating_point

    @property
    def is_leaf(self) -> _bool:
        return self.grad_fn is None

    @property
    def _version(self) -> _int:
        return self._storage.version

    @property
    def data(self) -> Tensor:
        """This tensor's values without history (shares storage), as ``torch.Tensor.data``."""
        return self.detach()

    @data.setter
    def data(self, value: Tensor) -> None:
        if value.shape != self.shape:
            raise ValueError(
                f"data: new value has shape {list(value.shape)}, tensor has {list(self.shape)}"
            )
        self._data = value._data
        self.dtype = value.dtype
        self.device = value.device
        self._storage = value._storage

    # -- autograd ---------------------------------------------------------------------------
    def requires_grad_(self, requires_grad: _bool = True) -> Self:
        if requires_grad and not self.dtype.is_floating_point:
            raise RuntimeError(
                f"only floating point tensors can require gradients, got {self.dtype.name}"
            )
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError(
                "requires_grad_(False) on a non-leaf tensor; use .detach() to cut it from the graph"
            )
        self.requires_grad = requires_grad
        return self

    def detach(self) -> Tensor:
        """The same data (shared storage) with no history and requires_grad=False."""
        return Tensor._from_parts(self._data, self.dtype, self.device, self._storage)

    def detach_(self) -> Self:
        self.grad_fn = None
        self.requires_grad = False
        return self

    def backward(
        self,
        gradient: Tensor | None = None,
        retain_graph: _bool | None = None,
        create_graph: _bool = False,
        inputs: Sequence[Tensor] | None = None,
    ) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``, as ``torch.Tensor.backward``."""
        from .autograd.functional import backward

        backward([self], None if gradient is None else [gradient], retain_graph, create_graph,
                 inputs)

    def register_hook(self, hook: GradHook) -> Callable[[], None]:
        """Call ``hook(grad)`` when this tensor's gradient is computed; it may return a
        replacement. Returns a function that removes the hook."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that "
                               "doesn't require grad")
        hooks = self.grad_fn.pre_hooks if self.grad_fn is not None else self._accumulator().pre_hooks
        hooks.append(hook)
        return lambda: hooks.remove(hook) if hook in hooks else None

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward."""
        if self.grad_fn is None or self._retains_grad:
            return
        self._retains_grad = True
        import weakref

        ref = weakref.ref(self)

        def keep(grad: Tensor) -> None:
            t = ref()
            if t is not None:
                t.grad = grad.detach() if t.grad is None else t.grad + grad.detach()

        self.grad_fn.pre_hooks.append(keep)

    @property
    def retains_grad(self) -> _bool:
        return self._retains_grad

    # -- interop ----------------------------------------------------------------------------
    def numpy(self, *, force: _bool = False) -> np.ndarray:  # type: ignore[type-arg]
        """The data as a numpy array sharing memory (as ``torch.Tensor.numpy``)."""
        if self.requires_grad and not force:
            raise RuntimeError(
                "numpy: can't call numpy() on a tensor that requires grad; use "
                "tensor.detach().numpy()"
            )
        if self.device.backend != "cpu":
            return self._host_copy("numpy")
        return self._data

    def _host_copy(self, what: str) -> np.ndarray:  # type: ignore[type-arg]
        """A device tensor's data as a new host array, only when the test suite runs on a
        device (``NEURARUST_TEST_HOST_NUMPY=1``, set by tests/conftest.py under
        ``NEURARUST_DEVICE=cuda``, so that tests comparing with numpy run unchanged) and the
        caller is not neurarust itself; else the TypeError PyTorch gives. The copy shares no
        memory with the tensor."""
        caller = sys._getframe(2).f_globals.get("__name__", "")
        if os.environ.get(HOST_NUMPY_ENV, "") in ("", "0") or caller.startswith("neurarust."):
            # the framework itself must not convert device data implicitly, even in tests
            raise TypeError(f"{what}: can't convert a {self.device} tensor to numpy; use "
                            "tensor.cpu() to copy it to host memory first")
        device_data: Any = self._data  # a DeviceArray (the annotation names the CPU case)
        return np.asarray(device_data.get())

    def __array__(self, dtype: Any = None, copy: _bool | None = None) -> np.ndarray:  # type: ignore[type-arg]
        data = self._data if self.device.backend == "cpu" else self._host_copy("__array__")
        if dtype is not None and np.dtype(dtype) != data.dtype:
            return data.astype(dtype)
        return np.array(data, copy=True) if copy else data

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        return self._data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self) -> tuple[_int, _int]:
        return self._data.__dlpack_device__()  # type: ignore[no-any-return]

    def item(self) -> Scalar:
        if self._data.size != 1:
            raise RuntimeError(
                f"item: a Tensor with {self._data.size} elements cannot be converted to a Scalar"
            )
        return self._data.reshape(()).item()  # type: ignore[no-any-return]

    def tolist(self) -> Any:
        return self._data.tolist()

    def __len__(self) -> _int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return int(self._data.shape[0])

    def __iter__(self) -> Iterator[Tensor]:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __bool__(self) -> _bool:
        if self._data.size != 1:
            raise RuntimeError(
                f"Boolean value of a Tensor with {self._data.size} elements is ambiguous"
            )
        return bool(self._data.reshape(()))

    def __float__(self) -> _float:
        return float(self.item())

    def __int__(self) -> _int:
        return int(self.item())

    def __index__(self) -> _int:
        if self.dtype.is_floating_point or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    __hash__ = object.__hash__  # __eq__ is elementwise, so hash by identity

    def __repr__(self) -> str:
        body = np.array2string(self._data, separator=", ", precision=4, prefix="tensor(")
        extras = [] if self.device.backend == "cpu" else [f"device='{self.device}'"]
        if self.dtype is not _dt.get_default_dtype() and self.dtype is not _dt.int64 and \
                self.dtype is not _dt.bool_:
            extras.append(f"dtype={self.dtype!r}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    # -- dtype and device -------------------------------------------------------------------
    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)``; ``copy=``."""
        dtype: DType | None = kwargs.pop("dtype", None)
        dev: Any = kwargs.pop("device", None)
        copy = bool(kwargs.pop("copy", False))
        if kwargs:
            raise TypeError(f"to: unexpected arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, DType):
                dtype = a
            elif isinstance(a, Tensor):
                dtype, dev = a.dtype, a.device
            else:
                dev = a
        target = self.device if dev is None else to_device(dev)
        if target != self.device:
            from .kernels.cuda.backend import move  # cpu <-> cuda; raises for anything else

            moved: Tensor = move(self, target)
            return moved if dtype is None or dtype is moved.dtype else _F.cast(moved, dtype=dtype)
        if dtype is not None and dtype is not self.dtype:
            return _F.cast(self, dtype=dtype)
        return self.clone() if copy else self

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    def float(self) -> Tensor:
        return self.to(_dt.float32)

    def double(self) -> Tensor:
        return self.to(_dt.float64)

    def half(self) -> Tensor:
        return self.to(_dt.float16)

    def int(self) -> Tensor:
        return self.to(_dt.int32)

    def long(self) -> Tensor:
        return self.to(_dt.int64)

    def bool(self) -> Tensor:
        return self.to(_dt.bool_)

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self, device: _int | None = None) -> Tensor:
        """A copy on the CUDA device (``cuda:0`` unless ``device`` is given), as in PyTorch."""
        return self.to("cuda" if device is None else f"cuda:{device}")

    @property
    def is_cuda(self) -> _bool:
        return self.device.type == "cuda"

    def clone(self) -> Tensor:
        return _F.clone(self)

    def new_zeros(self, *size: Any, dtype: DType | None = None) -> Tensor:
        """Zeros of ``size`` on this tensor's device, in its dtype unless ``dtype`` is given
        (a constant: backward rules use it for zero gradients)."""
        return _F.zeros(*size, dtype=self.dtype if dtype is None else dtype, device=self.device)

    def new_ones(self, *size: Any, dtype: DType | None = None) -> Tensor:
        """Ones of ``size`` on this tensor's device, in its dtype unless ``dtype`` is given."""
        return _F.ones(*size, dtype=self.dtype if dtype is None else dtype, device=self.device)

    def _apply(self, op: str, *others: Any, **attrs: Any) -> Tensor:
        """Registered op ``op`` on ``(self, *others)``: how backward rules reach ops that have
        no public method (``ops`` never imports the dispatcher)."""
        return _F.apply(op, self, *others, **attrs)

    def contiguous(self) -> Tensor:
        return self if self._data.flags.c_contiguous else _F.clone(self)

    # -- arithmetic operators ---------------------------------------------------------------
    def __add__(self, other: TensorOrScalar) -> Tensor:
        return _F.add(self, other)

    def __radd__(self, other: TensorOrScalar) -> Tensor:
        return _F.add(other, self)

    def __iadd__(self, other: TensorOrScalar) -> Self:
        return self.add_(other)

    def __sub__(self, other: TensorOrScalar) -> Tensor:
        return _F.sub(self, other)

    def __rsub__(self, other: TensorOrScalar) -> Tensor:
        return _F.sub(other, self)

    def __isub__(self, other: TensorOrScalar) -> Self:
        return self.sub_(other)

    def __mul__(self, other: TensorOrScalar) -> Tensor:
        return _F.mul(self, other)

    def __rmul__(self, other: TensorOrScalar) -> Tensor:
        return _F.mul(other, self)

    def __imul__(self, other: TensorOrScalar) -> Self:
        return self.mul_(other)

    def __truediv__(self, other: TensorOrScalar) -> Tensor:
        return _F.div(self, other)

    def __rtruediv__(self, other: TensorOrScalar) -> Tensor:
        return _F.div(other, self)

    def __itruediv__(self, other: TensorOrScalar) -> Self:
        return self.div_(other)

    def __floordiv__(self, other: TensorOrScalar) -> Tensor:
        return _F.floor_divide(self, other)

    def __rfloordiv__(self, other: TensorOrScalar) -> Tensor:
        return _F.floor_divide(other, self)

    def __mod__(self, other: TensorOrScalar) -> Tensor:
        return _F.remainder(self, other)

    def __rmod__(self, other: TensorOrScalar) -> Tensor:
        return _F.remainder(other, self)

    def __pow__(self, other: TensorOrScalar) -> Tensor:
        return _F.pow(self, other)

    def __rpow__(self, other: TensorOrScalar) -> Tensor:
        return _F.pow(other, self)

    def __ipow__(self, other: TensorOrScalar) -> Self:
        return self.pow_(other)

    def __matmul__(self, other: Tensor) -> Tensor:
        return _F.matmul(self, other)

    def __rmatmul__(self, other: Tensor) -> Tensor:
        return _F.matmul(other, self)

    def __neg__(self) -> Tensor:
        return _F.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _F.abs(self)

    def __invert__(self) -> Tensor:
        return _F.logical_not(self) if self.dtype is _dt.bool_ else _F.bitwise_not(self)

    def __and__(self, other: TensorOrScalar) -> Tensor:
        return _F.bitwise_and(self, other)

    def __rand__(self, other: TensorOrScalar) -> Tensor:
        return _F.bitwise_and(other, self)

    def __or__(self, other: TensorOrScalar) -> Tensor:
        return _F.bitwise_or(self, other)

    def __ror__(self, other: TensorOrScalar) -> Tensor:
        return _F.bitwise_or(other, self)

    def __xor__(self, other: TensorOrScalar) -> Tensor:
        return _F.bitwise_xor(self, other)

    def __rxor__(self, other: TensorOrScalar) -> Tensor:
        return _F.bitwise_xor(other, self)

    def __eq__(self, other: object) -> Tensor:  # type: ignore[override]
        return _F.eq(self, other)  # type: ignore[arg-type]

    def __ne__(self, other: object) -> Tensor:  # type: ignore[override]
        return _F.ne(self, other)  # type: ignore[arg-type]

    def __lt__(self, other: TensorOrScalar) -> Tensor:
        return _F.lt(self, other)

    def __le__(self, other: TensorOrScalar) -> Tensor:
        return _F.le(self, other)

    def __gt__(self, other: TensorOrScalar) -> Tensor:
        return _F.gt(self, other)

    def __ge__(self, other: TensorOrScalar) -> Tensor:
        return _F.ge(self, other)

    # -- named math methods -----------------------------------------------------------------
    def add(self, other: TensorOrScalar, *, alpha: Scalar = 1) -> Tensor:
        return _F.add(self, other, alpha=alpha)

    def sub(self, other: TensorOrScalar, *, alpha: Scalar = 1) -> Tensor:
        return _F.sub(self, other, alpha=alpha)

    def mul(self, other: TensorOrScalar) -> Tensor:
        return _F.mul(self, other)

    def div(self, other: TensorOrScalar, *, rounding_mode: str | None = None) -> Tensor:
        return _F.div(self, other, rounding_mode=rounding_mode)

    def pow(self, exponent: TensorOrScalar) -> Tensor:
        return _F.pow(self, exponent)

    def neg(self) -> Tensor:
        return _F.neg(self)

    def abs(self) -> Tensor:
        return _F.abs(self)

    def sign(self) -> Tensor:
        return _F.sign(self)

    def exp(self) -> Tensor:
        return _F.exp(self)

    def log(self) -> Tensor:
        return _F.log(self)

    def log1p(self) -> Tensor:
        return _F.log1p(self)

    def expm1(self) -> Tensor:
        return _F.expm1(self)

    def sqrt(self) -> Tensor:
        return _F.sqrt(self)

    def rsqrt(self) -> Tensor:
        return _F.rsqrt(self)

    def square(self) -> Tensor:
        return _F.square(self)

    def reciprocal(self) -> Tensor:
        return _F.reciprocal(self)

    def sin(self) -> Tensor:
        return _F.sin(self)

    def cos(self) -> Tensor:
        return _F.cos(self)

    def tanh(self) -> Tensor:
        return _F.tanh(self)

    def sigmoid(self) -> Tensor:
        return _F.sigmoid(self)

    def relu(self) -> Tensor:
        return _F.relu(self)

    def floor(self) -> Tensor:
        return _F.floor(self)

    def ceil(self) -> Tensor:
        return _F.ceil(self)

    def round(self) -> Tensor:
        return _F.round(self)

    def clamp(self, min: TensorOrScalar | None = None, max: TensorOrScalar | None = None) -> Tensor:
        return _F.clamp(self, min, max)

    clip = clamp

    def maximum(self, other: Tensor) -> Tensor:
        return _F.maximum(self, other)

    def minimum(self, other: Tensor) -> Tensor:
        return _F.minimum(self, other)

    def where(self, condition: Tensor, other: TensorOrScalar) -> Tensor:
        return _F.where(condition, self, other)

    def eq(self, other: TensorOrScalar) -> Tensor:
        return _F.eq(self, other)

    def ne(self, other: TensorOrScalar) -> Tensor:
        return _F.ne(self, other)

    def lt(self, other: TensorOrScalar) -> Tensor:
        return _F.lt(self, other)

    def le(self, other: TensorOrScalar) -> Tensor:
        return _F.le(self, other)

    def gt(self, other: TensorOrScalar) -> Tensor:
        return _F.gt(self, other)

    def ge(self, other: TensorOrScalar) -> Tensor:
        return _F.ge(self, other)

    def logical_and(self, other: Tensor) -> Tensor:
        return _F.logical_and(self, other)

    def logical_or(self, other: Tensor) -> Tensor:
        return _F.logical_or(self, other)

    def logical_xor(self, other: Tensor) -> Tensor:
        return _F.logical_xor(self, other)

    def logical_not(self) -> Tensor:
        return _F.logical_not(self)

    # -- in-place ---------------------------------------------------------------------------
    def add_(self, other: TensorOrScalar, *, alpha: Scalar = 1) -> Self:
        return _F.inplace(self, "add", other, alpha=alpha)  # type: ignore[return-value]

    def sub_(self, other: TensorOrScalar, *, alpha: Scalar = 1) -> Self:
        return _F.inplace(self, "sub", other, alpha=alpha)  # type: ignore[return-value]

    def mul_(self, other: TensorOrScalar) -> Self:
        return _F.inplace(self, "mul", other)  # type: ignore[return-value]

    def div_(self, other: TensorOrScalar) -> Self:
        return _F.inplace(self, "div", other)  # type: ignore[return-value]

    def pow_(self, other: TensorOrScalar) -> Self:
        return _F.inplace(self, "pow", other)  # type: ignore[return-value]

    def exp_(self) -> Self:
        return _F.inplace(self, "exp")  # type: ignore[return-value]

    def neg_(self) -> Self:
        return _F.inplace(self, "neg")  # type: ignore[return-value]

    def sqrt_(self) -> Self:
        return _F.inplace(self, "sqrt")  # type: ignore[return-value]

    def relu_(self) -> Self:
        return _F.inplace(self, "relu")  # type: ignore[return-value]

    def clamp_(self, min: Scalar | None = None, max: Scalar | None = None) -> Self:
        return _F.inplace(self, "clamp", min=min, max=max)  # type: ignore[return-value]

    def addcmul_(self, tensor1: Tensor, tensor2: Tensor, *, value: Scalar = 1) -> Self:
        return self.add_(tensor1 * tensor2 * value)

    def addcdiv_(self, tensor1: Tensor, tensor2: Tensor, *, value: Scalar = 1) -> Self:
        return self.add_(tensor1 / tensor2 * value)

    def lerp_(self, end: Tensor, weight: Scalar) -> Self:
        return self.add_((end - self) * weight)

    def copy_(self, src: Tensor) -> Self:
        """Copy ``src``'s values into this tensor, from any device (as PyTorch)."""
        if src.device is not self.device and src.device != self.device:
            src = src.to(self.device)
        return _F.inplace(self, "copy", src)  # type: ignore[return-value]

    def fill_(self, value: Scalar) -> Self:
        return _F.inplace(self, "copy", _F.full_like(self, value))  # type: ignore[return-value]

    def zero_(self) -> Self:
        return self.fill_(0)

    def masked_fill_(self, mask: Tensor, value: Scalar) -> Self:
        return _F.inplace(self, "masked_fill", mask, value=value)  # type: ignore[return-value]

    def uniform_(self, a: _float = 0.0, b: _float = 1.0) -> Self:
        return self.copy_(_F.rand_like(self) * (b - a) + a)

    def normal_(self, mean: _float = 0.0, std: _float = 1.0) -> Self:
        return self.copy_(_F.randn_like(self) * std + mean)

    # -- reductions -------------------------------------------------------------------------
    def sum(self, dim: _int | Sequence[_int] | None = None, keepdim: _bool = False, *,
            dtype: DType | None = None) -> Tensor:
        return _F.sum(self, dim, keepdim, dtype=dtype)

    def mean(self, dim: _int | Sequence[_int] | None = None, keepdim: _bool = False) -> Tensor:
        return _F.mean(self, dim, keepdim)

    def prod(self, dim: _int | None = None, keepdim: _bool = False) -> Tensor:
        return _F.prod(self, dim, keepdim)

    def max(self, dim: _int | Tensor | None = None, keepdim: _bool = False) -> Any:
        return _F.max(self, dim, keepdim)

    def min(self, dim: _int | Tensor | None = None, keepdim: _bool = False) -> Any:
        return _F.min(self, dim, keepdim)

    def amax(self, dim: _int | Sequence[_int] | None = None, keepdim: _bool = False) -> Tensor:
        return _F.amax(self, dim, keepdim)

    def amin(self, dim: _int | Sequence[_int] | None = None, keepdim: _bool = False) -> Tensor:
        return _F.amin(self, dim, keepdim)

    def argmax(self, dim: _int | None = None, keepdim: _bool = False) -> Tensor:
        return _F.argmax(self, dim, keepdim)

    def argmin(self, dim: _int | None = None, keepdim: _bool = False) -> Tensor:
        return _F.argmin(self, dim, keepdim)

    def var(self, dim: _int | Sequence[_int] | None = None, *, correction: _float = 1,
            keepdim: _bool = False) -> Tensor:
        return _F.var(self, dim, correction=correction, keepdim=keepdim)

    def std(self, dim: _int | Sequence[_int] | None = None, *, correction: _float = 1,
            keepdim: _bool = False) -> Tensor:
        return _F.std(self, dim, correction=correction, keepdim=keepdim)

    def logsumexp(self, dim: _int | Sequence[_int], keepdim: _bool = False) -> Tensor:
        return _F.logsumexp(self, dim, keepdim)

    def cumsum(self, dim: _int) -> Tensor:
        return _F.cumsum(self, dim)

    def norm(self, p: _float = 2, dim: _int | Sequence[_int] | None = None,
             keepdim: _bool = False) -> Tensor:
        return _F.norm(self, p, dim, keepdim)

    def all(self, dim: _int | None = None, keepdim: _bool = False) -> Tensor:
        return _F.all(self, dim, keepdim)

    def any(self, dim: _int | None = None, keepdim: _bool = False) -> Tensor:
        return _F.any(self, dim, keepdim)

    def sum_to_size(self, *size: Any) -> Tensor:
        return _F.sum_to_size(self, _shape_args(size))

    # -- shape and views --------------------------------------------------------------------
    def view(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], DType):
            raise NotImplementedError("view(dtype) is not supported; use .to(dtype)")
        return _F.view(self, _shape_args(shape))

    def view_as(self, other: Tensor) -> Tensor:
        return _F.view(self, other.shape)

    def reshape(self, *shape: Any) -> Tensor:
        return _F.reshape(self, _shape_args(shape))

    def reshape_as(self, other: Tensor) -> Tensor:
        return _F.reshape(self, other.shape)

    def transpose(self, dim0: _int, dim1: _int) -> Tensor:
        return _F.transpose(self, dim0, dim1)

    def swapaxes(self, dim0: _int, dim1: _int) -> Tensor:
        return _F.transpose(self, dim0, dim1)

    def permute(self, *dims: Any) -> Tensor:
        return _F.permute(self, _shape_args(dims))

    def t(self) -> Tensor:
        return _F.t(self)

    @property
    def T(self) -> Tensor:
        return _F.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self) -> Tensor:
        return _F.transpose(self, -2, -1)

    def expand(self, *sizes: Any) -> Tensor:
        return _F.expand(self, _shape_args(sizes))

    def expand_as(self, other: Tensor) -> Tensor:
        return _F.expand(self, other.shape)

    def broadcast_to(self, shape: Sequence[_int]) -> Tensor:
        return _F.expand(self, tuple(shape))

    def unsqueeze(self, dim: _int) -> Tensor:
        return _F.unsqueeze(self, dim)

    def squeeze(self, dim: _int | Sequence[_int] | None = None) -> Tensor:
        return _F.squeeze(self, dim)

    def flatten(self, start_dim: _int = 0, end_dim: _int = -1) -> Tensor:
        return _F.flatten(self, start_dim, end_dim)

    def unflatten(self, dim: _int, sizes: Sequence[_int]) -> Tensor:
        return _F.unflatten(self, dim, sizes)

    def split(self, split_size: _int | Sequence[_int], dim: _int = 0) -> tuple[Tensor, ...]:
        return _F.split(self, split_size, dim)

    def chunk(self, chunks: _int, dim: _int = 0) -> tuple[Tensor, ...]:
        return _F.chunk(self, chunks, dim)

    def flip(self, dims: Sequence[_int]) -> Tensor:
        return _F.flip(self, dims)

    def repeat(self, *sizes: Any) -> Tensor:
        return _F.repeat(self, _shape_args(sizes))

    # -- indexing ---------------------------------------------------------------------------
    def __getitem__(self, index: Any) -> Tensor:
        return _F.getitem(self, index)

    def __setitem__(self, index: Any, value: TensorOrScalar) -> None:
        _F.setitem(self, index, value)

    def gather(self, dim: _int, index: Tensor) -> Tensor:
        return _F.gather(self, dim, index)

    def scatter(self, dim: _int, index: Tensor, src: TensorOrScalar) -> Tensor:
        return _F.scatter(self, dim, index, src)

    def scatter_add(self, dim: _int, index: Tensor, src: Tensor) -> Tensor:
        return _F.scatter_add(self, dim, index, src)

    def index_select(self, dim: _int, index: Tensor) -> Tensor:
        return _F.index_select(self, dim, index)

    def masked_fill(self, mask: Tensor, value: Scalar) -> Tensor:
        return _F.masked_fill(self, mask, value)

    # -- linear algebra ---------------------------------------------------------------------
    def matmul(self, other: Tensor) -> Tensor:
        return _F.matmul(self, other)

    def mm(self, other: Tensor) -> Tensor:
        return _F.mm(self, other)

    def bmm(self, other: Tensor) -> Tensor:
        return _F.bmm(self, other)


_FAST_TYPES: set[type] = {Tensor}
"""Tensor classes the dispatcher's fast path accepts as they are (``nn.Parameter`` adds
itself); anything else takes the general path."""


def _check_dim(dim: _int, ndim: _int, op: str) -> _int:
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(
            f"{op}: dimension out of range (expected to be in range of "
            f"[{-max(ndim, 1)}, {max(ndim, 1) - 1}], but got {dim})"
        )
    return dim % max(ndim, 1)


from . import functions as _F  # noqa: E402  (functions import Tensor; bound after the class)
