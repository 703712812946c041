"""``OnnxBuilder``: what an op's ``to_onnx`` writes ONNX nodes with.

Each registry op declares its ONNX mapping on its OpDef (``to_onnx(self, g, *inputs,
**attrs)``, see ``STYLE.md`` section 2). The exporter walks an :class:`~neurarust.ir.Graph`
and, for each node, calls that method with an :class:`OnnxBuilder` ``g`` and one
:class:`OnnxValue` per graph input (None for an absent optional input, such as a bias).
``g.node(...)`` appends ONNX nodes; ``g.out`` is the traced node's output (symbolic shape and
dtype); ``g.const``/``g.ints`` make initializers; ``g.cast`` and ``g.cast_ints_to_float``
handle ONNX's stricter typing; ``g.shape_of`` turns a symbolic shape into an int64 tensor
computed from the graph inputs' ``Shape``.

This module imports ``onnx`` lazily (through :func:`require_onnx`), so op modules can name
the builder in annotations without the optional dependency installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..types import dtype as dt
from ..types.dim import Dim
from ..types.dtype import DType

if TYPE_CHECKING:
    from ..ir.graph import Value

__all__ = ["OnnxBuilder", "OnnxValue", "require_onnx", "onnx_dtype"]


def require_onnx() -> Any:
    """The ``onnx`` module, or an ImportError saying how to install it."""
    try:
        import onnx
        import onnx.checker
        import onnx.helper
        import onnx.numpy_helper  # submodules that ``import onnx`` alone may not load
        import onnx.shape_inference
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError("ONNX export needs the 'onnx' package: pip install 'neurarust[onnx]'"
                          ) from err
    return onnx


def onnx_dtype(d: DType) -> int:
    """The ``onnx.TensorProto`` element type for a neurarust dtype."""
    onnx = require_onnx()
    return int(onnx.helper.np_dtype_to_tensor_dtype(np.dtype(d.np_dtype)))


@dataclass(frozen=True)
class OnnxValue:
    """A value in the ONNX graph being built: its name, dtype and (symbolic) shape, where
    known (``shape`` is None for intermediate values whose shape is not tracked)."""

    name: str
    dtype: DType
    shape: tuple[Dim, ...] | None = None

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)


class OnnxBuilder:
    """Collects ONNX nodes and initializers; see the module docstring."""

    def __init__(self, opset: int, inputs: Sequence[Value] = ()) -> None:
        self.opset = opset
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._next = 0
        self._consts: dict[tuple[Any, ...], OnnxValue] = {}
        self._inputs = list(inputs)
        self._symbol_cache: dict[str, OnnxValue] = {}
        self.memo: dict[Any, Any] = {}  # ONNX nodes shared by several traced nodes (rnn_layer)
        self.out: Value | None = None  # the traced node being emitted
        self.prefix = "n"

    # -- names ----------------------------------------------------------------------------------
    def fresh(self, hint: str = "t") -> str:
        self._next += 1
        return f"{self.prefix}{self._next}_{hint}"

    @property
    def out_dtype(self) -> DType:
        assert self.out is not None, "g.out is set only while an op is emitted"
        return self.out.dtype

    @property
    def out_shape(self) -> tuple[Dim, ...]:
        assert self.out is not None, "g.out is set only while an op is emitted"
        return self.out.shape

    # -- nodes ----------------------------------------------------------------------------------
    def node(self, op_type: str, *inputs: OnnxValue | None, dtype: DType | None = None,
             shape: tuple[Dim, ...] | None = None, outputs: int = 1,
             **attrs: Any) -> OnnxValue:
        """Append ONNX node ``op_type`` (inputs: values, or None for an omitted optional
        input); returns its (first) output, typed ``dtype`` (default: the traced node's)."""
        d = dtype if dtype is not None else self.out_dtype
        first = self.node_outputs(op_type, *inputs, dtypes=[d] * outputs, **attrs)[0]
        return OnnxValue(first.name, d, shape)

    def node_outputs(self, op_type: str, *inputs: OnnxValue | None, dtypes: Sequence[DType],
                     **attrs: Any) -> list[OnnxValue]:
        """Append ONNX node ``op_type`` with one output per entry of ``dtypes`` (MaxPool's
        indices, LSTM's states); returns them all."""
        onnx = require_onnx()
        names = [self.fresh(op_type.lower()) for _ in dtypes]
        ins = ["" if x is None else x.name for x in inputs]
        while ins and ins[-1] == "":
            ins.pop()
        clean = {k: _attr(v) for k, v in attrs.items() if v is not None}
        self.nodes.append(onnx.helper.make_node(op_type, ins, names, name=names[0], **clean))
        return [OnnxValue(n, d) for n, d in zip(names, dtypes)]

    # -- constants -------------------------------------------------------------------------------
    def const(self, value: Any, dtype: DType | None = None, hint: str = "c") -> OnnxValue:
        """An initializer holding ``value`` (array or scalar) as ``dtype`` (default: the
        traced node's output dtype). Equal small constants are shared."""
        onnx = require_onnx()
        d = dtype if dtype is not None else self.out_dtype
        arr = np.asarray(value).astype(d.np_dtype)
        key = (d.name, arr.shape, arr.tobytes()) if arr.size <= 64 else None
        if key is not None and key in self._consts:
            return self._consts[key]
        name = self.fresh(hint)
        self.initializers.append(onnx.numpy_helper.from_array(arr, name))
        v = OnnxValue(name, d, tuple(Dim.const(int(n)) for n in arr.shape))
        if key is not None:
            self._consts[key] = v
        return v

    def ints(self, values: Sequence[int], hint: str = "ints") -> OnnxValue:
        """A 1-D int64 initializer (axes, pads, shapes)."""
        return self.const(np.asarray(list(values), dtype=np.int64), dt.int64, hint)

    def scalar(self, value: Any, like: OnnxValue) -> OnnxValue:
        """A 0-d constant in ``like``'s dtype."""
        return self.const(value, like.dtype)

    # -- dtypes -----------------------------------------------------------------------------------
    def cast(self, x: OnnxValue, dtype: DType) -> OnnxValue:
        """``x`` as ``dtype`` (no node when it already is)."""
        if x.dtype is dtype:
            return x
        return self.node("Cast", x, dtype=dtype, shape=x.shape, to=onnx_dtype(dtype))

    def cast_ints_to_float(self, *xs: OnnxValue) -> tuple[OnnxValue, ...]:
        """Integer/bool inputs cast to the default float dtype (ONNX Div truncates ints)."""
        return tuple(self.cast(x, dt.get_default_dtype()) if not x.dtype.is_floating_point
                     else x for x in xs)

    def reduce(self, op_type: str, x: OnnxValue, dim: Sequence[int] | None, keepdim: bool,
               rank: int) -> OnnxValue:
        """``op_type`` (ReduceSum, ReduceMean, ...) over ``dim`` (None or empty: all axes);
        axes are an input from opset 13 (ReduceSum) or 18 (the others), else an attribute."""
        axes = None if dim is None or len(dim) == 0 else self.axes(dim, rank)
        keep = 1 if keepdim else 0
        if axes is None:
            return self.node(op_type, x, keepdims=keep)
        as_input = self.opset >= (13 if op_type == "ReduceSum" else 18)
        if as_input:
            return self.node(op_type, x, self.ints(axes), keepdims=keep)
        return self.node(op_type, x, axes=axes, keepdims=keep)

    # -- shapes -----------------------------------------------------------------------------------
    def unsqueeze(self, x: OnnxValue, axes: Sequence[int]) -> OnnxValue:
        """``Unsqueeze`` at ``axes`` (of the result), typed like ``x``."""
        return self.node("Unsqueeze", x, self.ints(axes), dtype=x.dtype)

    def squeeze(self, x: OnnxValue, axes: Sequence[int]) -> OnnxValue:
        """``Squeeze`` of the size-1 ``axes``, typed like ``x``."""
        return self.node("Squeeze", x, self.ints(axes), dtype=x.dtype)

    def transpose(self, x: OnnxValue, perm: Sequence[int]) -> OnnxValue:
        """``Transpose`` by ``perm`` (no node for the identity), typed like ``x``."""
        if list(perm) == list(range(len(perm))):
            return x
        shape = None if x.shape is None else tuple(x.shape[p] for p in perm)
        return self.node("Transpose", x, dtype=x.dtype, shape=shape, perm=list(perm))

    def batched(self, x: OnnxValue, spatial: int) -> tuple[OnnxValue, bool]:
        """``x`` with a leading batch dim of 1 added when it is unbatched (``(C, *spatial)``,
        which ONNX's Conv and pooling nodes do not accept), and whether one was added; undo
        with ``g.squeeze(y, [0])``."""
        if x.rank == spatial + 1:
            return self.unsqueeze(x, [0]), True
        return x, False

    def axes(self, axes: Sequence[int], rank: int) -> list[int]:
        """Axes normalised to ``0 <= a < rank``."""
        return [a + rank if a < 0 else a for a in axes]

    def reshape(self, x: OnnxValue, shape: Sequence[Dim]) -> OnnxValue:
        """``Reshape`` of ``x`` to the (symbolic) ``shape``: constant dims as they are, a
        symbolic dim equal to the input's at the same position as 0 (copy), one other
        symbolic dim as -1; otherwise the shape is computed from the graph inputs."""
        src = x.shape or ()
        spec: list[int] = []
        for i, d in enumerate(shape):
            if d.is_constant:
                spec.append(d.as_int())
            elif i < len(src) and src[i] == d:
                spec.append(0)
            else:
                spec.append(-1)
        if spec.count(-1) <= 1 and not any(d.is_constant and d.as_int() == 0 for d in shape):
            target = self.ints(spec, "shape")
        else:
            target = self.shape_of(shape)
        return self.node("Reshape", x, target, shape=tuple(shape))

    def shape_of(self, dims: Sequence[Dim | int]) -> OnnxValue:
        """An int64 1-D tensor holding ``dims``; symbolic dims are computed from the graph
        inputs' ``Shape`` (``B`` is ``Shape(x)[0]`` when ``x: f32[B, ...]``)."""
        ds = [Dim.of(d) for d in dims]
        if all(d.is_constant for d in ds):
            return self.ints([d.as_int() for d in ds], "shape")
        parts = [self._dim_value(d) for d in ds]
        return self.node("Concat", *parts, dtype=dt.int64, axis=0)

    def _dim_value(self, d: Dim) -> OnnxValue:
        """A 1-element int64 tensor computing ``d``."""
        if d.is_constant:
            return self.ints([d.as_int()])
        result = d.interpret(_INT_TERMS, lambda s: _Term(self, self._symbol(s)))
        assert isinstance(result, _Term)
        return result.value

    def _symbol(self, name: str) -> OnnxValue:
        cached = self._symbol_cache.get(name)
        if cached is not None:
            return cached
        for v in self._inputs:
            for axis, d in enumerate(v.shape):
                if d == Dim.sym(name):
                    source = OnnxValue(v.name, v.dtype, v.shape)
                    if self.opset >= 15:
                        shape = self.node("Shape", source, dtype=dt.int64, start=axis,
                                          end=axis + 1)
                    else:  # Shape's start/end attributes arrived in opset 15
                        shape = self.node("Slice", self.node("Shape", source, dtype=dt.int64),
                                          self.ints([axis]), self.ints([axis + 1]),
                                          dtype=dt.int64)
                    self._symbol_cache[name] = shape
                    return shape
        raise NotImplementedError(
            f"ONNX export: the size {name} is not a whole dim of any graph input; sizes "
            "derived only through expressions cannot be exported yet")


def _attr(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_attr(x) for x in v]
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


class _Term:
    """An int64 [1] ONNX value with ``+`` and ``*``, for :meth:`Dim.interpret`."""

    def __init__(self, g: OnnxBuilder, value: OnnxValue) -> None:
        self.g, self.value = g, value

    def _lift(self, other: Any) -> OnnxValue:
        return other.value if isinstance(other, _Term) else self.g.ints([int(other)])

    def __add__(self, other: Any) -> _Term:
        return _Term(self.g, self.g.node("Add", self.value, self._lift(other), dtype=dt.int64))

    __radd__ = __add__

    def __mul__(self, other: Any) -> _Term:
        return _Term(self.g, self.g.node("Mul", self.value, self._lift(other), dtype=dt.int64))

    __rmul__ = __mul__


class _IntTerms:
    """The part of a dim algebra that :meth:`Dim.interpret` uses for polynomials."""

    def const(self, n: int) -> int:
        return int(n)

    def __getattr__(self, name: str) -> Any:
        raise NotImplementedError(
            f"ONNX export: a size computed with {name!r} cannot be exported yet")


_INT_TERMS: Any = _IntTerms()
