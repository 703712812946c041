"""numpy kernels for joining ops."""

from __future__ import annotations
