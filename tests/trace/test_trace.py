"""``nr.trace``: symbolic runs of real models into ``ir.Graph``s (shapes, nodes, source lines,
obligations, errors)."""

from __future__ import annotations

import inspect
import os

import pytest

import neurarust as nr
import neurarust.nn.functional as F
from neurarust import nn
from neurarust.examples.mnist import SmallCNN
from neurarust.ir import Graph, GraphError, Node, Value
from neurarust.trace import TraceError, parse_spec
from neurarust.types.dim import Dim

B, T = Dim.sym("B"), Dim.sym("T")
HERE = os.path.basename(__file__)


def _line(fn: object, text: str) -> int:
    """The line number of the first line of ``fn``'s source containing ``text``."""
    lines, start = inspect.getsourcelines(fn)  # type: ignore[arg-type]
    return start + next(i for i, line in enumerate(lines) if text in line)


def test_parse_spec() -> None:
    assert parse_spec("f32[B, 1, 28, 28]") == (nr.float32, (B, 1, 28, 28))
    assert parse_spec("i64[B, T*C]")[1] == (B, T * Dim.sym("C"))
    assert parse_spec("float64[min(N, M), 3]")[0] is nr.float64
    assert parse_spec("f32[]") == (nr.float32, ())
    with pytest.raises(ValueError, match="unknown dtype 'q8'"):
        parse_spec("q8[B]")
    with pytest.raises(ValueError, match="expected e.g."):
        parse_spec("f32(B)")


def test_mnist_cnn_traces_with_symbolic_batch() -> None:
    model = SmallCNN()
    g = nr.trace(model, {"x": "f32[B, 1, 28, 28]"})
    (out,) = g.output_values
    assert out.shape == (B, 10) and out.dtype is nr.float32
    assert g.ops() == ["conv2d", "relu", "max_pool2d", "conv2d", "relu", "max_pool2d",
                       "flatten", "permute", "matmul", "add", "relu", "permute", "matmul", "add"]
    # parameters are named constants, with their data, in first-use order
    assert list(g.constants) == [n for n, _ in model.named_parameters()]
    w = g.constants["features.0.weight"]
    assert w.shape == (16, 1, 3, 3) and w.data is model.features[0].weight.numpy(force=True)
    # intermediate shapes, scopes and the user's source line (the model's forward)
    assert g.nodes[2].output.shape == (B, 16, 14, 14)
    assert g.nodes[6].output.shape == (B, 32 * 7 * 7)
    assert [n.scope for n in g.nodes[:3]] == ["features.0", "features.1", "features.2"]
    line = _line(SmallCNN.forward, "return self.classifier")
    assert all(n.source == f"neurarust/examples/mnist.py:{line}" for n in g.nodes)
    assert not list(g.obligations())  # conv/pool/linear sizes are all decided for B >= 1
    g.check()
    # parameters are restored and the training mode too
    assert type(model.features[0].weight) is nn.Parameter and model.training


def test_graph_printing_is_readable() -> None:
    g = nr.trace(nn.Linear(784, 10), {"x": "f32[B, 784]"})
    text = str(g)
    assert text.splitlines()[0] == "graph Linear(x: f32[B, 784]) -> (%2: f32[B, 10])"
    assert "    weight: f32[10, 784]" in text
    assert "%1: f32[B, 10] = matmul(x, %0)" in text
    assert "return %2" in text
    assert g.summary() == ("graph Linear: 1 inputs, 2 constants, 3 nodes, "
                           "0 undecided requirements")


class Block(nn.Module):
    """A transformer-ish block: pre-norm MLP with a residual, dropout in eval."""

    def __init__(self, d: int = 32) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)
        self.drop = nn.Dropout(0.1)

    def forward(self, x: nr.Tensor) -> nr.Tensor:
        h = self.ln(x)
        h = self.fc2(F.gelu(self.fc1(h)))
        return x + self.drop(h)  # residual


def test_transformer_block_with_symbolic_batch_and_time() -> None:
    g = nr.trace(Block(), {"x": "f32[B, T, 32]"})
    assert g.output_values[0].shape == (B, T, 32)
    assert "rsqrt" in g.ops() and g.ops().count("matmul") == 2
    assert g.nodes[-1].op == "add"
    assert g.nodes[-1].source == f"{_rel(__file__)}:{_line(Block.forward, '# residual')}"
    assert g.nodes[-1].scope == ""
    assert not list(g.obligations())
    assert len(g.constants) == 6


def test_mlp_with_reshape_of_symbolic_dims() -> None:
    def mlp(x: nr.Tensor, w: nr.Tensor) -> nr.Tensor:
        b, t, c = x.shape
        h = x.reshape(b * t, c) @ w
        return h.relu().reshape(b, t, -1).sum(-1).mean()

    g = nr.trace(mlp, {"x": "f32[B, T, 16]", "w": "f32[16, 8]"})
    assert [v.shape for v in (n.output for n in g.nodes)][:4] == [
        (B * T, 16), (B * T, 8), (B * T, 8), (B, T, 8)]
    assert g.output_values[0].shape == ()
    assert g.nodes[0].attrs["shape"] == (B * T, 16)


def test_cross_entropy_traces() -> None:
    g = nr.trace(lambda logits, y: F.cross_entropy(logits, y),
                 {"logits": "f32[B, 10]", "y": "i64[B]"})
    assert g.ops() == ["log_softmax", "nll_loss"]
    assert g.output_values[0].shape == () and g.output_values[0].dtype is nr.float32


def test_broadcast_between_unrelated_dims_leaves_an_obligation() -> None:
    def f(a: nr.Tensor, b: nr.Tensor) -> nr.Tensor:
        return a + b

    g = nr.trace(f, {"a": "f32[N, 4]", "b": "f32[M, 4]"})
    ((node, ob),) = list(g.obligations())
    assert node.op == "add" and node.source.endswith(f":{_line(f, 'a + b')}")
    assert str(ob.condition) == "N == M or N == 1 or M == 1"
    assert ob.message == "shapes are not broadcastable"
    assert "requires N == M or N == 1 or M == 1" in str(g)


def test_provably_wrong_model_fails_tracing_with_the_linear_message() -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(100, 10))
    with pytest.raises(nr.ShapeError) as info:
        nr.trace(model, {"x": "f32[B, 1, 28, 28]"})
    msg = str(info.value)
    assert "linear: input has 784 features, the weight expects 100" in msg
    assert "input: f32[B, 784]" in msg and "weight: f32[10, 100]" in msg
    assert f"at {_rel(__file__)}:" in msg and "(in module 1)" in msg
    assert "matmul: inner dimensions must match" in str(info.value.__cause__)


def test_provably_wrong_broadcast_names_op_line_and_shapes() -> None:
    def f(x: nr.Tensor) -> nr.Tensor:
        return x + nr.zeros(3)

    with pytest.raises(nr.ShapeError) as info:
        nr.trace(f, {"x": "f32[B, 4]"})
    msg = str(info.value)
    assert msg.startswith("add: shapes are not broadcastable")
    assert "f32[B, 4]" in msg and "f32[3]" in msg
    assert f"at {_rel(__file__)}:{_line(f, 'return x +')}" in msg


def test_undecided_python_control_flow_is_an_error_naming_the_line() -> None:
    def f(x: nr.Tensor) -> nr.Tensor:
        if x.shape[0] > 512:
            return x * 2
        return x

    with pytest.raises(TraceError) as info:
        nr.trace(f, {"x": "f32[B, 4]"})
    msg = str(info.value)
    assert f"{_rel(__file__)}:{_line(f, 'if x.shape')}" in msg
    assert "B > 512" in msg and "explore both sides" in msg


def test_decided_python_control_flow_follows_the_branch() -> None:
    def f(x: nr.Tensor) -> nr.Tensor:
        if x.shape[1] == 4 and x.shape[0] >= 1 and x.shape[0] != 0:
            return x * 2
        return x

    g = nr.trace(f, {"x": "f32[B, 4]"})
    assert g.ops() == ["mul"]
    with pytest.raises(TraceError, match="B == 4 is not decided"):
        nr.trace(lambda x: x * 2 if x.shape[0] == 4 else x, {"x": "f32[B, 4]"})


def test_reading_values_is_an_error() -> None:
    with pytest.raises(TraceError, match="item\\(\\) needs the values of a traced tensor f32"):
        nr.trace(lambda x: x * x.sum().item(), {"x": "f32[B]"})


def test_inplace_ops_rebind_the_value() -> None:
    def f(x: nr.Tensor) -> nr.Tensor:
        y = x * 1
        y.relu_()
        return F.relu(y, inplace=True)

    g = nr.trace(f, {"x": "f32[B, 4]"})
    assert g.ops() == ["mul", "relu", "relu"]
    assert g.outputs == [g.nodes[-1].output.name]
    assert g.nodes[2].inputs == (g.nodes[1].output.name,)


def test_real_tensors_become_constants_and_eager_mode_is_untouched() -> None:
    table = nr.ones(4)
    g = nr.trace(lambda x: x * table, {"x": "f32[B, 4]"})
    assert list(g.constants) == ["const0"] and g.constants["const0"].kind == "tensor"
    assert (nr.ones(2) + nr.ones(2)).tolist() == [2.0, 2.0]  # no tracer left behind


def test_conv_with_symbolic_spatial_dims_leaves_size_obligations() -> None:
    g = nr.trace(nn.Conv2d(3, 8, 3, stride=2), {"x": "f32[B, 3, H, W]"})
    assert str(g.output_values[0].shape[2]) == "(H - 3)//2 + 1"
    assert g.nodes[0].obligations  # H >= 3 and W >= 3 are left to the verifier


def test_multihead_attention_traces() -> None:
    mha = nn.MultiheadAttention(32, 4, batch_first=True)
    g = nr.trace(lambda x: mha(x, x, x, need_weights=False)[0], {"x": "f32[B, T, 32]"})
    assert g.output_values[0].shape == (B, T, 32)


def test_graph_check_reports_problems() -> None:
    g = nr.trace(nn.Linear(4, 2), {"x": "f32[B, 4]"})
    bad = Graph(g.name, g.inputs, dict(g.constants), list(g.nodes), ["nope"])
    node = g.nodes[1]
    bad.nodes[1] = Node(node.op, node.inputs, node.attrs, Value(node.output.name, (B, 3),
                                                                node.output.dtype), node.source)
    bad.nodes.insert(0, Node("frobnicate", ("%9",), {}, Value("%x", (), nr.float32)))
    with pytest.raises(GraphError) as info:
        bad.check()
    msg = str(info.value)
    assert "input '%9' is not defined before it" in msg
    assert "no registered op named 'frobnicate'" in msg
    assert "recorded shape [B, 3] but the rule gives [B, 2]" in msg
    assert "output 'nope' is not a value of the graph" in msg


def test_nested_trace_and_bad_output_are_errors() -> None:
    with pytest.raises(TraceError, match="returned a int"):
        nr.trace(lambda x: 3, {"x": "f32[B]"})


def _rel(path: str) -> str:
    rel = os.path.relpath(os.path.abspath(path))
    return rel if not rel.startswith("..") else os.path.abspath(path)


def test_transformer_encoder_layer_and_batchnorm_trace() -> None:
    layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
    g = nr.trace(layer, {"x": "f32[B, T, 32]"})
    assert g.output_values[0].shape == (B, T, 32) and not list(g.obligations())
    bn = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4))
    g = nr.trace(bn, {"x": "f32[B, 1, 8, 8]"})
    assert g.constants["1.running_mean"].kind == "buffer"
    assert bn.training  # eval only during the trace


def test_symbolic_size_where_an_int_is_needed_is_reported() -> None:
    # splitting a symbolic dim into pieces of 1 needs the number of pieces
    with pytest.raises(TraceError, match="a symbolic size is used where an int is needed") as e:
        nr.trace(lambda x: nr.stack(list(nr.split(x, 1, 0))), {"x": "f32[B, 5, 8]"})
    assert "called from" in str(e.value) and "dim B is symbolic" in str(e.value)


def test_a_path_oracle_decides_undecided_control_flow() -> None:
    from neurarust.trace import Decision, PathOracle
    from neurarust.trace.paths import frame_site

    class Second(PathOracle):
        """Always the last option (recorded); sizes needed as ints take the value 3."""

        def choose(self, options, kind, frame):  # type: ignore[no-untyped-def]
            here, code, user, user_code = frame_site(frame)
            self.decisions.append(Decision(options[-1], kind, here, code, user, True,
                                           user_code))
            return len(options) - 1

        def values(self, d):  # type: ignore[no-untyped-def]
            return [3]

    def f(x: nr.Tensor) -> nr.Tensor:
        if x.shape[0] > 512:  # the oracle says: not
            x = x * 2
        for _ in range(x.shape[1]):  # T == 3 on this path
            x = x + 1
        return x

    oracle = Second()
    g = nr.trace(f, {"x": "f32[B, T]"}, oracle=oracle)
    assert g.ops() == ["add", "add", "add"]
    first, second = oracle.decisions
    assert isinstance(first, Decision) and str(first.condition) == "B <= 512"
    assert first.kind == "branch" and first.source.endswith(f":{_line(f, 'if x.shape[0]')}")
    assert str(second.condition) == "T == 3" and second.kind == "value"
    assert first.code == "if x.shape[0] > 512:  # the oracle says: not"
