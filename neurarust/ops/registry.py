"""The op registry: each op is declared once, as an :class:`OpDef`, and read many ways.

An OpDef holds the op's shape rule (written against a :class:`DimAlgebra`, so eager mode, the
mypy plugin and the verifier all evaluate the same rule), its dtype rule, its backward (a
vector-Jacobian product written with registered ops, so it differentiates and traces again),
and the kernels that backends registered for it. Later readers (range rules, ONNX mappings)
add methods here, never a second copy elsewhere.

This module imports only ``neurarust.types``: the mypy plugin loads it without numpy kernels,
autograd or pycuda (tests/ops/test_import_boundary.py checks it in a fresh interpreter).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ..types.algebra import DimAlgebra, Shape
from ..types.dtype import DType
from ..types.errors import DTypeError

__all__ = ["InputMeta", "Kernel", "OpDef", "all_ops", "get", "has_values", "kernel", "register"]

Kernel = Callable[..., Any]


class Kernels(dict[str, Kernel]):
    """An op's kernels by backend name. Backends register themselves (``@kernel``); reading
    the CPU kernel of an op before any runtime module was imported (a verifier that holds only
    a graph) imports the CPU backend by name, so no reader ever sees an op without its kernel,
    while importing ``neurarust.ops`` itself still loads no kernel."""

    def __missing__(self, backend: str) -> Kernel:
        if backend == "cpu":
            import importlib

            importlib.import_module("neurarust.kernels.cpu")
            if backend in self:
                return self[backend]
        raise KeyError(backend)
"""A backend function: arrays and attrs in, one array out."""


class InputMeta:
    """Shape and dtype of an input whose values an op's backward does not read; autograd
    passes it to ``backward`` in place of the tensor (reshape's gradient needs only the
    input's shape). See :meth:`OpDef.saves_for`."""

    __slots__ = ("dtype", "shape")

    def __init__(self, shape: tuple[int, ...], dtype: DType) -> None:
        self.shape = shape
        self.dtype = dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)


def has_values(x: Any) -> bool:
    """True when a backward input carries values (not just an :class:`InputMeta`)."""
    return not isinstance(x, InputMeta)


class OpDef:
    """The single declaration of one op.

    Class attributes state facts that readers use instead of ``if name == ...`` chains:

    - ``name``: the public function name (``"add"``, ``"conv2d"``).
    - ``differentiable``: False for ops with no gradient (comparisons, argmax, integer ops).
    - ``nondiff_inputs``: positions that never receive a gradient (indices, masks).
    - ``is_view``: the output shares the first input's storage (view, transpose, slicing).
    - ``promote_inputs``: tensor inputs are cast to the result dtype before the kernel runs
      (arithmetic, where numpy's own promotion differs from PyTorch's).
    - ``save_inputs`` / ``save_output``: what ``backward`` needs; anything not saved is passed
      as ``None``, which keeps memory low and in-place checks precise.

    Methods a subclass defines (inputs are positional, attributes are keywords):

    - ``shape(dims, *shapes, **attrs) -> Shape``
    - ``dtype(*dtypes, **attrs) -> DType``
    - ``backward(grad, *inputs, out, **attrs) -> tuple[Tensor | None, ...]`` (one per input;
      autograd sums each gradient back to its input's broadcast shape, rules never do).
    """

    name: ClassVar[str] = ""
    differentiable: ClassVar[bool] = True
    nondiff_inputs: ClassVar[tuple[int, ...]] = ()
    is_view: ClassVar[bool] = False
    promote_inputs: ClassVar[bool] = False
    save_inputs: ClassVar[bool] = True
    save_output: ClassVar[bool] = False
    onnx_import: ClassVar[tuple[str, ...]] = ()
    """ONNX node types that import back to this op (read by the ONNX importer)."""
    range_rule: ClassVar[str | None] = None
    """The name of this op's interval transfer function in :mod:`neurarust.types.interval`
    (read by the numeric verifier, looked up there lazily so that loading the registry never
    imports numpy): called as ``rule(*input_intervals, **attrs)``, and given the op's CPU
    kernel as ``kernel=`` when it takes one (conv and pooling bound through the kernel).
    None: no rule, which the verifier reports as unknown, never as a pass."""

    def __init__(self) -> None:
        self.kernels: Kernels = Kernels()

    def saves_for(self, needs_grad: tuple[bool, ...]) -> tuple[bool, ...]:
        """Which inputs backward reads, given which inputs need a gradient (when
        ``save_inputs``). Default: all. Ops override it so that an in-place change to an
        input whose values the gradient never reads is not an error (``h.mul_(3.0)``)."""
        return (True,) * len(needs_grad)

    if TYPE_CHECKING:
        # Each op narrows these signatures to its own inputs and attrs; typed as callables so
        # that every subclass's precise signature is a valid override.
        shape: Callable[..., Shape]
        dtype: Callable[..., DType]
        backward: Callable[..., tuple[Any, ...]]
        # ``to_onnx(g, *inputs, **attrs) -> OnnxValue``: the op as ONNX node(s), written with
        # ``neurarust.onnx.OnnxBuilder``; ops without one are listed by the exporter.
        to_onnx: Callable[..., Any]
    else:

        def shape(self, dims: DimAlgebra[Any, Any], *shapes: Shape, **attrs: Any) -> Shape:
            raise NotImplementedError(f"op {self.name!r} declares no shape rule")

        def dtype(self, *dtypes: DType, **attrs: Any) -> DType:
            raise NotImplementedError(f"op {self.name!r} declares no dtype rule")

        def backward(self, grad: Any, *inputs: Any, out: Any, **attrs: Any) -> tuple[Any, ...]:
            raise NotImplementedError(f"op {self.name!r} declares no backward")

    # -- helpers shared by dtype rules ----------------------------------------------------------
    def dtype_error(self, message: str, *dtypes: DType) -> DTypeError:
        """A DTypeError naming this op and the dtypes it was given."""
        got = ", ".join(d.name for d in dtypes)
        return DTypeError(f"{self.name}: {message}\n  got dtypes: {got}")

    def __repr__(self) -> str:
        return f"<op {self.name}>"


_REGISTRY: dict[str, OpDef] = {}

O = TypeVar("O", bound=type[OpDef])


def register(cls: O) -> O:
    """Class decorator: instantiate the OpDef and enter it in the registry under its name."""
    name = cls.name
    if not name:
        raise ValueError(f"{cls.__name__} has no name")
    if name in _REGISTRY:
        raise ValueError(f"op {name!r} is declared twice ({cls.__name__})")
    _REGISTRY[name] = cls()
    return cls


def get(name: str) -> OpDef:
    """The OpDef registered under ``name``; a KeyError listing close names otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        raise KeyError(f"no op named {name!r}" + (f"; did you mean {close}?" if close else "")) from None


def all_ops() -> dict[str, OpDef]:
    """A snapshot of the registry, name -> OpDef."""
    return dict(_REGISTRY)


def kernel(name: str, backend: str) -> Callable[[Kernel], Kernel]:
    """Decorator with which a backend registers its kernel for op ``name``."""

    def decorate(fn: Kernel) -> Kernel:
        op = get(name)
        if backend in op.kernels:
            raise ValueError(f"op {name!r} already has a {backend} kernel")
        op.kernels[backend] = fn
        return fn

    return decorate
