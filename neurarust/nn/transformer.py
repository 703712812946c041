"""The transformer encoder: ``TransformerEncoderLayer`` and ``TransformerEncoder``, as PyTorch.

Submodule and parameter names are PyTorch's (``self_attn.in_proj_weight``, ``linear1``,
``norm1``, ``layers.0. ...``), so a torch checkpoint converted to numpy loads as is. The layers
are compositions of :class:`MultiheadAttention`, :class:`Linear`, :class:`LayerNorm`,
:class:`Dropout` and activations, all written with registered ops.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import functions as _F
from ..tensor import Tensor
from ..types.dtype import DType
from . import functional as F
from .attention import MultiheadAttention, _canonical_mask
from .container import ModuleList
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .normalization import LayerNorm

__all__ = ["TransformerEncoder", "TransformerEncoderLayer", "generate_square_subsequent_mask"]

Activation = Callable[[Tensor], Tensor]


def generate_square_subsequent_mask(sz: int, device: Any = None,
                                    dtype: DType | None = None) -> Tensor:
    """The ``(sz, sz)`` causal mask: ``-inf`` above the diagonal (position i may not attend
    positions after i), 0 elsewhere, as ``torch.nn.Transformer.generate_square_subsequent_mask``.

    Example:
        >>> nr.nn.transformer.generate_square_subsequent_mask(3)
        tensor([[  0., -inf, -inf],
                [  0.,   0., -inf],
                [  0.,   0.,   0.]])
    """
    mask = _F.full((sz, sz), float("-inf"), dtype=dtype, device=device)
    keep = _F.tensor(np.tril(np.ones((sz, sz), dtype=bool)), device=device)
    return _F.masked_fill(mask, keep, 0.0)


def _activation(activation: str | Activation) -> Activation:
    if isinstance(activation, str):
        if activation == "relu":
            return F.relu  # type: ignore[no-any-return]
        if activation == "gelu":
            return F.gelu  # type: ignore[no-any-return]
        raise RuntimeError(f"activation should be relu/gelu, not {activation}")
    if not callable(activation):
        raise TypeError(f"activation should be 'relu', 'gelu' or a callable, got "
                        f"{type(activation).__name__}")
    return activation


class TransformerEncoderLayer(Module):
    r"""Self-attention then a feed-forward block, each with a residual connection and a
    LayerNorm, as ``torch.nn.TransformerEncoderLayer`` ("Attention Is All You Need").

    ``norm_first=False`` (post-norm): ``x = norm1(x + sa(x)); x = norm2(x + ff(x))``;
    ``norm_first=True`` (pre-norm): ``x = x + sa(norm1(x)); x = x + ff(norm2(x))``,
    with ``ff(x) = dropout2(linear2(dropout(activation(linear1(x)))))`` and
    ``sa(x) = dropout1(self_attn(x, x, x))``.

    Args:
        d_model: the model width E.
        nhead: attention heads (must divide d_model).
        dim_feedforward: the feed-forward block's hidden width. Default: 2048.
        dropout: dropout probability everywhere (training only). Default: 0.1.
        activation: ``"relu"``, ``"gelu"`` or a callable (a module is registered as a
            submodule). Default: relu.
        layer_norm_eps: the LayerNorms' eps. Default: 1e-5.
        batch_first: inputs and output are (N, S, E) instead of (S, N, E). Default: False.
        norm_first: pre-norm instead of post-norm. Default: False.
        bias: the Linear and LayerNorm layers have additive biases. Default: True.

    Shape:
        src ``(S, N, E)`` (``(N, S, E)`` batch first, ``(S, E)`` unbatched) -> the same.

    Example:
        >>> layer = nr.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True)
        >>> layer(nr.zeros(3, 5, 8)).shape
        (3, 5, 8)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str | Activation = "relu",
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device: Any = None,
                 dtype: DType | None = None) -> None:
        super().__init__()
        kw: dict[str, Any] = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(activation)

    def forward(self, src: Tensor, src_mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None, is_causal: bool = False) -> Tensor:
        """Encode ``src``.

        Args:
            src_mask: ``(S, S)`` or ``(N * nhead, S, S)``; bool True marks a pair that may not
                attend, a float one is added to the scores.
            src_key_padding_mask: ``(N, S)``; bool True marks padding.
            is_causal: a hint that ``src_mask`` is the causal mask.
        """
        src_key_padding_mask = _canonical_mask(src_key_padding_mask, "src_key_padding_mask",
                                               src_mask, "src_mask", src.dtype)
        src_mask = _canonical_mask(src_mask, "src_mask", None, "", src.dtype)
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x: Tensor, attn_mask: Tensor | None, key_padding_mask: Tensor | None,
                  is_causal: bool) -> Tensor:
        out = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                             need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(out)  # type: ignore[no-any-return]

    def _ff_block(self, x: Tensor) -> Tensor:
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout2(x)  # type: ignore[no-any-return]


class TransformerEncoder(Module):
    r"""A stack of ``num_layers`` copies of ``encoder_layer`` (deep copies: independent
    parameters, all starting from ``encoder_layer``'s), then ``norm`` if given, as
    ``torch.nn.TransformerEncoder``.

    Args:
        encoder_layer: the layer to copy (a :class:`TransformerEncoderLayer`, or any module
            with its forward signature).
        num_layers: how many copies. 
        norm: an optional final normalisation module. Default: None.
        enable_nested_tensor, mask_check: accepted for PyTorch compatibility; without nested
            tensors they change nothing.

    Shape:
        as :class:`TransformerEncoderLayer`.

    Example:
        >>> layer = nr.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
        >>> nr.nn.TransformerEncoder(layer, num_layers=2)(nr.zeros(5, 3, 8)).shape
        (5, 3, 8)
    """

    def __init__(self, encoder_layer: Module, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True) -> None:
        super().__init__()
        if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers < 0:
            raise ValueError(f"TransformerEncoder: num_layers must be a non-negative int, got "
                             f"{num_layers!r}")
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check

    def forward(self, src: Tensor, mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None,
                is_causal: bool | None = None) -> Tensor:
        """Pass ``src`` through every layer in turn (same masks for each), then ``norm``.

        Args:
            mask, src_key_padding_mask: as :meth:`TransformerEncoderLayer.forward`'s
                ``src_mask`` and ``src_key_padding_mask``.
            is_causal: a hint that ``mask`` is the causal mask. Default: None, which means
                False here: the mask is applied as given, which gives the same result as the
                hint would (PyTorch compares the mask's values to detect it, a data-dependent
                branch that a traced graph cannot hold).
        """
        # bool masks become additive float masks once here, not once per layer
        src_key_padding_mask = _canonical_mask(src_key_padding_mask, "src_key_padding_mask",
                                               mask, "mask", src.dtype)
        mask = _canonical_mask(mask, "mask", None, "", src.dtype)
        output = src
        for layer in self.layers:
            output = layer(output, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                           is_causal=bool(is_causal))
        if self.norm is not None:
            output = self.norm(output)
        return output
