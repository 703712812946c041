"""ONNX ``RNN`` / ``GRU`` / ``LSTM`` import: the recurrences unrolled over the sequence.

Each step is written with registered ops (matmul, add, the gate activations, ``where`` for
``sequence_lens``), so an imported recurrent model trains like any other. The input
projection of all time steps is one matmul; only the recurrent part runs per step. Gate
orders are ONNX's (LSTM ``i o f c``, GRU ``z r h``); ``layout=1`` means batch-first tensors.
The loop needs a concrete sequence length (a traced model with a symbolic ``T`` is refused
by the tracer when it reads the length).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import functions as fn
from ..nn import functional as F
from ..tensor import Tensor
from ..trace.dims import plain
from ._budget import current
from ._importers import ImportContext, OnnxUnsupported, _reg, _text

__all__: list[str] = []

Activation = Callable[[Tensor], Tensor]


def _activation(name: str, alpha: float | None, beta: float | None) -> Activation:
    """An ONNX RNN activation (with its optional alpha/beta) as a function of tensors."""
    key = name.lower()
    if key == "sigmoid":
        return fn.sigmoid
    if key == "tanh":
        return fn.tanh
    if key == "relu":
        return fn.relu
    if key == "affine":
        return lambda x: fn.add(fn.mul(x, alpha if alpha is not None else 1.0),
                                beta if beta is not None else 0.0)
    if key == "leakyrelu":
        return lambda x: F.leaky_relu(x, alpha if alpha is not None else 0.01)
    if key == "thresholdedrelu":
        a = alpha if alpha is not None else 1.0
        return lambda x: fn.where(fn.gt(x, a), x, fn.zeros_like(x))
    if key == "scaledtanh":
        return lambda x: fn.mul(fn.tanh(fn.mul(x, beta if beta is not None else 1.0)),
                                alpha if alpha is not None else 1.0)
    if key == "hardsigmoid":
        return lambda x: fn.clamp(fn.add(fn.mul(x, alpha if alpha is not None else 0.2),
                                         beta if beta is not None else 0.5), 0.0, 1.0)
    if key == "elu":
        return lambda x: F.elu(x, alpha if alpha is not None else 1.0)
    if key == "softsign":
        return F.softsign
    if key == "softplus":
        return F.softplus
    raise OnnxUnsupported(f"recurrent activation {name!r}")


def _activations(a: dict[str, Any], defaults: list[str], n_dirs: int) -> list[list[Activation]]:
    """Per direction, the node's activation functions (ONNX lists them direction-major)."""
    names = [_text(v) for v in a.get("activations", [])] or defaults * n_dirs
    if len(names) == len(defaults):
        names = names * n_dirs
    alphas = list(a.get("activation_alpha", []))
    betas = list(a.get("activation_beta", []))
    fns = [_activation(nm, alphas[i] if i < len(alphas) else None,
                       betas[i] if i < len(betas) else None) for i, nm in enumerate(names)]
    k = len(defaults)
    return [fns[d * k:(d + 1) * k] for d in range(n_dirs)]


def _run(ctx: ImportContext, xs: list[Any], a: dict[str, Any], kind: str) -> list[Any]:
    xs = list(xs) + [None] * (8 - len(xs))
    x, w, r, b, lens, h0, c0, peep = xs[:8]
    if kind != "LSTM":
        c0 = peep = None
    layout = int(a.get("layout", 0))
    if layout:
        x = fn.transpose(x, 0, 1)  # (T, B, I)
        h0 = None if h0 is None else fn.transpose(h0, 0, 1)
        c0 = None if c0 is None else fn.transpose(c0, 0, 1)
    direction = _text(a.get("direction", "forward"))
    dirs = {"forward": [False], "reverse": [True], "bidirectional": [False, True]}.get(direction)
    if dirs is None:
        raise OnnxUnsupported(f"{kind} direction={direction!r}")
    gates = {"RNN": 1, "GRU": 3, "LSTM": 4}[kind]
    hidden = int(a.get("hidden_size", int(w.shape[1]) // gates))
    steps, batch = int(x.shape[0]), plain(x.shape[1])  # the batch may be a traced size
    defaults = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"],
                "LSTM": ["Sigmoid", "Tanh", "Tanh"]}[kind]
    acts = _activations(a, defaults, len(dirs))
    clip = a.get("clip")
    lens_np = None if lens is None else ctx.array(lens).astype(np.int64)
    if lens_np is not None and bool((lens_np >= steps).all()):
        lens_np = None  # every sequence is full length: no masking needed
    ys, hs, cs = [], [], []
    for d, reverse in enumerate(dirs):
        wd, rd = fn.transpose(w[d], 0, 1), fn.transpose(r[d], 0, 1)  # (I, G*H), (H, G*H)
        proj = fn.matmul(x, wd)  # (T, B, G*H): every step's input projection at once
        rb = None
        if b is not None:
            wb, rb = b[d][:gates * hidden], b[d][gates * hidden:]
            proj = fn.add(proj, wb)
        h = h0[d] if h0 is not None else fn.zeros([batch, hidden], dtype=x.dtype)
        c = c0[d] if c0 is not None else fn.zeros([batch, hidden], dtype=x.dtype)
        outs: list[Tensor | None] = [None] * steps
        meter = current()
        for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
            meter.trip(f"recurrence step {t} of {steps}")
            h_new, c_new = _step(kind, proj[t], h, c, rd, rb, hidden, acts[d], clip, a,
                                 None if peep is None else peep[d])
            if lens_np is not None:
                keep = fn.tensor((t < lens_np).reshape(-1, 1))
                h_new = fn.where(keep, h_new, h)
                c_new = fn.where(keep, c_new, c)
                outs[t] = fn.where(keep, h_new, fn.zeros_like(h_new))
            else:
                outs[t] = h_new
            h, c = h_new, c_new
        ys.append(fn.stack([o for o in outs if o is not None], 0))  # (T, B, H)
        hs.append(h)
        cs.append(c)
    y = fn.stack(ys, 1)  # (T, D, B, H)
    y_h, y_c = fn.stack(hs, 0), fn.stack(cs, 0)  # (D, B, H)
    if layout:
        y = fn.permute(y, [2, 0, 1, 3])  # (B, T, D, H)
        y_h, y_c = fn.transpose(y_h, 0, 1), fn.transpose(y_c, 0, 1)
    return [y, y_h, y_c if kind == "LSTM" else None]


def _step(kind: str, xp: Tensor, h: Tensor, c: Tensor, r: Tensor, rb: Tensor | None,
          hidden: int, acts: list[Activation], clip: Any, a: dict[str, Any],
          peep: Tensor | None) -> tuple[Tensor, Tensor]:
    """One time step: (new hidden state, new cell state; the cell is unused but by LSTM)."""
    def clipped(v: Tensor) -> Tensor:
        return v if clip is None else fn.clamp(v, -float(clip), float(clip))

    def part(v: Tensor, i: int) -> Tensor:
        return v[:, i * hidden:(i + 1) * hidden]

    if kind == "GRU":
        f, g = acts
        hr = fn.matmul(h, r)  # (B, 3H)
        if rb is not None:
            rz, rr, rh = (rb[i * hidden:(i + 1) * hidden] for i in range(3))
        z = f(clipped(fn.add(fn.add(part(xp, 0), part(hr, 0)), rz) if rb is not None
                      else fn.add(part(xp, 0), part(hr, 0))))
        rt = f(clipped(fn.add(fn.add(part(xp, 1), part(hr, 1)), rr) if rb is not None
                       else fn.add(part(xp, 1), part(hr, 1))))
        if int(a.get("linear_before_reset", 0)):
            rec = part(hr, 2) if rb is None else fn.add(part(hr, 2), rh)
            cand = g(clipped(fn.add(part(xp, 2), fn.mul(rt, rec))))
        else:
            rec = fn.matmul(fn.mul(rt, h), r[:, 2 * hidden:])
            cand = g(clipped(fn.add(fn.add(part(xp, 2), rec), rh) if rb is not None
                             else fn.add(part(xp, 2), rec)))
        return fn.add(fn.mul(fn.sub(1.0, z), cand), fn.mul(z, h)), c
    pre = fn.add(xp, fn.matmul(h, r))
    if rb is not None:
        pre = fn.add(pre, rb)
    if kind == "RNN":
        return acts[0](clipped(pre)), c
    f, g, hact = acts
    pi, po, pf = (None, None, None) if peep is None else \
        (peep[:hidden], peep[hidden:2 * hidden], peep[2 * hidden:])
    i_pre, o_pre, f_pre, c_pre = (part(pre, k) for k in range(4))
    i = f(clipped(i_pre if pi is None else fn.add(i_pre, fn.mul(pi, c))))
    if int(a.get("input_forget", 0)):
        forget = fn.sub(1.0, i)
    else:
        forget = f(clipped(f_pre if pf is None else fn.add(f_pre, fn.mul(pf, c))))
    c_new = fn.add(fn.mul(forget, c), fn.mul(i, g(clipped(c_pre))))
    o = f(clipped(o_pre if po is None else fn.add(o_pre, fn.mul(po, c_new))))
    return fn.mul(o, hact(c_new)), c_new


@_reg("RNN")
def _rnn(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    return _run(ctx, xs, a, "RNN")


@_reg("GRU")
def _gru(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    return _run(ctx, xs, a, "GRU")


@_reg("LSTM")
def _lstm(ctx: ImportContext, xs: list[Any], a: dict[str, Any]) -> list[Any]:
    return _run(ctx, xs, a, "LSTM")
