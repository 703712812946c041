"""The one path every tensor function takes: rule check -> kernel -> autograd record.

``call(op, *inputs, **attrs)``:
1. the op's shape rule runs with the concrete algebra and its dtype rule on the input dtypes,
   so a mistake raises ShapeError/DTypeError naming the op *before* any kernel runs;
2. the kernel that the input's device backend registered for the op runs;
3. if grad mode is on and an input requires grad, a :class:`~autograd.graph.Node` is recorded.

This is the hot path of eager mode; it is kept flat on purpose (profile before changing it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .autograd import anomaly as _anomaly
from .autograd import grad_mode
from .autograd.graph import Node
from .kernels import cpu as _cpu_kernels  # noqa: F401  (registers the CPU kernels)
from .kernels.cuda.array import DeviceArray
from .ops.registry import InputMeta, OpDef
from .tensor import _FAST_TYPES, Tensor, _Storage
from .types.algebra import CONCRETE
from .types.dtype import DType, promote_types, result_type_of_scalar
from .types.errors import DTypeError, RuleViolation, ShapeError
from .types.format import format_value

__all__ = ["call", "call_inplace", "shape_error"]

_DEFAULT_NAMES = ("input", "other")
_grad_state = grad_mode._state
_tracer: Any = None
"""The active ``trace.Tracer`` while ``nr.trace`` runs, else None. Symbolic tensors are not
in the fast types, so every op on them reaches ``_call_general``, which hands it over."""
_anomaly_state = _anomaly.state
_size_guard: Any = None
"""While an imported ONNX model loads or runs, ``guard(op_name, out_shape)`` of
``onnx._budget``: it refuses a result larger than the model's element budget before the
kernel allocates it (a hostile file cannot make one op allocate terabytes)."""


def shape_error(op: OpDef, inputs: tuple[Any, ...], attrs: dict[str, Any], err: RuleViolation) -> ShapeError:
    """The user-facing ShapeError for a failed rule: op, inputs as ``f32[32, 784]``, fix."""
    names = getattr(op, "input_names", ()) or _DEFAULT_NAMES
    parts = []
    for i, x in enumerate(inputs):
        name = names[i] if i < len(names) else f"input{i}"
        parts.append(f"{name}: {format_value(x)}")
    lines = [f"{op.name}: {err.message}", "  " + "   ".join(parts)]
    shown = {k: v for k, v in attrs.items() if v is not None}
    if shown:
        lines.append("  with " + ", ".join(f"{k}={v!r}" for k, v in shown.items()))
    if err.detail:
        lines.append(f"  {err.detail}")
    if err.hint:
        lines.append(f"  hint: {err.hint}")
    return ShapeError("\n".join(lines))


def _scalar_dtypes(op: OpDef, inputs: tuple[Any, ...], common: DType | None) -> list[Any]:
    """Input dtypes, Python scalars resolved against the tensors' promoted dtype (PyTorch's
    'wrapped number' rule: a scalar raises the category, never the width)."""
    if common is None:
        raise TypeError(f"{op.name}: expected at least one tensor argument, got {inputs!r}")
    return [
        x.dtype if isinstance(x, Tensor) else (None if x is None else result_type_of_scalar(common, x))
        for x in inputs
    ]


def _device_error(op: OpDef, a: Any, b: Any) -> RuntimeError:
    return RuntimeError(f"{op.name}: expected all tensors on one device, got {a} and {b}")


def call(op: OpDef, *inputs: Any, **attrs: Any) -> Tensor:
    """Apply a registered op to tensors (and Python scalars); see the module docstring.

    One or two tensors of one dtype (most calls in a training loop) take a fast path that
    runs the same steps with fewer temporaries; everything else takes ``_call_general``.
    """
    n = len(inputs)
    if n == 2:
        a, b = inputs
        if type(a) in _FAST_TYPES and type(b) in _FAST_TYPES and a.dtype is b.dtype:
            device = a.device
            if b.device is not device and b.device != device:
                raise _device_error(op, device, b.device)
            da, db = a._data, b._data
            try:
                out_shape = op.shape(CONCRETE, da.shape, db.shape, **attrs)
            except RuleViolation as err:
                raise shape_error(op, inputs, attrs, err) from None
            if _size_guard is not None:
                _size_guard(op.name, out_shape)
            dtype = a.dtype
            out_dtype = op.dtype(dtype, dtype, **attrs)
            kernel = op.kernels.get(device.backend)
            if kernel is not None:
                if out_dtype is not dtype and op.promote_inputs and out_dtype.is_floating_point:
                    da, db = da.astype(out_dtype.np_dtype), db.astype(out_dtype.np_dtype)
                return _finish(op, inputs, attrs, kernel(da, db, **attrs), out_shape, out_dtype,
                               device, a.requires_grad or b.requires_grad)
    elif n == 1:
        a = inputs[0]
        if type(a) in _FAST_TYPES:
            device = a.device
            da = a._data
            try:
                out_shape = op.shape(CONCRETE, da.shape, **attrs)
            except RuleViolation as err:
                raise shape_error(op, inputs, attrs, err) from None
            if _size_guard is not None:
                _size_guard(op.name, out_shape)
            dtype = a.dtype
            out_dtype = op.dtype(dtype, **attrs)
            kernel = op.kernels.get(device.backend)
            if kernel is not None:
                if out_dtype is not dtype and op.promote_inputs and out_dtype.is_floating_point:
                    da = da.astype(out_dtype.np_dtype)
                return _finish(op, inputs, attrs, kernel(da, **attrs), out_shape, out_dtype,
                               device, a.requires_grad)
    return _call_general(op, inputs, attrs)


def _call_general(op: OpDef, inputs: tuple[Any, ...], attrs: dict[str, Any]) -> Tensor:
    if _tracer is not None:
        traced = _tracer.dispatch(op, inputs, attrs)
        if traced is not None:
            return traced  # type: ignore[no-any-return]
    shapes: list[Any] = []
    arrays: list[Any] = []
    device = None
    common: DType | None = None
    requires_grad = False
    has_scalar = False
    for x in inputs:
        if isinstance(x, Tensor):
            data = x._data
            shapes.append(data.shape)
            arrays.append(data)
            xd = x.dtype
            if common is None:
                common = xd
                device = x.device
            else:
                if xd is not common:
                    common = promote_types(common, xd)
                if x.device is not device and x.device != device:
                    raise _device_error(op, device, x.device)
            if x.requires_grad:
                requires_grad = True
        elif x is None:
            shapes.append(None)
            arrays.append(None)
        elif isinstance(x, (int, float, np.number, np.bool_)):
            shapes.append(())
            arrays.append(x)
            has_scalar = True
        else:
            raise TypeError(
                f"{op.name}: expected Tensor or a Python number, got {type(x).__name__}"
            )
    try:
        out_shape = op.shape(CONCRETE, *shapes, **attrs)
    except RuleViolation as err:
        raise shape_error(op, inputs, attrs, err) from None
    if _size_guard is not None:
        _size_guard(op.name, out_shape)
    if has_scalar or common is None:
        in_dtypes = _scalar_dtypes(op, inputs, common)
        out_dtype = op.dtype(*in_dtypes, **attrs)
        if op.promote_inputs:
            # A scalar may raise the computation's category (``int_tensor < 2.5`` compares
            # in float), never its width.
            for x, d in zip(inputs, in_dtypes):
                if d is not None and not isinstance(x, Tensor) and d is not common:
                    common = promote_types(common, d)  # type: ignore[arg-type]
    else:
        out_dtype = op.dtype(*[x.dtype if x is not None else None for x in inputs], **attrs)
    assert device is not None and common is not None
    try:
        kernel = op.kernels[device.backend]
    except KeyError:
        raise NotImplementedError(
            f"{op.name}: no kernel for backend {device.backend!r}; has {sorted(op.kernels)}"
        ) from None
    np_out = out_dtype.np_dtype
    if op.promote_inputs:
        # Compute in the result dtype when it is float (int / int, exp(int)), else in the
        # inputs' common dtype (comparisons of mixed dtypes): numpy's own promotion differs.
        # Python scalars in an integer computation become numpy scalars of its dtype,
        # wrapping like PyTorch's (``int8_tensor + 1000``; ``uint8_tensor == -1`` compares
        # with 255) where numpy would raise; numpy already treats them as weak in floats.
        np_in = np_out if out_dtype.is_floating_point else common.np_dtype
        int_scalars = has_scalar and np_in.kind in "biu"
        for i, a in enumerate(arrays):
            if type(a) is np.ndarray or type(a) is DeviceArray:  # a device cast on cuda
                if a.dtype is not np_in and a.dtype != np_in:
                    arrays[i] = a.astype(np_in)
            elif int_scalars and a is not None:
                arrays[i] = np.asarray(a).astype(np_in)[()]
    return _finish(op, inputs, attrs, kernel(*arrays, **attrs), out_shape, out_dtype, device,
                   requires_grad)


def _finish(op: OpDef, inputs: tuple[Any, ...], attrs: dict[str, Any], data: Any,
            out_shape: Any, out_dtype: DType, device: Any, requires_grad: bool) -> Tensor:
    """Check the kernel's result against the rule, wrap it, record autograd if needed."""
    np_out = out_dtype.np_dtype
    if type(data) is not np.ndarray and type(data) is not DeviceArray:
        data = np.asarray(data)
    if data.dtype is not np_out and data.dtype != np_out:
        data = data.astype(np_out)
    if data.shape != out_shape:
        raise RuntimeError(
            f"internal: {op.name}'s {device.backend} kernel returned shape {data.shape}, "
            f"its shape rule says {out_shape}"
        )
    if op.is_view:
        base = inputs[0]
        out = Tensor._from_parts(data, out_dtype, device, base._storage)
        out._base = base._base if base._base is not None else base
    else:
        out = Tensor._from_parts(data, out_dtype, device, _Storage())
    if requires_grad and _grad_state.enabled and op.differentiable and out_dtype.is_floating_point:
        _record(op, inputs, attrs, out)
    if _anomaly_state.enabled:
        _anomaly.check_forward(op, inputs, attrs, out)
    return out


def _record(op: OpDef, inputs: tuple[Any, ...], attrs: dict[str, Any], out: Tensor) -> None:
    nondiff = op.nondiff_inputs
    edges: list[Any] = []
    meta: list[InputMeta | None] = []
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor):
            meta.append(InputMeta(x._data.shape, x.dtype))
            if x.requires_grad and i not in nondiff:
                edges.append(x.grad_fn if x.grad_fn is not None else x._accumulator())
                continue
        else:
            meta.append(None)
        edges.append(None)
    node = Node(op, attrs, inputs, tuple(meta), tuple(edges))
    if op.save_output:
        node.save_output(out)
    out.requires_grad = True
    out.grad_fn = node


def call_inplace(op: OpDef, target: Tensor, *others: Any, **attrs: Any) -> Tensor:
    """``target.op_(*others)``: compute out of place, write back, rebase target's history.

    Autograd misuse is an error, as in PyTorch: a leaf that requires grad cannot be
    modified in place, nor a view of a tensor that requires grad; and the storage version
    bump makes any node that saved the old values refuse to run backward.
    """
    if _tracer is not None:
        traced = _tracer.dispatch_inplace(op, target, others, attrs)
        if traced is not None:
            return traced  # type: ignore[no-any-return]
    recording = _grad_state.enabled
    if recording and target.requires_grad and target.grad_fn is None:
        raise RuntimeError(
            f"{op.name}_: a leaf tensor that requires grad is being used in an in-place "
            "operation. hint: wrap parameter updates in nr.no_grad()"
        )
    if recording and target._base is not None and target._base.requires_grad:
        raise RuntimeError(
            f"{op.name}_: in-place modification of a view of a tensor that requires grad is "
            "not supported; use the out-of-place op"
        )
    old = target._alias()
    result = call(op, old, *others, **attrs)
    node = result.grad_fn
    if node is not None and node.saved is not None and any(x is old for x in node.saved):
        _save_original(node, old)
    if result.shape != target.shape:
        raise ShapeError(
            f"{op.name}_: the result shape {list(result.shape)} does not match the in-place "
            f"target's shape {list(target.shape)}\n  hint: in-place ops cannot broadcast self"
        )
    if result.dtype is not target.dtype and not _can_cast(result.dtype, target.dtype):
        raise DTypeError(
            f"{op.name}_: result type {result.dtype.name} can't be cast to the in-place "
            f"target's dtype {target.dtype.name}"
        )
    np.copyto(target._data, result._data, casting="unsafe")
    target._storage.version += 1
    if result.requires_grad:
        target.requires_grad = True
        target.grad_fn = result.grad_fn
        if result.grad_fn is not None and result.grad_fn.saved_out is not None:
            # The saved output now lives in target's storage: track its version.
            result.grad_fn.saved_out.data = target._data
            result.grad_fn.saved_out.storage = target._storage
            result.grad_fn.saved_out.version = target._storage.version
    return target


def _save_original(node: Node, old: Tensor) -> None:
    """The in-place op's own backward reads the target's values from before the write
    (``h.pow_(2)``, ``h.clamp_(0, 1)``): give it a private copy, as PyTorch saves the original
    self. Other nodes that saved the target still see the version bump and refuse to run."""
    copy = Tensor._from_parts(old._data.copy(), old.dtype, old.device, _Storage())
    copy.requires_grad, copy.grad_fn, copy._accumulate = old.requires_grad, old.grad_fn, \
        old._accumulate
    assert node.saved is not None
    node.saved_versions = tuple(0 if x is old else v for x, v in zip(node.saved,
                                                                     node.saved_versions))
    node.saved = tuple(copy if x is old else x for x in node.saved)


def _can_cast(src: DType, dst: DType) -> bool:
    """PyTorch's in-place rule: the result's category must not exceed the target's."""
    return src.category <= dst.category
