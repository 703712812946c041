"""Attention: ``scaled_dot_product_attention`` and ``MultiheadAttention``, as PyTorch.

Both are compositions of registered ops (matmul, add, softmax, masked_fill, reshape,
permute, cat), so shapes, gradients, tracing and export come from the op declarations. Masks
follow PyTorch, whose two conventions differ:

- ``scaled_dot_product_attention``: a bool ``attn_mask`` is True where attention is
  *allowed*; a float one is added to the scores.
- ``MultiheadAttention``: a bool ``attn_mask``/``key_padding_mask`` is True where attention is
  *not allowed* (padding); a float one is added to the scores.

A query row whose keys are all masked gets zero weights (and zero output) in
``scaled_dot_product_attention``, as PyTorch's math backend does; the ``need_weights=True``
path of ``MultiheadAttention`` uses a plain softmax there, as PyTorch's does (NaN rows).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .. import functions as _F
from ..tensor import Tensor
from ..types.dtype import DType
from . import functional as F
from . import init
from .linear import Linear
from .module import Module
from .parameter import Parameter

__all__ = [
    "MultiheadAttention",
    "NonDynamicallyQuantizableLinear",
    "multi_head_attention_forward",
    "scaled_dot_product_attention",
]

_NEG_INF = float("-inf")


# -- masks -------------------------------------------------------------------------------------
def _bias_from_bool(mask: Tensor, dtype: DType, masked_when: bool) -> Tensor:
    """A float additive mask in ``dtype``: -inf where ``mask == masked_when``, 0 elsewhere."""
    drop = mask if masked_when else _F.logical_not(mask)
    return _F.masked_fill(_F.zeros(*mask.shape, dtype=dtype, device=mask.device), drop, _NEG_INF)


def _causal_bias(rows: int, cols: int, like: Tensor) -> Tensor:
    """(rows, cols) additive mask: -inf above the diagonal (row i sees keys 0..i), a constant."""
    bias = np.triu(np.full((rows, cols), -np.inf, like.dtype.np_dtype), k=1)
    return _F.tensor(bias, dtype=like.dtype, device=like.device)


def _safe_softmax(scores: Tensor, bias: Tensor) -> Tensor:
    """Softmax over the last dim, with zeros (not NaN) in rows that ``bias`` masks entirely.

    The dead rows are found from the mask, a constant, and set to 0 before the softmax so that
    neither the forward nor the backward ever sees NaN."""
    dead = _F.eq(_F.amax(bias.detach(), -1, keepdim=True), _NEG_INF)  # (..., L, 1)
    weights = F.softmax(_F.masked_fill(scores, dead, 0.0), dim=-1)
    return _F.masked_fill(weights, dead, 0.0)


def _check_sdpa_inputs(query: Tensor, key: Tensor, value: Tensor,
                       attn_mask: Tensor | None, is_causal: bool) -> None:
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"scaled_dot_product_attention: {name} must be a Tensor, got "
                            f"{type(t).__name__}")
    if min(query.ndim, key.ndim, value.ndim) < 2:
        raise ValueError(
            "scaled_dot_product_attention: expected query, key and value to be at least 2-D "
            f"(..., L, E), got query {list(query.shape)}, key {list(key.shape)} and value "
            f"{list(value.shape)}"
        )
    if not (query.dtype is key.dtype is value.dtype) or not query.dtype.is_floating_point:
        raise TypeError(
            "scaled_dot_product_attention: expected query, key and value to have the same "
            f"floating dtype, got {query.dtype.name}, {key.dtype.name} and {value.dtype.name}"
        )
    if attn_mask is not None:
        if attn_mask.dtype.name != "bool" and attn_mask.dtype is not query.dtype:
            raise TypeError(
                "scaled_dot_product_attention: attn_mask must be bool or have the query's "
                f"dtype ({query.dtype.name}), got {attn_mask.dtype.name}"
            )
        if is_causal:
            raise ValueError("scaled_dot_product_attention: explicit attn_mask should not be "
                             "set when is_causal=True; pass one or the other")


def _repeat_heads(x: Tensor, groups: int) -> Tensor:
    """(..., Hk, S, E) -> (..., Hk * groups, S, E), each head repeated ``groups`` times in
    place (``repeat_interleave`` on the head dim), for grouped-query attention."""
    shape = x.shape
    expanded = _F.expand(_F.unsqueeze(x, -3), (*shape[:-2], groups, *shape[-2:]))
    return _F.reshape(expanded, (*shape[:-3], shape[-3] * groups, *shape[-2:]))


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    r"""``softmax(query @ key^T * scale + mask) @ value``, as
    ``torch.nn.functional.scaled_dot_product_attention``.

    Args:
        query: ``(..., L, E)``.
        key: ``(..., S, E)``.
        value: ``(..., S, Ev)``.
        attn_mask: broadcastable to ``(..., L, S)``; bool: True where a query may attend a
            key; float (the query's dtype): added to the scores. Default: None.
        dropout_p: dropout probability on the attention weights. It is applied whenever it is
            positive (pass ``p if module.training else 0.0``, as in PyTorch). Default: 0.
        is_causal: mask keys after each query (the top-left aligned lower triangle of the
            ``(L, S)`` scores); exclusive with ``attn_mask``. Default: False.
        scale: the score scale. Default: ``1 / sqrt(E)``.
        enable_gqa: let key and value have fewer heads (dim -3) than query, a divisor of it;
            each key/value head then serves consecutive query heads. Default: False.

    Rows whose keys are all masked give zeros, as PyTorch's math backend.

    Shape:
        ``(..., L, E), (..., S, E), (..., S, Ev) -> (..., L, Ev)``

    Example:
        >>> q = nr.ones(2, 4, 3, 8)
        >>> nr.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True).shape
        (2, 4, 3, 8)
    """
    _check_sdpa_inputs(query, key, value, attn_mask, is_causal)
    if enable_gqa and query.ndim >= 3 and key.ndim >= 3:
        heads, kv_heads = query.shape[-3], key.shape[-3]
        if kv_heads == 0 or heads % kv_heads or value.shape[-3] != kv_heads:
            raise ValueError(
                "scaled_dot_product_attention: with enable_gqa=True the query's heads (dim -3) "
                f"must be a multiple of the key's and value's, got {heads}, {kv_heads} and "
                f"{value.shape[-3]}"
            )
        if heads != kv_heads:
            key = _repeat_heads(key, heads // kv_heads)
            value = _repeat_heads(value, heads // kv_heads)
    scale_factor = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = _F.matmul(query, _F.transpose(key, -2, -1)) * scale_factor  # (..., L, S)
    if is_causal:
        scores = scores + _causal_bias(query.shape[-2], key.shape[-2], scores)
        weights = F.softmax(scores, dim=-1)  # row i always sees key 0: no dead rows
    elif attn_mask is not None:
        bias = (_bias_from_bool(attn_mask, scores.dtype, masked_when=False)
                if attn_mask.dtype.name == "bool" else attn_mask)
        scores = scores + bias
        weights = _safe_softmax(scores, bias)
    else:
        weights = F.softmax(scores, dim=-1)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p, training=True)
    return _F.matmul(weights, value)


# -- multi-head attention -----------------------------------------------------------------------
def _canonical_mask(mask: Tensor | None, mask_name: str, other: Tensor | None,
                    other_name: str, target: DType) -> Tensor | None:
    """A MultiheadAttention mask as a float additive mask in ``target`` (bool True -> -inf)."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        raise TypeError(f"{mask_name} must be a Tensor, got {type(mask).__name__}")
    is_bool = mask.dtype.name == "bool"
    if not is_bool and not mask.dtype.is_floating_point:
        raise TypeError(f"only bool and floating types of {mask_name} are supported, got "
                        f"{mask.dtype.name}")
    if other is not None and other.dtype is not mask.dtype:
        warnings.warn(f"Support for mismatched {mask_name} and {other_name} is deprecated. "
                      "Use same type for both instead.", stacklevel=4)
    return _bias_from_bool(mask, target, masked_when=True) if is_bool else mask


def _pad_last(mask: Tensor) -> Tensor:
    """Append one zero (attend) column to an additive mask (for bias_k / add_zero_attn)."""
    zeros = _F.zeros(*mask.shape[:-1], 1, dtype=mask.dtype, device=mask.device)
    return _F.cat([mask, zeros], -1)


def _mha_shape_check(query: Tensor, key: Tensor, value: Tensor,
                     key_padding_mask: Tensor | None, attn_mask: Tensor | None,
                     num_heads: int) -> bool:
    """Ranks of the inputs and masks, as PyTorch checks them; True when batched."""
    where = "MultiheadAttention"
    if query.ndim == 3:
        if key.ndim != 3 or value.ndim != 3:
            raise ValueError(f"{where}: for batched (3-D) query, expected key and value to be "
                             f"3-D but found {key.ndim}-D and {value.ndim}-D tensors "
                             "respectively")
        if key_padding_mask is not None and key_padding_mask.ndim != 2:
            raise ValueError(f"{where}: for batched (3-D) query, expected key_padding_mask to "
                             f"be None or 2-D (N, S) but found {key_padding_mask.ndim}-D "
                             "tensor instead")
        if attn_mask is not None and attn_mask.ndim not in (2, 3):
            raise ValueError(f"{where}: for batched (3-D) query, expected attn_mask to be "
                             f"None, 2-D or 3-D but found {attn_mask.ndim}-D tensor instead")
        return True
    if query.ndim == 2:
        if key.ndim != 2 or value.ndim != 2:
            raise ValueError(f"{where}: for unbatched (2-D) query, expected key and value to "
                             f"be 2-D but found {key.ndim}-D and {value.ndim}-D tensors "
                             "respectively")
        if key_padding_mask is not None and key_padding_mask.ndim != 1:
            raise ValueError(f"{where}: for unbatched (2-D) query, expected key_padding_mask "
                             f"to be None or 1-D (S,) but found {key_padding_mask.ndim}-D "
                             "tensor instead")
        if attn_mask is not None:
            if attn_mask.ndim not in (2, 3):
                raise ValueError(f"{where}: for unbatched (2-D) query, expected attn_mask to "
                                 f"be None, 2-D or 3-D but found {attn_mask.ndim}-D tensor "
                                 "instead")
            expected = (num_heads, query.shape[0], key.shape[0])
            if attn_mask.ndim == 3 and tuple(attn_mask.shape) != expected:
                raise RuntimeError(f"{where}: expected attn_mask shape to be {expected} but "
                                   f"got {tuple(attn_mask.shape)}")
        return False
    raise ValueError(f"{where}: query should be unbatched 2-D (L, E) or batched 3-D tensor but "
                     f"received {query.ndim}-D query tensor of shape {list(query.shape)}")


def _in_projection(query: Tensor, key: Tensor, value: Tensor, embed_dim: int,
                   in_proj_weight: Tensor | None, in_proj_bias: Tensor | None,
                   q_proj_weight: Tensor | None, k_proj_weight: Tensor | None,
                   v_proj_weight: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """q, k, v = the three input projections; one matmul for self-attention with a packed
    weight (its rows are q's, k's, v's, as PyTorch packs them)."""
    e = embed_dim
    biases: list[Tensor | None] = [None, None, None]
    if in_proj_bias is not None:
        biases = [_F.narrow(in_proj_bias, 0, i * e, e) for i in range(3)]
    if in_proj_weight is None:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise ValueError("multi_head_attention_forward: without in_proj_weight, "
                             "q_proj_weight, k_proj_weight and v_proj_weight are all required")
        return (F.linear(query, q_proj_weight, biases[0]),
                F.linear(key, k_proj_weight, biases[1]),
                F.linear(value, v_proj_weight, biases[2]))
    if key is value and query is key:  # self-attention: one (L, N, 3E) projection
        packed = F.linear(query, in_proj_weight, in_proj_bias)
        q, k, v = (_F.narrow(packed, -1, i * e, e) for i in range(3))
        return q, k, v
    weights = [_F.narrow(in_proj_weight, 0, i * e, e) for i in range(3)]
    if key is value:  # encoder-decoder attention: one (S, N, 2E) projection for k and v
        kv_bias = None if in_proj_bias is None else _F.narrow(in_proj_bias, 0, e, 2 * e)
        kv = F.linear(key, _F.narrow(in_proj_weight, 0, e, 2 * e), kv_bias)
        return (F.linear(query, weights[0], biases[0]), _F.narrow(kv, -1, 0, e),
                _F.narrow(kv, -1, e, e))
    return (F.linear(query, weights[0], biases[0]), F.linear(key, weights[1], biases[1]),
            F.linear(value, weights[2], biases[2]))


def multi_head_attention_forward(
    query: Tensor, key: Tensor, value: Tensor, embed_dim_to_check: int, num_heads: int,
    in_proj_weight: Tensor | None, in_proj_bias: Tensor | None, bias_k: Tensor | None,
    bias_v: Tensor | None, add_zero_attn: bool, dropout_p: float, out_proj_weight: Tensor,
    out_proj_bias: Tensor | None, training: bool = True,
    key_padding_mask: Tensor | None = None, need_weights: bool = True,
    attn_mask: Tensor | None = None, use_separate_proj_weight: bool = False,
    q_proj_weight: Tensor | None = None, k_proj_weight: Tensor | None = None,
    v_proj_weight: Tensor | None = None, static_k: Tensor | None = None,
    static_v: Tensor | None = None, average_attn_weights: bool = True,
    is_causal: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """The functional form of :class:`MultiheadAttention` (sequence-first layouts), as
    ``torch.nn.functional.multi_head_attention_forward``; see the class for the arguments.
    ``static_k``/``static_v`` (``(N * num_heads, S, head_dim)``) replace the projected keys
    and values."""
    batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not batched:
        same_kv, self_attention = key is value, key is value and query is key
        query = _F.unsqueeze(query, 1)
        key = query if self_attention else _F.unsqueeze(key, 1)
        value = key if same_kv else _F.unsqueeze(value, 1)
        if key_padding_mask is not None:
            key_padding_mask = _F.unsqueeze(key_padding_mask, 0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", attn_mask,
                                       "attn_mask", query.dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError(
            "Need attn_mask if specifying the is_causal hint. You may use the Transformer "
            "module method `generate_square_subsequent_mask` to create this mask."
        )
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # the hint alone drives the causal mask in the fast path
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype)
        if key_padding_mask is not None:
            is_causal = False  # the merged mask is no longer causal
    if embed_dim != embed_dim_to_check:
        raise ValueError(f"MultiheadAttention: was expecting embedding dimension of "
                         f"{embed_dim_to_check}, but got {embed_dim} (query shape "
                         f"{list(query.shape)})")
    if embed_dim % num_heads:
        raise ValueError(f"MultiheadAttention: embed_dim {embed_dim} not divisible by "
                         f"num_heads {num_heads}")
    head_dim = embed_dim // num_heads
    if use_separate_proj_weight:
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise ValueError(f"MultiheadAttention: key's sequence and batch dims "
                             f"{list(key.shape[:2])} do not match value's "
                             f"{list(value.shape[:2])}")
        in_proj_weight = None
    elif tuple(key.shape) != tuple(value.shape):
        raise ValueError(f"MultiheadAttention: key shape {list(key.shape)} does not match "
                         f"value shape {list(value.shape)}")
    q, k, v = _in_projection(query, key, value, embed_dim, in_proj_weight, in_proj_bias,
                             q_proj_weight, k_proj_weight, v_proj_weight)

    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(f"MultiheadAttention: the shape of the 2D attn_mask is "
                                   f"{tuple(attn_mask.shape)}, but should be "
                                   f"{(tgt_len, src_len)}.")
            attn_mask = _F.reshape(attn_mask, (1, 1, tgt_len, src_len))
        else:
            if tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
                raise RuntimeError(f"MultiheadAttention: the shape of the 3D attn_mask is "
                                   f"{tuple(attn_mask.shape)}, but should be "
                                   f"{(bsz * num_heads, tgt_len, src_len)}.")
            attn_mask = _F.reshape(attn_mask, (bsz, num_heads, tgt_len, src_len))

    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise ValueError("MultiheadAttention: bias cannot be added to static key/value")
        k = _F.cat([k, _F.expand(bias_k, (1, bsz, embed_dim))], 0)
        v = _F.cat([v, _F.expand(bias_v, (1, bsz, embed_dim))], 0)
        attn_mask = _pad_last(attn_mask) if attn_mask is not None else None
        key_padding_mask = _pad_last(key_padding_mask) if key_padding_mask is not None else None
    elif bias_k is not None or bias_v is not None:
        raise ValueError("MultiheadAttention: bias_k and bias_v must be given together")

    # (L, N, E) -> (N, H, L, head_dim): heads split the embedding in consecutive blocks.
    q = _F.permute(_F.reshape(q, (tgt_len, bsz, num_heads, head_dim)), (1, 2, 0, 3))
    k = _heads(k, static_k, bsz, num_heads, head_dim, "static_k")
    v = _heads(v, static_v, bsz, num_heads, head_dim, "static_v")
    if add_zero_attn:
        zeros = _F.zeros(bsz, num_heads, 1, head_dim, dtype=k.dtype, device=k.device)
        k = _F.cat([k, zeros], 2)
        v = _F.cat([v, zeros], 2)
        attn_mask = _pad_last(attn_mask) if attn_mask is not None else None
        key_padding_mask = _pad_last(key_padding_mask) if key_padding_mask is not None else None
    src_len = k.shape[2]

    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (bsz, src_len):
            raise RuntimeError(f"MultiheadAttention: expected key_padding_mask of shape "
                               f"{(bsz, src_len)} (N, S), got {tuple(key_padding_mask.shape)}")
        padding = _F.reshape(key_padding_mask, (bsz, 1, 1, src_len))
        attn_mask = padding if attn_mask is None else attn_mask + padding

    if not training:
        dropout_p = 0.0
    if need_weights:
        scores = _F.matmul(q * math.sqrt(1.0 / head_dim), _F.transpose(k, -2, -1))
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = F.softmax(scores, dim=-1)  # (N, H, L, S)
        if dropout_p > 0.0:
            weights = F.dropout(weights, p=dropout_p, training=True)
        out = _F.matmul(weights, v)
    else:
        out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    # (N, H, L, head_dim) -> (L, N, E), then the output projection.
    out = _F.reshape(_F.permute(out, (2, 0, 1, 3)), (tgt_len, bsz, embed_dim))
    out = F.linear(out, out_proj_weight, out_proj_bias)
    if not batched:
        out = _F.squeeze(out, 1)
    if not need_weights:
        return out, None
    if average_attn_weights:
        weights = _F.mean(weights, 1)
    if not batched:
        weights = _F.squeeze(weights, 0)
    return out, weights


def _heads(x: Tensor, static: Tensor | None, bsz: int, num_heads: int, head_dim: int,
           name: str) -> Tensor:
    """Projected keys or values (S, N, E) as (N, H, S, head_dim), or ``static`` given as
    (N * H, S, head_dim)."""
    if static is None:
        return _F.permute(_F.reshape(x, (x.shape[0], bsz, num_heads, head_dim)), (1, 2, 0, 3))
    if static.ndim != 3 or static.shape[0] != bsz * num_heads or static.shape[2] != head_dim:
        raise RuntimeError(f"MultiheadAttention: expecting {name} of shape "
                           f"({bsz * num_heads}, S, {head_dim}), got {list(static.shape)}")
    return _F.reshape(static, (bsz, num_heads, static.shape[1], head_dim))


class NonDynamicallyQuantizableLinear(Linear):
    """The class of ``MultiheadAttention.out_proj``, as in PyTorch (a plain Linear)."""


class MultiheadAttention(Module):
    r"""Multi-head attention, as ``torch.nn.MultiheadAttention``:
    ``concat(head_1, ..., head_h) W_o^T + b_o`` with
    ``head_i = softmax(q W_qi^T (k W_ki^T)^T / sqrt(head_dim) + mask) v W_vi^T``.

    Args:
        embed_dim: the model width E; split across heads, so it must be divisible by
            ``num_heads``.
        num_heads: parallel attention heads.
        dropout: dropout probability on the attention weights (training only). Default: 0.
        bias: input and output projections have biases. Default: True.
        add_bias_kv: learn one extra key and value (``bias_k``, ``bias_v``) appended to the
            sequence. Default: False.
        add_zero_attn: append a zero key and value after projection. Default: False.
        kdim, vdim: feature sizes of key and value. Default: ``embed_dim``; when both equal
            it, the three input projections are packed in ``in_proj_weight`` ``(3E, E)``,
            else they are ``q_proj_weight`` ``(E, E)``, ``k_proj_weight`` ``(E, kdim)`` and
            ``v_proj_weight`` ``(E, vdim)``.
        batch_first: batched inputs and output are (N, L, E) instead of (L, N, E).
            Default: False.

    Shape:
        query ``(L, N, E)``, key ``(S, N, kdim)``, value ``(S, N, vdim)`` (batch first if
        asked; unbatched ``(L, E)`` etc. also work) -> output ``(L, N, E)`` and, with
        ``need_weights``, weights ``(N, L, S)`` (``(N, num_heads, L, S)`` without averaging).

    Example:
        >>> mha = nr.nn.MultiheadAttention(8, 2, batch_first=True)
        >>> x = nr.zeros(3, 5, 8)
        >>> out, weights = mha(x, x, x)
        >>> out.shape, weights.shape
        ((3, 5, 8), (3, 5, 5))
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False,
                 kdim: int | None = None, vdim: int | None = None, batch_first: bool = False,
                 device: Any = None, dtype: DType | None = None) -> None:
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be greater than "
                             f"0, got embed_dim={embed_dim} and num_heads={num_heads} instead")
        if embed_dim % num_heads:
            raise ValueError(
                f"MultiheadAttention: embed_dim must be divisible by num_heads, got "
                f"embed_dim={embed_dim} and num_heads={num_heads} ({embed_dim} % {num_heads} "
                f"= {embed_dim % num_heads}); hint: each head gets embed_dim // num_heads "
                "features, so pick num_heads among the divisors of embed_dim"
            )
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"MultiheadAttention: dropout must be in [0, 1], got {dropout}")
        super().__init__()
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        kw: dict[str, Any] = {"dtype": dtype, "device": device}
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = Parameter(_F.empty(embed_dim, embed_dim, **kw))
            self.k_proj_weight = Parameter(_F.empty(embed_dim, self.kdim, **kw))
            self.v_proj_weight = Parameter(_F.empty(embed_dim, self.vdim, **kw))
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = Parameter(_F.empty(3 * embed_dim, embed_dim, **kw))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(_F.empty(3 * embed_dim, **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, **kw)
        self.bias_k: Parameter | None = None
        self.bias_v: Parameter | None = None
        if add_bias_kv:
            self.bias_k = Parameter(_F.empty(1, 1, embed_dim, **kw))
            self.bias_v = Parameter(_F.empty(1, 1, embed_dim, **kw))
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """PyTorch's initialisation: Xavier-uniform projections, zero biases, Xavier-normal
        bias_k/bias_v; ``out_proj.weight`` keeps Linear's default."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
        if self.out_proj.bias is not None:
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    def forward(self, query: Tensor, key: Tensor, value: Tensor,
                key_padding_mask: Tensor | None = None, need_weights: bool = True,
                attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        """Attend from ``query`` to ``key``/``value``.

        Args:
            key_padding_mask: ``(N, S)`` (``(S,)`` unbatched); bool True marks a key to
                ignore (padding), a float one is added to the scores.
            need_weights: also return the attention weights. Default: True.
            attn_mask: ``(L, S)`` or ``(N * num_heads, L, S)``; bool True marks a pair that
                may not attend, a float one is added to the scores.
            average_attn_weights: average the returned weights over heads. Default: True.
            is_causal: a hint that ``attn_mask`` is the causal mask (which must still be
                given, as in PyTorch). Default: False.

        Returns:
            ``(output, weights)``; ``weights`` is None unless ``need_weights``.
        """
        batched = query.ndim == 3
        if self.batch_first and batched:
            # keep the identities (query is key is value) that pick the packed projections
            if key is value:
                if query is key:
                    query = key = value = _F.transpose(query, 0, 1)
                else:
                    query, key = _F.transpose(query, 0, 1), _F.transpose(key, 0, 1)
                    value = key
            else:
                query, key, value = (_F.transpose(x, 0, 1) for x in (query, key, value))
        out, weights = multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight,
            self.in_proj_bias, self.bias_k, self.bias_v, self.add_zero_attn, self.dropout,
            self.out_proj.weight, self.out_proj.bias, training=self.training,
            key_padding_mask=key_padding_mask, need_weights=need_weights, attn_mask=attn_mask,
            use_separate_proj_weight=not self._qkv_same_embed_dim,
            q_proj_weight=self.q_proj_weight, k_proj_weight=self.k_proj_weight,
            v_proj_weight=self.v_proj_weight, average_attn_weights=average_attn_weights,
            is_causal=is_causal,
        )
        if self.batch_first and batched:
            out = _F.transpose(out, 0, 1)
        return out, weights
