"""Fuzzing ``nr.onnx.load`` with mutated files: truncations, flipped bytes, absurd dims and
sizes, garbage. Every case either loads and runs, or fails with a clear error: an
``OnnxImportError`` (or the ops' own ``ShapeError``/``DTypeError``) whose message names what
is wrong. No other exception escapes, nothing allocates absurd sizes, nothing hangs (each
case runs under an alarm on POSIX systems, a guard rather than a timing)."""

from __future__ import annotations

import contextlib
import random
import signal
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import neurarust as nr
from neurarust.onnx import OnnxImportError
from neurarust.types.errors import DTypeError, ShapeError

onnx = pytest.importorskip("onnx")
h = onnx.helper
TP = onnx.TensorProto
CLEAR = (OnnxImportError, ShapeError, DTypeError)
HUGE = 2 ** 40


@contextlib.contextmanager
def _no_hang(seconds: int = 20) -> Iterator[None]:
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def boom(*_: Any) -> None:
        raise TimeoutError("the loader hung on a mutated file")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _init(name: str, arr: np.ndarray) -> Any:  # type: ignore[type-arg]
    return onnx.numpy_helper.from_array(arr, name)


def _base_model() -> Any:
    """A small CNN with initializers and exporter-style size arithmetic."""
    rng = np.random.default_rng(0)
    nodes = [
        h.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        h.make_node("Relu", ["c"], ["r"]),
        h.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        h.make_node("Shape", ["p"], ["s"]),
        h.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        h.make_node("Unsqueeze", ["n", "zero1"], ["n1"]),
        h.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
        h.make_node("Reshape", ["p", "shape"], ["f"]),
        h.make_node("Gemm", ["f", "fw", "fb"], ["g"], transB=1),
        h.make_node("Softmax", ["g"], ["y"], axis=1),
    ]
    inits = [_init("w", rng.standard_normal((2, 1, 3, 3)).astype(np.float32)),
             _init("b", np.zeros(2, np.float32)),
             _init("zero", np.array(0, np.int64)), _init("zero1", np.array([0], np.int64)),
             _init("minus1", np.array([-1], np.int64)),
             _init("fw", rng.standard_normal((3, 18)).astype(np.float32)),
             _init("fb", np.zeros(3, np.float32))]
    graph = h.make_graph(nodes, "fuzz", [h.make_tensor_value_info("x", TP.FLOAT, [1, 1, 6, 6])],
                         [h.make_tensor_value_info("y", TP.FLOAT, [1, 3])], inits)
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])


X = np.random.default_rng(1).standard_normal((1, 1, 6, 6)).astype(np.float32)


def _outcome(data: bytes | Any) -> str:
    """'ok' or the clear error's type; anything else fails the test with the case."""
    with _no_hang(), np.errstate(all="ignore"):
        try:
            net = nr.onnx.load(data)
            with nr.no_grad():
                net(X)
        except CLEAR as err:
            assert str(err).strip(), "an empty error message"
            return type(err).__name__
    return "ok"


def test_the_base_model_runs() -> None:
    assert _outcome(_base_model().SerializeToString()) == "ok"


def test_truncated_files() -> None:
    data = _base_model().SerializeToString()
    outcomes = {_outcome(data[:n]) for n in range(0, len(data), max(1, len(data) // 60))}
    assert "OnnxImportError" in outcomes


def test_flipped_bytes() -> None:
    data = bytearray(_base_model().SerializeToString())
    rng = random.Random(0)
    seen: dict[str, int] = {}
    for _ in range(1000):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] ^= 1 << rng.randrange(8)
        out = _outcome(bytes(mutated))
        seen[out] = seen.get(out, 0) + 1
    assert seen.get("OnnxImportError", 0) > 0, seen


@pytest.mark.parametrize("dims", [[HUGE], [2 ** 20, 2 ** 20], [2 ** 62, 2 ** 62], [-1, 9]])
def test_absurd_initializer_dims(dims: list[int]) -> None:
    m = _base_model()
    m.graph.initializer[0].ClearField("dims")
    m.graph.initializer[0].dims.extend(dims)
    with pytest.raises(OnnxImportError, match="initializer 'w'"):
        nr.onnx.load(m.SerializeToString())


def _one_node(node: Any, inits: list[Any], x_shape: list[int] | None = None,
              y_rank: int = 1) -> bytes:
    """A one-node model; ``y`` is declared with ``y_rank`` unknown dims (the checker needs a
    shape on every graph output)."""
    graph = h.make_graph([node], "g", [h.make_tensor_value_info("x", TP.FLOAT, x_shape or [2])],
                         [h.make_tensor_value_info("y", TP.FLOAT, [None] * y_rank)], inits)
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 19)]).SerializeToString()


def _ints(name: str, values: list[int]) -> Any:
    return _init(name, np.array(values, np.int64))


ABSURD: dict[str, bytes] = {
    "ConstantOfShape": _one_node(h.make_node("ConstantOfShape", ["s"], ["y"]),
                                 [_ints("s", [HUGE])]),
    "Expand": _one_node(h.make_node("Expand", ["x", "s"], ["y"]), [_ints("s", [2 ** 20, 2 ** 20])],
                        y_rank=2),
    "Tile": _one_node(h.make_node("Tile", ["x", "s"], ["y"]), [_ints("s", [2 ** 31])]),
    "Reshape": _one_node(h.make_node("Reshape", ["x", "s"], ["y"]), [_ints("s", [HUGE, -1])],
                         y_rank=2),
    "Pad": _one_node(h.make_node("Pad", ["x", "s"], ["y"]), [_ints("s", [0, HUGE])]),
    "Range": _one_node(h.make_node("Range", ["a", "b", "c"], ["y"]),
                       [_init("a", np.array(0, np.int64)),
                        _init("b", np.array(HUGE, np.int64)), _init("c", np.array(1, np.int64))]),
    "TopK": _one_node(h.make_node("TopK", ["x", "k"], ["y", "i"]), [_ints("k", [HUGE])]),
    "Resize": _one_node(h.make_node("Resize", ["x", "", "", "s"], ["y"]),
                        [_ints("s", [1, 1, 2 ** 20, 2 ** 20])], [1, 1, 2, 2], 4),
    "Upsample": _one_node(h.make_node("Resize", ["x", "", "sc"], ["y"]),
                          [_init("sc", np.array([1, 1, 1e9, 1e9], np.float32))], [1, 1, 2, 2],
                          4),
}


@pytest.mark.parametrize("case", list(ABSURD))
def test_absurd_sizes_from_data_are_refused(case: str) -> None:
    with _no_hang(), pytest.raises(CLEAR) as err:
        net = nr.onnx.load(ABSURD[case])
        shape = [1, 1, 2, 2] if case in ("Resize", "Upsample") else [2]
        net(np.ones(shape, np.float32))
    assert str(err.value).strip()


@pytest.mark.parametrize("data", [b"", b"\x00" * 64, b"PK\x03\x04" + bytes(60),
                                  b'{"graph": {"node": []}}', bytes(range(256)) * 4])
def test_garbage_is_not_a_model(data: bytes) -> None:
    with pytest.raises(OnnxImportError):
        nr.onnx.load(data)


def test_missing_attribute_and_inputs_are_named() -> None:
    m = _one_node(h.make_node("Concat", ["x", "x"], ["y"]), [])  # Concat needs `axis`
    with pytest.raises(OnnxImportError, match="checker rejected.*'axis' is missing"):
        nr.onnx.load(m)(np.ones(2, np.float32))
    m = _one_node(h.make_node("Relu", ["nowhere"], ["y"]), [])
    with pytest.raises(OnnxImportError, match="checker rejected.*'nowhere'.*not output of any "
                                              "previous nodes"):
        nr.onnx.load(m)(np.ones(2, np.float32))
    # without the checker, the importer's own wiring check names the same problem
    with pytest.raises(OnnxImportError, match="not produced by any earlier node"):
        nr.onnx.load(m, check=False)(np.ones(2, np.float32))


def test_seeded_mutation_campaign_in_miniature() -> None:
    """200 mutants of the fuzz campaign's corpus (``bench/fuzz_onnx.py``; exported and
    hand-written models, no backend cases, to stay quick), in-process: each ends in 'ok' or a
    documented error, never another exception; some load, some are refused."""
    from neurarust.onnx.fuzz import corpus, mutant, run_case

    seeds = corpus(0)
    seen: dict[str, int] = {}
    for i in range(200):
        desc, data = mutant(7, i, seeds)
        with _no_hang():
            outcome, detail = run_case(data, i, check=i % 4 != 3)
        assert not outcome.startswith("crash"), (i, desc, outcome, detail)
        seen[outcome] = seen.get(outcome, 0) + 1
    assert seen.get("ok", 0) > 0 and seen.get("load:OnnxImportError", 0) > 0, seen
