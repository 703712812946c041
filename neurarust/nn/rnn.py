"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` and their one-step cells, as ``torch.nn``.

Parameter names, shapes, gate orderings, layouts and initialisation are PyTorch's, so a torch
``state_dict`` (converted to numpy) loads as is:

- ``weight_ih_l{k}[_reverse]``: ``(G, input)``, ``weight_hh_l{k}[_reverse]``: ``(G, H)``,
  ``bias_ih_l{k}[_reverse]``, ``bias_hh_l{k}[_reverse]``: ``(G,)``, with ``G = H`` (RNN),
  ``4H`` (LSTM, gates ``i, f, g, o``) or ``3H`` (GRU, gates ``r, z, n``); an LSTM with
  ``proj_size`` adds ``weight_hr_l{k}[_reverse]``: ``(proj_size, H)``.
- every parameter starts as U(-1/sqrt(H), 1/sqrt(H)).

Everything is a composition of registered ops, so shapes, gradients, tracing and export come
from the op declarations. The time loop is a Python loop over the (concrete) time dimension;
the input projection of a whole sequence is one matmul per layer and direction (as fast
implementations do), so each step costs only the recurrent matmul and the gate arithmetic.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

from .. import functions as _F
from ..tensor import Tensor
from ..types.dtype import DType
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNBase", "RNNCell", "RNNCellBase"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _dropout(x: Tensor, p: float) -> Tensor:
    """Dropout in training mode, from ``nn.functional`` (imported late: it may import us)."""
    from . import functional as F

    return F.dropout(x, p=p, training=True)  # type: ignore[no-any-return]


# -- one time step of each cell ------------------------------------------------------------
# ``xp`` is the input projection of this step, ``x @ W_ih.T + b_ih`` (+ ``b_hh`` where it can be
# folded in: RNN and LSTM), shape (N, G); ``w_hh_t`` is ``W_hh.T``, (H or proj, G).

def _rnn_step(xp: Tensor, h: Tensor, w_hh_t: Tensor, relu: bool) -> Tensor:
    pre = xp + _F.matmul(h, w_hh_t)
    return _F.relu(pre) if relu else _F.tanh(pre)


def _lstm_step(xp: Tensor, h: Tensor, c: Tensor, w_hh_t: Tensor, hidden: int,
               w_hr_t: Tensor | None) -> tuple[Tensor, Tensor]:
    gates = xp + _F.matmul(h, w_hh_t)  # (N, 4H): i, f, g, o
    sig = _F.sigmoid(gates)  # one op for i, f, o (g's sigmoid is unused)
    i = _F.narrow(sig, 1, 0, hidden)
    f = _F.narrow(sig, 1, hidden, hidden)
    g = _F.tanh(_F.narrow(gates, 1, 2 * hidden, hidden))
    o = _F.narrow(sig, 1, 3 * hidden, hidden)
    c = f * c + i * g
    h = o * _F.tanh(c)
    if w_hr_t is not None:
        h = _F.matmul(h, w_hr_t)
    return h, c


def _gru_step(xp: Tensor, h: Tensor, w_hh_t: Tensor, b_hh: Tensor | None,
              hidden: int) -> Tensor:
    gh = _F.matmul(h, w_hh_t)  # (N, 3H): r, z, n
    if b_hh is not None:
        gh = gh + b_hh  # b_hn sits inside r * (W_hn h + b_hn), so it cannot be folded into xp
    rz = _F.sigmoid(_F.narrow(xp, 1, 0, 2 * hidden) + _F.narrow(gh, 1, 0, 2 * hidden))
    r = _F.narrow(rz, 1, 0, hidden)
    z = _F.narrow(rz, 1, hidden, hidden)
    n = _F.tanh(_F.narrow(xp, 1, 2 * hidden, hidden) + r * _F.narrow(gh, 1, 2 * hidden, hidden))
    return n + z * (h - n)  # = (1 - z) * n + z * h


_LEAF_STEPS = 8


def _time_steps(x: Tensor) -> list[Tensor]:
    """``[x[0], ..., x[T-1]]`` as views, split as a binary tree of ``narrow``s.

    The backward of a slice scatters into zeros of its parent's size, so T slices taken
    straight from a (T, ...) tensor cost O(T^2) in backward; halving first keeps it at
    O(T log T) with about 2T/8 extra view ops in forward."""
    steps = x.shape[0]
    if steps <= _LEAF_STEPS:
        return [x[t] for t in range(steps)]
    half = steps // 2
    return (_time_steps(_F.narrow(x, 0, 0, half))
            + _time_steps(_F.narrow(x, 0, half, steps - half)))


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} should be of type bool, got: {type(value).__name__}")


def _check_size(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} should be of type int, got: {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be greater than zero, got {value}")


class RNNBase(Module):
    """The machinery shared by :class:`RNN`, :class:`LSTM` and :class:`GRU` (as
    ``torch.nn.RNNBase``): parameters per layer and direction, argument checks, the layer
    and direction loops. ``mode`` is ``"RNN_TANH"``, ``"RNN_RELU"``, ``"LSTM"`` or ``"GRU"``.
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device: Any = None,
                 dtype: DType | None = None) -> None:
        super().__init__()
        if mode not in _GATES:
            raise ValueError(f"Unrecognized RNN mode: {mode}; expected one of {sorted(_GATES)}")
        if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):  # type: ignore[operator]
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the probability of "
                f"an element being zeroed, got {dropout!r}"
            )
        _check_bool("bias", bias)
        _check_bool("batch_first", batch_first)
        _check_bool("bidirectional", bidirectional)
        _check_size("input_size", input_size)
        _check_size("hidden_size", hidden_size)
        _check_size("num_layers", num_layers)
        if not isinstance(proj_size, int) or proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable "
                             f"projections, got {proj_size!r}")
        if proj_size and mode != "LSTM":
            raise ValueError(f"proj_size argument is only supported for LSTM, not {mode}")
        if proj_size >= hidden_size:
            raise ValueError(f"proj_size has to be smaller than hidden_size, got "
                             f"proj_size={proj_size} and hidden_size={hidden_size}")
        if dropout > 0 and num_layers == 1:  # type: ignore[operator]
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                f"num_layers={num_layers}", stacklevel=2)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)  # type: ignore[arg-type]
        self.bidirectional = bidirectional
        self.proj_size = proj_size

        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        directions = 2 if bidirectional else 1
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            for direction in range(directions):
                layer_input = input_size if layer == 0 else real_hidden * directions
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes: list[tuple[str, tuple[int, ...]]] = [
                    ("weight_ih" + suffix, (gate_size, layer_input)),
                    ("weight_hh" + suffix, (gate_size, real_hidden)),
                ]
                if bias:
                    shapes += [("bias_ih" + suffix, (gate_size,)),
                               ("bias_hh" + suffix, (gate_size,))]
                if proj_size > 0:
                    shapes.append(("weight_hr" + suffix, (proj_size, hidden_size)))
                for name, shape in shapes:
                    setattr(self, name, Parameter(_F.empty(*shape, dtype=dtype, device=device)))
                self._flat_weights_names.extend(name for name, _ in shapes)
                self._all_weights.append([name for name, _ in shapes])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """A no-op kept for PyTorch compatibility (cuDNN's packed weight buffer)."""

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters per layer and direction, in PyTorch's order."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    @property
    def _flat_weights(self) -> list[Parameter]:
        return [getattr(self, name) for name in self._flat_weights_names]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # -- checks -----------------------------------------------------------------------------
    def _name(self) -> str:
        return type(self).__name__

    def _state_size(self) -> int:
        return self.proj_size if self.proj_size > 0 else self.hidden_size

    def _check_input(self, input: Tensor) -> bool:
        """Validate the input; True when it is batched (3-D)."""
        if not isinstance(input, Tensor):
            raise TypeError(f"{self._name()}: expected a Tensor input, got "
                            f"{type(input).__name__}")
        if input.ndim not in (2, 3):
            raise ValueError(f"{self._name()}: Expected input to be 2D or 3D, got "
                             f"{input.ndim}D instead (shape {list(input.shape)})")
        weight = self._flat_weights[0]
        if input.dtype is not weight.dtype:
            raise ValueError(
                f"{self._name()}: input dtype ({input.dtype.name}) does not match weight dtype "
                f"({weight.dtype.name}). Convert input: input.to({weight.dtype.name}), or "
                f"convert model: model.to({input.dtype.name})"
            )
        if input.shape[-1] != self.input_size:
            raise RuntimeError(
                f"{self._name()}: input.size(-1) must be equal to input_size. Expected "
                f"{self.input_size}, got {input.shape[-1]} (input shape {list(input.shape)})"
            )
        return input.ndim == 3

    def _prepare_state(self, hx: Tensor | None, batched: bool, batch: int, size: int,
                       like: Tensor, what: str) -> Tensor:
        """``hx`` as (layers * directions, N, size): zeros when None, unsqueezed when the
        input is unbatched; a clear error when its rank or shape does not fit."""
        expected = (self.num_layers * (2 if self.bidirectional else 1), batch, size)
        if hx is None:
            return _F.zeros(*expected, dtype=like.dtype, device=like.device)
        if not isinstance(hx, Tensor):
            raise TypeError(f"{self._name()}: {what} must be a Tensor, got {type(hx).__name__}")
        if batched and hx.ndim != 3:
            raise RuntimeError(f"{self._name()}: For batched 3-D input, {what} should also be "
                               f"3-D but got {hx.ndim}-D tensor")
        if not batched and hx.ndim != 2:
            raise RuntimeError(f"{self._name()}: For unbatched 2-D input, {what} should also "
                               f"be 2-D but got {hx.ndim}-D tensor")
        if not batched:
            hx = _F.unsqueeze(hx, 1)
        if tuple(hx.shape) != expected:
            shown = expected if batched else (expected[0], expected[2])
            got = hx.shape if batched else (hx.shape[0], hx.shape[2])
            raise RuntimeError(f"{self._name()}: Expected {what} size {shown}, got {list(got)}")
        if hx.dtype is not like.dtype:
            raise ValueError(f"{self._name()}: {what} dtype ({hx.dtype.name}) does not match "
                             f"input dtype ({like.dtype.name})")
        return hx

    # -- the layer and direction loops --------------------------------------------------------
    def _weights(self, layer: int, direction: int) -> dict[str, Parameter]:
        names = self._all_weights[layer * (2 if self.bidirectional else 1) + direction]
        return {name.split("_l")[0]: getattr(self, name) for name in names}

    def _run(self, x: Tensor, h0: Tensor, c0: Tensor | None
             ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Run all layers on a sequence-first batch ``x``: (T, N, input); returns the last
        layer's output (T, N, directions * state) and the final states as PyTorch lays them
        out, (layers * directions, N, state)."""
        directions = 2 if self.bidirectional else 1
        steps = x.shape[0]
        if not isinstance(steps, int) and self.proj_size == 0:
            return self._run_symbolic(x, h0, c0)
        hidden = self.hidden_size
        h_n: list[Tensor] = []
        c_n: list[Tensor] = []
        layer_input = x
        for layer in range(self.num_layers):
            outputs: list[Tensor] = []
            for direction in range(directions):
                w = self._weights(layer, direction)
                index = layer * directions + direction
                # (T, N, G): the input projection of every step in one matmul.
                xp = _F.matmul(layer_input, w["weight_ih"].t())
                b_hh = w.get("bias_hh")
                if "bias_ih" in w:
                    folded = self.mode != "GRU"
                    xp = xp + (w["bias_ih"] + w["bias_hh"] if folded else w["bias_ih"])
                w_hh_t = w["weight_hh"].t()
                w_hr = w.get("weight_hr")
                w_hr_t = w_hr.t() if w_hr is not None else None
                h = h0[index]
                c = c0[index] if c0 is not None else None
                order = range(steps - 1, -1, -1) if direction == 1 else range(steps)
                per_step: list[Tensor] = [h] * steps
                xp_steps = _time_steps(xp)
                for t in order:
                    xp_t = xp_steps[t]
                    if self.mode == "LSTM":
                        assert c is not None
                        h, c = _lstm_step(xp_t, h, c, w_hh_t, hidden, w_hr_t)
                    elif self.mode == "GRU":
                        h = _gru_step(xp_t, h, w_hh_t, b_hh, hidden)
                    else:
                        h = _rnn_step(xp_t, h, w_hh_t, self.mode == "RNN_RELU")
                    per_step[t] = h
                outputs.append(_F.stack(per_step, 0))
                h_n.append(h)
                if c is not None:
                    c_n.append(c)
            layer_output = outputs[0] if directions == 1 else _F.cat(outputs, 2)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_output = _dropout(layer_output, self.dropout)
            layer_input = layer_output
        return layer_input, _F.stack(h_n, 0), (_F.stack(c_n, 0) if c_n else None)

    def _run_symbolic(self, x: Tensor, h0: Tensor, c0: Tensor | None
                      ) -> tuple[Tensor, Tensor, Tensor | None]:
        """``_run`` while tracing with a symbolic sequence length, where no Python loop can
        run: one ``rnn_layer`` op per layer (``neurarust.ops.recurrent``), which exports as
        ONNX's RNN/LSTM/GRU node."""
        directions = 2 if self.bidirectional else 1
        h_n: list[Tensor] = []
        c_n: list[Tensor] = []
        layer_input = x
        for layer in range(self.num_layers):
            ws = [self._weights(layer, d) for d in range(directions)]
            stacked = {name: _F.stack([w[name] for w in ws], 0) for name in ws[0]}
            states = slice(layer * directions, (layer + 1) * directions)
            args = (layer_input, h0[states], c0[states] if c0 is not None else None,
                    stacked["weight_ih"], stacked["weight_hh"], stacked.get("bias_ih"),
                    stacked.get("bias_hh"))
            out = _F.apply("rnn_layer", *args, mode=self.mode, part="output")
            h_n.append(_F.apply("rnn_layer", *args, mode=self.mode, part="h_n"))
            if c0 is not None:
                c_n.append(_F.apply("rnn_layer", *args, mode=self.mode, part="c_n"))
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                out = _dropout(out, self.dropout)
            layer_input = out
        return layer_input, _F.cat(h_n, 0), (_F.cat(c_n, 0) if c_n else None)

    def _forward(self, input: Tensor, hx: Tensor | None, cx: Tensor | None,
                 lstm: bool) -> tuple[Tensor, Tensor, Tensor | None]:
        batched = self._check_input(input)
        x = input
        if not batched:
            x = _F.unsqueeze(x, 1)
        elif self.batch_first:
            x = _F.transpose(x, 0, 1)
        if x.shape[0] == 0:
            raise RuntimeError(f"{self._name()}: Expected sequence length to be larger than 0, "
                               f"got input shape {list(input.shape)}")
        batch = x.shape[1]
        h0 = self._prepare_state(hx, batched, batch, self._state_size(), input,
                                 "hidden[0]" if lstm else "hx")
        c0 = (self._prepare_state(cx, batched, batch, self.hidden_size, input, "hidden[1]")
              if lstm else None)
        out, h_n, c_n = self._run(x, h0, c0)
        if not batched:
            out = _F.squeeze(out, 1)
            h_n = _F.squeeze(h_n, 1)
            c_n = _F.squeeze(c_n, 1) if c_n is not None else None
        elif self.batch_first:
            out = _F.transpose(out, 0, 1)
        return out, h_n, c_n


class RNN(RNNBase):
    r"""A multi-layer Elman RNN, as ``torch.nn.RNN``:
    ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (or ReLU).

    Args:
        input_size: features of each input step.
        hidden_size: features of the hidden state.
        num_layers: stacked recurrent layers, each reading the previous one's output.
            Default: 1.
        nonlinearity: ``'tanh'`` or ``'relu'``. Default: ``'tanh'``.
        bias: if False, no ``b_ih``/``b_hh``. Default: True.
        batch_first: inputs and outputs are (N, T, feature) instead of (T, N, feature); the
            hidden states keep (layers * directions, N, H). Default: False.
        dropout: dropout probability on each layer's output except the last (training only).
            Default: 0.
        bidirectional: also run each layer backwards in time and concatenate. Default: False.

    Shape:
        input ``(T, N, input_size)`` (``(N, T, input_size)`` if batch_first) or unbatched
        ``(T, input_size)``; ``h_0`` ``(D * num_layers, N, H)`` or ``(D * num_layers, H)``,
        zeros when omitted. Returns ``output`` ``(T, N, D * H)`` and ``h_n`` like ``h_0``.

    Example:
        >>> rnn = nr.nn.RNN(4, 8, num_layers=2)
        >>> out, h_n = rnn(nr.zeros(5, 3, 4))
        >>> out.shape, h_n.shape
        ((5, 3, 8), (2, 3, 8))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device: Any = None,
                 dtype: DType | None = None) -> None:
        modes = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}
        if nonlinearity not in modes:
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or "
                             "'relu'.")
        super().__init__(modes[nonlinearity], input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, 0, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        out, h_n, _ = self._forward(input, hx, None, lstm=False)
        return out, h_n


class LSTM(RNNBase):
    r"""A multi-layer long short-term memory RNN, as ``torch.nn.LSTM``. Each step computes
    the gates ``i, f, g, o`` (in this order in the weights) and

    ``c_t = f * c_{t-1} + i * g``, ``h_t = o * tanh(c_t)`` (then ``h_t W_hr^T`` with proj_size),

    with ``i, f, o`` sigmoids and ``g`` a tanh of ``x_t W_i*^T + b_i* + h_{t-1} W_h*^T + b_h*``.

    Args: as :class:`RNN` (no nonlinearity), plus ``proj_size``: if > 0, the hidden state is
    projected to this size by ``weight_hr_l{k}``. Default: 0.

    Shape:
        input as :class:`RNN`; ``(h_0, c_0)`` of ``(D * num_layers, N, H_out)`` and
        ``(D * num_layers, N, H)`` (without N when unbatched), zeros when omitted, where
        ``H_out`` is proj_size or hidden_size. Returns ``output, (h_n, c_n)``.

    Example:
        >>> lstm = nr.nn.LSTM(4, 8, batch_first=True, bidirectional=True)
        >>> out, (h_n, c_n) = lstm(nr.zeros(3, 5, 4))
        >>> out.shape, h_n.shape, c_n.shape
        ((3, 5, 16), (2, 3, 8), (2, 3, 8))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device: Any = None,
                 dtype: DType | None = None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device, dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        h0: Tensor | None = None
        c0: Tensor | None = None
        if hx is not None:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError("LSTM: hx must be a tuple (h_0, c_0) of two tensors, got "
                                f"{type(hx).__name__}")
            h0, c0 = hx
        out, h_n, c_n = self._forward(input, h0, c0, lstm=True)
        assert c_n is not None
        return out, (h_n, c_n)


class GRU(RNNBase):
    r"""A multi-layer gated recurrent unit RNN, as ``torch.nn.GRU``. Each step computes

    ``r = σ(W_ir x + b_ir + W_hr h + b_hr)``, ``z = σ(W_iz x + b_iz + W_hz h + b_hz)``,
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h' = (1 - z) * n + z * h``

    (gates in the order ``r, z, n`` in the weights; the reset gate multiplies
    ``W_hn h + b_hn``, PyTorch's and cuDNN's variant).

    Args, Shape: as :class:`RNN`.

    Example:
        >>> gru = nr.nn.GRU(4, 8)
        >>> out, h_n = gru(nr.zeros(5, 4))  # unbatched
        >>> out.shape, h_n.shape
        ((5, 8), (1, 8))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device: Any = None,
                 dtype: DType | None = None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, 0, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        out, h_n, _ = self._forward(input, hx, None, lstm=False)
        return out, h_n


# -- cells ---------------------------------------------------------------------------------
class RNNCellBase(Module):
    """Parameters and checks shared by the cells: ``weight_ih`` ``(G, input_size)``,
    ``weight_hh`` ``(G, hidden_size)``, ``bias_ih``/``bias_hh`` ``(G,)``, as PyTorch."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device: Any = None, dtype: DType | None = None) -> None:
        super().__init__()
        _check_size("input_size", input_size)
        _check_size("hidden_size", hidden_size)
        _check_bool("bias", bias)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        gate_size = num_chunks * hidden_size
        self.weight_ih = Parameter(_F.empty(gate_size, input_size, dtype=dtype, device=device))
        self.weight_hh = Parameter(_F.empty(gate_size, hidden_size, dtype=dtype, device=device))
        if bias:
            self.bias_ih = Parameter(_F.empty(gate_size, dtype=dtype, device=device))
            self.bias_hh = Parameter(_F.empty(gate_size, dtype=dtype, device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nonlinearity = getattr(self, "nonlinearity", "tanh")
        if nonlinearity != "tanh":
            s += f", nonlinearity={nonlinearity}"
        return s

    def _check_input(self, input: Tensor) -> bool:
        name = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: expected a Tensor input, got {type(input).__name__}")
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input has inconsistent input_size: got "
                               f"{input.shape[-1]} expected {self.input_size}")
        if input.dtype is not self.weight_ih.dtype:
            raise ValueError(f"{name}: input dtype ({input.dtype.name}) does not match weight "
                             f"dtype ({self.weight_ih.dtype.name})")
        return input.ndim == 2

    def _state(self, hx: Tensor | None, x: Tensor, batched: bool, what: str) -> Tensor:
        """``hx`` as (N, H) for the 2-D input ``x``; zeros when None."""
        name = type(self).__name__
        if hx is None:
            return _F.zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
        if not isinstance(hx, Tensor):
            raise TypeError(f"{name}: {what} must be a Tensor, got {type(hx).__name__}")
        if hx.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected {what} to be 1D or 2D, got {hx.ndim}D instead")
        if hx.ndim != (2 if batched else 1):
            raise RuntimeError(f"{name}: {what} must be {'2' if batched else '1'}-D for a "
                               f"{'2' if batched else '1'}-D input, got {hx.ndim}-D")
        if not batched:
            hx = _F.unsqueeze(hx, 0)
        if hx.shape[0] != x.shape[0]:
            raise RuntimeError(f"{name}: Input batch size {x.shape[0]} doesn't match {what} "
                               f"batch size {hx.shape[0]}")
        if hx.shape[1] != self.hidden_size:
            raise RuntimeError(f"{name}: {what} has inconsistent hidden_size: got "
                               f"{hx.shape[1]}, expected {self.hidden_size}")
        return hx

    def _projection(self, x: Tensor, fold_hh: bool) -> Tensor:
        xp = _F.matmul(x, self.weight_ih.t())
        if self.bias_ih is not None:
            xp = xp + (self.bias_ih + self.bias_hh if fold_hh else self.bias_ih)
        return xp


def _unbatch(x: Tensor, batched: bool) -> Tensor:
    return x if batched else _F.squeeze(x, 0)


class RNNCell(RNNCellBase):
    r"""One step of an Elman RNN, as ``torch.nn.RNNCell``:
    ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or ReLU).

    Shape:
        input ``(N, input_size)`` or ``(input_size,)``; hx ``(N, H)`` or ``(H,)``, zeros when
        omitted; returns h' like hx.

    Example:
        >>> nr.nn.RNNCell(4, 8)(nr.zeros(3, 4)).shape
        (3, 8)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device: Any = None,
                 dtype: DType | None = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}. Select from 'tanh' or "
                             "'relu'.")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        batched = self._check_input(input)
        x = input if batched else _F.unsqueeze(input, 0)
        h = self._state(hx, x, batched, "hidden")
        h = _rnn_step(self._projection(x, True), h, self.weight_hh.t(),
                      self.nonlinearity == "relu")
        return _unbatch(h, batched)


class LSTMCell(RNNCellBase):
    r"""One LSTM step, as ``torch.nn.LSTMCell`` (gates ``i, f, g, o``; see :class:`LSTM`).

    Shape:
        input ``(N, input_size)`` or ``(input_size,)``; ``hx = (h, c)``, each ``(N, H)`` or
        ``(H,)``, zeros when omitted; returns ``(h', c')``.

    Example:
        >>> h, c = nr.nn.LSTMCell(4, 8)(nr.zeros(3, 4))
        >>> h.shape, c.shape
        ((3, 8), (3, 8))
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: DType | None = None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, Tensor]:
        batched = self._check_input(input)
        x = input if batched else _F.unsqueeze(input, 0)
        if hx is None:
            h = c = self._state(None, x, batched, "hx[0]")
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError("LSTMCell: hx must be a tuple (h, c) of two tensors, got "
                                f"{type(hx).__name__}")
            h = self._state(hx[0], x, batched, "hx[0]")
            c = self._state(hx[1], x, batched, "hx[1]")
        h, c = _lstm_step(self._projection(x, True), h, c, self.weight_hh.t(),
                          self.hidden_size, None)
        return _unbatch(h, batched), _unbatch(c, batched)


class GRUCell(RNNCellBase):
    r"""One GRU step, as ``torch.nn.GRUCell`` (gates ``r, z, n``; see :class:`GRU`).

    Shape:
        input ``(N, input_size)`` or ``(input_size,)``; hx ``(N, H)`` or ``(H,)``, zeros when
        omitted; returns h' like hx.

    Example:
        >>> nr.nn.GRUCell(4, 8)(nr.zeros(4)).shape
        (8,)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: DType | None = None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        batched = self._check_input(input)
        x = input if batched else _F.unsqueeze(input, 0)
        h = self._state(hx, x, batched, "hidden")
        h = _gru_step(self._projection(x, False), h, self.weight_hh.t(), self.bias_hh,
                      self.hidden_size)
        return _unbatch(h, batched)

