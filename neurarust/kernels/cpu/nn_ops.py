"""numpy kernels for :mod:`neurarust.ops.nn_ops`."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ops.registry import kernel

Array = np.ndarray  # type: ignore[type-arg]

# Cephes' rational approximations (ndtr.c): erf on |x| < 1, erfc beyond, each accurate to
# a few float64 ulps. Evaluated in float64 whatever the input dtype.
_T = (9.60497373987051638749e0, 9.00260197203842689217e1, 2.23200534594684319226e3,
      7.00332514112805075473e3, 5.55923013010394962768e4)
_U = (1.0, 3.35617141647503099647e1, 5.21357949780152679795e2, 4.59432382970980127987e3,
      2.26290000613890934246e4, 4.92673942608635921086e4)
_P = (2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0,
      4.86371970985681366614e1, 1.96520832956077098242e2, 5.26445194995477358631e2,
      9.34528527171957607540e2, 1.02755188689515710272e3, 5.57535335369399327526e2)
_Q = (1.0, 1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2,
      9.75708501743205489753e2, 1.82390916687909736289e3, 2.24633760818710981792e3,
      1.65666309194161350182e3, 5.57535340817727675546e2)
_R = (5.64189583547755073984e-1, 1.27536670759978104416e0, 5.01905042251180477414e0,
      6.16021097993053585195e0, 7.40974269950448939160e0, 2.97886665372100240670e0)
_S = (1.0, 2.26052863220117276590e0, 9.39603524938001434673e0, 1.20489539808096656605e1,
      1.70814450747565897222e1, 9.60896809063285878198e0, 3.36907645100081516050e0)


def _polyval(coefs: tuple[float, ...], x: Array) -> Array:
    out = np.full_like(x, coefs[0])
    for c in coefs[1:]:
        out = out * x + c
    return out


def _erfc_large(a: Array) -> Array:
    """erfc(a) for a >= 1."""
    small = a < 8.0
    p = np.where(small, _polyval(_P, a), _polyval(_R, a))
    q = np.where(small, _polyval(_Q, a), _polyval(_S, a))
    return np.exp(-a * a) * p / q  # type: ignore[no-any-return]


@kernel("erf", backend="cpu")
def erf(x: Array) -> Any:
    x64 = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        a = np.abs(x64)
        inner = a < 1.0
        z = x64 * x64
        near = x64 * _polyval(_T, z) / _polyval(_U, z)
        far = np.sign(x64) * (1.0 - _erfc_large(np.clip(a, 1.0, 30.0)))  # erfc(30) underflows
        out = np.where(inner, near, far)
    return out.astype(x.dtype, copy=False) if x.dtype.kind == "f" else out


@kernel("log_softmax", backend="cpu")
def log_softmax(x: Array, *, dim: int) -> Any:
    if x.ndim == 0:
        return np.zeros_like(x)
    with np.errstate(all="ignore"):
        top = np.max(x, axis=dim, keepdims=True)
        top = np.where(np.isfinite(top), top, 0)  # rows of -inf give nan, as PyTorch
        shifted = x - top
        return shifted - np.log(np.sum(np.exp(shifted), axis=dim, keepdims=True))


def _targets(t: Array, classes: int, ignore_index: int, weight: Array | None,
             dtype: Any) -> tuple[Array, Array]:
    """(safe class indices, per-target weights): ignored targets read class 0 with weight 0;
    any other target outside [0, classes) is an IndexError, as PyTorch."""
    valid = t != ignore_index
    bad = valid & ((t < 0) | (t >= classes))
    if bad.any():
        raise IndexError(f"nll_loss: target {int(t[bad].flat[0])} is out of bounds for "
                         f"{classes} classes")
    safe = np.where(valid, t, 0)
    w = valid.astype(dtype) if weight is None else weight[safe] * valid
    return safe, w


@kernel("nll_loss", backend="cpu")
def nll_loss(x: Array, t: Array, weight: Array | None, *, ignore_index: int,
             reduction: str) -> Any:
    class_dim = 0 if x.ndim == 1 else 1
    safe, w = _targets(t, x.shape[class_dim], ignore_index, weight, x.dtype)
    picked = np.take_along_axis(x, np.expand_dims(safe, class_dim), class_dim)
    loss = -np.squeeze(picked, class_dim) * w
    if reduction == "none":
        return loss
    total = loss.sum(dtype=x.dtype)
    if reduction == "sum":
        return total
    with np.errstate(all="ignore"):  # every target ignored: 0 / 0 = nan, as PyTorch
        return total / w.sum(dtype=x.dtype)


@kernel("nll_loss_backward", backend="cpu")
def nll_loss_backward(g: Array, t: Array, weight: Array | None, *, classes: int,
                      ignore_index: int, reduction: str) -> Any:
    class_dim = 0 if t.ndim == 0 else 1
    safe, w = _targets(t, classes, ignore_index, weight, g.dtype)
    with np.errstate(all="ignore"):
        coef = -g * w / w.sum(dtype=g.dtype) if reduction == "mean" else -g * w
    shape = (classes,) if t.ndim == 0 else (t.shape[0], classes) + t.shape[1:]
    out = np.zeros(shape, dtype=g.dtype)
    np.put_along_axis(out, np.expand_dims(safe, class_dim),
                      np.expand_dims(np.asarray(coef, dtype=g.dtype), class_dim), class_dim)
    return out


@kernel("log_softmax_backward", backend="cpu")
def log_softmax_backward(g: Array, y: Array, *, dim: int) -> Any:
    if y.ndim == 0:
        return np.zeros_like(g)
    return g - np.exp(y) * np.sum(g, axis=dim, keepdims=True)


_SAME_SIZE_UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


@kernel("threshold_backward", backend="cpu")
def threshold_backward(g: Array, x: Array, *, threshold: float) -> Array:
    """``g`` where ``x > threshold``, else +0.0, bit for bit as ``np.where`` (a nan or inf
    in ``g`` is kept or zeroed like any value), computed as ``g``'s bits AND an all-ones or
    all-zeros mask: branch-free, where ``np.where`` on a random mask mispredicts (~10x)."""
    keep = x > threshold
    uint = _SAME_SIZE_UINT.get(g.dtype.itemsize)
    if uint is None or g.dtype.kind != "f":
        return np.where(keep, g, np.zeros((), dtype=g.dtype))
    mask = keep.view(np.uint8).astype(uint)
    np.negative(mask, out=mask)  # 1 -> all ones, 0 -> 0
    out: Array = np.bitwise_and(g.view(uint), mask, out=mask).view(g.dtype)
    return out
