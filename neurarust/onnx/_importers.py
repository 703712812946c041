"""The ONNX import table: one entry per ONNX op type, mapping a node onto neurarust's public
functions (so every imported model runs through registered ops, differentiates and traces).

An importer is ``fn(ctx, inputs, attrs) -> list[Tensor | None]``: ``inputs`` holds one tensor
per ONNX input (None for an omitted optional one), ``attrs`` the node's attributes as Python
values, ``ctx`` the opset and a way to read the values of small integer inputs (shapes, axes,
starts) that ONNX passes as tensors. No entry computes a shape itself: sizes come from our
ops' own rules when the module runs (``-1``/``0`` in a reshape, ``-1`` in an expand).

ONNX semantics follow the spec for opsets 7-17; a combination that is not supported (e.g.
asymmetric conv padding) raises :class:`OnnxUnsupported` naming the op and the attribute.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import functions as fn
from ..nn import functional as F
from ..tensor import Tensor
from ..types.dim import Dim
from ..types.dtype import DType, from_numpy_dtype
from ._budget import DEFAULT_LIMITS, current

__all__ = ["IMPORTERS", "ImportContext", "Importer", "OnnxUnsupported", "SubGraph"]


class OnnxUnsupported(Exception):
    """An ONNX node whose attributes or input dtypes this importer cannot express."""


@dataclass(frozen=True)
class SubGraph:
    """A compiled subgraph attribute (If branches, Loop/Scan bodies): runnable nodes (opaque
    here) and the names of its inputs and outputs."""

    nodes: list[Any]
    inputs: list[str]
    outputs: list[str]


@dataclass
class ImportContext:
    """What an importer may read besides its inputs: the model's opset, and a way to run a
    subgraph attribute (``ctx.run(subgraph, inputs) -> outputs``) in the current scope."""

    opset: int
    run: Callable[[SubGraph, list[Any]], list[Any]] | None = None

    @staticmethod
    def ints(t: Any) -> list[Any]:
        """The values of a small integer input (a shape, axes, starts) as Python ints, or
        symbolic Dims where a traced size flows in (see :mod:`._host`)."""
        if t is None:
            return []
        from ._host import HostValue

        if isinstance(t, HostValue):
            return [v if isinstance(v, Dim) else int(v) for v in t.values.reshape(-1)]
        return [int(v) for v in ImportContext.array(t).reshape(-1)]

    @staticmethod
    def array(t: Any) -> np.ndarray:  # type: ignore[type-arg]
        """The concrete values of an input read on the host (indices, lengths, a roi)."""
        from ._host import HostValue

        if isinstance(t, HostValue):
            return t.concrete()
        from ..trace.tensor import SymbolicTensor

        if isinstance(t, SymbolicTensor):
            raise OnnxUnsupported("needs the values of a traced (data-dependent) tensor as "
                                  f"sizes or indices ({t!r})")
        return np.asarray(t.detach().numpy())

    @staticmethod
    def scalar(t: Any) -> Any:
        return ImportContext.array(t).reshape(-1)[0].item()


Importer = Callable[[ImportContext, list[Any], dict[str, Any]], list[Any]]
IMPORTERS: dict[str, Importer] = {}


def onnx_to_dtype(elem_type: int) -> DType:
    """The neurarust dtype of an ONNX ``TensorProto`` element type."""
    import onnx

    try:
        np_dtype = onnx.helper.tensor_dtype_to_np_dtype(elem_type)
        return from_numpy_dtype(np.dtype(np_dtype))
    except Exception:
        raise OnnxUnsupported(f"ONNX element type {elem_type} has no neurarust dtype") from None


def _text(v: Any) -> str:
    """A string attribute (protobuf gives bytes) as str."""
    return v.decode() if isinstance(v, bytes) else str(v)


def _reg(*names: str) -> Callable[[Importer], Importer]:
    def deco(f: Importer) -> Importer:
        for n in names:
            IMPORTERS[n] = f
        return f
    return deco


def _one(f: Callable[[Any], Tensor]) -> Importer:
    return lambda ctx, xs, a: [f(xs[0])]


def _two(f: Callable[[Any, Any], Tensor]) -> Importer:
    return lambda ctx, xs, a: [f(xs[0], xs[1])]


def _keep_dtype(f: Callable[[Any, Any], Tensor]) -> Importer:
    """A binary op whose ONNX result keeps the first input's dtype."""
    def run(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
        out = f(xs[0], xs[1])
        return [out if out.dtype is xs[0].dtype else fn.cast(out, dtype=xs[0].dtype)]
    return run


for _name, _f in {"Add": fn.add, "Sub": fn.sub, "Mul": fn.mul, "MatMul": fn.matmul,
                  "Equal": fn.eq, "Less": fn.lt, "Greater": fn.gt, "LessOrEqual": fn.le,
                  "GreaterOrEqual": fn.ge, "And": fn.logical_and, "Or": fn.logical_or,
                  "Xor": fn.logical_xor, "BitwiseAnd": fn.bitwise_and,
                  "BitwiseOr": fn.bitwise_or, "BitwiseXor": fn.bitwise_xor}.items():
    IMPORTERS[_name] = _two(_f)  # type: ignore[arg-type]
IMPORTERS["Pow"] = _keep_dtype(fn.pow)

for _name, _u in {"Neg": fn.neg, "Abs": fn.abs, "Exp": fn.exp, "Log": fn.log, "Sqrt": fn.sqrt,
                  "Reciprocal": fn.reciprocal, "Relu": fn.relu, "Sigmoid": fn.sigmoid,
                  "Tanh": fn.tanh, "Erf": F.erf, "Sin": fn.sin, "Cos": fn.cos,
                  "Floor": fn.floor, "Ceil": fn.ceil, "Sign": fn.sign, "Round": fn.round,
                  "Not": fn.logical_not, "IsNaN": fn.isnan, "BitwiseNot": fn.bitwise_not,
                  "Softsign": F.softsign}.items():
    IMPORTERS[_name] = _one(_u)  # type: ignore[arg-type]


@_reg("Div")
def _div(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x, y = xs
    if x.dtype.is_floating_point:
        return [fn.div(x, y)]
    return [fn.div(x, y, rounding_mode="trunc")]


@_reg("Mod")
def _mod(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x, y = xs
    if a.get("fmod", 0):
        return [fn.sub(x, fn.mul(fn.div(x, y, rounding_mode="trunc"), y))]
    return [fn.remainder(x, y)]


@_reg("Identity", "Dropout")
def _identity(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    if len(xs) > 2 and xs[2] is not None and bool(ctx.scalar(xs[2])):
        raise OnnxUnsupported("Dropout with training_mode=True (import is for inference)")
    return [xs[0], fn.ones_like(xs[0], dtype=_bool())]


def _bool() -> DType:
    from ..types.dtype import bool_
    return bool_


def _int64() -> DType:
    from ..types.dtype import int64
    return int64


@_reg("IsInf")
def _isinf(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    out = fn.isinf(x)
    if not a.get("detect_negative", 1):
        out = fn.logical_and(out, fn.gt(x, 0))
    if not a.get("detect_positive", 1):
        out = fn.logical_and(out, fn.lt(x, 0))
    return [out]


@_reg("LeakyRelu")
def _leaky(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    return [F.leaky_relu(xs[0], float(a.get("alpha", 0.01)))]


@_reg("Elu")
def _elu(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    return [F.elu(xs[0], float(a.get("alpha", 1.0)))]


@_reg("Selu")
def _selu(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    alpha = float(a.get("alpha", 1.67326319217681884765625))
    gamma = float(a.get("gamma", 1.05070102214813232421875))
    x = xs[0]
    return [fn.mul(fn.where(fn.gt(x, 0), x, fn.mul(fn.expm1(fn.minimum(x, fn.zeros_like(x))),
                                                   alpha)), gamma)]


@_reg("HardSigmoid")
def _hardsigmoid(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    alpha, beta = float(a.get("alpha", 0.2)), float(a.get("beta", 0.5))
    return [fn.clamp(fn.add(fn.mul(xs[0], alpha), beta), 0.0, 1.0)]


@_reg("HardSwish")
def _hardswish(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    return [F.hardswish(xs[0])]


@_reg("Softplus")
def _softplus(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    return [F.softplus(xs[0])]


@_reg("PRelu")
def _prelu(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x, slope = xs
    return [fn.where(fn.lt(x, 0), fn.mul(x, slope), x)]


@_reg("ThresholdedRelu")
def _thresholded(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    return [fn.where(fn.gt(x, float(a.get("alpha", 1.0))), x, fn.zeros_like(x))]


@_reg("Where")
def _where(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    return [fn.where(xs[0], xs[1], xs[2])]


def _fold(f: Callable[[Any, Any], Tensor]) -> Importer:
    def run(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
        out = xs[0]
        for x in xs[1:]:
            out = f(out, x)
        return [out]
    return run


IMPORTERS["Max"] = _fold(fn.maximum)
IMPORTERS["Min"] = _fold(fn.minimum)
IMPORTERS["Sum"] = _fold(fn.add)


@_reg("Mean")
def _mean_n(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    return [fn.div(_fold(fn.add)(ctx, xs, a)[0], len(xs))]


@_reg("Clip")
def _clip(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    if ctx.opset < 11:
        lo: Any = a.get("min", -3.4028234663852886e38)
        hi: Any = a.get("max", 3.4028234663852886e38)
    else:
        lo = xs[1] if len(xs) > 1 else None
        hi = xs[2] if len(xs) > 2 else None
        lo = None if lo is None else ctx.scalar(lo)
        hi = None if hi is None else ctx.scalar(hi)
    if lo is None and hi is None:
        return [x]
    return [fn.clamp(x, lo, hi)]


@_reg("Cast")
def _cast(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    return [fn.cast(xs[0], dtype=onnx_to_dtype(int(a["to"])))]


@_reg("CastLike")
def _cast_like(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    return [fn.cast(xs[0], dtype=xs[1].dtype)]


# -- linear algebra, conv, pooling ----------------------------------------------------------------
@_reg("Gemm")
def _gemm(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    A, B = xs[0], xs[1]
    C = xs[2] if len(xs) > 2 else None
    if a.get("transA", 0):
        A = fn.transpose(A, 0, 1)
    if a.get("transB", 0):
        B = fn.transpose(B, 0, 1)
    out = fn.matmul(A, B)
    alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
    if alpha != 1.0:
        out = fn.mul(out, alpha)
    if C is not None:
        out = fn.add(out, C if beta == 1.0 else fn.mul(C, beta))
    return [out]


def _spatial(a: dict[str, Any], x: Tensor, kernel: Sequence[int], op: str
             ) -> tuple[int, list[int], list[int], list[int]]:
    """(n spatial dims, strides, pads before then after, dilations) of a conv node."""
    n = x.ndim - 2
    if n not in (1, 2):
        raise OnnxUnsupported(f"{op} over {n} spatial dims (1 or 2 are supported)")
    strides = list(a.get("strides", [1] * n))
    dil = list(a.get("dilations", [1] * n))
    auto = _text(a.get("auto_pad", "NOTSET"))
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        small, big = [], []
        for i in range(n):
            size = int(x.shape[2 + i])
            out = -(-size // strides[i])
            total = max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1 - size)
            small.append(total // 2)
            big.append(total - total // 2)
        return n, strides, small + big if auto == "SAME_UPPER" else big + small, dil
    if auto == "VALID":
        return n, strides, [0] * (2 * n), dil
    return n, strides, [int(v) for v in a.get("pads", [0] * (2 * n))], dil


def _zero_pad(x: Tensor, begin: Sequence[int], end: Sequence[int]) -> Tensor:
    """``x`` with zeros added before/after each spatial dim (asymmetric conv padding)."""
    for i, (lo, hi) in enumerate(zip(begin, end)):
        ax = 2 + i
        parts = []
        for amount in (lo, hi):
            shape = list(x.shape)
            shape[ax] = amount
            _check_size(shape, "Conv (its padding)")
            parts.append(fn.zeros(shape, dtype=x.dtype))
        if lo or hi:
            x = fn.cat([parts[0], x, parts[1]], dim=ax)
    return x


@_reg("Conv")
def _conv(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x, w = xs[0], xs[1]
    b = xs[2] if len(xs) > 2 else None
    kernel = list(a.get("kernel_shape", w.shape[2:]))
    n, s, p, d = _spatial(a, x, kernel, "Conv")
    if min(s + d, default=1) < 1 or min(p, default=0) < 0:
        raise OnnxUnsupported(f"Conv: strides {s} and dilations {d} must be >= 1, pads {p} "
                              ">= 0")
    out = [(x.shape[2 + i] + p[i] + p[i + n] - d[i] * (int(kernel[i]) - 1) - 1) // s[i] + 1
           for i in range(n)]
    # the kernel copies each window into columns (im2col): C * prod(kernel) * prod(out) per
    # batch item, a transient far larger than the result when pads and kernel are large
    current().shape([x.shape[0], x.shape[1], *[int(k) for k in kernel], *out],
                    f"Conv: its columns (kernel {kernel}, pads {p})")
    if p[:n] != p[n:]:  # asymmetric (e.g. SAME with an odd total): pad explicitly first
        x, p = _zero_pad(x, p[:n], p[n:]), [0] * (2 * n)
    f = fn.conv1d if n == 1 else fn.conv2d
    return [f(x, w, b, stride=tuple(s), padding=tuple(p[:n]), dilation=tuple(d),
              groups=int(a.get("group", 1)))]


@_reg("GlobalAveragePool")
def _gap(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    return [fn.mean(x, dim=tuple(range(2, x.ndim)), keepdim=True)]


@_reg("GlobalMaxPool")
def _gmp(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    return [fn.amax(x, dim=tuple(range(2, x.ndim)), keepdim=True)]


@_reg("BatchNormalization")
def _bn(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    if a.get("training_mode", 0):
        raise OnnxUnsupported("BatchNormalization with training_mode=1")
    x, scale, bias, mean, var = xs[:5]
    return [F.batch_norm(x, mean, var, scale, bias, training=False,
                         eps=float(a.get("epsilon", 1e-5)))]


# -- softmax ----------------------------------------------------------------------------------------
def _softmax_family(f: Callable[..., Tensor]) -> Importer:
    def run(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
        x = xs[0]
        if ctx.opset >= 13:
            return [f(x, dim=int(a.get("axis", -1)))]
        axis = int(a.get("axis", 1)) % max(x.ndim, 1)
        flat = fn.flatten(x, axis) if axis > 0 else fn.unsqueeze(fn.flatten(x), 0)
        if axis > 1:
            flat = fn.flatten(flat, 0, axis - 1)
        return [fn.reshape(f(flat, dim=-1), x.shape)]
    return run


IMPORTERS["Softmax"] = _softmax_family(F.softmax)
IMPORTERS["LogSoftmax"] = _softmax_family(F.log_softmax)


# -- shaping ----------------------------------------------------------------------------------------
@_reg("Flatten")
def _flatten(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    axis = int(a.get("axis", 1))
    axis = axis + x.ndim if axis < 0 else axis
    if axis == 0:
        return [fn.unsqueeze(fn.flatten(x), 0)]
    out = fn.flatten(x, axis) if axis < x.ndim else fn.unsqueeze(x, -1)
    return [fn.flatten(out, 0, axis - 1)]


@_reg("Reshape")
def _reshape(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    shape = ctx.ints(xs[1]) if ctx.opset >= 5 else list(a["shape"])
    if not a.get("allowzero", 0):
        shape = [x.shape[i] if v == 0 else v for i, v in enumerate(shape)]
    return [fn.reshape(x, shape)]


@_reg("Transpose")
def _transpose(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    perm = a.get("perm", list(range(x.ndim))[::-1])
    return [fn.permute(x, list(perm))]


def _axes(ctx: ImportContext, xs: list[Any], a: dict[str, Any], since: int) -> list[int] | None:
    """Axes from the attribute (opset < since) or the second input."""
    if ctx.opset >= since:
        return ctx.ints(xs[1]) if len(xs) > 1 and xs[1] is not None else None
    v = a.get("axes")
    return None if v is None else [int(i) for i in v]


@_reg("Squeeze")
def _squeeze(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    axes = _axes(ctx, xs, a, 13)
    return [fn.squeeze(xs[0], None if axes is None else tuple(axes))]


@_reg("Unsqueeze")
def _unsqueeze(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    axes = _axes(ctx, xs, a, 13) or []
    rank = x.ndim + len(axes)
    for ax in sorted(v + rank if v < 0 else v for v in axes):
        x = fn.unsqueeze(x, ax)
    return [x]


@_reg("Concat")
def _concat(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    return [fn.cat([x for x in xs if x is not None], dim=int(a["axis"]))]


@_reg("Split")
def _split(ctx: ImportContext, xs: list[Any], a: dict[str, Any], ) -> list[Any]:
    x = xs[0]
    axis = int(a.get("axis", 0))
    sizes: list[int] | None
    if ctx.opset >= 13:
        sizes = ctx.ints(xs[1]) if len(xs) > 1 and xs[1] is not None else None
    else:
        sizes = list(a["split"]) if "split" in a else None
    if sizes is None:
        n = int(a.get("num_outputs", a.get("_n_outputs", 1)))
        dim = int(x.shape[axis])
        size = -(-dim // n)
        sizes = [min(size, dim - i * size) for i in range(n)]
    return list(fn.split(x, sizes, axis))


@_reg("Expand")
def _expand(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    shape = ctx.ints(xs[1])
    _check_size([v if isinstance(v, Dim) or v >= 0 else 0 for v in shape], "Expand")
    rank = max(len(shape), x.ndim)
    full = [1] * (rank - len(shape)) + shape
    # ONNX Expand broadcasts both ways: a 1 keeps the input's dim (-1 in our expand)
    size = [-1 if v == 1 and i >= rank - x.ndim else v for i, v in enumerate(full)]
    if x.ndim < rank:
        x = fn.reshape(x, [1] * (rank - x.ndim) + list(x.shape))
    return [fn.expand(x, size)]


@_reg("Tile")
def _tile(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    reps = ctx.ints(xs[1])
    x = xs[0]
    _check_size([int(d) * r for d, r in zip(x.shape, reps)] if len(reps) == x.ndim else reps,
                "Tile")
    return [fn.repeat(x, reps)]


@_reg("Gather")
def _gather(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x, idx = xs
    axis = int(a.get("axis", 0)) % x.ndim
    n = int(x.shape[axis])
    raw = ctx.array(idx).astype(np.int64)
    norm = np.where(raw < 0, raw + n, raw)
    flat = fn.index_select(x, axis, fn.tensor(norm.reshape(-1)))
    shape = list(x.shape[:axis]) + list(raw.shape) + list(x.shape[axis + 1:])
    return [fn.reshape(flat, shape)]


@_reg("GatherElements")
def _gather_elements(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x, idx = xs
    axis = int(a.get("axis", 0)) % x.ndim
    raw = ctx.array(idx).astype(np.int64)
    raw = np.where(raw < 0, raw + int(x.shape[axis]), raw)
    return [fn.gather(x, axis, fn.tensor(raw))]


@_reg("Slice")
def _slice(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    if ctx.opset >= 10:
        starts, ends = ctx.ints(xs[1]), ctx.ints(xs[2])
        axes = ctx.ints(xs[3]) if len(xs) > 3 and xs[3] is not None else list(range(len(starts)))
        steps = ctx.ints(xs[4]) if len(xs) > 4 and xs[4] is not None else [1] * len(starts)
    else:
        starts, ends = list(a["starts"]), list(a["ends"])
        axes = list(a.get("axes", range(len(starts))))
        steps = [1] * len(starts)
    index: list[Any] = [slice(None)] * x.ndim
    negative: list[tuple[int, list[int]]] = []
    for s, e, ax, st in zip(starts, ends, axes, steps):
        ax = ax % x.ndim
        if st > 0:
            index[ax] = slice(s, e, st)
        else:
            negative.append((ax, list(range(*slice(s, e, st).indices(int(x.shape[ax]))))))
    out = fn.getitem(x, tuple(index))
    for ax, picks in negative:
        out = fn.index_select(out, ax, fn.tensor(np.asarray(picks, dtype=np.int64)))
    return [out]


@_reg("Shape")
def _shape(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    dims = list(xs[0].shape)
    start = a.get("start", 0)
    end = a.get("end", None)
    return [fn.tensor(np.asarray(dims[slice(start, end)], dtype=np.int64))]


@_reg("Size")
def _size(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    return [fn.tensor(np.asarray(xs[0].numel(), dtype=np.int64))]


@_reg("ConstantOfShape")
def _const_of_shape(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    shape = ctx.ints(xs[0])
    value = a.get("value")
    arr = np.zeros(1, np.float32) if value is None else np.asarray(value).reshape(-1)
    dtype = from_numpy_dtype(arr.dtype)
    if any(isinstance(v, Dim) for v in shape):  # traced: zeros over a symbolic size, recorded
        z = fn.zeros(shape, dtype=dtype)
        return [z if arr[0] == 0 else fn.add(z, arr[0].item())]
    _check_size(shape, "ConstantOfShape")
    return [fn.full(shape, arr[0].item(), dtype=dtype)]


MAX_ELEMENTS = DEFAULT_LIMITS.max_elements
"""The default element budget of one run (``ImportLimits.max_elements``, see ``_budget``)."""


def _check_size(shape: Sequence[Any], op: str) -> None:
    """Refuse, before allocating, a result shape read from the file's data that is negative
    or does not fit in what is left of the run's element budget (sizes still symbolic while
    tracing are left to the shape rules)."""
    if any(isinstance(v, Dim) for v in shape):
        return
    if any(v < 0 for v in shape):
        raise OnnxUnsupported(f"{op}: negative size in shape {list(shape)}")
    current().shape([int(v) for v in shape], f"{op}: shape {list(shape)[:8]}"
                    f"{'...' if len(shape) > 8 else ''}")


@_reg("Range")
def _range(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    start, limit, delta = (ctx.scalar(t) for t in xs)
    if delta == 0:
        raise OnnxUnsupported("Range with delta 0")
    n = max(int(np.ceil((limit - start) / delta)), 0)
    dtype = xs[0].dtype
    if not dtype.is_floating_point:  # exact, and one allocation (arange's float64 index,
        _check_size([n], "Range")     # product and sum would peak at 4x the result)
        values = np.arange(n, dtype=np.int64)
        values *= int(delta)
        values += int(start)
        return [fn.from_numpy(values.astype(dtype.np_dtype, copy=False))]
    # floats go through arange (its rounding), whose float64 temporaries count as room
    _check_size([n, 3], "Range (with its float64 temporaries)")
    return [fn.arange(start, limit, delta, dtype=dtype)]


# -- reductions --------------------------------------------------------------------------------------
def _reduce(f: Callable[..., Tensor], since: int, empty: str | None = None) -> Importer:
    def run(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
        x = xs[0]
        axes = _axes(ctx, xs, a, since)
        keep = bool(a.get("keepdims", 1))
        if not axes:
            if a.get("noop_with_empty_axes", 0):
                return [x]
            axes = list(range(x.ndim))
        if x.ndim == 0:
            return [x]
        if empty is not None and any(int(x.shape[d]) == 0 for d in axes):
            # ONNX reduces an empty set to the reduction's identity (-inf for max, ...)
            dims = {d % x.ndim for d in axes}
            shape = [1 if i in dims else int(n) for i, n in enumerate(x.shape) if keep or
                     i not in dims]
            return [fn.full(shape, _identity_value(x.dtype, empty), dtype=x.dtype)]
        return [f(x, tuple(axes), keep)]
    return run


def _identity_value(dtype: DType, which: str) -> Any:
    """The identity of max ('low') or min ('high') in ``dtype``."""
    if dtype.is_bool:
        return which == "high"
    if dtype.is_floating_point:
        return float("-inf") if which == "low" else float("inf")
    info = np.iinfo(dtype.np_dtype)
    return int(info.min) if which == "low" else int(info.max)


IMPORTERS["ReduceSum"] = _reduce(lambda x, d, k: fn.sum(x, d, k), 13)
IMPORTERS["ReduceMean"] = _reduce(lambda x, d, k: fn.mean(x, d, k), 18)
IMPORTERS["ReduceMax"] = _reduce(lambda x, d, k: fn.amax(x, d, k), 18, "low")
IMPORTERS["ReduceMin"] = _reduce(lambda x, d, k: fn.amin(x, d, k), 18, "high")
IMPORTERS["ReduceProd"] = _reduce(lambda x, d, k: fn.prod(x, d[0], k) if len(d) == 1
                                  else _prod_many(x, d, k), 18)
IMPORTERS["ReduceSumSquare"] = _reduce(lambda x, d, k: fn.sum(fn.mul(x, x), d, k), 18)
IMPORTERS["ReduceL1"] = _reduce(lambda x, d, k: fn.sum(fn.abs(x), d, k), 18)
IMPORTERS["ReduceL2"] = _reduce(lambda x, d, k: fn.sqrt(fn.sum(fn.mul(x, x), d, k)), 18)
IMPORTERS["ReduceLogSum"] = _reduce(lambda x, d, k: fn.log(fn.sum(x, d, k)), 18)
IMPORTERS["ReduceLogSumExp"] = _reduce(lambda x, d, k: fn.logsumexp(x, d, k), 18)


def _prod_many(x: Tensor, dims: Sequence[int], keep: bool) -> Tensor:
    for d in sorted((v % x.ndim for v in dims), reverse=True):
        x = fn.prod(x, d, keep)
    return x




@_reg("CumSum")
def _cumsum(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    axis = int(ctx.scalar(xs[1])) % x.ndim
    rev = bool(a.get("reverse", 0))
    if rev:
        x = fn.flip(x, [axis])
    out = fn.cumsum(x, axis)
    if a.get("exclusive", 0):
        out = fn.sub(out, x)
    return [fn.flip(out, [axis]) if rev else out]


@_reg("Einsum")
def _einsum(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    eq = a["equation"]
    return [fn.einsum(eq.decode() if isinstance(eq, bytes) else eq, *xs)]


# -- more activations and normalisations ------------------------------------------------------------
@_reg("Gelu")
def _gelu(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    approx = a.get("approximate", b"none")
    return [F.gelu(xs[0], approx.decode() if isinstance(approx, bytes) else str(approx))]


@_reg("Celu")
def _celu(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    return [F.celu(xs[0], float(a.get("alpha", 1.0)))]


@_reg("Mish")
def _mish(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    return [F.mish(xs[0])]


@_reg("Swish")
def _swish(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    return [fn.mul(x, fn.sigmoid(fn.mul(x, float(a.get("alpha", 1.0)))))]


@_reg("Shrink")
def _shrink(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    lambd, bias = float(a.get("lambd", 0.5)), float(a.get("bias", 0.0))
    zero = fn.zeros_like(x)
    out = fn.where(fn.lt(x, -lambd), fn.add(x, bias),
                   fn.where(fn.gt(x, lambd), fn.sub(x, bias), zero))
    return [fn.cast(out, dtype=x.dtype)]


def _normalise(x: Tensor, dims: tuple[int, ...], eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """(normalised x, mean, 1/std) over ``dims`` (population variance)."""
    mean = fn.mean(x, dims, True)
    centred = fn.sub(x, mean)
    inv = fn.rsqrt(fn.add(fn.mean(fn.mul(centred, centred), dims, True), eps))
    return fn.mul(centred, inv), mean, inv


@_reg("LayerNormalization")
def _layer_norm(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    axis = int(a.get("axis", -1)) % x.ndim
    y, mean, inv = _normalise(x, tuple(range(axis, x.ndim)), float(a.get("epsilon", 1e-5)))
    if len(xs) > 1 and xs[1] is not None:
        y = fn.mul(y, xs[1])
    if len(xs) > 2 and xs[2] is not None:
        y = fn.add(y, xs[2])
    return [y, mean, inv]


@_reg("InstanceNormalization")
def _instance_norm(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x, scale, bias = xs
    y, _, _ = _normalise(x, tuple(range(2, x.ndim)), float(a.get("epsilon", 1e-5)))
    shape = [-1] + [1] * (x.ndim - 2)
    return [fn.add(fn.mul(y, fn.reshape(scale, shape)), fn.reshape(bias, shape))]


@_reg("MeanVarianceNormalization")
def _mvn(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    y, _, _ = _normalise(x, tuple(a.get("axes", [0, 2, 3])), 1e-9)
    return [y]


def _arg_last(f: Callable[..., Tensor]) -> Importer:
    def run(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
        x = xs[0]
        axis = int(a.get("axis", 0)) % x.ndim
        keep = bool(a.get("keepdims", 1))
        if a.get("select_last_index", 0):
            idx = f(fn.flip(x, [axis]), axis, keep)
            return [fn.sub(int(x.shape[axis]) - 1, idx)]
        return [f(x, axis, keep)]
    return run


IMPORTERS["ArgMax"] = _arg_last(fn.argmax)
IMPORTERS["ArgMin"] = _arg_last(fn.argmin)


@_reg("Pad")
def _pad(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    """Every mode as a gather of source indices per padded axis (negative pads crop):
    ``constant`` then fills the positions that fall outside the input."""
    x = xs[0]
    mode = _text(a.get("mode", "constant"))
    if mode not in ("constant", "edge", "reflect", "wrap"):
        raise OnnxUnsupported(f"Pad mode={mode!r}")
    if ctx.opset >= 11:
        pads = ctx.ints(xs[1])
        value = ctx.scalar(xs[2]) if len(xs) > 2 and xs[2] is not None else 0
        axes = ctx.ints(xs[3]) if len(xs) > 3 and xs[3] is not None else list(range(x.ndim))
    else:
        pads, value, axes = list(a["pads"]), a.get("value", 0.0), list(range(x.ndim))
    n = len(axes)
    if len(pads) != 2 * n:
        raise OnnxUnsupported(f"Pad: {len(pads)} pads for {n} axes (expected {2 * n})")
    out_shape = [int(v) for v in x.shape]
    for i, ax in enumerate(axes):
        out_shape[ax % x.ndim] += pads[i] + pads[i + n]
    _check_size(out_shape, "Pad")
    for i, ax in enumerate(axes):
        ax %= x.ndim
        size = int(x.shape[ax])
        src = np.arange(out_shape[ax], dtype=np.int64) - pads[i]
        inside = (src >= 0) & (src < size)
        if inside.all() and len(src) == size:
            continue
        if size == 0:
            raise OnnxUnsupported(f"Pad mode={mode!r} of an empty axis {ax}")
        if mode == "reflect" and size > 1:
            period = 2 * size - 2
            src = src % period
            src = np.where(src >= size, period - src, src)
        elif mode == "wrap":
            src = src % size
        y = fn.index_select(x, ax, fn.tensor(np.clip(src, 0, size - 1)))
        if mode == "constant" and not inside.all():
            shape = [1] * x.ndim
            shape[ax] = len(src)
            y = fn.where(fn.tensor(inside.reshape(shape)), y, fn.full([], value, dtype=x.dtype))
        x = y
    return [x]


@_reg("Trilu")
def _trilu(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    k = int(ctx.scalar(xs[1])) if len(xs) > 1 and xs[1] is not None else 0
    rows, cols = int(x.shape[-2]), int(x.shape[-1])
    if a.get("upper", 1):
        mask = ~np.tri(rows, cols, k - 1, dtype=bool)
    else:
        mask = np.tri(rows, cols, k, dtype=bool)
    return [fn.where(fn.tensor(mask), x, fn.zeros_like(x))]


@_reg("EyeLike")
def _eye_like(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    x = xs[0]
    dtype = onnx_to_dtype(int(a["dtype"])) if "dtype" in a else x.dtype
    eye = np.eye(int(x.shape[0]), int(x.shape[1]), int(a.get("k", 0)))
    return [fn.tensor(eye.astype(dtype.np_dtype))]
