"""scaled_dot_product_attention and MultiheadAttention vs PyTorch in float64: outputs,
attention weights, and gradients of the inputs and of every parameter (torch's parameters
loaded by name), for every kind of mask; and the error messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import neurarust as nr
from neurarust import nn
from neurarust.nn.attention import MultiheadAttention, scaled_dot_product_attention

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOL = 1e-10


def to_lib(lib: Any, a: Any, grad: bool) -> Any:
    """A float64 array as a leaf that requires grad; bool arrays (masks) as plain tensors."""
    if a is None:
        return None
    if lib is nr:
        t = nr.tensor(a)
        return t.requires_grad_() if grad and a.dtype.kind == "f" else t
    return torch.tensor(a, requires_grad=grad and a.dtype.kind == "f")


def flatten(out: Any) -> list[Any]:
    if isinstance(out, (tuple, list)):
        return [x for o in out for x in flatten(o)]
    return [out]


def run_both(fn: Callable[[Any, list[Any]], Any], arrays: list[Any], grad_arrays: set[int],
             ours: nn.Module | None = None, theirs: Any = None) -> None:
    """``fn(lib, tensors)`` in both libraries; compare outputs, then the gradients of the
    same random linear functional w.r.t. the arrays in ``grad_arrays`` and all parameters."""
    if ours is not None:
        ours.load_state_dict({k: nr.tensor(v.detach().numpy().copy())
                              for k, v in theirs.state_dict().items()})
    nr_in = [to_lib(nr, a, i in grad_arrays) for i, a in enumerate(arrays)]
    th_in = [to_lib(torch, a, i in grad_arrays) for i, a in enumerate(arrays)]
    nr_out, th_out = flatten(fn(nr, nr_in)), flatten(fn(torch, th_in))
    assert len(nr_out) == len(th_out)
    rng = np.random.default_rng(7)
    nr_loss: Any = 0.0
    th_loss: Any = 0.0
    for o, t in zip(nr_out, th_out):
        if t is None:
            assert o is None
            continue
        assert o.shape == tuple(t.shape), (o.shape, tuple(t.shape))
        np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=TOL, atol=TOL)
        w = rng.standard_normal(o.shape)
        nr_loss = nr_loss + (o * nr.tensor(w)).sum()
        th_loss = th_loss + (t * torch.tensor(w)).sum()
    nr_loss.backward()
    th_loss.backward()
    for i in grad_arrays:
        np.testing.assert_allclose(nr_in[i].grad.numpy(), th_in[i].grad.numpy(), rtol=TOL,
                                   atol=TOL, err_msg=f"input {i}")
    if ours is not None:
        ours_params = dict(ours.named_parameters())
        for name, p in theirs.named_parameters():
            assert ours_params[name].grad is not None, name
            np.testing.assert_allclose(ours_params[name].grad.numpy(), p.grad.numpy(),
                                       rtol=TOL, atol=TOL, err_msg=name)


rng0 = np.random.default_rng(0)


def randn(*shape: int) -> Any:
    return rng0.standard_normal(shape)


def bool_mask(*shape: int, p: float = 0.6) -> Any:
    return rng0.random(shape) < p


# -- scaled_dot_product_attention --------------------------------------------------------------
def sdpa(lib: Any, t: list[Any], **kwargs: Any) -> Any:
    f = scaled_dot_product_attention if lib is nr else TF.scaled_dot_product_attention
    q, k, v = t[:3]
    mask = t[3] if len(t) > 3 else None
    return f(q, k, v, attn_mask=mask, **kwargs)


def _causal_row_mask() -> Any:
    m = bool_mask(4, 6)
    m[:, 0] = True
    m[2] = False  # a query that may attend nothing: zeros, as PyTorch
    return m


SDPA_CASES = {
    "plain-4d": ([randn(2, 3, 4, 5), randn(2, 3, 6, 5), randn(2, 3, 6, 7)], {}),
    "plain-3d": ([randn(2, 4, 5), randn(2, 6, 5), randn(2, 6, 3)], {}),
    "plain-2d": ([randn(4, 5), randn(6, 5), randn(6, 3)], {}),
    "batch-broadcast": ([randn(2, 3, 4, 5), randn(1, 3, 6, 5), randn(1, 3, 6, 5)], {}),
    "causal-square": ([randn(2, 2, 5, 4), randn(2, 2, 5, 4), randn(2, 2, 5, 4)],
                      {"is_causal": True}),
    "causal-L<S": ([randn(2, 3, 4), randn(2, 6, 4), randn(2, 6, 4)], {"is_causal": True}),
    "causal-L>S": ([randn(2, 6, 4), randn(2, 3, 4), randn(2, 3, 4)], {"is_causal": True}),
    "bool-mask-2d": ([randn(2, 3, 4, 5), randn(2, 3, 6, 5), randn(2, 3, 6, 5),
                      _causal_row_mask()], {}),
    "bool-mask-4d": ([randn(2, 3, 4, 5), randn(2, 3, 6, 5), randn(2, 3, 6, 5),
                      bool_mask(2, 1, 4, 6, p=0.8)], {}),
    "bool-mask-keys-only": ([randn(2, 4, 5), randn(2, 6, 5), randn(2, 6, 5),
                             bool_mask(2, 1, 6, p=0.7)], {}),
    "float-mask": ([randn(2, 3, 4, 5), randn(2, 3, 6, 5), randn(2, 3, 6, 5), randn(3, 1, 6)],
                   {}),
    "float-mask-neg-inf": ([randn(2, 4, 5), randn(2, 6, 5), randn(2, 6, 5),
                            np.where(_causal_row_mask(), 0.0, -np.inf)], {}),
    "scale": ([randn(2, 4, 5), randn(2, 6, 5), randn(2, 6, 5)], {"scale": 0.37}),
    "gqa": ([randn(2, 4, 3, 5), randn(2, 2, 6, 5), randn(2, 2, 6, 5)], {"enable_gqa": True}),
    "dropout-p1": ([randn(2, 4, 5), randn(2, 6, 5), randn(2, 6, 5)], {"dropout_p": 1.0}),
}


@pytest.mark.parametrize("case", list(SDPA_CASES))
def test_sdpa_matches_torch(case: str) -> None:
    arrays, kwargs = SDPA_CASES[case]
    run_both(lambda lib, t: sdpa(lib, t, **kwargs), arrays, {0, 1, 2})


def test_sdpa_float_mask_gets_a_gradient() -> None:
    arrays = [randn(2, 4, 5), randn(2, 6, 5), randn(2, 6, 5), randn(4, 6)]
    run_both(lambda lib, t: sdpa(lib, t), arrays, {0, 1, 2, 3})


def test_sdpa_fully_masked_row_gives_zeros_not_nan() -> None:
    q = nr.tensor(randn(3, 4)).requires_grad_()
    mask = nr.tensor(np.array([[True] * 3, [False] * 3, [True, False, True]]))
    out = scaled_dot_product_attention(q, q, q, attn_mask=mask)
    assert np.all(out.detach().numpy()[1] == 0.0)
    out.sum().backward()
    assert np.all(np.isfinite(q.grad.numpy()))


def test_sdpa_dropout_is_seeded_and_scales() -> None:
    q = nr.tensor(randn(2, 50, 4))
    nr.manual_seed(3)
    a = scaled_dot_product_attention(q, q, q, dropout_p=0.5)
    nr.manual_seed(3)
    b = scaled_dot_product_attention(q, q, q, dropout_p=0.5)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.allclose(a.numpy(), scaled_dot_product_attention(q, q, q).numpy())


def test_sdpa_errors() -> None:
    q = nr.zeros(2, 4, 5)
    with pytest.raises(ValueError, match="explicit attn_mask should not be set when "
                                         "is_causal=True"):
        scaled_dot_product_attention(q, q, q, attn_mask=nr.ones(4, 4, dtype=nr.bool_),
                                     is_causal=True)
    with pytest.raises(TypeError, match=r"attn_mask must be bool or have the query's dtype "
                                        r"\(float32\), got int64"):
        scaled_dot_product_attention(q, q, q, attn_mask=nr.ones(4, 4, dtype=nr.int64))
    with pytest.raises(ValueError, match="at least 2-D"):
        scaled_dot_product_attention(nr.zeros(5), q, q)
    with pytest.raises(TypeError, match="same floating dtype, got float32, float32 and "
                                        "float64"):
        scaled_dot_product_attention(q, q, nr.zeros(2, 4, 5, dtype=nr.float64))
    with pytest.raises(ValueError, match="query's heads \\(dim -3\\) must be a multiple"):
        scaled_dot_product_attention(nr.zeros(3, 4, 5), nr.zeros(2, 4, 5), nr.zeros(2, 4, 5),
                                     enable_gqa=True)
    with pytest.raises(nr.ShapeError, match="matmul"):  # inner dims come from the op's rule
        scaled_dot_product_attention(q, nr.zeros(2, 4, 3), q)


# -- MultiheadAttention ---------------------------------------------------------------------------
E, H, L, S, N = 6, 2, 4, 5, 3


def mha_pair(**kwargs: Any) -> tuple[MultiheadAttention, Any]:
    ours = MultiheadAttention(E, H, **kwargs).double()
    theirs = torch.nn.MultiheadAttention(E, H, **kwargs).double()
    return ours, theirs


def seq(length: int, features: int = E, batch_first: bool = False,
        unbatched: bool = False) -> Any:
    if unbatched:
        return randn(length, features)
    return randn(N, length, features) if batch_first else randn(length, N, features)


MASKS: dict[str, Callable[[], dict[str, Any]]] = {
    "none": dict,
    "bool-2d": lambda: {"attn_mask": bool_mask(L, S, p=0.3)},
    "float-3d": lambda: {"attn_mask": randn(N * H, L, S)},
    "kpm-bool": lambda: {"key_padding_mask": bool_mask(N, S, p=0.3)},
    "kpm-float": lambda: {"key_padding_mask": randn(N, S)},
    "both-bool": lambda: {"attn_mask": bool_mask(L, S, p=0.2),
                          "key_padding_mask": bool_mask(N, S, p=0.2)},
}


def _no_dead_rows(masks: dict[str, Any]) -> dict[str, Any]:
    """Keep key 0 visible to every query (a fully masked row is NaN in PyTorch's
    need_weights path, a separate test covers the other path)."""
    for m in masks.values():
        if m.dtype == bool:
            m[..., 0] = False
    return masks


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("mask", list(MASKS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_cross_attention_matches_torch(mask: str, need_weights: bool,
                                           batch_first: bool) -> None:
    ours, theirs = mha_pair(batch_first=batch_first)
    masks = _no_dead_rows(MASKS[mask]())
    names = list(masks)
    arrays = [seq(L, batch_first=batch_first), seq(S, batch_first=batch_first),
              seq(S, batch_first=batch_first)] + [masks[n] for n in names]

    def fn(lib: Any, t: list[Any]) -> Any:
        module = ours if lib is nr else theirs
        kw = dict(zip(names, t[3:]))
        return module(t[0], t[1], t[2], need_weights=need_weights, **kw)

    float_masks = {i + 3 for i, n in enumerate(names) if masks[n].dtype != bool}
    run_both(fn, arrays, {0, 1, 2} | float_masks, ours, theirs)


OPTIONS = {
    "self": {},
    "no-bias": {"bias": False},
    "bias-kv": {"add_bias_kv": True},
    "zero-attn": {"add_zero_attn": True},
    "bias-kv-zero-attn": {"add_bias_kv": True, "add_zero_attn": True},
    "kdim-vdim": {"kdim": 3, "vdim": 4},
    "batch-first": {"batch_first": True},
}


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("option", list(OPTIONS))
def test_mha_options_match_torch(option: str, need_weights: bool) -> None:
    kwargs = OPTIONS[option]
    ours, theirs = mha_pair(**kwargs)
    bf = kwargs.get("batch_first", False)
    separate = "kdim" in kwargs
    kpm = bool_mask(N, S, p=0.3)
    kpm[:, 0] = False
    attn = bool_mask(L if separate else S, S, p=0.3)
    attn[:, 0] = False
    if separate:
        arrays = [seq(L, batch_first=bf), seq(S, 3, bf), seq(S, 4, bf), kpm, attn]
    else:
        arrays = [seq(S, batch_first=bf), kpm, attn]

    def fn(lib: Any, t: list[Any]) -> Any:
        module = ours if lib is nr else theirs
        if separate:
            return module(t[0], t[1], t[2], key_padding_mask=t[3], attn_mask=t[4],
                          need_weights=need_weights)
        x = t[0]  # self-attention: the same tensor three times (packed projection)
        return module(x, x, x, key_padding_mask=t[1], attn_mask=t[2],
                      need_weights=need_weights)

    run_both(fn, arrays, {0, 1, 2} if separate else {0}, ours, theirs)


@pytest.mark.parametrize("average", [True, False])
def test_mha_unbatched_and_per_head_weights(average: bool) -> None:
    ours, theirs = mha_pair()
    arrays = [seq(L, unbatched=True), seq(S, unbatched=True), seq(S, unbatched=True),
              randn(S), randn(H, L, S)]

    def fn(lib: Any, t: list[Any]) -> Any:
        module = ours if lib is nr else theirs
        return module(t[0], t[1], t[1], key_padding_mask=t[3], attn_mask=t[4],
                      average_attn_weights=average)

    run_both(fn, arrays, {0, 1, 3, 4}, ours, theirs)


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_is_causal_hint_with_its_mask(need_weights: bool) -> None:
    ours, theirs = mha_pair(batch_first=True)
    causal = np.triu(np.ones((S, S), dtype=bool), k=1)
    arrays = [seq(S, batch_first=True), causal]

    def fn(lib: Any, t: list[Any]) -> Any:
        module = ours if lib is nr else theirs
        return module(t[0], t[0], t[0], attn_mask=t[1], is_causal=True,
                      need_weights=need_weights)

    run_both(fn, arrays, {0}, ours, theirs)


def test_mha_fully_padded_sequence_without_weights_matches_torch() -> None:
    ours, theirs = mha_pair()
    kpm = bool_mask(N, S, p=0.3)
    kpm[1] = True  # batch entry 1 is all padding: zero attention, output = out_proj.bias
    arrays = [seq(L), seq(S), kpm]

    def fn(lib: Any, t: list[Any]) -> Any:
        module = ours if lib is nr else theirs
        return module(t[0], t[1], t[1], key_padding_mask=t[2], need_weights=False)

    run_both(fn, arrays, {0, 1}, ours, theirs)


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_dropout_in_training_and_eval(need_weights: bool) -> None:
    # p = 1 drops every weight in both libraries: deterministic in training mode.
    ours, theirs = mha_pair(dropout=1.0)
    arrays = [seq(L), seq(S)]

    def fn(lib: Any, t: list[Any]) -> Any:
        module = ours if lib is nr else theirs
        return module(t[0], t[1], t[1], need_weights=need_weights)

    run_both(fn, arrays, {0, 1}, ours, theirs)
    ours.eval()
    theirs.eval()
    ours.zero_grad()
    theirs.zero_grad()
    run_both(fn, arrays, {0, 1}, ours, theirs)


def test_mha_parameters_init_and_repr_match_torch() -> None:
    for kwargs in ({}, {"kdim": 3, "vdim": 4, "add_bias_kv": True}, {"bias": False}):
        ours, theirs = mha_pair(**kwargs)
        assert [(n, p.shape) for n, p in ours.state_dict().items()] == \
            [(n, tuple(p.shape)) for n, p in theirs.state_dict().items()]
        assert repr(ours) == repr(theirs)
    nr.manual_seed(0)
    mha = MultiheadAttention(16, 4)
    np.testing.assert_array_equal(mha.in_proj_bias.detach().numpy(), 0.0)
    np.testing.assert_array_equal(mha.out_proj.bias.detach().numpy(), 0.0)
    bound = np.sqrt(6.0 / (16 + 48))  # xavier_uniform on (3E, E)
    w = mha.in_proj_weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound


def test_mha_gradcheck_finite_differences() -> None:
    mha = MultiheadAttention(4, 2, add_bias_kv=True).double()
    x = nr.tensor(randn(3, 2, 4)).requires_grad_()
    mask = nr.tensor(np.array([[False, True, False], [False, False, False]]))
    nr.autograd.gradcheck(lambda x: mha(x, x, x, key_padding_mask=mask)[0], [x], atol=1e-6,
                          rtol=1e-4)


# -- errors -------------------------------------------------------------------------------------------
def test_mha_constructor_errors() -> None:
    with pytest.raises(ValueError, match=r"embed_dim must be divisible by num_heads, got "
                                         r"embed_dim=10 and num_heads=4 \(10 % 4 = 2\)"):
        MultiheadAttention(10, 4)
    with pytest.raises(ValueError, match="embed_dim and num_heads must be greater than 0, got "
                                         "embed_dim=0 and num_heads=2"):
        MultiheadAttention(0, 2)


def test_mha_forward_errors() -> None:
    mha = MultiheadAttention(E, H)
    x = nr.zeros(L, N, E)
    with pytest.raises(ValueError, match="was expecting embedding dimension of 6, but got 5"):
        mha(nr.zeros(L, N, 5), nr.zeros(L, N, 5), nr.zeros(L, N, 5))
    with pytest.raises(ValueError, match="query should be unbatched 2-D .* but received 4-D"):
        mha(nr.zeros(1, L, N, E), x, x)
    with pytest.raises(ValueError, match="for batched \\(3-D\\) query, expected key and value "
                                         "to be 3-D but found 2-D and 3-D"):
        mha(x, nr.zeros(L, E), x)
    with pytest.raises(RuntimeError, match=r"the shape of the 2D attn_mask is \(3, 4\), but "
                                           r"should be \(4, 4\)"):
        mha(x, x, x, attn_mask=nr.zeros(3, 4))
    with pytest.raises(RuntimeError, match=r"the shape of the 3D attn_mask is \(2, 4, 4\), but "
                                           r"should be \(6, 4, 4\)"):
        mha(x, x, x, attn_mask=nr.zeros(2, 4, 4))
    with pytest.raises(RuntimeError, match=r"expected key_padding_mask of shape \(3, 4\) "
                                           r"\(N, S\), got \(3, 5\)"):
        mha(x, x, x, key_padding_mask=nr.zeros(N, 5, dtype=nr.bool_))
    with pytest.raises(TypeError, match="only bool and floating types of attn_mask are "
                                        "supported, got int64"):
        mha(x, x, x, attn_mask=nr.zeros(L, L, dtype=nr.int64))
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        mha(x, x, x, is_causal=True)
    with pytest.raises(ValueError, match=r"key shape \[4, 3, 6\] does not match value shape "
                                         r"\[5, 3, 6\]"):
        mha(x, x, nr.zeros(5, N, E))
    with pytest.warns(UserWarning, match="mismatched key_padding_mask and attn_mask"):
        mha(x, x, x, key_padding_mask=nr.zeros(N, L, dtype=nr.bool_), attn_mask=nr.zeros(L, L))
