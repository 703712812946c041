"""Layers vs PyTorch in float64: torch's initial state is copied into ours, then forward
values, every parameter and input gradient, and buffers (BatchNorm's running statistics over
several train steps and in eval) are compared. Also: reprs, state-dict keys, PyTorch's
default initialisation, constructor checks and error messages."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import neurarust as nr
from tests.nn._torch_compare import compare_layer, layer, to_nr

torch = pytest.importorskip("torch")

rng = np.random.default_rng(5)
F64 = {"dtype": nr.float64}
T64 = {"dtype": torch.float64}


def rand(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape)


def pair(name: str, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """The same layer in both libraries, float64 when it has parameters or buffers."""
    try:
        theirs = getattr(torch.nn, name)(*args, **kwargs, **T64)
        ours = layer(name)(*args, **kwargs, **F64)
    except TypeError:  # a layer without dtype=
        theirs = getattr(torch.nn, name)(*args, **kwargs)
        ours = layer(name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    return ours, theirs


# -- linear family --------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4), (4,)])
def test_linear(bias: bool, shape: tuple[int, ...]) -> None:
    compare_layer(*pair("Linear", 4, 5, bias=bias), [rand(*shape)])


def test_bilinear() -> None:
    compare_layer(*pair("Bilinear", 3, 2, 4), [rand(5, 3), rand(5, 2)])
    compare_layer(*pair("Bilinear", 3, 2, 4, bias=False), [rand(2, 5, 3), rand(2, 5, 2)])


def test_identity_flatten_unflatten() -> None:
    compare_layer(*pair("Identity", 3, unused=True), [rand(2, 3)])
    compare_layer(*pair("Flatten"), [rand(2, 3, 4, 2)])
    compare_layer(*pair("Flatten", 0, 2), [rand(2, 3, 4, 2)])
    compare_layer(*pair("Unflatten", 1, (2, 3)), [rand(4, 6, 2)])
    compare_layer(*pair("Unflatten", -1, (-1, 2)), [rand(4, 6)])


def test_linear_error_names_the_layer_and_both_shapes() -> None:
    with pytest.raises(nr.ShapeError) as info:
        layer("Linear")(784, 128)(nr.zeros(32, 100))
    assert str(info.value).splitlines()[:3] == [
        "linear: input has 100 features, the weight expects 784",
        "  input: f32[32, 100]   weight: f32[128, 784]",
        "  expected input.shape[-1] == weight.shape[-1] (in_features), got 100 != 784",
    ]


# -- convolutions ---------------------------------------------------------------------------------
CONV2D_CASES: list[dict[str, Any]] = [
    {},
    {"stride": 2, "padding": 1},
    {"stride": (2, 1), "padding": (1, 0), "dilation": (1, 2)},
    {"padding": "same", "dilation": 2},
    {"padding": "same", "kernel_size": (2, 3)},
    {"padding": "valid", "bias": False},
    {"groups": 2, "padding": 1},
    {"padding": 1, "padding_mode": "reflect"},
    {"padding": (2, 1), "padding_mode": "replicate"},
    {"padding": 1, "padding_mode": "circular", "stride": 2},
    {"padding": "same", "padding_mode": "reflect"},
]


@pytest.mark.parametrize("kwargs", CONV2D_CASES)
def test_conv2d(kwargs: dict[str, Any]) -> None:
    kwargs = {"kernel_size": 3, **kwargs}
    compare_layer(*pair("Conv2d", 4, 6, **kwargs), [rand(2, 4, 7, 6)])


def test_conv2d_unbatched_and_conv1d() -> None:
    compare_layer(*pair("Conv2d", 2, 3, 3, padding=1), [rand(2, 5, 5)])
    compare_layer(*pair("Conv1d", 4, 6, 3, stride=2, padding=1, groups=2), [rand(2, 4, 9)])
    compare_layer(*pair("Conv1d", 2, 3, 4, padding="same", padding_mode="reflect"),
                  [rand(2, 2, 7)])


@pytest.mark.parametrize("kwargs", [{}, {"stride": 2, "output_padding": 1},
                                    {"stride": (2, 3), "padding": (1, 2), "dilation": 2},
                                    {"groups": 2, "stride": 2, "bias": False}])
def test_conv_transpose2d(kwargs: dict[str, Any]) -> None:
    compare_layer(*pair("ConvTranspose2d", 4, 6, 3, **kwargs), [rand(2, 4, 4, 5)])


def test_conv_transpose2d_output_size() -> None:
    ours, theirs = pair("ConvTranspose2d", 3, 2, 3, stride=2, padding=1)
    compare_layer(ours, theirs, [rand(1, 3, 4, 4)], forward_kwargs={"output_size": [8, 8]})
    with pytest.raises(ValueError, match="requested an output size of \\[10, 10\\], but valid "
                                         "sizes range from \\[7, 7\\] to \\[8, 8\\]"):
        ours(nr.zeros(1, 3, 4, 4, dtype=nr.float64), output_size=[10, 10])


def test_conv_constructor_checks_and_shape_errors() -> None:
    with pytest.raises(ValueError, match="in_channels \\(3\\) must be divisible by groups"):
        layer("Conv2d")(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        layer("Conv2d")(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        layer("Conv2d")(3, 4, 3, padding_mode="mirror")
    with pytest.raises(nr.ShapeError, match="conv2d: input channels must match the weight"):
        layer("Conv2d")(3, 4, 3)(nr.zeros(1, 2, 5, 5))


# -- pooling --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,args,kwargs", [
    ("MaxPool2d", (2,), {}), ("MaxPool2d", (3, 2, 1), {"ceil_mode": True}),
    ("MaxPool2d", ((2, 3),), {"dilation": (2, 1)}), ("MaxPool1d", (3, 2), {}),
    ("AvgPool2d", (2,), {}), ("AvgPool2d", (3, 2, 1), {"count_include_pad": False}),
    ("AvgPool2d", (3,), {"stride": 1, "divisor_override": 4}), ("AvgPool1d", (2,), {}),
    ("AdaptiveAvgPool2d", ((2, 3),), {}), ("AdaptiveAvgPool2d", (1,), {}),
    ("AdaptiveAvgPool2d", ((None, 4),), {}), ("AdaptiveAvgPool1d", (4,), {}),
])
def test_pooling(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    x = rand(2, 3, 7) if name.endswith("1d") else rand(2, 3, 7, 6)
    compare_layer(*pair(name, *args, **kwargs), [x])


def test_max_pool_return_indices() -> None:
    ours, _ = pair("MaxPool2d", 2, return_indices=True)
    out, idx = ours(to_nr(rand(1, 2, 4, 4)))
    assert idx.dtype is nr.int64 and out.shape == idx.shape == (1, 2, 2, 2)


# -- normalization --------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{}, {"momentum": 0.3}, {"momentum": None},
                                    {"affine": False}, {"bias": False},
                                    {"track_running_stats": False}, {"eps": 1e-3}])
def test_batch_norm_2d_across_train_and_eval(kwargs: dict[str, Any]) -> None:
    ours, theirs = pair("BatchNorm2d", 3, **kwargs)
    x = rand(4, 3, 2, 3) * 2 + 1
    compare_layer(ours, theirs, [x], steps=3)
    compare_layer(ours, theirs, [rand(2, 3, 2, 3)], train=False, copy=False)
    compare_layer(ours, theirs, [rand(3, 3, 2, 2)], steps=2, copy=False)


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 6)])
def test_batch_norm_1d(shape: tuple[int, ...]) -> None:
    ours, theirs = pair("BatchNorm1d", 3, momentum=None)
    compare_layer(ours, theirs, [rand(*shape)], steps=2)
    compare_layer(ours, theirs, [rand(*shape)], train=False, copy=False)


def test_batch_norm_checks_and_state_dict() -> None:
    with pytest.raises(ValueError, match="BatchNorm2d: expected 4D input \\(got 3D input\\)"):
        layer("BatchNorm2d")(3)(nr.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="expected 2D or 3D input \\(got 4D input\\)"):
        layer("BatchNorm1d")(3)(nr.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        layer("BatchNorm1d")(3)(nr.zeros(1, 3))
    bn = layer("BatchNorm1d")(2)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"]
    assert bn.num_batches_tracked.dtype is nr.int64
    old = {k: v for k, v in layer("BatchNorm1d")(2).state_dict().items()
           if k != "num_batches_tracked"}
    bn.load_state_dict(old)  # checkpoints from before num_batches_tracked still load
    with pytest.raises(nr.ShapeError, match="batch_norm: running_mean should have one entry"):
        bn(nr.zeros(4, 3))


@pytest.mark.parametrize("shape,kwargs", [(4, {}), ((3, 4), {}),
                                          (4, {"elementwise_affine": False}),
                                          (4, {"bias": False, "eps": 1e-3})])
def test_layer_norm(shape: Any, kwargs: dict[str, Any]) -> None:
    compare_layer(*pair("LayerNorm", shape, **kwargs), [rand(2, 3, 4)])


@pytest.mark.parametrize("kwargs", [{}, {"affine": False}, {"bias": False}])
def test_group_norm(kwargs: dict[str, Any]) -> None:
    compare_layer(*pair("GroupNorm", 2, 4, **kwargs), [rand(3, 4, 2, 3)])
    compare_layer(*pair("GroupNorm", 4, 4, **kwargs), [rand(3, 4, 5)])


def test_rms_norm() -> None:
    compare_layer(*pair("RMSNorm", 4), [rand(2, 3, 4)])
    compare_layer(*pair("RMSNorm", (3, 4), eps=1e-4), [rand(2, 3, 4)])


# -- embedding and dropout ------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{}, {"padding_idx": 0}, {"padding_idx": -2},
                                    {"max_norm": 1.0}, {"scale_grad_by_freq": True}])
def test_embedding(kwargs: dict[str, Any]) -> None:
    ours, theirs = pair("Embedding", 6, 3, **kwargs)
    compare_layer(ours, theirs, [np.array([[0, 4, 4], [1, 0, 5]])], steps=2)


def test_embedding_init_and_from_pretrained() -> None:
    emb = layer("Embedding")(50, 4, padding_idx=3)
    assert not np.any(emb.weight.detach().numpy()[3])
    weights = rand(5, 2)
    ours = layer("Embedding").from_pretrained(to_nr(weights), padding_idx=1)
    theirs = torch.nn.Embedding.from_pretrained(torch.tensor(weights), padding_idx=1)
    assert repr(ours) == repr(theirs) and not ours.weight.requires_grad
    out = ours(nr.tensor([1, 4]))
    np.testing.assert_allclose(out.numpy(), weights[[1, 4]])


def test_dropout_layers_train_and_eval() -> None:
    for name in ("Dropout", "Dropout1d", "Dropout2d"):
        ours, _ = pair(name, 0.25)
        x = nr.ones(2, 3, 4, 4) if name == "Dropout2d" else nr.ones(2, 3, 4)
        assert ours.train()(x) is not x
        assert ours.eval()(x) is x
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        layer("Dropout")(-0.1)


# -- initialisation, dtype and device -------------------------------------------------------------
@pytest.mark.parametrize("name,args", [("Linear", (200, 300)), ("Conv2d", (16, 32, 3)),
                                       ("Conv1d", (8, 64, 5)), ("ConvTranspose2d", (16, 32, 3)),
                                       ("Bilinear", (40, 30, 20))])
def test_default_initialisation_matches_pytorchs_distribution(name: str,
                                                              args: tuple[int, ...]) -> None:
    nr.manual_seed(0)
    ours = layer(name)(*args)
    weight = ours.weight.detach().numpy()
    fan_in = math.prod(weight.shape[1:]) if name != "Bilinear" else weight.shape[1]
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform_(a=sqrt(5)) gives exactly this bound
    assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.9 * bound
    assert abs(weight.std() - bound / math.sqrt(3)) < 0.05 * bound
    bias = ours.bias.detach().numpy()
    assert np.abs(bias).max() <= bound
    assert ours.weight.dtype is nr.float32 and ours.weight.requires_grad


def test_dtype_and_device_arguments() -> None:
    for name, args in [("Linear", (3, 2)), ("Conv2d", (1, 2, 3)), ("BatchNorm2d", (2,)),
                       ("LayerNorm", (3,)), ("GroupNorm", (1, 2)), ("Embedding", (4, 2)),
                       ("Bilinear", (2, 2, 2))]:
        m = layer(name)(*args, device="cpu", dtype=nr.float64)
        for _, p in m.named_parameters():
            assert p.dtype is nr.float64 and str(p.device) == "cpu"
        if name == "BatchNorm2d":
            assert m.running_mean.dtype is nr.float64


def test_reset_parameters_redraws() -> None:
    m = layer("Linear")(5, 5)
    before = m.weight.detach().numpy().copy()
    m.reset_parameters()
    assert not np.allclose(before, m.weight.detach().numpy())


def test_small_cnn_matches_torch() -> None:
    """A whole CNN (conv, relu, pool, batch norm, flatten, linear, dropout off) trained two
    steps side by side: the layers compose."""

    def build(lib: Any, **kw: Any) -> Any:
        nn = lib.nn
        return nn.Sequential(
            layer("Conv2d")(1, 4, 3, padding=1, **kw) if lib is nr else nn.Conv2d(1, 4, 3,
                                                                                  padding=1, **kw),
            layer("BatchNorm2d")(4, **kw) if lib is nr else nn.BatchNorm2d(4, **kw),
            layer("ReLU")() if lib is nr else nn.ReLU(),
            layer("MaxPool2d")(2) if lib is nr else nn.MaxPool2d(2),
            layer("Flatten")() if lib is nr else nn.Flatten(),
            layer("Linear")(4 * 3 * 3, 5, **kw) if lib is nr else nn.Linear(36, 5, **kw),
        )

    import neurarust.nn  # noqa: F401

    ours, theirs = build(nr, **F64), build(torch, **T64)
    compare_layer(ours, theirs, [rand(3, 1, 6, 6)], steps=2)


# -- nn.utils -------------------------------------------------------------------------------------
def _grads_pair(scale: float = 1.0) -> tuple[list[Any], list[Any]]:
    ours, theirs = [], []
    for shape in [(3, 4), (4,), (2, 2, 2)]:
        g = rand(*shape) * scale
        p, q = nr.nn.Parameter(nr.zeros(*shape, dtype=nr.float64)), torch.nn.Parameter(
            torch.zeros(shape, dtype=torch.float64))
        p.grad, q.grad = to_nr(g), torch.tensor(g)
        ours.append(p)
        theirs.append(q)
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type: float, max_norm: float) -> None:
    from neurarust.nn import utils

    ours, theirs = _grads_pair()
    total = utils.clip_grad_norm_(ours, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    np.testing.assert_allclose(total.numpy(), expected.numpy(), rtol=1e-12)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)


def test_clip_grad_value_nonfinite_and_vectors() -> None:
    from neurarust.nn import utils

    ours, theirs = _grads_pair(3.0)
    utils.clip_grad_value_(ours, 1.5)
    torch.nn.utils.clip_grad_value_(theirs, 1.5)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy())
    ours[0].grad = nr.tensor([[math.inf] * 4] * 3, dtype=nr.float64)
    with pytest.raises(RuntimeError, match="is non-finite, so it cannot be clipped"):
        utils.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    assert utils.clip_grad_norm_([], 1.0).item() == 0.0
    model = layer("Linear")(3, 2, dtype=nr.float64)
    vec = utils.parameters_to_vector(model.parameters())
    assert vec.shape == (8,)
    utils.vector_to_parameters(vec * 2.0, model.parameters())
    np.testing.assert_allclose(utils.parameters_to_vector(model.parameters()).detach().numpy(),
                               vec.detach().numpy() * 2.0)
