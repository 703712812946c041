"""RNN, LSTM, GRU and their cells vs PyTorch in float64: outputs, final states, and gradients
with respect to the inputs, the initial states and every parameter, with torch's parameters
loaded by name through ``load_state_dict``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import neurarust as nr
from neurarust import nn
from neurarust.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

torch = pytest.importorskip("torch")

TOL = 1e-10
CLASSES = {"RNN": (RNN, "RNN"), "LSTM": (LSTM, "LSTM"), "GRU": (GRU, "GRU")}
CELLS = {"RNNCell": RNNCell, "LSTMCell": LSTMCell, "GRUCell": GRUCell}


def copy_params(ours: nn.Module, theirs: Any) -> None:
    """Load torch's parameters into ours by name (strict: same keys and shapes)."""
    state = {k: nr.tensor(v.detach().numpy().copy()) for k, v in theirs.state_dict().items()}
    ours.load_state_dict(state)


def flatten(out: Any) -> list[Any]:
    if isinstance(out, (tuple, list)):
        return [x for o in out for x in flatten(o)]
    return [out]


def compare(ours: nn.Module, theirs: Any, arrays: list[Any],
            call: Callable[[Any, list[Any]], Any]) -> None:
    """Run ``call(module, tensors)`` in both libraries on the same float64 arrays (None
    entries pass through), compare every output, then backpropagate the same random linear
    functional of the outputs and compare the gradients of the inputs and all parameters."""
    copy_params(ours, theirs)
    nr_in = [None if a is None else nr.tensor(a).requires_grad_() for a in arrays]
    th_in = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    nr_out = flatten(call(ours, nr_in))
    th_out = flatten(call(theirs, th_in))
    assert len(nr_out) == len(th_out)
    rng = np.random.default_rng(1)
    nr_loss: Any = 0.0
    th_loss: Any = 0.0
    for o, t in zip(nr_out, th_out):
        assert o.shape == tuple(t.shape), (o.shape, tuple(t.shape))
        np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=TOL, atol=TOL)
        w = rng.standard_normal(o.shape)
        nr_loss = nr_loss + (o * nr.tensor(w)).sum()
        th_loss = th_loss + (t * torch.tensor(w)).sum()
    nr_loss.backward()
    th_loss.backward()
    for a, b in zip(nr_in, th_in):
        if a is not None:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=TOL, atol=TOL)
    ours_params = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        assert ours_params[name].grad is not None, name
        np.testing.assert_allclose(ours_params[name].grad.numpy(), p.grad.numpy(), rtol=TOL,
                                   atol=TOL, err_msg=name)


def pair(kind: str, *args: Any, **kwargs: Any) -> tuple[nn.Module, Any]:
    ours_cls, torch_name = CLASSES[kind] if kind in CLASSES else (CELLS[kind], kind)
    ours = ours_cls(*args, **kwargs).double()
    theirs = getattr(torch.nn, torch_name)(*args, **kwargs).double()
    return ours, theirs


# -- whole sequences -------------------------------------------------------------------------
# (num_layers, bidirectional, batch_first, unbatched, with_h0, bias)
CONFIGS = [
    (1, False, False, False, False, True),
    (1, False, False, False, True, True),
    (2, False, True, False, True, True),
    (1, True, False, False, True, True),
    (2, True, True, False, False, True),
    (2, True, False, True, True, True),
    (1, False, False, True, False, False),
    (1, False, True, True, True, True),  # batch_first is ignored for unbatched input
    (2, True, False, False, True, False),
]
KINDS = [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}), ("GRU", {}),
         ("LSTM", {"proj_size": 2})]


@pytest.mark.parametrize("kind,extra", KINDS, ids=lambda v: str(v))
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "L{}-bi{}-bf{}-unb{}-h0{}-bias{}".format(*c))
def test_sequence_matches_torch(kind: str, extra: dict[str, Any], config: tuple[Any, ...]) -> None:
    layers, bidir, batch_first, unbatched, with_h0, bias = config
    in_size, hidden, steps, batch = 3, 4, 4, 2
    ours, theirs = pair(kind, in_size, hidden, num_layers=layers, bidirectional=bidir,
                        batch_first=batch_first, bias=bias, **extra)
    rng = np.random.default_rng(0)
    x_shape = (steps, in_size) if unbatched else (
        (batch, steps, in_size) if batch_first else (steps, batch, in_size))
    states = layers * (2 if bidir else 1)
    out_size = extra.get("proj_size", hidden)
    h_shape = (states, out_size) if unbatched else (states, batch, out_size)
    c_shape = (states, hidden) if unbatched else (states, batch, hidden)
    arrays = [rng.standard_normal(x_shape)]
    if with_h0:
        arrays.append(rng.standard_normal(h_shape))
        if kind == "LSTM":
            arrays.append(rng.standard_normal(c_shape))

    def call(module: Any, t: list[Any]) -> Any:
        if len(t) == 1:
            return module(t[0])
        return module(t[0], (t[1], t[2]) if kind == "LSTM" else t[1])

    compare(ours, theirs, arrays, call)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_parameter_names_shapes_and_order_match_torch(kind: str) -> None:
    extra = {"proj_size": 2} if kind == "LSTM" else {}
    ours, theirs = pair(kind, 3, 5, num_layers=2, bidirectional=True, **extra)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    assert [[p.shape for p in ws] for ws in ours.all_weights] == \
        [[tuple(p.shape) for p in ws] for ws in theirs.all_weights]


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"])
def test_default_init_is_uniform_in_one_over_sqrt_hidden(kind: str) -> None:
    nr.manual_seed(0)
    hidden = 16
    module = (CLASSES[kind][0] if kind in CLASSES else CELLS[kind])(8, hidden)
    bound = 1 / np.sqrt(hidden)
    values = np.concatenate([p.detach().numpy().ravel() for p in module.parameters()])
    assert values.min() >= -bound and values.max() <= bound
    assert values.min() < -0.8 * bound and values.max() > 0.8 * bound  # spread, not constant
    assert abs(values.mean()) < 0.1 * bound


def test_repr_matches_torch() -> None:
    for kind, kwargs in [("LSTM", {"num_layers": 2, "dropout": 0.5, "bidirectional": True,
                                       "proj_size": 2}),
                         ("RNN", {"nonlinearity": "relu", "bias": False}),
                         ("GRU", {"batch_first": True}),
                         ("GRUCell", {"bias": False}), ("RNNCell", {"nonlinearity": "relu"}),
                         ("LSTMCell", {})]:
        ours, theirs = pair(kind, 3, 4, **kwargs)
        assert repr(ours) == repr(theirs)


def test_dropout_between_layers_is_training_only_and_matches_torch_at_p1() -> None:
    # p = 1 zeroes the second layer's input deterministically, in both libraries.
    ours, theirs = pair("LSTM", 3, 4, num_layers=2, dropout=1.0)
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    compare(ours, theirs, [x], lambda m, t: m(t[0]))
    ours.eval()
    theirs.eval()
    compare(ours, theirs, [x], lambda m, t: m(t[0]))


def test_dropout_between_layers_changes_training_output() -> None:
    nr.manual_seed(0)
    gru = GRU(3, 8, num_layers=2, dropout=0.5).double()
    x = nr.tensor(np.random.default_rng(0).standard_normal((4, 2, 3)))
    train_out = gru(x)[0].detach().numpy()
    gru.eval()
    eval_out = gru(x)[0].detach().numpy()
    np.testing.assert_array_equal(eval_out, gru(x)[0].detach().numpy())  # deterministic
    assert not np.allclose(train_out, eval_out)


def test_dropout_with_one_layer_warns() -> None:
    with pytest.warns(UserWarning, match="num_layers greater than 1, but got dropout=0.5 "
                                         "and num_layers=1"):
        RNN(3, 4, dropout=0.5)


def test_gradcheck_lstm_finite_differences() -> None:
    lstm = LSTM(2, 3, bidirectional=True).double()
    x = nr.tensor(np.random.default_rng(0).standard_normal((3, 2, 2))).requires_grad_()
    nr.autograd.gradcheck(lambda x: lstm(x)[0], [x], atol=1e-6, rtol=1e-4)


# -- cells -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("batched,with_hx,bias", [(True, True, True), (True, False, True),
                                                  (False, True, False), (False, False, True)])
def test_cell_matches_torch(kind: str, batched: bool, with_hx: bool, bias: bool) -> None:
    ours, theirs = pair(kind, 3, 4, bias=bias)
    rng = np.random.default_rng(0)
    lead = (2,) if batched else ()
    arrays = [rng.standard_normal(lead + (3,))]
    if with_hx:
        arrays += [rng.standard_normal(lead + (4,))] * (2 if kind == "LSTMCell" else 1)

    def call(module: Any, t: list[Any]) -> Any:
        if len(t) == 1:
            return module(t[0])
        return module(t[0], (t[1], t[2]) if kind == "LSTMCell" else t[1])

    compare(ours, theirs, arrays, call)


def test_relu_cell_matches_torch() -> None:
    ours, theirs = pair("RNNCell", 3, 4, nonlinearity="relu")
    rng = np.random.default_rng(0)
    compare(ours, theirs, [rng.standard_normal((2, 3)), rng.standard_normal((2, 4))],
            lambda m, t: m(t[0], t[1]))


def test_cell_unrolled_equals_layer() -> None:
    """An LSTMCell stepped by hand over time gives the LSTM's output with the same weights."""
    lstm = LSTM(3, 4).double()
    cell = LSTMCell(3, 4).double()
    cell.load_state_dict({k[:-3]: v for k, v in lstm.state_dict().items()})
    x = nr.tensor(np.random.default_rng(0).standard_normal((5, 2, 3)))
    with nr.no_grad():
        out, (_h_n, c_n) = lstm(x)
        h = c = nr.zeros(2, 4, dtype=nr.float64)
        for t in range(5):
            h, c = cell(x[t], (h, c))
            np.testing.assert_allclose(h.numpy(), out[t].numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(c.numpy(), c_n[0].numpy(), rtol=1e-12, atol=1e-12)


# -- errors --------------------------------------------------------------------------------------
def test_input_errors() -> None:
    lstm = LSTM(3, 4)
    with pytest.raises(ValueError, match="LSTM: Expected input to be 2D or 3D, got 4D"):
        lstm(nr.zeros(1, 2, 3, 3))
    with pytest.raises(RuntimeError, match=r"input.size\(-1\) must be equal to input_size. "
                                           "Expected 3, got 5"):
        lstm(nr.zeros(4, 2, 5))
    with pytest.raises(ValueError, match="input dtype \\(float64\\) does not match weight "
                                         "dtype \\(float32\\)"):
        lstm(nr.zeros(4, 2, 3, dtype=nr.float64))
    with pytest.raises(RuntimeError, match="Expected sequence length to be larger than 0"):
        lstm(nr.zeros(0, 2, 3))


def test_hidden_state_errors() -> None:
    gru = GRU(3, 4, num_layers=2)
    x = nr.zeros(5, 2, 3)
    with pytest.raises(RuntimeError, match=r"GRU: Expected hx size \(2, 2, 4\), got \[1, 2, 4\]"):
        gru(x, nr.zeros(1, 2, 4))
    with pytest.raises(RuntimeError, match="For batched 3-D input, hx should also be 3-D but "
                                           "got 2-D tensor"):
        gru(x, nr.zeros(2, 4))
    with pytest.raises(RuntimeError, match="For unbatched 2-D input, hx should also be 2-D but "
                                           "got 3-D tensor"):
        gru(nr.zeros(5, 3), nr.zeros(2, 1, 4))
    with pytest.raises(RuntimeError, match=r"Expected hx size \(2, 4\), got \[2, 5\]"):
        gru(nr.zeros(5, 3), nr.zeros(2, 5))
    lstm = LSTM(3, 4, proj_size=2)
    with pytest.raises(RuntimeError, match=r"LSTM: Expected hidden\[0\] size \(1, 2, 2\), "
                                           r"got \[1, 2, 4\]"):
        lstm(x, (nr.zeros(1, 2, 4), nr.zeros(1, 2, 4)))
    with pytest.raises(RuntimeError, match=r"LSTM: Expected hidden\[1\] size \(1, 2, 4\), "
                                           r"got \[1, 2, 2\]"):
        lstm(x, (nr.zeros(1, 2, 2), nr.zeros(1, 2, 2)))
    with pytest.raises(TypeError, match=r"LSTM: hx must be a tuple \(h_0, c_0\)"):
        lstm(x, nr.zeros(1, 2, 2))


def test_constructor_errors() -> None:
    with pytest.raises(ValueError, match="Unknown nonlinearity 'gelu'"):
        RNN(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="dropout should be a number in range \\[0, 1\\].*got 1.5"):
        GRU(3, 4, num_layers=2, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size must be greater than zero, got 0"):
        LSTM(3, 0)
    with pytest.raises(ValueError, match="num_layers must be greater than zero, got 0"):
        LSTM(3, 4, num_layers=0)
    with pytest.raises(TypeError, match="input_size should be of type int, got: float"):
        LSTM(3.0, 4)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="batch_first should be of type bool, got: int"):
        LSTM(3, 4, batch_first=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size, got "
                                         "proj_size=4 and hidden_size=4"):
        LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="Unknown nonlinearity: sigmoid"):
        RNNCell(3, 4, nonlinearity="sigmoid")


def test_cell_errors() -> None:
    cell = GRUCell(3, 4)
    with pytest.raises(ValueError, match="GRUCell: Expected input to be 1D or 2D, got 3D"):
        cell(nr.zeros(1, 2, 3))
    with pytest.raises(RuntimeError, match="input has inconsistent input_size: got 4 expected 3"):
        cell(nr.zeros(2, 4))
    with pytest.raises(RuntimeError, match="Input batch size 2 doesn't match hidden batch size 3"):
        cell(nr.zeros(2, 3), nr.zeros(3, 4))
    with pytest.raises(RuntimeError, match="hidden has inconsistent hidden_size: got 5, "
                                           "expected 4"):
        cell(nr.zeros(2, 3), nr.zeros(2, 5))
    with pytest.raises(RuntimeError, match="hidden must be 1-D for a 1-D input, got 2-D"):
        cell(nr.zeros(3), nr.zeros(2, 4))
    with pytest.raises(ValueError, match=r"LSTMCell: Expected hx\[1\] to be 1D or 2D, got 3D"):
        LSTMCell(3, 4)(nr.zeros(2, 3), (nr.zeros(2, 4), nr.zeros(1, 2, 4)))
