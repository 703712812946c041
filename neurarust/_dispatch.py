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

from .autograd import grad_mode
from .autograd.graph import InputMeta, Node
from .ops.registry import OpDef
from .tensor import Tensor, _Storage
from .types.algebra import CONCRETE
from .types.dtype import DType, promote_types, result_type_of_scalar
from .types.errors import DTypeError, RuleViolation, ShapeError
from .types.format import format_value

__all__ = ["call", "call_inplace", "shape_error"]

_DEFAULT_NAMES = ("input", "other")
_grad_state = grad_mode._state


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


def _dtypes(op: OpDef, inputs: tuple[Any, ...]) -> tuple[tuple[DType, ...], DType]:
    """Input dtypes, Python scalars resolved against the tensors' promoted dtype (PyTorch's
    'wrapped number' rule: a scalar raises the category, never the width)."""
    tensor_dtype: DType | None = None
    for x in inputs:
        if type(x) is Tensor or isinstance(x, Tensor):
            tensor_dtype = x.dtype if tensor_dtype is None else promote_types(tensor_dtype, x.dtype)
    out = []
    for x in inputs:
        if isinstance(x, Tensor):
            out.append(x.dtype)
        elif x is None:
            out.append(None)
        else:
            if tensor_dtype is None:
                raise TypeError(f"{op.name}: expected at least one tensor argument, got {inputs!r}")
            out.append(result_type_of_scalar(tensor_dtype, x))
    return tuple(out), tensor_dtype  # type: ignore[return-value]


def call(op: OpDef, *inputs: Any, **attrs: Any) -> Tensor:
    """Apply a registered op to tensors (and Python scalars); see the module docstring."""
    shapes = []
    device = None
    requires_grad = False
    for x in inputs:
        if isinstance(x, Tensor):
            shapes.append(x._data.shape)
            if device is None:
                device = x.device
            elif x.device != device:
                raise RuntimeError(
                    f"{op.name}: expected all tensors on one device, got {device} and {x.device}"
                )
            requires_grad = requires_grad or x.requires_grad
        elif x is None:
            shapes.append(None)
        elif isinstance(x, (int, float, bool, np.number, np.bool_)):
            shapes.append(())
        else:
            raise TypeError(
                f"{op.name}: expected Tensor or a Python number, got {type(x).__name__}"
            )
    try:
        out_shape = op.shape(CONCRETE, *shapes, **attrs)
    except RuleViolation as err:
        raise shape_error(op, inputs, attrs, err) from None
    dtypes, common = _dtypes(op, inputs)
    out_dtype = op.dtype(*dtypes, **attrs)
    assert device is not None  # _dtypes raised if there was no tensor
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
        np_in = np_out if out_dtype.is_floating_point else common.np_dtype
        arrays = [
            (x._data if x._data.dtype == np_in else x._data.astype(np_in))
            if isinstance(x, Tensor)
            else x
            for x in inputs
        ]
    else:
        arrays = [x._data if isinstance(x, Tensor) else x for x in inputs]
    data = kernel(*arrays, **attrs)
    if type(data) is not np.ndarray:
        data = np.asarray(data)
    if data.dtype != np_out:
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
    return out


def _record(op: OpDef, inputs: tuple[Any, ...], attrs: dict[str, Any], out: Tensor) -> None:
    nondiff = op.nondiff_inputs
    edges = []
    meta = []
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


def _can_cast(src: DType, dst: DType) -> bool:
    """PyTorch's in-place rule: the result's category must not exceed the target's."""
    return src.category <= dst.category
