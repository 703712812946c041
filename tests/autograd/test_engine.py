"""The autograd engine: accumulation, retain_graph, freeing, grad modes, hooks, deep graphs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import neurarust as nr
from neurarust._dispatch import call
from neurarust.ops.elementwise import Unary
from neurarust.ops.registry import OpDef


def test_backward_accumulates_across_calls() -> None:
    x = nr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2 + 3, 4 + 3, 6 + 3])


def test_shared_subexpression_sums_both_paths() -> None:
    x = nr.tensor([1.5, -2.0], requires_grad=True)
    y = x * x
    z = (y + y * x).sum()  # d/dx (x^2 + x^3) = 2x + 3x^2
    z.backward()
    xv = np.array([1.5, -2.0])
    np.testing.assert_allclose(x.grad.numpy(), 2 * xv + 3 * xv**2, rtol=1e-6)


def test_second_backward_without_retain_graph_is_a_clear_error() -> None:
    x = nr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward() -> None:
    x = nr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])


def test_intermediates_are_freed_after_backward() -> None:
    x = nr.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    z = y.exp().sum()
    node = y.grad_fn
    assert node is not None and node.saved is not None
    z.backward()
    assert node.saved is None and node.released


def test_implicit_gradient_needs_a_scalar() -> None:
    x = nr.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="only for scalar outputs; got shape \\[3\\]"):
        (x * 2.0).backward()
    (x * 2.0).backward(nr.tensor([1.0, 0.5, 0.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 1.0, 0.0])


def test_no_grad_enable_grad_and_decorator() -> None:
    x = nr.ones(2, requires_grad=True)
    with nr.no_grad():
        y = x * 2.0
        with nr.enable_grad():
            w = x * 2.0
    assert not y.requires_grad and y.grad_fn is None
    assert w.requires_grad

    @nr.no_grad()
    def f(t: nr.Tensor) -> nr.Tensor:
        return t * 3.0

    assert not f(x).requires_grad
    assert nr.is_grad_enabled()
    with nr.set_grad_enabled(False):
        assert not (x * 1.0).requires_grad
    assert nr.is_grad_enabled()


def test_backward_on_tensor_without_grad_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        nr.ones(2).sum().backward()


def test_deep_graph_does_not_recurse() -> None:
    x = nr.tensor([1.0], dtype=nr.float64, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001**10_000], rtol=1e-9)
    del y  # freeing a 10,000-node chain must not recurse either


def test_autograd_grad_and_double_backward() -> None:
    x = nr.tensor([0.5, -1.0, 2.0], dtype=nr.float64, requires_grad=True)
    y = (x * x * x).sum()
    (g,) = nr.autograd.grad(y, x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), 3 * np.array([0.5, -1.0, 2.0]) ** 2)
    assert x.grad is None  # grad() leaves .grad alone
    (gg,) = nr.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(gg.numpy(), 6 * np.array([0.5, -1.0, 2.0]))


def test_grad_of_unused_input() -> None:
    x = nr.ones(2, requires_grad=True)
    z = nr.ones(2, requires_grad=True)
    y = (x * 2.0).sum()
    with pytest.raises(RuntimeError, match="not used in the graph"):
        nr.autograd.grad(y, [x, z], retain_graph=True)
    gx, gz = nr.autograd.grad(y, [x, z], allow_unused=True)
    assert gz is None and gx is not None


def test_grad_wrt_non_leaf() -> None:
    x = nr.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3.0
    y = (h * h).sum()
    (gh,) = nr.autograd.grad(y, h)
    np.testing.assert_allclose(gh.numpy(), 2 * np.array([3.0, 6.0]))


def test_hooks_replace_gradients_and_retain_grad() -> None:
    x = nr.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2.0
    h.retain_grad()
    seen: list[np.ndarray] = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    remove = x.register_hook(lambda g: g * 10.0)
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), [4.0, 8.0])
    np.testing.assert_allclose(seen[0], [4.0, 8.0])
    np.testing.assert_allclose(x.grad.numpy(), [80.0, 160.0])
    remove()
    x.grad = None
    (x * 1.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])


def test_detach_and_requires_grad_rules() -> None:
    x = nr.ones(2, requires_grad=True)
    d = (x * 2.0).detach()
    assert not d.requires_grad and d.grad_fn is None
    with pytest.raises(RuntimeError, match="only floating point tensors can require gradients"):
        nr.tensor([1, 2]).requires_grad_()
    # integer results never require grad
    assert not (x > 0.5).requires_grad


def test_gradient_dtype_follows_the_leaf() -> None:
    x = nr.ones(3, dtype=nr.float16, requires_grad=True)
    (x.to(nr.float32) * 2.0).sum().backward()
    assert x.grad.dtype is nr.float16
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, 2.0])


def test_broadcast_gradients_are_summed_to_input_shape() -> None:
    a = nr.ones(3, 1, requires_grad=True)
    b = nr.ones(4, requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == (3, 1) and b.grad.shape == (4,)
    np.testing.assert_allclose(a.grad.numpy(), np.full((3, 1), 4.0))
    np.testing.assert_allclose(b.grad.numpy(), np.full(4, 3.0))


class _WrongSquare(Unary):
    """A deliberately wrong gradient (2x instead of 2x·1 ... off by one): gradcheck must fail."""

    name = "wrong_square"

    def backward(self, g: Any, a: Any, *, out: Any) -> tuple[Any, ...]:
        return (g * a * 2.0 + 1.0,)


def _wrong_square_op() -> OpDef:
    op = _WrongSquare()
    op.kernels["cpu"] = lambda a: a * a
    return op


@pytest.mark.cpu_only("a test op registered with a CPU kernel only")
def test_gradcheck_catches_a_wrong_backward() -> None:
    op = _wrong_square_op()
    x = nr.tensor([0.3, -0.7], dtype=nr.float64, requires_grad=True)
    with pytest.raises(nr.autograd.GradcheckError, match="gradient of input 0"):
        nr.autograd.gradcheck(lambda t: call(op, t), [x])
    assert nr.autograd.gradcheck(lambda t: t * t, [x])


def test_gradgradcheck() -> None:
    x = nr.tensor([0.3, -0.7, 1.2], dtype=nr.float64, requires_grad=True)
    assert nr.autograd.gradgradcheck(lambda t: (t * t * t).exp(), [x])
