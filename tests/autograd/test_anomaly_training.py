"""detect_anomaly in a training loop: a model whose loss becomes NaN is stopped at the op that
made it, naming the op, the model's source line (in this file) and the input ranges; anomaly
mode does not change the numbers of a healthy run."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import neurarust as nr
from neurarust import nn
from neurarust.autograd.anomaly import AnomalyError

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's 'invalid value'


def line_of(marker: str) -> int:
    """The line number in this file of the (unique) line holding ``marker``."""
    lines = inspect.getsource(inspect.getmodule(line_of)).splitlines()  # type: ignore[arg-type]
    hits = [i + 1 for i, text in enumerate(lines) if marker in text and "line_of(" not in text]
    assert len(hits) == 1, hits
    return hits[0]


class LogNet(nn.Module):
    """A small conv net whose head takes the log of an activation that can go negative."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x: nr.Tensor) -> nr.Tensor:
        h = self.conv(x).relu().flatten(1)
        return self.fc(h).log()  # type: ignore[no-any-return]  # MARK-log: negative logits give NaN


class SqrtNet(nn.Module):
    """Finite forward; sqrt's gradient at 0 is infinite, so backward blows up."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: nr.Tensor) -> nr.Tensor:
        return self.fc(x).relu().sqrt()  # type: ignore[no-any-return]  # MARK-sqrt


def test_a_nan_loss_in_training_names_the_op_the_model_line_and_its_input_range() -> None:
    nr.manual_seed(0)
    model = LogNet()
    optimizer = nr.optim.SGD(model.parameters(), lr=0.1)
    x, y = nr.randn(4, 1, 6, 6), nr.tensor([0, 1, 2, 0])
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    with nr.autograd.detect_anomaly(), pytest.raises(AnomalyError) as info:
        for _ in range(3):
            loss = nn.functional.nll_loss(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    msg = str(info.value)
    assert msg.startswith("detect_anomaly: log produced NaN in its forward output"), msg
    assert f"test_anomaly_training.py:{line_of('MARK-log')} in forward" in msg
    assert "return self.fc(h).log()" in msg
    assert "input: f32[4, 3] in [-" in msg  # the range shows the negative values
    assert "all inputs were finite: log created the non-finite value here" in msg
    # It stopped at the first forward: the weights were never updated with NaN.
    assert all(np.array_equal(before[k], v.numpy()) for k, v in model.state_dict().items())


def test_without_anomaly_mode_the_same_run_silently_goes_nan() -> None:
    """What the detector protects against: the loss is NaN and nothing says where from."""
    nr.manual_seed(0)
    model = LogNet()
    loss = nn.functional.nll_loss(model(nr.randn(4, 1, 6, 6)), nr.tensor([0, 1, 2, 0]))
    assert np.isnan(loss.item())


def test_an_infinite_gradient_names_the_backward_and_its_forward_line() -> None:
    nr.manual_seed(0)
    model = SqrtNet()
    x = nr.randn(8, 4)
    with nr.autograd.detect_anomaly():
        out = model(x)
        values = out.detach().numpy()
        assert np.isfinite(values).all() and (values == 0).any()
        with pytest.raises(AnomalyError) as info:
            out.sum().backward()
    msg = str(info.value)
    assert msg.startswith("detect_anomaly: SqrtBackward (the gradient of sqrt) produced inf"), msg
    assert f"test_anomaly_training.py:{line_of('MARK-sqrt')} in forward" in msg
    assert all(p.grad is None for p in model.parameters())  # nothing reached the weights


def test_anomaly_mode_leaves_a_healthy_run_bit_identical() -> None:
    def run(anomaly: bool) -> dict[str, np.ndarray]:  # type: ignore[type-arg]
        nr.manual_seed(1)
        model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3))
        optimizer = nr.optim.Adam(model.parameters(), lr=1e-2)
        x, y = nr.randn(8, 1, 6, 6), nr.tensor([0, 1, 2, 0, 1, 2, 0, 1])
        with nr.autograd.set_detect_anomaly(anomaly):
            for _ in range(3):
                loss = nn.functional.cross_entropy(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        return {k: v.numpy().copy() for k, v in model.state_dict().items()}

    plain, checked = run(False), run(True)
    assert all(np.array_equal(plain[k], checked[k]) for k in plain)
    assert not nr.autograd.is_anomaly_enabled()
