"""nn.init: PyTorch's formulas (gains, fans, bounds, stds), checked exactly where they are
deterministic and statistically where they draw; in place, without autograd history."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import neurarust as nr
from neurarust import nn
from neurarust.nn import init
from neurarust.nn.init import _calculate_fan_in_and_fan_out, _ndtri

torch = pytest.importorskip("torch")

SHAPES = [(30, 40), (16, 8, 3, 3), (20, 6, 5), (7, 9, 2, 2, 2)]


@pytest.mark.parametrize("nonlinearity,param", [
    ("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None),
    ("conv_transpose2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
    ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("leaky_relu", 0),
    ("selu", None),
])
def test_calculate_gain_matches_pytorch(nonlinearity: str, param: float | None) -> None:
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-12)


def test_calculate_gain_errors() -> None:
    with pytest.raises(ValueError, match="unsupported nonlinearity 'gelu'"):
        init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="negative_slope True is not a valid number"):
        init.calculate_gain("leaky_relu", True)


@pytest.mark.parametrize("shape", SHAPES + [(3, 1)])
def test_fans_match_pytorch(shape: tuple[int, ...]) -> None:
    assert _calculate_fan_in_and_fan_out(nr.zeros(shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))


def test_fans_need_two_dims() -> None:
    with pytest.raises(ValueError, match="fewer than 2 dimensions, got shape \\[5\\]"):
        _calculate_fan_in_and_fan_out(nr.zeros(5))


def _bound_and_std(name: str, shape: tuple[int, ...], **kw: float | str) -> tuple[float, float]:
    """The U(-bound, bound) bound or N(0, std) std PyTorch's formula gives, from torch itself:
    the max |x| of a large torch sample is close below the bound, and its std close to std."""
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))
    gain = kw.get("gain", 1.0)
    if name.startswith("xavier"):
        std = float(gain) * math.sqrt(2.0 / (fan_in + fan_out))
    else:
        fan = fan_in if kw.get("mode", "fan_in") == "fan_in" else fan_out
        std = torch.nn.init.calculate_gain(kw.get("nonlinearity", "leaky_relu"),
                                           kw.get("a", 0.0)) / math.sqrt(fan)
    return math.sqrt(3.0) * std, std


CASES = [
    ("xavier_uniform_", {}), ("xavier_uniform_", {"gain": 2.0}), ("xavier_normal_", {}),
    ("kaiming_uniform_", {}), ("kaiming_uniform_", {"a": math.sqrt(5)}),
    ("kaiming_uniform_", {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_normal_", {}), ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_normal_", {"a": 0.1, "nonlinearity": "leaky_relu"}),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name,kw", CASES)
def test_scaled_inits_have_pytorch_bounds_and_stds(name: str, kw: dict[str, float | str],
                                                   shape: tuple[int, ...]) -> None:
    nr.manual_seed(0)
    torch.manual_seed(0)
    ours = getattr(init, name)(nr.empty(*shape), **kw).numpy().astype(np.float64)
    theirs = getattr(torch.nn.init, name)(torch.empty(shape), **kw).numpy().astype(np.float64)
    bound, std = _bound_and_std(name, shape, **kw)
    n = ours.size
    if name.endswith("uniform_"):
        assert np.abs(ours).max() <= bound * (1 + 1e-6)
        assert np.abs(theirs).max() <= bound * (1 + 1e-6)
        # the largest of n draws sits within a few bound/n of the bound
        assert np.abs(ours).max() >= bound * (1 - 10.0 / n)
        std = bound / math.sqrt(3.0)
    # sample std within 5 standard errors (the std's standard error is ~ std / sqrt(2n))
    tol = 5 * std / math.sqrt(2 * n) + 1e-3 * std
    assert abs(ours.std() - std) < tol + 2 * std / math.sqrt(n)
    assert abs(theirs.std() - std) < tol + 2 * std / math.sqrt(n)
    assert abs(ours.mean()) < 5 * std / math.sqrt(n)


@pytest.mark.cpu_only("numpy memory sharing: numpy() of a device tensor is a host copy")
def test_uniform_normal_constant_fill_in_place_without_history() -> None:
    p = nn.Parameter(nr.zeros(200, 100))
    data_before = p.detach().numpy()
    version = p._version
    out = init.uniform_(p, -0.5, 2.0)
    assert out is p and p.is_leaf and p.requires_grad and p.grad_fn is None
    assert p._version > version
    values = p.detach().numpy()
    assert np.shares_memory(values, data_before)
    assert values.min() >= -0.5 and values.max() < 2.0
    assert values.mean() == pytest.approx(0.75, abs=0.02)
    assert values.std() == pytest.approx(2.5 / math.sqrt(12), rel=0.02)
    init.normal_(p, 3.0, 0.5)
    values = p.detach().numpy()
    assert values.mean() == pytest.approx(3.0, abs=0.01) and values.std() == pytest.approx(0.5, rel=0.02)
    init.constant_(p, 0.25)
    assert (p.detach().numpy() == 0.25).all()
    init.ones_(p)
    assert (p.detach().numpy() == 1).all()
    init.zeros_(p)
    assert not p.detach().numpy().any()
    ints = init.constant_(nr.zeros(3, dtype=nr.int64), 7)
    assert ints.dtype is nr.int64 and ints.tolist() == [7, 7, 7]


def test_draws_follow_the_seed_and_the_generator_argument() -> None:
    nr.manual_seed(123)
    a = init.kaiming_uniform_(nr.empty(5, 4)).numpy().copy()
    nr.manual_seed(123)
    b = init.kaiming_uniform_(nr.empty(5, 4)).numpy().copy()
    np.testing.assert_array_equal(a, b)
    g = nr.Generator(7)
    c = init.normal_(nr.empty(5, 4), generator=g).numpy().copy()
    d = init.normal_(nr.empty(5, 4), generator=nr.Generator(7)).numpy().copy()
    np.testing.assert_array_equal(c, d)
    # float32 and float64 draws agree up to rounding
    nr.manual_seed(5)
    f32 = init.xavier_normal_(nr.empty(6, 6)).numpy()
    nr.manual_seed(5)
    f64 = init.xavier_normal_(nr.empty(6, 6, dtype=nr.float64)).numpy()
    np.testing.assert_allclose(f32, f64, rtol=1e-6)


def test_trunc_normal_bounds_and_moments_match_pytorch() -> None:
    nr.manual_seed(0)
    torch.manual_seed(0)
    for mean, std, a, b in [(0.0, 1.0, -2.0, 2.0), (0.0, 0.02, -0.04, 0.04), (1.0, 2.0, 0.0, 5.0),
                            (0.0, 1.0, 2.0, 3.0)]:
        ours = init.trunc_normal_(nr.empty(40000, dtype=nr.float64), mean, std, a, b).numpy()
        theirs = torch.nn.init.trunc_normal_(torch.empty(40000, dtype=torch.float64), mean,
                                             std, a, b).numpy()
        assert ours.min() >= a and ours.max() <= b
        se = theirs.std() / math.sqrt(ours.size)
        assert abs(ours.mean() - theirs.mean()) < 8 * se
        assert ours.std() == pytest.approx(theirs.std(), rel=0.03)
    with pytest.warns(UserWarning, match="more than 2 std"):
        init.trunc_normal_(nr.empty(10), mean=10.0, std=1.0, a=-2.0, b=2.0)


def test_normal_quantile_is_accurate() -> None:
    scipy_special = pytest.importorskip("scipy.special")
    p = np.concatenate([np.linspace(1e-12, 1 - 1e-12, 2001), [1e-300, 0.02425, 0.97575]])
    np.testing.assert_allclose(_ndtri(p), scipy_special.ndtri(p), rtol=2e-9, atol=1e-12)


def test_eye_dirac_orthogonal_match_pytorch() -> None:
    np.testing.assert_array_equal(init.eye_(nr.empty(3, 5)).numpy(),
                                  torch.nn.init.eye_(torch.empty(3, 5)).numpy())
    for shape, groups in [((4, 4, 3), 1), ((6, 2, 3, 3), 3), ((2, 4, 3, 1, 3), 1),
                          ((3, 5, 3, 3), 1)]:
        np.testing.assert_array_equal(init.dirac_(nr.empty(shape), groups).numpy(),
                                      torch.nn.init.dirac_(torch.empty(shape), groups).numpy())
    for shape in [(5, 5), (3, 7), (8, 2), (4, 2, 3)]:
        w = init.orthogonal_(nr.empty(shape, dtype=nr.float64), gain=2.0).numpy()
        flat = w.reshape(shape[0], -1)
        gram = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
        np.testing.assert_allclose(gram, 4.0 * np.eye(gram.shape[0]), atol=1e-10)
    with pytest.raises(ValueError, match="only tensors with 2 dimensions"):
        init.eye_(nr.empty(3))
    with pytest.raises(ValueError, match="only tensors with 3, 4, or 5 dimensions"):
        init.dirac_(nr.empty(3, 3))
    with pytest.raises(ValueError, match="2 or more dimensions"):
        init.orthogonal_(nr.empty(3))


def test_kaiming_errors_and_zero_element_warning() -> None:
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_normal_(nr.empty(3, 3), mode="fan_avg")
    with pytest.warns(UserWarning, match="zero-element tensors is a no-op"):
        init.kaiming_uniform_(nr.empty(0, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        init.kaiming_uniform_(nr.empty(2, 3))
