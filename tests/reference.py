"""One helper for reference comparisons of ops: numpy float64, finite differences, PyTorch.

Write an op case once as ``fn(lib, *tensors)`` where ``lib`` is ``neurarust`` or ``torch``
(the APIs share names), plus a numpy float64 reference, and :func:`check_op` runs:

1. forward vs numpy float64 (values, shape, and the dtype PyTorch's promotion gives);
2. gradients vs central finite differences (``gradcheck``) for float inputs;
3. forward and gradients vs PyTorch, when torch is installed.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

import neurarust as nr

try:  # PyTorch is an optional oracle
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    torch = None

HAS_TORCH = torch is not None

NrFn = Callable[..., Any]


def to_nr(a: np.ndarray, requires_grad: bool = False) -> nr.Tensor:
    t = nr.tensor(a, dtype=nr.types.dtype.from_numpy_dtype(a.dtype))
    return t.requires_grad_(True) if requires_grad else t


def _as_list(out: Any) -> list[Any]:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def check_op(
    fn: NrFn,
    inputs: Sequence[np.ndarray],
    reference: Callable[..., Any] | None = None,
    *,
    grad: bool = True,
    torch_check: bool = True,
    atol: float = 1e-6,
    rtol: float = 1e-6,
    grad_atol: float = 1e-5,
    grad_rtol: float = 1e-3,
) -> None:
    """Check ``fn(nr, *tensors)`` against numpy, finite differences and ``fn(torch, ...)``."""
    arrays = [np.asarray(a) for a in inputs]
    float_pos = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    tensors = [to_nr(a) for a in arrays]
    outs = _as_list(fn(nr, *tensors))
    if reference is not None:
        expected = _as_list(reference(*arrays))
        assert len(outs) == len(expected), f"{len(outs)} outputs, reference has {len(expected)}"
        for o, e in zip(outs, expected):
            e = np.asarray(e)
            assert o.shape == e.shape, f"shape {o.shape} != reference {e.shape}"
            np.testing.assert_allclose(o.numpy().astype(np.float64) if o.dtype.is_floating_point
                                       else o.numpy(), e, atol=atol, rtol=rtol)
    if grad and float_pos:
        grad_inputs = [to_nr(a.astype(np.float64), requires_grad=i in float_pos)
                       if a.dtype.kind == "f" else to_nr(a) for i, a in enumerate(arrays)]
        nr.autograd.gradcheck(lambda *xs: fn(nr, *xs), grad_inputs, atol=grad_atol,
                              rtol=grad_rtol)
    if HAS_TORCH and torch_check:
        _check_torch(fn, arrays, float_pos, grad, atol, rtol)


def _check_torch(fn: NrFn, arrays: list[np.ndarray], float_pos: list[int], grad: bool,
                 atol: float, rtol: float) -> None:
    assert torch is not None
    nr_in = [to_nr(a, requires_grad=grad and i in float_pos) for i, a in enumerate(arrays)]
    th_in = [torch.tensor(a, requires_grad=grad and i in float_pos) for i, a in enumerate(arrays)]
    nr_out = _as_list(fn(nr, *nr_in))
    th_out = _as_list(fn(torch, *th_in))
    assert len(nr_out) == len(th_out)
    for o, t in zip(nr_out, th_out):
        assert tuple(o.shape) == tuple(t.shape), f"shape {o.shape} != torch {tuple(t.shape)}"
        assert o.dtype.name == str(t.dtype).removeprefix("torch."), \
            f"dtype {o.dtype.name} != torch {t.dtype}"
        np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), atol=atol, rtol=rtol)
    if not grad or not float_pos:
        return
    rng = np.random.default_rng(0)
    diff = [(o, t) for o, t in zip(nr_out, th_out) if o.requires_grad]
    if not diff:
        return
    weights = [rng.standard_normal(o.shape) for o, _ in diff]
    nr_g = nr.autograd.grad([o for o, _ in diff], [nr_in[i] for i in float_pos],
                            [to_nr(w.astype(o.dtype.np_dtype)) for (o, _), w in zip(diff, weights)],
                            allow_unused=True)
    th_g = torch.autograd.grad([t for _, t in diff], [th_in[i] for i in float_pos],
                               [torch.tensor(w, dtype=t.dtype) for (_, t), w in zip(diff, weights)],
                               allow_unused=True)
    for k, (a, b) in enumerate(zip(nr_g, th_g)):
        if b is None:
            assert a is None or not np.any(a.numpy()), f"input {float_pos[k]}: torch has no grad"
            continue
        assert a is not None, f"input {float_pos[k]}: no gradient, torch has one"
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=max(atol, 1e-6), rtol=max(rtol, 1e-5),
                                   err_msg=f"gradient of input {float_pos[k]} vs torch")


def random_array(rng: np.random.Generator, shape: Sequence[int], dtype: Any = np.float64,
                 low: float = -2.0, high: float = 2.0) -> np.ndarray:
    """Random values of ``dtype`` (floats uniform in [low, high), ints in [low, high])."""
    if np.dtype(dtype).kind == "f":
        return rng.uniform(low, high, size=tuple(shape)).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return rng.random(tuple(shape)) < 0.5
    return rng.integers(int(low), int(high) + 1, size=tuple(shape)).astype(dtype)
