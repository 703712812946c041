"""CPU kernel of ``rnn_layer`` (``neurarust.ops.recurrent``): the recurrence in numpy, with
PyTorch's gate orders (LSTM i, f, g, o; GRU r, z, n, whose ``b_hn`` sits inside the reset
product)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ops.registry import kernel


def _sigmoid(x: Any) -> Any:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # no overflow for large |x|


def _direction(mode: str, x: Any, h: Any, c: Any, w_ih: Any, w_hh: Any, b_ih: Any,
               b_hh: Any, reverse: bool) -> tuple[Any, Any, Any]:
    """One direction over (T, N, I): returns the (T, N, H) outputs and the final h and c."""
    hidden = h.shape[-1]
    xp = x @ w_ih.T + (b_ih if b_ih is not None else 0)
    bh = b_hh if b_hh is not None else np.zeros(w_hh.shape[0], x.dtype)
    out = np.empty(x.shape[:2] + (hidden,), x.dtype)
    steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    for t in steps:
        gh = h @ w_hh.T + bh
        if mode == "LSTM":
            gates = xp[t] + gh
            i, f = _sigmoid(gates[:, :hidden]), _sigmoid(gates[:, hidden:2 * hidden])
            g, o = np.tanh(gates[:, 2 * hidden:3 * hidden]), _sigmoid(gates[:, 3 * hidden:])
            c = f * c + i * g
            h = o * np.tanh(c)
        elif mode == "GRU":
            r = _sigmoid(xp[t, :, :hidden] + gh[:, :hidden])
            z = _sigmoid(xp[t, :, hidden:2 * hidden] + gh[:, hidden:2 * hidden])
            n = np.tanh(xp[t, :, 2 * hidden:] + r * gh[:, 2 * hidden:])
            h = (1 - z) * n + z * h
        else:
            pre = xp[t] + gh
            h = np.maximum(pre, 0) if mode == "RNN_RELU" else np.tanh(pre)
        out[t] = h
    return out, h, c


@kernel("rnn_layer", backend="cpu")
def rnn_layer(x: Any, h0: Any, c0: Any, w_ih: Any, w_hh: Any, b_ih: Any = None,
              b_hh: Any = None, *, mode: str, part: str) -> Any:
    outs, hs, cs = [], [], []
    for d in range(h0.shape[0]):
        out, h, c = _direction(mode, x, h0[d], None if c0 is None else c0[d], w_ih[d],
                               w_hh[d], None if b_ih is None else b_ih[d],
                               None if b_hh is None else b_hh[d], reverse=d == 1)
        outs.append(out)
        hs.append(h)
        cs.append(c)
    if part == "output":
        return np.concatenate(outs, axis=-1).astype(x.dtype)
    return np.stack(hs if part == "h_n" else cs).astype(x.dtype)
