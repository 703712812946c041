"""Suite-wide switches.

``NEURARUST_DEVICE=cuda`` runs the whole suite on the cuda device (a GPU with pycuda, or the
emulator under ``NEURARUST_CUDA_EMULATE=1``): every test outside ``tests/cuda`` runs with
``nr.set_default_device("cuda")``, so the tensors and modules it creates without ``device=``
live on the device and each op it checks runs the cuda kernels (or their counted host
fallbacks), compared with the same numpy/PyTorch references as on the CPU. Tests compare
results through ``.numpy()`` and ``np.asarray``; in this mode only, ``NEURARUST_TEST_HOST_NUMPY=1``
makes those return a host *copy* of a device tensor instead of raising (as PyTorch does and
as neurarust does otherwise). ``tests/cuda`` picks its device itself and keeps the raising
behaviour.

Tests that are CPU-only by nature (numpy memory sharing, ONNX export/import, the mypy plugin,
verification traces, serialization layout, ...) carry ``@pytest.mark.cpu_only("why")`` or a
module-level ``pytestmark = pytest.mark.cpu_only("why")``; they are skipped in this mode.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CUDA_RUN = os.environ.get("NEURARUST_DEVICE", "") == "cuda"
_OWN_DEVICE = Path(__file__).parent / "cuda"  # these tests choose their device themselves


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cpu_only(reason): the test is about the CPU backend itself (numpy memory "
        "sharing, ONNX, mypy plugin, ...); skipped under NEURARUST_DEVICE=cuda")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not CUDA_RUN:
        return
    for item in items:
        marker = item.get_closest_marker("cpu_only")
        if marker is not None:
            why = marker.args[0] if marker.args else marker.kwargs.get("reason", "")
            item.add_marker(pytest.mark.skip(reason=f"cpu only under NEURARUST_DEVICE=cuda: {why}"))


if CUDA_RUN:  # defined only then: the CPU run has no per-test fixture to pay for

    @pytest.fixture(autouse=True)
    def _cuda_default_device(request: pytest.FixtureRequest,
                             monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        """The cuda default device (and host copies for ``.numpy()``) around each test."""
        if _OWN_DEVICE in Path(str(request.node.path)).parents:
            yield
            return
        import neurarust as nr
        from neurarust.tensor import HOST_NUMPY_ENV

        monkeypatch.setenv(HOST_NUMPY_ENV, "1")
        previous = nr.get_default_device()
        nr.set_default_device("cuda")
        try:
            yield
        finally:
            nr.set_default_device(previous)
