"""Numerical gradient checks: analytic VJPs against central finite differences in float64."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

if TYPE_CHECKING:
    from ..tensor import Tensor

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    """Analytic and numerical gradients disagree (the message names input and element)."""


def _outputs(fn: Callable[..., Any], inputs: Sequence[Any]) -> list[Tensor]:
    from ..tensor import Tensor

    out = fn(*inputs)
    return [out] if isinstance(out, Tensor) else [o for o in out if isinstance(o, Tensor)]


def _numerical(fn: Callable[..., Any], inputs: Sequence[Any], i: int, eps: float,
               weights: list[np.ndarray]) -> np.ndarray:  # type: ignore[type-arg]
    """d(sum_k <w_k, out_k>)/d(inputs[i]) by central differences, element by element."""
    x = inputs[i]
    on_host = isinstance(x._data, np.ndarray)
    # inputs are contiguous float64 (checked by the caller); a device input is perturbed in
    # a host copy that is written back before each evaluation
    flat = x._data.reshape(-1) if on_host else _host(x._data).reshape(-1)

    def evaluate() -> float:
        if not on_host:
            x._data.set(flat.reshape(x.shape))
        return sum(float((_host(o._data) * w).sum()) for o, w in zip(_outputs(fn, inputs),
                                                                     weights))

    grad = np.zeros(flat.shape, dtype=np.float64)
    # Grad mode stays on: fn may itself differentiate (gradgradcheck's first-order grads).
    for j in range(flat.size):
        orig = flat[j]
        flat[j] = orig + eps
        plus = evaluate()
        flat[j] = orig - eps
        minus = evaluate()
        flat[j] = orig
        grad[j] = (plus - minus) / (2 * eps)
    if not on_host:
        x._data.set(flat.reshape(x.shape))
    return grad.reshape(x.shape)


def _host(data: Any) -> np.ndarray:  # type: ignore[type-arg]
    """A tensor's data on the host: the array itself on the CPU, a copy from a device."""
    return data if isinstance(data, np.ndarray) else np.asarray(data.get())


def _weight(w: np.ndarray, like: Tensor, cast: bool = True) -> Tensor:  # type: ignore[type-arg]
    """A random output weight as a tensor on ``like``'s device (in its dtype if ``cast``)."""
    from ..functions.creation import from_numpy

    t = from_numpy(w.astype(like.dtype.np_dtype) if cast else w)
    return t if like.device.backend == "cpu" else t.to(like.device)


def gradcheck(fn: Callable[..., Any], inputs: Sequence[Any], *, eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True,
              seed: int = 0) -> bool:
    """Check ``fn``'s gradients for every float64 input that requires grad.

    The outputs are contracted with random weights (so every output element matters), and
    the analytic VJP is compared with central finite differences.
    """
    from .functional import grad

    diff = [i for i, x in enumerate(inputs) if getattr(x, "requires_grad", False)]
    for i in diff:
        if inputs[i].dtype.name != "float64":
            raise ValueError(f"gradcheck: input {i} is {inputs[i].dtype.name}; use float64 inputs "
                             "(finite differences need the precision)")
        if not inputs[i].is_contiguous():
            raise ValueError(f"gradcheck: input {i} must be contiguous")
    rng = np.random.default_rng(seed)
    outs = _outputs(fn, inputs)
    weights = [rng.standard_normal(o.shape) for o in outs]
    diff_outs = [(o, w) for o, w in zip(outs, weights) if o.requires_grad]
    if not diff_outs:
        raise GradcheckError("gradcheck: no output requires grad")
    analytic = grad([o for o, _ in diff_outs], [inputs[i] for i in diff],
                    [_weight(w, o) for o, w in diff_outs], allow_unused=True)
    for k, i in enumerate(diff):
        a = analytic[k]
        a_np = np.zeros(inputs[i].shape) if a is None else _host(a._data).astype(np.float64)
        n_np = _numerical(fn, inputs, i, eps, weights)
        if not np.allclose(a_np, n_np, atol=atol, rtol=rtol):
            if not raise_exception:
                return False
            j = np.unravel_index(np.argmax(np.abs(a_np - n_np)), a_np.shape) if a_np.ndim else ()
            raise GradcheckError(
                f"gradcheck: gradient of input {i} (shape {list(inputs[i].shape)}) disagrees at "
                f"element {tuple(int(v) for v in j)}: analytic {a_np[j]!r}, numerical {n_np[j]!r}"
            )
    return True


def gradgradcheck(fn: Callable[..., Any], inputs: Sequence[Any], **kwargs: Any) -> bool:
    """Check second derivatives: gradcheck of (inputs -> VJP of fn with a fixed weight)."""
    from .functional import grad

    rng = np.random.default_rng(kwargs.pop("seed", 1))
    outs = _outputs(fn, inputs)
    weights = [_weight(rng.standard_normal(o.shape), o, cast=False) for o in outs]
    diff = [i for i, x in enumerate(inputs) if getattr(x, "requires_grad", False)]

    def first_grads(*xs: Any) -> tuple[Tensor, ...]:
        o = _outputs(fn, xs)
        gs = grad(o, [xs[i] for i in diff], weights, create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(first_grads, inputs, **kwargs)
