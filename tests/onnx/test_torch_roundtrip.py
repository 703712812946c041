"""Models exported by PyTorch's ``torch.onnx.export(..., dynamo=False)`` import and run on
neurarust: outputs match torch's at several batch sizes (and sequence lengths), the imported
parameters fine-tune as torch's do, and the models trace with the dynamic dims symbolic
(the exporter's Shape/Gather/Concat/Reshape size arithmetic folds onto traced dims)."""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
import pytest

import neurarust as nr

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

D_MODEL, HEADS = 8, 2


class MLP(torch.nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = torch.nn.Linear(5, 16), torch.nn.Linear(16, 3)

    def forward(self, x: Any) -> Any:
        return self.b(torch.relu(self.a(x)))


class CNN(torch.nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4 * 4 * 4, 10)

    def forward(self, x: Any) -> Any:
        x = torch.max_pool2d(torch.relu(self.bn(self.conv(x))), 2)
        return self.fc(torch.flatten(x, 1))


class Attention(torch.nn.Module):  # type: ignore[misc]
    """Multi-head self-attention written with plain ops, sizes read from the input."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = torch.nn.Linear(D_MODEL, 3 * D_MODEL)
        self.out = torch.nn.Linear(D_MODEL, D_MODEL)

    def forward(self, x: Any) -> Any:
        b, t, d = x.shape
        q, k, v = (z.reshape(b, t, HEADS, d // HEADS).transpose(1, 2)
                   for z in self.qkv(x).chunk(3, dim=-1))
        att = torch.softmax(q @ k.transpose(-2, -1) / (d // HEADS) ** 0.5, dim=-1)
        return self.out((att @ v).transpose(1, 2).reshape(b, t, d))


class LSTM(torch.nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(4, 6, batch_first=True)
        self.fc = torch.nn.Linear(6, 2)

    def forward(self, x: Any) -> Any:
        return self.fc(self.lstm(x)[0])


# name -> (model class, example input shape, dynamic axes, trace spec, expected traced output)
CASES: dict[str, tuple[Any, tuple[int, ...], dict[int, str], str, str]] = {
    "mlp": (MLP, (2, 5), {0: "B"}, "f32[B, 5]", "f32[B, 3]"),
    "cnn": (CNN, (2, 1, 8, 8), {0: "B"}, "f32[B, 1, 8, 8]", "f32[B, 10]"),
    "attention": (Attention, (2, 3, D_MODEL), {0: "B", 1: "T"}, "f32[B, T, 8]",
                  "f32[B, T, 8]"),
    "lstm": (LSTM, (2, 3, 4), {0: "B", 1: "T"}, "f32[B, 3, 4]", "f32[B, 3, 2]"),
}
SEQUENCED = {"attention", "lstm"}


def _export(name: str) -> tuple[Any, bytes]:
    cls, shape, axes, _, _ = CASES[name]
    torch.manual_seed(0)
    model = cls().eval()
    if name == "cnn":  # non-trivial running statistics, so BatchNormalization matters
        with torch.no_grad():
            model.bn.running_mean.uniform_(-0.5, 0.5)
            model.bn.running_var.uniform_(0.5, 2.0)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(*shape),), buf, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": axes}, dynamo=False,
                          opset_version=17, do_constant_folding=False)
    return model, buf.getvalue()


@pytest.fixture(scope="module")
def exported() -> dict[str, tuple[Any, bytes]]:
    return {name: _export(name) for name in CASES}


@pytest.mark.parametrize("name", list(CASES))
def test_outputs_match_torch_at_several_sizes(name: str,
                                              exported: dict[str, tuple[Any, bytes]]) -> None:
    model, data = exported[name]
    net = nr.onnx.load(data)
    shape = CASES[name][1]
    lengths = (2, 5) if name in SEQUENCED else (None,)
    gen = torch.Generator().manual_seed(1)
    for batch in (1, 3, 7):
        for t in lengths:
            size = (batch, *shape[1:]) if t is None else (batch, t, *shape[2:])
            x = torch.randn(*size, generator=gen)
            with torch.no_grad():
                want = model(x).numpy()
            got = net(x.numpy()).detach().numpy()
            assert got.shape == want.shape, (name, size)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=f"{name} {size}")


def test_exports_keep_the_ops_under_test(exported: dict[str, tuple[Any, bytes]]) -> None:
    import onnx

    def ops(name: str) -> set[str]:
        return {n.op_type for n in onnx.load_from_string(exported[name][1]).graph.node}

    assert "BatchNormalization" in ops("cnn")
    assert {"Shape", "Gather", "Concat", "Reshape"} <= ops("attention")
    assert "LSTM" in ops("lstm")


@pytest.mark.parametrize("name", list(CASES))
def test_imported_models_trace_with_symbolic_dims(name: str,
                                                  exported: dict[str, tuple[Any, bytes]]
                                                  ) -> None:
    _, _, _, spec, expected = CASES[name]
    graph = nr.trace(nr.onnx.load(exported[name][1]), {"x": spec})
    assert graph.output_values[0].type_str == expected
    if name == "attention":  # the reshapes were recorded with the traced sizes
        shapes = [str(n.attrs.get("shape")) for n in graph.nodes if n.op == "reshape"]
        assert any("B" in s and "T" in s for s in shapes), shapes


def test_one_sgd_step_matches_torch() -> None:
    model, data = _export("mlp")  # its own copy: the step changes the torch model
    net = nr.onnx.load(data)
    assert all(p.requires_grad for p in net.parameters())
    gen = torch.Generator().manual_seed(2)
    x, y = torch.randn(16, 5, generator=gen), torch.randn(16, 3, generator=gen)
    losses = []
    n_opt = nr.optim.SGD(net.parameters(), lr=0.1)
    xn, yn = nr.tensor(x.numpy()), nr.tensor(y.numpy())
    for _ in range(2):
        t_loss = ((model(x) - y) ** 2).mean()
        n_loss = ((net(xn) - yn) ** 2).mean()
        losses.append((float(t_loss.item()), float(n_loss.item())))
        model.zero_grad()
        t_loss.backward()
        with torch.no_grad():  # plain SGD: p -= lr * grad (torch.optim is slow to import)
            for p in model.parameters():
                p -= 0.1 * p.grad
        n_opt.zero_grad()
        n_loss.backward()
        n_opt.step()
    (t0, n0), (t1, n1) = losses
    assert n0 == pytest.approx(t0, rel=1e-5)
    assert n1 == pytest.approx(t1, rel=1e-5)
    assert abs(n1 - n0) > 1e-4  # the step changed the loss, as torch's did
