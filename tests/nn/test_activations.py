"""Activations: functional forms vs PyTorch and finite differences (``check_op``), PyTorch's
gradients at the kinks, finite values and gradients at extreme inputs, and the modules
(forward, repr, in-place flags)."""


from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import neurarust as nr
from neurarust.nn import functional as F
from tests.nn._torch_compare import compare_layer, layer
from tests.reference import _check_torch, check_op

torch = pytest.importorskip("torch")

rng = np.random.default_rng(7)


def smooth_input(*shape: int) -> np.ndarray:
    """Values away from every kink used below (0, +-1, +-3, thresholds)."""
    x = rng.uniform(-4, 4, size=shape)
    for kink in (0.0, 1.0, -1.0, 3.0, -3.0, 0.5):
        x = np.where(np.abs(x - kink) < 0.05, x + 0.1, x)
    return x


KINKS = np.array([-3.0, -1.0, 0.0, 1.0, 3.0, 6.0, 0.5, -0.5, 20.0, 2.5])

# name -> fn(lib, x) written once for both libraries
ACTIVATIONS: dict[str, Callable[[Any, Any], Any]] = {
    "relu": lambda lib, x: lib.nn.functional.relu(x),
    "relu6": lambda lib, x: lib.nn.functional.relu6(x),
    "hardtanh": lambda lib, x: lib.nn.functional.hardtanh(x, -1.0, 2.0),
    "leaky_relu": lambda lib, x: lib.nn.functional.leaky_relu(x, 0.2),
    "elu": lambda lib, x: lib.nn.functional.elu(x, alpha=1.5),
    "selu": lambda lib, x: lib.nn.functional.selu(x),
    "celu": lambda lib, x: lib.nn.functional.celu(x, alpha=0.7),
    "gelu": lambda lib, x: lib.nn.functional.gelu(x),
    "gelu_tanh": lambda lib, x: lib.nn.functional.gelu(x, approximate="tanh"),
    "silu": lambda lib, x: lib.nn.functional.silu(x),
    "mish": lambda lib, x: lib.nn.functional.mish(x),
    "sigmoid": lambda lib, x: lib.nn.functional.sigmoid(x),
    "tanh": lambda lib, x: lib.nn.functional.tanh(x),
    "hardsigmoid": lambda lib, x: lib.nn.functional.hardsigmoid(x),
    "hardswish": lambda lib, x: lib.nn.functional.hardswish(x),
    "softsign": lambda lib, x: lib.nn.functional.softsign(x),
    "tanhshrink": lambda lib, x: lib.nn.functional.tanhshrink(x),
    "threshold": lambda lib, x: lib.nn.functional.threshold(x, 0.5, -2.0),
    "logsigmoid": lambda lib, x: lib.nn.functional.logsigmoid(x),
    "softplus": lambda lib, x: lib.nn.functional.softplus(x),
    "softplus_beta": lambda lib, x: lib.nn.functional.softplus(x, beta=2.0, threshold=5.0),
    "softmax": lambda lib, x: lib.nn.functional.softmax(x, dim=1),
    "softmax_last": lambda lib, x: lib.nn.functional.softmax(x, dim=-1),
    "softmin": lambda lib, x: lib.nn.functional.softmin(x, dim=0),
    "log_softmax": lambda lib, x: lib.nn.functional.log_softmax(x, dim=1),
    "glu": lambda lib, x: lib.nn.functional.glu(x, dim=1),
}

NUMPY_REFERENCES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda x: np.maximum(x, 0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "elu": lambda x: np.where(x > 0, x, 1.5 * np.expm1(np.minimum(x, 0))),
    "gelu": lambda x: x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2))),
    "silu": lambda x: x / (1 + np.exp(-x)),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "logsigmoid": lambda x: -np.log1p(np.exp(-x)),
    "softmax": lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True),
    "log_softmax": lambda x: x - np.log(np.exp(x).sum(1, keepdims=True)),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_vs_torch_and_finite_differences(name: str) -> None:
    check_op(ACTIVATIONS[name], [smooth_input(3, 4)], NUMPY_REFERENCES.get(name),
             atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_gradient_at_kinks_matches_torch(name: str) -> None:
    # PyTorch's choice of gradient at each kink (relu'(0) = 0, hardtanh's open interval,
    # leaky_relu'(0) = slope, softplus'(0) = 0.5, ...).
    x = np.concatenate([KINKS, -KINKS]).reshape(5, 4)
    _check_torch(ACTIVATIONS[name], [x], [0], True, 1e-12, 1e-10)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_float32_matches_torch(name: str) -> None:
    x = smooth_input(2, 6).astype(np.float32)
    _check_torch(ACTIVATIONS[name], [x], [0], True, 1e-5, 1e-5)


@pytest.mark.parametrize("name", ["softplus", "logsigmoid", "softmax", "log_softmax", "gelu",
                                  "elu", "silu", "mish", "sigmoid", "tanh", "celu", "selu"])
def test_extreme_inputs_stay_finite(name: str) -> None:
    """No overflow in either side of a where: finite values and gradients at +-1000."""
    x = np.array([[-1000.0, -100.0, 0.0, 100.0, 1000.0], [-50.0, -20.0, 20.0, 50.0, 700.0]])
    _check_torch(ACTIVATIONS[name], [x], [0], True, 1e-10, 1e-10)
    t = nr.tensor(x, requires_grad=True)
    ACTIVATIONS[name](nr, t).sum().backward()
    assert t.grad is not None and np.all(np.isfinite(t.grad.numpy()))


def test_softplus_is_exact_for_small_values() -> None:
    x = np.array([-40.0, -30.0, -1e-8, 1e-8])
    out = F.softplus(nr.tensor(x)).numpy()
    np.testing.assert_allclose(out, np.log1p(np.exp(x)), rtol=1e-15)


def test_softmax_dtype_argument_and_legacy_dim() -> None:
    x = smooth_input(2, 3).astype(np.float32)
    out = F.softmax(nr.tensor(x), dim=1, dtype=nr.float64)
    assert out.dtype is nr.float64
    expected = torch.softmax(torch.tensor(x), dim=1, dtype=torch.float64)
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-12)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        implicit = F.softmax(nr.tensor(x))
    np.testing.assert_allclose(implicit.numpy(), F.softmax(nr.tensor(x), 1).numpy())


def test_softmax_rows_with_minus_inf() -> None:
    x = np.array([[0.0, -np.inf, 1.0], [-np.inf, -np.inf, 2.0]])
    _check_torch(lambda lib, t: lib.nn.functional.softmax(t, dim=1), [x], [0], True, 1e-12,
                 1e-12)


def test_gelu_rejects_unknown_approximation() -> None:
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        F.gelu(nr.zeros(2), approximate="fast")


def test_glu_needs_even_dim() -> None:
    with pytest.raises(nr.ShapeError, match="glu: halving dimension must be even"):
        F.glu(nr.zeros(2, 3))


def test_erf_matches_math_erf() -> None:
    x = np.concatenate([np.linspace(-6, 6, 241), [0.0, np.inf, -np.inf]])
    out = F.erf(nr.tensor(x)).numpy()
    np.testing.assert_allclose(out, [math.erf(v) for v in x], rtol=1e-15, atol=1e-16)
    check_op(lambda lib, t: lib.erf(t) if lib is torch else F.erf(t), [smooth_input(5)],
             np.vectorize(math.erf))


MODULES: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("ReLU", (), {}), ("ReLU6", (), {}), ("LeakyReLU", (0.1,), {}), ("ELU", (), {"alpha": 2.0}),
    ("CELU", (), {}), ("SELU", (), {}), ("GELU", (), {}), ("GELU", (), {"approximate": "tanh"}),
    ("SiLU", (), {}), ("Mish", (), {}), ("Sigmoid", (), {}), ("Tanh", (), {}),
    ("Hardtanh", (-0.5, 0.5), {}), ("Hardsigmoid", (), {}), ("Hardswish", (), {}),
    ("Softsign", (), {}), ("Tanhshrink", (), {}), ("LogSigmoid", (), {}),
    ("Threshold", (0.1, 20.0), {}), ("GLU", (), {}), ("Softplus", (), {"beta": 2.0}),
    ("Softmax", (), {"dim": 1}), ("Softmin", (), {"dim": 1}), ("LogSoftmax", (), {"dim": -1}),
]


@pytest.mark.parametrize("name,args,kwargs", MODULES)
def test_activation_module_vs_torch(name: str, args: tuple[Any, ...],
                                    kwargs: dict[str, Any]) -> None:
    ours, theirs = layer(name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    # PyTorch's hardsigmoid backward multiplies by the float32 constant 1.0f / 6.0f.
    rtol = 1e-7 if name == "Hardsigmoid" else 1e-8
    compare_layer(ours, theirs, [smooth_input(3, 4)], rtol=rtol)


@pytest.mark.parametrize("name", ["ReLU", "ReLU6", "LeakyReLU", "ELU", "CELU", "SELU", "SiLU",
                                  "Mish", "Hardtanh", "Hardsigmoid", "Hardswish"])
def test_inplace_activation_writes_into_its_input(name: str) -> None:
    """``inplace=True`` returns the input tensor, holding the result, and the gradient through
    it is PyTorch's (the write does not invalidate what backward saved)."""
    x = smooth_input(3, 4)
    leaf = nr.tensor(x, requires_grad=True)
    hidden = leaf * 2.0
    out = layer(name)(inplace=True)(hidden)
    assert out is hidden
    out.sum().backward()
    torch_leaf = torch.tensor(x, requires_grad=True)
    expected = getattr(torch.nn, name)(inplace=True)(torch_leaf * 2.0)
    expected.sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-12)
    assert leaf.grad is not None and torch_leaf.grad is not None
    np.testing.assert_allclose(leaf.grad.numpy(), torch_leaf.grad.numpy(), rtol=1e-7)
    assert repr(layer(name)(inplace=True)).endswith("inplace=True)")


def test_inplace_relu_gradient() -> None:
    x = smooth_input(3, 4)
    leaf = nr.tensor(x, requires_grad=True)
    F.relu(leaf * 2.0, inplace=True).sum().backward()
    assert leaf.grad is not None
    np.testing.assert_allclose(leaf.grad.numpy(), np.where(x > 0, 2.0, 0.0))
