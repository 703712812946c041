"""Whether a (mutated) model fails at run time: build it and call it, eagerly, on a concrete
input consistent with its annotations.

The neurarust version runs on neurarust, the PyTorch version on PyTorch; neither checker's
opinion enters. A model "would fail" when building it or calling it raises, or when it runs
but returns a shape other than the one its return annotation promises for that input;
otherwise the mutant is "benign" (a static error on it is a false error).
"""

from __future__ import annotations

import contextlib
import io
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Final, Literal

import numpy as np

CORPUS: Final = Path(__file__).resolve().parent
Framework = Literal["nr", "torch"]
# float32 normal samples, or int64 ids below ID_BOUND[kind].
InputKind = Literal["float32", "tokens", "case"]
# The bindings of the annotations' dims for the concrete run: distinct sizes, so that a
# mutation swapping two dims (B for T) changes the shapes and shows.
B: Final = 2
T: Final = 5


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """A corpus model: its class, the inputs its annotations describe, bound to ``B``/``T``,
    and the output shape its return annotation promises for them."""

    name: str  # file stem in nr_models/ and torch_models/
    cls: str
    inputs: tuple[tuple[tuple[int, ...], InputKind], ...]
    output: tuple[int, ...]
    # The same inputs for `neurarust verify` (symbolic dims; the LSTM's loop over time needs
    # a concrete T to trace).
    verify_inputs: dict[str, str]

    def source(self, framework: Framework) -> str:
        folder = "nr_models" if framework == "nr" else "torch_models"
        return (CORPUS / folder / f"{self.name}.py").read_text()


MODELS: Final = (
    ModelSpec("mlp", "MLP", (((B, 1, 28, 28), "float32"),), (B, 10),
              {"x": "f32[B,1,28,28]"}),
    ModelSpec("cnn", "CNN", (((B, 1, 28, 28), "float32"),), (B, 10),
              {"x": "f32[B,1,28,28]"}),
    ModelSpec("resnet_block", "BasicBlock", (((B, 16, 16, 16), "float32"),), (B, 32, 8, 8),
              {"x": "f32[B,16,16,16]"}),
    ModelSpec("transformer_block", "EncoderBlock", (((B, T, 64), "float32"),), (B, T, 64),
              {"x": "f32[B,T,64]"}),
    ModelSpec("lstm_tagger", "Tagger", (((B, T), "tokens"), ((B, T), "case")), (B, T, 9),
              {"tokens": f"i64[B,{T}]", "case": f"i64[B,{T}]"}),
)
# Ids are drawn well inside every table (vocabulary 1000, 4 case classes), so that a mutated
# table size is a shape question, not an out-of-range id.
ID_BOUND: Final = {"tokens": 50, "case": 2}


@dataclass(frozen=True)
class Outcome:
    """What running a model did: ``fails`` with the error, ``wrong-shape``, or ``benign``."""

    verdict: Literal["fails", "wrong-shape", "benign"]
    detail: str

    @property
    def would_fail(self) -> bool:
        return self.verdict != "benign"


def _inputs(spec: ModelSpec) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, ID_BOUND[kind], size=shape, dtype=np.int64) if kind != "float32"
            else rng.standard_normal(shape).astype(np.float32) for shape, kind in spec.inputs]


def _runtime_shape_extensions() -> None:
    """Make the PyTorch corpus runnable where Pyrefly's ``shape_extensions`` is not installed.

    The torch versions import ``Shaped`` and ``shape_vars`` from it for Pyrefly's static
    checks only; at run time both are inert, so a stand-in with the same inert behaviour
    gives the same ground truth without the optional ``bench`` extra.
    """
    try:
        import shape_extensions  # noqa: F401
    except ImportError:
        stand_in = ModuleType("shape_extensions")

        class _Shaped:
            def __class_getitem__(cls, item: object) -> object:
                return Any

        def shape_vars(*names: str) -> Any:
            return lambda fn: fn

        stand_in.Shaped = _Shaped  # type: ignore[attr-defined]
        stand_in.shape_vars = shape_vars  # type: ignore[attr-defined]
        sys.modules["shape_extensions"] = stand_in


def load(source: str, name: str) -> ModuleType:
    _runtime_shape_extensions()
    module = ModuleType(name)
    module.__file__ = f"<{name}>"
    exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102 (our corpus)
    return module


def _call(framework: Framework, model: Any, arrays: list[np.ndarray]) -> tuple[int, ...]:
    if framework == "nr":
        import neurarust as nr

        out = model(*[nr.from_numpy(a) for a in arrays])
    else:
        import torch

        with torch.no_grad():
            out = model(*[torch.from_numpy(a) for a in arrays])
    return tuple(int(n) for n in out.shape)


def run(spec: ModelSpec, source: str, framework: Framework) -> Outcome:
    """Build ``spec.cls`` from ``source`` and call it on the spec's inputs."""
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            module = load(source, f"corpus_{framework}_{spec.name}")
            shape = _call(framework, getattr(module, spec.cls)(), _inputs(spec))
    except Exception as error:  # noqa: BLE001 (any run-time failure is the verdict)
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return Outcome("fails", f"{type(error).__name__}: {first}"[:300])
    if shape != spec.output:
        return Outcome("wrong-shape", f"returned {list(shape)}, annotated {list(spec.output)}")
    return Outcome("benign", f"returned {list(shape)}")
