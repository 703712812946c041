"""Shared fixtures of the CUDA tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import neurarust as nr
from neurarust.kernels.cuda import backend, driver
from neurarust.kernels.cuda.array import HOST_ROUND_TRIPS


@pytest.fixture
def emulated_cuda(monkeypatch: pytest.MonkeyPatch,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The cuda backend on the emulation driver (kernels compiled once per test session into
    a temporary cache), or, under ``NEURARUST_DEVICE=cuda`` on a GPU machine without the
    emulator, on pycuda + cuBLAS. Host round-trip counts start at zero."""
    if os.environ.get("NEURARUST_DEVICE") == "cuda" and not driver.emulating():
        if not nr.cuda.is_available():  # pragma: no cover - GPU machine
            pytest.skip("NEURARUST_DEVICE=cuda but pycuda or the GPU is unusable")
        backend.load()
        HOST_ROUND_TRIPS.clear()
        yield
        return
    monkeypatch.setenv(driver.EMULATE_ENV, "1")
    monkeypatch.setattr(driver, "CACHE_DIR", tmp_path_factory.getbasetemp() / "nr-cuda-cache")
    backend.unload()
    backend.load()
    HOST_ROUND_TRIPS.clear()
    yield
    backend.unload()
