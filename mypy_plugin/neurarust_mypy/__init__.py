"""The neurarust mypy plugin: tensor shapes and dtypes checked statically.

Enable it with ``plugins = ["neurarust_mypy"]`` in ``[tool.mypy]`` (or ``plugins =
neurarust_mypy`` in ``mypy.ini``). See ``docs/types.md``.
"""

from __future__ import annotations

from mypy.plugin import Plugin


def plugin(version: str) -> type[Plugin]:
    """mypy's entry point."""
    from .plugin import NeurarustPlugin

    return NeurarustPlugin
