"""The registry itself: every op is complete, and names are unique and public."""

from __future__ import annotations

import pytest

import neurarust as nr
from neurarust.ops.registry import OpDef, all_ops, get, register


def test_every_op_has_a_cpu_kernel_and_rules() -> None:
    import neurarust.kernels.cpu  # noqa: F401  (the runtime registers it; ops alone does not)

    for name, op in all_ops().items():
        assert "cpu" in op.kernels, f"op {name} has no CPU kernel"
        assert type(op).shape is not OpDef.shape, f"op {name} declares no shape rule"
        assert type(op).dtype is not OpDef.dtype, f"op {name} declares no dtype rule"
        if op.differentiable:
            assert type(op).backward is not OpDef.backward, f"op {name} declares no backward"
        assert op.__doc__, f"op {name} has no docstring"


def test_unknown_op_suggests_close_names() -> None:
    with pytest.raises(KeyError, match="did you mean \\['reshape'"):
        get("reshap")


def test_an_op_cannot_be_declared_twice() -> None:
    class Again(OpDef):
        """A duplicate."""

        name = "add"

    with pytest.raises(ValueError, match="declared twice"):
        register(Again)


def test_registry_imports_no_kernels_or_autograd() -> None:
    """ops imports only types: the mypy plugin loads it without numpy kernels or autograd."""
    import ast
    import pathlib

    root = pathlib.Path(nr.__file__).parent / "ops"
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text())
        # Imports under ``if TYPE_CHECKING:`` (annotations such as OnnxBuilder) never run.
        type_only = {id(n) for top in ast.walk(tree) if isinstance(top, ast.If)
                     and isinstance(top.test, ast.Name) and top.test.id == "TYPE_CHECKING"
                     for stmt in top.body for n in ast.walk(stmt)}
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.level >= 2:
                assert node.module and node.module.split(".")[0] == "types", \
                    f"{path.name} imports neurarust.{node.module}"
