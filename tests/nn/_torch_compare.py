"""Compare a neurarust layer with its PyTorch twin in float64: copy torch's initial state into
ours, then check forward values, every parameter gradient, every input gradient, and the
buffers (running statistics) after the step."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import neurarust as nr
import neurarust.nn.functional
from neurarust.nn import (
    activation,
    conv,
    dropout,
    linear,
    loss,
    normalization,
    pooling,
    sparse,
)

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

_MODULES = (activation, conv, dropout, linear, loss, normalization, pooling, sparse)


def layer(name: str) -> Any:
    """The neurarust layer class ``name`` (``nr.nn.<name>`` once the package exports it)."""
    for mod in _MODULES:
        if hasattr(mod, name):
            return getattr(mod, name)
    raise AttributeError(name)


def to_nr(a: np.ndarray, requires_grad: bool = False) -> nr.Tensor:
    t = nr.tensor(a, dtype=nr.types.dtype.from_numpy_dtype(a.dtype))
    return t.requires_grad_(True) if requires_grad else t


def copy_state(ours: Any, theirs: Any) -> None:
    state = {k: to_nr(v.detach().numpy().copy()) for k, v in theirs.state_dict().items()}
    ours.load_state_dict(state)


def assert_close(a: Any, b: Any, what: str, atol: float = 1e-10, rtol: float = 1e-8) -> None:
    a_np = a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)
    b_np = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    assert a_np.shape == b_np.shape, f"{what}: shape {a_np.shape} != torch {b_np.shape}"
    np.testing.assert_allclose(a_np, b_np, atol=atol, rtol=rtol, err_msg=what)


def compare_layer(ours: Any, theirs: Any, inputs: Sequence[np.ndarray], *, steps: int = 1,
                  train: bool = True, atol: float = 1e-10, rtol: float = 1e-8,
                  copy: bool = True, forward_kwargs: dict[str, Any] | None = None) -> None:
    """Run ``steps`` forward/backward passes of both layers on the same inputs (float inputs
    require grad) and compare outputs, input and parameter gradients, and buffers."""
    assert torch is not None
    if copy:
        copy_state(ours, theirs)
    ours.train(train)
    theirs.train(train)
    kwargs = forward_kwargs or {}
    rng = np.random.default_rng(0)
    for step in range(steps):
        nr_in = [to_nr(a, requires_grad=a.dtype.kind == "f") for a in inputs]
        th_in = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
        ours.zero_grad()
        theirs.zero_grad()
        out, expected = ours(*nr_in, **kwargs), theirs(*th_in, **kwargs)
        outs = list(out) if isinstance(out, tuple) else [out]
        exps = list(expected) if isinstance(expected, tuple) else [expected]
        for i, (o, e) in enumerate(zip(outs, exps)):
            assert_close(o, e, f"step {step}: output {i}", atol, rtol)
        diff = [(o, e) for o, e in zip(outs, exps) if e.requires_grad]
        if diff:
            weights = [rng.standard_normal(tuple(e.shape)) for _, e in diff]
            nr_total = sum(((o * to_nr(w)).sum() for (o, _), w in zip(diff, weights)),
                           start=to_nr(np.zeros(())))
            th_total = sum((e * torch.tensor(w)).sum() for (_, e), w in zip(diff, weights))
            nr_total.backward()
            th_total.backward()
            for i, (a, b) in enumerate(zip(nr_in, th_in)):
                if b.grad is not None:
                    assert a.grad is not None, f"input {i}: no gradient, torch has one"
                    assert_close(a.grad, b.grad, f"step {step}: input {i} gradient", atol, rtol)
            th_params = dict(theirs.named_parameters())
            for name, p in ours.named_parameters():
                q = th_params.pop(name)
                if q.grad is None:
                    assert p.grad is None or not np.any(p.grad.numpy()), name
                else:
                    assert p.grad is not None, f"{name}: no gradient, torch has one"
                    assert_close(p.grad, q.grad, f"step {step}: {name}.grad", atol, rtol)
            assert not th_params, f"parameters missing from ours: {sorted(th_params)}"
        th_buffers = dict(theirs.named_buffers())
        for name, buf in ours.named_buffers():
            assert_close(buf, th_buffers.pop(name), f"step {step}: buffer {name}", atol, rtol)
        assert not th_buffers, f"buffers missing from ours: {sorted(th_buffers)}"
