"""In-place ops and autograd: version counters turn misuse into errors, as in PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import neurarust as nr


def test_inplace_on_leaf_requiring_grad_is_an_error() -> None:
    w = nr.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad.*in-place"):
        w += 1.0
    with nr.no_grad():
        w += 1.0  # optimizer-style update
    np.testing.assert_allclose(w.numpy(force=True), [2.0, 2.0, 2.0])


def test_inplace_on_non_leaf_keeps_gradients_right() -> None:
    x = nr.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2.0
    h += 1.0
    h.mul_(3.0)
    h.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])


def test_modifying_a_saved_tensor_is_detected_at_backward() -> None:
    x = nr.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1.0
    y = h * h  # saves h
    h.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_modifying_a_saved_output_is_detected() -> None:
    x = nr.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()  # saves its output
    z = y.sum()
    y.add_(1.0)
    with pytest.raises(RuntimeError, match="the output of exp was saved at version"):
        z.backward()


def test_inplace_bumps_version_shared_by_views() -> None:
    x = nr.zeros(2, 3)
    v = x.view(6)
    assert x._version == v._version == 0
    v.add_(1.0)
    assert x._version == 1
    np.testing.assert_allclose(x.numpy(), np.ones((2, 3)))


def test_inplace_cannot_broadcast_self_or_narrow_dtype() -> None:
    a = nr.zeros(3)
    with pytest.raises(nr.ShapeError, match="add_: the result shape \\[2, 3\\]"):
        a.add_(nr.ones(2, 3))
    i = nr.tensor([1, 2])
    with pytest.raises(nr.DTypeError, match="result type float32 can't be cast"):
        i += 1.5
