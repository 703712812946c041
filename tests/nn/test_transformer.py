"""TransformerEncoderLayer and TransformerEncoder vs PyTorch in float64 (eval mode, so dropout
is off; and training mode with dropout 0): outputs and the gradients of the input, float masks
and every parameter, with torch's parameters loaded by name."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import neurarust as nr
from neurarust import nn
from neurarust.nn.activation import GELU
from neurarust.nn.normalization import LayerNorm
from neurarust.nn.transformer import (
    TransformerEncoder,
    TransformerEncoderLayer,
    generate_square_subsequent_mask,
)

torch = pytest.importorskip("torch")

TOL = 1e-10
D_MODEL, NHEAD, FF, S, N = 6, 2, 8, 4, 3
rng0 = np.random.default_rng(0)


def compare(ours: nn.Module, theirs: Any, arrays: list[Any], kwargs_names: list[str],
            grad_masks: bool = False) -> None:
    """Load torch's parameters into ours, run both on ``arrays`` (the source, then the masks
    named by ``kwargs_names``), compare outputs and all gradients."""
    ours.load_state_dict({k: nr.tensor(v.detach().numpy().copy())
                          for k, v in theirs.state_dict().items()})

    def inputs(lib: Any) -> list[Any]:
        out = []
        for i, a in enumerate(arrays):
            grad = a.dtype.kind == "f" and (i == 0 or grad_masks)
            out.append(nr.tensor(a).requires_grad_(grad) if lib is nr
                       else torch.tensor(a, requires_grad=grad))
        return out

    nr_in, th_in = inputs(nr), inputs(torch)
    a = ours(nr_in[0], **dict(zip(kwargs_names, nr_in[1:])))
    b = theirs(th_in[0], **dict(zip(kwargs_names, th_in[1:])))
    assert a.shape == tuple(b.shape)
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=TOL, atol=TOL)
    w = np.random.default_rng(5).standard_normal(a.shape)
    (a * nr.tensor(w)).sum().backward()
    (b * torch.tensor(w)).sum().backward()
    for x, y in zip(nr_in, th_in):
        if y.requires_grad:
            np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=TOL, atol=TOL)
    ours_params = dict(ours.named_parameters())
    assert set(ours_params) == {n for n, _ in theirs.named_parameters()}
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(ours_params[name].grad.numpy(), p.grad.numpy(), rtol=TOL,
                                   atol=TOL, err_msg=name)


def layer_pair(eval_mode: bool = True, **kwargs: Any) -> tuple[Any, Any]:
    torch_kwargs = dict(kwargs)
    if kwargs.get("activation") == "gelu-tanh":
        kwargs["activation"] = GELU("tanh")
        torch_kwargs["activation"] = torch.nn.GELU("tanh")
    ours = TransformerEncoderLayer(D_MODEL, NHEAD, dim_feedforward=FF, **kwargs).double()
    theirs = torch.nn.TransformerEncoderLayer(D_MODEL, NHEAD, dim_feedforward=FF,
                                              **torch_kwargs).double()
    if eval_mode:
        ours.eval()
        theirs.eval()
    return ours, theirs


def source(batch_first: bool = False, unbatched: bool = False) -> Any:
    if unbatched:
        return rng0.standard_normal((S, D_MODEL))
    return rng0.standard_normal((N, S, D_MODEL) if batch_first else (S, N, D_MODEL))


def padding(unbatched: bool = False) -> Any:
    kpm = rng0.random((S,) if unbatched else (N, S)) < 0.3
    kpm[..., 0] = False
    return kpm


LAYER_OPTIONS = {
    "post-norm": {},
    "pre-norm": {"norm_first": True},
    "gelu": {"activation": "gelu"},
    "gelu-tanh-module": {"activation": "gelu-tanh"},
    "batch-first-pre-norm-gelu": {"batch_first": True, "norm_first": True, "activation": "gelu"},
    "no-bias": {"bias": False},
    "eps": {"layer_norm_eps": 1e-3},
}
MASKS = ["none", "bool-mask", "float-mask", "padding", "mask-and-padding", "causal"]


@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("option", list(LAYER_OPTIONS))
def test_encoder_layer_matches_torch(option: str, mask: str) -> None:
    kwargs = dict(LAYER_OPTIONS[option])
    ours, theirs = layer_pair(**kwargs)
    bf = bool(kwargs.get("batch_first"))
    arrays: list[Any] = [source(bf)]
    names: list[str] = []
    causal = np.triu(np.ones((S, S), dtype=bool), k=1)
    if mask == "bool-mask":
        names, arrays = ["src_mask"], arrays + [causal]
    elif mask == "float-mask":
        names, arrays = ["src_mask"], arrays + [rng0.standard_normal((N * NHEAD, S, S))]
    elif mask == "padding":
        names, arrays = ["src_key_padding_mask"], arrays + [padding()]
    elif mask == "mask-and-padding":
        names = ["src_mask", "src_key_padding_mask"]
        arrays += [causal, padding()]
    elif mask == "causal":
        names = ["src_mask"]
        arrays += [np.where(causal, -np.inf, 0.0)]
    if mask == "causal":
        compare_causal(ours, theirs, arrays)
    else:
        compare(ours, theirs, arrays, names, grad_masks=mask == "float-mask")


def compare_causal(ours: Any, theirs: Any, arrays: list[Any]) -> None:
    class WithHint:  # pass is_causal=True along with the mask, in both libraries
        def __init__(self, module: Any) -> None:
            self.module = module

        def __call__(self, x: Any, src_mask: Any) -> Any:
            return self.module(x, src_mask=src_mask, is_causal=True)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.module, name)

    compare(WithHint(ours), WithHint(theirs), arrays, ["src_mask"])  # type: ignore[arg-type]


def test_encoder_layer_unbatched_matches_torch() -> None:
    ours, theirs = layer_pair()
    compare(ours, theirs, [source(unbatched=True), padding(unbatched=True)],
            ["src_key_padding_mask"])


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_training_without_dropout_matches_torch(norm_first: bool) -> None:
    ours, theirs = layer_pair(eval_mode=False, dropout=0.0, norm_first=norm_first)
    compare(ours, theirs, [source(), padding()], ["src_key_padding_mask"])


def test_encoder_layer_dropout_is_active_in_training_only() -> None:
    nr.manual_seed(0)
    layer = TransformerEncoderLayer(D_MODEL, NHEAD, dim_feedforward=FF, dropout=0.5).double()
    x = nr.tensor(source())
    with nr.no_grad():
        train = layer(x).numpy()
        layer.eval()
        first, second = layer(x).numpy(), layer(x).numpy()
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(train, first)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm", [False, True])
def test_encoder_matches_torch(batch_first: bool, norm: bool) -> None:
    layer_kwargs = {"dim_feedforward": FF, "batch_first": batch_first, "norm_first": norm}
    ours = TransformerEncoder(TransformerEncoderLayer(D_MODEL, NHEAD, **layer_kwargs), 2,
                              norm=LayerNorm(D_MODEL) if norm else None).double().eval()
    theirs = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(D_MODEL, NHEAD, **layer_kwargs), 2,
        norm=torch.nn.LayerNorm(D_MODEL) if norm else None, enable_nested_tensor=False,
    ).double().eval()
    causal = np.triu(np.ones((S, S), dtype=bool), k=1)
    compare(ours, theirs, [source(batch_first), causal, padding()],
            ["mask", "src_key_padding_mask"])


def test_encoder_with_generated_causal_mask_and_hint_matches_torch() -> None:
    ours = TransformerEncoder(TransformerEncoderLayer(D_MODEL, NHEAD, FF), 2).double().eval()
    theirs = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(D_MODEL, NHEAD, FF),
                                         2, enable_nested_tensor=False).double().eval()
    mask = generate_square_subsequent_mask(S, dtype=nr.float64).numpy()
    np.testing.assert_array_equal(
        mask, torch.nn.Transformer.generate_square_subsequent_mask(S, dtype=torch.float64))

    class WithHint:
        def __init__(self, module: Any) -> None:
            self.module = module

        def __call__(self, x: Any, mask: Any) -> Any:
            return self.module(x, mask=mask, is_causal=True)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.module, name)

    compare(WithHint(ours), WithHint(theirs), [source(), mask], ["mask"])  # type: ignore[arg-type]


def test_encoder_layers_are_independent_copies() -> None:
    layer = TransformerEncoderLayer(D_MODEL, NHEAD, FF)
    encoder = TransformerEncoder(layer, 3)
    weights = [m.linear1.weight for m in encoder.layers]
    assert len({id(w) for w in weights}) == 3 and all(w is not layer.linear1.weight
                                                      for w in weights)
    for w in weights[1:]:
        np.testing.assert_array_equal(w.detach().numpy(), weights[0].detach().numpy())
    with nr.no_grad():
        weights[0].add_(1.0)
    assert not np.allclose(weights[0].detach().numpy(), weights[1].detach().numpy())


def test_state_dict_keys_and_repr_match_torch() -> None:
    kwargs = {"dim_feedforward": FF, "norm_first": True}
    ours = TransformerEncoder(TransformerEncoderLayer(D_MODEL, NHEAD, **kwargs), 2,
                              norm=LayerNorm(D_MODEL))
    theirs = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(D_MODEL, NHEAD, **kwargs), 2,
        norm=torch.nn.LayerNorm(D_MODEL), enable_nested_tensor=False)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert repr(ours) == repr(theirs)


def test_errors() -> None:
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        TransformerEncoderLayer(D_MODEL, NHEAD, activation="tanh")
    with pytest.raises(ValueError, match="embed_dim must be divisible by num_heads, got "
                                         "embed_dim=6 and num_heads=4"):
        TransformerEncoderLayer(D_MODEL, 4)
    layer = TransformerEncoderLayer(D_MODEL, NHEAD, FF)
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        layer(nr.zeros(S, N, D_MODEL), is_causal=True)
    with pytest.raises(ValueError, match="was expecting embedding dimension of 6, but got 5"):
        layer(nr.zeros(S, N, 5))
    with pytest.raises(ValueError, match="num_layers must be a non-negative int, got -1"):
        TransformerEncoder(layer, -1)
