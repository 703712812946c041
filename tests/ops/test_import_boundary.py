"""The core stands alone: the declaration layer and the mypy plugin import without the runtime.

Each check runs a fresh interpreter (``sys.modules`` of the test process already holds the
runtime) and lists the runtime modules the import pulled in; the list must be empty.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

RUNTIME = ("neurarust.tensor", "neurarust._dispatch", "neurarust.autograd", "neurarust.nn",
           "neurarust.optim", "neurarust.kernels", "neurarust.serialization",
           "neurarust.functions", "neurarust.device")
"""Tensor storage, dispatch, autograd, nn, optim, kernels (numpy and cuda), checkpoints."""


def _loaded_after(statement: str) -> list[str]:
    """The modules of RUNTIME (or under them) that ``statement`` loads in a fresh interpreter."""
    probe = (f"import json, sys\n{statement}\n"
             f"print(json.dumps(sorted(m for m in sys.modules "
             f"if any(m == r or m.startswith(r + '.') for r in {RUNTIME!r}))))")
    done = subprocess.run([sys.executable, "-c", probe], check=False, capture_output=True,
                          text=True, env=os.environ.copy(), timeout=60)
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_ops_and_types_import_without_the_runtime() -> None:
    assert _loaded_after("import neurarust.ops, neurarust.types") == []


def test_the_runtime_registers_cpu_kernels_before_the_first_op() -> None:
    """`import neurarust` is light, so the kernels register when the runtime loads: through a
    top-level name, or through any runtime module imported directly."""
    statements = (
        "import neurarust as nr; t = nr.ones(2, 3); assert (t + t).sum().item() == 12",
        ("from neurarust.tensor import Tensor; from neurarust.functions import ones; "
         "assert (ones(2) * 3).tolist() == [3.0, 3.0]"),
    )
    for statement in statements:
        assert "neurarust._dispatch" in _loaded_after(statement)


@pytest.mark.parametrize("entry", ["neurarust._dispatch", "neurarust.tensor", "neurarust.autograd",
                                   "neurarust.nn", "neurarust.trace", "neurarust.device",
                                   "neurarust.kernels.cpu", "neurarust.serialization"])
def test_the_runtime_loads_through_any_of_its_modules(entry: str) -> None:
    """Whichever runtime module a program imports first, the import cycle resolves and the
    package then has every name it had when it imported everything."""
    statement = (f"import {entry}; import neurarust as nr; "
                 "assert (nr.ones(2) + 1).tolist() == [2.0, 2.0]; "
                 "assert nr.default_generator is nr.functions.default_generator")
    assert "neurarust._dispatch" in _loaded_after(statement)


def test_a_reader_of_the_cpu_kernel_gets_it_without_the_runtime() -> None:
    """A verifier holding only a graph reads ``op.kernels["cpu"]``: the CPU backend loads then."""
    statement = ("from neurarust.ops import get; "
                 "assert callable(get('conv2d').kernels['cpu'])")
    loaded = _loaded_after(statement)
    assert "neurarust.kernels.cpu" in loaded
    assert all(m == "neurarust.kernels" or m.startswith("neurarust.kernels.cpu") for m in loaded)


def test_the_mypy_plugin_imports_only_the_core() -> None:
    """The plugin evaluates the ops' declarations; tensor storage, dispatch and kernels stay
    out of the type checker."""
    assert _loaded_after("import neurarust_mypy, neurarust_mypy.plugin") == []


def test_runtime_names_that_are_also_submodules_are_the_functions() -> None:
    """``nr.tensor``, ``nr.device``, ``nr.trace`` are functions even when their submodule was
    imported before the runtime; every such name is listed in the package's ``_SHADOWED``."""
    import pkgutil
    import types

    import neurarust
    from neurarust import _runtime

    submodules = {m.name for m in pkgutil.iter_modules(neurarust.__path__)}
    shadowed = {n for n in _runtime.__all__
                if n in submodules and not isinstance(getattr(_runtime, n), types.ModuleType)}
    assert shadowed == neurarust._SHADOWED  # type: ignore[attr-defined]
    statement = ("import neurarust.tensor, neurarust.device, neurarust.trace, neurarust as nr; "
                 "assert all(callable(f) and not isinstance(f, type(nr)) "
                 "for f in (nr.tensor, nr.device, nr.trace))")
    assert "neurarust.tensor" in _loaded_after(statement)
