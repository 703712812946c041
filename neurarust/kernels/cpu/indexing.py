"""numpy kernels for indexing ops."""

from __future__ import annotations
