"""numpy kernels for linalg ops."""

from __future__ import annotations
