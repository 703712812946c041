"""``rnn_layer``: one recurrent layer (all its directions) over a whole sequence.

Eager mode and training run ``nn.RNN``/``LSTM``/``GRU`` as a Python loop of registered ops
over the (concrete) time steps, which is how their gradients come for free. A loop cannot run
over a *symbolic* sequence length, so when ``nn.rnn`` is traced with one (``x: f32[B, T, 6]``)
each layer is recorded as this single op instead: its shape rule covers every ``T``, and its
ONNX mapping is ONNX's own ``RNN``/``LSTM``/``GRU`` node, which loops inside the runtime. Its
CPU kernel is the same recurrence in numpy (the reference the tests compare with the layer).

Inputs (PyTorch's layouts, one slice per direction ``D``): ``input (T, N, I)``,
``h0 (D, N, H)``, ``c0 (D, N, H)`` (LSTM only, else None), ``w_ih (D, G, I)``,
``w_hh (D, G, H)``, ``b_ih (D, G)``, ``b_hh (D, G)`` (None without bias), with ``G = H``,
``4H`` (LSTM gates i, f, g, o) or ``3H`` (GRU gates r, z, n). ``part`` picks the result:
``"output"`` ``(T, N, D * H)``, ``"h_n"`` or ``"c_n"`` ``(D, N, H)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..types.algebra import DimAlgebra, Shape
from ..types.dtype import DType
from ..types.errors import RuleViolation
from .registry import OpDef, register

if TYPE_CHECKING:
    from ..onnx.builder import OnnxBuilder, OnnxValue

__all__ = ["RnnLayer", "GATES"]

Dims = DimAlgebra[Any, Any]

GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
"""Gate blocks per mode (rows of ``w_ih`` are ``GATES[mode] * hidden``)."""

_PARTS = ("output", "h_n", "c_n")


def _show(shape: Shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


@register
class RnnLayer(OpDef):
    """One RNN/LSTM/GRU layer over a sequence (see the module docstring)."""

    name = "rnn_layer"
    differentiable = False  # training runs nn.rnn's step loop, whose ops differentiate
    input_names = ("input", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh")

    def shape(self, dims: Dims, x: Shape, h0: Shape, c0: Shape | None, w_ih: Shape,
              w_hh: Shape, b_ih: Shape | None = None, b_hh: Shape | None = None, *, mode: str,
              part: str) -> Shape:
        if mode not in GATES or part not in _PARTS or (part == "c_n" and mode != "LSTM"):
            raise RuleViolation("unknown mode or part", detail=f"mode={mode!r}, part={part!r}")
        if len(x) != 3 or len(h0) != 3 or len(w_ih) != 3 or len(w_hh) != 3:
            raise RuleViolation("expects input (T, N, I), h0 (D, N, H), w_ih (D, G, I) and "
                                "w_hh (D, G, H)", detail=f"got input {_show(x)}, h0 "
                                f"{_show(h0)}, w_ih {_show(w_ih)}, w_hh {_show(w_hh)}")
        if (c0 is None) != (mode != "LSTM"):
            raise RuleViolation("c0 is given exactly for an LSTM", detail=f"mode={mode!r}")
        steps, batch, features = x
        directions, _, hidden = h0
        gates = GATES[mode] * hidden
        expected: dict[str, tuple[tuple[Any, ...], Shape]] = {
            "h0": ((directions, batch, hidden), h0),
            "w_ih": ((directions, gates, features), w_ih),
            "w_hh": ((directions, gates, hidden), w_hh)}
        if c0 is not None:
            expected["c0"] = ((directions, batch, hidden), c0)
        for what, b in (("b_ih", b_ih), ("b_hh", b_hh)):
            if b is not None:
                expected[what] = ((directions, gates), b)
        for what, (want, got) in expected.items():
            dims.require(len(want) == len(got), f"{what} has the wrong rank",
                         hint=f"expected {_show(want)}, got {_show(got)}")
            for a, c in zip(want, got):
                dims.require(dims.eq(a, c), f"{what} does not fit the input and hidden size",
                             hint=f"expected {_show(want)}, got {_show(got)}")
        if part == "output":
            return (steps, batch, directions * hidden)
        return (directions, batch, hidden)

    def dtype(self, x: DType, *others: DType | None, **attrs: Any) -> DType:
        for d in others:
            if d is not None and d is not x:
                raise self.dtype_error("expects one float dtype for input, states and weights",
                                       x, d)
        if not x.is_floating_point:
            raise self.dtype_error("expects a floating point input", x)
        return x

    def to_onnx(self, g: OnnxBuilder, x: OnnxValue, h0: OnnxValue, c0: OnnxValue | None,
                w_ih: OnnxValue, w_hh: OnnxValue, b_ih: OnnxValue | None = None,
                b_hh: OnnxValue | None = None, *, mode: str, part: str) -> OnnxValue:
        # ONNX orders gates i, o, f, c (LSTM) and z, r, h (GRU); GRU's b_hn inside the reset
        # product is linear_before_reset=1. One ONNX node serves all three parts.
        from ..types import dtype as dt

        assert h0.shape is not None
        directions, hidden = h0.shape[0].as_int(), h0.shape[2].as_int()
        key = ("rnn_layer", mode, x.name, h0.name, c0.name if c0 else "", w_ih.name)
        outs = g.memo.get(key)
        if outs is None:
            blocks = {"LSTM": (0, 3, 1, 2), "GRU": (1, 0, 2)}.get(mode, (0,))
            order = g.ints([b * hidden + i for b in blocks for i in range(hidden)])
            w = g.node("Gather", w_ih, order, axis=1, dtype=x.dtype)
            r = g.node("Gather", w_hh, order, axis=1, dtype=x.dtype)
            b = None
            if b_ih is not None and b_hh is not None:
                b = g.node("Concat", g.node("Gather", b_ih, order, axis=1, dtype=x.dtype),
                           g.node("Gather", b_hh, order, axis=1, dtype=x.dtype), axis=1,
                           dtype=x.dtype)
            op = {"LSTM": "LSTM", "GRU": "GRU"}.get(mode, "RNN")
            attrs: dict[str, Any] = {"hidden_size": hidden,
                                     "direction": "bidirectional" if directions == 2
                                     else "forward"}
            if mode == "GRU":
                attrs["linear_before_reset"] = 1
            if op == "RNN":
                attrs["activations"] = ["Relu" if mode == "RNN_RELU" else "Tanh"] * directions
            n_out = 3 if op == "LSTM" else 2
            inputs = [x, w, r, b, None, h0] + ([c0] if op == "LSTM" else [])
            outs = g.node_outputs(op, *inputs, dtypes=[x.dtype] * n_out, **attrs)
            g.memo[key] = outs
        if part == "h_n":
            return outs[1]
        if part == "c_n":
            return outs[2]
        y = g.node("Transpose", outs[0], perm=[0, 2, 1, 3])  # (T, D, N, H) -> (T, N, D, H)
        return g.node("Reshape", y, g.const([0, 0, -1], dt.int64))
