"""``rnn_layer`` (the op a recurrent layer becomes when traced with a symbolic sequence
length): its numpy kernel against the layers' own step loop and against PyTorch, and its
shape rule under the symbolic algebra."""

from __future__ import annotations

import numpy as np
import pytest

import neurarust as nr
from neurarust import nn
from neurarust.functions import apply

CASES = [("RNN_TANH", lambda: nn.RNN(3, 4, bidirectional=True)),
         ("RNN_RELU", lambda: nn.RNN(3, 4, nonlinearity="relu", bias=False)),
         ("LSTM", lambda: nn.LSTM(3, 4, bidirectional=True)),
         ("GRU", lambda: nn.GRU(3, 4, bidirectional=True))]


def _args(layer: nn.Module, x: nr.Tensor, lstm: bool) -> tuple[object, ...]:
    d = 2 if layer.bidirectional else 1
    names = layer._all_weights  # per direction: weight_ih, weight_hh[, bias_ih, bias_hh]
    stack = [nr.stack([getattr(layer, n[k]) for n in names[:d]], 0) if len(names[0]) > k
             else None for k in range(4)]
    h0 = nr.randn(d, x.shape[1], 4)
    c0 = nr.randn(d, x.shape[1], 4) if lstm else None
    return (x, h0, c0, *stack)


@pytest.mark.parametrize("mode,make", CASES, ids=[c[0] for c in CASES])
def test_kernel_matches_the_step_loop(mode: str, make: object) -> None:
    nr.manual_seed(0)
    layer = make()  # type: ignore[operator]
    x = nr.randn(6, 2, 3)
    args = _args(layer, x, mode == "LSTM")
    h0, c0 = args[1], args[2]
    with nr.no_grad():
        want = layer(x, (h0, c0)) if mode == "LSTM" else layer(x, h0)
        out = apply("rnn_layer", *args, mode=mode, part="output")
        h_n = apply("rnn_layer", *args, mode=mode, part="h_n")
    np.testing.assert_allclose(out.numpy(), want[0].numpy(), rtol=1e-5, atol=1e-6)
    if mode == "LSTM":
        c_n = apply("rnn_layer", *args, mode=mode, part="c_n")
        np.testing.assert_allclose(h_n.numpy(), want[1][0].numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(c_n.numpy(), want[1][1].numpy(), rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_allclose(h_n.numpy(), want[1].numpy(), rtol=1e-5, atol=1e-6)


def test_kernel_matches_torch_lstm() -> None:
    torch = pytest.importorskip("torch")
    nr.manual_seed(1)
    layer = nn.LSTM(3, 4, bidirectional=True)
    ref = torch.nn.LSTM(3, 4, bidirectional=True)
    with torch.no_grad():
        for name, p in ref.named_parameters():
            p.copy_(torch.from_numpy(getattr(layer, name).detach().numpy()))
    x = nr.randn(5, 2, 3)
    with nr.no_grad():
        args = _args(layer, x, True)
        out = apply("rnn_layer", *args, mode="LSTM", part="output")
    with torch.no_grad():
        want, _ = ref(torch.from_numpy(x.numpy()), (torch.from_numpy(args[1].numpy()),
                                                    torch.from_numpy(args[2].numpy())))
    np.testing.assert_allclose(out.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)


def test_traced_with_a_symbolic_length_records_one_op_per_layer() -> None:
    g = nr.trace(nn.LSTM(3, 4, num_layers=2, batch_first=True), {"x": "f32[B, T, 3]"})
    ops = [n.op for n in g.nodes]
    assert ops.count("rnn_layer") == 6  # output, h_n and c_n of each layer
    assert [v.type_str for v in g.output_values] == ["f32[B, T, 4]", "f32[2, B, 4]",
                                                     "f32[2, B, 4]"]
    with pytest.raises(nr.ShapeError, match="rnn_layer: w_ih does not fit"):
        apply("rnn_layer", nr.zeros(2, 1, 3), nr.zeros(1, 1, 4), None, nr.zeros(1, 4, 5),
              nr.zeros(1, 4, 4), mode="RNN_TANH", part="output")
