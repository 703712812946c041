"""ONNX attention and sequence-model ops: ``Attention`` (masks, causal, caches, grouped
heads, softcap, sliding windows), ``LinearAttention`` (linear, gated, delta and gated-delta
state updates), ``CausalConvWithState`` and ``RotaryEmbedding``.

Each is written with registered ops (the recurrences unrolled over a concrete sequence
length), computing in float32 where ONNX's reference does and casting back at the end.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functions as fn
from ..nn import functional as F
from ..tensor import Tensor
from ..types.dtype import float32
from ._budget import current
from ._importers import (
    ImportContext,
    OnnxUnsupported,
    _bool,
    _check_size,
    _reg,
    _text,
    onnx_to_dtype,
)

__all__: list[str] = []


def _heads(t: Tensor, h: int) -> Tensor:
    """(B, T, H*D) -> (B, H, T, D)."""
    b, steps, hd = (int(v) for v in t.shape)
    return fn.permute(fn.reshape(t, [b, steps, h, hd // h]), [0, 2, 1, 3])


def _f32(t: Tensor) -> Tensor:
    return t if t.dtype is float32 else fn.cast(t, dtype=float32)


@_reg("LinearAttention")
def _linear_attention(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    """State ``S`` (B, H_kv, d_k, d_v) updated per step: decay ``S *= exp(g)`` (gated),
    delta rule ``v <- beta (v - S^T k)``, then ``S += k v^T``; output ``scale q S``."""
    xs = list(xs) + [None] * (6 - len(xs))
    q, k, v, past, decay, beta = xs[:6]
    rule = _text(a.get("update_rule", "gated_delta"))
    if rule not in ("linear", "gated", "delta", "gated_delta"):
        raise OnnxUnsupported(f"LinearAttention update_rule={rule!r}")
    hq, hkv = int(a["q_num_heads"]), int(a["kv_num_heads"])
    b, steps = int(q.shape[0]), int(q.shape[1])
    d_k, d_v = int(q.shape[2]) // hq, int(v.shape[2]) // hkv
    group = hq // hkv
    q4, k4, v4 = (_f32(_heads(t, h)) for t, h in ((q, hq), (k, hkv), (v, hkv)))
    gating, delta = rule in ("gated", "gated_delta"), rule in ("delta", "gated_delta")
    if gating:
        last = int(decay.shape[-1])
        decay4 = (fn.permute(fn.reshape(decay, [b, steps, hkv, 1]), [0, 2, 1, 3])
                  if last == hkv else _heads(decay, hkv))
        decay4 = _f32(decay4)  # (B, H_kv, T, 1 or d_k)
    if delta:
        last = int(beta.shape[-1])
        beta4 = _f32(fn.permute(fn.reshape(beta, [b, steps, last, 1]), [0, 2, 1, 3]))
    state = _f32(past) if past is not None else fn.zeros([b, hkv, d_k, d_v], dtype=float32)
    scale = a.get("scale")
    scale = 1.0 / float(np.sqrt(d_k)) if scale is None or float(scale) == 0.0 else float(scale)
    outs = []
    meter = current()
    for i in range(steps):
        meter.trip(f"recurrence step {i} of {steps}")
        q_t, k_t, v_t = q4[:, :, i, :], k4[:, :, i, :], v4[:, :, i, :]
        if gating:
            state = fn.mul(state, fn.unsqueeze(fn.exp(decay4[:, :, i, :]), -1))
        if delta:
            got = fn.squeeze(fn.matmul(fn.unsqueeze(k_t, -2), state), -2)  # (B, H, d_v)
            v_t = fn.mul(beta4[:, :, i, :], fn.sub(v_t, got))
        state = fn.add(state, fn.mul(fn.unsqueeze(k_t, -1), fn.unsqueeze(v_t, -2)))
        read = state
        if group > 1:  # each KV head serves `group` consecutive query heads
            read = fn.reshape(fn.expand(fn.unsqueeze(state, 2), [-1, -1, group, -1, -1]),
                              [b, hq, d_k, d_v])
        outs.append(fn.mul(fn.squeeze(fn.matmul(fn.unsqueeze(q_t, -2), read), -2), scale))
    y = fn.reshape(fn.stack(outs, 1), [b, steps, hq * d_v])  # (B, T, H_q, d_v) flattened
    state_dtype = past.dtype if past is not None else q.dtype
    return [fn.cast(y, dtype=q.dtype), fn.cast(state, dtype=state_dtype)]


@_reg("CausalConvWithState")
def _causal_conv(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    """Depthwise causal conv1d over ``[past_state, input]``; the new state is the last
    ``k - 1`` positions of that padded input."""
    xs = list(xs) + [None] * (4 - len(xs))
    x, w, bias, past = xs[:4]
    b, c = int(x.shape[0]), int(x.shape[1])
    k = int(w.shape[2])
    pad = past if past is not None else fn.zeros([b, c, k - 1], dtype=x.dtype)
    padded = fn.cat([pad, x], dim=2)
    y = fn.conv1d(padded, w, bias, groups=c)
    act = _text(a.get("activation", "none"))
    if act in ("silu", "swish"):
        y32 = _f32(y)
        y = fn.cast(fn.mul(y32, fn.sigmoid(y32)), dtype=x.dtype)
    elif act != "none":
        raise OnnxUnsupported(f"CausalConvWithState activation={act!r}")
    length = int(padded.shape[2])
    return [y, padded[:, :, length - (k - 1):]]


@_reg("RotaryEmbedding")
def _rotary(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    xs = list(xs) + [None] * (4 - len(xs))
    x, cos, sin, pos = xs[:4]
    four = x.ndim == 4
    t = fn.permute(x, [0, 2, 1, 3]) if four else x  # (B, S, H, D) or (B, S, H*D)
    if not four:
        heads = int(a["num_heads"])
        b, s, hd = (int(v) for v in t.shape)
        t = fn.reshape(t, [b, s, heads, hd // heads])
    head = int(t.shape[3])
    dim = int(a.get("rotary_embedding_dim", 0)) or head
    rot, keep = t[:, :, :, :dim], t[:, :, :, dim:]
    if pos is not None:
        idx = fn.cast(pos, dtype=_int64())
        cos = fn.reshape(fn.index_select(cos, 0, fn.reshape(idx, [-1])),
                         list(idx.shape) + [int(cos.shape[-1])])
        sin = fn.reshape(fn.index_select(sin, 0, fn.reshape(idx, [-1])),
                         list(idx.shape) + [int(sin.shape[-1])])
    cos, sin = fn.unsqueeze(cos, 2), fn.unsqueeze(sin, 2)
    interleaved = bool(a.get("interleaved", 0))
    if interleaved:
        x1, x2 = rot[:, :, :, 0::2], rot[:, :, :, 1::2]
    else:
        x1, x2 = rot[:, :, :, :dim // 2], rot[:, :, :, dim // 2:]
    real = fn.sub(fn.mul(cos, x1), fn.mul(sin, x2))
    imag = fn.add(fn.mul(sin, x1), fn.mul(cos, x2))
    if interleaved:
        rot = fn.reshape(fn.stack([real, imag], -1), list(rot.shape))
    else:
        rot = fn.cat([real, imag], dim=-1)
    out = fn.cat([rot, keep], dim=-1)
    if four:
        return [fn.permute(out, [0, 2, 1, 3])]
    return [fn.reshape(out, list(x.shape))]


def _int64() -> Any:
    from ..types.dtype import int64
    return int64


@_reg("Attention")
def _attention(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    """Scaled dot-product attention as ONNX's reference computes it: optional past key/value
    concatenated, grouped heads repeated, softcap, float/bool mask, causal (bottom-right)
    mask; fully masked rows give 0. Masks from static sizes are constants."""
    xs = list(xs) + [None] * (7 - len(xs))
    q, k, v, mask, past_k, past_v, nonpad = xs[:7]
    left, right = int(a.get("left_window_size", -1)), int(a.get("right_window_size", -1))
    three = q.ndim == 3
    b = int(q.shape[0])
    if three:
        hq, hkv = int(a["q_num_heads"]), int(a["kv_num_heads"])

        def heads(t: Tensor, h: int) -> Tensor:
            return fn.permute(fn.reshape(t, [b, int(t.shape[1]), h, -1]), [0, 2, 1, 3])
        q, k, v = heads(q, hq), heads(k, hkv), heads(v, hkv)
    scale = a.get("scale")
    scale = 1.0 / float(np.sqrt(int(q.shape[3]))) if scale is None else float(scale)
    # ONNX scales q and k by sqrt(scale) each, in the input dtype (matters in float16)
    root = float(np.asarray(np.sqrt(scale), dtype=q.dtype.np_dtype))
    if past_k is not None:
        k = fn.cat([past_k, k], dim=2)
    if past_v is not None:
        v = fn.cat([past_v, v], dim=2)
    present_k, present_v = k, v
    sq, skv = int(q.shape[2]), int(k.shape[2])
    # the scores (and the masks built on the host before them) are batch x heads x sq x skv
    _check_size([b, max(int(q.shape[1]), int(k.shape[1])), sq, skv], "Attention (its scores)")
    neg = float("-inf")
    bias: Tensor | None = None
    if mask is not None:
        pad = skv - int(mask.shape[-1])
        if pad > 0:
            shape = list(mask.shape)
            shape[-1] = pad
            fill = fn.full(shape, False if mask.dtype is _bool() else neg, dtype=mask.dtype)
            mask = fn.cat([mask, fill], dim=-1)
        if mask.dtype is _bool():
            mask = fn.where(mask, fn.zeros([], dtype=q.dtype), fn.full([], neg, dtype=q.dtype))
        bias = mask
    if a.get("is_causal", 0):
        offset: Any = int(past_k.shape[2]) if past_k is not None else 0
        if past_k is None and nonpad is not None:  # per-batch frontier: (B, 1, 1, 1)
            offset = ctx.array(nonpad).reshape(-1, 1, 1, 1) - sq
        allowed = np.arange(skv)[None, :] <= np.arange(sq)[:, None] + offset
        causal = fn.tensor(np.where(allowed, 0.0, -np.inf).astype(q.dtype.np_dtype))
        bias = causal if bias is None else fn.add(bias, causal)
    if left >= 0 or right >= 0:  # sliding window around each query's absolute position
        start: Any = int(past_k.shape[2]) if past_k is not None else 0
        if past_k is None and nonpad is not None:
            start = ctx.array(nonpad).reshape(-1, 1, 1, 1) - sq
        diff = np.arange(sq)[:, None] + start - np.arange(skv)[None, :]
        inside = np.ones_like(diff, dtype=bool)
        if left >= 0:
            inside &= diff <= left
        if right >= 0:
            inside &= -diff <= right
        window = fn.tensor(np.where(inside, 0.0, -np.inf).astype(q.dtype.np_dtype))
        bias = window if bias is None else fn.add(bias, window)
    if nonpad is not None:
        lens = ctx.array(nonpad).reshape(-1, 1)
        keep = np.arange(skv)[None, :] < lens
        padm = np.where(keep, 0.0, -np.inf).astype(q.dtype.np_dtype).reshape(b, 1, 1, skv)
        bias = fn.tensor(padm) if bias is None else fn.add(bias, fn.tensor(padm))
    hq_, hk_ = int(q.shape[1]), int(k.shape[1])
    if hq_ != hk_ and hq_ % hk_ == 0:
        rep = hq_ // hk_

        def repeat(t: Tensor) -> Tensor:
            e = fn.expand(fn.unsqueeze(t, 2), [-1, -1, rep, -1, -1])
            return fn.reshape(e, [b, hq_, int(t.shape[2]), int(t.shape[3])])
        k, v = repeat(k), repeat(v)
    qk = fn.matmul(fn.mul(q, root), fn.transpose(fn.mul(k, root), -2, -1))
    softcap = a.get("softcap")
    if softcap is not None and float(softcap) > 0:
        qk = fn.mul(fn.tanh(fn.div(qk, float(softcap))), float(softcap))
    scores = qk if bias is None else fn.add(qk, bias)
    mode = int(a.get("qk_matmul_output_mode", 0))
    qk_out = scores if mode == 2 else qk
    precision = a.get("softmax_precision")
    if precision is not None:
        scores = fn.cast(scores, dtype=onnx_to_dtype(int(precision)))
    if bias is not None:
        dead = fn.isinf(fn.amax(bias, -1, True))
        dead = fn.logical_and(dead, fn.lt(fn.amax(bias, -1, True), 0))
        zero = fn.zeros([], dtype=scores.dtype)
        probs = fn.where(dead, zero, F.softmax(fn.where(dead, zero, scores), dim=-1))
    else:
        probs = F.softmax(scores, dim=-1)
    probs = fn.cast(probs, dtype=q.dtype) if probs.dtype is not q.dtype else probs
    if mode == 3:
        qk_out = probs
    y = fn.matmul(probs, v)
    if three:
        y = fn.reshape(fn.permute(y, [0, 2, 1, 3]), [b, sq, -1])
    return [y, present_k, present_v, qk_out]
