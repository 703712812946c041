"""The neurarust mypy plugin: tensor shapes and dtypes checked statically.

Enable it with ``plugins = ["neurarust_mypy"]`` in ``[tool.mypy]`` (or ``plugins =
neurarust_mypy`` in ``mypy.ini``). See ``docs/types.md``.
"""

from __future__ import annotations

from mypy.plugin import Plugin

# Imported before ``plugin`` is defined: importing the ``.plugin`` submodule binds the
# package attribute ``plugin`` to it, which would shadow the entry point below.
from .plugin import NeurarustPlugin


def plugin(version: str) -> type[Plugin]:
    """mypy's entry point."""
    return NeurarustPlugin
